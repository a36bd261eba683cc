"""REST handlers: the routes a bot calls, answered as Discord answers them."""

from __future__ import annotations

import logging
from typing import Any

from . import validation as v
from .model import (
    CHANNEL_DM,
    PERM_READ_MESSAGE_HISTORY,
    PERM_SEND_MESSAGES,
    PERM_VIEW_CHANNEL,
    User,
)
from .protocol import (
    _ALLOWED_CALLBACKS,
    CALLBACK_AUTOCOMPLETE_RESULT,
    CALLBACK_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_UPDATE_MESSAGE,
    CALLBACK_MODAL,
    CALLBACK_UPDATE_MESSAGE,
    INTERACTION_APPLICATION_COMMAND,
    MESSAGE_CHAT_INPUT_COMMAND,
    MESSAGE_DEFAULT,
    ApiError,
    _as_int,
)
from .records import (
    InteractionHandle,
    RestCall,
)

_log = logging.getLogger("tests.discord_standin.server")


class HandlersMixin:
    """Part of :class:`.server.DiscordStandIn`."""

    # ------------------------------------------------------------------ REST handlers

    async def _h_gateway(self, call: RestCall) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url.rstrip("/")}

    async def _h_gateway_bot(self, call: RestCall) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url.rstrip("/"),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        }

    async def _h_me(self, call: RestCall) -> tuple[int, Any]:
        return 200, {
            **self.bot_user.payload(),
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
            "bio": "",
        }

    async def _h_user(self, call: RestCall, user_id: str) -> tuple[int, Any]:
        user = self.users.get(_as_int(user_id) or 0)
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return 200, user.payload()

    async def _h_create_dm(self, call: RestCall) -> tuple[int, Any]:
        uid = _as_int((call.json or {}).get("recipient_id"))
        if uid not in self.users:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {"recipient_id": {"_errors": [{"code": "NUMBER_TYPE_COERCE", "message": "Unknown user"}]}},
            )
        return 200, self._channel_payload(self.channels[self.dm_channel_id(uid)])

    async def _h_application(self, call: RestCall) -> tuple[int, Any]:
        owner = User(self.bot_user.id + 1, "standin-owner")
        return 200, {
            "id": str(self.application_id),
            "name": self.bot_user.name,
            "icon": None,
            "description": "Discord stand-in application",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": owner.payload(),
            "team": None,
            "flags": self._application_flags(),
            "bot": self.bot_user.payload(),
            "hook": True,
            "redirect_uris": [],
            "interactions_endpoint_url": None,  # set, it would make discord.py warn: no gateway interactions
            "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
            "integration_types_config": {"0": {}},
            "approximate_guild_count": len(self.guilds),
            # Fields Discord's application schema requires.
            "flags_new": str(self._application_flags()),
            "role_connections_verification_url": None,
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "eligible_oauth2_scopes": ["bot", "applications.commands"],
        }

    def _command_record(self, scope: int | None, data: dict[str, Any]) -> dict[str, Any]:
        ctype = data.get("type", 1)
        old = self._commands.get(scope, {}).get((data["name"], ctype))
        record: dict[str, Any] = {
            # Discord keeps a command's id when a bulk overwrite keeps its name and type.
            "id": old["id"] if old else str(self._ids.next()),
            "application_id": str(self.application_id),
            "version": str(self._ids.next()),
            "type": ctype,
            "name": data["name"],
            "name_localizations": data.get("name_localizations"),
            "description": data.get("description", ""),
            "description_localizations": data.get("description_localizations"),
            "options": data.get("options") or [],
            "default_member_permissions": data.get("default_member_permissions"),
            "dm_permission": data.get("dm_permission", True),
            "contexts": data.get("contexts"),
            "integration_types": data.get("integration_types") or [0],
            "nsfw": data.get("nsfw", False),
        }
        if scope is not None:
            record["guild_id"] = str(scope)
        return record

    async def _h_list_commands(
        self, call: RestCall, application_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        self._app(application_id)
        return 200, self.commands(self._scope(guild_id))

    async def _h_put_commands(
        self, call: RestCall, application_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        self._app(application_id)
        scope = self._scope(guild_id)
        error = v.check_commands(call.json)
        if error is not None:
            raise ApiError.from_body(400, error)
        records = [self._command_record(scope, c) for c in call.json]
        self._commands[scope] = {(r["name"], r["type"]): r for r in records}
        return 200, records

    async def _h_upsert_command(
        self, call: RestCall, application_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        self._app(application_id)
        scope = self._scope(guild_id)
        error = v.check_commands([call.json])
        if error is not None:
            raise ApiError.from_body(400, error)
        record = self._command_record(scope, call.json)
        existed = (record["name"], record["type"]) in self._commands.get(scope, {})
        self._commands.setdefault(scope, {})[(record["name"], record["type"])] = record
        return (200 if existed else 201), record

    def _command_by_id(self, scope: int | None, command_id: str) -> dict[str, Any]:
        for record in self._commands.get(scope, {}).values():
            if record["id"] == command_id:
                return record
        raise ApiError(404, 10063, "Unknown application command")

    async def _h_get_command(
        self, call: RestCall, application_id: str, command_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        self._app(application_id)
        return 200, self._command_by_id(self._scope(guild_id), command_id)

    async def _h_patch_command(
        self, call: RestCall, application_id: str, command_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        self._app(application_id)
        scope = self._scope(guild_id)
        old = self._command_by_id(scope, command_id)
        merged = {**old, **(call.json or {})}
        error = v.check_commands([merged])
        if error is not None:
            raise ApiError.from_body(400, error)
        del self._commands[scope][(old["name"], old["type"])]
        record = {**self._command_record(scope, merged), "id": old["id"]}
        self._commands[scope][(record["name"], record["type"])] = record
        return 200, record

    async def _h_delete_command(
        self, call: RestCall, application_id: str, command_id: str, guild_id: str | None = None
    ) -> tuple[int, Any]:
        self._app(application_id)
        scope = self._scope(guild_id)
        old = self._command_by_id(scope, command_id)
        del self._commands[scope][(old["name"], old["type"])]
        return 204, None

    async def _h_command_permissions(
        self, call: RestCall, application_id: str, guild_id: str
    ) -> tuple[int, Any]:
        self._app(application_id)
        self._scope(guild_id)
        return 200, []

    def _message_body(self, call: RestCall, *, partial: bool) -> dict[str, Any]:
        body = call.json if isinstance(call.json, dict) else {}
        error = v.check_message(body, has_files=bool(call.files), partial=partial)
        if error is not None:
            raise ApiError.from_body(400, error)
        return body

    async def _h_callback(self, call: RestCall, interaction_id: str, token: str) -> tuple[int, Any]:
        handle = self.interactions.get(_as_int(interaction_id) or 0)
        if handle is None or handle.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        call.interaction, call.kind = handle, "callback"
        # Discord's three seconds run from the interaction's creation, not from when the
        # bot's socket got it: an interaction queued during an outage may already be dead.
        started = handle.created_at
        if self.interaction_deadline is not None and call.received_at - started > self.interaction_deadline:
            # Discord forgets an interaction not acknowledged within 3 seconds.
            raise ApiError(404, 10062, "Unknown interaction")
        if handle.response_type is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = call.json if isinstance(call.json, dict) else {}
        rtype = body.get("type")
        allowed = _ALLOWED_CALLBACKS.get(handle.type, set())
        if (
            rtype in (CALLBACK_DEFERRED_UPDATE_MESSAGE, CALLBACK_UPDATE_MESSAGE)
            and handle.source_message_id is None
        ):
            allowed = allowed - {CALLBACK_DEFERRED_UPDATE_MESSAGE, CALLBACK_UPDATE_MESSAGE}
        if rtype not in allowed:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                "message": f"Response type {rtype} is not valid "
                                f"for interaction type {handle.type}",
                            }
                        ]
                    }
                },
            )
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        message: dict[str, Any] | None = None
        if rtype == CALLBACK_CHANNEL_MESSAGE:
            error = v.check_message(data, has_files=bool(call.files))
            if error is not None:
                raise ApiError.from_body(400, error)
            mtype = (
                MESSAGE_CHAT_INPUT_COMMAND
                if handle.type == INTERACTION_APPLICATION_COMMAND
                else MESSAGE_DEFAULT
            )
            message = self._create_message(
                handle.channel_id, self.bot_user.id, data, files=call.files, handle=handle, message_type=mtype
            )
            handle.original_message_id = int(message["id"])
        elif rtype == CALLBACK_DEFERRED_CHANNEL_MESSAGE:
            flags = (data.get("flags") or 0) & v.FLAG_EPHEMERAL
            mtype = (
                MESSAGE_CHAT_INPUT_COMMAND
                if handle.type == INTERACTION_APPLICATION_COMMAND
                else MESSAGE_DEFAULT
            )
            message = self._create_message(
                handle.channel_id,
                self.bot_user.id,
                {"flags": flags},
                handle=handle,
                message_type=mtype,
                extra_flags=v.FLAG_LOADING,
            )
            handle.original_message_id = int(message["id"])
        elif rtype in (CALLBACK_DEFERRED_UPDATE_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            target = self.messages.get(handle.source_message_id or 0)
            if target is None:
                raise ApiError(404, 10008, "Unknown Message")
            if rtype == CALLBACK_UPDATE_MESSAGE:
                error = v.check_message(data, has_files=bool(call.files), partial=True)
                if error is not None:
                    raise ApiError.from_body(400, error)
                message = self._edit_message(target, data, call.files)
            handle.original_message_id = int(target["id"])
        elif rtype == CALLBACK_MODAL:
            error = v.check_modal(data)
            if error is not None:
                raise ApiError.from_body(400, error)
            handle.modal = data
        elif rtype == CALLBACK_AUTOCOMPLETE_RESULT:
            error = v.check_autocomplete(data)
            if error is not None:
                raise ApiError.from_body(400, error)
            handle.choices = data["choices"]
        handle.response_type = rtype
        if call.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        result: dict[str, Any] = {
            "interaction": {
                "id": str(handle.id),
                "type": handle.type,
                **({"response_message_id": str(handle.original_message_id)}
                   if handle.original_message_id else {}),
                "response_message_loading": rtype == CALLBACK_DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(message and message["flags"] & v.FLAG_EPHEMERAL),
            }
        }
        if message is not None and rtype in (CALLBACK_CHANNEL_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            # Discord's schema has a resource only for a message sent or updated (4, 7).
            result["resource"] = {"type": rtype, "message": self._rest_message(message)}
        return 200, result

    async def _h_followup(self, call: RestCall, application_id: str, token: str) -> tuple[int, Any]:
        handle = self._handle(token, application_id, call=call, kind="followup")
        if handle.response_type is None:
            # Follow-ups only exist once the interaction was acknowledged.
            raise ApiError(404, 10015, "Unknown Webhook")
        body = self._message_body(call, partial=False)
        loading = self.messages.get(handle.original_message_id or 0)
        if (handle.response_type == CALLBACK_DEFERRED_CHANNEL_MESSAGE and loading is not None
                and loading["flags"] & v.FLAG_LOADING):
            # Discord: a follow-up right after a type-5 defer edits the loading message
            # (its ephemeral flag ignored: a message's visibility cannot change).
            message = self._edit_message(loading, {k: x for k, x in body.items() if k != "flags"},
                                         call.files)
        else:
            message = self._create_message(
                handle.channel_id, self.bot_user.id, body, files=call.files, handle=handle
            )
            handle.followup_message_ids.append(int(message["id"]))
        if call.query.get("wait") in ("1", "true", "True"):
            return 200, self._rest_message(message)
        return 204, None

    def _webhook_message(self, handle: InteractionHandle, message_id: str) -> dict[str, Any]:
        if message_id == "@original":
            mid = handle.original_message_id
        else:
            mid = _as_int(message_id)
            if mid not in handle.followup_message_ids and mid != handle.original_message_id:
                mid = None
        message = self.messages.get(mid or 0)
        if message is None:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    async def _h_webhook_get(
        self, call: RestCall, application_id: str, token: str, message_id: str
    ) -> tuple[int, Any]:
        handle = self._handle(token, application_id, call=call, kind="get")
        return 200, self._rest_message(self._webhook_message(handle, message_id))

    async def _h_webhook_edit(
        self, call: RestCall, application_id: str, token: str, message_id: str
    ) -> tuple[int, Any]:
        handle = self._handle(token, application_id, call=call, kind="edit")
        message = self._webhook_message(handle, message_id)
        body = self._message_body(call, partial=True)
        return 200, self._rest_message(self._edit_message(message, body, call.files))

    async def _h_webhook_delete(
        self, call: RestCall, application_id: str, token: str, message_id: str
    ) -> tuple[int, Any]:
        handle = self._handle(token, application_id, call=call, kind="delete")
        self._delete_message(self._webhook_message(handle, message_id))
        return 204, None

    async def _h_channel(self, call: RestCall, channel_id: str) -> tuple[int, Any]:
        return 200, self._channel_payload(self._channel(channel_id))

    async def _h_history(self, call: RestCall, channel_id: str) -> tuple[int, Any]:
        channel = self._channel(channel_id, PERM_VIEW_CHANNEL | PERM_READ_MESSAGE_HISTORY)
        messages = self.channel_messages(channel.id)  # oldest first
        limit = max(1, min(100, _as_int(call.query.get("limit")) or 50))
        before, after = _as_int(call.query.get("before")), _as_int(call.query.get("after"))
        if after is not None:
            picked = [m for m in messages if int(m["id"]) > after][:limit]
        else:
            picked = [m for m in messages if before is None or int(m["id"]) < before][-limit:]
        # Discord answers newest first.
        return 200, [self._rest_message(m) for m in reversed(picked)]

    async def _h_post_message(self, call: RestCall, channel_id: str) -> tuple[int, Any]:
        channel = self._channel(channel_id, PERM_VIEW_CHANNEL | PERM_SEND_MESSAGES)
        if channel.type == CHANNEL_DM and channel.recipient_id in self.closed_dms:
            raise ApiError(403, 50007, "Cannot send messages to this user")
        body = self._message_body(call, partial=False)
        nonce = body.get("nonce")
        key = (channel.id, self.bot_user.id, str(nonce))
        if nonce is not None and body.get("enforce_nonce") and key in self._nonces:
            # Discord: with enforce_nonce, a nonce used in the last few minutes by the same
            # author returns the message it created instead of creating another.
            known = self.messages.get(self._nonces[key])
            if known is not None:
                return 200, self._rest_message(known)
        message = self._create_message(channel.id, self.bot_user.id, body, files=call.files)
        if nonce is not None:
            self._nonces[key] = int(message["id"])
        return 200, self._rest_message(message)

    async def _h_get_message(self, call: RestCall, channel_id: str, message_id: str) -> tuple[int, Any]:
        channel = self._channel(channel_id, PERM_VIEW_CHANNEL | PERM_READ_MESSAGE_HISTORY)
        return 200, self._rest_message(self._message_in(channel, message_id))

    async def _h_edit_message(self, call: RestCall, channel_id: str, message_id: str) -> tuple[int, Any]:
        message = self._message_in(self._channel(channel_id), message_id)
        if int(message["author"]["id"]) != self.bot_user.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body = self._message_body(call, partial=True)
        return 200, self._rest_message(self._edit_message(message, body, call.files))

    async def _h_delete_message(self, call: RestCall, channel_id: str, message_id: str) -> tuple[int, Any]:
        self._delete_message(self._message_in(self._channel(channel_id), message_id))
        return 204, None

    async def _h_reaction(
        self, call: RestCall, channel_id: str, message_id: str, emoji: str
    ) -> tuple[int, Any]:
        self._message_in(self._channel(channel_id), message_id)
        return 204, None

    async def _h_typing(self, call: RestCall, channel_id: str) -> tuple[int, Any]:
        self._channel(channel_id, PERM_VIEW_CHANNEL | PERM_SEND_MESSAGES)
        return 204, None

    async def _h_guild(self, call: RestCall, guild_id: str) -> tuple[int, Any]:
        guild = self._guild(guild_id)
        data = self._guild_payload(guild)
        if call.query.get("with_counts") in ("1", "true", "True"):
            data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
        return 200, data

    async def _h_guild_channels(self, call: RestCall, guild_id: str) -> tuple[int, Any]:
        return 200, [c.payload() for c in self._guild(guild_id).channels.values()]

    async def _h_guild_roles(self, call: RestCall, guild_id: str) -> tuple[int, Any]:
        return 200, [r.payload() for r in self._guild(guild_id).roles.values()]

    async def _h_guild_members(self, call: RestCall, guild_id: str) -> tuple[int, Any]:
        guild = self._guild(guild_id)
        limit = max(1, min(1000, _as_int(call.query.get("limit")) or 1))
        after = _as_int(call.query.get("after")) or 0
        members = sorted((m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id)
        return 200, [m.payload(self.users[m.user_id]) for m in members[:limit]]

    async def _h_search_members(self, call: RestCall, guild_id: str) -> tuple[int, Any]:
        guild = self._guild(guild_id)
        query = (call.query.get("query") or "").lower()
        limit = max(1, min(1000, _as_int(call.query.get("limit")) or 1))
        found = [
            m
            for m in guild.members.values()
            if self.users[m.user_id].name.lower().startswith(query)
            or (m.nick or "").lower().startswith(query)
        ]
        return 200, [m.payload(self.users[m.user_id]) for m in found[:limit]]

    async def _h_guild_member(self, call: RestCall, guild_id: str, user_id: str) -> tuple[int, Any]:
        guild = self._guild(guild_id)
        member = guild.members.get(_as_int(user_id) or 0)
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return 200, member.payload(self.users[member.user_id])
