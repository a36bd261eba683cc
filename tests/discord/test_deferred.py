"""Deferred answers as Discord really treats them (issue 13).

On Discord the first follow-up after a type-5 defer edits the loading message and keeps
its visibility; the stand-in does the same. An answer must reach the member exactly once,
and a private answer must never show in the channel.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.ports import InboundMessage
from tests.discord.conftest import CHANNEL, WORLD, BotHarness

pytestmark = [pytest.mark.discord, pytest.mark.timeout(60)]

EPHEMERAL, LOADING = 64, 128
BOB, ALICE = WORLD.bob_id, WORLD.alice_id


@contextmanager
def slow_core(bot: BotHarness, prefix: str) -> Iterator[threading.Event]:
    """Hold every command starting with `prefix` in the core until the event is set."""
    release = threading.Event()
    real = bot.core.handle

    def slow(msg: InboundMessage):  # type: ignore[no-untyped-def]
        if msg.text.startswith(prefix):
            release.wait(20)
        return real(msg)

    bot.core.handle = slow  # type: ignore[method-assign]
    try:
        yield release
    finally:
        release.set()
        bot.core.handle = real  # type: ignore[method-assign]


async def test_a_slow_public_answer_is_shown_to_everyone_exactly_once(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    with slow_core(bot, "!needs") as release:
        slow = await standin.send_command("need list", {}, channel_id=CHANNEL, user_id=ALICE)
        deferred = await slow.response(timeout=5)
        assert deferred.json == {"type": 5}  # a public "thinking…"
        release.set()
        await standin.wait_until(
            lambda: slow.original_message is not None
            and not slow.original_message["flags"] & LOADING, description="the answer")
    visible = [m for m in standin.channel_messages(CHANNEL) if "No open needs" in m["content"]]
    assert len(visible) == 1 and not visible[0]["flags"] & EPHEMERAL
    assert visible[0]["id"] == str(slow.original_message_id)
    assert [c.kind for c in slow.calls] == ["callback", "followup"]  # nothing deleted


async def test_a_slow_personal_answer_stays_private(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    with slow_core(bot, "!whoami") as release:
        slow = await standin.send_command("whoami", {}, channel_id=CHANNEL, user_id=BOB)
        assert (await slow.response(timeout=5)).json == {"type": 5, "data": {"flags": EPHEMERAL}}
        release.set()
        await slow.followup(timeout=10)
    original = slow.original_message
    assert original is not None and original["content"].startswith("You are bob")
    assert original["flags"] == EPHEMERAL
    assert not any("You are bob" in m["content"] for m in standin.channel_messages(CHANNEL))


async def test_a_slow_refusal_after_a_public_defer_is_private(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    with slow_core(bot, "!claim") as release:
        slow = await standin.send_command("need claim", {"need": "T99"}, channel_id=CHANNEL,
                                          user_id=ALICE)
        assert (await slow.response(timeout=5)).json == {"type": 5}
        release.set()
        private = await slow.followup(timeout=10)
    assert private.json["flags"] & EPHEMERAL and "T99 does not exist" in private.json["content"]
    assert not any("T99" in m["content"] for m in standin.channel_messages(CHANNEL))
    # The public loading message only says where the answer went.
    original = slow.original_message
    assert original is not None and original["content"].startswith("Answered privately")
    assert private.response["id"] != original["id"]


async def test_a_late_delivered_interaction_is_deferred_within_its_three_seconds(
        discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    with slow_core(bot, "!needs") as release:
        # Made 2 s ago (queued during an outage): waiting the usual 1.5 s would be too late.
        late = await standin.send_command("need list", {}, channel_id=CHANNEL, user_id=ALICE,
                                          created_ago=2.0)
        deferred = await late.response(timeout=5)
        assert deferred.ok and deferred.json == {"type": 5}
        release.set()
        answer = await late.followup(timeout=10)
    assert answer.json["content"].startswith("No open needs")
