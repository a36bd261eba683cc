"""A reply says how its command went (done, refused, failed) as a value, and the metrics'
`CommandRun` takes it from there, never from the reply's text."""

from __future__ import annotations

from bot.ports import CommandOutcome, CommandRun
from bot.service import core as core_module
from bot.service.context import Reply
from tests.conftest import Chat


def observed(chat: Chat) -> list[CommandRun]:
    runs: list[CommandRun] = []
    chat.core.command_observer = runs.append
    return runs


def test_each_reply_carries_how_its_command_went(chat: Chat, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    runs = observed(chat)
    [done] = chat.send("alice", "!offer Fix the login crash reward:50EUR")
    [unknown] = chat.send("bob", "!nope")
    [not_allowed] = chat.send("bob", "!approve T1")
    [wrong_state] = chat.send("bob", "!renew T1")

    def broken(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    monkeypatch.setitem(core_module.HANDLERS, "watch", broken)
    [failed] = chat.send("bob", "!watch #python")

    assert done.text.startswith("T1") and done.outcome == CommandOutcome.DONE
    assert unknown.text.startswith("✗ unknown command") and unknown.outcome == CommandOutcome.REFUSED
    assert not_allowed.text.startswith("✗ approve work needs the maintainer role")
    assert not_allowed.outcome == CommandOutcome.REFUSED
    assert wrong_state.text.startswith("✗") and wrong_state.outcome == CommandOutcome.REFUSED
    assert failed.text.startswith("Something went wrong on our side")
    assert failed.outcome == CommandOutcome.FAILED
    assert [(r.command, r.outcome) for r in runs] == [
        ("offer", "ok"), ("unknown", "refused"), ("approve", "refused"), ("renew", "refused"),
        ("watch", "error")]


def test_a_message_answered_again_keeps_its_outcome(chat: Chat) -> None:
    runs = observed(chat)
    first = chat.send("bob", "!claim T9", platform="matrix", message_id="$e1")
    again = chat.send("bob", "!claim T9", platform="matrix", message_id="$e1")
    assert [o.text for o in again] == [o.text for o in first]
    assert [o.outcome for o in again] == [CommandOutcome.REFUSED]
    assert [r.outcome for r in runs] == ["refused", "refused"]


def test_a_done_reply_that_looks_like_a_refusal_is_done(chat: Chat, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Nothing reads the text: a reply quoting "✗" (a title, a note) is still done.
    monkeypatch.setitem(core_module.HANDLERS, "whoami", lambda ctx: Reply("✗ marks the spot"))
    runs = observed(chat)
    [reply] = chat.send("bob", "!whoami")
    assert reply.text == "✗ marks the spot" and reply.outcome == CommandOutcome.DONE
    assert [r.outcome for r in runs] == ["ok"]
