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

The device is kept: device id and access token are persisted under ``store_path`` (mode
0600, never in the database or logs) with nio's crypto store, and every start calls
``restore_login``. End-to-end encryption follows the recipe in ``tests/matrix/e2e.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinedMembersError,
    JoinError,
    LoginResponse,
    MegolmEvent,
    MessageDirection,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomResolveAliasResponse,
    RoomSendResponse,
    SyncError,
    SyncResponse,
    UploadFilterResponse,
    WhoamiResponse,
)
from nio.crypto import ENCRYPTION_ENABLED
from nio.store import DefaultStore

from adapters.matrix import translate as tr
from bot.chat.render import unescape
from bot.config import Community, Settings, resolve_env
from bot.ports import Card, Outbound
from bot.runtime import Runtime

log = logging.getLogger(__name__)

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


class _CryptoStore(DefaultStore):
    """nio's default crypto store, without a database round trip on every sync.

    After each sync nio saves the rooms that sync found encrypted, and the store looks up
    the account row (through peewee) before it looks at the set, which is almost always
    empty. Measured with py-spy on bench/matrix_latency.py, that lookup was the largest
    part of the bot's CPU per sync. An empty set now costs nothing; a room that became
    encrypted is saved as before.
    """

    def save_encrypted_rooms(self, rooms: Any) -> None:
        if rooms:
            super().save_encrypted_rooms(rooms)


@dataclass
class _Batch:
    """One sync response: its token and the work its events started."""

    token: str
    jobs: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    room_id: str
    community: str
    direct: bool
    incoming: tr.Incoming


