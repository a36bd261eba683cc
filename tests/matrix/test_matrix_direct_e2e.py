"""Encrypted direct chats: the member's very first direct message from the bot decrypts.

With ``encryption: true`` the bot opens a member's direct chat encrypted and writes into it
at once, before the member has joined. The room key must reach the member's devices with
that first message (shared to the invited member's devices), not later and not only on
request: the member's client here (matrix-nio with its own device and crypto store) never
asks for a key, and the test checks that every key it got was the bot's own ``m.room_key``
(none forwarded in answer to a request) and that the session of the first message is among
them.
"""

from __future__ import annotations

from typing import Any

import pytest
from nio import ForwardedRoomKeyEvent, MegolmEvent, RoomKeyEvent, RoomMessageNotice

from adapters.matrix import translate as tr
from tests.matrix.botkit import Chat, bot_config, register_bot, relates_to, room_with, start_bot, wait_joined
from tests.matrix.clients import MakePerson
from tests.matrix.synapse import SynapseServer

pytestmark = pytest.mark.synapse


async def test_the_first_message_in_a_new_encrypted_direct_chat_decrypts(
        make_person: MakePerson, synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    alice = await make_person("alice", e2e=True)
    bob = await make_person("bob", e2e=True)
    keys: list[Any] = []

    async def on_key(event: Any) -> None:
        keys.append(event)

    bob.client.add_to_device_callback(on_key, (RoomKeyEvent, ForwardedRoomKeyEvent))
    account = await register_bot(synapse)
    room = await room_with(alice, [bob], [account.user_id], encrypted=True)
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room],
                        encryption=True, direct_messages=True)
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        await wait_joined(alice, room, bot.user_id)
        await wait_joined(bob, room, bot.user_id)
        a, b = Chat(alice, room, bot.user_id), Chat(bob, room, bot.user_id)

        # bob's `!watch` is answered privately: the bot opens the encrypted direct chat,
        # invites bob and writes the answer into it before bob has joined.
        command = await bob.send_text(room, "!watch #docs")
        _, pointer = await bob.inbox.wait_for(b.replies_to(command), what="the pointer in the room")
        assert pointer.decrypted and pointer.body == tr.PRIVATE_POINTER
        dm = await b.direct_chat()
        bot_events = lambda: [e for r, e in bob.inbox.received  # noqa: E731
                              if r.room_id == dm and getattr(e, "sender", None) == bot.user_id
                              and isinstance(e, (RoomMessageNotice, MegolmEvent))]
        first = await b.private_reply(command)
        assert isinstance(first, RoomMessageNotice) and first.decrypted, first
        assert first.body == "You will be told of new needs with #docs"

        # alice offers a #docs need: bob's notice arrives in the same direct chat and decrypts.
        await a.ask("!offer Translate the docs #docs")
        _, notice = await bob.inbox.wait_for(
            lambda r, ev: r.room_id == dm and getattr(ev, "sender", None) == bot.user_id
            and (isinstance(ev, MegolmEvent) or "Translate the docs" in (getattr(ev, "body", "") or "")),
            what="the watch notice in the direct chat")
        assert isinstance(notice, RoomMessageNotice) and notice.decrypted, notice
        assert notice.body.startswith("New need matching your skills")

        # A command in the direct chat is answered there, encrypted, and bob can read it.
        in_dm = Chat(bob, dm, bot.user_id)
        mine = await in_dm.say("!needs")
        assert mine.decrypted and "T1 Translate the docs" in mine.body and relates_to(mine)

        # Nothing from the bot in the direct chat stayed undecryptable, and every key bob got
        # was sent by the bot unasked: bob never requested one, none came forwarded.
        assert not [e for e in bot_events() if isinstance(e, MegolmEvent)]
        assert len(bot_events()) >= 3
        assert not bob.client.olm.outgoing_key_requests  # type: ignore[union-attr]
        assert not [k for k in keys if isinstance(k, ForwardedRoomKeyEvent)]
        assert first.session_id in {k.session_id for k in keys if k.room_id == dm}
    finally:
        await bot.aclose()
