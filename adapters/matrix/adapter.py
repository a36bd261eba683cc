"""The Matrix adapter: matrix-nio's AsyncClient on one side, the core's Runtime on the other.

How a command travels, and why it is answered exactly once:

1. **Sync.** One task long-polls ``/sync`` from the token stored in the database. Each
   response is a *batch*: its timeline events are classified (`translate.classify`) and
   handed to a per-room worker queue, so the sync loop never waits on the database or on
   a send (rooms run concurrently, commands within a room in order).
2. **Handle.** The room worker turns the event into an `InboundMessage` whose
   ``message_id`` is the event id, runs it through `Runtime.handle` (the core, in its
   thread pool: the event id is recorded in the same transaction as the effect) and sends
   each reply with a transaction id derived from the event id.
3. **Commit the token.** A committer task waits, batch after batch in order, until every
   event of a batch is handled *and* its replies are sent, and only then may store the
   batch's ``next_batch`` in the database (`Core.kv_set`; at most once a second, the
   latest finished batch's).

After a crash anywhere in between, the restarted bot syncs again from the last stored
token, so it sees the unfinished events again. The core answers an event id it has seen
with the replies it stored, without running anything twice, and the homeserver drops a
send whose (device, transaction id) it has seen, so nothing is answered twice; because
the token only moves after the work is done, nothing is lost. Synapse's two-minute
``/sync`` cache (the restarted bot may be served the very response it got before the
crash) changes nothing: the same events meet the same records.

A sync whose timeline is ``limited`` (more events than ``timeline_limit`` arrived while
the bot was away) is completed from ``/messages`` back to the previous token, so a gap
loses nothing either. A room the bot just joined arrives with some of its history: only
what follows the bot's own join is handled, and the very first start skips everything
before its first sync's ``next_batch``.

The device is kept (`login`). End-to-end encryption follows the recipe in
``tests/matrix/e2e.py``; `crypto` adds what nio leaves to the application.

The adapter is put together from parts named after what they do:

- `login`: credentials, login and the one device;
- `rooms`: configured rooms, invites, direct chats, roles from power levels;
- `sync`: the sync loop and the committer of the sync token;
- `commands`: the per-room workers that run events through the core and reply;
- `sending`: sends with transaction ids, the outbox, direct chats;
- `crypto`: key housekeeping, room keys for invited members, answered key requests;
- `translate`: everything pure (events ⇄ neutral types, Markdown ⇄ HTML).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from adapters.matrix.commands import Commands
from adapters.matrix.crypto import Crypto
from adapters.matrix.login import login
from adapters.matrix.rooms import Rooms
from adapters.matrix.sending import Sending
from adapters.matrix.state import PLATFORM, SYNC_TIMEOUT_MS, MatrixError
from adapters.matrix.sync import SyncLoop

__all__ = ["PLATFORM", "MatrixAdapter", "MatrixError"]

log = logging.getLogger(__name__)


class MatrixAdapter(Commands, SyncLoop, Sending, Crypto, Rooms):
    """Commands in, replies, announcements, cards and polls out, on one Matrix account.

    Constructed by ``commons-bot run`` through the ``commons_bot.adapters`` entry point
    (``MatrixAdapter(runtime, settings)``, see `AdapterState`).
    """

    async def start(self) -> None:
        """Log in (restoring the stored device), join the rooms, sync once, start the loop.

        Raises:
            ConfigError: the homeserver, user or secret is not set.
            SystemExit: login fails.
        """
        self.client = await login(self.ms)
        self.user_id = self.client.user_id
        await self._upload_filter()
        await self._resolve_rooms()
        self._dm_rooms = await self.runtime.call(self._load_dm_rooms)
        self._token = await self.runtime.call(self.core.kv_get, self._token_key)
        first = await self._sync(since=self._token, full_state=True, wait_ms=0,
                                 timeline_limit=1 if self._token is None else None)
        if self._token is None:
            # A fresh start answers nothing from before it existed: the first batch only
            # tells where "now" is.
            self._note_creators(first)
            await self._handle_invites(first)
            self._joined |= set(first.rooms.join)
            await self.runtime.call(self.core.kv_set, self._token_key, first.next_batch)
            self._token = first.next_batch
        else:
            await self._accept_batch(first, first_after_restart=True)
        for room_id, community in list(self._room_community.items()):
            if room_id not in self._joined and room_id not in self._join_requested:
                await self._join(room_id, community)
        self._tasks.append(asyncio.create_task(self._sync_loop(), name="matrix-sync"))
        self._tasks.append(asyncio.create_task(self._commit_loop(), name="matrix-commit"))
        log.info("matrix: %s on device %s, %d rooms", self.user_id, self.client.device_id,
                 len(self._room_community))

    def is_connected(self) -> bool:
        """Whether a sync answered within one long-poll and a margin (health checks ask)."""
        return (not self._stopping and self._last_sync is not None
                and time.monotonic() - self._last_sync < SYNC_TIMEOUT_MS / 1000 + 30)

    async def stop(self) -> None:
        """Stop syncing, finish the work in hand (for up to 10 s) and store the sync token.

        The device stays logged in: the next start restores it.
        """
        self._stopping = True
        for t in self._tasks:
            if t.get_name() == "matrix-sync":
                t.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain(), 10)
        await self._save_token()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self.client is not None:
            await self.client.close()

    async def _drain(self) -> None:
        await self._batches.join()
