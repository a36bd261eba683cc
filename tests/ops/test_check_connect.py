"""`check-config --connect`: the database must answer, and Discord (here the local
stand-in) must accept the token."""

from __future__ import annotations

import pytest

from adapters.discord.check import check_credentials
from bot.checks import check_database
from bot.config import parse_settings
from tests.discord_standin.fixtures import standin  # noqa: F401  (a fixture)
from tests.ops.test_cli import cli, one_line_failure

pytestmark = pytest.mark.discord


def discord_settings():  # type: ignore[no-untyped-def]
    return parse_settings({"discord": {}, "communities": [{"id": "demo", "discord": {"guild": 1}}]})


async def test_the_discord_token_is_tried(standin, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("DISCORD_TOKEN", standin.token)
    assert await check_credentials(discord_settings()) is None
    monkeypatch.setenv("DISCORD_TOKEN", "not.the.token")
    assert await check_credentials(discord_settings()) == (
        "discord.token: Discord refused the token — reset it in the Developer Portal (Bot → Reset Token)")


def test_the_database_is_tried(db_url, tmp_path):
    assert check_database(parse_settings({"database_url": db_url, "communities": [{"id": "demo"}]})) is None
    down = parse_settings({"database_url": "postgresql://nobody@127.0.0.1:1/none",
                           "communities": [{"id": "demo"}]})
    assert check_database(down).startswith("database_url: the database does not answer: ")


def test_check_config_connect_with_a_database_down_is_one_line(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text("database_url: postgresql://nobody@127.0.0.1:1/none\ncommunities:\n  - id: demo\n")
    line = one_line_failure(cli("check-config", str(path), "--connect"))
    assert line.startswith(f"{path}: database_url: the database does not answer: ")
