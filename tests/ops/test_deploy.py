"""The service files: the systemd unit passes `systemd-analyze verify`, and the container's
entrypoint (run here, outside a container) writes a config, migrates and starts."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store.db import HEAD_REVISION

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        msg = "systemd-analyze is missing — make test installs Debian's systemd"
        if IN_CI:
            pytest.fail(msg + " (CI=true)")
        pytest.skip(msg)
    text = (ROOT / "deploy/commons-bot.service").read_text()
    for directive in ("Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
                      "StateDirectory=commons-bot", "User=commons-bot",
                      "EnvironmentFile=-/etc/commons-bot/.env"):
        assert directive in text.splitlines(), directive
    # verify also checks that ExecStart's program exists: point it at this checkout's.
    exe = Path(sys.executable).with_name("commons-bot")
    unit = tmp_path / "commons-bot.service"
    unit.write_text(text.replace("/opt/commons-bot/bin/commons-bot", str(exe)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_the_dockerfile_runs_as_a_user_with_a_volume():
    lines = (ROOT / "deploy/Dockerfile").read_text().splitlines()
    assert next(x for x in lines if x.startswith("FROM")).endswith("-slim")
    assert "USER commons-bot" in lines and 'VOLUME ["/data"]' in lines
    assert 'ENTRYPOINT ["/usr/local/bin/commons-bot-entrypoint"]' in lines


def test_the_entrypoint_writes_a_config_migrates_and_starts(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "COMMONS_DATABASE_URL"}
    env.update(COMMONS_CONFIG=str(data / "commons-bot.yaml"),
               COMMONS_BOT=str(Path(sys.executable).with_name("commons-bot")))
    # With only the console configured, `run` starts the console; stdin ends it.
    proc = subprocess.run(["sh", str(ROOT / "deploy/entrypoint.sh")], input="/as alice\n!offer First\n",
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"database at revision {HEAD_REVISION}" in proc.stdout
    assert "T1 is offered and announced: First" in proc.stdout
    assert (data / "commons-bot.yaml").exists() and (data / ".env").exists()
    with sqlite3.connect(data / "commons.sqlite3") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD_REVISION,)
    # A second start keeps the config and the data.
    again = subprocess.run(["sh", str(ROOT / "deploy/entrypoint.sh")], input="/as alice\n!needs\n",
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "writing a starting config" not in again.stderr
    assert "T1" in again.stdout
