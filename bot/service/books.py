"""The foundation's books (docs/behaviour.md, The books): receipts, spends, reversals,
`!books`, and the commons fund that pays funding calls when a community's policies say `pool: true`.

Every change locks the community's pool row first (`SELECT … FOR UPDATE`; SQLite's
`BEGIN IMMEDIATE` already serialises writers), then checks the balance it draws on: two
receipts, spends or calls racing for the same available amount are served one after the
other, and the second sees what the first left.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.chat.render import echo, esc, money
from bot.domain.books import Balances, parse_period, period_bounds, split
from bot.domain.ref import Ref, RefKind
from bot.domain.rules import Money, RuleError, parse_money
from bot.domain.vocabulary import EntryState, ReservationState, VentureState
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles
from bot.service.ventures import is_vref, load_venture, payables, venture_line, vref
from bot.store.models import CallReservation, FundingCall, Pool, PoolEntry, Venture

# The pool entry kind each letter names.
_KIND = {RefKind.RECEIPT: "receipt", RefKind.SPEND: "spend"}


def pool(ctx: Ctx, *, lock: bool) -> Pool:
    """The community's pool row, created empty on first use; locked when `lock`.

    Two first uses at once: one insert fails on the primary key and the core retries its
    command, which then finds the row.
    """
    stmt = select(Pool).where(Pool.community == ctx.cid)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = ctx.session.scalars(stmt).first()
    if row is None:
        row = Pool(community=ctx.cid, currency=ctx.policies.currency, operations_minor=0,
                   commons_minor=0, reserved_minor=0)
        ctx.session.add(row)
    return row


def balances(p: Pool) -> Balances:
    """The pool row's balances."""
    return Balances(p.operations_minor, p.commons_minor, p.reserved_minor)


def _amount(ctx: Ctx, word: str | None, example: str) -> Money:
    cur = ctx.policies.currency
    if not word:
        raise ctx.refuse(f"how much? write {ctx.cmd(example.format(cur=cur))}")
    try:
        amount = parse_money(word)
    except RuleError as exc:
        raise ctx.refuse(esc(str(exc))) from None
    if amount.currency != cur:
        raise ctx.refuse(f"the pool keeps its books in {cur}; give the amount in {cur}")
    if amount.minor <= 0:
        raise ctx.refuse("the amount must be more than zero")
    return amount


def _next(ctx: Ctx, kind: str) -> int:
    # Numbering under the pool lock: no two entries of a kind get the same number.
    return (ctx.session.scalar(select(func.max(PoolEntry.number)).where(
        PoolEntry.community == ctx.cid, PoolEntry.kind == kind)) or 0) + 1


@handles("receive")
def receive(ctx: CommandCtx) -> Reply:
    """`!receive 400EUR from:V2 [note]`: the foundation records a receipt into the pool."""
    pa = ctx.parsed
    amount = _amount(ctx, pa.words[0] if pa.words else None, "receive 400{cur} from:V2")
    source = pa.options.get("from")
    if not source:
        raise ctx.refuse("say who gave it: from:V2 for a venture or from:@member")
    venture_id = member_id = None
    if is_vref(source):
        v = load_venture(ctx, source)
        venture_id, giver = v.id, f"{vref(v)} {esc(v.name)}"
    else:
        m = ctx.find_member(source)
        if m is None:
            raise ctx.refuse(f"from:{echo(source, 40)} is neither a venture like V2 nor a member here")
        member_id, giver = m.id, esc(m.display_name)
    p = pool(ctx, lock=True)
    ops, commons = split(amount.minor, ctx.policies.operations_share)
    e = PoolEntry(community=ctx.cid, kind="receipt", number=_next(ctx, "receipt"),
                  amount_minor=amount.minor, currency=amount.currency, operations_minor=ops,
                  commons_minor=commons, venture_id=venture_id, from_member=member_id,
                  note=" ".join(pa.words[1:])[:500], recorded_by=ctx.member.id, at=ctx.now,
                  state=EntryState.RECORDED)
    ctx.session.add(e)
    p.operations_minor += ops
    p.commons_minor += commons
    r = f"R{e.number}"
    cur = amount.currency
    ctx.event("receipt.recorded", r, amount=str(amount), amount_minor=amount.minor, currency=cur,
              operations_minor=ops, commons_minor=commons, note=e.note,
              venture=vref(v) if venture_id is not None else None, member=member_id)
    ctx.announce(f"The foundation received {amount} from {giver} ({r}): {money(ops, cur)} to "
                 f"operations, {money(commons, cur)} to the commons fund.", ref=r)
    return Reply(f"{r} recorded: {amount} from {giver} — operations fund now "
                 f"{money(p.operations_minor, cur)}, commons fund {money(p.commons_minor, cur)}.",
                 ref=r)


