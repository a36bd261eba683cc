"""A hidden vote in a Matrix room, on a real Synapse (SPEC §6, issue 15): no public poll,
the vote is cast in the member's direct chat, and no other member can read a position in
the room — not in the announcement, not in `!proposal`, not in `!log` — until it closes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.matrix import translate as tr
from bot.clock import ManualClock
from tests.matrix.botkit import Chat, bot_config, register_bot, relates_to, room_with, start_bot
from tests.matrix.clients import MakePerson
from tests.matrix.synapse import SynapseServer
from tests.matrix.test_matrix_resilience import _room_history

pytestmark = pytest.mark.synapse


async def test_a_hidden_vote_is_cast_privately_and_stays_hidden_until_close(
        make_person: MakePerson, synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    carol = await make_person("carol")
    account = await register_bot(synapse)
    room = await room_with(alice, [bob, carol], [account.user_id])
    clock = ManualClock()
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room])
    bot = await start_bot(account, config, clock=clock, monkeypatch=monkeypatch)
    try:
        a, b, c = (Chat(p, room, bot.user_id) for p in (alice, bob, carol))
        opened = await a.ask("!propose Adopt a code of conduct hidden:yes closes:2d")
        assert opened.startswith("P1 is open")
        announced = await c.wait_bot(lambda ev: "New proposal" in (getattr(ev, "body", "") or ""),
                                     "the announcement of P1")
        assert "Hidden vote" in announced.body and "direct chat" in announced.body

        # bob votes in his direct chat with the bot (opened by a private answer).
        await b.ask("!whoami")
        dm = await b.direct_chat()
        vote_event = await bob.send_text(dm, "!vote P1 disagree too strict for us")
        _, answer = await bob.inbox.wait_for(
            lambda r, ev: r.room_id == dm and getattr(ev, "sender", None) == bot.user_id
            and relates_to(ev) == vote_event, what="the bot's answer to the vote in the direct chat")
        assert "Your vote on P1 is disagree" in answer.body

        shown = await c.ask("!proposal P1")
        assert "1 vote cast" in shown and "1 disagree" not in shown and "too strict" not in shown
        log = await c.ask("!log P1")
        assert "voted on P1 (hidden until it closes)" in log
        assert "voted disagree" not in log and "too strict" not in log

        # Nothing the room holds tells a position: no poll, no position in any event.
        history = await _room_history(carol, room)
        assert not any(getattr(ev, "source", {}).get("type") in tr.POLL_START_TYPES for ev in history)
        sources = [str(getattr(ev, "source", "")) for ev in history]
        leaks = [s for s in sources if "too strict" in s or "1 disagree" in s]
        assert not leaks, leaks

        # At close the outcome and the counts are public.
        await bot.runtime.call(bot.core.advance_to, clock.now() + timedelta(days=3), clock.set)
        bot.runtime.poke()
        closed = await c.wait_bot(lambda ev: "P1 closed" in (getattr(ev, "body", "") or ""),
                                  "the outcome of P1")
        assert "1 disagree" in closed.body
    finally:
        await bot.aclose()
