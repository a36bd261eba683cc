"""Private stays private and free text stays free text on Discord (issue 9 items 2 and 12)."""

from __future__ import annotations

import re

import pytest

from bot.config import Settings
from bot.ports import CommunityId, InboundMessage, Platform
from tests.conftest import sqlite_url
from tests.discord.conftest import CHANNEL, WORLD, BotHarness, discord_settings

pytestmark = [pytest.mark.discord, pytest.mark.timeout(60)]

EPHEMERAL = 64
BOB, ALICE = WORLD.bob_id, WORLD.alice_id


def _matrix_dm(sender: str, text: str) -> InboundMessage:
    """A command from a Matrix direct chat, straight to the core the adapter runs on."""
    return InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"), space="!dm:x",
                          sender=sender, sender_name=sender, text=text, direct=True, private=True)


def everything_in(standin, channel: int) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(str(m) for m in standin.channel_messages(channel, include_ephemeral=False))


async def test_a_slash_link_code_is_ephemeral(discord_bot: BotHarness) -> None:
    _, reply = await discord_bot.command(BOB, "link")
    assert reply.data["flags"] & EPHEMERAL and "Your link code is" in reply.data["content"]
    assert "link code" not in everything_in(discord_bot.standin, CHANNEL)


async def test_a_slash_link_code_is_private_and_waits_for_the_issuing_account(
        discord_bot: BotHarness) -> None:
    """Issue 20: `/link CODE` is seen by the bot alone, so the code is taken; bob's Matrix
    account, which issued it, confirms before anything joins."""
    bot = discord_bot
    [issued] = await bot.runtime.handle(_matrix_dm("@bob:example.org", "!link"))
    code = re.search(r"link code is (\w+)\.", issued.text)
    assert code, issued.text
    _, reply = await bot.command(BOB, "link", {"code": code.group(1)})
    assert reply.data["flags"] & EPHEMERAL
    assert reply.data["content"].startswith("Almost linked: send `!link confirm` from your matrix account")
    [done] = await bot.runtime.handle(_matrix_dm("@bob:example.org", "!link confirm"))
    assert done.text.startswith(f"Linked: your discord account bob ({BOB}) is now part of you")


async def test_slash_free_text_is_not_read_as_options(discord_bot: BotHarness) -> None:
    bot = discord_bot
    await bot.command(BOB, "need offer", {"title": "Innocent slots:50 reward:9999999EUR due:1d"})
    card = await bot.card("T1")
    assert card["embeds"][0]["title"].startswith("T1 · Innocent slots")
    fields = {f["name"]: f["value"] for f in card["embeds"][0]["fields"]}
    assert fields["State"] == "1 of 1 slots free" and "Reward" not in fields
    await bot.command(BOB, "proposal open", {"text": "Lower quorum:3"})
    shown = await bot.say(ALICE, "proposal show", {"proposal": "P1"})
    assert "Lower quorum:3" in shown and "; quorum 3" not in shown


class TestTypedCommands:
    """Typed `!` commands: a private answer goes by direct message, never to the channel."""

    @pytest.fixture
    def bot_settings(self, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
        return discord_settings(sqlite_url(tmp_path), text_commands=True)

    async def test_a_typed_link_code_goes_by_direct_message(self, discord_bot: BotHarness) -> None:
        bot, standin = discord_bot, discord_bot.standin
        await standin.send_message(CHANNEL, BOB, "!link")
        dm = standin.dm_channel_id(BOB)
        code = await bot.posted("Your link code is", channel=dm)
        assert code.json["content"].startswith("Your link code is")
        # Barrier: a later public answer in the channel, then nothing private before it.
        await standin.send_message(CHANNEL, BOB, "!needs")
        await bot.posted("No open needs")
        assert "link code" not in everything_in(standin, CHANNEL)

    async def test_a_link_code_typed_in_the_channel_dies_and_its_owner_is_told(
            self, discord_bot: BotHarness) -> None:
        """Issue 20: bob's code, typed by alice in the channel, is dead at once; bob hears of it
        by direct message; nobody can send it from another platform afterwards."""
        bot, standin = discord_bot, discord_bot.standin
        _, reply = await bot.command(BOB, "link")
        code = re.search(r"link code is (\w+)\.", reply.data["content"])
        assert code, reply.data
        await standin.send_message(CHANNEL, ALICE, f"!link {code.group(1)}")
        await bot.posted("✗ a link code works only in a direct message", channel=standin.dm_channel_id(ALICE))
        await bot.posted("Your link code was sent where others can read it",
                         channel=standin.dm_channel_id(BOB))
        [out] = await bot.runtime.handle(_matrix_dm("@carol:example.org", f"!link {code.group(1)}"))
        assert out.text.startswith("✗ that code is unknown, used or expired")

    async def test_closed_direct_messages_get_a_pointer_without_the_code(
            self, discord_bot: BotHarness) -> None:
        bot, standin = discord_bot, discord_bot.standin
        standin.close_dms(BOB)
        await standin.send_message(CHANNEL, BOB, "!link")
        pointer = await bot.posted("use the slash command")
        assert pointer.json["content"].startswith(f"<@{BOB}> the answer is private")
        assert "link code" not in everything_in(standin, CHANNEL)
        assert [c.response["code"] for c in standin.errors] == [50007]
        standin.errors.clear()


async def test_votes_on_a_hidden_proposal_are_ephemeral_and_its_card_hides_the_counts(
        discord_bot: BotHarness) -> None:
    bot = discord_bot
    await bot.command(ALICE, "proposal open", {"text": "Switch servers", "hidden": "yes"})
    card = await bot.card("P1")
    _, reply = await bot.press(int(card["id"]), "agree", BOB)
    assert reply.data["flags"] & EPHEMERAL
    assert reply.data["content"].startswith("Your vote on P1 is agree — only you see it")
    _, reply = await bot.command(ALICE, "proposal vote", {"proposal": "P1", "position": "block",
                                                          "reason": "our bridges break"})
    assert reply.data["flags"] & EPHEMERAL
    edited = await bot.edited(int(card["id"]), 0, lambda b: "2 votes cast" in str(b.get("embeds")))
    shown = str(edited.json) + everything_in(bot.standin, CHANNEL)
    assert "bridges" not in shown and "Block" not in {f["name"] for f in edited.json["embeds"][0]["fields"]}
