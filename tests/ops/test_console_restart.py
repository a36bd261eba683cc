"""The README tour twice (`console --fresh`, `make reset`), and the console's moved clock
kept across restarts of the same database."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tests.core.test_console_session import SESSION, run_console


def test_the_tour_runs_twice_with_a_fresh_start(tmp_path):
    first = run_console(tmp_path, SESSION)
    assert first.returncode == 0, first.stderr
    again = run_console(tmp_path, SESSION)
    assert "✗ T1 is done and cannot be claimed" in again.stdout  # why a fresh start is needed
    fresh = run_console(tmp_path, SESSION, "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stderr.strip() == "(fresh start: the previous database is kept as commons.sqlite3.old)"
    assert _undated(fresh.stdout) == _undated(first.stdout)
    assert (tmp_path / "commons.sqlite3.old").exists()


def _undated(text: str) -> str:
    """The runs differ only in the wall-clock time they started at."""
    return re.sub(r"\d{4}-\d\d-\d\d( \d\d:\d\d)?", "DATE", text)


def test_the_moved_clock_is_kept_across_restarts(tmp_path):
    moved = run_console(tmp_path, "/time +3d\n")
    assert moved.returncode == 0, moved.stderr
    now = re.search(r"it is now (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", moved.stdout).group(1)
    later = run_console(tmp_path, "/time\n")
    assert f"(it is {now} UTC)" in later.stdout
    assert datetime.strptime(now, "%Y-%m-%d %H:%M") >= datetime.utcnow() + timedelta(days=3, minutes=-5)


def test_fresh_refuses_postgresql_in_one_line(tmp_path):
    from tests.ops.test_cli import cli, one_line_failure

    path = tmp_path / "pg.yaml"
    path.write_text("database_url: postgresql://bot@127.0.0.1:5432/commons\ncommunities:\n  - id: demo\n")
    line = one_line_failure(cli("console", "--fresh", "--config", str(path)))
    assert line.endswith("console --fresh starts over only a SQLite file; for PostgreSQL, point "
                         "database_url at a new, empty database")
