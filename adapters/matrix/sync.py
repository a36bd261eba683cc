"""The sync loop and the committer: events in, the sync token stored only after the work.

See the module docstring of `adapters.matrix.adapter` for why a command is answered
exactly once."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from nio import (
    MegolmEvent,
    MessageDirection,
    RoomMessagesResponse,
    SyncError,
    SyncResponse,
    UploadFilterResponse,
)

from adapters.matrix import translate as tr
from adapters.matrix.state import (
    MAX_GAP_EVENTS,
    SYNC_TIMEOUT_MS,
    TOKEN_SAVE_SECONDS,
    AdapterState,
    Batch,
    Job,
)

log = logging.getLogger(__name__)


class SyncLoop(AdapterState):
    """Long-polls /sync, hands each batch's events to the room workers, commits the token."""

    def _filter(self, timeline_limit: int | None) -> dict[str, Any] | str:
        if timeline_limit is None and self._filter_id:
            return self._filter_id
        return {"presence": {"not_types": ["*"]},
                "account_data": {"not_types": ["*"]},
                "room": {"timeline": {"limit": timeline_limit or self.ms.timeline_limit},
                         "account_data": {"not_types": ["*"]},
                         "ephemeral": {"not_types": ["*"]}}}

    async def _upload_filter(self) -> None:
        """Store the sync filter on the homeserver once and sync with its id.

        Sent inline, the filter is JSON in the query string of every /sync: encoding it and
        parsing that URL again cost several percent of the bot's CPU per command.
        """
        assert self.client is not None
        spec = self._filter(None)
        assert isinstance(spec, dict)
        resp = await self.client.upload_filter(**spec)
        if isinstance(resp, UploadFilterResponse):
            self._filter_id = resp.filter_id
        else:
            log.warning("matrix: could not store the sync filter (%s); sending it with each sync",
                        getattr(resp, "message", resp))

    async def _sync(self, *, since: str | None, full_state: bool = False, wait_ms: int = SYNC_TIMEOUT_MS,
                    timeline_limit: int | None = None) -> SyncResponse:
        assert self.client is not None
        while True:
            resp = await self.client.sync(timeout=wait_ms, sync_filter=self._filter(timeline_limit),
                                          since=since, full_state=full_state)
            if isinstance(resp, SyncResponse):
                self._last_sync = time.monotonic()
                return resp
            assert isinstance(resp, SyncError)
            if resp.status_code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
                raise SystemExit(f"matrix: the homeserver refused the access token: {resp.message}")
            log.warning("matrix: sync failed (%s); retrying", resp.message)
            # A refusal other than a connection error (those nio retries itself), e.g. a 5xx
            # while the homeserver restarts: wait a little and ask again.
            await asyncio.sleep(min(self.ms.retry_max_seconds, 2.0))

    async def _sync_loop(self) -> None:
        while not self._stopping:
            try:
                resp = await self._sync(since=self._token)
                await self._accept_batch(resp)
            except asyncio.CancelledError:
                raise
            except SystemExit:
                log.error("matrix: stopping the sync loop", exc_info=True)
                raise
            except Exception:
                log.exception("matrix: sync loop error; retrying")
                await asyncio.sleep(1.0)

    async def _accept_batch(self, resp: SyncResponse, *, first_after_restart: bool = False) -> None:
        """Hand a sync response's events to the room workers and queue the batch for commit."""
        batch = Batch(resp.next_batch)
        since = self._token
        self._note_creators(resp)
        await self._handle_invites(resp)
        for room_id, info in resp.rooms.join.items():
            community = self._room_community.get(room_id) or self._dm_rooms.get(room_id)
            timeline = list(info.timeline.events)
            start = tr.after_own_join([getattr(ev, "source", {}) for ev in timeline], self.user_id)
            known = room_id in self._joined or first_after_restart
            self._joined.add(room_id)
            if community is None:
                continue
            if start is not None:
                events = timeline[start:]
            elif not known:
                # Joined in a gap we cannot see the start of: all of it is history.
                continue
            else:
                events = timeline
                if info.timeline.limited and since and info.timeline.prev_batch:
                    events = await self._fill_gap(room_id, info.timeline.prev_batch, since) + events
            for ev in events:
                job = self._job_for(ev, room_id, community)
                if job is not None:
                    batch.jobs.append(job)
        for room_id in resp.rooms.leave:
            self._joined.discard(room_id)
        self._token = resp.next_batch
        self._batches.put_nowait(batch)
        self._wake_synced()
        self._note_key_requests(resp)
        self._crypto_housekeeping()

    def _note_creators(self, resp: SyncResponse) -> None:
        # nio keeps no room creators; power levels need them from room version 12 on.
        for room_id, info in resp.rooms.join.items():
            for ev in (*info.state, *info.timeline.events):
                source = getattr(ev, "source", None) or {}
                if source.get("type") == "m.room.create":
                    self._creators[room_id] = tr.room_creators(source)

    async def _fill_gap(self, room_id: str, prev_batch: str, since: str) -> list[Any]:
        """The events a limited timeline left out, oldest first (from /messages)."""
        assert self.client is not None
        older: list[Any] = []
        start = prev_batch
        while len(older) < MAX_GAP_EVENTS:
            resp = await self.client.room_messages(room_id, start=start, end=since,
                                                   direction=MessageDirection.back, limit=100)
            if not isinstance(resp, RoomMessagesResponse):
                log.error("matrix: could not fetch the gap in %s: %s", room_id,
                          getattr(resp, "message", resp))
                break
            older.extend(resp.chunk)
            if not resp.chunk or not resp.end or resp.end == start:
                break
            start = resp.end
        log.info("matrix: filled a gap of %d events in %s", len(older), room_id)
        return list(reversed(older))

    def _job_for(self, ev: Any, room_id: str, community: str) -> asyncio.Future[None] | None:
        assert self.client is not None
        direct = room_id in self._dm_rooms
        if isinstance(ev, MegolmEvent):
            if ev.sender == self.user_id:
                return None
            return asyncio.ensure_future(self._await_key(ev, room_id, community, direct))
        incoming = tr.classify(getattr(ev, "source", {}), self.user_id, self.prefix)
        if incoming is None:
            return None
        return self._enqueue(Job(room_id, community, direct, incoming))

    def _enqueue(self, job: Job) -> asyncio.Future[None]:
        queue = self._workers.get(job.room_id)
        if queue is None:
            queue = self._workers[job.room_id] = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._room_worker(queue),
                                                   name=f"matrix-room-{job.room_id}"))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.put_nowait((job, done))
        return done

    def _wake_synced(self) -> None:
        # A fresh event per sync: waiters of the last one wake, later waiters wait for the next.
        old, self._synced = self._synced, asyncio.Event()
        old.set()

    async def _commit_loop(self) -> None:
        """Store the token of each batch once it and every batch before it are handled.

        Stores are coalesced to one per `TOKEN_SAVE_SECONDS`: a token stored later than it
        could have been only means that a crash replays a little more, which the event-id
        record and the transaction ids absorb; a token stored too early would lose events,
        so only tokens of finished batches are ever stored.
        """
        loop = asyncio.get_running_loop()
        last_saved = loop.time()
        while True:
            wait = (None if self._pending_token is None
                    else max(0.0, last_saved + TOKEN_SAVE_SECONDS - loop.time()))
            try:
                batch = await asyncio.wait_for(self._batches.get(), wait)
            except TimeoutError:
                await self._save_token()
                last_saved = loop.time()
                continue
            if batch.jobs:
                results = await asyncio.gather(*batch.jobs, return_exceptions=True)
                for r in results:
                    if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                        log.error("matrix: an event failed", exc_info=r)
            self._pending_token = batch.token
            if loop.time() - last_saved >= TOKEN_SAVE_SECONDS:
                await self._save_token()
                last_saved = loop.time()
            self._batches.task_done()

    async def _save_token(self) -> None:
        token, self._pending_token = self._pending_token, None
        if token is None:
            return
        try:
            await self.runtime.call(self.core.kv_set, self._token_key, token)
        except Exception:
            log.exception("matrix: could not store the sync token; the batch will be "
                          "replayed after a restart (harmless)")
