"""Scheduling fixtures: the core, its runtime and a paused DeadlineScheduler on a ManualClock.

The scheduler is started paused: APScheduler keeps the jobs but never runs them by the
wall clock; the tests move the manual clock with `Harness.advance`, which runs the same
module-level job functions APScheduler would, each at its own time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.ports import CommunityId, InboundMessage, Outbound, Platform
from bot.runtime import Runtime
from bot.scheduling import REARM, Armed, DeadlineScheduler
from bot.service.core import Core
from bot.store.models import Event, IdentityRow, OutboxEntry
from tests.conftest import build


class Harness:
    """Drive the bot as members and as time: commands in, jobs, outbox and events out."""

    def __init__(self, core: Core, clock) -> None:  # type: ignore[no-untyped-def]
        self.core = core
        self.clock = clock
        self.runtime = Runtime(core)
        self.sched: DeadlineScheduler | None = None
        self.report: Armed | None = None

    async def start(self, **options) -> DeadlineScheduler:  # type: ignore[no-untyped-def]
        """Start the scheduler (catch-up + first window); options go to DeadlineScheduler."""
        options = {"horizon": timedelta(days=30), "refresh": None, "paused": True, **options}
        self.sched = DeadlineScheduler(self.runtime, **options)
        self.report = await self.sched.start()
        return self.sched

    async def say(self, member: str, text: str) -> str:
        """Run a command through the runtime (as an adapter does); return the reply text."""
        msg = InboundMessage(community=CommunityId("demo"), platform=Platform("console"),
                             space="room", sender=member, sender_name=member, text=text)
        [reply] = await self.runtime.handle(msg)
        if self.sched is not None:
            await self.sched.settled()
        return reply.text

    def outbox(self) -> list[Outbound]:
        """Announcements and notices a platform takes since the last call."""
        return [o for o in self.core.drain_outbox("console") if o.kind != "update"]

    def jobs(self) -> dict[tuple[str, int], datetime]:
        """Armed deadline jobs as (kind, row id) → time (the rearm job left out)."""
        assert self.sched is not None
        out = {}
        for jid, at in self.sched.armed().items():
            if jid != REARM:
                _community, kind, oid = jid.split(":")
                out[(kind, int(oid))] = at
        return out

    def kinds(self) -> dict[str, datetime]:
        """Armed jobs as kind → time, for tests with one object per kind."""
        jobs = self.jobs()
        kinds = {k for k, _ in jobs}
        assert len(kinds) == len(jobs), jobs
        return {k: at for (k, _), at in jobs.items()}

    async def advance(self, delta: timedelta) -> int:
        """Let `delta` pass: every job runs at its own time, as APScheduler would run it."""
        assert self.sched is not None
        return await self.sched.advance(self.clock.now() + delta, self.clock.set)

    def member(self, name: str) -> int:
        """The member id of a console user."""
        with self.core.unit() as tx:
            s = tx.session
            return s.scalar(select(IdentityRow.member_id).where(IdentityRow.user_id == name))

    def events(self, kind: str) -> int:
        """How many events of a kind the log holds."""
        with self.core.unit() as tx:
            s = tx.session
            return s.scalar(select(func.count()).select_from(Event).where(Event.kind == kind))

    def rows(self, kind: str) -> list[OutboxEntry]:
        """Every outbox row of a kind (announce, notice, update), oldest first."""
        with self.core.unit() as tx:
            s = tx.session
            return list(s.scalars(select(OutboxEntry).where(OutboxEntry.kind == kind)
                                  .order_by(OutboxEntry.id)))

    async def close(self) -> None:
        """Stop the scheduler, the runtime and the engine."""
        if self.sched is not None:
            await self.sched.shutdown()
        await self.runtime.close()
        self.core.engine.dispose()


# Out of the way of the tests' few weeks of December, so a digest only appears where a
# test asks for one (with `make_h()`).
YEARLY = "0 0 1 1 *"


@pytest.fixture
async def make_h(db_url) -> AsyncIterator[Callable[..., Harness]]:  # type: ignore[no-untyped-def]
    """Build a harness over a fresh database (SQLite and PostgreSQL) with policies set.

    The clock is at tests.conftest.START (Tuesday 2026-12-01 12:00 UTC); the digest is
    the default weekly one (Mondays 09:00 UTC) unless `digest_cron` is given.
    """
    made: list[Harness] = []

    def factory(**policies) -> Harness:  # type: ignore[no-untyped-def]
        core, clock = build(db_url, **policies)
        made.append(Harness(core, clock))
        return made[-1]

    yield factory
    for harness in made:
        await harness.close()


@pytest.fixture
def h(make_h) -> Harness:  # type: ignore[no-untyped-def]
    """A harness whose digest stays out of the way (see YEARLY)."""
    return make_h(digest_cron=YEARLY)
