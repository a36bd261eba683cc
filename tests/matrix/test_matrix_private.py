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
