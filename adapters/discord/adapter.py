"""The Discord adapter: slash commands, cards with buttons and modals, text commands.

Every way in ends as a text command run through the core (`Runtime.handle`), so a slash
command, a button and a typed `!claim T1` behave identically. The core runs in the
runtime's thread pool and discord.py dispatches each event in its own task, so a slow
database never holds the gateway; an interaction is answered directly when the core is
quick and deferred (then completed) when it is not, inside Discord's three seconds.

Cards (need, proposal, funding call) are posted with the first announcement about an
object in each channel and edited in place on every `update` from the outbox. Their
buttons are `discord.ui.DynamicItem`s whose custom id carries everything a press needs
(`cb:claim:T12:c:claim T12`), so a card posted a month ago works after any restart;
modals opened by a button are handled from their custom id too, not from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord import commands as cmds
from adapters.discord import translate as tr
from adapters.discord.outbox import Outbox
from adapters.discord.views import CardButton, make_view
from bot.config import Community, ConfigError, Settings, resolve_env
from bot.domain.vocabulary import GRANTED_ROLES, Role
from bot.ports import CommandOutcome, CorePort, InboundMessage, Outbound
from bot.runtime import Runtime

log = logging.getLogger(__name__)

# Discord forgets an interaction not acknowledged within 3 s; answer directly when the
# core is faster than this, and defer otherwise (leaving time for the network).
DEFER_AFTER = 1.5
READY_TIMEOUT = 60.0
NOT_HERE = ("This channel is not part of a community this bot serves — use the bot in one of "
            "the community's channels.")


class _Client(discord.Client):
    """discord.py's client with our tree, dynamic buttons and event hooks."""

    def __init__(self, adapter: DiscordAdapter, intents: discord.Intents, ready_timeout: float) -> None:
        super().__init__(intents=intents, guild_ready_timeout=ready_timeout,
                         allowed_mentions=discord.AllowedMentions.none())
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CardButton)
        await self.adapter.register_commands(self.tree)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        # Modals are answered from their custom id, not from discord.py's in-memory modal
        # store, so a modal opened before a restart is still answered after it.
        if interaction.type is discord.InteractionType.modal_submit:
            await self.adapter.on_modal(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)


