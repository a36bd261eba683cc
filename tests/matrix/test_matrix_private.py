"""Private replies stay private: a link code asked for in a room is read only in the direct chat.

The core marks some replies private (a `!link` code, `!whoami`, `!mine`, refusals). To a
command in a community room the bot answers them in the sender's direct chat and the room
gets a pointer with nothing of the reply in it; another member reading the room never sees
the code. A command in the direct chat is answered there.
"""

from __future__ import annotations

import re

import pytest

from adapters.matrix import translate as tr
from bot.ports import CommunityId, InboundMessage, Platform
from tests.matrix.botkit import Chat, bot_config, content_of, register_bot, relates_to, room_with, start_bot
from tests.matrix.clients import MakePerson
from tests.matrix.synapse import SynapseServer
from tests.matrix.test_matrix_resilience import _room_history

pytestmark = pytest.mark.synapse


async def test_a_link_code_asked_for_in_a_room_is_only_in_the_direct_chat(
        make_person: MakePerson, synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    alice = await make_person("alice")
    mallory = await make_person("mallory")
    account = await register_bot(synapse)
    room = await room_with(alice, [mallory], [account.user_id])
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room])
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        a = Chat(alice, room, bot.user_id)
        command = await alice.send_text(room, "!link")
        _, pointer = await alice.inbox.wait_for(a.replies_to(command), what="the bot's answer in the room")
        assert pointer.body == tr.PRIVATE_POINTER
        assert content_of(pointer)["m.mentions"] == {"user_ids": [alice.user_id]}

        private = await a.private_reply(command)
        code = re.search(r"Your link code is (\w+)\.", private.body)
        assert code, private.body
        dm = await a.direct_chat()
        assert dm != room
        assert content_of(private)[tr.PRIVATE_REPLY_KEY] == {"room_id": room, "event_id": command}

        # Other private answers, refusals included, go the same way.
        assert (await a.ask("!whoami")).startswith("You are alice")
        assert (await a.ask("!claim T99")).startswith("✗")
        # Public answers stay in the room.
        assert (await a.ask("!needs")) != tr.PRIVATE_POINTER

        # In the direct chat itself, a private answer is a plain reply there.
        in_dm = Chat(alice, dm, bot.user_id)
        command_in_dm = await alice.send_text(dm, "!whoami")
        _, answer = await alice.inbox.wait_for(in_dm.replies_to(command_in_dm), what="the answer in the DM")
        assert answer.body.startswith("You are alice")

        # Mallory reads the whole room as the homeserver stores it: no code, no private answer.
        history = await _room_history(mallory, room)
        from_bot = [ev for ev in history if getattr(ev, "sender", "") == bot.user_id]
        assert [relates_to(ev) for ev in from_bot].count(command) == 1
        assert all(code.group(1) not in str(getattr(ev, "source", "")) for ev in history)
        assert not [ev for ev in from_bot if "You are" in (getattr(ev, "body", "") or "")]
        # ...and she is not in the direct chat.
        assert dm not in mallory.client.rooms
    finally:
        await bot.aclose()


async def test_a_link_code_typed_in_the_room_dies_and_only_a_direct_chat_takes_one(
        make_person: MakePerson, synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    """Issue 20: alice asks for a code, then types it in the community room by mistake. It
    dies there (she is told in her direct chat); mallory, who read it, gets nothing from it
    on Discord. A code sent in the direct chat, which only alice and the bot are in, is
    taken as private."""
    alice = await make_person("alice")
    mallory = await make_person("mallory")
    account = await register_bot(synapse)
    room = await room_with(alice, [mallory], [account.user_id])
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room])
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        a = Chat(alice, room, bot.user_id)
        code = re.search(r"Your link code is (\w+)\.", await a.ask("!link"))
        assert code, "no code"
        typed = await alice.send_text(room, f"!link {code.group(1)}")
        _, pointer = await alice.inbox.wait_for(a.replies_to(typed), what="the bot's answer in the room")
        assert pointer.body == tr.PRIVATE_POINTER
        burned = await a.private_reply(typed)
        assert burned.body.startswith("✗ a link code works only in a direct message with the bot")
        # mallory read the room; from a new Discord account the code is dead.
        [out] = await bot.runtime.handle(InboundMessage(
            community=CommunityId("demo"), platform=Platform("discord"), space="dm", sender="666",
            sender_name="mallory", text=f"!link {code.group(1)}", message_id="d-1", direct=True,
            private=True))
        assert out.text.startswith("✗ that code is unknown, used or expired")
        # In the direct chat a code is taken as private: refused only because it is her own.
        in_dm = Chat(alice, await a.direct_chat(), bot.user_id)
        fresh = re.search(r"Your link code is (\w+)\.", await in_dm.ask("!link"))
        assert fresh, "no code"
        assert (await in_dm.ask(f"!link {fresh.group(1)}")).startswith(
            "✗ this account is already part of that member")
    finally:
        await bot.aclose()
