"""The books' part of `commons-bot audit`: replay the pool's events and compare every fund
balance, receipt, spend, reservation, revenue declaration and payment with the database.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from bot.domain.books import BOOK_KINDS, Balances
from bot.domain.rules import RuleError
from bot.domain.vocabulary import EntryState, ReservationState
from bot.store.models import (
    CallReservation,
    Contribution,
    Event,
    FundingCall,
    Payment,
    Pool,
    PoolEntry,
    RevenueDeclaration,
    Venture,
)

KINDS = BOOK_KINDS | {"revenue.declared", "payable.paid"}


def audit_books(conn: Connection, community: str,
                events: list[tuple[str, str, dict[str, Any]]] | None = None) -> tuple[int, list[str]]:
    """Replay the books of one community and compare them with the database.

    Args:
        conn: a connection (inside the audit's read snapshot).
        community: the community.
        events: (kind, object, details) of the community's events in log order; read here
            when not given.

    Returns:
        How many figures matched, and a line for each difference.
    """
    if events is None:
        events = [(k, o, d or {}) for k, o, d in conn.execute(
            select(Event.kind, Event.object, Event.details)
            .where(Event.community == community, Event.kind.in_(KINDS)).order_by(Event.id))]
    diffs: list[str] = []
    figures = 0
    b = Balances()
    entries: dict[str, list[Any]] = {}  # R1 -> [amount, operations, commons, state]
    held: dict[str, list[Any]] = {}  # F1 -> [amount, state, allocated]
    revenue: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # V1 -> [declared, due]
    paid: dict[str, int] = defaultdict(int)
    for kind, obj, d in events:
        if kind not in KINDS:
            continue
        try:
            b.apply(kind, d)
        except RuleError as exc:
            diffs.append(f"books: {obj}: {exc} in the log")
        if kind in ("receipt.recorded", "spend.recorded"):
            entries[obj] = [d["amount_minor"], d.get("operations_minor", d["amount_minor"]),
                            d.get("commons_minor", 0), EntryState.RECORDED]
        elif kind in ("receipt.reversed", "spend.reversed") and obj in entries:
            entries[obj][3] = EntryState.REVERSED
        elif kind == "pool.reserved":
            held[obj] = [d["amount_minor"], ReservationState.HELD, None]
        elif kind == "pool.settled" and obj in held:
            held[obj][1:] = [ReservationState.SETTLED, d["allocated_minor"]]
        elif kind == "revenue.declared":
            revenue[obj][0] += d["amount_minor"]
            revenue[obj][1] += d["due_minor"]
        elif kind == "payable.paid":
            paid[obj] += 1

    pool = conn.execute(select(Pool.operations_minor, Pool.commons_minor, Pool.reserved_minor)
                        .where(Pool.community == community)).first() or (0, 0, 0)
    for label, derived, stored in zip(("operations fund", "commons fund", "reserved by calls"),
                                      (b.operations, b.commons, b.reserved), pool, strict=True):
        if derived == stored:
            figures += 1
        else:
            diffs.append(f"books: the {label} is {stored} in the database, the log gives {derived}")

    for kind, letter in (("receipt", "R"), ("spend", "S")):
        for e in conn.execute(select(PoolEntry).where(PoolEntry.community == community,
                                                      PoolEntry.kind == kind)):
            ref = f"{letter}{e.number}"
            stored = [e.amount_minor, e.operations_minor, e.commons_minor, e.state]
            if entries.pop(ref, None) == stored:
                figures += 1
            else:
                diffs.append(f"books: {ref} is {stored} in the database, not what the log says")
    diffs.extend(f"books: {ref} is in the log but not in the database" for ref in entries)

    for number, amount, state, allocated in conn.execute(
            select(FundingCall.number, CallReservation.amount_minor, CallReservation.state,
                   CallReservation.allocated_minor)
            .join(FundingCall, FundingCall.id == CallReservation.call_id)
            .where(FundingCall.community == community)):
        if held.pop(f"F{number}", None) == [amount, state, allocated]:
            figures += 1
        else:
            diffs.append(f"books: F{number}'s reservation differs from the log")
    diffs.extend(f"books: {ref}'s reservation is in the log but not in the database" for ref in held)

    for number, declared, due in conn.execute(
            select(Venture.number, func.sum(RevenueDeclaration.amount_minor),
                   func.sum(RevenueDeclaration.due_minor))
            .join(RevenueDeclaration, RevenueDeclaration.venture_id == Venture.id)
            .where(Venture.community == community).group_by(Venture.number)):
        if revenue.pop(f"V{number}", None) == [int(declared), int(due)]:
            figures += 1
        else:
            diffs.append(f"books: V{number}'s declared revenue or dues differ from the log")
    diffs.extend(f"books: {ref}'s revenue is in the log but not in the database" for ref in revenue)

    stored_paid = conn.execute(
        select(func.count()).select_from(Payment)
        .join(Contribution, Contribution.id == Payment.contribution_id)
        .where(Contribution.community == community)).scalar() or 0
    if stored_paid == sum(paid.values()):
        figures += 1
    else:
        diffs.append(f"books: {stored_paid} payments in the database, the log records {sum(paid.values())}")
    return figures, diffs
