"""Config validation with file/key errors, and the store's migrations on both databases."""

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.config import ConfigError, load_settings, parse_settings
from bot.store.db import current_revision, make_engine, upgrade

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("commons-bot"))


def write(tmp_path, text):
    p = tmp_path / "bot.yaml"
    p.write_text(text)
    return p


def test_example_config_is_valid():
    s = load_settings(ROOT / "config/example.yaml")
    c = s.communities[0]
    assert c.console.members["alice"] == ["maintainer"] and c.console.members["fundco"] == ["foundation"]
    assert s.database_url.startswith("sqlite:///")


@pytest.mark.parametrize(("yaml_text", "expected"), [
    ("communities: []", "bot.yaml: communities: list should have at least 1 item"),
    ("communities:\n  - id: demo\n    policies:\n      claim_days: soon",
     "bot.yaml: communities[0].policies.claim_days: expected a whole number, got 'soon'"),
    ("communities:\n  - id: demo\n    policies:\n      claim_days: 0",
     "bot.yaml: communities[0].policies.claim_days: expected a number greater than or equal to 1"),
    ("communities:\n  - id: demo\n    polices: {}",
     "bot.yaml: communities[0].polices: unknown key"),
    ("communities:\n  - id: Demo Commons", "bot.yaml: communities[0].id: expected lowercase letters"),
    ("communities:\n  - id: demo\n    policies:\n      digest_cron: weekly",
     "bot.yaml: communities[0].policies.digest_cron: expected a cron line of five fields"),
    ("matrix:\n  password: hunter2\ncommunities:\n  - id: demo",
     "bot.yaml: matrix.password: secrets must be an environment reference like '${MATRIX_PASSWORD}'"),
    ("communities:\n  - id: demo\n    matrix:\n      rooms: [general]",
     "bot.yaml: communities[0].matrix.rooms: expected room ids like '!abc:example.org'"),
    ("- just a list", "bot.yaml: expected a mapping of keys at the top level"),
    ("communities: [", "bot.yaml: not valid YAML at line"),
])
def test_bad_config_names_file_key_and_expectation(tmp_path, yaml_text, expected):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, yaml_text))
    assert expected in str(err.value)


def test_check_config_cli(tmp_path):
    ok = subprocess.run([CLI, "check-config", str(ROOT / "config/example.yaml")], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = subprocess.run([CLI, "check-config", str(write(tmp_path, "communities: [{id: x, nope: 1}]"))],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "communities[0].nope: unknown key" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run([CLI, "check-config", str(tmp_path / "none.yaml")], capture_output=True,
                             text=True)
    assert missing.returncode == 2 and "cannot read the file" in missing.stderr


def test_secret_references_resolve_from_the_environment(monkeypatch):
    from bot.config import resolve_env

    monkeypatch.setenv("MATRIX_PASSWORD", "s3cret")
    s = parse_settings({"matrix": {"password": "${MATRIX_PASSWORD}"}, "communities": [{"id": "demo"}]})
    assert resolve_env(s.matrix.password) == "s3cret"
    monkeypatch.delenv("MATRIX_PASSWORD")
    assert resolve_env(s.matrix.password) is None


def test_migrations_apply_and_are_idempotent(empty_db_url):
    engine = make_engine(empty_db_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) is not None
    tables = set(inspect(engine).get_table_names())
    assert {"needs", "claims", "proposals", "votes", "funding_calls", "pitches", "backings",
            "contributions", "events", "outbox", "handled_messages"} <= tables
    engine.dispose()


def test_head_revision_constant_matches_the_migrations():
    from alembic.script import ScriptDirectory

    from bot.store.db import HEAD_REVISION, MIGRATIONS

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == HEAD_REVISION


def test_db_upgrade_cli(tmp_path):
    cfg = write(tmp_path, f"database_url: sqlite:///{tmp_path}/x.sqlite3\ncommunities: [{{id: demo}}]")
    proc = subprocess.run([CLI, "db", "upgrade", "--config", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 0 and "database at revision" in proc.stdout, proc.stderr


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/w.sqlite3")
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_core_never_imports_a_platform():
    """The same contract import-linter checks, as a test that names the offender."""
    bad = []
    for path in (ROOT / "bot").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                mod = stripped.split()[1]
                if mod.split(".")[0] in ("adapters", "nio", "discord"):
                    bad.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert bad == []
