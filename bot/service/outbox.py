"""The outbox: announcements, notices and card updates, delivered at least once per platform.

An entry is written in the same transaction as the change it tells of. Each platform's
pump takes entries (a lease), sends them, and reports each one sent or failed; what a
dead process took comes back after its lease, what failed comes back after a backoff,
and the entry's id (`Outbound.outbox_id`) is the idempotency key adapters give the
platform, so a repeat never shows twice.

`Outbox` keeps the entries; `Sending`, a mixin of `Core`, is what adapters call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from bot.clock import Clock
from bot.domain.vocabulary import DeliveryState
from bot.ports import Choice, CommunityId, MemberId, Outbound
from bot.store import sql
from bot.store.models import OutboxEntry
from bot.store.retry import retrying
from bot.store.tx import Tx

log = logging.getLogger(__name__)
OUTBOX_WINDOW = 1000
# How long a process may take to send what it took before another process takes it again.
OUTBOX_LEASE = timedelta(seconds=60)
# Sends of one entry before it is given up (logged as an error, kept as `failed`); the
# waits between them double from OUTBOX_BACKOFF: 5 s, 10 s … about 21 minutes in all.
OUTBOX_ATTEMPTS = 8
OUTBOX_BACKOFF = timedelta(seconds=5)




def _outbound(row: OutboxEntry) -> Outbound:
    payload = row.payload or {}
    return Outbound(community=CommunityId(row.community), text=row.text,
                    kind=row.kind,  # type: ignore[arg-type]
                    member=MemberId(row.member_id) if row.member_id else None, ref=row.ref,
                    choices=choices_of(payload.get("choices", [])),
                    mentions=tuple(MemberId(m) for m in payload.get("mentions", [])),
                    outbox_id=row.id, late=row.late)


def choices_of(data: list[dict]) -> tuple[Choice, ...]:  # type: ignore[type-arg]
    """Choices from their stored form."""
    return tuple(Choice(**c) for c in data)


class Outbox:
    """The outbox of one process.

    Args:
        unit: opens a unit of work on the database (`Core.unit`).
        clock: the core's clock (leases and backoffs are in its time).
    """

    def __init__(self, unit: Callable[[], Tx], clock: Clock) -> None:
        self.unit = unit
        self.clock = clock
        # How long a taken entry is this process's to send before another may take it.
        self.lease = OUTBOX_LEASE

    def begin(self, platform: str) -> None:
        """On a platform's first start, skip announcements made before it existed."""
        with self.unit() as tx:
            key = f"outbox:{platform}"
            if tx.execute(sql.KV_GET, {"k": key}).first() is None:
                top = tx.execute(sql.OUTBOX_TOP).scalar() or 0
                tx.execute(sql.KV_INSERT, {"key": key, "value": str(top)})

    def take(self, platform: str, limit: int = 200) -> list[Outbound]:
        """Take announcements, notices and updates to send on `platform`, oldest first.

        Delivery is at least once: taking an entry leases it to this process for
        `lease`; the caller reports each one with `sent` once the platform
        accepted it, or `failed`. An entry neither reported in time (the process
        died) nor sent yet comes back here, in this or another process, with the same
        `outbox_id`, which adapters turn into the platform's idempotency key so that a
        repeat never shows twice. Two processes never hold the same entry at once: the
        delivery row keyed by (entry, platform) is written, or its lease renewed, by one.
        The pumps ask every couple of seconds, so an empty outbox costs three small queries.
        """
        key = f"outbox:{platform}"
        with self.unit() as tx:
            now = self.clock.now()
            lease = now + self.lease
            out: list[Outbound] = []
            for row in tx.execute(sql.OUTBOX_RETRY_DUE, {"p": platform, "now": now,
                                                         "lim": limit}).all():
                if tx.execute(sql.OUTBOX_RETAKE, {"o": row.id, "p": platform, "now": now,
                                                  "lease": lease}).rowcount:
                    out.append(_outbound(row))
            cursor_value = tx.execute(sql.KV_GET, {"k": key}).scalar()
            cursor = int(cursor_value) if cursor_value is not None else 0
            rows = tx.execute(sql.OUTBOX_PENDING, {"p": platform, "low": cursor - OUTBOX_WINDOW,
                                                     "lim": max(limit - len(out), 0)}).all()
            if not rows:
                return out
            take = sql.take_delivery(tx.connection.dialect.name)
            for row in rows:
                # A row another process inserted first is skipped: it took that entry.
                if tx.execute(take, {"outbox_id": row.id, "platform": platform, "at": now,
                                     "state": DeliveryState.TAKEN, "attempts": 1,
                                     "lease_until": lease}).first() is not None:
                    out.append(_outbound(row))
            top = max(r.id for r in rows)
            if cursor_value is None:
                tx.execute(sql.KV_INSERT, {"key": key, "value": str(top)})
            elif top > cursor:
                tx.execute(sql.KV_UPDATE, {"k": key, "v": str(top)})
        return out

    def sent(self, platform: str, outbox_ids: list[int]) -> None:
        """The platform accepted these entries: they are never taken again."""
        if outbox_ids:
            with self.unit() as tx:
                tx.execute(sql.OUTBOX_SENT, {"p": platform, "ids": list(outbox_ids)})

    def failed(self, platform: str, outbox_id: int, error: str) -> bool:
        """A send failed: try again after a backoff, or give up after `OUTBOX_ATTEMPTS`.

        Returns:
            True when the entry will be tried again.
        """
        with self.unit() as tx:
            attempts = tx.execute(sql.OUTBOX_ATTEMPTS, {"o": outbox_id, "p": platform}).scalar()
            if attempts is None:
                return False  # sent meanwhile, or given up already
            again = attempts < OUTBOX_ATTEMPTS
            wait = OUTBOX_BACKOFF * 2 ** (attempts - 1)
            tx.execute(sql.OUTBOX_FAILED, {
                "o": outbox_id, "p": platform,
                "state": DeliveryState.TAKEN if again else DeliveryState.FAILED,
                "lease": self.clock.now() + wait if again else None, "error": error[:1000]})
        if again:
            log.warning("%s could not deliver outbox entry %s (attempt %d of %d, next in %ds): %s",
                        platform, outbox_id, attempts, OUTBOX_ATTEMPTS, wait.total_seconds(), error)
        else:
            log.error("%s gave up outbox entry %s after %d attempts: %s", platform, outbox_id,
                      attempts, error)
        return again

    def drain(self, platform: str, limit: int = 200) -> list[Outbound]:
        """Take entries and mark them sent at once, for a sender that cannot fail to show
        them (the console's terminal, a test's list)."""
        out = self.take(platform, limit)
        self.sent(platform, [o.outbox_id for o in out if o.outbox_id is not None])
        return out


