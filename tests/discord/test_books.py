"""The generative loop on Discord: `/venture` and `/books` slash commands, with autocomplete."""

from __future__ import annotations

from typing import Any

import pytest

from tests.discord.conftest import CHANNEL, WORLD, BotHarness

pytestmark = [pytest.mark.discord, pytest.mark.timeout(60)]

BOB, ALICE, OLIVIA = WORLD.bob_id, WORLD.alice_id, WORLD.owner_id
DEFERRED, LOADING = 5, 128


async def answer(bot: BotHarness, user: int, name: str, options: dict[str, Any] | None = None) -> str:
    """The text a member sees for a slash command, also when a busy bot deferred it first."""
    handle, first = await bot.command(user, name, options)
    if first.json.get("type") != DEFERRED:
        return first.data.get("content", "")
    message = await bot.standin.wait_until(
        lambda: handle.original_message if handle.original_message is not None
        and not handle.original_message["flags"] & LOADING else None,
        timeout=10, description=f"the answer to /{name}")
    return message["content"]


async def test_a_venture_gives_back_through_slash_commands(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    assert (await answer(bot, BOB, "venture register", {"name": "Acme Coop", "pledge": "10%"})).startswith(
        "V1 Acme Coop is registered with you as its member; it pledges 10% of revenue")
    await answer(bot, BOB, "venture register", {"name": "Beta Studio", "pledge": "200EUR/month"})

    typing = await standin.send_autocomplete("venture show", {"venture": ""}, "venture",
                                             channel_id=CHANNEL, user_id=ALICE)
    assert [c["value"] for c in (await typing.response()).data["choices"]] == ["V2", "V1"]
    typing = await standin.send_autocomplete("venture revenue", {"venture": "acme"}, "venture",
                                             channel_id=CHANNEL, user_id=BOB)
    assert (await typing.response()).data["choices"] == [{"name": "V1 · Acme Coop", "value": "V1"}]

    assert await answer(bot, BOB, "venture revenue", {"venture": "V1", "amount": "4000EUR"}) == (
        "V1 declared 4000 EUR for 2026-12; pledged amount due: 400 EUR.")
    refused = await answer(bot, ALICE, "books receive", {"amount": "400EUR", "source": "V1"})
    assert refused.startswith("✗ recording a receipt needs the foundation role")
    assert "on Discord `/books receive amount:<amount> source:<source> [note]`" in refused
    assert await answer(bot, OLIVIA, "books receive", {"amount": "400EUR", "source": "V1"}) == (
        "R1 recorded: 400 EUR from V1 Acme Coop — operations fund now 200 EUR, commons fund 200 EUR.")
    books = await answer(bot, ALICE, "books show")
    assert ("Operations fund 200 EUR · commons fund 200 EUR (reserved by open calls 0 EUR, "
            "available 200 EUR) · held in all 400 EUR") in books
    assert "gives back 10% of declared revenue (pledged 10%)" in books
    assert "Members: bob" in await answer(bot, ALICE, "venture show", {"venture": "V1"})
