"""Receipts, spends and funding calls racing for the same pool: never overdrawn."""

from __future__ import annotations

import threading

from sqlalchemy import select

from bot.domain.books import Balances
from bot.ports import CommunityId, InboundMessage, Platform
from bot.store.models import Event, Pool
from tests.conftest import build


def _say(core, member: str, text: str, message_id: str | None = None) -> str:  # type: ignore[no-untyped-def]
    [out] = core.handle(InboundMessage(community=CommunityId("demo"), platform=Platform("console"),
                                       space="c", sender=member, sender_name=member, text=text,
                                       message_id=message_id))
    return out.text


def _race(core, texts: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    """Send every text as the foundation at the same instant, each from its own thread."""
    barrier = threading.Barrier(len(texts))
    replies: list[str | None] = [None] * len(texts)

    def run(i: int, text: str) -> None:
        barrier.wait()
        replies[i] = _say(core, "fundco", text, message_id=f"race-{i}")

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(texts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r is not None for r in replies), replies
    return replies  # type: ignore[return-value]


def test_receipts_spends_and_calls_racing_never_overdraw(db_url):
    core, _ = build(db_url, pool=True)
    _say(core, "bob", "!whoami")
    assert _say(core, "fundco", "!receive 200EUR from:@bob").startswith("R1 recorded")
    # 100 EUR in each fund. Thirty calls of 10 EUR, ten spends of 15 EUR and five receipts of
    # 20 EUR (10 EUR more in each fund) all at once.
    texts = ([f"!fund Call {i} budget:10EUR closes:7d" for i in range(30)]
             + [f"!spend 15EUR bill {i}" for i in range(10)]
             + ["!receive 20EUR from:@bob" for _ in range(5)])
    replies = _race(core, texts)
    calls, spends, receipts = replies[:30], replies[30:40], replies[40:]
    opened = [r for r in calls if r.startswith("F") and " is open until " in r]
    refused_calls = [r for r in calls if r.startswith("✗ the commons fund has ")]
    assert len(opened) + len(refused_calls) == 30, calls
    spent = [r for r in spends if r.startswith("S") and " recorded: 15 EUR" in r]
    refused_spends = [r for r in spends if r.startswith("✗ the operations fund has ")]
    assert len(spent) + len(refused_spends) == 10, spends
    assert all(r.startswith("R") and " recorded: 20 EUR" in r for r in receipts), receipts
    # The first 100 EUR of the commons fund always covers ten calls; the receipts may add five.
    assert 10 <= len(opened) <= 15
    assert 6 <= len(spent) <= 10
    with core.unit() as tx:
        s = tx.session
        pool = s.scalars(select(Pool)).one()
        assert pool.commons_minor == 150_00
        assert pool.reserved_minor == len(opened) * 10_00 <= pool.commons_minor
        assert pool.operations_minor == 150_00 - len(spent) * 15_00 >= 0
        # The log, replayed in order, agrees with the row and never went below zero.
        replay = Balances()
        for kind, details in s.execute(select(Event.kind, Event.details).order_by(Event.id)):
            replay.apply(kind, details)
        assert (replay.operations, replay.commons, replay.reserved) == (
            pool.operations_minor, pool.commons_minor, pool.reserved_minor)
    core.engine.dispose()