class DiscordAdapter(Outbox):
    """Serves the Discord guilds and channels of every community that names them.

    Args:
        runtime: the async front of the core, shared with the other adapters.
        settings: the configuration; `settings.discord.token` names the token's variable.

    Raises:
        ConfigError: Discord is not configured, or the token's variable is not set.
    """

    platform = tr.PLATFORM

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        if settings.discord is None:
            raise ConfigError("discord: the configuration has no discord: section")
        token = resolve_env(settings.discord.token)
        if not token:
            raise ConfigError(f"discord: set the environment variable in {settings.discord.token} "
                              "(discord.token names it)")
        self.runtime = runtime
        self.core: CorePort = runtime.core
        self.settings = settings
        self.prefix = settings.prefix
        self._token = token
        self.communities = [c for c in settings.communities if c.discord is not None]
        self._by_channel: dict[int, Community] = {}
        self._by_guild: dict[int, Community] = {}
        for c in self.communities:
            assert c.discord is not None
            for ch in c.discord.channels:
                self._by_channel[ch] = c
            if c.discord.guild is not None:
                self._by_guild[c.discord.guild] = c
        self.text_commands = any(c.discord and c.discord.text_commands for c in self.communities)
        intents = discord.Intents.none()
        # Guilds: channels and role names (for the role mapping); nothing privileged.
        intents.guilds = True
        if self.text_commands:
            intents.guild_messages = True
            intents.dm_messages = True
            intents.message_content = True
        self.client = _Client(self, intents, settings.discord.guild_ready_timeout)
        self._task: asyncio.Task[None] | None = None
        self._card_edits: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._sending = 0
        # Channels each outbox entry reached already, so a retry does not post there twice.
        self._delivered: dict[int | None, set[int]] = {}
        #: Channels the bot may not post in, with what it lacks there (logged once each).
        self.unpostable: dict[int, str] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Log in, sync the slash commands per guild, connect, and wait until ready."""
        await self.client.login(self._token)
        self._task = asyncio.create_task(self.client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait({ready, self._task}, timeout=READY_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self._task in done:
                self._task.result()  # why the gateway stopped
            raise TimeoutError(f"Discord: not ready within {READY_TIMEOUT:.0f} s")
        log.info("discord: ready as %s in %d guild(s)", self.client.user, len(self.client.guilds))
        for c in self.communities:
            assert c.discord is not None
            for channel_id in c.discord.channels:
                self._may_post(channel_id)  # logs what the bot lacks where, once

    async def stop(self) -> None:
        """Finish the delivery in hand and pending card edits, then close the gateway."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 10)
        for t in list(self._card_edits.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 5)
        await self.client.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)

    def is_connected(self) -> bool:
        """Whether the gateway session is up (health checks and metrics ask)."""
        return self.client.is_ready() and not self.client.is_closed()

    async def _run(self, msg: InboundMessage) -> list[Outbound]:
        # The runtime wakes the outbox pumps only when the command changed something.
        return await self.runtime.handle(msg)

    # ------------------------------------------------------------------ slash commands

    async def register_commands(self, tree: app_commands.CommandTree[Any]) -> None:
        """Build the slash commands (`commands.SLASH`) and sync them to each guild."""
        await cmds.register(tree, self, list(self._by_guild))

    async def on_slash(self, interaction: discord.Interaction[Any]) -> None:
        """Run a slash command as the text command it stands for."""
        text = cmds.command_text(interaction.data or {}, self.prefix)  # type: ignore[arg-type]
        if text is None:
            await self._refuse(interaction, "Unknown command — see /help")
            return
        await self.answer(interaction, text)

    # ------------------------------------------------------------------ buttons and modals

    async def on_button(self, interaction: discord.Interaction[Any], pressed: tr.Pressed) -> None:
        """A card's button: ask for the text first (a modal) when the choice needs it."""
        community = self.community_of(interaction.channel_id, interaction.guild_id)
        if community is None:
            await self._refuse(interaction, NOT_HERE)
            return
        if pressed.ask and (pressed.role == Role.CONTRIBUTOR
                            or pressed.role in self.roles_of(interaction.user, community)):
            modal = discord.ui.Modal(title=tr.modal_title(pressed),
                                     custom_id=tr.modal_custom_id(interaction.data["custom_id"]))  # type: ignore[index]
            modal.add_item(discord.ui.Label(text=pressed.ask, component=discord.ui.TextInput(
                custom_id="answer", style=discord.TextStyle.paragraph,
                max_length=min(1000, tr.TEXT_INPUT_MAX))))
            # Stopped, so discord.py does not keep it in memory: on_modal answers it.
            modal.stop()
            try:
                await interaction.response.send_modal(modal)
            except discord.HTTPException as exc:
                log.warning("discord: could not open a modal for %s: %s", pressed.ref, exc)
            return
        # Without the role the core refuses the bare command (and says which role), which
        # spares the member a form they could not send.
        await self.answer(interaction, pressed.text(self.prefix))

    async def on_modal(self, interaction: discord.Interaction[Any]) -> None:
        """A modal opened by a card's button was sent: run its command with the answer."""
        data = interaction.data or {}
        pressed = tr.parse_modal_custom_id(str(data.get("custom_id", "")))
        if pressed is None:
            return
        answer = tr.modal_values(data).get("answer", "")  # type: ignore[arg-type]
        await self.answer(interaction, pressed.text(self.prefix, answer))

    # ------------------------------------------------------------------ answering

    def community_of(self, channel_id: int | None, guild_id: int | None) -> Community | None:
        """The community a channel (or else its guild) belongs to; the only one in DMs."""
        if channel_id is not None and channel_id in self._by_channel:
            return self._by_channel[channel_id]
        if guild_id is not None:
            return self._by_guild.get(guild_id)
        return self.communities[0] if len(self.communities) == 1 else None

    def roles_of(self, user: discord.abc.User, community: Community) -> frozenset[str]:
        """Roles the member's Discord roles (and the config's member lists) give."""
        mapping = community.discord.roles if community.discord else {}
        held = [(r.id, r.name) for r in getattr(user, "roles", [])]
        roles = set(tr.platform_roles(held, mapping))
        key = f"discord:{user.id}"
        roles |= {r for r in GRANTED_ROLES if key in getattr(community.roles, r)}
        return frozenset(roles)

    def _inbound(self, interaction: discord.Interaction[Any], community: Community,
                 text: str) -> InboundMessage:
        return tr.inbound(community=community.id, channel_id=interaction.channel_id or 0,
                          user_id=interaction.user.id, name=interaction.user.display_name,
                          text=text, message_id=tr.interaction_message_id(interaction.id),
                          roles=self.roles_of(interaction.user, community),
                          direct=interaction.guild_id is None, private=True)

    async def _refuse(self, interaction: discord.Interaction[Any], text: str) -> None:
        with contextlib.suppress(discord.HTTPException):
            await interaction.response.send_message(text, ephemeral=True)

    async def answer(self, interaction: discord.Interaction[Any], text: str) -> None:
        """Run `text` for the interaction's member and answer within Discord's deadline."""
        community = self.community_of(interaction.channel_id, interaction.guild_id)
        if community is None:
            await self._refuse(interaction, NOT_HERE)
            return
        msg = self._inbound(interaction, community, text)
        work = asyncio.ensure_future(self._run(msg))
        # Discord's three seconds run from the interaction's creation: one delivered late
        # (after a gateway outage) gets less time before it is deferred.
        age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
        done, _ = await asyncio.wait({work}, timeout=min(DEFER_AFTER, max(0.0, DEFER_AFTER - age)))
        deferred: bool | None = None  # None: not deferred; else: whether the defer is private
        if not done:
            # The loading message keeps the visibility it is created with, so guess the
            # answer's from the command: personal commands answer privately, others publicly.
            private = cmds.answers_privately(text, self.prefix)
            try:
                await interaction.response.defer(ephemeral=private, thinking=True)
                deferred = private
            except discord.HTTPException as exc:
                log.warning("discord: could not defer interaction %s: %s", interaction.id, exc)
        try:
            replies = await work
        except Exception:
            # Only the command's name: its words may hold a link code or private text.
            log.exception("discord: command %s failed (interaction %s)",
                          (text.split() or ["?"])[0][:40], interaction.id)
            replies = []
        try:
            await self._deliver(interaction, replies, deferred)
        except discord.HTTPException as exc:
            # 40060 (already acknowledged) is a replayed interaction answered the first
            # time; the core did not run it again.
            log.info("discord: could not answer interaction %s: %s", interaction.id, exc)

    async def _deliver(self, interaction: discord.Interaction[Any], replies: list[Outbound],
                       deferred: bool | None) -> None:
        pages: list[tuple[str, bool, list[dict[str, Any]]]] = []
        for r in replies:
            # A refusal ends with the text usage; the slash form goes beside it.
            refused = r.outcome == CommandOutcome.REFUSED
            texts = tr.paginate(cmds.with_slash_usage(r.text) if refused else r.text)
            rows = tr.button_rows(r.choices, r.ref or "", self.prefix) if r.choices and r.ref else []
            for i, t in enumerate(texts):
                pages.append((t, r.private, rows if i == len(texts) - 1 else []))
        if not pages:
            pages = [("Nothing to do.", True, [])]
        none = discord.AllowedMentions.none()
        for i, (text, private, rows) in enumerate(pages):
            view = make_view(rows)
            kwargs: dict[str, Any] = {"allowed_mentions": none}
            if view is not None:
                kwargs["view"] = view
            if i == 0 and deferred is None:
                await interaction.response.send_message(text, ephemeral=private, **kwargs)
            elif i == 0 and private and deferred is False:
                # The public "thinking…" must not show a private answer: it says where the
                # answer is, and the answer follows as a new, private message.
                await interaction.edit_original_response(content=cmds.ANSWERED_PRIVATELY,
                                                         allowed_mentions=none)
                await interaction.followup.send(text, ephemeral=True, **kwargs)
            else:
                # Right after a defer, Discord turns the first follow-up into the edit of
                # the loading message (keeping its visibility); later ones are new messages.
                await interaction.followup.send(text, ephemeral=private, **kwargs)

    # ------------------------------------------------------------------ text commands

    async def on_message(self, message: discord.Message) -> None:
        """A typed command (`!claim T1`) where text commands are switched on."""
        if message.author.bot or not message.content.startswith(self.prefix):
            return
        guild_id = message.guild.id if message.guild else None
        community = self.community_of(message.channel.id, guild_id)
        if community is None or community.discord is None or not community.discord.text_commands:
            return
        msg = tr.inbound(community=community.id, channel_id=message.channel.id,
                         user_id=message.author.id, name=message.author.display_name,
                         text=message.content, message_id=f"m{message.id}",
                         roles=self.roles_of(message.author, community), direct=guild_id is None,
                         private=guild_id is None)
        replies = await self._run(msg)
        for r in replies:
            if r.private and guild_id is not None:
                # Private (a link code, an error, a personal list): never in the channel.
                await self._reply_privately(message, r)
                continue
            await self._reply_in(message.channel, message, r)

    async def _reply_in(self, channel: discord.abc.Messageable, message: discord.Message | None,
                        r: Outbound) -> None:
        texts = tr.paginate(r.text)
        for i, t in enumerate(texts):
            rows = tr.button_rows(r.choices, r.ref, self.prefix) if (
                r.choices and r.ref and i == len(texts) - 1) else []
            view = make_view(rows)
            await channel.send(
                t, reference=message if i == 0 and message is not None else None, mention_author=False,
                allowed_mentions=discord.AllowedMentions.none(),
                **({"view": view} if view is not None else {}))

    async def _reply_privately(self, message: discord.Message, r: Outbound) -> None:
        """A private answer to a typed command goes by direct message; if the member's
        direct messages are closed, the channel only hears where to ask instead."""
        try:
            dm = await self.client.create_dm(message.author)
            await self._reply_in(dm, None, r)
        except discord.Forbidden:
            await message.channel.send(
                tr.DMS_CLOSED.format(user=message.author.id), reference=message, mention_author=False,
                allowed_mentions=discord.AllowedMentions(users=[message.author], everyone=False,
                                                         roles=False, replied_user=False))
