"""The command line as a new admin meets it: each mistake of issue 16's "Why" gives one line
on stderr and a non-zero exit, never a traceback; --version; every option shows its default."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.__main__ import build_parser
from tests.ops.test_docs import documents_named, held_documents

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("commons-bot"))
SECRET_VARS = ("DISCORD_TOKEN", "MATRIX_PASSWORD", "MATRIX_ACCESS_TOKEN", "MATRIX_HOMESERVER",
               "MATRIX_USER_ID", "COMMONS_DATABASE_URL", "NC_NOT_SET_DB_URL")


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the installed `commons-bot` with none of the secret variables set."""
    base = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**base, **(env or {})}, input=stdin)


def one_line_failure(proc: subprocess.CompletedProcess[str]) -> str:
    """Assert the process failed with exactly one line on stderr; return that line."""
    assert proc.returncode != 0, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "bot.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


UNSET_DB = "database_url: ${NC_NOT_SET_DB_URL}\ncommunities:\n  - id: demo\n"


def test_check_config_reports_an_unset_variable_by_key_path(tmp_path):
    path = write(tmp_path, UNSET_DB)
    line = one_line_failure(cli("check-config", path))
    assert line.startswith(f"{path}: database_url: ${{NC_NOT_SET_DB_URL}} is not set")
    assert "OK" not in cli("check-config", path).stdout


def test_db_upgrade_with_an_unset_variable_is_one_line(tmp_path):
    path = write(tmp_path, UNSET_DB)
    line = one_line_failure(cli("db", "upgrade", "--config", path))
    assert line.startswith(f"{path}: database_url: ${{NC_NOT_SET_DB_URL}} is not set")
    assert not (tmp_path / "commons.sqlite3").exists()


def test_an_unparsable_database_url_is_one_line(tmp_path):
    path = write(tmp_path, "database_url: 'not a url'\ncommunities:\n  - id: demo\n")
    for args in (("check-config", path), ("db", "upgrade", "--config", path),
                 ("console", "--config", path), ("backup", "--config", path, str(tmp_path / "b"))):
        line = one_line_failure(cli(*args))
        assert "database_url: 'not a url' is not a database URL — expected sqlite:///" in line, args


def test_run_with_the_discord_example_and_no_token_is_one_line(tmp_path):
    proc = cli("run", "--config", str(ROOT / "config/discord.example.yaml"), cwd=tmp_path)
    line = one_line_failure(proc)
    assert line.endswith("discord.token: ${DISCORD_TOKEN} is not set — export DISCORD_TOKEN=…")


def test_run_with_the_matrix_example_and_no_variables_is_one_line(tmp_path):
    line = one_line_failure(cli("run", "--config", str(ROOT / "config/matrix.example.yaml"), cwd=tmp_path))
    assert "matrix.homeserver: ${MATRIX_HOMESERVER} is not set" in line
    assert "more: commons-bot check-config" in line


def test_check_config_lists_every_unset_variable(tmp_path):
    proc = cli("check-config", str(ROOT / "config/matrix.example.yaml"), cwd=tmp_path,
               env={"MATRIX_USER_ID": "@bot:example.org"})
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"{ROOT / 'config/matrix.example.yaml'}: matrix.homeserver: ${{MATRIX_HOMESERVER}} is not set "
        "— export MATRIX_HOMESERVER=…",
        f"{ROOT / 'config/matrix.example.yaml'}: matrix.password: ${{MATRIX_PASSWORD}} is not set "
        "— export MATRIX_PASSWORD=…",
        f"{ROOT / 'config/matrix.example.yaml'}: matrix.access_token: ${{MATRIX_ACCESS_TOKEN}} is not set "
        "— export MATRIX_ACCESS_TOKEN=…",
    ]


@pytest.mark.parametrize(("yaml_text", "variable"), [
    ("discord:\n  token: abc.def.ghi\ncommunities:\n  - id: demo\n", "DISCORD_TOKEN"),
    ("matrix:\n  access_token: syt_abc\ncommunities:\n  - id: demo\n", "MATRIX_ACCESS_TOKEN"),
    ("matrix:\n  password: hunter2\ncommunities:\n  - id: demo\n", "MATRIX_PASSWORD"),
])
def test_a_literal_secret_is_refused_naming_its_own_variable(tmp_path, yaml_text, variable):
    path = write(tmp_path, yaml_text)
    for args in (("check-config", path), ("run", "--config", path)):
        line = one_line_failure(cli(*args))
        assert f"secrets must be an environment reference like '${{{variable}}}'" in line
        assert f"export {variable}=" in line
        other = {"DISCORD_TOKEN", "MATRIX_ACCESS_TOKEN", "MATRIX_PASSWORD"} - {variable}
        assert not any(o in line for o in other), line


def test_a_missing_config_file_is_one_line(tmp_path):
    line = one_line_failure(cli("run", "--config", str(tmp_path / "nope.yaml")))
    assert "cannot read the file" in line and "commons-bot init" in line


def test_version_exits_zero():
    from importlib.metadata import version

    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"commons-bot {version('commons-bot')}"


def _subparsers(parser):  # type: ignore[no-untyped-def]
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from _subparsers(sub)


def test_every_option_has_help_showing_its_default():
    import argparse

    seen = 0
    for name, sub in _subparsers(build_parser()):
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.dest} has no help"
            if action.option_strings:
                seen += 1
        text = sub.format_help()
        for action in sub._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                assert "(default:" in text.split(action.option_strings[-1], 1)[1], (name, action.dest)
    assert seen > 20
    assert "--config FILE         the YAML config file (default: config/example.yaml)" in \
        cli("run", "--help").stdout


def test_the_readme_links_the_command_reference_not_spec():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # Every document it names is one of this repository's (tests/ops/test_docs.py).
    assert documents_named(readme) <= held_documents()
    assert "(docs/commands.md)" in readme


def test_the_command_reference_is_current():
    from bot.docs import command_reference

    text = command_reference()
    assert (ROOT / "docs/commands.md").read_text(encoding="utf-8") == text, \
        "docs/commands.md is out of date — run: commons-bot docs"
    # Written from the bot's own answers: `!help claim` is in it word for word.
    assert "`!claim T12` — " in text and "### !claim" in text
    proc = cli("docs", "--check", str(ROOT / "docs/commands.md"))
    assert proc.returncode == 0 and "is current" in proc.stdout


def test_docs_check_of_a_stale_file_is_one_line(tmp_path):
    stale = write(tmp_path, "# Commands\nold\n", "commands.md")
    line = one_line_failure(cli("docs", "--check", stale))
    assert line == f"{stale} is out of date — run: commons-bot docs {stale}"


def test_license_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "AGPL-3.0-or-later"
