"""Firing deadlines: what is due, applying it exactly once, catching up in deadline order,
and the digest on demand (`DeadlineRunner`, a mixin of `Core`).

What each deadline does is in `bot.service.deadlines`; the bot applies it in a `Ctx`
of its own, with no member acting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.clock import Clock
from bot.config import Settings
from bot.service import deadlines, digest
from bot.service.context import Ctx
from bot.store.retry import RETRIES, backoff, retryable
from bot.store.tx import Tx

# Logged as the core's, as before the core was split: log filters and alerts name it.
log = logging.getLogger("bot.service.core")

# Deadlines a catch-up fires per transaction (see Core.fire_many).
FIRE_GROUP = 50


class DeadlineRunner:
    """The entry point for deadlines; `Core` sets the attributes and methods it uses."""

    settings: Settings
    clock: Clock
    prefix: str
    unit: Callable[[], Tx]
    _changed: Callable[[str, set[str]], None]

    def due(self, until: datetime | None = None, limit: int | None = None) -> list[deadlines.Due]:
        """Every deadline due at or before `until` (default: now), earliest first."""
        now = self.clock.now()
        until = until or now
        with self.unit() as tx:
            items: list[deadlines.Due] = []
            for c in self.settings.communities:
                items.extend(deadlines.due_items(tx, c, until, limit, now=min(now, until)))
        items.sort()
        return items[:limit] if limit else items

    def fire(self, item: deadlines.Due) -> bool:
        """Apply one deadline in its own transaction; False when it was already applied."""
        community = self.settings.community(item.community)
        for attempt in range(RETRIES):
            try:
                with self.unit() as tx:
                    ctx = Ctx(tx=tx, community=community, platform="bot", now=self.clock.now(),
                              prefix=self.prefix)
                    done = deadlines.fire(ctx, item)
                    ctx.write_log()
                self._changed(item.community, ctx.changed)
                return done
            except (DBAPIError, PoolTimeout) as exc:
                if attempt + 1 < RETRIES and retryable(exc):
                    time.sleep(backoff(attempt))
                    continue
                raise
        return False

    def process_due(self) -> int:
        """Fire everything that is due now, in deadline order. Idempotent.

        Returns:
            How many deadlines this call applied (ones applied before, here or by another
            process, are not counted).
        """
        fired = 0
        while True:
            batch = self.due(limit=500)
            applied = 0
            for i in range(0, len(batch), FIRE_GROUP):
                applied += self.fire_many(batch[i:i + FIRE_GROUP])
            fired += applied
            # A full batch where nothing applied is one another process is firing right now
            # (or one that keeps failing): stop instead of spinning; the next run retries.
            if len(batch) < 500 or not applied:
                return fired

    def fire_many(self, items: list[deadlines.Due]) -> int:
        """Apply deadlines in order, several in one transaction; the same as `fire` on each.

        A catch-up fires hundreds in a row, and per transaction a connection check, BEGIN
        and COMMIT cost as much as a deadline's own statements on PostgreSQL. If anything
        goes wrong the group is undone and each is fired in its own transaction, with
        retries, so one broken deadline never holds back the others.

        Returns:
            How many were applied here.
        """
        if len(items) > 1:
            done: list[tuple[str, set[str]]] = []
            try:
                applied = 0
                with self.unit() as tx:
                    for item in items:
                        ctx = Ctx(tx=tx, community=self.settings.community(item.community),
                                  platform="bot", now=self.clock.now(), prefix=self.prefix)
                        applied += deadlines.fire(ctx, item)
                        ctx.write_log()
                        done.append((item.community, ctx.changed))
            except Exception:
                log.debug("a group of %d deadlines failed; firing them one by one", len(items),
                          exc_info=True)
            else:
                for community, refs in done:
                    self._changed(community, refs)
                return applied
        applied = 0
        for item in items:
            try:
                applied += self.fire(item)
            except Exception:
                # One broken deadline must not hold back every later one.
                log.exception("deadline %s %s of %s failed", item.kind, item.obj_id, item.community)
        return applied

    def next_deadline(self) -> datetime | None:
        """The earliest pending deadline, overdue ones included (for the console's `/time`)."""
        items = self.due(until=deadlines.FAR, limit=1)
        return items[0].at if items else None

    def advance_to(self, target: datetime, clock_set: Callable[[datetime], None]) -> int:
        """Move a manual clock to `target`, firing each deadline at its own time on the way.

        This is what the scheduler would have done had it run through that time, so the
        console's `/time +3d` shows effects in deadline order and not as late.
        """
        fired = 0
        while True:
            nxt = self.next_deadline()
            if nxt is None or nxt > target:
                break
            clock_set(max(nxt, self.clock.now()))
            n = self.process_due()
            fired += n
            if n == 0 and self.next_deadline() == nxt:
                break  # nothing more can move at this instant
        clock_set(target)
        return fired + self.process_due()

    def post_digest(self, community: str) -> int:
        """Post the digest of a community now (outside its cron), through the outbox.

        Returns:
            The outbox id of the announcement.
        """
        c = self.settings.community(community)
        with self.unit() as tx:
            ctx = Ctx(tx=tx, community=c, platform="bot", now=self.clock.now(), prefix=self.prefix)
            entry = digest.post(ctx)
            ctx.write_log()
            return entry.id
