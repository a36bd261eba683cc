"""The world a test seeds: users, guilds, channels, roles, members, overwrites."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from . import validation as v
from .model import (
    CHANNEL_DM,
    CHANNEL_GUILD_TEXT,
    DEFAULT_EVERYONE_PERMISSIONS,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILDS,
    Channel,
    Guild,
    Member,
    Role,
    User,
)

_log = logging.getLogger("tests.discord_standin.server")


class WorldMixin:
    """Part of :class:`.server.DiscordStandIn`."""

    # ------------------------------------------------------------------ world

    @property
    def bot_user_id(self) -> int:
        """The bot's user id (equal to :attr:`application_id`)."""
        return self.bot_user.id

    def add_user(self, user_id: int | None, name: str, *, bot: bool = False) -> int:
        """Add (or rename) a user who need not be in any guild; returns the id."""
        uid = user_id or self._ids.next()
        self.users[uid] = User(uid, name, bot=bot)
        return uid

    def add_guild(
        self, name: str = "Commons", *, guild_id: int | None = None, owner_id: int | None = None
    ) -> int:
        """Add a guild with its ``@everyone`` role and the bot as a member.

        Args:
            name: Guild name.
            guild_id: Fixed id, or None to generate one.
            owner_id: The owner (who has every permission); defaults to nobody in particular.

        Returns:
            The guild id.
        """
        gid = guild_id or self._ids.next()
        guild = Guild(gid, name, owner_id or self._ids.next())
        guild.roles[gid] = Role(gid, gid, "@everyone", permissions=DEFAULT_EVERYONE_PERMISSIONS)
        bot_role = Role(
            self._ids.next(),
            gid,
            self.bot_user.name,
            permissions=self.bot_permissions,
            position=1,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[self.bot_user.id] = Member(self.bot_user.id, gid, roles=[bot_role.id])
        self.guilds[gid] = guild
        self._dispatch(
            "GUILD_CREATE",
            None,
            intent=INTENT_GUILDS,
            transform=lambda s: self._guild_create_payload(guild, s),
        )
        return gid

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        channel_id: int | None = None,
        type: int = CHANNEL_GUILD_TEXT,
        parent_id: int | None = None,
        topic: str | None = None,
    ) -> int:
        """Add a guild channel (text by default); returns its id."""
        guild = self.guilds[guild_id]
        cid = channel_id or self._ids.next()
        channel = Channel(
            cid,
            name,
            type=type,
            guild_id=guild_id,
            position=len(guild.channels),
            parent_id=parent_id,
            topic=topic,
        )
        guild.channels[cid] = channel
        self.channels[cid] = channel
        self._dispatch("CHANNEL_CREATE", channel.payload(), intent=INTENT_GUILDS)
        return cid

    def add_role(
        self,
        guild_id: int,
        name: str,
        *,
        role_id: int | None = None,
        permissions: int = 0,
        mentionable: bool = False,
        hoist: bool = False,
        color: int = 0,
    ) -> int:
        """Add a role to a guild; returns its id."""
        guild = self.guilds[guild_id]
        rid = role_id or self._ids.next()
        role = Role(
            rid,
            guild_id,
            name,
            permissions=permissions,
            position=len(guild.roles),
            mentionable=mentionable,
            hoist=hoist,
            color=color,
        )
        guild.roles[rid] = role
        self._dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role.payload()}, intent=INTENT_GUILDS
        )
        return rid

    def add_member(
        self,
        guild_id: int,
        user_id: int | None,
        name: str,
        roles: Iterable[int] = (),
        *,
        nick: str | None = None,
        bot: bool = False,
    ) -> int:
        """Add a user to a guild (creating the user if needed); returns the user id.

        Args:
            guild_id: The guild.
            user_id: Fixed id, or None to generate one.
            name: Username.
            roles: Role ids (not counting ``@everyone``).
            nick: Guild nickname.
            bot: Whether the user is a bot.
        """
        guild = self.guilds[guild_id]
        uid = user_id or self._ids.next()
        if uid not in self.users:
            self.users[uid] = User(uid, name, bot=bot)
        for role_id in roles:
            if role_id not in guild.roles:
                raise KeyError(f"role {role_id} is not in guild {guild_id}")
        member = Member(uid, guild_id, roles=list(roles), nick=nick)
        guild.members[uid] = member
        payload = member.payload(self.users[uid])
        payload["guild_id"] = str(guild_id)
        self._dispatch("GUILD_MEMBER_ADD", payload, intent=INTENT_GUILD_MEMBERS)
        return uid

    def set_member_roles(self, guild_id: int, user_id: int, roles: Iterable[int]) -> None:
        """Replace a member's roles and dispatch GUILD_MEMBER_UPDATE."""
        member = self.guilds[guild_id].members[user_id]
        member.roles = list(roles)
        payload = member.payload(self.users[user_id])
        payload["guild_id"] = str(guild_id)
        self._dispatch("GUILD_MEMBER_UPDATE", payload, intent=INTENT_GUILD_MEMBERS)

    def set_overwrite(self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0,
                      member: bool = False) -> None:
        """Set a channel's permission overwrite for a role (or a member) and dispatch CHANNEL_UPDATE."""
        channel = self.channels[channel_id]
        kind = 1 if member else 0
        channel.overwrites = [o for o in channel.overwrites if (o[0], o[1]) != (target_id, kind)]
        channel.overwrites.append((target_id, kind, allow, deny))
        self._dispatch("CHANNEL_UPDATE", channel.payload(), intent=INTENT_GUILDS)

    def bot_role_id(self, guild_id: int) -> int:
        """The bot's managed role in a guild."""
        return next(r.id for r in self.guilds[guild_id].roles.values() if r.bot_id == self.bot_user.id)

    def close_dms(self, user_id: int) -> None:
        """The user accepts no direct messages from the bot: sending one gives 50007."""
        self.closed_dms.add(user_id)

    def dm_channel_id(self, user_id: int) -> int:
        """The DM channel between the bot and ``user_id`` (created on first use)."""
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}")
        cid = self._dm_by_user.get(user_id)
        if cid is None:
            cid = self._ids.next()
            self.channels[cid] = Channel(cid, "", type=CHANNEL_DM, recipient_id=user_id)
            self._dm_by_user[user_id] = cid
        return cid

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Application commands registered for a guild (or global ones with None)."""
        return list(self._commands.get(guild_id, {}).values())

    def channel_messages(self, channel_id: int, *, include_ephemeral: bool = False) -> list[dict[str, Any]]:
        """Messages of a channel, oldest first (ephemeral ones only on request)."""
        out = []
        for mid in self._channel_message_ids.get(channel_id, []):
            msg = self.messages.get(mid)
            if msg is not None and (include_ephemeral or not msg["flags"] & v.FLAG_EPHEMERAL):
                out.append(msg)
        return out
