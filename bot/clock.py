"""Clocks: the core never reads the wall clock itself, so tests and the console can move time."""

from __future__ import annotations

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

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        """Return the wall-clock time plus the offset."""
        return utcnow() + self.offset

    def advance(self, delta: timedelta) -> datetime:
        """Grow the offset by `delta` and return the new time."""
        self.offset += delta
        return self.now()
