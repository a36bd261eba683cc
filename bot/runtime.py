"""The asynchronous runtime that async adapters stand on.

It runs the synchronous core in a small thread pool, so a slow database never stalls a
platform's event loop, and pumps each platform's outbox: woken at once after a local
command, and polled every few seconds for entries written by other processes sharing the
database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from bot.ports import CorePort, InboundMessage, Outbound

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_SECONDS = 2.0
BATCH = 20


class Sender(Protocol):
    """What the runtime needs of an adapter to deliver the outbox."""

    platform: str

    async def send(self, message: Outbound) -> None:
        """Deliver one announcement, notice or card update.

        Delivery is at least once: this may be called more than once for one outbox entry
        (after a failed send, or when the process that took it died before recording it
        sent), always with the same `Outbound` and the same `outbox_id`. Derive the
        platform's idempotency key from `outbox_id` (a Matrix transaction id, a Discord
        message nonce), so that the platform drops a repeat of what it already accepted.

        Raises:
            Exception: whenever the platform did not accept the message; the entry is then
                tried again with backoff. Return only once it was accepted.
        """
        ...


class Runtime:
    """Async front of the core, shared by every adapter of one process.

    Args:
        core: the core (anything that implements the port, `bot.ports.CorePort`).
        workers: threads that run core calls. On PostgreSQL, commands that touch different
            rows run side by side; on SQLite every core transaction, reads included, takes
            the write lock (`BEGIN IMMEDIATE`), so they queue for it and a few threads
            suffice: what the pool buys there is that a waiting command holds a thread,
            never the event loop.
    """

    def __init__(self, core: CorePort, workers: int = 4) -> None:
        self.core = core
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="core")
        self._senders: list[Sender] = []
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # The core says after each commit what changed; only then can the outbox have grown,
        # so read-only commands cost no outbox transaction.
        core.change_listeners.append(self._on_change)

    def _on_change(self, community: str, refs: frozenset[str]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.poke)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a synchronous core function in the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args))

    async def handle(self, msg: InboundMessage) -> list[Outbound]:
        """Run a command in the pool (the outbox pumps wake if it changed anything)."""
        return await self.call(self.core.handle, msg)

    def poke(self) -> None:
        """Something may have entered the outbox: wake the pumps."""
        for ev in self._wake.values():
            ev.set()

    def attach(self, sender: Sender) -> None:
        """Start delivering the outbox to an adapter."""
        self._loop = asyncio.get_running_loop()
        self.core.outbox_begin(sender.platform)
        self._senders.append(sender)
        ev = asyncio.Event()
        self._wake[sender.platform] = ev
        self._tasks.append(asyncio.create_task(self._pump(sender, ev),
                                               name=f"outbox-{sender.platform}"))

    async def _pump(self, sender: Sender, wake: asyncio.Event) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), POLL_SECONDS)
            wake.clear()
            try:
                while not self._stopping:
                    # Small batches: what is taken is delivered before the pump may stop.
                    batch = await self.call(self.core.take_outbox, sender.platform, BATCH)
                    for o in batch:
                        await self._deliver(sender, o)
                    if len(batch) < BATCH:
                        break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox pump for %s failed; retrying", sender.platform)

    async def _deliver(self, sender: Sender, o: Outbound) -> bool:
        """Send one entry and record the outcome: sent only once `send` returned."""
        assert o.outbox_id is not None
        try:
            await sender.send(o)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The lease would bring it back too, but only after a minute; this says when.
            await self.call(self.core.outbox_failed, sender.platform, o.outbox_id,
                            f"{type(exc).__name__}: {exc}")
            return False
        await self.call(self.core.outbox_sent, sender.platform, [o.outbox_id])
        return True

    async def flush(self, platform: str) -> int:
        """Deliver whatever is in the outbox for one platform now (used by tests).

        Returns:
            How many entries were sent (a failed one waits for its next try).
        """
        sent = 0
        for sender in self._senders:
            if sender.platform == platform:
                for o in await self.call(self.core.take_outbox, platform):
                    sent += await self._deliver(sender, o)
        return sent

    async def close(self, grace: float = 10.0) -> None:
        """Stop the pumps between deliveries (entries already taken are sent), then the pool."""
        self._stopping = True
        self.poke()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        self._tasks.clear()
        if self._on_change in self.core.change_listeners:
            self.core.change_listeners.remove(self._on_change)
        self._pool.shutdown(wait=True)
