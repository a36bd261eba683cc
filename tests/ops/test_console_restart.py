"""The README tour twice (`console --fresh`, `make reset`), and the console's clock, moved or
set at a fresh start, kept across restarts of the same database."""

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


def test_a_clock_set_at_the_start_is_kept_and_goes_only_with_fresh(tmp_path):
    # Far ahead of the wall clock, so a restart that fell back to it would show.
    started = run_console(tmp_path, "/time\n!offer Fix the login crash\n", "--fresh", "--clock",
                          "2999-01-05T12:00")
    assert started.returncode == 0, started.stderr
    assert "(it is 2999-01-05 12:00 UTC)" in started.stdout
    later = run_console(tmp_path, "/time\n")
    assert "(it is 2999-01-05 12:00 UTC)" in later.stdout

    alone = run_console(tmp_path, "/time\n", "--clock", "2999-01-05T12:00")
    assert alone.returncode == 2 and alone.stdout == ""
    assert alone.stderr.strip().endswith(
        "--clock sets the clock of a new record, so it goes with --fresh "
        "(commons-bot console --fresh --clock 2026-12-05T12:00)")
    bad = run_console(tmp_path, "/time\n", "--fresh", "--clock", "next saturday")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().endswith(
        "--clock 'next saturday' is not a date — write it like 2026-12-01 or 2026-12-01T18:00 (UTC)")
    # Refused before anything moved: the record and its clock are where they were.
    assert not (tmp_path / "commons.sqlite3.old").exists()
    kept = run_console(tmp_path, "/time\n!needs\n")
    assert "(it is 2999-01-05 12:00 UTC)" in kept.stdout and "Fix the login crash" in kept.stdout


def test_fresh_refuses_postgresql_in_one_line(tmp_path):
    from tests.ops.test_cli import cli, one_line_failure

    path = tmp_path / "pg.yaml"
    path.write_text("database_url: postgresql://bot@127.0.0.1:5432/commons\ncommunities:\n  - id: demo\n")
    line = one_line_failure(cli("console", "--fresh", "--config", str(path)))
    assert line.endswith("console --fresh starts over only a SQLite file; for PostgreSQL, point "
                         "database_url at a new, empty database")