@handles("spend")
def spend(ctx: CommandCtx) -> Reply:
    """`!spend 120EUR <purpose>`: the foundation records a spend from the operations fund."""
    pa = ctx.parsed
    amount = _amount(ctx, pa.words[0] if pa.words else None, "spend 120{cur} hosting")
    purpose = " ".join(pa.words[1:]).strip()
    if not purpose:
        raise ctx.refuse(f"say what it paid for, like {ctx.cmd(f'spend {pa.words[0]} hosting')}")
    p = pool(ctx, lock=True)
    cur = amount.currency
    if amount.minor > p.operations_minor:
        raise ctx.refuse(f"the operations fund has {money(p.operations_minor, cur)}; "
                         f"spend at most that")
    e = PoolEntry(community=ctx.cid, kind="spend", number=_next(ctx, "spend"),
                  amount_minor=amount.minor, currency=cur, operations_minor=amount.minor,
                  commons_minor=0, note=purpose[:500], recorded_by=ctx.member.id, at=ctx.now,
                  state=EntryState.RECORDED)
    ctx.session.add(e)
    p.operations_minor -= amount.minor
    r = f"S{e.number}"
    ctx.event("spend.recorded", r, amount=str(amount), amount_minor=amount.minor, currency=cur,
              purpose=e.note)
    ctx.announce(f"The foundation spent {amount} from the operations fund ({r}): {esc(e.note)}",
                 ref=r)
    return Reply(f"{r} recorded: {amount} for {esc(e.note)} — operations fund now "
                 f"{money(p.operations_minor, cur)}.", ref=r)


@handles("reverse")
def reverse(ctx: CommandCtx) -> Reply:
    """`!reverse R7 <reason>` / `!reverse S3 <reason>`: undo a mistaken record, keeping it."""
    pa = ctx.parsed
    token = pa.words[0] if pa.words else ""
    ref = Ref.parse(token, "RS")
    if ref is None:
        raise ctx.refuse("which record? give a receipt like R7 or a spend like S3")
    reason = " ".join(pa.words[1:]).strip()
    if not reason:
        raise ctx.refuse("say why it is reversed")
    p = pool(ctx, lock=True)
    e = ctx.session.scalars(select(PoolEntry).where(
        PoolEntry.community == ctx.cid, PoolEntry.kind == _KIND[ref.kind],
        PoolEntry.number == ref.number)).first()
    r = str(ref)
    if e is None:
        raise ctx.refuse(f"{r} does not exist — see {ctx.cmd('books')}")
    if e.state != EntryState.RECORDED:
        raise ctx.refuse(f"{r} is already reversed")
    cur = e.currency
    if e.kind == "receipt":
        b = balances(p)
        if e.operations_minor > b.operations or e.commons_minor > b.available:
            raise ctx.refuse(
                f"reversing {r} would take {money(e.operations_minor, cur)} from the operations "
                f"fund ({money(b.operations, cur)} there) and {money(e.commons_minor, cur)} from "
                f"the commons fund ({money(b.available, cur)} available); reverse a spend first")
        p.operations_minor -= e.operations_minor
        p.commons_minor -= e.commons_minor
    else:
        p.operations_minor += e.amount_minor
    e.state, e.reversed_at, e.reversed_by, e.reverse_reason = (EntryState.REVERSED, ctx.now, ctx.member.id,
                                                               reason)
    ctx.event(f"{e.kind}.reversed", r, reason=reason, amount=money(e.amount_minor, cur),
              amount_minor=e.amount_minor, currency=cur, operations_minor=e.operations_minor,
              commons_minor=e.commons_minor)
    ctx.announce(f"The foundation reversed {r} ({money(e.amount_minor, cur)}): {esc(reason)}",
                 ref=r)
    return Reply(f"{r} is reversed — operations fund {money(p.operations_minor, cur)}, "
                 f"commons fund {money(p.commons_minor, cur)}.", ref=r)


