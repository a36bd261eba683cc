"""Connection exhaustion is waited out, not answered with an internal error (issue 9, item 7)."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.clock import ManualClock
from bot.ports import CommunityId, InboundMessage, Platform
from bot.service.core import INTERNAL_ERROR, Core
from bot.store.db import make_engine, upgrade
from bot.store.retry import retryable
from tests.conftest import PG_URL, START, drop_pg_schema, make_settings, migrated_pg_url, require_pg

THREADS = 16


def _race(core: Core) -> list[str]:
    barrier = threading.Barrier(THREADS)
    replies: list[str] = [""] * THREADS

    def run(i: int) -> None:
        msg = InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"), space="r",
                             sender=f"@m{i}:example.org", sender_name=f"m{i}",
                             text="!claim T1" if i % 2 else "!needs", message_id=f"$c{i}")
        barrier.wait()
        [out] = core.handle(msg)
        replies[i] = out.text

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return replies


def _check(replies: list[str]) -> None:
    assert INTERNAL_ERROR not in replies
    claims = replies[1::2]
    assert sum(r.startswith("You claimed T1") for r in claims) == 1, claims
    assert sum(r.startswith("✗ T1 is full") for r in claims) == len(claims) - 1, claims
    assert all(r.startswith("Open needs") or "T1" in r for r in replies[0::2]), replies[0::2]


def _core(url: str, **pool) -> Core:  # type: ignore[no-untyped-def]
    engine = make_engine(url, **pool)
    core = Core(make_settings(url), engine, ManualClock(START))
    core.handle(InboundMessage(community=CommunityId("demo"), platform=Platform("console"), space="c",
                               sender="alice", sender_name="alice", text="!offer The one slot"))
    return core


@pytest.mark.postgres
def test_a_role_limited_to_two_connections_still_answers_everyone():
    """The server refuses connections ("too many connections for role"): retried."""
    require_pg()
    url, schema = migrated_pg_url()
    role = "commons_lim_" + uuid.uuid4().hex[:8]
    admin = create_engine(PG_URL)
    try:
        setup = make_engine(url)
        upgrade(setup)
        setup.dispose()
        with admin.begin() as c:
            c.execute(text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2"))
            c.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
            c.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO {role}"))
            c.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"))
        limited = make_url(url).set(username=role).render_as_string(hide_password=False)
        # The pool would open 16; the server allows this role 2.
        core = _core(limited, pool_size=8, max_overflow=8)
        try:
            _check(_race(core))
        finally:
            core.engine.dispose()
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP OWNED BY {role}"))
            c.execute(text(f"DROP ROLE {role}"))
        admin.dispose()
        drop_pg_schema(schema)


def test_a_pool_smaller_than_the_threads_waits_instead_of_failing(db_url):
    """The pool has no free connection within its timeout: retried."""
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    core = _core(db_url, pool_size=1, max_overflow=0, pool_timeout=0.01)
    try:
        _check(_race(core))
    finally:
        core.engine.dispose()


def test_connection_errors_are_retryable():
    from sqlalchemy.exc import OperationalError

    for message in ('FATAL:  sorry, too many clients already',
                    'connection failed: Connection refused',
                    'server closed the connection unexpectedly', 'database is locked'):
        assert retryable(OperationalError("SELECT 1", {}, Exception(message)))
    assert not retryable(OperationalError("SELECT 1", {}, Exception('syntax error at or near "x"')))


def test_adapter_calls_wait_out_connection_errors_too():
    from sqlalchemy.exc import OperationalError

    from bot.store.retry import retrying

    calls: list[int] = []

    @retrying
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("SELECT 1", {}, Exception("FATAL: sorry, too many clients already"))
        return "answered"

    assert flaky() == "answered" and len(calls) == 3

    @retrying
    def broken() -> None:
        calls.append(1)
        raise OperationalError("SELECT 1", {}, Exception('relation "nope" does not exist'))

    calls.clear()
    with pytest.raises(OperationalError, match="does not exist"):
        broken()
    assert len(calls) == 1
