"""Cron lines (`0 9 * * mon`) as instants in naive UTC, computed with APScheduler's CronTrigger.

APScheduler 3 reads the weekday field of a crontab with Monday as 0, where cron itself
counts from Sunday (its issue #286); `1` would silently mean Tuesday. So the weekday
field is translated to names here before APScheduler sees it. Like APScheduler, and
unlike classic cron, a line that restricts both the day of the month and the weekday fires
when *both* match.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from apscheduler.triggers.cron import CronTrigger

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# Bounds the catch-up search for the latest instant (one per minute over ~2 years).
_MAX_STEPS = 1_100_000


class CronError(ValueError):
    """A cron line that cannot be read; the message says what is expected."""


def _day(token: str) -> int:
    t = token.strip().lower()
    if t.isdigit() and 0 <= int(t) <= 7:
        return int(t) % 7
    if t[:3] in _DAYS:
        return _DAYS.index(t[:3])
    raise CronError(f"'{token}' is not a weekday (0-7 or sun…sat)")


def _weekdays(field: str) -> str:
    """The cron weekday field as APScheduler weekday names."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else 1
        if step_text and step == 1 and step_text != "1":
            raise CronError(f"'{part}' has a bad step")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = _day(a), _day(b)
            if b.strip() == "7":
                hi = 7  # `5-7` is Friday to Sunday
            if hi < lo:
                raise CronError(f"'{part}' runs backwards")
        else:
            lo = hi = _day(rng)
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


@lru_cache(maxsize=64)
def trigger(expr: str) -> CronTrigger:
    """A CronTrigger in UTC for a five-field cron line with cron's weekday numbering.

    Raises:
        CronError: the line is not five valid fields.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(f"expected five fields like '0 9 * * mon', got {len(fields)}")
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_weekdays(dow), timezone=UTC)
    except CronError:
        raise
    except ValueError as exc:
        raise CronError(f"not a valid cron line: {exc}") from None


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC)


def next_after(expr: str, after: datetime) -> datetime | None:
    """The first instant of the cron line strictly after `after` (naive UTC)."""
    nxt = trigger(expr).get_next_fire_time(None, _aware(after.replace(microsecond=0))
                                           + timedelta(seconds=1))
    return nxt.astimezone(UTC).replace(tzinfo=None) if nxt else None


def latest_between(expr: str, after: datetime, until: datetime) -> datetime | None:
    """The last instant in (`after`, `until`], or None when there is none.

    After a long downtime only the latest missed instant matters (a digest is a snapshot
    of now); an exponential search finds a start close to `until`, so a minutely line over
    months costs a few dozen steps rather than one per missed minute.
    """
    first = next_after(expr, after)
    if first is None or first > until:
        return None
    span = timedelta(minutes=1)
    start = after
    while until - span > after:
        probe = next_after(expr, until - span)
        if probe is not None and probe <= until:
            start = until - span
            break
        span *= 2
    found = next_after(expr, start)
    assert found is not None and found <= until
    for _ in range(_MAX_STEPS):
        nxt = next_after(expr, found)
        if nxt is None or nxt > until:
            return found
        found = nxt
    return found
