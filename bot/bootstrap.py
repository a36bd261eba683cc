"""The composition root: the one place where settings, engine, clock and core are wired."""

from __future__ import annotations

from pathlib import Path

from bot.clock import Clock, clock_from_env
from bot.config import Settings, database_url
from bot.logs import setup_logging as _setup_logging
from bot.service.core import Core
from bot.store.db import make_engine, upgrade


def build_core(settings: Settings, clock: Clock | None = None, *, migrate: bool = True) -> Core:
    """Create the engine, bring the schema up to date and return a ready core.

    Without a clock the core reads the real time (shifted only by the test-only
    `COMMONS_CLOCK_OFFSET`, see `bot.clock.clock_from_env`).
    """
    engine = make_engine(database_url(settings), pool_size=settings.database_pool_size,
                         max_overflow=settings.database_max_overflow)
    if migrate:
        upgrade(engine)
    return Core(settings, engine, clock or clock_from_env())


def setup_logging(level: str = "INFO") -> None:
    """Log text lines to stderr (see `bot.logs.setup_logging` for JSON lines)."""
    _setup_logging(level)


def fresh_start(settings: Settings) -> str:
    """Start the database over for the console; returns what was done, in one line.

    A SQLite file is renamed to `FILE.old` (replacing an older one), never deleted, so a
    fresh start by mistake loses nothing. PostgreSQL is refused: it holds a community's
    record, and a console is not the place to drop it.

    Raises:
        ConfigError: the database is not a SQLite file.
    """
    from sqlalchemy.engine import make_url

    from bot.config import ConfigError

    url = make_url(database_url(settings))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ConfigError("console --fresh starts over only a SQLite file; for PostgreSQL, "
                          "point database_url at a new, empty database")
    db = Path(url.database)
    if not db.exists():
        return f"(fresh start: {db} does not exist yet)"
    old = db.with_name(db.name + ".old")
    # The WAL and shared-memory files move with it: they hold its latest commits.
    for suffix in ("-wal", "-shm", ""):
        src = Path(f"{db}{suffix}")
        if src.exists():
            src.replace(f"{old}{suffix}")
    return f"(fresh start: the previous database is kept as {old})"
