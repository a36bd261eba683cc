"""Encrypted rooms, a homeserver restart mid-session, invites and history, on a real Synapse."""

from __future__ import annotations

from collections import Counter

import pytest
from nio import MegolmEvent, RoomCreateResponse, RoomMessagesResponse

from bot.runtime import Runtime
from tests.matrix.botkit import (
    Chat,
    bot_config,
    content_of,
    register_bot,
    relates_to,
    room_with,
    start_bot,
    wait_joined,
)
from tests.matrix.clients import MakePerson
from tests.matrix.synapse import SynapseServer

pytestmark = pytest.mark.synapse


async def test_commands_and_replies_in_an_encrypted_room(make_person: MakePerson, synapse: SynapseServer,
                                                         tmp_path, monkeypatch) -> None:
    alice = await make_person("alice", e2e=True)
    bob = await make_person("bob", e2e=True)
    account = await register_bot(synapse)
    room = await room_with(alice, [bob], [account.user_id], encrypted=True)
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room],
                        encryption=True)
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        assert bot.adapter.client is not None and bot.adapter.client.olm is not None
        # Alice's client must know the bot is in the room, or it would not share its key.
        await wait_joined(alice, room, bot.user_id)
        await wait_joined(bob, room, bot.user_id)
        a, b = Chat(alice, room, bot.user_id), Chat(bob, room, bot.user_id)

        reply = await a.say("!offer Rotate the signing keys #ops")
        assert reply.decrypted, "the bot's reply must be encrypted"
        assert reply.body == "T1 is offered and announced: Rotate the signing keys"
        card = await b.wait_bot(lambda ev: getattr(ev, "body", "").startswith("New need T1"), "the card")
        assert card.decrypted
        claimed = await b.say("!claim T1")
        assert claimed.decrypted and claimed.body.startswith("You claimed T1.")
        listed = await a.say("!needs")
        assert listed.decrypted and "T1 Rotate the signing keys" in listed.body
        # Every message alice got in the room was encrypted and she could read it.
        assert not [e for r, e in alice.inbox.received if r.room_id == room and isinstance(e, MegolmEvent)]
    finally:
        await bot.aclose()


async def test_a_homeserver_restart_mid_session_loses_nothing(make_person: MakePerson, synapse: SynapseServer,
                                                              tmp_path, monkeypatch) -> None:
    alice = await make_person("alice")
    account = await register_bot(synapse)
    room = await room_with(alice, [], [account.user_id])
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room],
                        retry_max_seconds=1.0)
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        a = Chat(alice, room, bot.user_id)
        assert (await a.ask("!offer Before the restart")).startswith("T1 is offered")
        # Commands the bot may be answering while the homeserver goes down...
        sent = [await alice.send_text(room, f"!offer Need {n} during the restart") for n in range(3)]
        await synapse.restart()
        # ... and commands sent once it is back.
        sent += [await alice.send_text(room, f"!offer Need {n} after the restart") for n in range(3, 6)]
        # Answered once the homeserver is back; since the bot handles a room's commands in
        # order, a reply to this one means every earlier command was handled.
        listed = await a.ask("!needs page:1", timeout=60)
        assert "T7 Need 5 after the restart" in listed and "T8" not in listed
        # Counted on the homeserver, the record: a client syncing across the restart (the
        # human's here) can miss an event persisted while Synapse was stopping.
        replies = Counter(relates_to(ev) for ev in await _room_history(alice, room)
                          if getattr(ev, "sender", "") == bot.user_id)
        assert [replies[e] for e in sent] == [1] * len(sent), replies
    finally:
        await bot.aclose()


async def _room_history(person, room_id: str) -> list:  # type: ignore[no-untyped-def]
    """Every event of a room as the homeserver stores it, oldest first (decrypted if it can)."""
    events: list = []
    start = ""
    while True:
        resp = await person.client.room_messages(room_id, start=start, limit=100)
        assert isinstance(resp, RoomMessagesResponse), resp
        events.extend(resp.chunk)
        if not resp.chunk or not resp.end:
            return list(reversed(events))
        start = resp.end


async def test_history_before_joining_is_ignored_and_foreign_invites_declined(
        make_person: MakePerson, synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    alice = await make_person("alice")
    account = await register_bot(synapse)
    # Commands written before the bot is in the room are history, never answered.
    resp = await alice.client.room_create(name="old")
    assert isinstance(resp, RoomCreateResponse)
    room = resp.room_id
    old = await alice.send_text(room, "!offer Written before the bot came")
    await alice.client.room_invite(room, account.user_id)
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room])
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        await wait_joined(alice, room, bot.user_id)
        a = Chat(alice, room, bot.user_id)
        assert (await a.ask("!offer Written after")).startswith("T1 is offered")
        assert not [e for r, e in alice.inbox.received if relates_to(e) == old]

        # An invite to a room that is not in the config is declined.
        other = await alice.client.room_create(name="elsewhere", invite=[bot.user_id])
        assert isinstance(other, RoomCreateResponse)
        await alice.inbox.wait_for(
            lambda r, ev: r.room_id == other.room_id and getattr(ev, "state_key", None) == bot.user_id
            and getattr(ev, "membership", None) == "leave", what="the bot declining the invite")
        assert other.room_id not in bot.adapter.client.rooms  # type: ignore[union-attr]
        assert content_of(await a.say("!whoami"))["msgtype"] == "m.notice"
    finally:
        await bot.aclose()


async def test_a_batch_replayed_after_a_crash_is_not_answered_twice(
        make_person: MakePerson, synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    """The crash window made certain: replies sent, sync token never stored.

    The restarted bot (same device, same database, within Synapse's two-minute sync cache)
    receives the same commands again; the core answers them from its record and the
    homeserver drops the repeated transaction ids, so each reply exists once.
    """
    alice = await make_person("alice")
    account = await register_bot(synapse)
    room = await room_with(alice, [], [account.user_id])
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room])
    first = await start_bot(account, config, monkeypatch=monkeypatch)
    a = Chat(alice, room, first.user_id)
    token_key = first.adapter._token_key
    real_kv_set = first.core.kv_set

    def kv_set_but_not_the_token(key: str, value: str) -> None:
        if key != token_key:
            real_kv_set(key, value)

    monkeypatch.setattr(first.core, "kv_set", kv_set_but_not_the_token)
    sent = [await alice.send_text(room, f"!offer Replay need {n}") for n in range(5)]
    for event_id in sent:
        await alice.inbox.wait_for(a.replies_to(event_id), what="a reply before the crash")
    # The crash: tasks cancelled, nothing flushed, the token still the one from before.
    for task in first.adapter._tasks:
        task.cancel()
    await first.adapter.client.close()  # type: ignore[union-attr]
    await first.runtime.close()
    first.core.engine.dispose()
    monkeypatch.undo()

    seen: list[str | None] = []
    handle = Runtime.handle

    async def recording(self, msg):  # type: ignore[no-untyped-def]
        seen.append(msg.message_id)
        return await handle(self, msg)

    # Patched before the start: the replay begins with the start's first sync.
    monkeypatch.setattr(Runtime, "handle", recording)
    second = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        await a.say("!needs")  # answered after the replayed batch: the replay is done
        assert set(sent) <= set(seen), "the unfinished batch was delivered again"
        replies = [relates_to(e) for r, e in alice.inbox.received if r.room_id == room and relates_to(e)]
        assert [replies.count(e) for e in sent] == [1] * len(sent)
        assert "T5 Replay need 4" in await a.ask("!needs") and "T6" not in await a.ask("!needs")
    finally:
        await second.aclose()
