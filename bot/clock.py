"""Clocks: the core never reads the wall clock itself, so tests and the console can move time."""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


def utcnow() -> datetime:
    """The current UTC time as a naive datetime (the form stored in the database)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Clock(Protocol):
    """Anything that tells the time in naive UTC."""

    def now(self) -> datetime:
        """Return the current time, naive UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the wall-clock time, naive UTC."""
        return utcnow()


class ManualClock:
    """A clock that only moves when told to: used by tests and by the console's `/time`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or utcnow()).replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` and return the new time."""
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Put the clock at `when` (naive UTC)."""
        with self._lock:
            self._now = when


class OffsetClock:
    """The wall clock shifted by an offset the console can grow (`/time +3d`)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        """Return the wall-clock time plus the offset."""
        return utcnow() + self.offset

    def advance(self, delta: timedelta) -> datetime:
        """Grow the offset by `delta` and return the new time."""
        self.offset += delta
        return self.now()


CLOCK_OFFSET_ENV = "COMMONS_CLOCK_OFFSET"


def clock_from_env() -> Clock:
    """The real clock, or — for tests and demos only — one shifted by `COMMONS_CLOCK_OFFSET`.

    `COMMONS_CLOCK_OFFSET=259200` makes the process live three days (259,200 seconds) in the
    future, with time still flowing: a restart test uses it to let deadlines fall due while
    "the bot was down" without sleeping. Every process given the same offset shares one
    timeline. Never set it in production: deadlines would fire at the wrong time.

    Raises:
        ValueError: the variable is set but is not a number of seconds.
    """
    raw = os.environ.get(CLOCK_OFFSET_ENV, "").strip()
    if not raw:
        return SystemClock()
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{CLOCK_OFFSET_ENV}={raw!r}: expected a number of seconds") from None
    logging.getLogger(__name__).warning("%s is set: the bot's clock runs %+.0f s off the real time "
                                        "(tests and demos only)", CLOCK_OFFSET_ENV, seconds)
    return OffsetClock(timedelta(seconds=seconds))
