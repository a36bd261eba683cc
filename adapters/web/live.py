"""Live pages: tell every open page of a community when its log has grown.

Two sources wake the watcher: the core's change hooks when the board runs in the same
process as the bot (at once), and a cheap poll of each watched community's newest event
id for changes made by other processes sharing the database. The poll runs only while a
page is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1


class Watcher:
    """Newest event id per community, pushed to subscribers when it grows.

    Args:
        latest: reads the newest event id of a community (runs off the event loop).
        poll_seconds: how often to look for changes made by other processes.
    """

    def __init__(self, latest: Callable[[str], Awaitable[int]], poll_seconds: float = POLL_SECONDS) -> None:
        self._latest = latest
        self._poll = poll_seconds
        self._queues: dict[str, set[asyncio.Queue[int]]] = {}
        self._seen: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Begin watching (on the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="board-live")

    async def stop(self) -> None:
        """Stop watching and end every open stream."""
        # A flag rather than Task.cancel(): Python 3.11's wait_for can swallow a cancel.
        self._stopping = True
        self._wake.set()
        if self._task:
            await self._task
        for queues in self._queues.values():
            for q in queues:
                q.put_nowait(-1)

    def on_change(self, community: str, refs: frozenset[str]) -> None:
        """The core's change hook: called after a commit, from the thread that committed."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def subscribe(self, community: str, since: int) -> asyncio.Queue[int]:
        """A queue that receives the community's newest event id each time it grows past
        `since` (the newest id the page showed)."""
        q: asyncio.Queue[int] = asyncio.Queue(maxsize=8)
        # The first look after this compares against the oldest page watching.
        self._seen[community] = min(self._seen.get(community, since), since)
        self._queues.setdefault(community, set()).add(q)
        self._wake.set()
        return q

    def unsubscribe(self, community: str, q: asyncio.Queue[int]) -> None:
        """Forget a closed stream."""
        queues = self._queues.get(community)
        if queues is not None:
            queues.discard(q)
            if not queues:
                del self._queues[community]
                self._seen.pop(community, None)

    async def _run(self) -> None:
        while not self._stopping:
            if not self._queues:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
            self._wake.clear()
            if self._stopping:
                return
            for community in list(self._queues):
                try:
                    top = await self._latest(community)
                except Exception:
                    log.exception("could not read the newest event of %s", community)
                    continue
                if top > self._seen.get(community, top):
                    self._seen[community] = top
                    for q in list(self._queues.get(community, ())):
                        if q.full():
                            # A slow reader only needs the newest id.
                            q.get_nowait()
                        q.put_nowait(top)


async def relay(changes: asyncio.Queue[int], stream: Any) -> None:
    """Send each newest event id from `changes` to an open event stream as a `change`, until
    the board stops (a negative id) or the visitor leaves.

    A visitor who left is noticed at the next write or within one keep-alive ping of the
    stream (`aiohttp_sse.EventSourceResponse`), so a closed page stops being watched even
    while nothing changes. Leaving is normal: it ends the stream quietly.

    Args:
        changes: the queue `Watcher.subscribe` gave.
        stream: the prepared event stream.
    """
    left = asyncio.ensure_future(stream.wait())
    change: asyncio.Future[int] | None = None
    try:
        while True:
            change = asyncio.ensure_future(changes.get())
            await asyncio.wait({change, left}, return_when=asyncio.FIRST_COMPLETED)
            if not change.done():
                break  # its keep-alive ping failed
            top = change.result()
            if top < 0:
                return
            await stream.send(str(top), event="change")
    except (ConnectionError, TimeoutError):
        pass  # the connection was reset, or the visitor stopped reading (aiohttp_sse aborts it)
    finally:
        left.cancel()
        if change is not None:
            change.cancel()
    log.debug("a live page went away")