# --- funding calls paid from the commons fund --------------------------------------------


def reserve(ctx: Ctx, call: FundingCall, r: str, at: datetime | None = None,
            late: bool = False) -> None:
    """With `pool: true`: hold a new call's budget from the commons fund, or refuse.

    `at`, `late`: a held call opened by its proposal's deadline after downtime is reserved
    at that deadline, and its event says so (see `Ctx.deadline_event`).
    """
    if not ctx.policies.pool:
        return
    p = pool(ctx, lock=True)
    cur = p.currency
    if call.currency != cur:
        raise ctx.refuse(f"the pool keeps its books in {cur}; give the budget in {cur}")
    available = p.commons_minor - p.reserved_minor
    if call.budget_minor > available:
        raise ctx.refuse(f"the commons fund has {money(available, cur)} available; "
                         f"give a budget of at most that")
    p.reserved_minor += call.budget_minor
    ctx.session.add(CallReservation(call_id=call.id, amount_minor=call.budget_minor,
                                    state=ReservationState.HELD))
    ctx.deadline_event("pool.reserved", r, at or ctx.now, late, amount_minor=call.budget_minor,
                       currency=cur, amount=money(call.budget_minor, cur))


def settle(ctx: Ctx, call: FundingCall, r: str, unallocated: int, late: bool = False) -> None:
    """At close: what was allocated leaves the commons fund, the rest is available again.

    Whatever `pool` says now: a call that reserved its budget when it opened settles it
    when it closes, even if the community has set `pool: false` since (its reservation
    would otherwise hold that part of the commons fund for ever). `late`: closed at its
    deadline after downtime; the event is dated at that deadline.
    """
    held = ctx.session.get(CallReservation, call.id, with_for_update=True)
    if held is None or held.state != ReservationState.HELD:
        return
    p = pool(ctx, lock=True)
    allocated = held.amount_minor - unallocated
    p.reserved_minor -= held.amount_minor
    p.commons_minor -= allocated
    held.state, held.allocated_minor = ReservationState.SETTLED, allocated
    ctx.deadline_event("pool.settled", r, call.closes_at, late, amount_minor=held.amount_minor,
                       allocated_minor=allocated, returned=money(unallocated, p.currency),
                       currency=p.currency)


# --- reading the books -------------------------------------------------------------------


