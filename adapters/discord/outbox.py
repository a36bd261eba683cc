"""Delivering the outbox on Discord: announcements fanned out per channel, notices, card edits.

An announcement goes to every channel of its community at once, so a rate-limited
channel delays no other; a channel the bot may not post in is skipped and logged once
(with the permission to grant), never retried for ever; any other failure (rate limit
given up, 5xx, network) raises after the other channels are done, so the runtime retries
the entry, and the retry posts only where it is missing. Every post carries a nonce made
from the outbox entry and the channel, with `enforce_nonce`, so a retry after a crash
never shows twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord import translate as tr
from adapters.discord.views import make_view
from bot.domain.ref import Ref
from bot.ports import Card, CardRef, CorePort, Outbound

if TYPE_CHECKING:
    from bot.config import Community, Settings
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


class Outbox:
    """The outbox half of :class:`adapters.discord.adapter.DiscordAdapter`."""

    platform: str
    prefix: str
    runtime: Runtime
    settings: Settings
    communities: list[Community]
    client: discord.Client
    _sending: int
    _idle: asyncio.Event
    _card_edits: dict[tuple[str, str], asyncio.Task[None]]
    _dirty: set[tuple[str, str]]
    _delivered: dict[int | None, set[int]]
    unpostable: dict[int, str]
    core: CorePort

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
            log.warning("discord: stopped; %s %s of outbox entry %s not delivered",
                        message.kind, message.ref or "", message.outbox_id)
            return
        if message.kind == "update":
            if message.ref:
                self._schedule_card_edit(community.id, message.ref)
            return
        if message.kind == "notice":
            await self._notice(community, message)
            return
        await self._fan_out(community, message)

    async def _fan_out(self, community: Community, message: Outbound) -> None:
        """Post an announcement in every channel at once, so no channel waits for another.

        A channel the bot may not post in is skipped (logged once); any other failure
        (rate limit, 5xx, network) raises after the others are done, so the runtime retries
        the entry — and the retry skips the channels that already have it.
        """
        assert community.discord is not None
        done = self._delivered.setdefault(message.outbox_id, set()) if message.outbox_id else set()
        todo = [c for c in community.discord.channels if c not in done and self._may_post(c)]
        results = await asyncio.gather(*(self._post_once(community, c, message) for c in todo),
                                       return_exceptions=True)
        failed = [(c, r) for c, r in zip(todo, results, strict=True) if isinstance(r, BaseException)]
        done.update(c for c, r in zip(todo, results, strict=True) if not isinstance(r, BaseException))
        if failed:
            raise DeliveryIncomplete(message.outbox_id, failed)
        self._delivered.pop(message.outbox_id, None)

    def _may_post(self, channel_id: int) -> bool:
        """Whether the bot may post in a channel, as far as discord.py's cache knows."""
        channel = self.client.get_channel(channel_id)
        guild = getattr(channel, "guild", None)
        if channel is None or guild is None or guild.me is None:
            return channel_id not in self.unpostable
        missing = tr.missing_permissions(channel.permissions_for(guild.me))  # type: ignore[union-attr]
        if missing:
            self._cannot_post(channel_id, ", ".join(missing))
            return False
        self.unpostable.pop(channel_id, None)
        return True

    def _cannot_post(self, channel_id: int, why: str) -> None:
        """Log once that a channel is out of reach, and say what to grant."""
        if self.unpostable.get(channel_id) != why:
            log.warning("discord: cannot post in channel %s: missing %s — grant the bot these "
                        "permissions there (see docs/discord.md, Set up)", channel_id, why)
        self.unpostable[channel_id] = why

    async def _post_once(self, community: Community, channel_id: int, message: Outbound) -> None:
        try:
            await self._post(community, channel_id, message)
        except discord.Forbidden as exc:
            # Permanent until an admin changes the channel: skip it, never retry for ever.
            self._cannot_post(channel_id, tr.FORBIDDEN.get(exc.code, f"access (error {exc.code})"))
        except discord.NotFound:
            self._cannot_post(channel_id, "the channel (it does not exist)")

    async def _discord_ids(self, members: tuple[int, ...]) -> list[int]:
        ids: list[int] = []
        for m in members:
            ids.extend(int(u) for u in await self.runtime.call(self.core.identities, m, self.platform)
                       if u.isdigit())
        return ids

    async def _post(self, community: Community, channel_id: int, o: Outbound) -> None:
        pinged = tr.allowed_users(await self._discord_ids(o.mentions))
        text = o.text + (f"\n{tr.mention_line(pinged)}" if pinged else "")
        card: Card | None = None
        if Ref.parse(o.ref, "TPF"):
            shown = await self.runtime.call(self.core.cards_for, self.platform, community.id, o.ref)
            if not any(p.space == str(channel_id) for p in shown):
                card = await self.runtime.call(self.core.card, community.id, o.ref)
        channel = self.client.get_partial_messageable(channel_id)
        pages = tr.paginate(text)
        mentions = discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                           users=[discord.Object(id=u) for u in pinged])
        for i, page in enumerate(pages):
            last = i == len(pages) - 1
            kwargs: dict[str, Any] = {"allowed_mentions": mentions}
            if last and card is not None:
                kwargs["embed"] = discord.Embed.from_dict(tr.card_embed(card))
                view = make_view(tr.card_components(card, self.prefix))
            else:
                view = make_view(tr.button_rows(o.choices, o.ref, self.prefix)) if (
                    last and o.choices and o.ref) else None
            if view is not None:
                kwargs["view"] = view
            if o.outbox_id is not None:
                # Discord returns the message a nonce already made (enforce_nonce), so a
                # retry after a crash between the post and the outbox's record posts nothing.
                kwargs["nonce"] = tr.nonce(o.outbox_id, channel_id, i)
            sent = await channel.send(page, **kwargs)
            if last and card is not None:
                await self.runtime.call(self.core.remember_card, self.platform, str(channel_id),
                                        str(sent.id), community.id, card.ref)

    async def _notice(self, community: Community, o: Outbound) -> None:
        if o.member is None:
            return
        for user_id in await self._discord_ids((o.member,)):
            view = make_view(tr.button_rows(o.choices, o.ref, self.prefix)) if o.choices and o.ref else None
            pages = tr.paginate(o.text)
            try:
                dm = await self.client.create_dm(discord.Object(id=user_id))
                for i, page in enumerate(pages):
                    extra: dict[str, Any] = {"view": view} if view is not None and i == len(pages) - 1 else {}
                    if o.outbox_id is not None:
                        extra["nonce"] = tr.nonce(o.outbox_id, user_id, i)
                    await dm.send(page, allowed_mentions=discord.AllowedMentions.none(), **extra)
            except discord.Forbidden:
                # Direct messages closed: tell them in the first channel the bot may post in.
                here = next((c for c in (community.discord.channels if community.discord else [])
                             if self._may_post(c)), None)
                if here is None:
                    log.warning("discord: notice %s to %s lost: direct messages closed and no "
                                "channel to post in", o.outbox_id, user_id)
                    continue
                channel = self.client.get_partial_messageable(here)
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
                await self.edit_cards(card, shown)
        except Exception:
            if self.client.is_closed():
                log.info("discord: stopped before the cards of %s were edited", ref)
            else:
                log.exception("discord: could not edit the cards of %s", ref)
        finally:
            self._card_edits.pop(key, None)

    async def edit_cards(self, card: Card, shown: list[CardRef]) -> None:
        """Show `card` on each of the messages that show it."""
        embed = discord.Embed.from_dict(tr.card_embed(card))
        rows = tr.card_components(card, self.prefix)
        for posted in shown:
            space, message_id = posted.space, posted.message_id
            message = self.client.get_partial_messageable(int(space)).get_partial_message(int(message_id))
            try:
                await message.edit(embed=embed, view=make_view(rows),
                                   allowed_mentions=discord.AllowedMentions.none())
            except discord.NotFound:
                log.info("discord: card %s of %s was deleted", message_id, card.ref)
            except discord.Forbidden as exc:
                # One channel out of reach stops no other card.
                self._cannot_post(int(space), tr.FORBIDDEN.get(exc.code, f"access (error {exc.code})"))


class DeliveryIncomplete(Exception):
    """Some channels did not get an outbox entry yet (rate limit, 5xx, network): retry it."""

    def __init__(self, outbox_id: int | None, failed: list[tuple[int, BaseException]]) -> None:
        super().__init__(f"outbox entry {outbox_id}: not delivered in "
                         + ", ".join(f"{c} ({e!r:.120})" for c, e in failed))
        self.failed = failed
