"""Read-only access for the audit and the exports: one consistent snapshot, no write lock.

The bot's own SQLite engine begins every transaction with `BEGIN IMMEDIATE` (the write
lock); a long read such as an export of a million events must not hold that, so readers
get their own engine whose transactions begin deferred — in WAL mode a reader sees one
snapshot and never blocks the bot. On PostgreSQL a read runs in a REPEATABLE READ,
READ ONLY transaction: the same snapshot from the first row to the last.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Select

from bot.store.db import make_engine


def reading_engine(url: str) -> Engine:
    """An engine for long reads of the database at `url` (`make_engine(read_only=True)`)."""
    return make_engine(url, pool_size=1, read_only=True)


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection inside one read transaction (a consistent snapshot), rolled back after."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin() as tx:
            yield conn
            tx.rollback()


def stream_tuples(conn: Connection, stmt: Select[Any], batch: int = 2000) -> Iterator[tuple[Any, ...]]:
    """The rows of a long read, fetched `batch` at a time.

    For the exports and the audit, which read a million rows: `yield_per` streams them
    (a server-side cursor on PostgreSQL, `fetchmany` on SQLite), so memory holds one batch,
    not the whole result. Statements select plain columns (text, numbers, times), so the
    rows cost little beyond the driver's own tuples.
    """
    result = conn.execution_options(yield_per=batch).execute(stmt)
    try:
        for rows in result.partitions():
            yield from rows
    finally:
        result.close()
