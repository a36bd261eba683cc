"""`commons-bot run` with a token Discord refuses: one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.discord.conftest import discord_settings
from tests.discord_standin import DiscordStandIn

pytestmark = pytest.mark.discord
ROOT = Path(__file__).resolve().parents[2]


async def test_a_refused_token_is_one_line(standin: DiscordStandIn, tmp_path) -> None:
    settings = discord_settings(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    path = tmp_path / "bot.yaml"
    path.write_text(settings.model_dump_json(exclude_none=True), encoding="utf-8")  # JSON is YAML
    env = {**os.environ, "DISCORD_TOKEN": "not-the-token"}
    env.pop("COMMONS_DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.discord.standin_run", standin.api_base, standin.gateway_url,
        "--config", str(path), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 1
    lines = [line for line in err.decode().splitlines() if " WARNING " not in line and " INFO " not in line]
    assert lines == ["discord: login refused: Improper token has been passed."], err.decode()
    assert "not-the-token" not in err.decode()