class MatrixAdapter:
    """Commands in, replies, announcements, cards and polls out, on one Matrix account.

    Constructed by ``commons-bot run`` through the ``commons_bot.adapters`` entry point.

    Args:
        runtime: the async front of the core.
        settings: the whole configuration; ``settings.matrix`` says how to log in and the
            communities' ``matrix`` sections name their rooms.
    """

    platform = PLATFORM

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        if settings.matrix is None:
            raise SystemExit("the matrix adapter needs a `matrix:` section in the config")
        self.runtime = runtime
        self.core = runtime.core
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
        self._workers: dict[str, asyncio.Queue[tuple[_Job, asyncio.Future[None]]]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._batches: asyncio.Queue[_Batch] = asyncio.Queue()
        self._token: str | None = None
        self._filter_id: str | None = None
        self._pending_token: str | None = None
        self._synced = asyncio.Event()
        self._crypto_busy = False
        self._dm_lock = asyncio.Lock()
        self._stopping = False

    # --- life cycle --------------------------------------------------------------

    @property
    def _token_key(self) -> str:
        return f"matrix:next_batch:{self.user_id}"

    async def start(self) -> None:
        """Log in (restoring the stored device), join the rooms, sync once, start the loop.

        Raises:
            SystemExit: the homeserver, user or secret is not set, or login fails.
        """
        self.client = await self._login()
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

    # --- login -------------------------------------------------------------------

    async def _login(self) -> AsyncClient:
        homeserver = resolve_env(self.ms.homeserver)
        user_id = resolve_env(self.ms.user_id)
        password = resolve_env(self.ms.password)
        token = resolve_env(self.ms.access_token)
        if not homeserver or not user_id:
            raise SystemExit("matrix: set MATRIX_HOMESERVER and MATRIX_USER_ID (matrix.homeserver "
                             "and matrix.user_id in the config name the variables)")
        if not password and not token:
            raise SystemExit("matrix: set MATRIX_PASSWORD or MATRIX_ACCESS_TOKEN")
        if self.ms.encryption and not ENCRYPTION_ENABLED:
            raise SystemExit("matrix.encryption is on but matrix-nio has no crypto backend: "
                             "pip install 'matrix-nio[e2e]'")
        store = Path(self.ms.store_path)
        await asyncio.to_thread(_make_private_dir, store)
        config = AsyncClientConfig(
            encryption_enabled=self.ms.encryption,
            store=_CryptoStore,
            # The sync token lives in the database, stored only after its batch is handled.
            store_sync_tokens=False,
            # 429s are waited out for as long as the homeserver asks (nio's default).
            max_limit_exceeded=None,
            # A homeserver restart is survived by retrying; nio's default back-off grows to
            # 60 s between attempts, far too long to come back after a short outage.
            max_timeout_retry_wait_time=self.ms.retry_max_seconds,
            request_timeout=SYNC_TIMEOUT_MS / 1000 + 15,
        )
        client = AsyncClient(homeserver, user_id, store_path=str(store) if self.ms.encryption else "",
                             config=config)
        creds_file = store / "credentials.json"
        saved = await asyncio.to_thread(_read_json, creds_file)
        try:
            if token:
                client.access_token = token
                who = await client.whoami()
                if not isinstance(who, WhoamiResponse) or not who.device_id:
                    raise SystemExit(f"matrix: MATRIX_ACCESS_TOKEN was refused for {user_id}: {who}")
                client.restore_login(who.user_id, who.device_id, token)
            elif (saved and saved.get("user_id") == user_id and saved.get("homeserver") == homeserver
                  and await self._token_works(client, saved["access_token"])):
                client.restore_login(user_id, saved["device_id"], saved["access_token"])
            else:
                device_id = saved.get("device_id") if saved and saved.get("user_id") == user_id else None
                if device_id:
                    # Logging in with the stored device id keeps the device (and its keys).
                    client.device_id = device_id
                resp = await client.login(password, device_name=self.ms.device_name)
                if not isinstance(resp, LoginResponse):
                    raise SystemExit(f"matrix: login of {user_id} failed: {getattr(resp, 'message', resp)}")
                await asyncio.to_thread(_write_private_json, creds_file, {
                    "homeserver": homeserver, "user_id": resp.user_id, "device_id": resp.device_id,
                    "access_token": resp.access_token})
        except BaseException:
            await client.close()
            raise
        self.user_id = client.user_id
        if self.ms.encryption:
            if client.olm is None:
                raise SystemExit("matrix: end-to-end encryption did not start (no crypto store)")
            if client.should_upload_keys:
                await self._checked(client.keys_upload(), "upload device keys")
        return client

    async def _token_works(self, client: AsyncClient, token: str) -> bool:
        client.access_token = token
        who = await client.whoami()
        client.access_token = ""
        return isinstance(who, WhoamiResponse)

    # --- rooms -------------------------------------------------------------------

    async def _resolve_rooms(self) -> None:
        assert self.client is not None
        for c in self.communities:
            assert c.matrix is not None
            ids: list[str] = []
            for room in c.matrix.rooms:
                room_id = room
                if room.startswith("#"):
                    resp = await self.client.room_resolve_alias(room)
                    if not isinstance(resp, RoomResolveAliasResponse):
                        log.warning("matrix: cannot resolve %s (%s); skipping it", room,
                                    getattr(resp, "message", resp))
                        continue
                    room_id = resp.room_id
                ids.append(room_id)
                self._room_community[room_id] = c.id
            self._community_rooms[c.id] = ids

    def _load_dm_rooms(self) -> dict[str, str]:
        raw = self.core.kv_get(f"matrix:dm_rooms:{self.user_id}")
        return json.loads(raw) if raw else {}

    async def _remember_dm_room(self, room_id: str, community: str) -> None:
        self._dm_rooms[room_id] = community
        await self.runtime.call(self.core.kv_set, f"matrix:dm_rooms:{self.user_id}",
                                json.dumps(self._dm_rooms))

    async def _join(self, room_id: str, community: str) -> None:
        assert self.client is not None
        resp = await self.client.join(room_id)
        if isinstance(resp, JoinError):
            log.warning("matrix: cannot join %s of community %s yet (%s); invite the bot",
                        room_id, community, resp.message)
        else:
            log.info("matrix: joined %s (community %s)", room_id, community)

    async def _handle_invites(self, resp: SyncResponse) -> None:
        assert self.client is not None
        for room_id, info in resp.rooms.invite.items():
            if room_id in self._joined:
                continue
            # nio pops `content` out of stripped state events; the content is on the object.
            state = [{**getattr(ev, "source", {}), "content": getattr(ev, "content", {})}
                     for ev in info.invite_state]
            if room_id in self._room_community:
                await self._join(room_id, self._room_community[room_id])
                self._join_requested.add(room_id)
                continue
            direct, inviter = tr.is_direct_invite(state, self.user_id)
            community = self._community_of_member(inviter) if direct and inviter else None
            if self.ms.direct_messages and community:
                await self._join(room_id, community)
                await self._remember_dm_room(room_id, community)
                continue
            log.info("matrix: declining an invite to %s from %s (not a configured room)",
                     room_id, inviter)
            await self.client.room_leave(room_id)

    def _community_of_member(self, user_id: str | None) -> str | None:
        assert self.client is not None
        for room_id, community in self._room_community.items():
            room = self.client.rooms.get(room_id)
            if room is not None and user_id in room.users:
                return community
        return None

    def _roles(self, community: str, room_id: str, sender: str) -> frozenset[str]:
        """Roles from power levels: in the room itself, or in a DM the best of the community's."""
        assert self.client is not None
        c = self.settings.community(community)
        thresholds = dict(c.matrix.power_levels) if c.matrix else {}
        rooms = [room_id] if room_id in self._room_community else self._community_rooms.get(community, [])
        level = 0
        for rid in rooms:
            room = self.client.rooms.get(rid)
            if room is not None:
                level = max(level, tr.power_of(sender, room.power_levels.get_user_level(sender),
                                               room.room_version, self._creators.get(rid, frozenset())))
        return tr.roles_from_power(level, thresholds)

    # --- the sync loop -----------------------------------------------------------

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
        batch = _Batch(resp.next_batch)
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
        return self._enqueue(_Job(room_id, community, direct, incoming))

    def _enqueue(self, job: _Job) -> asyncio.Future[None]:
        queue = self._workers.get(job.room_id)
        if queue is None:
            queue = self._workers[job.room_id] = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._room_worker(queue),
                                                   name=f"matrix-room-{job.room_id}"))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.put_nowait((job, done))
        return done

    async def _await_key(self, ev: MegolmEvent, room_id: str, community: str, direct: bool) -> None:
        """An encrypted event that arrived before its room key: wait for the key, then run it."""
        assert self.client is not None
        with contextlib.suppress(Exception):
            await self.client.request_room_key(ev)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + KEY_WAIT_SECONDS
        while loop.time() < deadline:
            decrypted = self.client.decrypt_event(ev) if self.client.olm else None
            if decrypted is not None and not isinstance(decrypted, MegolmEvent):
                incoming = tr.classify(getattr(decrypted, "source", {}), self.user_id, self.prefix)
                if incoming is not None:
                    await self._enqueue(_Job(room_id, community, direct, incoming))
                return
            waiter = self._synced
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), max(0.1, deadline - loop.time()))
        log.warning("matrix: no room key for %s in %s after %.0f s; it stays unanswered",
                    ev.event_id, room_id, KEY_WAIT_SECONDS)

    def _wake_synced(self) -> None:
        # A fresh event per sync: waiters of the last one wake, later waiters wait for the next.
        old, self._synced = self._synced, asyncio.Event()
        old.set()

    def _crypto_housekeeping(self) -> None:
        """What sync_forever does between syncs: to-device messages and key upload/query/claim."""
        client = self.client
        if client is None or client.olm is None or self._crypto_busy:
            return
        # Almost every sync needs none of it: decide here rather than start a task per sync.
        if not (client.outgoing_to_device_messages or client.should_upload_keys
                or client.should_query_keys or client.should_claim_keys):
            return
        self._crypto_busy = True

        async def run() -> None:
            try:
                if client.outgoing_to_device_messages:
                    await client.send_to_device_messages()
                if client.should_upload_keys:
                    await client.keys_upload()
                if client.should_query_keys:
                    await client.keys_query()
                if client.should_claim_keys:
                    await client.keys_claim(client.get_users_for_key_claiming())
            except Exception:
                log.warning("matrix: key housekeeping failed; retrying after the next sync",
                            exc_info=True)
            finally:
                self._crypto_busy = False

        self._tasks.append(asyncio.create_task(run(), name="matrix-crypto"))
        self._tasks[:] = [t for t in self._tasks if not t.done()]

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

    # --- handling one event ------------------------------------------------------

    async def _room_worker(self, queue: asyncio.Queue[tuple[_Job, asyncio.Future[None]]]) -> None:
        while True:
            job, done = await queue.get()
            try:
                await self._handle(job)
            except asyncio.CancelledError:
                done.cancel()
                raise
            except Exception as exc:
                log.exception("matrix: handling %s failed", job.incoming)
                if not done.done():
                    done.set_exception(exc)
                continue
            if not done.done():
                done.set_result(None)

    async def _handle(self, job: _Job) -> None:
        inc = job.incoming
        if isinstance(inc, tr.Command):
            await self._run(job, inc.text, inc.event_id, inc.sender, reply_to=inc.event_id)
        elif isinstance(inc, tr.Reaction):
            card = await self.runtime.call(self.core.card_of_message, PLATFORM, inc.target)
            if card is None or card[2] != "card":
                return
            community, ref, _ = card
            c = self.settings.community(community)
            claim = c.matrix.claim_reaction if c.matrix else "✋"
            text = tr.reaction_command(inc.key, ref, claim, self.prefix)
            if text:
                await self._run(job, text, inc.event_id, inc.sender, reply_to=inc.target)
        elif isinstance(inc, tr.PollResponse):
            card = await self.runtime.call(self.core.card_of_message, PLATFORM, inc.poll_id)
            if card is None or card[2] != "poll":
                return
            vote = tr.poll_vote(card[1], inc.answers, self.prefix)
            if vote is None:
                return
            if vote.command:
                await self._run(job, vote.command, inc.event_id, inc.sender, reply_to=inc.poll_id)
            elif vote.ask:
                await self._ask(job, inc, vote.ask, card[1])
        elif isinstance(inc, tr.TextReply):
            raw = await self.runtime.call(self.core.kv_get, f"matrix:ask:{inc.in_reply_to}")
            if not raw:
                return
            ask = json.loads(raw)
            if ask.get("sender") != inc.sender:
                return
            await self._run(job, f"{ask['command']} {inc.text}", inc.event_id, inc.sender,
                            reply_to=inc.event_id)

    async def _run(self, job: _Job, text: str, event_id: str, sender: str, *, reply_to: str) -> None:
        """Run a command through the core and send its replies, exactly once per event id."""
        assert self.client is not None
        room = self.client.rooms.get(job.room_id)
        name = (room.user_name(sender) if room else None) or sender
        msg = tr.inbound(text, event_id, sender, community=job.community, room_id=job.room_id,
                         sender_name=name, roles=self._roles(job.community, job.room_id, sender),
                         direct=job.direct)
        replies = await self.runtime.handle(msg)
        for i, reply in enumerate(replies):
            content = tr.notice_content(reply.text, reply_to=reply_to, mentions=[sender])
            await self._send(job.room_id, "m.room.message", content, tr.txn_id("reply", event_id, i))

    async def _ask(self, job: _Job, inc: tr.PollResponse, question: str, ref: str) -> None:
        """Ask a member who disagreed or blocked in a poll for the reason; their reply votes."""
        content = tr.notice_content(question, reply_to=inc.poll_id, mentions=[inc.sender])
        event_id = await self._send(job.room_id, "m.room.message", content, tr.txn_id("ask", inc.event_id))
        position = inc.answers[0]
        await self.runtime.call(self.core.kv_set, f"matrix:ask:{event_id}", json.dumps(
            {"sender": inc.sender, "command": f"{self.prefix}vote {ref} {position}"}))

    async def _send(self, room_id: str, event_type: str, content: dict[str, Any], tx_id: str) -> str:
        """Send one event; the transaction id makes a repeat after a crash a no-op.

        Raises:
            MatrixError: the homeserver refused it (after a few tries for server errors).
        """
        assert self.client is not None
        if self.client.olm is not None:
            await self._await_room(room_id)
            room = self.client.rooms.get(room_id)
            if room is not None and room.encrypted and self.client.should_query_keys:
                with contextlib.suppress(Exception):
                    await self.client.keys_query()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + SEND_GIVE_UP_SECONDS
        attempt = 0
        while True:
            resp = await self.client.room_send(room_id, event_type, content, tx_id=tx_id,
                                               ignore_unverified_devices=True)
            if isinstance(resp, RoomSendResponse):
                return resp.event_id
            code = str(getattr(resp, "status_code", "") or "")
            # A refusal (forbidden, too large, unknown room) will not change by asking again;
            # anything else (a homeserver restarting, overloaded) is retried with the same
            # transaction id, so a send that did land is not duplicated.
            if (code.startswith("M_") and code not in ("M_UNKNOWN", "M_LIMIT_EXCEEDED")) \
                    or loop.time() > give_up:
                break
            attempt += 1
            await asyncio.sleep(min(self.ms.retry_max_seconds, 0.25 * 2 ** min(attempt, 10)))
        raise MatrixError(f"could not send to {room_id}: {getattr(resp, 'message', resp)}")

    async def _await_room(self, room_id: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """nio encrypts only for rooms it has synced; wait for a room the bot just created."""
        assert self.client is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while room_id not in self.client.rooms and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._synced.wait(), deadline - loop.time())

    @staticmethod
    async def _checked(call: Awaitable[Any], what: str) -> Any:
        resp = await call
        if isinstance(resp, ErrorResponse):
            raise MatrixError(f"{what}: {resp.message}")
        return resp

    # --- the outbox: announcements, notices, updates ------------------------------

    async def send(self, message: Outbound) -> None:
        """Deliver an announcement to every room of its community, or a notice by DM.

        A need's announcement is remembered as its card (a claim reaction on it claims the
        need); a proposal's is followed by a poll, and the announcement of its close by the
        poll's end.
        """
        if self.client is None:
            # Raising leaves the entry in the outbox, to be tried again once connected.
            raise MatrixError(f"not connected; outbox entry {message.outbox_id} waits")
        if message.kind == "announce":
            await self._announce(message)
        elif message.kind == "notice":
            await self._notice(message)
        # `update`: the announcement stays as it was posted; `!task` shows the live state.

    async def _mentions(self, message: Outbound) -> list[str]:
        ids: list[str] = []
        for member in message.mentions:
            ids.extend(await self.runtime.call(self.core.identities, member, PLATFORM))
        return ids

    async def _announce(self, o: Outbound) -> None:
        card_kind, ref = tr.announcement_parts(o)
        c = self.settings.community(o.community)
        text = o.text
        hint = tr.choices_hint(o.choices, c.matrix.claim_reaction if c.matrix else "✋")
        if hint and card_kind == "card":
            text += "\n" + hint
        content = tr.notice_content(text, mentions=await self._mentions(o))
        card: Card | None = None
        if ref and ref.startswith("P"):
            card = await self.runtime.call(self.core.card, o.community, ref)  # type: ignore[assignment]
        failed: list[str] = []
        for room_id in self._community_rooms.get(o.community, []):
            try:
                event_id = await self._send(room_id, "m.room.message", content,
                                            tr.txn_id("out", o.outbox_id, room_id))
                if card_kind == "card" and ref:
                    await self.runtime.call(self.core.remember_card, PLATFORM, room_id, event_id,
                                            o.community, ref, "card")
                elif card_kind == "poll" and ref and card is not None:
                    question = unescape(card.title.split(" · ", 1)[-1])
                    poll = tr.poll_start_content(ref, question, o.text)
                    poll_id = await self._send(room_id, self.ms.poll_event_type, poll,
                                               tr.txn_id("poll", o.outbox_id, room_id))
                    await self.runtime.call(self.core.remember_card, PLATFORM, room_id, poll_id,
                                            o.community, ref, "poll")
            except MatrixError as exc:
                log.warning("matrix: announcement %s not delivered to %s: %s", o.outbox_id,
                            room_id, exc)
                failed.append(room_id)
        if failed:
            # The outbox sends it again later; the rooms that have it drop the repeat (same
            # transaction ids), the others get it.
            raise MatrixError(f"announcement {o.outbox_id} not delivered to {', '.join(failed)}")
        if ref and card is not None and card.closed:
            await self._end_polls(o, ref, card)

    async def _end_polls(self, o: Outbound, ref: str, card: Card) -> None:
        posted = await self.runtime.call(self.core.cards_for, PLATFORM, o.community, ref)
        ended = {space for space, _, kind in posted if kind == "pollend"}
        end_type = tr.POLL_END_TYPES[tr.POLL_START_TYPES.index(self.ms.poll_event_type)]
        results = tr.poll_results(card.fields)
        text = unescape(o.text.split("\n", 1)[0])
        for space, poll_id, kind in posted:
            if kind != "poll" or space in ended:
                continue
            try:
                end_id = await self._send(space, end_type, tr.poll_end_content(poll_id, text, results),
                                          tr.txn_id("pollend", poll_id))
                await self.runtime.call(self.core.remember_card, PLATFORM, space, end_id,
                                        o.community, ref, "pollend")
            except MatrixError as exc:
                log.warning("matrix: could not end the poll of %s in %s: %s", ref, space, exc)

    async def _notice(self, o: Outbound) -> None:
        if o.member is None:
            return
        for user_id in await self.runtime.call(self.core.identities, o.member, PLATFORM):
            try:
                room_id = await self._dm_room(user_id, o.community)
                await self._send(room_id, "m.room.message",
                                 tr.notice_content(o.text, mentions=[user_id]),
                                 tr.txn_id("notice", o.outbox_id, user_id))
            except MatrixError as exc:
                log.warning("matrix: notice %s to %s not delivered: %s", o.outbox_id, user_id, exc)

    async def _dm_room(self, user_id: str, community: str) -> str:
        """The bot's direct-message room with a member: reused if it has one, else created."""
        assert self.client is not None
        async with self._dm_lock:
            for room_id, room in self.client.rooms.items():
                if room_id in self._dm_rooms and user_id in room.users and len(room.users) <= 2:
                    return room_id
            initial = [{"type": "m.room.encryption", "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}] if self.ms.encryption else []
            resp = await self.client.room_create(is_direct=True, invite=[user_id],
                                                 preset=RoomPreset.trusted_private_chat,
                                                 initial_state=initial)
            if not isinstance(resp, RoomCreateResponse):
                raise MatrixError(f"could not open a direct chat with {user_id}: "
                                  f"{getattr(resp, 'message', resp)}")
            await self._remember_dm_room(resp.room_id, community)
            await self._await_room(resp.room_id)
            if self.client.olm is not None:
                # Invited members get the room key too; make sure nio knows the member list.
                with contextlib.suppress(Exception):
                    got = await self.client.joined_members(resp.room_id)
                    if isinstance(got, JoinedMembersError):
                        log.debug("matrix: joined_members: %s", got.message)
            return resp.room_id


def _make_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.chmod(0o700)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    # Written to a temporary file with mode 0600 and renamed: the token is never readable by
    # others, and a crash mid-write never leaves half a file.
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)

