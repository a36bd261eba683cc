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

The class is put together from parts a newcomer can name: :mod:`.world` (what tests
seed), :mod:`.gateway` (the websocket), :mod:`.messages` and :mod:`.interactions` (what
users do), :mod:`.rest` (routing, spec checks, rate limits, permissions) and
:mod:`.handlers` (the routes); :mod:`.records` holds what tests inspect and
:mod:`.protocol` Discord's numbers.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from . import spec as openapi
from .gateway import GatewayMixin
from .handlers import HandlersMixin
from .interactions import InteractionsMixin
from .messages import MessagesMixin
from .model import (
    PERM_ADMINISTRATOR,
    PRIVILEGED_INTENTS,
    Channel,
    Guild,
    SnowflakeFactory,
    User,
)
from .protocol import (
    API_PREFIX,
    HOST,
)
from .ratelimit import RateLimits
from .records import (
    Delivery,
    GatewayFrame,
    GatewaySession,
    InteractionHandle,
    RestCall,
    ResumeRecord,
    UploadedFile,
    _Connection,
)
from .rest import RestMixin
from .world import WorldMixin

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
T = TypeVar("T")


class DiscordStandIn(WorldMixin, GatewayMixin, MessagesMixin, InteractionsMixin, RestMixin, HandlersMixin):
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
