"""Announcements, notices and card edits where Discord says no (issue 13, issue 9 item 6).

The bot holds exactly the permissions of docs/discord.md (Set up); a channel overwrite can take them away
(50001 Missing Access, 50013 Missing Permissions), a member can close their direct
messages (50007), and a channel can be rate-limited (429 with ``retry_after``).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.ports import CommunityId, Outbound
from tests.discord.conftest import CHANNEL, POST, WORLD, BotHarness, discord_settings

pytestmark = [pytest.mark.discord, pytest.mark.timeout(60)]

BOB, ALICE = WORLD.bob_id, WORLD.alice_id
OTHER = WORLD.other_channel_id
THIRD = 1_100_000_000_000_000_012  # "forbidden": the bot may not send there
SEND, VIEW = 1 << 11, 1 << 10
ROUTE = "POST /channels/{channel_id}/messages"


@pytest.fixture
def bot_settings(tmp_path, standin) -> Settings:  # type: ignore[no-untyped-def]
    standin.add_channel(WORLD.guild_id, "forbidden", channel_id=THIRD)
    standin.set_overwrite(THIRD, standin.bot_role_id(WORLD.guild_id), deny=SEND)
    settings = discord_settings(f"sqlite:///{tmp_path / 'commons.sqlite3'}")
    community = settings.communities[0]
    assert community.discord is not None
    # The forbidden channel first: nothing may wait behind it.
    community.discord.channels[:] = [THIRD, OTHER, CHANNEL]
    return settings


def cards(bot: BotHarness, channel: int) -> list[str]:
    return [e["title"].split(" ·")[0] for m in bot.standin.channel_messages(channel) for e in m["embeds"]]


async def test_one_forbidden_and_one_rate_limited_channel_delay_and_lose_nothing(
        discord_bot: BotHarness, caplog: pytest.LogCaptureFixture) -> None:
    bot, standin = discord_bot, discord_bot.standin
    # "needs" answers 429 after one message a second.
    standin.rate_limits.buckets[(ROUTE, str(OTHER))] = (1, 1.0)
    for title in ("First", "Second", "Third"):
        await bot.command(BOB, "need offer", {"title": title})
    await standin.wait_until(lambda: len(cards(bot, OTHER)) == 3 and len(cards(bot, CHANNEL)) == 3,
                             timeout=20, description="three cards in each channel the bot may post in")
    assert sorted(cards(bot, CHANNEL)) == sorted(cards(bot, OTHER)) == ["T1", "T2", "T3"]
    assert standin.channel_messages(THIRD) == []
    # "needs" was held to its limit (discord.py waits when the headers say none remain).
    assert any(str(OTHER) in key for _, key in standin.rate_limits.exhausted)
    # Logged once, with what to grant; at start-up, from discord.py's view of the channel.
    records = caplog.get_records("setup") + caplog.records
    warned = [r.getMessage() for r in records if str(THIRD) in r.getMessage()]
    assert len(warned) == 1 and "Send Messages" in warned[0]
    assert list(bot.adapter.unpostable) == [THIRD]
    assert bot.adapter.unpostable[THIRD].startswith("Send Messages")
    standin.errors.clear()  # any 429


async def test_a_channel_that_turns_forbidden_is_skipped_not_retried(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    standin.set_overwrite(THIRD, standin.bot_role_id(WORLD.guild_id), allow=SEND)
    await bot.say(BOB, "whoami")  # barrier: discord.py handled the CHANNEL_UPDATE before it
    assert bot.adapter._may_post(THIRD)
    # Denied behind discord.py's back: Discord answers 50013; the entry counts as delivered.
    standin.channels[THIRD].overwrites = [(standin.bot_role_id(WORLD.guild_id), 0, 0, SEND)]
    await bot.adapter.send(Outbound(CommunityId("demo"), "Hello all", kind="announce", outbox_id=7))
    assert [m["content"] for m in standin.channel_messages(CHANNEL)] == ["Hello all"]
    assert [c.response["code"] for c in standin.errors] == [50013]
    assert bot.adapter.unpostable[THIRD].startswith("Send Messages")
    standin.errors.clear()


async def test_a_failed_channel_raises_and_the_retry_posts_only_there(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    adapter = bot.adapter
    real = adapter._post
    broken = {OTHER}

    async def flaky(community: Any, channel_id: int, o: Outbound) -> None:
        if channel_id in broken:
            broken.discard(channel_id)
            raise aiohttp.ClientConnectionError("connection reset")
        await real(community, channel_id, o)

    adapter._post = flaky  # type: ignore[method-assign]
    entry = Outbound(CommunityId("demo"), "Deadline passed", kind="announce", outbox_id=41)
    with pytest.raises(Exception, match="not delivered in"):
        await adapter.send(entry)
    assert [m["content"] for m in standin.channel_messages(CHANNEL)] == ["Deadline passed"]
    assert standin.channel_messages(OTHER) == []
    await adapter.send(entry)  # the runtime's retry, with the same entry
    assert [m["content"] for m in standin.channel_messages(CHANNEL)] == ["Deadline passed"]
    assert [m["content"] for m in standin.channel_messages(OTHER)] == ["Deadline passed"]


async def test_a_resent_entry_is_posted_once_thanks_to_its_nonce(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    mark = standin.mark()
    entry = Outbound(CommunityId("demo"), "Call F1 closes", kind="announce", outbox_id=99)
    await bot.adapter.send(entry)
    bot.adapter._delivered.clear()  # as after a crash: nothing in memory says it was sent
    await bot.adapter.send(entry)
    posts = [c for c in standin.calls_to(POST, since=mark) if c.path == f"/channels/{CHANNEL}/messages"]
    assert len(posts) == 2 and posts[0].json["nonce"] == posts[1].json["nonce"]
    assert posts[0].json["enforce_nonce"] is True and len(posts[0].json["nonce"]) <= 25
    assert [m["content"] for m in standin.channel_messages(CHANNEL)] == ["Call F1 closes"]
    other = [c.json["nonce"] for c in standin.calls_to(POST, since=mark) if str(OTHER) in c.path]
    assert other and other[0] != posts[0].json["nonce"]  # one nonce per channel


async def test_cards_are_edited_where_allowed_when_one_channel_is_closed(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    await bot.command(BOB, "need offer", {"title": "Fix the login crash"})
    here, there = await bot.card("T1", CHANNEL), await bot.card("T1", OTHER)
    # "needs" closes to the bot (no View Channel), unknown to discord.py's cache.
    standin.channels[OTHER].overwrites = [(standin.bot_role_id(WORLD.guild_id), 0, 0, VIEW)]
    mark = standin.mark()
    await bot.press(int(here["id"]), "claim", ALICE)
    await standin.wait_until(lambda: "alice" in str(standin.messages[int(here["id"])]["embeds"]),
                             timeout=10, description="the card edited in general")
    assert "alice" not in str(standin.messages[int(there["id"])]["embeds"])
    assert {c.response["code"] for c in standin.errors} == {50001}
    assert standin.calls_to("PATCH /channels/{channel_id}/messages/{message_id}", since=mark)
    standin.errors.clear()


async def test_a_notice_to_closed_direct_messages_goes_to_the_channel(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    standin.close_dms(ALICE)
    await bot.command(ALICE, "watch", {"skills": "python"})
    await bot.command(BOB, "need offer", {"title": "Port to 3.13", "skills": "python"})
    await standin.wait_until(
        lambda: any(m["content"].startswith(f"<@{ALICE}>") for m in standin.channel_messages(THIRD)
                    + standin.channel_messages(OTHER) + standin.channel_messages(CHANNEL)),
        timeout=10, description="the notice in a channel")
    assert [c.response["code"] for c in standin.errors] == [50007]
    assert standin.channel_messages(standin.dm_channel_id(ALICE)) == []
    standin.errors.clear()


async def test_registered_commands_fit_discords_limits(discord_bot: BotHarness) -> None:
    from adapters.discord.commands import command_text_size

    registered = discord_bot.standin.commands(WORLD.guild_id)
    assert {c["name"] for c in registered} >= {"need", "proposal", "funding", "whoami"}
    assert max(command_text_size(c) for c in registered) <= 8000
