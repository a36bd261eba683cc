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

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from nio import (
    AsyncClient,
    ForwardedRoomKeyEvent,
    LoginResponse,
    MegolmEvent,
    RoomKeyEvent,
    RoomMessageNotice,
    ToDeviceResponse,
)

from adapters.matrix import translate as tr
from tests.matrix.botkit import Chat, bot_config, register_bot, relates_to, room_with, start_bot, wait_joined
from tests.matrix.clients import DEFAULT_WAIT, MakePerson, Person, client_config, unique_localpart
from tests.matrix.e2e import upload_device_keys
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


async def _device(synapse: SynapseServer, user_id: str, password: str, store: Path) -> Person:
    """Another logged-in, syncing device of an existing user, with its own crypto store."""
    await asyncio.to_thread(store.mkdir, parents=True, exist_ok=True)
    client = AsyncClient(synapse.base_url, user_id, store_path=str(store),
                         config=client_config(encryption=True))
    assert isinstance(await client.login(password, device_name="second"), LoginResponse)
    await upload_device_keys(client)
    person = Person(client)
    await person.start_syncing()
    return person


async def test_a_room_members_new_device_gets_the_key_it_asks_for(
        make_person: MakePerson, synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    alice = await make_person("alice", e2e=True)
    password = "pw-" + unique_localpart("b")
    bob_user = await synapse.register(unique_localpart("bob"), password)
    bob = await _device(synapse, bob_user.user_id, password, tmp_path / "bob-1")
    account = await register_bot(synapse)
    room = await room_with(alice, [bob], [account.user_id], encrypted=True)
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room],
                        encryption=True)
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    second: Person | None = None
    try:
        await wait_joined(bob, room, bot.user_id)
        b = Chat(bob, room, bot.user_id)
        command = await bob.send_text(room, "!whoami")
        await bob.inbox.wait_for(b.replies_to(command), what="the pointer")
        dm = await b.direct_chat()
        first = await b.private_reply(command)
        assert first.decrypted and first.body.startswith("You are bob")

        # bob signs in on a new device: the bot's earlier message was not encrypted for it.
        second = await _device(synapse, bob_user.user_id, password, tmp_path / "bob-2")
        forwarded: list[ForwardedRoomKeyEvent] = []
        got_key = asyncio.Event()

        async def on_key(event: Any) -> None:
            if isinstance(event, ForwardedRoomKeyEvent):
                forwarded.append(event)
                got_key.set()

        second.client.add_to_device_callback(on_key, ForwardedRoomKeyEvent)
        _, locked = await second.inbox.wait_for(
            lambda r, ev: r.room_id == dm and isinstance(ev, MegolmEvent) and ev.sender == bot.user_id,
            what="the bot's message, still locked, on the new device")
        # nio takes forwarded keys only from the user's own verified devices; Element also
        # takes them from the device that made the session, which answers it here.
        olm = second.client.olm
        assert olm is not None
        nio_accepts = olm._should_accept_forward

        def accept(sender: str, sender_key: str, event: Any) -> bool:
            made_it = sender == bot.user_id and sender_key == locked.sender_key
            request = olm.outgoing_key_requests.get(event.session_id)
            return (made_it and request is not None and request.room_id == event.room_id) \
                or nio_accepts(sender, sender_key, event)

        monkeypatch.setattr(olm, "_should_accept_forward", accept)
        # The new device asks for the key, as Element does: its own other devices (nio's
        # request_room_key, which also makes nio accept the answer) and the sender's.
        await second.client.request_room_key(locked)
        asked = await second.client.to_device(locked.as_key_request(bot.user_id, second.client.device_id))
        assert isinstance(asked, ToDeviceResponse), asked
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(got_key.wait(), DEFAULT_WAIT)
        assert forwarded, "the bot did not answer the new device's key request"
        assert {k.session_id for k in forwarded} == {locked.session_id}
        opened = second.client.decrypt_event(locked)
        assert isinstance(opened, RoomMessageNotice) and opened.body.startswith("You are bob")
    finally:
        if second is not None:
            await second.aclose()
        await bob.aclose()
        await bot.aclose()

