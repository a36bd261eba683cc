"""Each command is declared once (`bot.chat.commands`); the parser, the dispatch and `!help`
read that declaration, so what a member reads there is what the bot accepts."""

from __future__ import annotations

import re

import pytest

from bot.chat.commands import ALIASES, COMMANDS
from bot.chat.parser import parse
from bot.service import handlers
from bot.service.handlers import HANDLERS, handles
from tests.conftest import Chat


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_and_skill_a_command_takes_is_in_its_usage(name: str) -> None:
    command = COMMANDS[name]
    shown = set(re.findall(r"\b([a-z]+):", command.usage))
    assert shown == set(command.options), command.usage
    assert command.skills == ("#skill" in command.usage)


def test_help_lists_every_command_once_and_every_command_runs(chat: Chat) -> None:
    listed = re.findall(r"^- `!([a-z]+)", chat.say("bob", "!help"), re.M)
    assert sorted(listed) == sorted(COMMANDS) == sorted(HANDLERS)


def test_an_alias_runs_its_command(chat: Chat) -> None:
    for alias, name in ALIASES.items():
        parsed = parse(f"!{alias}")
        assert parsed is not None and parsed.name == name
    assert chat.say("bob", "!tasks") == chat.say("bob", "!needs")


def test_a_role_is_checked_before_anything_else(chat: Chat) -> None:
    # The declaration says who may approve: a contributor learns that, not what T9 holds.
    assert chat.say("bob", "!approve T9").startswith("✗ approve work needs the maintainer role")
    assert chat.say("alice", "!approve T9").startswith("✗ T9 does not exist")
    assert chat.say("bob", "!closecall F9").startswith(
        "✗ closing a funding call needs the foundation role")


def test_a_personal_answer_is_private(chat: Chat) -> None:
    private = {name for name, c in COMMANDS.items() if c.private}
    assert private == {"whoami", "link", "unlink", "mine", "watch", "unwatch", "watching"}
    for text in ("!whoami", "!mine", "!watch #python", "!watching", "!unwatch #python", "!link"):
        [reply] = chat.send("bob", text)
        assert reply.private and not reply.text.startswith("✗"), (text, reply.text)
    [offered] = chat.send("alice", "!offer Fix the login crash")
    assert not offered.private


def test_a_command_without_its_handler_or_a_handler_without_its_command_is_an_error(
        monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"'nope'\): no such command is declared"):
        handles("nope")(lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match=r"'claim'\): .*claim handles it already"):
        handles("claim")(lambda ctx: None)  # type: ignore[arg-type,return-value]
    monkeypatch.delitem(HANDLERS, "renew")
    with pytest.raises(ValueError, match=r"commands declared without a handler .*: renew$"):
        handlers.check()
