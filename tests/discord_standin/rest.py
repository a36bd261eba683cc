"""REST plumbing: routing, bodies, spec checks, rate limits, permissions and lookups."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from . import spec as openapi
from . import validation as v
from .model import (
    PERM_VIEW_CHANNEL,
    Channel,
    Guild,
    channel_permissions,
)
from .protocol import (
    API_PREFIX,
    ApiError,
    _as_int,
    _dumps,
)
from .records import (
    InteractionHandle,
    RestCall,
    UploadedFile,
)

_log = logging.getLogger("tests.discord_standin.server")


class RestMixin:
    """Part of :class:`.server.DiscordStandIn`."""

    # ------------------------------------------------------------------ REST plumbing

    def _build_routes(self) -> list[tuple[str, str, re.Pattern[str], Callable[..., Any], bool]]:
        table: list[tuple[str, str, Callable[..., Any], bool]] = [
            # (method, template, handler, needs bot auth)
            ("GET", "/gateway", self._h_gateway, False),
            ("GET", "/gateway/bot", self._h_gateway_bot, True),
            ("GET", "/users/@me", self._h_me, True),
            ("POST", "/users/@me/channels", self._h_create_dm, True),
            ("GET", "/users/{user_id}", self._h_user, True),
            ("GET", "/oauth2/applications/@me", self._h_application, True),
            ("GET", "/applications/@me", self._h_application, True),
            ("GET", "/applications/{application_id}/commands", self._h_list_commands, True),
            ("PUT", "/applications/{application_id}/commands", self._h_put_commands, True),
            ("POST", "/applications/{application_id}/commands", self._h_upsert_command, True),
            ("GET", "/applications/{application_id}/commands/{command_id}", self._h_get_command, True),
            ("PATCH", "/applications/{application_id}/commands/{command_id}", self._h_patch_command, True),
            ("DELETE", "/applications/{application_id}/commands/{command_id}", self._h_delete_command, True),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands/permissions",
                self._h_command_permissions,
                True,
            ),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._h_list_commands, True),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._h_put_commands, True),
            (
                "POST",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._h_upsert_command,
                True,
            ),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
                self._h_get_command,
                True,
            ),
            (
                "PATCH",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
                self._h_patch_command,
                True,
            ),
            (
                "DELETE",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
                self._h_delete_command,
                True,
            ),
            # Interaction callbacks and follow-ups authenticate by token, not by bot token.
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._h_callback, False),
            ("POST", "/webhooks/{application_id}/{token}", self._h_followup, False),
            ("GET", "/webhooks/{application_id}/{token}/messages/{message_id}", self._h_webhook_get, False),
            (
                "PATCH",
                "/webhooks/{application_id}/{token}/messages/{message_id}",
                self._h_webhook_edit,
                False,
            ),
            (
                "DELETE",
                "/webhooks/{application_id}/{token}/messages/{message_id}",
                self._h_webhook_delete,
                False,
            ),
            ("GET", "/channels/{channel_id}", self._h_channel, True),
            ("GET", "/channels/{channel_id}/messages", self._h_history, True),
            ("POST", "/channels/{channel_id}/messages", self._h_post_message, True),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._h_get_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._h_edit_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._h_delete_message, True),
            (
                "PUT",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self._h_reaction,
                True,
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self._h_reaction,
                True,
            ),
            ("POST", "/channels/{channel_id}/typing", self._h_typing, True),
            ("GET", "/guilds/{guild_id}", self._h_guild, True),
            ("GET", "/guilds/{guild_id}/channels", self._h_guild_channels, True),
            ("GET", "/guilds/{guild_id}/roles", self._h_guild_roles, True),
            ("GET", "/guilds/{guild_id}/members", self._h_guild_members, True),
            ("GET", "/guilds/{guild_id}/members/search", self._h_search_members, True),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._h_guild_member, True),
        ]
        routes = []
        for method, template, handler, auth in table:
            pattern = "".join(
                f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{\w+\})", template)
            )
            routes.append((method, template, re.compile(f"^{pattern}$"), handler, auth))
        return routes

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile], bool]:
        files: list[UploadedFile] = []
        body: Any = None
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part is None:
                    break
                if getattr(part, "filename", None):
                    files.append(
                        UploadedFile(
                            part.name or "",
                            part.filename,
                            part.headers.get("Content-Type"),
                            bytes(await part.read()),
                        )
                    )
                elif part.name == "payload_json":
                    try:
                        body = json.loads(await part.text())
                    except ValueError:
                        return None, files, False
            return body, files, True
        if request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return raw.decode("utf-8", "replace"), files, False
        return body, files, True

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        received_at = time.perf_counter()
        raw_path = request.rel_url.raw_path
        api_path = raw_path[len(API_PREFIX) :] if raw_path.startswith(API_PREFIX + "/") else None
        body, files, body_ok = await self._read_body(request)
        call = RestCall(
            method=request.method,
            path=unquote(api_path if api_path is not None else raw_path),
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            received_at=received_at,
        )
        match = None
        out_headers: dict[str, str] = {}
        if api_path is not None:
            for method, template, pattern, handler, auth in self._routes:
                if method != request.method:
                    continue
                m = pattern.match(api_path)
                if m is not None:
                    match = (template, handler, {k: unquote(x) for k, x in m.groupdict().items()}, auth)
                    break
        if match is None:
            self.unknown_routes.append(f"{request.method} {call.path}")
            call.status, call.response = 404, {"message": "404: Not Found", "code": 0}
        else:
            template, handler, params, auth = match
            call.route = f"{request.method} {template}"
            try:
                if auth and request.headers.get("Authorization") != f"Bot {self.token}":
                    raise ApiError(401, 0, "401: Unauthorized")
                if not body_ok:
                    raise ApiError(400, 50109, "The request body contains invalid JSON.")
                self._check_spec(call, api_path or "")
                limited = self.rate_limits.check(call.route, params)
                if limited is not None:
                    call.status, call.response, out_headers = limited
                else:
                    call.status, call.response = await handler(call, **params)
                    out_headers = self.rate_limits.headers(call.route, params)
            except ApiError as exc:
                call.status, call.response = exc.status, exc.body
            except Exception as exc:
                # A stand-in bug must fail fast and loudly; a 5xx would make discord.py
                # retry for many seconds and look like a Discord outage.
                _log.exception("stand-in handler failed for %s", call.route)
                self.internal_errors.append(f"{call.route}: {exc!r}")
                call.status, call.response = 400, {"message": f"stand-in internal error: {exc!r}", "code": 0}
        self._record(call)
        if call.response is None:
            return web.Response(status=call.status, headers=out_headers)
        # discord.py only parses JSON when the header is exactly "application/json".
        return web.Response(
            status=call.status,
            body=_dumps(call.response).encode(),
            headers={"Content-Type": "application/json", **out_headers},
        )

    def _check_spec(self, call: RestCall, api_path: str) -> None:
        """Refuse a body Discord's own schema refuses, as Discord does (50035)."""
        if self.spec is None:
            return
        errors = self.spec.request_errors(call.method, api_path.split("?")[0], call.json)
        if errors is None:
            return
        self.spec_checked += 1
        openapi.TOTALS["requests"] += 1
        if errors:
            self.spec_refused.append(f"{call.method} {call.path}: {errors[:3]}")
            raise ApiError(400, 50035, "Invalid Form Body",
                           {"_errors": [{"code": "SPEC", "message": e} for e in errors[:5]]})

    def _check_response(self, call: RestCall) -> None:
        if self.spec is None or call.route is None:
            return
        path = call.path.split("?")[0]
        errors = self.spec.response_errors(call.method, path, call.status, call.response)
        if errors is None:
            return
        self.spec_responses_checked += 1
        openapi.TOTALS["responses"] += 1
        if errors:
            self.spec_response_errors.append(f"{call.method} {call.path} {call.status}: {errors[:3]}")


    def _record(self, call: RestCall) -> None:
        self._check_response(call)
        self.calls.append(call)
        if call.status >= 400:
            self.errors.append(call)
        if call.interaction is not None:
            call.interaction.calls.append(call)
        self._notify()

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        upload = self._attachments.get(_as_int(request.match_info["attachment_id"]) or 0)
        if upload is None:
            return web.Response(status=404)
        return web.Response(body=upload.data, content_type=upload.content_type or "application/octet-stream")

    # ------------------------------------------------------------------ REST lookups

    def _channel(self, channel_id: str, need: int = PERM_VIEW_CHANNEL) -> Channel:
        """The channel, if the bot may do what `need` says there (50001/50013 as on Discord)."""
        channel = self.channels.get(_as_int(channel_id) or 0)
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        guild = self._guild_of(channel.id)
        if guild is not None:
            perms = channel_permissions(guild, channel, self.bot_user.id)
            if not perms & PERM_VIEW_CHANNEL:
                raise ApiError(403, 50001, "Missing Access")
            if need & ~perms:
                raise ApiError(403, 50013, "Missing Permissions")
        return channel

    def _guild(self, guild_id: str) -> Guild:
        guild = self.guilds.get(_as_int(guild_id) or 0)
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    def _message_in(self, channel: Channel, message_id: str) -> dict[str, Any]:
        message = self.messages.get(_as_int(message_id) or 0)
        if message is None or int(message["channel_id"]) != channel.id or message["flags"] & v.FLAG_EPHEMERAL:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    def _app(self, application_id: str) -> None:
        if _as_int(application_id) != self.application_id:
            raise ApiError(403, 50001, "Missing Access")

    def _scope(self, guild_id: str | None) -> int | None:
        if guild_id is None:
            return None
        gid = _as_int(guild_id)
        if gid not in self.guilds:
            raise ApiError(403, 50001, "Missing Access")
        return gid

    def _handle(self, token: str, application_id: str | None = None, *, call: RestCall | None = None,
                kind: str = "") -> InteractionHandle:
        handle = self._by_token.get(token)
        if handle is None or (application_id is not None and _as_int(application_id) != self.application_id):
            raise ApiError(404, 10015, "Unknown Webhook")
        if call is not None:
            call.interaction, call.kind = handle, kind
        if time.perf_counter() - handle.created_at > self.token_lifetime:
            # Interaction tokens are valid for 15 minutes.
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return handle
