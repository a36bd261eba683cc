"""Deadlines ⇄ APScheduler: the database is the source of truth, the scheduler a bounded cache.

How it works:

- **Window.** At start and then at the end of each window, the scheduler catches up on
  everything already due (`Core.process_due`: in deadline order, late ones marked late)
  and arms one APScheduler job per deadline of the coming window: the deadlines of the
  next `horizon` hours, at most `max_jobs` of them (the earliest). One more job, `rearm`,
  runs at the window's end (or after `refresh`, whichever comes first) and does it again.
  So a database with 100,000 pending deadlines costs one indexed `ORDER BY … LIMIT` per
  kind and a thousand jobs, never a scan of every row and never a loop every few seconds.
- **Changes.** The core tells its `change_listeners` which objects (`T12`, `P3`, `F1`,
  `digest`) each committed command or deadline touched. The scheduler reloads the
  deadlines of just those objects and moves, adds or drops their jobs at once: a renewed
  claim's reminder and expiry move, a proposal closed early or a cancelled need loses its
  jobs, a new claim, proposal or call gets its own.
- **Jobs take ids only.** Job functions are module-level and receive the scheduler's id
  and the deadline's (community, kind, row id); they find the scheduler in a registry and
  read the deadline afresh from the database, so a job armed before its deadline moved
  fires nothing early. Firing goes through `Core.fire`, whose guarded `UPDATE … WHERE
  state = …` makes a second fire — another process on the same PostgreSQL, a catch-up
  racing a job — a no-op. The core runs in the runtime's thread pool: the event loop
  never waits on the database.
- **Digest.** Each community's digest is one more deadline: the next instant of its
  `digest_cron` (computed by APScheduler's CronTrigger in UTC) after the last one posted;
  one `kv` row per community, moved forward by a guarded UPDATE, makes each instant post
  once across processes.
- **Other processes.** Each bot process arms the deadlines it creates itself; `refresh`
  bounds how long a deadline created by a process that then died waits for another one.
- **Clocks.** Job times are kept in the core's clock and converted to the wall clock for
  APScheduler, so a shifted clock (`COMMONS_CLOCK_OFFSET`) fires at the right moment. A
  `ManualClock` does not flow: tests start the scheduler paused and drive it with
  `advance` / `tick`, which run the same job functions APScheduler would.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.clock import utcnow
from bot.ports import FAR, Due, ObjectDeadlines
from bot.runtime import Runtime

log = logging.getLogger(__name__)

REARM = "rearm"
HORIZON = timedelta(hours=24)
MAX_JOBS = 1000
REFRESH = timedelta(minutes=5)

# Job functions find their scheduler here: jobs carry only ids, never live objects.
_REGISTRY: dict[str, DeadlineScheduler] = {}
_ids = itertools.count(1)


def job_id(item: Due) -> str:
    """The job id of a deadline: `community:kind:row`, stable so re-arming replaces it."""
    return f"{item.community}:{item.kind}:{item.obj_id}"


async def run_deadline(scheduler_id: str, community: str, kind: str, obj_id: int) -> None:
    """APScheduler job: fire one deadline if the database says it is due."""
    sched = _REGISTRY.get(scheduler_id)
    if sched is None:
        log.warning("job for %s:%s:%s outlived its scheduler", community, kind, obj_id)
        return
    await sched.run_deadline(community, kind, obj_id)


async def run_rearm(scheduler_id: str) -> None:
    """APScheduler job: catch up and arm the next window."""
    sched = _REGISTRY.get(scheduler_id)
    if sched is not None:
        await sched.rearm()


@dataclass(frozen=True)
class Armed:
    """A report of one arming: what was caught up and what is now armed."""

    caught_up: int
    jobs: int
    until: datetime


class DeadlineScheduler:
    """Keeps APScheduler jobs for the deadlines of a coming window.

    Args:
        runtime: the runtime whose thread pool runs the core and whose outbox pumps get
            poked after a deadline announced something.
        horizon: how far ahead the window reaches.
        max_jobs: at most this many deadline jobs per window (the earliest ones).
        refresh: re-arm at least this often, to pick up deadlines other processes created
            (None: only at the window's end).
        paused: keep APScheduler from running jobs by itself (tests with a ManualClock
            drive it through `advance` / `tick`).
    """

    def __init__(self, runtime: Runtime, *, horizon: timedelta = HORIZON, max_jobs: int = MAX_JOBS,
                 refresh: timedelta | None = REFRESH, paused: bool = False) -> None:
        self.runtime = runtime
        self.core = runtime.core
        self.clock = runtime.core.clock
        self.horizon = horizon
        self.max_jobs = max_jobs
        self.refresh = refresh
        self.paused = paused
        self.id = f"deadlines-{next(_ids)}"
        self.fired_listeners: list[Callable[[str, str], None]] = []
        self._aps = AsyncIOScheduler(timezone=UTC, job_defaults={
            # A job that is late (the loop was busy, the machine slept) still runs: the
            # deadline itself decides whether it is late.
            "misfire_grace_time": None, "coalesce": True, "max_instances": 1})
        self._armed: dict[str, datetime] = {}
        self._window_end: datetime | None = None
        self._lock = asyncio.Lock()
        self._pending: dict[str, set[str]] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> Armed:
        """Catch up on what fell due while no scheduler ran, then arm the first window."""
        self._loop = asyncio.get_running_loop()
        _REGISTRY[self.id] = self
        self.core.change_listeners.append(self._on_change)
        self._aps.start(paused=self.paused)
        report = await self.rearm()
        log.info("scheduler started: caught up %d deadlines, %d jobs armed until %s",
                 report.caught_up, report.jobs, f"{report.until:%Y-%m-%d %H:%M:%S}")
        return report

    async def shutdown(self) -> None:
        """Stop running jobs (the database keeps every deadline for the next start)."""
        if self._on_change in self.core.change_listeners:
            self.core.change_listeners.remove(self._on_change)
        if self._refresher is not None:
            self._refresher.cancel()
            try:
                await self._refresher
            except asyncio.CancelledError:
                pass
        if self._aps.running:
            self._aps.shutdown(wait=False)
        _REGISTRY.pop(self.id, None)
        self._loop = None

    # --- what tests and logs look at -------------------------------------------------

    def armed(self) -> dict[str, datetime]:
        """Armed jobs: job id → the time it fires, on the core's clock."""
        return dict(self._armed)

    @property
    def window_end(self) -> datetime | None:
        """Where the current window ends (deadlines after it are armed by the next one)."""
        return self._window_end

    async def settled(self) -> None:
        """Wait until every change reported so far has been applied to the jobs.

        Callers bound the wait themselves (`asyncio.timeout`).
        """
        # Let change callbacks queued from worker threads reach the loop first.
        await asyncio.sleep(0)
        while self._refresher is not None and not self._refresher.done():
            await asyncio.shield(self._refresher)
            await asyncio.sleep(0)

    async def tick(self) -> int:
        """Run every armed job whose time has come on the core's clock, earliest first.

        This is what APScheduler does when the wall clock reaches a job; for a clock that
        does not flow (ManualClock) it is how tests let time pass.

        Returns:
            How many jobs ran.
        """
        ran = 0
        while True:
            now = self.clock.now()
            ready = sorted((at, jid) for jid, at in self._armed.items() if at <= now)
            if not ready:
                return ran
            _, jid = ready[0]
            job = self._aps.get_job(jid)
            if job is None:
                self._armed.pop(jid, None)
                continue
            job.remove()  # a date job leaves the store when it runs
            await job.func(*job.args)
            await self.settled()
            ran += 1

    async def advance(self, target: datetime, set_clock: Callable[[datetime], None]) -> int:
        """Move a manual clock to `target` job by job, running each at its own time.

        Returns:
            How many jobs ran.
        """
        ran = 0
        while True:
            upcoming = [at for at in self._armed.values() if at <= target]
            if not upcoming:
                break
            set_clock(max(min(upcoming), self.clock.now()))
            ran += await self.tick()
        set_clock(target)
        return ran + await self.tick()

    # --- arming ----------------------------------------------------------------------

    async def rearm(self) -> Armed:
        """Catch up on everything due, then arm the deadlines of the next window."""
        async with self._lock:
            try:
                caught = await self.runtime.call(self.core.process_due)
            except Exception:
                log.exception("catching up on due deadlines failed; retrying at the next window")
                caught = 0
            if caught:
                self.runtime.poke()
            now = self.clock.now()
            until = now + self.horizon
            items = await self.runtime.call(self.core.due, until, self.max_jobs)
            # When the window is full it ends at its last deadline; later ones (even at
            # that same instant) are caught up by the rearm job that runs there.
            end = items[-1].at if len(items) >= self.max_jobs else until
            self._window_end = end
            wanted = {job_id(i): i for i in items}
            for jid in [j for j in self._armed if j not in wanted and j != REARM]:
                self._drop(jid)
            for jid, item in wanted.items():
                if self._armed.get(jid) != item.at:
                    self._arm(item)
            nxt = end if self.refresh is None else min(end, now + self.refresh)
            if nxt <= now:
                # Only deadlines that keep failing are due here: retry them later, not in a loop.
                nxt = now + (self.refresh or timedelta(minutes=5))
            self._arm_job(REARM, nxt, run_rearm, [self.id])
            return Armed(caught, len(wanted), end)

    def _wall(self, at: datetime) -> datetime:
        """A core-clock time as the wall-clock time APScheduler waits for."""
        skew = self.clock.now() - utcnow()
        return (at - skew).replace(tzinfo=UTC)

    def _arm_job(self, jid: str, at: datetime, func: Callable[..., Awaitable[None]],
                 args: list[object]) -> None:
        self._aps.add_job(func, trigger=DateTrigger(run_date=self._wall(at), timezone=UTC),
                          args=args, id=jid, name=jid, replace_existing=True)
        self._armed[jid] = at

    def _arm(self, item: Due) -> None:
        self._arm_job(job_id(item), item.at, run_deadline,
                      [self.id, item.community, item.kind, item.obj_id])

    def _drop(self, jid: str) -> None:
        self._armed.pop(jid, None)
        try:
            self._aps.remove_job(jid)
        except JobLookupError:
            pass  # it already ran

    # --- changes ---------------------------------------------------------------------

    def _on_change(self, community: str, refs: frozenset[str]) -> None:
        """Core change listener; called from whichever thread committed."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._queue, community, refs)
        except RuntimeError:
            pass  # the loop is shutting down; the next start re-arms from the database

    def _queue(self, community: str, refs: frozenset[str]) -> None:
        self._pending.setdefault(community, set()).update(refs)
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh(), name="deadlines-refresh")

    async def _refresh(self) -> None:
        while self._pending:
            pending, self._pending = self._pending, {}
            async with self._lock:
                end = self._window_end
                if end is None:
                    continue
                try:
                    found = await self.runtime.call(self._load_refs, pending, end)
                except Exception:
                    log.exception("re-arming changed deadlines failed; the next window will")
                    continue
                for community, got in found.items():
                    keep = {job_id(i) for i in got.due if i.at <= end}
                    for key in got.keys:
                        jid = f"{community}:{key.kind}:{key.obj_id}"
                        if jid not in keep and jid in self._armed:
                            self._drop(jid)
                    for item in got.due:
                        if item.at <= end and self._armed.get(job_id(item)) != item.at:
                            self._arm(item)

    def _load_refs(self, pending: dict[str, set[str]], end: datetime) -> dict[str, ObjectDeadlines]:
        return {community: self.core.deadlines_of(community, frozenset(refs), end)
                for community, refs in pending.items()}

    # --- firing ----------------------------------------------------------------------

    async def run_deadline(self, community: str, kind: str, obj_id: int) -> str:
        """Fire one deadline as the database has it now.

        Returns:
            `applied`, `done` (already applied, here or elsewhere, or no longer pending) or
            `later` (it moved; its job was armed again).
        """
        jid = f"{community}:{kind}:{obj_id}"
        if self._armed.get(jid, FAR) <= self.clock.now():
            self._armed.pop(jid, None)
        try:
            outcome, item = await self.runtime.call(self._fire_current, community, kind, obj_id)
        except Exception:
            log.exception("deadline %s failed; the next window retries it", jid)
            outcome, item = "failed", None
        if outcome == "applied":
            self.runtime.poke()
        elif outcome == "later" and item is not None:
            async with self._lock:
                if self._window_end is not None and item.at <= self._window_end:
                    self._arm(item)
        log.log(logging.INFO if outcome == "applied" else logging.DEBUG, "deadline %s: %s", jid, outcome)
        for fn in list(self.fired_listeners):
            fn(jid, outcome)
        return outcome

    def _fire_current(self, community: str, kind: str, obj_id: int) -> tuple[str, Due | None]:
        item = self.core.current_deadline(community, kind, obj_id)
        if item is None:
            return "done", None
        if item.at > self.clock.now():
            return "later", item
        return ("applied" if self.core.fire(item) else "done"), item
