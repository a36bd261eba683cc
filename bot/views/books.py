"""Read model of the foundation's books for the public board: each fund's
balance over time (replayed from the events that moved it) and the flows between ventures,
members, the pool, funding calls and contributors. Read-only, on the caller's connection.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select

from bot.chat.render import money
from bot.domain.books import BOOK_KINDS, Balances
from bot.domain.vocabulary import EntryState, ReservationState
from bot.store.models import (
    CallReservation,
    Contribution,
    Event,
    FundingCall,
    Member,
    Need,
    NeedPayer,
    Payment,
    Pool,
    PoolEntry,
    Venture,
)


def books(conn: Connection, community: str, currency: str) -> dict[str, Any]:
    """Balances now, each day's closing balances, and the flows of money, as the board shows them."""
    pool = conn.execute(select(Pool.currency, Pool.operations_minor, Pool.commons_minor,
                               Pool.reserved_minor).where(Pool.community == community)).first()
    cur = pool[0] if pool is not None else currency
    now = Balances(*pool[1:]) if pool is not None else Balances()
    days: dict[str, Balances] = {}
    replay = Balances()
    for at, kind, details in conn.execute(
            select(Event.at, Event.kind, Event.details)
            .where(Event.community == community, Event.kind.in_(BOOK_KINDS)).order_by(Event.id)):
        replay.apply(kind, details or {})
        days[f"{at:%Y-%m-%d}"] = Balances(replay.operations, replay.commons, replay.reserved)
    over_time = [{"day": d, "operations": money(b.operations, cur), "commons": money(b.commons, cur),
                  "reserved": money(b.reserved, cur), "available": money(b.available, cur),
                  "operations_minor": b.operations, "commons_minor": b.commons}
                 for d, b in days.items()]
    return {"currency": cur,
            "balances": {"operations": money(now.operations, cur), "commons": money(now.commons, cur),
                         "reserved": money(now.reserved, cur), "available": money(now.available, cur)},
            "over_time": over_time, "flows": flows(conn, community, cur)}


def flows(conn: Connection, community: str, cur: str) -> list[dict[str, str]]:
    """Money that moved, summed per (from, to): givers → pool → operations / calls → contributors."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for venture, member, kind, amount, ops in conn.execute(
            select(Venture.number, Member.display_name, PoolEntry.kind, PoolEntry.amount_minor,
                   PoolEntry.operations_minor)
            .outerjoin(Venture, Venture.id == PoolEntry.venture_id)
            .outerjoin(Member, Member.id == PoolEntry.from_member)
            .where(PoolEntry.community == community, PoolEntry.state == EntryState.RECORDED)):
        if kind == "receipt":
            giver = f"V{venture}" if venture is not None else (member or "a member")
            out[(giver, "the pool")] += amount
        else:
            out[("the operations fund", "operations")] += ops
    for number, allocated in conn.execute(
            select(FundingCall.number, CallReservation.allocated_minor)
            .join(CallReservation, CallReservation.call_id == FundingCall.id)
            .where(FundingCall.community == community, CallReservation.state == ReservationState.SETTLED)):
        out[("the commons fund", f"F{number}")] += allocated or 0
    for payee, amount, call, venture in conn.execute(
            select(Member.display_name, Contribution.reward_minor, FundingCall.number, Venture.number)
            .select_from(Payment).join(Contribution, Contribution.id == Payment.contribution_id)
            .join(Member, Member.id == Contribution.member_id)
            .join(Need, Need.id == Contribution.need_id)
            .outerjoin(FundingCall, FundingCall.id == Need.call_id)
            .outerjoin(NeedPayer, NeedPayer.need_id == Need.id)
            .outerjoin(Venture, Venture.id == NeedPayer.venture_id)
            .where(Contribution.community == community)):
        payer = f"F{call}" if call is not None else (f"V{venture}" if venture is not None
                                                     else "the foundation")
        out[(payer, payee)] += amount or 0
    return [{"from": a, "to": b, "amount": money(v, cur)} for (a, b), v in out.items() if v]
