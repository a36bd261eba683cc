"""Which database errors are worth another try, and how long to wait before it.

Lock conflicts (a deadlock, a serialization failure, SQLite's busy lock) and connection
trouble (the server's "too many clients", a refused or reset connection, a pool with no
free connection in time) pass by themselves: the command is run again from the start in
a new transaction, after a growing, jittered wait, instead of being answered with an
internal error.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

P = ParamSpec("P")
T = TypeVar("T")

# Tries of one command or deadline; the waits between them add up to about 4 s (7 s at most).
RETRIES = 12
_FIRST_WAIT = 0.005
_MAX_WAIT = 1.0

_LOCKS = ("deadlock", "could not serialize", "database is locked", "lock timeout", "busy")
_CONNECTIONS = (
    "too many clients", "too many connections", "remaining connection slots",
    "connection refused", "connection reset", "could not connect", "connection failed",
    "server closed the connection", "terminating connection", "connection timeout expired",
    "connection is closed", "the database system is starting up",
    "the database system is shutting down", "ssl syscall error",
)


def retryable(exc: BaseException) -> bool:
    """Whether running the same work again may succeed."""
    if isinstance(exc, (IntegrityError, PoolTimeout)):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return any(s in text for s in _LOCKS + _CONNECTIONS)


def backoff(attempt: int) -> float:
    """Seconds to wait before try `attempt + 2`: doubling from 5 ms up to 1 s, jittered so
    that processes that collided do not collide again in step."""
    return min(_MAX_WAIT, _FIRST_WAIT * 2 ** attempt) * random.uniform(0.5, 1.5)


def retrying(fn: Callable[P, T]) -> Callable[P, T]:
    """Run `fn` again, after `backoff`, when it fails with a `retryable` error.

    For the core's small calls that adapters make (outbox, cards, adapter state): each
    opens its own transaction, so running it again is running it once more from the start.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(RETRIES):
            try:
                return fn(*args, **kwargs)
            except (DBAPIError, PoolTimeout) as exc:
                if attempt + 1 >= RETRIES or not retryable(exc):
                    raise
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    return wrapper
