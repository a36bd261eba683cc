"""Shared fixtures: a migrated database for SQLite and for PostgreSQL, and a chat driver.

The migrations run once per pytest process, not once per test:

- SQLite: Alembic migrates one template file; each test gets a copy of it.
- PostgreSQL (the server on 127.0.0.1:5432, database `test`, trust auth; override with
  COMMONS_TEST_PG_URL): Alembic migrates one template schema while the statements it runs
  are recorded, and the template is dropped at once; each test gets its own schema (its
  connections select it with `search_path`), made by replaying the recorded statements in
  one round trip, and dropped afterwards.

Why schemas and not `CREATE DATABASE … TEMPLATE`: on PostgreSQL 15 every `DROP DATABASE`
forces a checkpoint (and `CREATE DATABASE` WAL-logs the whole template, 7.5 MB), about a
second per test on the server that every engineer's runs share; a schema is created and
dropped in a few milliseconds and nothing is left to hold a template open.

Schema and file names carry the pid and a random token, so concurrent runs (and the pytest
processes that subprocess-spawning tests start) never meet. Without the server the cases
marked `postgres` are skipped — except under CI=true, where they fail; a test that reaches
for PostgreSQL without the marker fails, so `pytest -m "not postgres"` never needs it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text

from bot.clock import ManualClock
from bot.config import parse_settings
from bot.ports import CommunityId, InboundMessage, Outbound, Platform
from bot.service.core import Core
from bot.store.db import make_engine, upgrade

PG_URL = os.environ.get("COMMONS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
START = datetime(2026, 12, 1, 12, 0)
SQLITE_NAME = "commons.sqlite3"

_pg_checked: bool | None = None
_running: pytest.Item | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember the test being set up, so that `require_pg` can check its marker."""
    global _running
    _running = item


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
    """Skip without PostgreSQL, or fail when CI=true; fail in a test not marked `postgres`."""
    if _running is not None and _running.get_closest_marker("postgres") is None:
        pytest.fail(f"{_running.nodeid} uses PostgreSQL: mark it @pytest.mark.postgres")
    if not pg_available():
        msg = f"PostgreSQL is not reachable at {PG_URL}"
        if IN_CI:
            pytest.fail(msg + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(msg)


def _unique(prefix: str) -> str:
    """A name no other test, run or process uses: `prefix`, the pid and a random token."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


# --- SQLite: one migrated template file per process, copied for each test ---

_sqlite_template: Path | None = None


def sqlite_url(directory: Path, name: str = SQLITE_NAME) -> str:
    """The URL of a new SQLite file `directory/name`, a copy of the migrated template."""
    global _sqlite_template
    if _sqlite_template is None:
        tmp = Path(tempfile.mkdtemp(prefix=_unique("commons_tpl")))
        atexit.register(shutil.rmtree, tmp, True)
        path = tmp / SQLITE_NAME
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        # Out of WAL mode, so the file alone holds everything (each copy's first
        # connection turns WAL on again, as on a new database).
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        _sqlite_template = path
    target = directory / name
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target}"


# --- PostgreSQL: a schema per test, from the statements one migration ran ---

_pg_admin: Engine | None = None
_pg_script: list[tuple[str, Any]] | None = None


def _admin() -> Engine:
    global _pg_admin
    if _pg_admin is None:
        _pg_admin = create_engine(PG_URL, pool_size=1, max_overflow=2)
        atexit.register(_pg_admin.dispose)
    return _pg_admin


def _schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def _create_schema(prefix: str) -> str:
    schema = _unique(prefix)
    with _admin().begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    return schema


def _migration_script() -> list[tuple[str, Any]]:
    """The statements Alembic runs to migrate an empty schema to the head, reads left out.

    Recorded once per process on a template schema, which is then dropped. Consecutive
    statements without parameters are joined, so a schema is built in a round trip or two.
    """
    global _pg_script
    if _pg_script is None:
        schema = _create_schema("tpl")
        engine = make_engine(_schema_url(schema))
        ran: list[tuple[str, Any]] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if not statement.lstrip().upper().startswith("SELECT"):
                ran.append((statement, parameters))

        try:
            upgrade(engine)
        finally:
            engine.dispose()
            drop_pg_schema(schema)
        script: list[tuple[str, Any]] = []
        for statement, parameters in ran:
            if not parameters and script and not script[-1][1]:
                script[-1] = (f"{script[-1][0]};\n{statement}", None)
            else:
                script.append((statement, parameters or None))
        _pg_script = script
    return _pg_script


def fresh_pg_url() -> tuple[str, str]:
    """A URL whose connections use a new, empty schema; returns (url, schema)."""
    schema = _create_schema("t")
    return _schema_url(schema), schema


def migrated_pg_url() -> tuple[str, str]:
    """A URL whose connections use a new schema at the head revision; returns (url, schema)."""
    script = _migration_script()
    schema = _unique("t")
    raw = _admin().raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema}")
        for statement, parameters in script:
            cur.execute(statement, parameters)
        cur.close()
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    return _schema_url(schema), schema


def drop_pg_schema(schema: str) -> None:
    """Remove a test schema and everything in it."""
    with _admin().begin() as c:
        c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


def _db_url(kind: str, tmp_path: Path, *, migrated: bool) -> Iterator[str]:
    if kind == "sqlite":
        if migrated:
            yield sqlite_url(tmp_path)
        else:
            yield f"sqlite:///{tmp_path / SQLITE_NAME}"
        return
    require_pg()
    url, schema = migrated_pg_url() if migrated else fresh_pg_url()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database at the head revision with nothing in it, for SQLite (a file) and PostgreSQL."""
    yield from _db_url(request.param, tmp_path, migrated=True)


@pytest.fixture(params=DATABASES)
def empty_db_url(request, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database with no tables at all (for the migrations themselves)."""
    yield from _db_url(request.param, tmp_path, migrated=False)


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
            message_id: str | None = None, private: bool | None = None) -> str:
        """Send `text` as `member`; return the single reply's text."""
        replies = self.send(member, text, platform=platform, roles=roles, message_id=message_id,
                            private=private)
        assert len(replies) == 1, replies
        return replies[0].text

    def send(self, member: str, text: str, *, platform: str = "console", roles=(),  # type: ignore[no-untyped-def]
             message_id: str | None = None, private: bool | None = None) -> list[Outbound]:
        """Send `text` as `member`; return every reply.

        `private`: sent where nobody else sees it (a direct chat, a Discord slash command);
        by default only on the console, as the console adapter sends, and in a room elsewhere.
        """
        msg = InboundMessage(community=CommunityId("demo"), platform=Platform(platform),
                             space="room", sender=member, sender_name=member, text=text,
                             message_id=message_id, roles=frozenset(roles),
                             private=platform == "console" if private is None else private)
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