def flows(ctx: Ctx, start, end) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Received, spent and reversed in [start, end), and allocated to calls closed then."""
    out = {}
    for kind in ("receipt", "spend"):
        out[kind] = int(ctx.session.scalar(select(func.coalesce(func.sum(PoolEntry.amount_minor), 0))
                                           .where(PoolEntry.community == ctx.cid,
                                                  PoolEntry.kind == kind, PoolEntry.at >= start,
                                                  PoolEntry.at < end)) or 0)
        out[kind + "_reversed"] = int(ctx.session.scalar(
            select(func.coalesce(func.sum(PoolEntry.amount_minor), 0))
            .where(PoolEntry.community == ctx.cid, PoolEntry.kind == kind,
                   PoolEntry.state == EntryState.REVERSED, PoolEntry.reversed_at >= start,
                   PoolEntry.reversed_at < end)) or 0)
    out["allocated"] = int(ctx.session.scalar(
        select(func.coalesce(func.sum(CallReservation.allocated_minor), 0))
        .join(FundingCall, FundingCall.id == CallReservation.call_id)
        .where(FundingCall.community == ctx.cid, CallReservation.state == ReservationState.SETTLED,
               FundingCall.closed_at >= start, FundingCall.closed_at < end)) or 0)
    return out


def balance_line(ctx: Ctx, p: Pool) -> str:
    """`Operations fund 200 EUR · commons fund 200 EUR (reserved by open calls 150 EUR, available 50 EUR)`."""
    b, cur = balances(p), p.currency
    return (f"Operations fund {money(b.operations, cur)} · commons fund {money(b.commons, cur)} "
            f"(reserved by open calls {money(b.reserved, cur)}, available "
            f"{money(b.available, cur)}) · held in all {money(b.operations + b.commons, cur)}")


@handles("books")
def books(ctx: CommandCtx) -> Reply:
    """`!books [period:2026-11]`: balances, the period's flows, ventures, payables owed."""
    pa = ctx.parsed
    try:
        period = parse_period(pa.options.get("period"), ctx.now)
    except RuleError as exc:
        raise ctx.refuse(esc(str(exc))) from None
    p = pool(ctx, lock=False)
    cur = p.currency
    f = flows(ctx, *period_bounds(period))
    lines = [f"**Books of {esc(ctx.community.name or ctx.cid)}** — {period}, in {cur}",
             balance_line(ctx, p),
             f"In {period}: received {money(f['receipt'], cur)}, spent {money(f['spend'], cur)}, "
             f"reversed {money(f['receipt_reversed'], cur)} of receipts and "
             f"{money(f['spend_reversed'], cur)} of spends, allocated to funded needs "
             f"{money(f['allocated'], cur)}"]
    entries = ctx.session.scalars(select(PoolEntry).where(PoolEntry.community == ctx.cid)
                                  .order_by(PoolEntry.at.desc(), PoolEntry.id.desc()).limit(10)).all()
    for e in entries:
        letter = "R" if e.kind == "receipt" else "S"
        state = f" — reversed: {esc(e.reverse_reason)}" if e.state == EntryState.REVERSED else ""
        note = f" {esc(e.note)}" if e.note else ""
        lines.append(f"- {letter}{e.number} {e.kind} {money(e.amount_minor, e.currency)}{note}{state}")
    vs = ctx.session.scalars(select(Venture).where(Venture.community == ctx.cid,
                                                   Venture.state == VentureState.ACTIVE)
                             .order_by(Venture.number).limit(20)).all()
    if vs:
        lines.append(f"Ventures in {period}:")
        lines.extend("- " + venture_line(ctx, v, period) for v in vs)
    owed = payables(ctx)
    if owed:
        lines.append("Payables owed:")
        lines.extend("- " + o.line(ctx) for o in owed[:20])
    else:
        lines.append("Payables owed: none")
    return Reply("\n".join(lines))


def digest_lines(ctx: Ctx, since) -> list[str]:  # type: ignore[no-untyped-def]
    """The pool's part of the weekly digest: balances and what moved since `since`."""
    p = ctx.session.get(Pool, ctx.cid)
    if p is None:
        return []
    # (since, now]: what the previous digest counted is not counted again.
    tick = timedelta(microseconds=1)
    f = flows(ctx, since + tick, ctx.now + tick)
    cur = p.currency
    return [f"**The pool:** {balance_line(ctx, p)}",
            f"Since the last digest: received {money(f['receipt'], cur)}, spent "
            f"{money(f['spend'], cur)}, reversed {money(f['receipt_reversed'] + f['spend_reversed'], cur)}, "
            f"allocated to funded needs {money(f['allocated'], cur)} — `{ctx.cmd('books')}`"]
