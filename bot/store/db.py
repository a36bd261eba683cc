"""Engines and schema upgrades for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


POOL_SIZE = 5
MAX_OVERFLOW = 5
# How long a command waits for a pooled connection before it is retried (see
# bot.store.retry); the retries, not one long wait, bound the time a member waits.
POOL_TIMEOUT = 5.0


def make_engine(url: str, *, pool_size: int = POOL_SIZE, max_overflow: int = MAX_OVERFLOW,
                pool_timeout: float = POOL_TIMEOUT, read_only: bool = False) -> Engine:
    """Create an engine tuned for the bot.

    On PostgreSQL a process holds at most `pool_size + max_overflow` connections (10 by
    default), so N bot processes need N × 10 of the server's `max_connections` (100 by
    default, 3 of them reserved for superusers). A connection that cannot be had (the
    pool is busy, the server refuses with "too many clients", a reset) is retried with
    backoff by the core, like a lock conflict, rather than answered with an error.

    SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` on every transaction: each
    transaction takes the write lock up front, so two writers never deadlock on a lock
    upgrade and "claim the last slot" is serialised. PostgreSQL transactions lock the rows
    they change with `SELECT … FOR UPDATE` instead (see the service layer).

    A `read_only` engine (the public board) begins plain deferred transactions on SQLite,
    so its reads never take the write lock, and the database refuses any write from it.
    """
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=pool_size, max_overflow=max_overflow,
                               pool_timeout=pool_timeout)

        @event.listens_for(engine, "connect")
        def _sqlite_setup(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy issue BEGIN itself (pysqlite's own handling defers it).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if read_only:
                cur.execute("PRAGMA query_only=ON")
            cur.close()

        if read_only:
            # A deferred BEGIN: one consistent snapshot per transaction (WAL), never the
            # write lock, so a long read (an export, the board) does not block the bot.
            engine.dialect.do_begin = _begin_deferred  # type: ignore[method-assign]
            return engine

        def _begin_immediate(dbapi_conn):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            cur.close()

        # The dialect's own begin hook rather than an engine "begin" event: any engine
        # event makes SQLAlchemy dispatch events around every statement, which costs
        # about 7% of a command here.
        engine.dialect.do_begin = _begin_immediate  # type: ignore[method-assign]
        return engine
    if read_only:
        return create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                             pool_timeout=pool_timeout, pool_pre_ping=True,
                             execution_options={"postgresql_readonly": True})
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                         pool_timeout=pool_timeout, pool_pre_ping=True)


def _begin_deferred(dbapi_conn):  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("BEGIN")
    cur.close()


def alembic_config(engine: Engine | None = None, connection: Connection | None = None):  # type: ignore[no-untyped-def]
    """An Alembic config pointing at the packaged migrations and this engine (or connection)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    cfg.attributes["connection"] = connection
    return cfg


# The newest migration; tests/core/test_config_store.py checks it against Alembic's own view.
HEAD_REVISION = "0004_link"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to `revision` (idempotent; run at each start).

    A database already at the head is recognised with one query, without importing
    Alembic: that keeps 12 MB out of every bot process that has nothing to migrate.
    """
    if revision == "head" and _stored_revision(engine) == HEAD_REVISION:
        return
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def migrate(conn: Connection, revision: str = "head") -> None:
    """Apply every migration up to `revision` inside `conn`'s transaction, which the caller
    commits or rolls back (a restore: the schema and the rows it loads are one transaction).
    """
    target = HEAD_REVISION if revision == "head" else revision
    if inspect(conn).has_table("alembic_version") and conn.exec_driver_sql(
            "SELECT version_num FROM alembic_version").scalar() == target:
        return  # there already, without loading Alembic's scripts
    from alembic import command

    command.upgrade(alembic_config(connection=conn), revision)


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every schema revision this version's migrations know."""
    from alembic.script import ScriptDirectory

    return frozenset(s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def _stored_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except DBAPIError:
        return None


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None when it has none."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
