"""Messages: payloads, mentions, creating and editing them, users posting."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from . import validation as v
from .model import (
    CHANNEL_DM,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    PERM_MENTION_EVERYONE,
    Channel,
    Guild,
    iso,
)
from .protocol import (
    _ROLE_MENTION_RE,
    _USER_MENTION_RE,
    INTERACTION_MESSAGE_COMPONENT,
    INTERACTION_MODAL_SUBMIT,
    MESSAGE_DEFAULT,
    MESSAGE_REPLY,
    ApiError,
    _as_int,
)
from .records import (
    GatewaySession,
    InteractionHandle,
    UploadedFile,
)

_log = logging.getLogger("tests.discord_standin.server")


class MessagesMixin:
    """Part of :class:`.server.DiscordStandIn`."""

    # ------------------------------------------------------------------ payload helpers

    def _guild_of(self, channel_id: int) -> Guild | None:
        channel = self.channels.get(channel_id)
        return None if channel is None or channel.guild_id is None else self.guilds.get(channel.guild_id)

    def _channel_payload(self, channel: Channel) -> dict[str, Any]:
        data = channel.payload()
        if channel.type == CHANNEL_DM and channel.recipient_id is not None:
            data["recipients"] = [self.users[channel.recipient_id].payload()]
        return data

    def _user_with_member(self, guild: Guild | None, user_id: int) -> dict[str, Any]:
        data = self.users[user_id].payload()
        if guild is not None and user_id in guild.members:
            data["member"] = guild.members[user_id].payload()
        return data

    def _rest_message(self, message: dict[str, Any]) -> dict[str, Any]:
        return {k: val for k, val in message.items() if not k.startswith("_")}

    def _gateway_message(self, message: dict[str, Any]) -> dict[str, Any]:
        data = self._rest_message(message)
        guild = self._guild_of(int(message["channel_id"]))
        if guild is not None:
            data["guild_id"] = str(guild.id)
            author_id = int(message["author"]["id"])
            if author_id in guild.members and not message.get("webhook_id"):
                data["member"] = guild.members[author_id].payload()
        return data

    def _message_intent(self, message: dict[str, Any]) -> int:
        return (
            INTENT_DIRECT_MESSAGES
            if self._guild_of(int(message["channel_id"])) is None
            else INTENT_GUILD_MESSAGES
        )

    def _for_session(self, message: dict[str, Any]) -> Callable[[GatewaySession], dict[str, Any]]:
        full = self._gateway_message(message)
        stripped = {**full, "content": "", "embeds": [], "attachments": [], "components": []}
        stripped.pop("poll", None)
        author_id = int(message["author"]["id"])
        mentions_bot = any(int(u["id"]) == self.bot_user.id for u in message.get("mentions", []))
        is_dm = self._guild_of(int(message["channel_id"])) is None

        def transform(session: GatewaySession) -> dict[str, Any]:
            # Without the MESSAGE_CONTENT intent Discord blanks content, except in DMs,
            # for the bot's own messages and for messages that mention the bot.
            if (
                session.intents & INTENT_MESSAGE_CONTENT
                or is_dm
                or mentions_bot
                or author_id == self.bot_user.id
            ):
                return full
            return stripped

        return transform

    def _resolve_mentions(
        self, guild: Guild | None, author_id: int, content: str, allowed: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], list[str], bool]:
        if allowed is None:
            parse = {"users", "roles", "everyone"}
            users_allowed: set[int] = set()
            roles_allowed: set[int] = set()
        else:
            parse = set(allowed.get("parse") or [])
            users_allowed = {int(u) for u in allowed.get("users") or []}
            roles_allowed = {int(r) for r in allowed.get("roles") or []}
        perms = guild.permissions_of(author_id) if guild is not None else 0
        user_ids = list(dict.fromkeys(int(u) for u in _USER_MENTION_RE.findall(content)))
        mentions = [
            self._user_with_member(guild, uid)
            for uid in user_ids
            if uid in self.users and ("users" in parse or uid in users_allowed)
        ]
        roles: list[str] = []
        if guild is not None:
            for rid in dict.fromkeys(int(r) for r in _ROLE_MENTION_RE.findall(content)):
                role = guild.roles.get(rid)
                if role is None or not ("roles" in parse or rid in roles_allowed):
                    continue
                if role.mentionable or perms & PERM_MENTION_EVERYONE:
                    roles.append(str(rid))
        everyone = (
            guild is not None
            and ("@everyone" in content or "@here" in content)
            and "everyone" in parse
            and bool(perms & PERM_MENTION_EVERYONE)
        )
        return mentions, roles, everyone

    def _attachments_for(self, files: Sequence[UploadedFile], declared: Any) -> list[dict[str, Any]]:
        # discord.py declares attachments as [{"id": n, "filename": ...}] matching "files[n]".
        declared_by_index = {}
        for item in declared or []:
            if isinstance(item, dict) and _as_int(item.get("id")) is not None:
                declared_by_index[int(item["id"])] = item
        out = []
        for upload in files:
            match = re.fullmatch(r"files\[(\d+)\]", upload.field_name)
            meta = declared_by_index.get(int(match.group(1))) if match else None
            aid = self._ids.next()
            self._attachments[aid] = upload
            url = f"{self.url}/attachments/{aid}/{upload.filename}"
            out.append(
                {
                    "id": str(aid),
                    "filename": upload.filename,
                    "size": len(upload.data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": upload.content_type,
                    "description": (meta or {}).get("description"),
                    "flags": 0,
                }
            )
        return out

    def _create_message(
        self,
        channel_id: int,
        author_id: int,
        payload: dict[str, Any],
        *,
        files: Sequence[UploadedFile] = (),
        handle: InteractionHandle | None = None,
        message_type: int = MESSAGE_DEFAULT,
        extra_flags: int = 0,
    ) -> dict[str, Any]:
        guild = self._guild_of(channel_id)
        channel = self.channels[channel_id]
        mid = self._ids.next()
        content = payload.get("content") or ""
        allowed = payload.get("allowed_mentions")
        mentions, mention_roles, everyone = self._resolve_mentions(guild, author_id, content, allowed)
        keep = v.FLAG_SUPPRESS_EMBEDS | v.FLAG_SUPPRESS_NOTIFICATIONS | v.FLAG_IS_COMPONENTS_V2
        if handle is not None:
            keep |= v.FLAG_EPHEMERAL  # only interaction responses may be ephemeral
        flags = ((payload.get("flags") or 0) & keep) | extra_flags
        message: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": self.users[author_id].payload(),
            "content": content,
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "attachments": self._attachments_for(files, payload.get("attachments")),
            "embeds": [{"type": "rich", **e} for e in payload.get("embeds") or []],
            "reactions": [],
            "pinned": False,
            "type": message_type,
            "flags": flags,
            "components": v.numbered(payload.get("components") or []),
            "_allowed_mentions": allowed,
        }
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        if payload.get("poll"):
            message["poll"] = payload["poll"]
        ref = payload.get("message_reference")
        if isinstance(ref, dict) and _as_int(ref.get("message_id")) in self.messages:
            referenced = self.messages[int(ref["message_id"])]
            message["type"] = MESSAGE_REPLY if message_type == MESSAGE_DEFAULT else message_type
            message["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": referenced["channel_id"],
                **({"guild_id": str(guild.id)} if guild else {}),
            }
            message["referenced_message"] = self._rest_message(referenced)
            replied_id = int(referenced["author"]["id"])
            ping_reply = allowed is None or allowed.get("replied_user", False)
            if ping_reply and all(int(m["id"]) != replied_id for m in mentions):
                mentions.append(self._user_with_member(guild, replied_id))
        if handle is not None:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            metadata: dict[str, Any] = {
                "id": str(handle.id),
                "type": handle.type,
                "user": self.users[handle.user_id].payload(),
                "authorizing_integration_owners": handle.payload.get("authorizing_integration_owners", {}),
            }
            if handle.original_message_id is not None:
                metadata["original_response_message_id"] = str(handle.original_message_id)
            message["interaction_metadata"] = {**metadata, **self._metadata_extra(handle)}
        self.messages[mid] = message
        self._channel_message_ids.setdefault(channel_id, []).append(mid)
        channel.last_message_id = mid
        if not flags & v.FLAG_EPHEMERAL:
            self._dispatch(
                "MESSAGE_CREATE",
                None,
                intent=self._message_intent(message),
                transform=self._for_session(message),
            )
        return message

    def _metadata_extra(self, handle: InteractionHandle) -> dict[str, Any]:
        """What Discord's metadata schemas require per interaction type."""
        if handle.type == INTERACTION_MESSAGE_COMPONENT and handle.source_message_id is not None:
            return {"interacted_message_id": str(handle.source_message_id)}
        if handle.type == INTERACTION_MODAL_SUBMIT and handle.triggering is not None:
            source = handle.triggering
            return {"triggering_interaction_metadata": {
                "id": str(source.id), "type": source.type, "user": self.users[source.user_id].payload(),
                "authorizing_integration_owners": source.payload.get("authorizing_integration_owners", {}),
                **self._metadata_extra(source)}}
        return {}

    def _edit_message(
        self, message: dict[str, Any], payload: dict[str, Any], files: Sequence[UploadedFile] = ()
    ) -> dict[str, Any]:
        merged = dict(message)
        for key in ("content", "embeds", "components"):
            if key in payload:
                merged[key] = payload[key] if payload[key] is not None else ([] if key != "content" else "")
        if "embeds" in payload:
            merged["embeds"] = [{"type": "rich", **e} for e in merged["embeds"] or []]
        if "components" in payload:
            merged["components"] = v.numbered(merged["components"] or [])
        if "allowed_mentions" in payload:
            merged["_allowed_mentions"] = payload["allowed_mentions"]
        if payload.get("flags") is not None:
            # An edit may toggle SUPPRESS_EMBEDS and switch to components v2 (never back);
            # LOADING ends with the first edit.
            toggled = payload["flags"] & v.FLAG_SUPPRESS_EMBEDS
            merged["flags"] = (merged["flags"] & ~v.FLAG_SUPPRESS_EMBEDS) | toggled
            merged["flags"] |= payload["flags"] & v.FLAG_IS_COMPONENTS_V2
        merged["flags"] &= ~v.FLAG_LOADING
        if "attachments" in payload or files:
            kept_ids = {str(a.get("id")) for a in payload.get("attachments") or [] if isinstance(a, dict)}
            kept = [a for a in message["attachments"] if a["id"] in kept_ids]
            merged["attachments"] = kept + self._attachments_for(files, payload.get("attachments"))
        # The edited message as a whole must still be a valid (non-empty) message.
        error = v.check_message(
            {k: merged.get(k) for k in ("content", "embeds", "components", "flags", "poll")},
            has_files=bool(merged["attachments"]),
        )
        if error is not None:
            raise ApiError.from_body(400, error)
        guild = self._guild_of(int(message["channel_id"]))
        mentions, roles, everyone = self._resolve_mentions(
            guild, int(message["author"]["id"]), merged["content"], merged["_allowed_mentions"]
        )
        merged.update(
            mentions=mentions, mention_roles=roles, mention_everyone=everyone, edited_timestamp=iso()
        )
        message.clear()
        message.update(merged)
        if not message["flags"] & v.FLAG_EPHEMERAL:
            self._dispatch(
                "MESSAGE_UPDATE",
                None,
                intent=self._message_intent(message),
                transform=self._for_session(message),
            )
        return message

    def _delete_message(self, message: dict[str, Any]) -> None:
        mid = int(message["id"])
        channel_id = int(message["channel_id"])
        self.messages.pop(mid, None)
        ids = self._channel_message_ids.get(channel_id, [])
        if mid in ids:
            ids.remove(mid)
        if not message["flags"] & v.FLAG_EPHEMERAL:
            data: dict[str, Any] = {"id": str(mid), "channel_id": str(channel_id)}
            guild = self._guild_of(channel_id)
            if guild is not None:
                data["guild_id"] = str(guild.id)
            self._dispatch("MESSAGE_DELETE", data, intent=self._message_intent(message))

    # ------------------------------------------------------------------ injection: messages

    async def send_message(
        self,
        channel_id: int,
        author_id: int,
        content: str,
        *,
        embeds: list[dict[str, Any]] | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """A user posts a message: store it and dispatch MESSAGE_CREATE.

        Args:
            channel_id: A guild channel or a DM channel (see :meth:`dm_channel_id`).
            author_id: The author; must be a member of the channel's guild.
            content: Message text; ``<@id>``, ``<@&id>`` and ``@everyone`` are parsed as mentions.
            embeds: Optional embeds.
            reply_to: Id of a message this one replies to.

        Returns:
            The stored message payload.
        """
        if channel_id not in self.channels:
            raise KeyError(f"unknown channel {channel_id}")
        guild = self._guild_of(channel_id)
        if guild is not None and author_id not in guild.members:
            raise ValueError(f"user {author_id} is not a member of guild {guild.id}")
        if guild is None and self.channels[channel_id].recipient_id != author_id:
            raise ValueError(f"user {author_id} is not in DM channel {channel_id}")
        payload: dict[str, Any] = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            payload["message_reference"] = {"message_id": str(reply_to)}
        error = v.check_message(payload)
        if error is not None:
            raise ValueError(f"Discord would refuse this message: {error}")
        return self._create_message(channel_id, author_id, payload)