class Sending:
    """What adapters call to deliver the outbox; `Core` sets the attributes and methods it uses."""

    outbox: Outbox
    _link: Callable[[str, str, str | None], str]

    @retrying
    def outbox_begin(self, platform: str) -> None:
        """On a platform's first start, skip announcements made before it existed."""
        self.outbox.begin(platform)

    @retrying
    def take_outbox(self, platform: str, limit: int = 200) -> list[Outbound]:
        """Take entries to send on `platform`, leased to this process (see `Outbox.take`)."""
        return [self._linked(o) for o in self.outbox.take(platform, limit)]

    @retrying
    def outbox_sent(self, platform: str, outbox_ids: list[int]) -> None:
        """The platform accepted these entries (see `Outbox.sent`)."""
        self.outbox.sent(platform, outbox_ids)

    def _linked(self, o: Outbound) -> Outbound:
        """An announcement about an object links to its page on the public board."""
        if o.kind != "announce":
            return o
        return replace(o, text=self._link(o.text, o.community, o.ref))

    @retrying
    def outbox_failed(self, platform: str, outbox_id: int, error: str) -> bool:
        """A send failed; True when it will be tried again (see `Outbox.failed`)."""
        return self.outbox.failed(platform, outbox_id, error)

    def drain_outbox(self, platform: str, limit: int = 200) -> list[Outbound]:
        """Take entries and mark them sent at once (see `Outbox.drain`)."""
        return [self._linked(o) for o in self.outbox.drain(platform, limit)]
