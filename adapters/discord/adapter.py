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
import inspect
import logging
import re
from typing import Any

import discord
from discord import app_commands

from adapters.discord import translate as tr
from bot.config import Community, Settings, resolve_env
from bot.ports import Card, InboundMessage, Outbound
from bot.runtime import Runtime

log = logging.getLogger(__name__)

# Discord forgets an interaction not acknowledged within 3 s; answer directly when the
# core is faster than this, and defer otherwise (leaving time for the network).
DEFER_AFTER = 1.5
READY_TIMEOUT = 60.0
NOT_HERE = ("This channel is not part of a community this bot serves — use the bot in one of "
            "the community's channels.")


class CardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=tr.CUSTOM_ID_RE.pattern):
    """A card's button; its custom id is its whole state (see `translate.custom_id`)."""

    def __init__(self, custom_id: str, label: str = "…", style: int = 2, row: int | None = None) -> None:
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id,
                                           style=discord.ButtonStyle(style), row=row))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any],  # type: ignore[override]
                             item: discord.ui.Button[Any], match: re.Match[str]) -> CardButton:
        """Rebuild the button from a press, on any card, before or after a restart."""
        return cls(item.custom_id or match.group(0), item.label or "…", item.style.value)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:  # type: ignore[override]
        """Hand the press to the adapter that owns the client."""
        pressed = tr.parse_custom_id(self.item.custom_id or "")
        adapter = getattr(interaction.client, "adapter", None)
        if pressed is not None and isinstance(adapter, DiscordAdapter):
            await adapter.on_button(interaction, pressed)


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


