"""The little world a Discord stand-in knows about: users, guilds, channels, roles, members.

Everything here builds payloads in the shape Discord's API v10 uses (snowflakes as
strings, ISO-8601 timestamps), because discord.py parses them with ``data['key']``
and fails on the first missing field.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# Permission bits used to compute member and app permissions.
PERM_CREATE_INSTANT_INVITE = 1 << 0
PERM_ADMINISTRATOR = 1 << 3
PERM_ADD_REACTIONS = 1 << 6
PERM_VIEW_CHANNEL = 1 << 10
PERM_SEND_MESSAGES = 1 << 11
PERM_EMBED_LINKS = 1 << 14
PERM_ATTACH_FILES = 1 << 15
PERM_READ_MESSAGE_HISTORY = 1 << 16
PERM_MENTION_EVERYONE = 1 << 17
PERM_USE_EXTERNAL_EMOJIS = 1 << 18
PERM_CONNECT = 1 << 20
PERM_SPEAK = 1 << 21
PERM_CHANGE_NICKNAME = 1 << 26
PERM_USE_APPLICATION_COMMANDS = 1 << 31
PERM_SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

#: Roughly what a new guild grants ``@everyone``: notably *not* MENTION_EVERYONE.
DEFAULT_EVERYONE_PERMISSIONS = (
    PERM_CREATE_INSTANT_INVITE
    | PERM_ADD_REACTIONS
    | PERM_VIEW_CHANNEL
    | PERM_SEND_MESSAGES
    | PERM_EMBED_LINKS
    | PERM_ATTACH_FILES
    | PERM_READ_MESSAGE_HISTORY
    | PERM_USE_EXTERNAL_EMOJIS
    | PERM_CONNECT
    | PERM_SPEAK
    | PERM_CHANGE_NICKNAME
    | PERM_USE_APPLICATION_COMMANDS
    | PERM_SEND_MESSAGES_IN_THREADS
)

# Channel types.
CHANNEL_GUILD_TEXT = 0
CHANNEL_DM = 1
CHANNEL_GUILD_VOICE = 2
CHANNEL_GUILD_CATEGORY = 4

# Application flags telling discord.py which privileged intents the app may use.
APP_FLAG_GATEWAY_PRESENCE = 1 << 12
APP_FLAG_GATEWAY_GUILD_MEMBERS = 1 << 14
APP_FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18


class SnowflakeFactory:
    """Generates increasing, unique Discord snowflakes based on the wall clock.

    Real timestamps matter: discord.py derives ``created_at`` from the id.
    """

    def __init__(self, worker: int = 1) -> None:
        self._worker = worker & 0x1F
        self._last = 0
        self._increment = itertools.count()

    def next(self) -> int:
        """Return a new snowflake, strictly greater than every previous one."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (self._worker << 17) | (next(self._increment) & 0xFFF)
        # The clock may stand still (or step back) between calls; ids must still grow.
        self._last = max(candidate, self._last + 1)
        return self._last

    def past(self, seconds: float) -> int:
        """A new snowflake whose timestamp lies `seconds` in the past (for late deliveries)."""
        ms = int((time.time() - seconds) * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (self._worker << 17) | (next(self._increment) & 0xFFF)


def snowflake_time(snowflake: int) -> dt.datetime:
    """Return the creation time encoded in ``snowflake``."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def iso(moment: dt.datetime | None = None) -> str:
    """Format ``moment`` (default: now) the way Discord does."""
    return (moment or dt.datetime.now(dt.UTC)).isoformat()


@dataclass
class User:
    """A Discord user (a human, or the bot itself)."""

    id: int
    name: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        """Return the user object."""
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name if self.global_name is not None else self.name,
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }


@dataclass
class Role:
    """A guild role; the ``@everyone`` role has the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    mentionable: bool = False
    hoist: bool = False
    color: int = 0
    bot_id: int | None = None

    def payload(self) -> dict[str, Any]:
        """Return the role object."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.bot_id is not None,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Channel:
    """A guild channel or a DM channel (``guild_id`` is None, ``recipient_id`` set)."""

    id: int
    name: str
    type: int = CHANNEL_GUILD_TEXT
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    recipient_id: int | None = None
    last_message_id: int | None = None
    # Permission overwrites: (id, type 0 role / 1 member, allow, deny), as Discord keeps them.
    overwrites: list[tuple[int, int, int, int]] = field(default_factory=list)

    def payload(self, *, include_guild_id: bool = True) -> dict[str, Any]:
        """Return the channel object (``include_guild_id`` is False inside GUILD_CREATE)."""
        if self.type == CHANNEL_DM:
            return {
                "id": str(self.id),
                "type": CHANNEL_DM,
                "last_message_id": _opt_str(self.last_message_id),
                "flags": 0,
                "recipients": [],  # filled in by the stand-in, which knows the user
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [
                {"id": str(i), "type": t, "allow": str(a), "deny": str(d)} for i, t, a, d in self.overwrites
            ],
            "parent_id": _opt_str(self.parent_id),
            "nsfw": False,
            "flags": 0,
        }
        if self.type in (CHANNEL_GUILD_TEXT,):
            data.update(
                topic=self.topic,
                last_message_id=_opt_str(self.last_message_id),
                rate_limit_per_user=0,
                default_thread_rate_limit_per_user=0,
            )
        if self.type == CHANNEL_GUILD_VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        if include_guild_id:
            data["guild_id"] = str(self.guild_id)
        return data


@dataclass
class Member:
    """A user's membership in one guild."""

    user_id: int
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso)

    def payload(self, user: User | None = None, *, permissions: int | None = None) -> dict[str, Any]:
        """Return the member object; with ``user`` embedded when given."""
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if user is not None:
            data["user"] = user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Guild:
    """A guild with its channels, roles and members (the bot is always a member)."""

    id: int
    name: str
    owner_id: int
    channels: dict[int, Channel] = field(default_factory=dict)
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    joined_at: str = field(default_factory=iso)

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions of a member (channel overwrites are not modelled)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.roles[self.id].permissions
        if member is not None:
            for role_id in member.roles:
                role = self.roles.get(role_id)
                if role is not None:
                    perms |= role.permissions
        return ALL_PERMISSIONS if perms & PERM_ADMINISTRATOR else perms


def channel_permissions(guild: Guild, channel: Channel, user_id: int) -> int:
    """A member's permissions in a channel, overwrites applied in Discord's documented order.

    (@everyone's overwrite, then the member's roles' overwrites together, then the
    member's own; administrators and the owner hold everything.)
    """
    perms = guild.permissions_of(user_id)
    if perms == ALL_PERMISSIONS:
        return perms
    by_id = {(i, t): (a, d) for i, t, a, d in channel.overwrites}
    allow, deny = by_id.get((guild.id, 0), (0, 0))
    perms = (perms & ~deny) | allow
    member = guild.members.get(user_id)
    roles = member.roles if member is not None else []
    allow = deny = 0
    for role_id in roles:
        a, d = by_id.get((role_id, 0), (0, 0))
        allow, deny = allow | a, deny | d
    perms = (perms & ~deny) | allow
    a, d = by_id.get((user_id, 1), (0, 0))
    return (perms & ~d) | a


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
