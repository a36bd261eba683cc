"""The composition root: the one place where settings, engine, clock and core are wired."""

from __future__ import annotations

import logging

from bot.clock import Clock, clock_from_env
from bot.config import Settings
from bot.service.core import Core
from bot.store.db import make_engine, upgrade


def build_core(settings: Settings, clock: Clock | None = None, *, migrate: bool = True) -> Core:
    """Create the engine, bring the schema up to date and return a ready core.

    Without a clock the core reads the real time (shifted only by the test-only
    `COMMONS_CLOCK_OFFSET`, see `bot.clock.clock_from_env`).
    """
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size,
                         max_overflow=settings.database_max_overflow)
    if migrate:
        upgrade(engine)
    return Core(settings, engine, clock or clock_from_env())


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr in one consistent format (stdout is the console's chat)."""
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic announces every migration at INFO; that is noise in a terminal chat.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler logs every job run at INFO; our scheduler logs what a deadline did instead.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
