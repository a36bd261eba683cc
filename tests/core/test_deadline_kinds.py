"""Every kind in the deadline table is found due and fired by the runner, once, as its entry
declares: announced to the rooms or not, and what becomes of it when it fires late.

Each kind has a scenario that gives it one pending deadline; a kind added to the table
without one fails `test_every_kind_has_a_scenario`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from bot.ports import FAR, Due
from bot.service.deadlines import KINDS, LATE_AFTER, Late
from tests.conftest import Chat, build


def _claimed(chat: Chat) -> None:
    chat.say("alice", "!offer Fix the login crash #python")
    chat.say("bob", "!claim T1")


def _proposed(chat: Chat) -> None:
    chat.say("alice", "!propose Adopt a code of conduct")


def _reviewed(chat: Chat) -> None:
    chat.say("bob", "!propose Weekly calls on Tuesday")
    chat.say("carol", "!vote P1 agree")
    chat.say("bob", "!close P1")
    chat.say("bob", "!outcome P1 We meet on Tuesdays review:10d")


SCENARIOS: dict[str, Callable[[Chat], None]] = {
    "claim_reminder": _claimed,
    "claim_expiry": _claimed,
    "claim_idle_reminder": _claimed,
    "claim_idle_release": _claimed,
    "proposal_nudge": _proposed,
    "proposal_close": _proposed,
    "proposal_review": _reviewed,
    "call_close": lambda chat: chat.say("fundco", "!fund Docs sprint budget:1000EUR closes:7d"),
    "need_due": lambda chat: chat.say("alice", "!offer Write the docs #docs due:5d"),
    "digest": lambda chat: None,  # every community has one from its first start
}


@pytest.fixture
def idle_chat(db_url) -> Iterator[Chat]:  # type: ignore[no-untyped-def]
    """A chat whose claims are reminded after 3 idle days and released after 7."""
    core, clock = build(db_url, claim_idle_days=3, claim_idle_release_days=7)
    yield Chat(core, clock)
    core.engine.dispose()


def _pending(chat: Chat, kind: str) -> Due:
    [item] = [d for d in chat.core.due(until=FAR) if d.kind == kind]
    chat.outbox()
    return item


def test_every_kind_has_a_scenario():
    assert SCENARIOS.keys() == KINDS.keys()


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_fires_once_when_due_and_says_what_its_entry_declares(idle_chat, kind):
    chat, entry = idle_chat, KINDS[kind]
    SCENARIOS[kind](chat)
    item = _pending(chat, kind)
    chat.clock.set(item.at - timedelta(minutes=1))
    assert not chat.core.fire(item)  # not yet
    chat.clock.set(item.at)
    assert item in chat.core.due()
    assert chat.core.fire(item)
    out = chat.outbox()
    assert out, kind  # a deadline that fires tells someone
    assert any(o.kind == "announce" for o in out) == entry.announced
    assert not any("(late: was due" in o.text for o in out)
    # Fired once: the same item again (a retry, another process) does nothing.
    assert not chat.core.fire(item)
    assert chat.outbox() == []
    assert item not in chat.core.due(until=FAR)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_late_kind_fires_as_its_entry_declares(idle_chat, kind):
    chat, entry = idle_chat, KINDS[kind]
    SCENARIOS[kind](chat)
    item = _pending(chat, kind)
    chat.clock.set(item.at + LATE_AFTER + timedelta(minutes=1))
    assert chat.core.fire(item)
    marked = [o for o in chat.outbox() if o.text.startswith("(late: was due")]
    assert bool(marked) == (entry.late == Late.MARKED)
    assert all(o.kind == "announce" and o.late for o in marked)


@pytest.mark.parametrize("kind", list(KINDS))
def test_only_a_reminder_is_dropped_once_what_it_reminds_of_has_passed(idle_chat, kind):
    chat, entry = idle_chat, KINDS[kind]
    SCENARIOS[kind](chat)
    item = _pending(chat, kind)
    chat.clock.set(item.at + timedelta(days=30))
    still = [d for d in chat.core.due() if d.kind == kind]
    assert (still == []) == (entry.late == Late.WHILE_AHEAD)
