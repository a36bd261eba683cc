"""`check-config --connect`: does the database answer, and do the platforms accept the
credentials? Each platform's check lives with its adapter (entry point group
`commons_bot.checks`), so the core never imports a platform library."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points

from sqlalchemy import text

from bot.config import Settings, database_url

TIMEOUT = 10.0


def check_database(settings: Settings) -> str | None:
    """None when the database answers `SELECT 1`, else the one-line problem."""
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from bot.store.db import make_engine

    url = database_url(settings)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        # Not created by a check: the first start creates it.
        folder = Path(parsed.database).resolve().parent
        return None if folder.is_dir() else f"database_url: the folder {folder} does not exist"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        return f"database_url: the database does not answer: {first}"
    finally:
        engine.dispose()
    return None


def connect_checks(settings: Settings) -> list[str]:
    """Every problem found by connecting: the database, then each configured platform."""
    problems = [p for p in [check_database(settings)] if p]
    checks = {ep.name: ep for ep in entry_points(group="commons_bot.checks")}
    for platform in ("matrix", "discord"):
        if getattr(settings, platform) is None or not any(getattr(c, platform) for c in settings.communities):
            continue
        if platform not in checks:
            problems.append(f"{platform}: the adapter is not installed — "
                            f"pip install 'commons-bot[{platform}]'")
            continue
        check = checks[platform].load()
        try:
            problem = asyncio.run(asyncio.wait_for(check(settings), TIMEOUT))
        except TimeoutError:
            problem = f"{platform}: no answer within {TIMEOUT:.0f} s"
        if problem:
            problems.append(problem)
    return problems
