"""A local stand-in for Discord's gateway and REST API, good enough for unmodified discord.py.

The stand-in runs an aiohttp server on 127.0.0.1 (never anything else) that speaks
API v10: a JSON gateway websocket (HELLO, IDENTIFY → READY + GUILD_CREATE,
heartbeats, RESUME with replay by sequence number) and the REST routes a bot uses.
Tests seed a world (guilds, channels, roles, members), inject what users do
(messages, slash commands, button presses, modal submits, autocomplete) and assert
on every REST call the bot made. It refuses what Discord refuses (limits, double
acknowledgements, late responses) so that tests passing here mean something.

Typical use::

    standin = DiscordStandIn()
    guild = standin.add_guild("Commons")
    channel = standin.add_channel(guild, "general")
    standin.add_member(guild, 42, "alice")
    await standin.start()
    with point_discord_py_at(standin):
        ...  # start a discord.Client with token=standin.token
        handle = await standin.send_command("ping", channel_id=channel, user_id=42)
        reply = await handle.response(timeout=5)
        assert reply.json["data"]["content"] == "pong"
    await standin.stop()
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import secrets
import socket
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from . import spec as openapi
from . import validation as v
from .model import (
    APP_FLAG_GATEWAY_GUILD_MEMBERS,
    APP_FLAG_GATEWAY_MESSAGE_CONTENT,
    APP_FLAG_GATEWAY_PRESENCE,
    CHANNEL_DM,
    CHANNEL_GUILD_TEXT,
    DEFAULT_EVERYONE_PERMISSIONS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_PRESENCES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    PERM_ADMINISTRATOR,
    PERM_MENTION_EVERYONE,
    PERM_READ_MESSAGE_HISTORY,
    PERM_SEND_MESSAGES,
    PERM_VIEW_CHANNEL,
    PRIVILEGED_INTENTS,
    Channel,
    Guild,
    Member,
    Role,
    SnowflakeFactory,
    User,
    channel_permissions,
    iso,
)
from .ratelimit import RateLimits

__all__ = [
    "Delivery",
    "DiscordStandIn",
    "GatewayFrame",
    "GatewaySession",
    "InteractionHandle",
    "RestCall",
    "ResumeRecord",
    "UploadedFile",
]

_log = logging.getLogger(__name__)

# Waiting methods take ``timeout=`` (ruff's ASYNC109 is silenced on them): tests read
# best as ``await handle.response(timeout=5)``, with the bound right at the wait.

API_PREFIX = "/api/v10"
HOST = "127.0.0.1"
T = TypeVar("T")

# Gateway opcodes.
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

# Interaction types and the callback types Discord accepts for each of them.
INTERACTION_PING = 1
INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_MESSAGE_COMPONENT = 3
INTERACTION_AUTOCOMPLETE = 4
INTERACTION_MODAL_SUBMIT = 5
CALLBACK_PONG = 1
CALLBACK_CHANNEL_MESSAGE = 4
CALLBACK_DEFERRED_CHANNEL_MESSAGE = 5
CALLBACK_DEFERRED_UPDATE_MESSAGE = 6
CALLBACK_UPDATE_MESSAGE = 7
CALLBACK_AUTOCOMPLETE_RESULT = 8
CALLBACK_MODAL = 9
CALLBACK_LAUNCH_ACTIVITY = 12
_ALLOWED_CALLBACKS = {
    INTERACTION_PING: {CALLBACK_PONG},
    INTERACTION_APPLICATION_COMMAND: {4, 5, 9, 12},
    INTERACTION_MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 12},
    INTERACTION_AUTOCOMPLETE: {8},
    INTERACTION_MODAL_SUBMIT: {4, 5, 6, 7},
}

# Close codes the gateway uses (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

# Option types whose value is a snowflake resolved in ``data.resolved``.
OPTION_STRING, OPTION_INTEGER, OPTION_BOOLEAN = 3, 4, 5
OPTION_USER, OPTION_CHANNEL, OPTION_ROLE, OPTION_MENTIONABLE = 6, 7, 8, 9
OPTION_NUMBER, OPTION_ATTACHMENT = 10, 11

# Message types.
MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19
MESSAGE_CHAT_INPUT_COMMAND = 20
MESSAGE_CONTEXT_MENU_COMMAND = 23

_USER_MENTION_RE = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ApiError(Exception):
    """Raised by REST handlers to answer with a Discord-style error body."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors is not None:
            self.body["errors"] = errors

    @classmethod
    def from_body(cls, status: int, body: dict[str, Any]) -> ApiError:
        """Build an error from a body produced by :mod:`validation`."""
        return cls(status, body.get("code", 0), body.get("message", ""), body.get("errors"))


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    field_name: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class RestCall:
    """One REST request the bot made, as the stand-in received and answered it.

    Attributes:
        method: HTTP method.
        path: Path below ``/api/v10``, percent-decoded (e.g. ``/channels/1/messages``).
        query: Query string parameters.
        json: Parsed JSON body; for multipart bodies the parsed ``payload_json``.
        files: Uploaded files of a multipart body.
        headers: Request headers.
        received_at: ``time.perf_counter()`` when the request arrived.
        route: Matched route template such as ``POST /channels/{channel_id}/messages``;
            None for unknown routes.
        status: HTTP status the stand-in answered with.
        response: JSON body the stand-in answered with (None for 204).
        interaction: The interaction this call belongs to (callbacks, follow-ups, edits).
        kind: For interaction calls: ``callback``, ``followup``, ``edit``, ``get`` or ``delete``.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    headers: dict[str, str]
    received_at: float
    route: str | None = None
    status: int = 0
    response: Any = None
    interaction: InteractionHandle | None = None
    kind: str | None = None

    @property
    def ok(self) -> bool:
        """True when the stand-in accepted the call (2xx)."""
        return 200 <= self.status < 300

    @property
    def data(self) -> dict[str, Any]:
        """The ``data`` member of an interaction callback body (empty dict if absent)."""
        if isinstance(self.json, dict) and isinstance(self.json.get("data"), dict):
            return self.json["data"]
        return {}

    def __repr__(self) -> str:
        body = _dumps(self.json)
        if len(body) > 300:
            body = body[:300] + "…"
        return f"<RestCall {self.method} {self.path} -> {self.status} {body}>"


@dataclass
class GatewayFrame:
    """A frame the bot sent on the gateway."""

    op: int | None
    data: Any
    received_at: float
    connection_id: int


@dataclass
class ResumeRecord:
    """The outcome of one RESUME attempt."""

    session_id: str | None
    seq: int | None
    ok: bool
    replayed: int
    at: float


@dataclass
class _OutFrame:
    seq: int
    event: str
    text: str
    handle: InteractionHandle | None


@dataclass
class Delivery:
    """One write of an INTERACTION_CREATE frame to a gateway socket (replays included)."""

    session_id: str
    seq: int
    connection_id: int
    at: float


@dataclass(eq=False)
class GatewaySession:
    """A gateway session: what IDENTIFY created and RESUME continues.

    Every dispatch is kept so that a RESUME can replay what the client missed.

    Attributes:
        id: The ``session_id`` sent in READY.
        intents: Intents from IDENTIFY; they filter which events the session gets.
        identify: The IDENTIFY payload (token included; it is a fake).
        shard: ``[shard_id, shard_count]``.
        closed: True once the session can no longer be resumed.
    """

    id: str
    intents: int
    identify: dict[str, Any] = field(repr=False)
    shard: tuple[int, int] = (0, 1)
    closed: bool = False
    frames: list[_OutFrame] = field(default_factory=list, repr=False)
    connection: _Connection | None = field(default=None, repr=False)

    @property
    def seq(self) -> int:
        """Sequence number of the last dispatch queued for this session."""
        return len(self.frames)

    @property
    def connected(self) -> bool:
        """Whether a socket currently carries this session."""
        return self.connection is not None

    def push(self, event: str, data: Any, handle: InteractionHandle | None = None) -> int:
        """Queue a dispatch for this session and return its sequence number.

        Tests normally use the stand-in's injection methods; this is for events
        those do not cover (the frame is delivered now, or replayed on RESUME).
        """
        # Frames are serialised once, on enqueue, so the order is fixed before any await.
        seq = len(self.frames) + 1
        text = _dumps({"op": OP_DISPATCH, "t": event, "s": seq, "d": data})
        self.frames.append(_OutFrame(seq, event, text, handle))
        if self.connection is not None:
            self.connection.wakeup.set()
        return seq


@dataclass(eq=False)
class _Connection:
    id: int
    ws: web.WebSocketResponse
    path: str
    query: dict[str, str]
    opened_at: float
    session: GatewaySession | None = None
    cursor: int = 0
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    writer: asyncio.Task[None] | None = None
    closed_by_server: bool = False
    close_code: int | None = None
    # `compress=zlib-stream`: one zlib context for the socket's life, each frame ending in
    # Z_SYNC_FLUSH (the 00 00 ff ff suffix clients wait for), as Discord sends them.
    zlib: Any = None

    async def send(self, text: str) -> None:
        """Send one gateway payload, compressed when the client asked for it."""
        if self.zlib is None:
            await self.ws.send_str(text)
        else:
            await self.ws.send_bytes(self.zlib.compress(text.encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH))


class InteractionHandle:
    """An interaction injected into the gateway, and everything the bot did with it.

    Attributes:
        id: Interaction id.
        token: Interaction token (also the webhook token of follow-ups).
        type: Interaction type (2 command, 3 component, 4 autocomplete, 5 modal submit).
        payload: The INTERACTION_CREATE ``d`` as dispatched.
        channel_id: Channel the interaction happened in.
        user_id: The user who triggered it.
        guild_id: Guild, or None in DMs.
        source_message_id: For components and modal submits from a component: the message.
        created_at: ``perf_counter()`` when the interaction was injected.
        sent_at: ``perf_counter()`` when the frame was first written to a bot socket.
        deliveries: Every write of the frame (a replay after RESUME adds one).
        calls: Every REST call made with this interaction's id or token.
        response_type: Callback type of the accepted callback, None until answered.
        original_message_id: Message created (4, 5) or targeted (6, 7) by the callback.
        followup_message_ids: Messages created by follow-ups.
        modal: The modal the bot opened (callback type 9).
        choices: The autocomplete choices (callback type 8).
    """

    def __init__(
        self,
        standin: DiscordStandIn,
        payload: dict[str, Any],
        *,
        channel_id: int,
        user_id: int,
        guild_id: int | None,
        source_message_id: int | None,
    ) -> None:
        self._standin = standin
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.channel_id = channel_id
        self.user_id = user_id
        self.guild_id = guild_id
        self.source_message_id = source_message_id
        self.triggering: InteractionHandle | None = None  # a modal submit's opening interaction
        self.created_at = time.perf_counter()
        self.sent_at: float | None = None
        self.deliveries: list[Delivery] = []
        self.calls: list[RestCall] = []
        self.response_type: int | None = None
        self.original_message_id: int | None = None
        self.followup_message_ids: list[int] = []
        self.modal: dict[str, Any] | None = None
        self.choices: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        name = (self.payload.get("data") or {}).get("name") or (self.payload.get("data") or {}).get(
            "custom_id"
        )
        return (
            f"<InteractionHandle id={self.id} type={self.type} {name!r} response_type={self.response_type}>"
        )

    def _of_kind(self, kind: str) -> list[RestCall]:
        return [c for c in self.calls if c.kind == kind]

    @property
    def callbacks(self) -> list[RestCall]:
        """Every ``POST /interactions/{id}/{token}/callback`` (a second one is refused)."""
        return self._of_kind("callback")

    @property
    def followups(self) -> list[RestCall]:
        """Every ``POST /webhooks/{app}/{token}``."""
        return self._of_kind("followup")

    @property
    def edits(self) -> list[RestCall]:
        """Every ``PATCH /webhooks/{app}/{token}/messages/...``."""
        return self._of_kind("edit")

    @property
    def delivered(self) -> bool:
        """Whether the INTERACTION_CREATE frame reached a bot socket."""
        return self.sent_at is not None

    @property
    def latency(self) -> float | None:
        """Seconds from delivery to the first callback, None until both happened."""
        callbacks = self.callbacks
        if self.sent_at is None or not callbacks:
            return None
        return callbacks[0].received_at - self.sent_at

    @property
    def original_message(self) -> dict[str, Any] | None:
        """Current state of the original response message (None if none, or deleted)."""
        if self.original_message_id is None:
            return None
        return self._standin.messages.get(self.original_message_id)

    async def _nth(self, kind: str, index: int, timeout: float, require_ok: bool) -> RestCall:  # noqa: ASYNC109
        def ready() -> RestCall | None:
            calls = self._of_kind(kind)
            return calls[index] if len(calls) > index else None

        call = await self._standin.wait_until(
            ready, timeout=timeout, description=f"{kind} #{index} of {self!r}"
        )
        if require_ok and not call.ok:
            raise AssertionError(
                f"the stand-in refused the {kind} of {self!r}: {call.status} {call.response}"
            )
        return call

    async def response(self, timeout: float = 5.0, *, require_ok: bool = True) -> RestCall:  # noqa: ASYNC109
        """Wait for the interaction callback (the bot's answer).

        Args:
            timeout: Seconds to wait.
            require_ok: Raise AssertionError if the stand-in refused the callback
                (e.g. too late, invalid body, already acknowledged).

        Returns:
            The first callback call; ``call.json`` is ``{"type": ..., "data": ...}``.

        Raises:
            TimeoutError: No callback arrived in time.
        """
        return await self._nth("callback", 0, timeout, require_ok)

    async def followup(self, index: int = 0, timeout: float = 5.0, *, require_ok: bool = True) -> RestCall:  # noqa: ASYNC109
        """Wait for the ``index``-th follow-up message (``POST /webhooks/{app}/{token}``)."""
        return await self._nth("followup", index, timeout, require_ok)

    async def edit(self, index: int = 0, timeout: float = 5.0, *, require_ok: bool = True) -> RestCall:  # noqa: ASYNC109
        """Wait for the ``index``-th edit of the original response or of a follow-up."""
        return await self._nth("edit", index, timeout, require_ok)


class DiscordStandIn:
    """Discord's gateway and REST API v10, served on 127.0.0.1 for discord.py.

    Args:
        token: The bot token the stand-in accepts (REST ``Authorization: Bot …`` and IDENTIFY).
        bot_name: Username of the bot user.
        bot_user_id: The bot's user id; also the application id, as for any modern app.
        heartbeat_interval_ms: Sent in HELLO.
        interaction_deadline: Seconds after delivery within which Discord accepts the
            initial callback (3 s on Discord, from the interaction's creation); later
            callbacks get ``10062 Unknown interaction``. None disables the check.
        token_lifetime: Seconds an interaction token works for follow-ups and edits
            (15 minutes on Discord); later calls get ``401 50027 Invalid Webhook Token``.
        bot_permissions: Permissions of the bot's managed role in every guild.
            Administrator by default, so that a careless ``@everyone`` really pings.
        privileged_intents: Privileged intents enabled in the (fake) developer portal;
            IDENTIFY asking for others is closed with 4014, as on Discord.
    """

    def __init__(
        self,
        *,
        token: str = "standin.bot.token",
        bot_name: str = "Commons Bot",
        bot_user_id: int | None = None,
        heartbeat_interval_ms: int = 41250,
        interaction_deadline: float | None = 3.0,
        token_lifetime: float = 15 * 60,
        bot_permissions: int = PERM_ADMINISTRATOR,
        privileged_intents: int = PRIVILEGED_INTENTS,
    ) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_deadline = interaction_deadline
        self.token_lifetime = token_lifetime
        # Off unless a test sets limits: `standin.rate_limits.routes[route] = (5, 5.0)`.
        self.rate_limits = RateLimits()
        self.closed_dms: set[int] = set()
        # False withholds HEARTBEAT_ACKs: a client must then treat its connection as a zombie.
        self.ack_heartbeats = True
        self._nonces: dict[tuple[int, int, str], int] = {}
        self.bot_permissions = bot_permissions
        self.privileged_intents = privileged_intents
        self._ids = SnowflakeFactory()
        self.bot_user = User(bot_user_id or self._ids.next(), bot_name, bot=True)
        self.application_id = self.bot_user.id

        # World.
        self.users: dict[int, User] = {self.bot_user.id: self.bot_user}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self._channel_message_ids: dict[int, list[int]] = {}
        self._dm_by_user: dict[int, int] = {}
        self._commands: dict[int | None, dict[tuple[str, int], dict[str, Any]]] = {}
        self._attachments: dict[int, UploadedFile] = {}

        # Records.
        self.calls: list[RestCall] = []
        self.unknown_routes: list[str] = []
        self.errors: list[RestCall] = []
        self.internal_errors: list[str] = []
        self.gateway_received: list[GatewayFrame] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[ResumeRecord] = []
        self.sessions: list[GatewaySession] = []
        self.connections: list[_Connection] = []
        self.interactions: dict[int, InteractionHandle] = {}
        # Discord's OpenAPI specification: every request body is checked against it.
        self.spec = openapi.load()
        self.spec_checked = 0
        self.spec_refused: list[str] = []
        self.spec_responses_checked = 0
        self.spec_response_errors: list[str] = []
        self._by_token: dict[str, InteractionHandle] = {}

        self._live: set[_Connection] = set()
        self._conn_ids = itertools.count(1)
        self._gate = asyncio.Event()
        self._gate.set()
        self._waiters: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The TCP port (only after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the stand-in is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base HTTP URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{HOST}:{self.port}"

    @property
    def api_base(self) -> str:
        """What discord.py's ``Route.BASE`` must be set to."""
        return f"{self.url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be set to (and ``/gateway`` returns)."""
        return f"ws://{HOST}:{self.port}/"

    @property
    def resume_gateway_url(self) -> str:
        """Sent in READY; a distinct path so tests can see discord.py resumed *there*."""
        return f"ws://{HOST}:{self.port}/resume"

    async def start(self) -> None:
        """Serve on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self._gateway)
        app.router.add_get("/resume", self._gateway)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        # access_log=None: one log line per request would dominate latency benches.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self._port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()

    async def stop(self) -> None:
        """Close every gateway socket and stop serving."""
        self._gate.set()
        for conn in list(self._live):
            conn.closed_by_server = True
            self._detach(conn)
            await self._close_ws(conn.ws, 1001, b"stand-in stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for _, fut in self._waiters:
            if not fut.done():
                fut.cancel()

    async def __aenter__(self) -> DiscordStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

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

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        for predicate, fut in list(self._waiters):
            if fut.done():
                continue
            try:
                value = predicate()
            except Exception as exc:  # surface a broken predicate in the waiting test
                fut.set_exception(exc)
                continue
            if value:
                fut.set_result(value)

    async def wait_until(
        self,
        predicate: Callable[[], T | None],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        description: str = "a condition",
    ) -> T:
        """Wait until ``predicate()`` returns something truthy, and return it.

        The predicate is re-evaluated whenever the stand-in's state changes (a REST
        call, a gateway frame in or out), so no polling is involved.

        Raises:
            TimeoutError: With a summary of recent traffic, to make failures readable.
        """
        value = predicate()
        if value:
            return value
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise TimeoutError(f"stand-in: no {description} within {timeout}s.\n{self.describe()}") from None
        finally:
            self._waiters.remove(entry)

    def mark(self) -> int:
        """Index of the next REST call, to pass as ``since`` to :meth:`wait_for_call`."""
        return len(self.calls)

    def calls_to(self, route: str | None = None, *, since: int = 0) -> list[RestCall]:
        """REST calls matching a route template like ``POST /channels/{channel_id}/messages``."""
        return [c for c in self.calls[since:] if route is None or c.route == route]

    async def wait_for_call(
        self,
        route: str | None = None,
        *,
        predicate: Callable[[RestCall], bool] | None = None,
        since: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> RestCall:
        """Wait for a REST call (past ones from index ``since`` count too).

        Args:
            route: Route template to match, e.g. ``POST /channels/{channel_id}/messages``.
            predicate: Extra condition on the call.
            since: Ignore calls before this index (see :meth:`mark`).
            timeout: Seconds to wait.
        """

        def find() -> RestCall | None:
            for call in self.calls[since:]:
                if (route is None or call.route == route) and (predicate is None or predicate(call)):
                    return call
            return None

        return await self.wait_until(find, timeout=timeout, description=f"REST call {route or ''}")

    def describe(self, last: int = 15) -> str:
        """A human summary of recent traffic, used in timeout messages."""
        lines = [f"sessions: {[(s.id[:8], s.seq, s.connected, s.closed) for s in self.sessions]}"]
        if self.unknown_routes:
            lines.append(f"unknown routes: {self.unknown_routes}")
        if self.internal_errors:
            lines.append(f"stand-in internal errors: {self.internal_errors}")
        lines.append(f"last {last} REST calls:")
        lines.extend(f"  {c!r}" for c in self.calls[-last:])
        return "\n".join(lines)

    # ------------------------------------------------------------------ gateway control

    def hold_connections(self) -> None:
        """Make new gateway connections wait before HELLO (to inject while the bot is away)."""
        self._gate.clear()

    def release_connections(self) -> None:
        """Let held gateway connections proceed."""
        self._gate.set()

    async def disconnect_all(self, code: int = 4000, *, invalidate: bool = False) -> None:
        """Close every gateway socket with ``code``.

        Sessions stay resumable (what Discord does on most disconnects), so the client
        RESUMEs and gets what it missed replayed. With ``invalidate=True`` sessions are
        dropped and RESUME is answered with INVALID_SESSION, forcing a new IDENTIFY.
        """
        if invalidate:
            for session in self.sessions:
                session.closed = True
        for conn in list(self._live):
            conn.closed_by_server = True
            # Detach first: nothing queued from now on may go to a socket being closed.
            self._detach(conn)
            await self._close_ws(conn.ws, code, b"stand-in disconnect")

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT on every socket (the client closes and RESUMEs)."""
        for conn in list(self._live):
            if conn.session is not None:
                await conn.send(_dumps({"op": OP_RECONNECT, "d": None, "s": None, "t": None}))

    @property
    def live_sessions(self) -> list[GatewaySession]:
        """Sessions that still receive events (connected or resumable)."""
        return [s for s in self.sessions if not s.closed]

    async def _close_ws(self, ws: web.WebSocketResponse, code: int, message: bytes) -> None:
        try:
            await ws.close(code=code, message=message)
        except (ConnectionError, RuntimeError):  # already gone: nothing left to close
            pass

    def _dispatch(
        self,
        event: str,
        data: Any,
        *,
        intent: int = 0,
        sessions: Iterable[GatewaySession] | None = None,
        handle: InteractionHandle | None = None,
        transform: Callable[[GatewaySession], Any] | None = None,
    ) -> int:
        count = 0
        for session in list(sessions if sessions is not None else self.sessions):
            if session.closed or (intent and not session.intents & intent):
                continue
            payload = transform(session) if transform is not None else data
            if payload is None:
                continue
            session.push(event, payload, handle)
            count += 1
        return count

    # ------------------------------------------------------------------ gateway socket

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0, timeout=2.0)
        await ws.prepare(request)
        conn = _Connection(next(self._conn_ids), ws, request.path, dict(request.query), time.perf_counter())
        if conn.query.get("compress") == "zlib-stream":
            conn.zlib = zlib.compressobj()
        self.connections.append(conn)
        self._live.add(conn)
        try:
            await self._gate.wait()
            if ws.closed:
                return ws
            await conn.send(
                _dumps(
                    {
                        "op": OP_HELLO,
                        "d": {
                            "heartbeat_interval": self.heartbeat_interval_ms,
                            "_trace": ["discord-standin"],
                        },
                        "s": None,
                        "t": None,
                    }
                )
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await self._close_ws(ws, CLOSE_DECODE_ERROR, b"Error while decoding payload.")
                        break
                    await self._on_frame(conn, frame)
                elif msg.type is WSMsgType.BINARY:
                    # Only JSON text frames are spoken here; ETF or compressed sends are a client bug.
                    await self._close_ws(ws, CLOSE_DECODE_ERROR, b"Error while decoding payload.")
                    break
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self._live.discard(conn)
            conn.close_code = ws.close_code
            session = conn.session
            # A client closing with 1000/1001 ends its session, as on Discord; any other
            # way of losing the socket leaves it resumable.
            if session is not None and not conn.closed_by_server and ws.close_code in (1000, 1001):
                session.closed = True
            self._detach(conn)
            self._notify()
        return ws

    def _attach(self, conn: _Connection, session: GatewaySession, cursor: int) -> None:
        previous = session.connection
        if previous is not None and previous is not conn:
            # A RESUME while an old socket still carries the session: the old one is a zombie.
            previous.closed_by_server = True
            self._detach(previous)
            asyncio.get_running_loop().create_task(
                self._close_ws(previous.ws, 4000, b"session resumed elsewhere")
            )
        conn.session = session
        conn.cursor = cursor
        session.connection = conn
        conn.writer = asyncio.get_running_loop().create_task(self._writer(conn, session))

    def _detach(self, conn: _Connection) -> None:
        session = conn.session
        if session is not None and session.connection is conn:
            session.connection = None
        conn.session = None
        conn.wakeup.set()

    async def _writer(self, conn: _Connection, session: GatewaySession) -> None:
        # One writer per socket drains the session's frames in sequence order; a
        # cursor (not a queue) lets RESUME restart from any sequence number.
        ws = conn.ws
        try:
            while conn.session is session and not ws.closed:
                if conn.cursor < len(session.frames):
                    frame = session.frames[conn.cursor]
                    conn.cursor += 1
                    handle = frame.handle
                    if handle is not None:
                        now = time.perf_counter()
                        if handle.sent_at is None:
                            handle.sent_at = now
                        handle.deliveries.append(Delivery(session.id, frame.seq, conn.id, now))
                    await conn.send(frame.text)
                    if handle is not None:
                        self._notify()
                    continue
                conn.wakeup.clear()
                await conn.wakeup.wait()
        except (ConnectionError, RuntimeError):
            pass  # the socket went away; a RESUME will replay from the client's sequence

    async def _on_frame(self, conn: _Connection, frame: Any) -> None:
        op = frame.get("op") if isinstance(frame, dict) else None
        data = frame.get("d") if isinstance(frame, dict) else None
        self.gateway_received.append(GatewayFrame(op, data, time.perf_counter(), conn.id))
        if op == OP_HEARTBEAT:
            if self.ack_heartbeats:
                await conn.send(_dumps({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None}))
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})
        elif op == OP_REQUEST_GUILD_MEMBERS:
            self._request_members(conn, data or {})
        elif op in (OP_PRESENCE_UPDATE, OP_VOICE_STATE_UPDATE):
            pass  # recorded above; nothing in the stand-in depends on them
        else:
            await self._close_ws(conn.ws, CLOSE_UNKNOWN_OPCODE, b"Unknown opcode.")
        self._notify()

    async def _identify(self, conn: _Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            await self._close_ws(conn.ws, CLOSE_ALREADY_AUTHENTICATED, b"Already authenticated.")
            return
        if data.get("token") != self.token:
            await self._close_ws(conn.ws, CLOSE_AUTHENTICATION_FAILED, b"Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await self._close_ws(conn.ws, CLOSE_INVALID_INTENTS, b"Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await self._close_ws(conn.ws, CLOSE_DISALLOWED_INTENTS, b"Disallowed intent(s).")
            return
        shard = data.get("shard") or [0, 1]
        session = GatewaySession(uuid.uuid4().hex, intents, data, (int(shard[0]), int(shard[1])))
        self.sessions.append(session)
        self.identifies.append(data)
        guilds = [g for g in self.guilds.values() if self._in_shard(g.id, session)]
        session.push(
            "READY",
            {
                "v": 10,
                "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "email": None},
                "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.resume_gateway_url,
                "shard": list(session.shard),
                "application": {"id": str(self.application_id), "flags": self._application_flags()},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "user_settings": {},
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "_trace": ["discord-standin"],
            },
        )
        for guild in guilds:
            session.push("GUILD_CREATE", self._guild_create_payload(guild, session))
        self._attach(conn, session, 0)

    async def _resume(self, conn: _Connection, data: dict[str, Any]) -> None:
        sid = data.get("session_id")
        seq = data.get("seq") or 0
        session = next((s for s in self.sessions if s.id == sid), None)
        if (
            conn.session is not None
            or session is None
            or session.closed
            or data.get("token") != self.token
            or not 0 <= seq <= session.seq
        ):
            self.resumes.append(ResumeRecord(sid, seq, False, 0, time.perf_counter()))
            # d=false: the session cannot be resumed, the client must IDENTIFY again.
            await conn.send(_dumps({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None}))
            return
        replayed = session.seq - seq
        # Missed events come first, then RESUMED, then anything new: Discord's order.
        session.push("RESUMED", {"_trace": ["discord-standin"]})
        self._attach(conn, session, seq)
        self.resumes.append(ResumeRecord(sid, seq, True, replayed, time.perf_counter()))

    def _request_members(self, conn: _Connection, data: dict[str, Any]) -> None:
        session = conn.session
        guild = self.guilds.get(_as_int(data.get("guild_id")) or 0)
        if session is None or guild is None:
            return
        members = list(guild.members.values())
        not_found: list[str] = []
        if data.get("user_ids"):
            wanted = [int(u) for u in data["user_ids"]]
            not_found = [str(u) for u in wanted if u not in guild.members]
            members = [m for m in members if m.user_id in wanted]
        elif data.get("query"):
            query = str(data["query"]).lower()
            members = [
                m
                for m in members
                if self.users[m.user_id].name.lower().startswith(query)
                or (m.nick or "").lower().startswith(query)
            ]
        limit = data.get("limit") or 0
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload(self.users[m.user_id]) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if not_found:
            chunk["not_found"] = not_found
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        session.push("GUILD_MEMBERS_CHUNK", chunk)

    @staticmethod
    def _in_shard(guild_id: int, session: GatewaySession) -> bool:
        shard_id, count = session.shard
        return (guild_id >> 22) % max(count, 1) == shard_id

    def _application_flags(self) -> int:
        flags = 0
        if self.privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= APP_FLAG_GATEWAY_PRESENCE
        if self.privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= APP_FLAG_GATEWAY_GUILD_MEMBERS
        if self.privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= APP_FLAG_GATEWAY_MESSAGE_CONTENT
        return flags

    def _guild_payload(self, guild: Guild) -> dict[str, Any]:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
        }

    def _guild_create_payload(self, guild: Guild, session: GatewaySession) -> dict[str, Any]:
        data = self._guild_payload(guild)
        # Discord's rule: without GUILD_PRESENCES the member list holds only the bot
        # (and voice users); the rest come from member chunking or REST.
        if session.intents & INTENT_GUILD_PRESENCES:
            members = list(guild.members.values())
        else:
            members = [guild.members[self.bot_user.id]]
        data.update(
            joined_at=guild.joined_at,
            large=False,
            unavailable=False,
            member_count=len(guild.members),
            channels=[c.payload(include_guild_id=False) for c in guild.channels.values()],
            threads=[],
            members=[m.payload(self.users[m.user_id]) for m in members],
            voice_states=[],
            presences=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
        return data

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

    # ------------------------------------------------------------------ injection: interactions

    async def send_interaction(
        self,
        type: int,
        data: dict[str, Any],
        *,
        channel_id: int,
        user_id: int,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
        triggering: InteractionHandle | None = None,
    ) -> InteractionHandle:
        """Dispatch a raw INTERACTION_CREATE and return its handle.

        The convenience methods (:meth:`send_command`, :meth:`send_component`,
        :meth:`send_modal_submit`, :meth:`send_autocomplete`) build ``data`` the way
        Discord does; use this one for shapes they do not cover.

        Args:
            type: Interaction type (2 command, 3 component, 4 autocomplete, 5 modal submit).
            data: The interaction ``data``.
            channel_id: Where it happens (guild channel or DM channel).
            user_id: Who triggers it.
            message: For components: the message carrying the component.
            locale: The user's locale.
        """
        channel = self.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}")
        guild = self._guild_of(channel_id)
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}")
        if guild is not None and user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild.id}")
        iid = self._ids.next()
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": type,
            "data": data,
            "token": f"standin-{secrets.token_urlsafe(48)}",
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(channel_id),
            "channel": self._channel_payload(channel),
        }
        if guild is not None:
            user_perms = guild.permissions_of(user_id)
            payload["channel"]["permissions"] = str(user_perms)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=guild.members[user_id].payload(self.users[user_id], permissions=user_perms),
                app_permissions=str(guild.permissions_of(self.bot_user.id)),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(
                user=self.users[user_id].payload(),
                app_permissions=str(DEFAULT_EVERYONE_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        source_message_id = None
        if message is not None:
            payload["message"] = self._rest_message(message)
            source_message_id = int(message["id"])
        handle = InteractionHandle(
            self,
            payload,
            channel_id=channel_id,
            user_id=user_id,
            guild_id=guild.id if guild else None,
            source_message_id=source_message_id,
        )
        handle.triggering = triggering
        self.interactions[iid] = handle
        self._by_token[handle.token] = handle
        self._dispatch("INTERACTION_CREATE", payload, handle=handle)
        return handle

    def _find_command(self, guild_id: int | None, name: str, ctype: int = 1) -> dict[str, Any] | None:
        scopes = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            cmd = self._commands.get(scope, {}).get((name, ctype))
            if cmd is not None:
                return cmd
        return None

    def _command_path(
        self, channel_id: int, name: str
    ) -> tuple[dict[str, Any], list[str], list[dict[str, Any]], Guild | None]:
        guild = self._guild_of(channel_id)
        top, *subs = name.split()
        cmd = self._find_command(guild.id if guild else None, top)
        if cmd is None:
            scope = f"guild {guild.id}" if guild else "global scope"
            raise LookupError(
                f"/{top} is not registered for {scope} — Discord would not offer it. "
                f"Registered: {[c['name'] for c in self.commands(guild.id if guild else None)]}"
            )
        schema = cmd.get("options") or []
        for sub in subs:
            nxt = next((o for o in schema if o["name"] == sub and o["type"] in (1, 2)), None)
            if nxt is None:
                raise LookupError(f"/{name}: no subcommand {sub!r}")
            schema = nxt.get("options") or []
        if any(o["type"] in (1, 2) for o in schema):
            raise LookupError(f"/{name} is a group; name a subcommand")
        return cmd, subs, schema, guild

    def _option_value(
        self, opt: dict[str, Any], value: Any, guild: Guild | None, resolved: dict[str, dict[str, Any]]
    ) -> Any:
        otype = opt["type"]
        name = opt["name"]
        if otype == OPTION_STRING:
            value = str(value)
            if opt.get("min_length") is not None and len(value) < opt["min_length"]:
                raise ValueError(f"option {name}: shorter than {opt['min_length']}")
            if opt.get("max_length") is not None and len(value) > opt["max_length"]:
                raise ValueError(f"option {name}: longer than {opt['max_length']}")
        elif otype in (OPTION_INTEGER, OPTION_NUMBER):
            value = int(value) if otype == OPTION_INTEGER else float(value)
            if opt.get("min_value") is not None and value < opt["min_value"]:
                raise ValueError(f"option {name}: below {opt['min_value']}")
            if opt.get("max_value") is not None and value > opt["max_value"]:
                raise ValueError(f"option {name}: above {opt['max_value']}")
        elif otype == OPTION_BOOLEAN:
            value = bool(value)
        elif otype in (OPTION_USER, OPTION_CHANNEL, OPTION_ROLE, OPTION_MENTIONABLE):
            value = self._resolve_snowflake(name, otype, int(value), guild, resolved)
        else:
            raise ValueError(f"option {name}: option type {otype} is not supported by the stand-in")
        choices = opt.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name}: {value!r} is not one of the choices")
        return value

    def _resolve_snowflake(
        self, name: str, otype: int, sid: int, guild: Guild | None, resolved: dict[str, dict[str, Any]]
    ) -> str:
        if otype in (OPTION_USER, OPTION_MENTIONABLE) and sid in self.users:
            resolved.setdefault("users", {})[str(sid)] = self.users[sid].payload()
            if guild is not None and sid in guild.members:
                resolved.setdefault("members", {})[str(sid)] = guild.members[sid].payload(
                    permissions=guild.permissions_of(sid)
                )
        elif otype in (OPTION_ROLE, OPTION_MENTIONABLE) and guild is not None and sid in guild.roles:
            resolved.setdefault("roles", {})[str(sid)] = guild.roles[sid].payload()
        elif otype == OPTION_CHANNEL and sid in self.channels:
            channel = self.channels[sid]
            data = self._channel_payload(channel)
            data["permissions"] = str(guild.permissions_of(self.bot_user.id) if guild else 0)
            resolved.setdefault("channels", {})[str(sid)] = data
        else:
            raise ValueError(f"option {name}: {sid} does not resolve to a known user/role/channel")
        return str(sid)

    def _command_data(
        self,
        channel_id: int,
        name: str,
        options: Mapping[str, Any] | None,
        *,
        focused: str | None = None,
    ) -> dict[str, Any]:
        cmd, subs, schema, guild = self._command_path(channel_id, name)
        options = dict(options or {})
        by_name = {o["name"]: o for o in schema}
        unknown = set(options) - set(by_name)
        if unknown:
            raise ValueError(f"/{name}: unknown option(s) {sorted(unknown)}; has {sorted(by_name)}")
        if focused is None:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
            if missing:
                raise ValueError(f"/{name}: required option(s) {missing} missing — Discord would not send it")
        elif focused not in by_name or not by_name[focused].get("autocomplete"):
            raise ValueError(f"/{name}: option {focused!r} has no autocomplete")
        resolved: dict[str, dict[str, Any]] = {}
        leaf: list[dict[str, Any]] = []
        for opt in schema:  # Discord sends options in declaration order
            if opt["name"] not in options:
                continue
            value = options[opt["name"]]
            if opt["name"] == focused:
                # While typing, Discord sends the raw text whatever the option type.
                leaf.append({"name": opt["name"], "type": opt["type"], "value": str(value), "focused": True})
            else:
                leaf.append(
                    {
                        "name": opt["name"],
                        "type": opt["type"],
                        "value": self._option_value(opt, value, guild, resolved),
                    }
                )
        nested = leaf
        top_schema = cmd.get("options") or []
        chain: list[dict[str, Any]] = []
        for sub in subs:
            opt = next(o for o in top_schema if o["name"] == sub)
            chain.append(opt)
            top_schema = opt.get("options") or []
        for opt in reversed(chain):
            nested = [{"name": opt["name"], "type": opt["type"], "options": nested}]
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": cmd.get("type", 1),
            "options": nested,
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    async def send_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: int,
        user_id: int,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A user runs a slash command that the bot registered.

        Args:
            name: Command path: ``"ping"``, ``"task claim"`` or ``"admin task cancel"``.
            options: Option values by name; types come from the registered command
                (users, roles and channels by id, resolved like Discord does).
            channel_id: Where the command is run.
            user_id: Who runs it.
            locale: The user's locale.

        Raises:
            LookupError: The command (path) is not registered where it is run.
            ValueError: Options Discord's client would not let the user send.
        """
        data = self._command_data(channel_id, name, options)
        return await self.send_interaction(
            INTERACTION_APPLICATION_COMMAND, data, channel_id=channel_id, user_id=user_id, locale=locale
        )

    async def send_autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        channel_id: int,
        user_id: int,
    ) -> InteractionHandle:
        """A user types into an autocomplete option; the handle's response holds the choices.

        Args:
            name: Command path as for :meth:`send_command`.
            options: Values typed so far (the focused one as raw text).
            focused: Name of the option being typed.
            channel_id: Where.
            user_id: Who.
        """
        data = self._command_data(channel_id, name, options, focused=focused)
        return await self.send_interaction(
            INTERACTION_AUTOCOMPLETE, data, channel_id=channel_id, user_id=user_id
        )

    async def send_component(
        self,
        message_id: int,
        custom_id: str,
        *,
        user_id: int,
        values: Sequence[Any] | None = None,
    ) -> InteractionHandle:
        """A user presses a button or picks from a select menu on a stored message.

        Args:
            message_id: A message the bot sent (any channel, ephemeral included).
            custom_id: The component's custom id; it must be on the message and enabled.
            user_id: Who clicks.
            values: For select menus: the picked values (ids for user/role/channel selects).
        """
        message = self.messages.get(message_id)
        if message is None:
            raise KeyError(f"unknown message {message_id}")
        component = next(
            (c for c in v.walk_components(message["components"]) if c.get("custom_id") == custom_id), None
        )
        if component is None:
            found = [
                c.get("custom_id") for c in v.walk_components(message["components"]) if c.get("custom_id")
            ]
            raise ValueError(f"message {message_id} has no component {custom_id!r} (has {found})")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; Discord would not let anyone press it")
        ctype = component["type"]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        channel_id = int(message["channel_id"])
        if ctype in v.COMPONENT_SELECTS:
            picked = [str(x) for x in values or []]
            lo, hi = component.get("min_values", 1), component.get("max_values", 1)
            if not lo <= len(picked) <= hi:
                raise ValueError(f"select {custom_id!r} takes {lo}..{hi} values, got {len(picked)}")
            if ctype == v.COMPONENT_STRING_SELECT:
                offered = [o["value"] for o in component.get("options", [])]
                bad = [p for p in picked if p not in offered]
                if bad:
                    raise ValueError(f"select {custom_id!r} does not offer {bad}")
            else:
                resolved: dict[str, dict[str, Any]] = {}
                kind = {5: OPTION_USER, 6: OPTION_ROLE, 7: OPTION_MENTIONABLE, 8: OPTION_CHANNEL}[ctype]
                for p in picked:
                    self._resolve_snowflake(custom_id, kind, int(p), self._guild_of(channel_id), resolved)
                data["resolved"] = resolved
            data["values"] = picked
        elif values is not None:
            raise ValueError(f"component {custom_id!r} is not a select menu")
        return await self.send_interaction(
            INTERACTION_MESSAGE_COMPONENT, data, channel_id=channel_id, user_id=user_id, message=message
        )

    def _modal_submit_component(
        self, comp: dict[str, Any], values: dict[str, Any], used: set[str], ids: Iterator[int]
    ) -> dict[str, Any]:
        ctype = comp.get("type")
        out: dict[str, Any] = {"type": ctype, "id": comp.get("id") or next(ids)}
        if ctype == v.COMPONENT_ACTION_ROW:
            out["components"] = [
                self._modal_submit_component(c, values, used, ids) for c in comp.get("components", [])
            ]
        elif ctype == v.COMPONENT_LABEL:
            out["component"] = self._modal_submit_component(comp["component"], values, used, ids)
        elif ctype == v.COMPONENT_TEXT_INPUT:
            custom_id = comp["custom_id"]
            used.add(custom_id)
            value = str(values.get(custom_id, comp.get("value") or ""))
            if comp.get("required", True) and not value:
                raise ValueError(f"text input {custom_id!r} is required")
            if comp.get("min_length") is not None and value and len(value) < comp["min_length"]:
                raise ValueError(f"text input {custom_id!r} needs at least {comp['min_length']} characters")
            if len(value) > (comp.get("max_length") or v.TEXT_INPUT_VALUE_MAX):
                raise ValueError(
                    f"text input {custom_id!r} allows at most {comp.get('max_length')} characters"
                )
            out.update(custom_id=custom_id, value=value)
        elif ctype in v.COMPONENT_SELECTS:
            custom_id = comp["custom_id"]
            used.add(custom_id)
            picked = values.get(custom_id, [])
            out.update(
                custom_id=custom_id,
                values=[str(p) for p in ([picked] if isinstance(picked, str) else picked)],
            )
        return out

    async def send_modal_submit(
        self,
        source: InteractionHandle,
        values: Mapping[str, Any],
        *,
        user_id: int | None = None,
    ) -> InteractionHandle:
        """A user fills in and submits the modal the bot opened in answer to ``source``.

        Args:
            source: The interaction the bot answered with a modal (callback type 9).
            values: Text input values (and select values) by custom id; omitted
                inputs keep their pre-filled value.
            user_id: Who submits (defaults to whoever triggered ``source``).
        """
        modal = source.modal
        if modal is None:
            raise ValueError(f"{source!r} was not answered with a modal")
        used: set[str] = set()
        ids = itertools.count(1)
        components = [
            self._modal_submit_component(c, dict(values), used, ids) for c in modal.get("components", [])
        ]
        unknown = set(values) - used
        if unknown:
            raise ValueError(f"modal {modal.get('custom_id')!r} has no input(s) {sorted(unknown)}")
        data = {"custom_id": modal["custom_id"], "components": components}
        message = self.messages.get(source.source_message_id or 0)
        return await self.send_interaction(
            INTERACTION_MODAL_SUBMIT,
            data,
            channel_id=source.channel_id,
            user_id=user_id or source.user_id,
            message=message,
            triggering=source,
        )

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

    def age(self, handle: InteractionHandle, seconds: float) -> None:
        """Make `handle` `seconds` older (its 3-second window and 15-minute token age with it)."""
        handle.created_at -= seconds

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
