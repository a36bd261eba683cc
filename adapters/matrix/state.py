"""What the parts of the Matrix adapter share: its settings, client and bookkeeping.

`MatrixAdapter` is put together from the parts named after what they do (`rooms`,
`sync`, `commands`, `sending`, `crypto`); each is a mixin over `AdapterState`, which
holds every attribute they read or write, so that one place lists the adapter's state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from nio import AsyncClient, ErrorResponse, RoomKeyRequest

from adapters.matrix import translate as tr
from bot.config import Community, ConfigError, Settings
from bot.ports import CorePort
from bot.runtime import Runtime

PLATFORM = "matrix"
SYNC_TIMEOUT_MS = 30_000
# How long a command waits for the room key of an encrypted message that arrived before
# its key (the key comes as a to-device message, usually in the same or the next sync).
KEY_WAIT_SECONDS = 30.0
# Events fetched from /messages to fill one sync gap, at most.
MAX_GAP_EVENTS = 5000
# How long a send keeps retrying a homeserver that answers with errors (not a refusal).
SEND_GIVE_UP_SECONDS = 600.0
# The sync token is stored at most this often (see `_commit_loop`).
TOKEN_SAVE_SECONDS = 1.0



class MatrixError(RuntimeError):
    """A homeserver answer the adapter could not use (nio returns errors as values)."""


async def checked(call: Awaitable[Any], what: str) -> Any:
    """Await a nio call and turn an error value into `MatrixError`."""
    resp = await call
    if isinstance(resp, ErrorResponse):
        raise MatrixError(f"{what}: {resp.message}")
    return resp


@dataclass
class Batch:
    """One sync response: its token and the work its events started."""

    token: str
    jobs: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    """One event to handle in a room (see `commands`)."""

    room_id: str
    community: str
    direct: bool
    incoming: tr.Incoming


class AdapterState:
    """The state every part of the adapter works on (set up here, and only here).

    Args:
        runtime: the async front of the core.
        settings: the whole configuration; ``settings.matrix`` says how to log in and the
            communities' ``matrix`` sections name their rooms.

    Raises:
        ConfigError: the configuration has no ``matrix:`` section.
    """

    platform = PLATFORM

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        if settings.matrix is None:
            raise ConfigError("matrix: the configuration has no matrix: section")
        self.runtime = runtime
        self.core: CorePort = runtime.core
        self.settings = settings
        self.ms = settings.matrix
        self.prefix = settings.prefix
        self.communities: list[Community] = [c for c in settings.communities if c.matrix]
        self.client: AsyncClient | None = None
        self.user_id = ""
        # Configured rooms (aliases resolved) and direct-message rooms → community id.
        self._room_community: dict[str, str] = {}
        self._community_rooms: dict[str, list[str]] = {}
        self._dm_rooms: dict[str, str] = {}
        self._joined: set[str] = set()
        self._creators: dict[str, frozenset[str]] = {}
        self._join_requested: set[str] = set()
        self._workers: dict[str, asyncio.Queue[tuple[Job, asyncio.Future[None]]]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._batches: asyncio.Queue[Batch] = asyncio.Queue()
        self._token: str | None = None
        self._filter_id: str | None = None
        self._pending_token: str | None = None
        self._synced = asyncio.Event()
        self._crypto_busy = False
        self._key_requests: list[RoomKeyRequest] = []
        self._dm_lock = asyncio.Lock()
        self._stopping = False
        # When the last sync answered (monotonic seconds), for `is_connected`.
        self._last_sync: float | None = None

    @property
    def _token_key(self) -> str:
        return f"matrix:next_batch:{self.user_id}"
