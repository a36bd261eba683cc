"""A bare, unmodified discord.py bot (no project code) for the stand-in's tests: /ping,
/slow, a task command group with autocomplete, dynamic Claim and Submit buttons, a modal,
and on_message.
"""

from __future__ import annotations

import asyncio
import re

import discord
from discord import app_commands

from .fixtures import DEFAULT_WORLD

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
