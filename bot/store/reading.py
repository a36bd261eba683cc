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
from itertools import count
from typing import Any

from sqlalchemy import Connection, Engine, Select
from sqlalchemy.exc import DBAPIError

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
    """The rows of a long read as the driver's plain tuples, `batch` at a time.

    For the exports and the audit, which read a million rows: on the driver's cursor (a
    server-side cursor on PostgreSQL), without SQLAlchemy's per-row work, so a statement
    must select only columns the driver returns as they are wanted (text, numbers, and
    on PostgreSQL times). Its parameters are rendered into the SQL, so they must be values
    SQLAlchemy can render: the community id, kinds, a time.
    """
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cur = raw.cursor(name=f"commons_read_{next(_cursor_names)}")
        cur.itersize = batch
    else:
        cur = raw.cursor()
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        cur.execute(sql)
        while rows := cur.fetchmany(batch):
            yield from rows
    except driver_error as e:
        # As SQLAlchemy's own execution would raise it, so callers see one kind of error.
        raise DBAPIError.instance(sql, None, e, driver_error) from e
    finally:
        cur.close()


_cursor_names = count(1)
