"""`commons-bot init`: a commented config and a `.env` template, secrets only in `.env`
(mode 0600) and only those typed in."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from bot.__main__ import main
from bot.config import load_settings
from tests.ops.test_cli import cli, one_line_failure


def test_non_interactive_init_writes_a_config_that_checks(tmp_path):
    proc = cli("init", "--non-interactive", "--name", "Tiny Commons", "--platforms", "matrix,discord",
               "--matrix-room", "#commons:example.org", "--discord-guild", "111", "--discord-channel", "222",
               "--maintainer", "matrix:@alice:example.org", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wrote commons-bot.yaml and .env" in proc.stdout
    config, env = tmp_path / "commons-bot.yaml", tmp_path / ".env"
    settings = load_settings(config)
    community = settings.communities[0]
    assert (community.id, community.name) == ("tiny-commons", "Tiny Commons")
    assert community.matrix.rooms == ["#commons:example.org"]
    assert (community.discord.guild, community.discord.channels) == (111, [222])
    assert community.roles.maintainer == ["matrix:@alice:example.org"]
    assert settings.discord.token == "${DISCORD_TOKEN}"
    assert config.read_text().startswith("# commons-bot configuration")
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    # The template names every variable and holds no value it was not given.
    values = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line
                  and not line.startswith("#"))
    assert values == {"MATRIX_HOMESERVER": "", "MATRIX_USER_ID": "", "MATRIX_PASSWORD": "",
                      "MATRIX_ACCESS_TOKEN": "", "DISCORD_TOKEN": ""}
    ok = cli("check-config", str(config), env={"MATRIX_HOMESERVER": "https://m.example.org",
                                               "MATRIX_USER_ID": "@bot:example.org",
                                               "MATRIX_PASSWORD": "pw", "DISCORD_TOKEN": "t"})
    assert ok.returncode == 0 and ok.stdout.endswith("commons-bot.yaml: OK\n"), ok.stderr
    # A second init keeps what is there.
    line = one_line_failure(cli("init", "--non-interactive", cwd=tmp_path))
    assert line == ("commons-bot.yaml and .env already exist here — keep them, or run "
                    "commons-bot init --force to overwrite")


def test_init_defaults_give_a_console_that_runs(tmp_path):
    assert cli("init", "--non-interactive", cwd=tmp_path).returncode == 0
    proc = cli("console", "--config", "commons-bot.yaml", cwd=tmp_path,
               stdin="/as alice\n!offer First need\n")
    assert proc.returncode == 0, proc.stderr
    assert "T1 is offered and announced: First need" in proc.stdout


def test_interactive_init_puts_typed_secrets_only_in_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answers = iter(["Garden Commons", "", "discord", "4242", "77,78", "discord:1001", "",
                    "postgresql://bot:pa55word@db.example.org:5432/commons"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "discord-token-typed-in")
    assert main(["init"]) == 0
    config = (tmp_path / "commons-bot.yaml").read_text()
    env = (tmp_path / ".env").read_text()
    assert "discord-token-typed-in" not in config and "pa55word" not in config
    assert "DISCORD_TOKEN=discord-token-typed-in" in env.splitlines()
    assert "COMMONS_DATABASE_URL=postgresql://bot:pa55word@db.example.org:5432/commons" in env.splitlines()
    data = yaml.safe_load(config)
    assert data["database_url"] == "${COMMONS_DATABASE_URL}"
    assert data["communities"][0]["id"] == "garden-commons"
    assert data["communities"][0]["discord"] == {"guild": 4242, "channels": [77, 78],
                                                  "roles": {"maintainer": ["maintainer"],
                                                            "foundation": ["foundation"]}}
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


def test_init_with_an_unknown_platform_is_one_line(tmp_path):
    line = one_line_failure(cli("init", "--non-interactive", "--platforms", "irc", cwd=tmp_path))
    assert line == ("--platforms: irc is not a platform — use console, matrix and/or discord, "
                    "e.g. --platforms matrix,discord")
    assert not any(Path(tmp_path).iterdir())
