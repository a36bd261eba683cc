"""What the stand-in records and hands to tests: REST calls, gateway frames, sessions, interactions."""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .server import DiscordStandIn

from .protocol import (
    OP_DISPATCH,
    _dumps,
)


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
