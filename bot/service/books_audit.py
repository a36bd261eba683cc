"""The books' part of `commons-bot audit`: replay the pool's events and compare every fund
balance, receipt (with who gave it), spend, reservation, revenue declaration and payment
with the database; a call that is no longer open must not still hold a reservation.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from bot.chat.render import money
from bot.domain.books import BOOK_KINDS, Balances
from bot.domain.rules import RuleError
from bot.domain.vocabulary import CallState, EntryState, ReservationState
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
    givers: dict[str, str] = {}  # R1 -> "V2" or "member 5"
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
            if "venture" in d or "member" in d:  # older receipts did not name the giver
                givers[obj] = _giver(d.get("venture"), d.get("member"))
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
        for e in conn.execute(
                select(PoolEntry, Venture.number.label("venture"))
                .outerjoin(Venture, Venture.id == PoolEntry.venture_id)
                .where(PoolEntry.community == community, PoolEntry.kind == kind)):
            ref = f"{letter}{e.number}"
            stored = [e.amount_minor, e.operations_minor, e.commons_minor, e.state]
            same = entries.pop(ref, None) == stored
            if not same:
                diffs.append(f"books: {ref} is {stored} in the database, not what the log says")
            giver = _giver(f"V{e.venture}" if e.venture is not None else None, e.from_member)
            if ref in givers and givers[ref] != giver:
                same = False
                diffs.append(f"books: {ref} came from {givers[ref]} by the log, the database says {giver}")
            figures += same
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
    for number, state, amount, currency in conn.execute(
            select(FundingCall.number, FundingCall.state, CallReservation.amount_minor,
                   FundingCall.currency)
            .join(FundingCall, FundingCall.id == CallReservation.call_id)
            .where(FundingCall.community == community, FundingCall.state != CallState.OPEN,
                   CallReservation.state == ReservationState.HELD)):
        diffs.append(f"books: F{number} is {state} but its reservation still holds "
                     f"{money(amount, currency)} of the commons fund")

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


def _giver(venture: str | None, member: int | None) -> str:
    """Who gave a receipt, as the audit words it: `V2`, `member 5`."""
    if venture is not None:
        return venture
    return f"member {member}" if member is not None else "nobody"
