"""Outbox deliveries on Matrix: a refused send raises, a repeated one shows once.

The runtime marks an outbox entry delivered only when the adapter's ``send`` returns, and
delivers the same entry again otherwise. So ``send`` must raise when the homeserver did
not take a message, and sending the same entry twice must not post anything twice: every
event's transaction id is derived from the entry's ``outbox_id``.
"""

from __future__ import annotations

import pytest
from nio import RoomPutStateResponse

from adapters.matrix.adapter import MatrixError
from bot.ports import CommunityId, MemberId, Outbound
from tests.matrix.botkit import Chat, bot_config, register_bot, room_with, start_bot, wait_joined
from tests.matrix.clients import MakePerson
from tests.matrix.synapse import SynapseServer
from tests.matrix.test_matrix_resilience import _room_history

pytestmark = pytest.mark.synapse

DEMO = CommunityId("demo")


async def _bodies(person, room_id: str, bot_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [getattr(ev, "body", "") for ev in await _room_history(person, room_id)
            if getattr(ev, "sender", "") == bot_id]


async def test_the_same_entry_sent_twice_shows_once_and_a_refusal_raises(
        make_person: MakePerson, synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    alice = await make_person("alice")
    account = await register_bot(synapse)
    one = await room_with(alice, [], [account.user_id], name="one")
    two = await room_with(alice, [], [account.user_id], name="two")
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [one, two])
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        await wait_joined(alice, one, bot.user_id)
        await wait_joined(alice, two, bot.user_id)
        # An announcement, delivered twice (as after a crash between send and mark).
        hello = Outbound(community=DEMO, text="Hello, twice delivered", kind="announce", outbox_id=9001)
        await bot.adapter.send(hello)
        await bot.adapter.send(hello)
        for room in (one, two):
            await Chat(alice, room, bot.user_id).wait_bot(
                lambda ev: getattr(ev, "body", "") == "Hello, twice delivered", "the announcement")
            assert (await _bodies(alice, room, bot.user_id)).count("Hello, twice delivered") == 1

        # A notice to alice's member, twice: one message in her direct chat.
        a = Chat(alice, one, bot.user_id)
        member = _member_id(await a.ask("!whoami"))
        notice = Outbound(community=DEMO, text="Just for you", kind="notice", member=member, outbox_id=9002)
        await bot.adapter.send(notice)
        await bot.adapter.send(notice)
        dm = await a.direct_chat()
        await alice.inbox.wait_for(
            lambda r, ev: r.room_id == dm and getattr(ev, "body", "") == "Just for you", what="the notice")
        assert (await _bodies(alice, dm, bot.user_id)).count("Just for you") == 1

        # Room two stops taking the bot's messages: the send raises, room one still got it.
        levels = (await alice.client.room_get_state_event(two, "m.room.power_levels")).content
        levels["events_default"] = 100
        put = await alice.client.room_put_state(two, "m.room.power_levels", levels)
        assert isinstance(put, RoomPutStateResponse), put
        refused = Outbound(community=DEMO, text="Only half delivered", kind="announce", outbox_id=9003)
        with pytest.raises(MatrixError, match=two):
            await bot.adapter.send(refused)
        assert (await _bodies(alice, one, bot.user_id)).count("Only half delivered") == 1
        # Room two takes messages again: the retry fills it in and posts nothing twice.
        levels["events_default"] = 0
        assert isinstance(await alice.client.room_put_state(two, "m.room.power_levels", levels),
                          RoomPutStateResponse)
        await bot.adapter.send(refused)
        for room in (one, two):
            assert (await _bodies(alice, room, bot.user_id)).count("Only half delivered") == 1
    finally:
        await bot.aclose()


def _member_id(whoami: str) -> MemberId:
    return MemberId(int(whoami.split("(member #", 1)[1].split(")", 1)[0]))