class DiscordAdapter:
    """Serves the Discord guilds and channels of every community that names them.

    Args:
        runtime: the async front of the core, shared with the other adapters.
        settings: the configuration; `settings.discord.token` names the token's variable.

    Raises:
        ValueError: Discord is not configured, or the token's variable is not set.
    """

    platform = tr.PLATFORM

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        if settings.discord is None:
            raise ValueError("the configuration has no discord: section")
        token = resolve_env(settings.discord.token)
        if not token:
            raise ValueError(f"Discord token: set the environment variable in {settings.discord.token}")
        self.runtime = runtime
        self.core = runtime.core
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

    async def _run(self, msg: InboundMessage) -> list[Outbound]:
        # The runtime wakes the outbox pumps only when the command changed something.
        return await self.runtime.handle(msg)

    # ------------------------------------------------------------------ slash commands

    async def register_commands(self, tree: app_commands.CommandTree[Any]) -> None:
        """Build every slash command of `translate.SLASH` and sync them to each guild."""
        guilds = [discord.Object(id=g) for g in self._by_guild]
        groups: dict[str, app_commands.Group] = {}
        tops: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = []
        for slash in tr.SLASH:
            cmd = app_commands.Command(name=slash.path[-1], description=slash.description,
                                       callback=self._slash_callback(slash))
            if len(slash.path) == 1:
                tops.append(cmd)
                continue
            group = groups.get(slash.path[0])
            if group is None:
                group = app_commands.Group(name=slash.path[0],
                                           description=tr.GROUP_DESCRIPTIONS[slash.path[0]])
                groups[slash.path[0]] = group
                tops.append(group)
            group.add_command(cmd)
        for top in tops:
            tree.add_command(top, guilds=guilds)
        for g in guilds:
            await tree.sync(guild=g)

    def _slash_callback(self, slash: tr.Slash):  # type: ignore[no-untyped-def]
        """A callback whose signature declares the slash command's typed options.

        discord.py reads options from the callback's signature; the values themselves are
        read back from the interaction's raw data by `translate.command_text`.
        """
        adapter = self

        async def callback(interaction: discord.Interaction[Any], **_options: Any) -> None:
            await adapter.on_slash(interaction)

        params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=discord.Interaction)]
        descriptions: dict[str, str] = {}
        choices: dict[str, list[app_commands.Choice[str]]] = {}
        completers: dict[str, Any] = {}
        for opt in sorted(slash.options, key=lambda o: not o.required):
            annotation: Any
            if opt.kind == "user":
                annotation = discord.User
            elif opt.kind == "int":
                annotation = app_commands.Range[int, opt.min_value, opt.max_value]
            elif opt.max_length:
                annotation = app_commands.Range[str, 1, opt.max_length]
            else:
                annotation = str
            params.append(inspect.Parameter(
                opt.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                default=inspect.Parameter.empty if opt.required else None))
            descriptions[opt.name] = opt.description
            if opt.choices:
                choices[opt.name] = [app_commands.Choice(name=c, value=c) for c in opt.choices]
            if opt.refs:
                completers[opt.name] = self._completer(opt.refs)
        callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
        if choices:
            callback.__discord_app_commands_param_choices__ = choices  # type: ignore[attr-defined]
        if completers:
            callback.__discord_app_commands_param_autocomplete__ = completers  # type: ignore[attr-defined]
        return callback

    def _completer(self, refs: str):  # type: ignore[no-untyped-def]
        adapter = self

        async def complete(interaction: discord.Interaction[Any],
                           current: str) -> list[app_commands.Choice[str]]:
            if refs == "cmd":
                items = tr.command_suggestions(current)
            else:
                community = adapter.community_of(interaction.channel_id, interaction.guild_id)
                if community is None:
                    return []
                items = await adapter.runtime.call(adapter.core.suggest, community.id, refs, current)
            return [app_commands.Choice(name=c["name"], value=c["value"])
                    for c in tr.autocomplete_choices(items)]

        return complete

    async def on_slash(self, interaction: discord.Interaction[Any]) -> None:
        """Run a slash command as the text command it stands for."""
        text = tr.command_text(interaction.data or {}, self.prefix)  # type: ignore[arg-type]
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
        if pressed.ask and (pressed.role == "contributor"
                            or pressed.role in self.roles_of(interaction.user, community)):
            modal = discord.ui.Modal(title=tr.modal_title(pressed),
                                     custom_id=tr.modal_custom_id(interaction.data["custom_id"]))  # type: ignore[index]
            modal.add_item(discord.ui.Label(text=pressed.ask, component=discord.ui.TextInput(
                custom_id="answer", style=discord.TextStyle.paragraph, max_length=1000)))
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
        roles |= {r for r in ("maintainer", "foundation") if key in getattr(community.roles, r)}
        return frozenset(roles)

    def _inbound(self, interaction: discord.Interaction[Any], community: Community,
                 text: str) -> InboundMessage:
        return tr.inbound(community=community.id, channel_id=interaction.channel_id or 0,
                          user_id=interaction.user.id, name=interaction.user.display_name,
                          text=text, message_id=tr.interaction_message_id(interaction.id),
                          roles=self.roles_of(interaction.user, community),
                          direct=interaction.guild_id is None)

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
        done, _ = await asyncio.wait({work}, timeout=DEFER_AFTER)
        deferred = False
        if not done:
            try:
                await interaction.response.defer(ephemeral=True, thinking=True)
                deferred = True
            except discord.HTTPException as exc:
                log.warning("discord: could not defer interaction %s: %s", interaction.id, exc)
        try:
            replies = await work
        except Exception:
            log.exception("discord: command %r failed", text[:100])
            replies = []
        try:
            await self._deliver(interaction, replies, deferred)
        except discord.HTTPException as exc:
            # 40060 (already acknowledged) is a replayed interaction answered the first
            # time; the core did not run it again.
            log.info("discord: could not answer interaction %s: %s", interaction.id, exc)

    async def _deliver(self, interaction: discord.Interaction[Any], replies: list[Outbound],
                       deferred: bool) -> None:
        pages: list[tuple[str, bool, list[dict[str, Any]]]] = []
        for r in replies:
            texts = tr.paginate(tr.with_slash_usage(r.text) if r.private else r.text)
            rows = tr.button_rows(r.choices, r.ref or "", self.prefix) if r.choices and r.ref else []
            for i, t in enumerate(texts):
                pages.append((t, r.private, rows if i == len(texts) - 1 else []))
        if not pages:
            pages = [("Nothing to do.", True, [])]
        none = discord.AllowedMentions.none()
        first_public = not pages[0][1]
        for i, (text, private, rows) in enumerate(pages):
            view = _view(rows)
            kwargs: dict[str, Any] = {"allowed_mentions": none}
            if view is not None:
                kwargs["view"] = view
            if i == 0 and not deferred:
                await interaction.response.send_message(text, ephemeral=private, **kwargs)
            elif i == 0 and private:
                await interaction.edit_original_response(content=text, **kwargs)
            else:
                await interaction.followup.send(text, ephemeral=private, **kwargs)
        if deferred and first_public:
            # The deferral's "thinking…" was private; the public answer went as a follow-up.
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()

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
                         roles=self.roles_of(message.author, community), direct=guild_id is None)
        replies = await self._run(msg)
        for r in replies:
            texts = tr.paginate(r.text)
            for i, t in enumerate(texts):
                rows = tr.button_rows(r.choices, r.ref, self.prefix) if (
                    r.choices and r.ref and i == len(texts) - 1) else []
                view = _view(rows)
                await message.channel.send(
                    t, reference=message if i == 0 else None, mention_author=False,
                    allowed_mentions=discord.AllowedMentions.none(),
                    **({"view": view} if view is not None else {}))

    # ------------------------------------------------------------------ the outbox

    async def send(self, message: Outbound) -> None:
        """Deliver an announcement, a notice, or a card update from the outbox."""
        self._sending += 1
        self._idle.clear()
        try:
            await self._send(message)
        finally:
            self._sending -= 1
            if not self._sending:
                self._idle.set()

    async def _send(self, message: Outbound) -> None:
        community = next((c for c in self.communities if c.id == message.community), None)
        if community is None or community.discord is None:
            return
        if self.client.is_closed():
            # Raising leaves the entry in the outbox for the next start (or another process).
            raise ConnectionError(f"discord: stopped; {message.kind} {message.ref or ''} of "
                                  f"outbox entry {message.outbox_id} not delivered")
        if message.kind == "update":
            if message.ref:
                self._schedule_card_edit(community.id, message.ref)
            return
        if message.kind == "notice":
            await self._notice(community, message)
            return
        for channel_id in community.discord.channels:
            await self._post(community, channel_id, message)

    async def _discord_ids(self, members: tuple[int, ...]) -> list[int]:
        ids: list[int] = []
        for m in members:
            ids.extend(int(u) for u in await self.runtime.call(self.core.identities, m, self.platform)
                       if u.isdigit())
        return ids

    async def _post(self, community: Community, channel_id: int, o: Outbound) -> None:
        pinged = await self._discord_ids(o.mentions)
        text = o.text + (f"\n{tr.mention_line(pinged)}" if pinged else "")
        card: Card | None = None
        if o.ref and o.ref[:1] in "TPF":
            shown = await self.runtime.call(self.core.cards_for, self.platform, community.id, o.ref)
            if not any(space == str(channel_id) for space, _mid, _kind in shown):
                card = await self.runtime.call(self.core.card, community.id, o.ref)  # type: ignore[assignment]
        channel = self.client.get_partial_messageable(channel_id)
        pages = tr.paginate(text)
        mentions = discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                           users=[discord.Object(id=u) for u in pinged])
        for i, page in enumerate(pages):
            last = i == len(pages) - 1
            kwargs: dict[str, Any] = {"allowed_mentions": mentions}
            if last and card is not None:
                kwargs["embed"] = discord.Embed.from_dict(tr.card_embed(card))
                view = _view(tr.card_components(card, self.prefix))
            else:
                view = _view(tr.button_rows(o.choices, o.ref, self.prefix)) if (
                    last and o.choices and o.ref) else None
            if view is not None:
                kwargs["view"] = view
            sent = await channel.send(page, **kwargs)
            if last and card is not None:
                await self.runtime.call(self.core.remember_card, self.platform, str(channel_id),
                                        str(sent.id), community.id, card.ref)

    async def _notice(self, community: Community, o: Outbound) -> None:
        if o.member is None:
            return
        for user_id in await self._discord_ids((o.member,)):
            view = _view(tr.button_rows(o.choices, o.ref, self.prefix)) if o.choices and o.ref else None
            pages = tr.paginate(o.text)
            try:
                dm = await self.client.create_dm(discord.Object(id=user_id))
                for i, page in enumerate(pages):
                    await dm.send(page, allowed_mentions=discord.AllowedMentions.none(),
                                  **({"view": view} if view is not None and i == len(pages) - 1 else {}))
            except discord.Forbidden:
                # Direct messages closed: tell them in the community's first channel instead.
                if not community.discord or not community.discord.channels:
                    continue
                channel = self.client.get_partial_messageable(community.discord.channels[0])
                only = discord.AllowedMentions(everyone=False, roles=False,
                                               users=[discord.Object(id=user_id)])
                for page in tr.paginate(f"<@{user_id}> {o.text}"):
                    await channel.send(page, allowed_mentions=only)

    def _schedule_card_edit(self, community: str, ref: str) -> None:
        """Edit every card of `ref`; a burst of updates is coalesced into one edit each."""
        key = (community, ref)
        self._dirty.add(key)
        task = self._card_edits.get(key)
        if task is None or task.done():
            self._card_edits[key] = asyncio.create_task(self._edit_cards(key), name=f"card-{ref}")

    async def _edit_cards(self, key: tuple[str, str]) -> None:
        community, ref = key
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                shown = await self.runtime.call(self.core.cards_for, self.platform, community, ref)
                if not shown:
                    return
                card = await self.runtime.call(self.core.card, community, ref)
                if card is None:
                    return
                await self.edit_cards(card, shown)  # type: ignore[arg-type]
        except Exception:
            if self.client.is_closed():
                log.info("discord: stopped before the cards of %s were edited", ref)
            else:
                log.exception("discord: could not edit the cards of %s", ref)
        finally:
            self._card_edits.pop(key, None)

    async def edit_cards(self, card: Card, shown: list[tuple[str, str, str]]) -> None:
        """Show `card` on each of the messages that show it."""
        embed = discord.Embed.from_dict(tr.card_embed(card))
        rows = tr.card_components(card, self.prefix)
        for space, message_id, _kind in shown:
            message = self.client.get_partial_messageable(int(space)).get_partial_message(int(message_id))
            try:
                await message.edit(embed=embed, view=_view(rows),
                                   allowed_mentions=discord.AllowedMentions.none())
            except discord.NotFound:
                log.info("discord: card %s of %s was deleted", message_id, card.ref)


def _view(rows: list[dict[str, Any]]) -> discord.ui.View | None:
    """A view of card buttons, stopped so discord.py keeps nothing of it in memory."""
    if not rows:
        return None
    view = discord.ui.View(timeout=None)
    for r, row in enumerate(rows):
        for b in row["components"]:
            view.add_item(CardButton(b["custom_id"], b["label"], b["style"], row=r))
    view.stop()
    return view

