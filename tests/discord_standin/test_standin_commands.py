"""The stand-in against the real, unmodified discord.py client: start-up, slash commands,
components and modals.

Each test starts a bare ``discord.Client`` (no project code), drives it through the
stand-in and checks both sides: what discord.py's callbacks saw, and what REST
calls reached "Discord".
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from . import DiscordStandIn
from .bare_bot import EPHEMERAL, WORLD, BareBot, post_claim_card
from .fixtures import DiscordClientRunner

pytestmark = [pytest.mark.discord, pytest.mark.timeout(30)]


# ---------------------------------------------------------------------- start-up and slash commands


async def test_ping_round_trip(standin: DiscordStandIn, run_discord_client: DiscordClientRunner) -> None:
    bot = await run_discord_client(BareBot())

    assert bot.ready_count == 1
    assert bot.user is not None and bot.user.id == standin.bot_user_id
    guild = bot.get_guild(WORLD.guild_id)
    assert guild is not None and guild.get_channel(WORLD.channel_id) is not None
    assert {r.name for r in guild.roles} >= {"@everyone", "maintainer", "contributor"}

    routes = [c.route for c in standin.calls]
    assert routes[:2] == ["GET /users/@me", "GET /oauth2/applications/@me"]
    put = standin.calls_to("PUT /applications/{application_id}/guilds/{guild_id}/commands")
    assert len(put) == 1 and put[0].path.endswith(f"/guilds/{WORLD.guild_id}/commands")
    assert {c["name"] for c in put[0].json} == {"ping", "slow", "task"}

    handle = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.alice_id)
    reply = await handle.response(timeout=5)

    assert reply.json["type"] == 4
    assert reply.data["content"] == "pong"
    assert not reply.data.get("flags", 0) & EPHEMERAL
    assert handle.latency is not None and 0 < handle.latency < 1
    assert handle.original_message is not None and handle.original_message["content"] == "pong"
    assert standin.errors == []


async def test_deferred_answer_edit_and_followup(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    await run_discord_client(BareBot())

    handle = await standin.send_command("slow", channel_id=WORLD.channel_id, user_id=WORLD.bob_id)
    reply = await handle.response()
    assert reply.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    edit = await handle.edit()
    assert edit.path.endswith("/messages/@original") and edit.json["content"] == "done thinking"
    followup = await handle.followup()
    assert followup.json["content"] == "and one more thing"
    assert followup.json["flags"] & EPHEMERAL

    original = handle.original_message
    assert original is not None
    assert original["content"] == "done thinking" and original["flags"] == EPHEMERAL  # loading flag gone
    assert standin.errors == []


async def test_subcommand_group_and_autocomplete(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    await run_discord_client(BareBot())

    typing = await standin.send_autocomplete(
        "task claim", {"need": "1"}, "need", channel_id=WORLD.channel_id, user_id=WORLD.alice_id
    )
    choices = await typing.response()
    assert choices.json["type"] == 8
    assert [c["value"] for c in choices.data["choices"]] == [12, 13, 120]

    claim = await standin.send_command(
        "task claim", {"need": 12}, channel_id=WORLD.channel_id, user_id=WORLD.alice_id
    )
    assert (await claim.response()).data["content"] == "claim T12 note=None"
    options = claim.payload["data"]["options"]
    assert options == [{"name": "claim", "type": 1, "options": [{"name": "need", "type": 4, "value": 12}]}]

    cancel = await standin.send_command(
        "task admin cancel",
        {"need": 7, "member": WORLD.carol_id, "reason": "dup"},
        channel_id=WORLD.channel_id,
        user_id=WORLD.bob_id,
    )
    assert (await cancel.response()).data["content"] == "cancel T7 of carol: dup"
    assert cancel.payload["data"]["options"][0]["type"] == 2  # subcommand group
    assert str(WORLD.carol_id) in cancel.payload["data"]["resolved"]["members"]

    with pytest.raises(ValueError, match="required"):
        await standin.send_command("task claim", {}, channel_id=WORLD.channel_id, user_id=WORLD.alice_id)
    with pytest.raises(LookupError):
        await standin.send_command("nope", channel_id=WORLD.channel_id, user_id=WORLD.alice_id)
    assert standin.errors == []


# ---------------------------------------------------------------------- components and modals


async def test_dynamic_button_survives_restart(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    first = await run_discord_client(BareBot())
    card = await post_claim_card(first, 12)
    stored = standin.messages[card.id]
    assert [c["custom_id"] for c in stored["components"][0]["components"]] == ["claim:12", "submit:12"]

    press = await standin.send_component(card.id, "claim:12", user_id=WORLD.alice_id)
    reply = await press.response()
    assert reply.json["type"] == 4 and reply.data["content"] == "claimed T12"
    assert reply.data["flags"] & EPHEMERAL

    await run_discord_client.stop(first)
    # discord.py's close() puts 4000 on the wire (its reader task wins aiohttp's close
    # race), so the session stays resumable, as on Discord; nobody is connected to it.
    assert [s.connected for s in standin.sessions] == [False]

    second = await run_discord_client(BareBot(sync=False))
    assert len(standin.identifies) == 2
    press_again = await standin.send_component(card.id, "claim:12", user_id=WORLD.bob_id)
    assert (await press_again.response()).data["content"] == "claimed T12"
    assert len(press.callbacks) == 1 and len(press_again.callbacks) == 1
    assert second.is_ready()
    assert standin.errors == []


async def test_modal_round_trip(standin: DiscordStandIn, run_discord_client: DiscordClientRunner) -> None:
    bot = await run_discord_client(BareBot())
    card = await post_claim_card(bot, 7)

    press = await standin.send_component(card.id, "submit:7", user_id=WORLD.alice_id)
    opened = await press.response()
    assert opened.json["type"] == 9
    assert press.modal is not None and press.modal["title"] == "Submit your work"

    with pytest.raises(ValueError, match="required"):
        await standin.send_modal_submit(press, {"note": "no link"})
    submit = await standin.send_modal_submit(press, {"link": "https://example.org/pr/1", "note": "tested"})
    assert submit.payload["data"]["custom_id"] == "submit-modal:7"
    answer = await submit.response()
    assert answer.json["type"] == 4
    assert answer.data["content"] == "T7 submitted: https://example.org/pr/1 (tested)"
    assert standin.errors == []


async def test_select_menus(standin: DiscordStandIn, run_discord_client: DiscordClientRunner) -> None:
    bot = await run_discord_client(BareBot())
    picked: asyncio.Queue[list[Any]] = asyncio.Queue()

    class Picker(discord.ui.View):
        @discord.ui.select(
            custom_id="skill", options=[discord.SelectOption(label=s) for s in ("rust", "docs")]
        )
        async def skill(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
            await picked.put(select.values)
            await interaction.response.edit_message(content=f"watching {select.values[0]}", view=None)

        @discord.ui.select(cls=discord.ui.UserSelect, custom_id="who")
        async def who(self, interaction: discord.Interaction, select: discord.ui.UserSelect) -> None:
            await picked.put([u.name for u in select.values])
            await interaction.response.defer()

    channel = bot.get_channel(WORLD.channel_id)
    assert isinstance(channel, discord.TextChannel)
    card = await channel.send("Pick", view=Picker())

    who = await standin.send_component(card.id, "who", user_id=WORLD.alice_id, values=[WORLD.bob_id])
    assert (await who.response()).json == {"type": 6}
    assert await asyncio.wait_for(picked.get(), 5) == ["bob"]

    with pytest.raises(ValueError, match="does not offer"):
        await standin.send_component(card.id, "skill", user_id=WORLD.alice_id, values=["cobol"])
    skill = await standin.send_component(card.id, "skill", user_id=WORLD.alice_id, values=["docs"])
    assert (await skill.response()).json["type"] == 7
    assert await asyncio.wait_for(picked.get(), 5) == ["docs"]
    assert standin.messages[card.id]["content"] == "watching docs"
    assert standin.messages[card.id]["components"] == []
    assert standin.errors == []
