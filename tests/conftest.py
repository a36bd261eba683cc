"""Shared fixtures: a database URL for SQLite and for PostgreSQL, and a chat driver.

PostgreSQL is the server on 127.0.0.1:5432 (database `test`, trust auth); override with
COMMONS_TEST_PG_URL. Each test gets its own schema, dropped afterwards. Without the
server the PostgreSQL cases are skipped — except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text

from bot.clock import ManualClock
from bot.config import parse_settings
from bot.ports import CommunityId, InboundMessage, Outbound, Platform
from bot.service.core import Core
from bot.store.db import make_engine, upgrade

PG_URL = os.environ.get("COMMONS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
START = datetime(2026, 12, 1, 12, 0)

_pg_checked: bool | None = None


def pg_available() -> bool:
    """Whether the PostgreSQL test server answers (checked once)."""
    global _pg_checked
    if _pg_checked is None:
        try:
            eng = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with eng.connect() as c:
                c.execute(text("select 1"))
            eng.dispose()
            _pg_checked = True
        except Exception:
            _pg_checked = False
    return _pg_checked


def require_pg() -> None:
    """Skip without PostgreSQL, or fail when CI=true."""
    if not pg_available():
        msg = f"PostgreSQL is not reachable at {PG_URL}"
        if IN_CI:
            pytest.fail(msg + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(msg)


def fresh_pg_url() -> tuple[str, str]:
    """A URL whose connections use a new, empty schema; returns (url, schema)."""
    schema = "t_" + uuid.uuid4().hex[:12]
    eng = create_engine(PG_URL)
    with eng.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    eng.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", schema


def drop_pg_schema(schema: str) -> None:
    """Remove a test schema and everything in it."""
    eng = create_engine(PG_URL)
    with eng.begin() as c:
        c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database URL with nothing in it, for SQLite (a file) and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'commons.sqlite3'}"
        return
    require_pg()
    url, schema = fresh_pg_url()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


TEST_CONFIG = {
    "prefix": "!",
    "communities": [{
        "id": "demo",
        "name": "Demo commons",
        "policies": {"claim_days": 14, "max_active_claims": 3, "proposal_hours": 72},
        "roles": {"maintainer": ["matrix:@maria:example.org"], "foundation": []},
        "console": {"members": {"alice": ["maintainer"], "bob": [], "carol": [], "dave": [],
                                "erin": ["maintainer"], "fundco": ["foundation"]}},
    }],
}


def make_settings(db_url: str, **policies):  # type: ignore[no-untyped-def]
    """Test settings on `db_url`, with policies overridden."""
    cfg = {**TEST_CONFIG, "database_url": db_url}
    cfg["communities"] = [dict(cfg["communities"][0])]
    cfg["communities"][0]["policies"] = {**cfg["communities"][0]["policies"], **policies}
    return parse_settings(cfg, "test-config")


class Chat:
    """Push a command in as a member, get the reply text back (errbot's testbot, for us).

    Attributes:
        core: the core under test.
        clock: its manual clock.
    """

    def __init__(self, core: Core, clock: ManualClock) -> None:
        self.core = core
        self.clock = clock
        self._n = 0

    def say(self, member: str, text: str, *, platform: str = "console", roles=(),  # type: ignore[no-untyped-def]
            message_id: str | None = None) -> str:
        """Send `text` as `member`; return the single reply's text."""
        replies = self.send(member, text, platform=platform, roles=roles, message_id=message_id)
        assert len(replies) == 1, replies
        return replies[0].text

    def send(self, member: str, text: str, *, platform: str = "console", roles=(),  # type: ignore[no-untyped-def]
             message_id: str | None = None) -> list[Outbound]:
        """Send `text` as `member`; return every reply."""
        msg = InboundMessage(community=CommunityId("demo"), platform=Platform(platform),
                             space="room", sender=member, sender_name=member, text=text,
                             message_id=message_id, roles=frozenset(roles))
        return self.core.handle(msg)

    def outbox(self, platform: str = "console") -> list[Outbound]:
        """Announcements and notices queued since the last call."""
        return [o for o in self.core.drain_outbox(platform) if o.kind != "update"]

    def announcements(self) -> list[str]:
        """Texts of the announcements queued since the last call."""
        return [o.text for o in self.outbox() if o.kind == "announce"]


def build(db_url: str, **policies) -> tuple[Core, ManualClock]:  # type: ignore[no-untyped-def]
    """A core on a migrated database with a manual clock at START."""
    engine = make_engine(db_url)
    upgrade(engine)
    clock = ManualClock(START)
    return Core(make_settings(db_url, **policies), engine, clock), clock


@pytest.fixture
def chat(db_url) -> Iterator[Chat]:  # type: ignore[no-untyped-def]
    """A chat driver over a fresh core, on SQLite and on PostgreSQL."""
    core, clock = build(db_url)
    c = Chat(core, clock)
    yield c
    core.engine.dispose()
