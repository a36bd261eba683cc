"""The stand-in against the real, unmodified discord.py client.

Each test starts a bare ``discord.Client`` (no project code), drives it through the
stand-in and checks both sides: what discord.py's callbacks saw, and what REST
calls reached "Discord".
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from . import DiscordStandIn
from .fixtures import DEFAULT_WORLD, DiscordClientRunner, DiscordWorld

pytestmark = [pytest.mark.discord, pytest.mark.timeout(30)]

WORLD = DEFAULT_WORLD
GUILD = discord.Object(id=WORLD.guild_id)
EPHEMERAL = 64


class ClaimButton(discord.ui.DynamicItem[discord.ui.Button], template=r"claim:(?P<id>\d+)"):
    """A stateless button: everything it needs is in its custom id, so it survives restarts."""

    def __init__(self, need_id: int) -> None:
        super().__init__(
            discord.ui.Button(label="Claim", style=discord.ButtonStyle.primary, custom_id=f"claim:{need_id}")
        )
        self.need_id = need_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> ClaimButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"claimed T{self.need_id}", ephemeral=True)


class SubmitModal(discord.ui.Modal, title="Submit your work"):
    """One input in a Label (the current way) and one bare (wrapped in an action row)."""

    link = discord.ui.Label(text="Link", component=discord.ui.TextInput(custom_id="link"))
    note = discord.ui.TextInput(
        label="Note", custom_id="note", required=False, style=discord.TextStyle.paragraph
    )

    def __init__(self, need_id: int) -> None:
        super().__init__(custom_id=f"submit-modal:{need_id}")
        self.need_id = need_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        link = self.link.component.value  # type: ignore[attr-defined]
        await interaction.response.send_message(
            f"T{self.need_id} submitted: {link} ({self.note.value or '-'})"
        )


class SubmitButton(discord.ui.DynamicItem[discord.ui.Button], template=r"submit:(?P<id>\d+)"):
    """Opens :class:`SubmitModal`."""

    def __init__(self, need_id: int) -> None:
        super().__init__(discord.ui.Button(label="Submit", custom_id=f"submit:{need_id}"))
        self.need_id = need_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> SubmitButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(SubmitModal(self.need_id))


class BareBot(discord.Client):
    """A bare discord.py bot: /ping, a task command group, dynamic buttons, on_message."""

    def __init__(self, *, intents: discord.Intents | None = None, sync: bool = True) -> None:
        super().__init__(intents=intents or discord.Intents.default(), guild_ready_timeout=0.05)
        self.sync = sync
        self.tree = app_commands.CommandTree(self)
        self.ready_count = 0
        self.ready = asyncio.Event()
        self.resumed = asyncio.Event()
        self.messages: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.ping_calls = 0

        @self.tree.command(name="ping", description="Answers pong", guild=GUILD)
        async def ping(interaction: discord.Interaction) -> None:
            self.ping_calls += 1
            await interaction.response.send_message("pong")

        @self.tree.command(name="slow", description="Defers, then answers", guild=GUILD)
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.edit_original_response(content="done thinking")
            await interaction.followup.send("and one more thing", ephemeral=True)

        task = app_commands.Group(name="task", description="Needs and claims", guild_ids=[WORLD.guild_id])
        admin = app_commands.Group(name="admin", description="Maintainer tools", parent=task)

        async def need_ids(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
            return [
                app_commands.Choice(name=f"T{n}", value=n)
                for n in (12, 13, 120)
                if str(n).startswith(current)
            ]

        @task.command(name="claim", description="Claim a need")
        @app_commands.autocomplete(need=need_ids)
        async def claim(interaction: discord.Interaction, need: int, note: str | None = None) -> None:
            await interaction.response.send_message(f"claim T{need} note={note}")

        @admin.command(name="cancel", description="Cancel a need")
        async def cancel(
            interaction: discord.Interaction, need: int, member: discord.Member, reason: str
        ) -> None:
            await interaction.response.send_message(f"cancel T{need} of {member.name}: {reason}")

        self.tree.add_command(task)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ClaimButton, SubmitButton)
        if self.sync:
            await self.tree.sync(guild=GUILD)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py's default sleeps 5 s before any re-IDENTIFY (Discord's identify
        # rate limit); the stand-in has no such limit.
        return None

    async def on_ready(self) -> None:
        self.ready_count += 1
        self.ready.set()

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def on_message(self, message: discord.Message) -> None:
        if message.author.id == self.user.id:  # type: ignore[union-attr]
            return  # Discord echoes the bot's own messages
        await self.messages.put(message)
        if message.content == "!hello":
            await message.channel.send(
                f"hello {message.author.mention} @everyone", allowed_mentions=discord.AllowedMentions.none()
            )


async def post_claim_card(client: discord.Client, need_id: int) -> discord.Message:
    """Have the bot post a card with a Claim and a Submit button."""
    view = discord.ui.View(timeout=None)
    view.add_item(ClaimButton(need_id))
    view.add_item(SubmitButton(need_id))
    channel = client.get_channel(WORLD.channel_id)
    assert isinstance(channel, discord.TextChannel)
    return await channel.send(f"T{need_id}: fix the fence", view=view)


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


# ---------------------------------------------------------------------- gateway: resume, invalid session


async def test_resume_replays_interaction_exactly_once(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    bot = await run_discord_client(BareBot())
    session = standin.sessions[0]

    standin.hold_connections()  # the bot reconnects at once; keep it out until the command is queued
    await standin.disconnect_all(code=4000)
    handle = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.alice_id)
    assert not handle.delivered
    standin.release_connections()

    reply = await handle.response(timeout=5)
    assert reply.data["content"] == "pong"
    await asyncio.wait_for(bot.resumed.wait(), 5)
    assert len(standin.identifies) == 1 and standin.live_sessions == [session]
    resume = standin.resumes[-1]
    assert resume.ok and resume.session_id == session.id and resume.replayed >= 1
    assert standin.connections[-1].path == "/resume"  # discord.py used resume_gateway_url

    # Barrier: discord.py handles events in order, so once a later /ping is answered,
    # a duplicate delivery of the first one would have been answered too.
    later = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.bob_id)
    await later.response()
    assert len(handle.deliveries) == 1 and len(handle.callbacks) == 1
    assert bot.ping_calls == 2
    assert standin.errors == []


async def test_invalid_session_makes_discord_py_identify_again(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    bot = await run_discord_client(BareBot())
    bot.ready.clear()

    await standin.disconnect_all(code=4000, invalidate=True)
    await asyncio.wait_for(bot.ready.wait(), 5)

    assert [r.ok for r in standin.resumes] == [False]
    assert len(standin.identifies) == 2 and len(standin.live_sessions) == 1
    handle = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.alice_id)
    assert (await handle.response()).data["content"] == "pong"


async def test_members_intent_chunks_guild(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    intents = discord.Intents.default()
    intents.members = True
    bot = await run_discord_client(BareBot(intents=intents))

    guild = bot.get_guild(WORLD.guild_id)
    assert guild is not None and guild.chunked
    bob = guild.get_member(WORLD.bob_id)
    assert bob is not None and {r.name for r in bob.roles} == {"@everyone", "maintainer", "contributor"}
    assert any(f.op == 8 for f in standin.gateway_received)


# ---------------------------------------------------------------------- the stand-in's own rules (raw HTTP)


async def raw(
    standin: DiscordStandIn, method: str, path: str, body: Any = None, *, auth: bool = True
) -> tuple[int, str | None, Any]:
    headers = {"Authorization": f"Bot {standin.token}"} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, standin.api_base + path, json=body, headers=headers) as resp,
    ):
        data = await resp.json(content_type=None) if resp.status != 204 else None
        return resp.status, resp.headers.get("Content-Type"), data


async def test_unknown_route_is_recorded(standin: DiscordStandIn) -> None:
    status, content_type, body = await raw(standin, "GET", "/channels/1/pins/everything")
    assert (status, content_type, body) == (404, "application/json", {"message": "404: Not Found", "code": 0})
    assert standin.unknown_routes == ["GET /channels/1/pins/everything"]
    status, _, _ = await raw(standin, "GET", "/users/@me", auth=False)
    assert status == 401
    standin.unknown_routes.clear()  # this test made them on purpose


async def test_interaction_acknowledged_once_and_in_time(
    standin: DiscordStandIn, discord_world: DiscordWorld
) -> None:
    handle = await standin.send_interaction(
        2,
        {"id": "1", "name": "x", "type": 1},
        channel_id=discord_world.channel_id,
        user_id=discord_world.alice_id,
    )
    path = f"/interactions/{handle.id}/{handle.token}/callback"
    first = await raw(standin, "POST", path, {"type": 4, "data": {"content": "one"}}, auth=False)
    second = await raw(standin, "POST", path, {"type": 4, "data": {"content": "two"}}, auth=False)
    assert first[0] == 204 and second[0] == 400 and second[2]["code"] == 40060
    assert [c.status for c in handle.callbacks] == [204, 400]

    standin.interaction_deadline = 0.0
    late = await standin.send_interaction(
        2,
        {"id": "1", "name": "x", "type": 1},
        channel_id=discord_world.channel_id,
        user_id=discord_world.alice_id,
    )
    status, _, body = await raw(
        standin,
        "POST",
        f"/interactions/{late.id}/{late.token}/callback",
        {"type": 4, "data": {"content": "late"}},
        auth=False,
    )
    assert status == 404 and body["code"] == 10062
    with pytest.raises(AssertionError, match="refused"):
        await late.response()
