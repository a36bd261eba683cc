"""`commons-bot web` as a person runs it: serves the board, stops on SIGTERM, and refuses a
bad `web:` section with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

EXE = Path(sys.executable).with_name("commons-bot")


def _config(tmp_path: Path, web: dict) -> Path:  # type: ignore[type-arg]
    cfg = {"database_url": f"sqlite:///{tmp_path / 'commons.sqlite3'}", "log_level": "WARNING",
           "communities": [{"id": "demo", "name": "Demo commons", "console": {"members": {"alice": []}}}],
           "web": web}
    path = tmp_path / "web.yaml"
    path.write_text(json.dumps(cfg))
    return path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "COMMONS_DATABASE_URL"}


def test_commons_bot_web_serves_the_board_until_stopped(tmp_path):
    cfg = _config(tmp_path, {"listen": "127.0.0.1:0"})
    offer = subprocess.run([str(EXE), "console", "--config", str(cfg)], input="!offer Fix the docs #docs\n",
                           capture_output=True, text=True, cwd=tmp_path, timeout=120, env=_env())
    assert "T1 is offered" in offer.stdout, offer.stdout + offer.stderr
    proc = subprocess.Popen([str(EXE), "web", "--config", str(cfg)], cwd=tmp_path, text=True,
                            stderr=subprocess.PIPE, env=_env())
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("public board on http://127.0.0.1:"), line
        url = line.split()[-1]
        with urllib.request.urlopen(url + "c/demo/", timeout=10) as r:
            body = r.read().decode()
        assert "Fix the docs" in body and "Demo commons" in body
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_a_bad_web_section_is_one_clear_line(tmp_path):
    cfg = _config(tmp_path, {"listen": "everywhere", "base_url": "board.example.org"})
    proc = subprocess.run([str(EXE), "web", "--config", str(cfg)], capture_output=True, text=True,
                          timeout=60, env=_env())
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"{cfg}: web.listen: expected host:port like '127.0.0.1:8080', got 'everywhere'",
        f"{cfg}: web.base_url: expected an address like 'https://commons.example.org', "
        "got 'board.example.org'",
    ]
