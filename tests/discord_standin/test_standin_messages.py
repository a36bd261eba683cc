"""The stand-in against the real, unmodified discord.py client: messages, direct messages,
Discord's limits and mentions, and the common REST routes.

Each test starts a bare ``discord.Client`` (no project code), drives it through the
stand-in and checks both sides: what discord.py's callbacks saw, and what REST
calls reached "Discord".
"""

from __future__ import annotations

import asyncio

import discord
import pytest

from . import DiscordStandIn
from .bare_bot import GUILD, WORLD, BareBot
from .fixtures import DiscordClientRunner

pytestmark = [pytest.mark.discord, pytest.mark.timeout(30)]


# ---------------------------------------------------------------------- messages


async def test_message_reaches_on_message_with_content_intent(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    intents = discord.Intents.default()
    intents.message_content = True
    bot = await run_discord_client(BareBot(intents=intents))

    mark = standin.mark()
    sent = await standin.send_message(WORLD.channel_id, WORLD.alice_id, "!hello")
    received = await asyncio.wait_for(bot.messages.get(), 5)
    assert received.id == int(sent["id"]) and received.content == "!hello"
    assert received.author.id == WORLD.alice_id and isinstance(received.author, discord.Member)

    reply = await standin.wait_for_call("POST /channels/{channel_id}/messages", since=mark)
    assert reply.json["content"] == f"hello <@{WORLD.alice_id}> @everyone"
    assert reply.json["allowed_mentions"] == {"parse": []}
    stored = standin.channel_messages(WORLD.channel_id)[-1]
    assert stored["mention_everyone"] is False and stored["mentions"] == []
    assert standin.errors == []


async def test_message_content_is_blank_without_intent(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    bot = await run_discord_client(BareBot())  # Intents.default(): no message_content

    await standin.send_message(WORLD.channel_id, WORLD.alice_id, "!needs")
    blank = await asyncio.wait_for(bot.messages.get(), 5)
    assert blank.content == ""
    await standin.send_message(WORLD.channel_id, WORLD.alice_id, f"<@{standin.bot_user_id}> !needs")
    mentioned = await asyncio.wait_for(bot.messages.get(), 5)
    assert mentioned.content.endswith("!needs")  # mentioning the bot lifts the restriction


async def test_direct_messages(standin: DiscordStandIn, run_discord_client: DiscordClientRunner) -> None:
    bot = await run_discord_client(BareBot())
    dm = standin.dm_channel_id(WORLD.alice_id)

    await standin.send_message(dm, WORLD.alice_id, "hi bot")  # DMs carry content without the intent
    received = await asyncio.wait_for(bot.messages.get(), 5)
    assert isinstance(received.channel, discord.DMChannel) and received.content == "hi bot"

    alice = await bot.fetch_user(WORLD.alice_id)
    sent = await alice.send("your claim on T12 expires in 2 days")
    assert sent.channel.id == dm
    assert standin.channel_messages(dm)[-1]["content"] == "your claim on T12 expires in 2 days"
    assert standin.errors == []


async def test_discord_limits_and_mentions(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    bot = await run_discord_client(BareBot())
    channel = bot.get_channel(WORLD.channel_id)
    assert isinstance(channel, discord.TextChannel)

    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert too_long.value.status == 400 and too_long.value.code == 50035
    with pytest.raises(discord.HTTPException) as too_many_fields:
        embed = discord.Embed(title="t")
        for i in range(26):
            embed.add_field(name=f"f{i}", value="v")
        await channel.send(embed=embed)
    assert too_many_fields.value.code == 50035

    pinged = await channel.send(f"@everyone <@&{WORLD.maintainer_role_id}> <@{WORLD.bob_id}>")
    assert pinged.mention_everyone and [r.id for r in pinged.role_mentions] == [WORLD.maintainer_role_id]
    safe = await channel.send(
        f"@everyone <@&{WORLD.maintainer_role_id}> <@{WORLD.bob_id}>",
        allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
    )
    assert (
        not safe.mention_everyone
        and safe.role_mentions == []
        and [u.id for u in safe.mentions] == [WORLD.bob_id]
    )
    assert [c.status for c in standin.errors] == [400, 400]
    standin.errors.clear()
    # The 26 fields are refused by Discord's own schema (maxItems 25), not only by our rules.
    assert len(standin.spec_refused) == 1 and "embeds/0/fields" in standin.spec_refused[0]
    standin.spec_refused.clear()


async def test_common_rest_routes(standin: DiscordStandIn, run_discord_client: DiscordClientRunner) -> None:
    bot = await run_discord_client(BareBot())
    channel = await bot.fetch_channel(WORLD.other_channel_id)
    assert isinstance(channel, discord.TextChannel) and channel.name == "needs"

    first = await channel.send("first")
    async with channel.typing():
        second = await channel.send("second", reference=first)
    assert second.reference is not None and second.reference.message_id == first.id
    await second.add_reaction("👍")
    edited = await second.edit(
        content="second, edited", embed=discord.Embed(title="T12", description="fence")
    )
    assert edited.edited_at is not None and edited.embeds[0].title == "T12"
    fetched = await channel.fetch_message(second.id)
    assert fetched.content == "second, edited"
    history = [m.content async for m in channel.history(limit=10)]
    assert history == ["second, edited", "first"]  # newest first
    await first.delete()
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(first.id)

    guild = bot.get_guild(WORLD.guild_id)
    assert guild is not None
    bob = await guild.fetch_member(WORLD.bob_id)
    assert {r.id for r in bob.roles} >= {WORLD.maintainer_role_id, WORLD.contributor_role_id}
    with pytest.raises(discord.NotFound):
        await guild.fetch_member(1)
    commands = await bot.tree.fetch_commands(guild=GUILD)
    assert sorted(c.name for c in commands) == ["ping", "slow", "task"]

    assert [c.status for c in standin.errors] == [404, 404]
    standin.errors.clear()
