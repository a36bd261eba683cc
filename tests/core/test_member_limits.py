"""Per-member limits hold under concurrency (issue 9, item 3): one member's commands from
many connections, threads and processes, on PostgreSQL's default READ COMMITTED too."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from sqlalchemy import func, select

from bot.ports import CommunityId, InboundMessage, Platform
from bot.store.models import Claim
from tests.conftest import build, require_pg

NEEDS = 12
PROCESSES = 4


def _msg(sender: str, text: str, message_id: str | None = None) -> InboundMessage:
    return InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"), space="room",
                          sender=sender, sender_name=sender, text=text, message_id=message_id)


def _offer_needs(core) -> None:  # type: ignore[no-untyped-def]
    for i in range(NEEDS):
        core.handle(_msg("@alice:example.org", f"!offer Need {i}"))
    # bob exists before the race (his first contact creates his member).
    core.handle(_msg("@bob:example.org", "!whoami"))


def _claims_at_once(core, numbers: list[int], barrier) -> list[str]:  # type: ignore[no-untyped-def]
    replies: dict[int, str] = {}

    def claim(n: int) -> None:
        barrier.wait()
        [out] = core.handle(_msg("@bob:example.org", f"!claim T{n}", f"$claim-{n}"))
        replies[n] = out.text

    threads = [threading.Thread(target=claim, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return [replies[n] for n in numbers]


def _check(replies: list[str], core) -> None:  # type: ignore[no-untyped-def]
    won = [r for r in replies if r.startswith("You claimed")]
    refused = [r for r in replies if r.startswith("✗ you already have 3 active claims")]
    assert len(won) == 3 and len(refused) == NEEDS - 3, replies
    with core.unit() as tx:
        s = tx.session
        assert s.scalar(select(func.count()).select_from(Claim).where(Claim.state == "active")) == 3


def test_one_member_twelve_claims_at_once_from_threads(db_url):
    core, _ = build(db_url)
    _offer_needs(core)
    barrier = threading.Barrier(NEEDS)
    _check(_claims_at_once(core, list(range(1, NEEDS + 1)), barrier), core)
    core.engine.dispose()


def _process(url: str, numbers: list[int], barrier, results) -> None:  # type: ignore[no-untyped-def]
    core, _ = build(url)
    try:
        results.put(_claims_at_once(core, numbers, barrier))
    finally:
        core.engine.dispose()


@pytest.mark.postgres
def test_one_member_twelve_claims_at_once_from_four_processes(tmp_path):
    require_pg()
    from tests.conftest import drop_pg_schema, migrated_pg_url

    url, schema = migrated_pg_url()
    try:
        core, _ = build(url)
        _offer_needs(core)
        ctx = multiprocessing.get_context("spawn")
        # Every thread of every process starts its claim at the same instant.
        barrier = ctx.Barrier(NEEDS)
        results = ctx.Queue()
        per = NEEDS // PROCESSES
        procs = [ctx.Process(target=_process, args=(url, list(range(1 + i * per, 1 + (i + 1) * per)),
                                                     barrier, results)) for i in range(PROCESSES)]
        for p in procs:
            p.start()
        replies = [r for _ in procs for r in results.get(timeout=120)]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
        _check(replies, core)
        core.engine.dispose()
    finally:
        drop_pg_schema(schema)
