"""Crash test: the real `commons-bot run` process killed with SIGKILL twice under load.

50 commands are sent while the bot answers, dies and restarts; each is answered exactly
once and each need exists once. Synapse keeps its default two-minute ``/sync`` cache, so
the restarted bot (same device) may be served the very sync it got before the crash: the
event-id record in the database and the per-device transaction ids keep it exactly once.
A timeline limit of 10 makes every restart cross a gap that is filled from /messages.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from tests.matrix.botkit import (
    BotProcess,
    Chat,
    bot_config,
    register_bot,
    relates_to,
    room_with,
    wait_joined,
    write_config,
)
from tests.matrix.clients import MakePerson
from tests.matrix.synapse import SynapseServer

pytestmark = pytest.mark.synapse

COMMANDS = 50
START_WAIT = 90.0  # a cold `commons-bot run` on a loaded 2-core machine: imports, migrations, login


async def test_fifty_commands_across_two_sigkills_are_answered_exactly_once(
        make_person: MakePerson, synapse: SynapseServer, tmp_path) -> None:
    alice = await make_person("alice")
    account = await register_bot(synapse)
    room = await room_with(alice, [], [account.user_id])
    db = tmp_path / "bot.sqlite3"
    config = bot_config(account, f"sqlite:///{db}", tmp_path / "store", [room], encryption=True,
                        timeline_limit=10, retry_max_seconds=1.0)
    path = write_config(tmp_path / "matrix.yaml", config)
    bot = BotProcess(path, account.env, tmp_path / "bot.log")
    chat = Chat(alice, room, account.user_id)
    sent: list[str] = []

    async def send(numbers: range) -> None:
        for n in numbers:
            sent.append(await alice.send_text(room, f"!offer Crash need {n}"))

    async def reply_to(index: int) -> None:
        await alice.inbox.wait_for(chat.replies_to(sent[index]), START_WAIT,
                                   what=f"the reply to command {index}\n{bot.log()}")

    bot.start()
    try:
        await wait_joined(alice, room, account.user_id, START_WAIT)
        await chat.say("!needs", START_WAIT)
        device = (tmp_path / "store" / "credentials.json").read_text()

        await send(range(0, 20))
        await reply_to(3)
        bot.kill()  # mid-stream: most of the first 20 are still to be answered
        await send(range(20, 35))
        bot.start()
        await reply_to(22)
        bot.kill()  # while catching up after the first crash
        await send(range(35, COMMANDS))
        bot.start()
        for i in range(COMMANDS):
            await reply_to(i)
        # Rooms are handled in order: once this is answered, nothing earlier is pending.
        await chat.say("!needs page:5", START_WAIT)

        assert (tmp_path / "store" / "credentials.json").read_text() == device, "one device kept"
        answers = Counter(relates_to(e) for r, e in alice.inbox.received
                          if r.room_id == room and getattr(e, "sender", "") == account.user_id)
        assert [answers[e] for e in sent] == [1] * COMMANDS, bot.log()
    finally:
        bot.terminate()

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        titles = [t for (t,) in conn.execute(text("SELECT title FROM needs"))]
        handled = conn.execute(text(
            "SELECT count(*) FROM handled_messages WHERE platform = 'matrix'")).scalar()
    engine.dispose()
    assert sorted(titles) == sorted(f"Crash need {n}" for n in range(COMMANDS))
    assert handled == COMMANDS + 2  # the 50 offers and two !needs
