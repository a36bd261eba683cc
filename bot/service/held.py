"""Consent → work → money: needs and funding calls held until a proposal passes.

`!offer … if:P3` and `!fund … if:P3` create the need or call in state `proposed`, shown
with the proposal. When P3 closes (by command, at its deadline, or in the catch-up after
downtime — always inside the transaction that closes it) `settle` opens what it held if it
passed and cancels it otherwise.
"""

from __future__ import annotations

from sqlalchemy import select, update

from bot.chat.render import esc, money, when
from bot.domain.vocabulary import CallState, NeedState, ProposalState
from bot.service.context import CommandCtx, Ctx
from bot.service.need_text import need_choices, need_line, notify_watchers
from bot.service.refs import load_row
from bot.store import sql
from bot.store.models import FundingCall


def condition(ctx: CommandCtx) -> sql.ProposalRow | None:
    """The proposal an `if:P3` option names, which must still be undecided; None without it."""
    pa = ctx.parsed
    token = pa.options.get("if")
    if token is None:
        return None
    p = load_row(ctx, token, "P", sql.PROPOSAL_BY_NUMBER_LOCKED)
    if p.state == ProposalState.CLOSED:
        raise ctx.refuse(f"P{p.number} is already closed ({p.outcome}) — if: names an open proposal; "
                         f"without if: it starts at once")
    return p


def held_phrase(p: sql.ProposalRow) -> str:
    """`held until P3 passes (cancelled if it does not)`."""
    return f"held until P{p.number} passes (cancelled if it does not)"


def held_lines(ctx: Ctx, p: sql.ProposalRow) -> list[str]:
    """What a proposal holds, one line each, for `!proposal` and its card."""
    lines = []
    for n in ctx.conn.execute(sql.NEEDS_HELD_BY, {"p": p.id}):
        reward = f" · {money(n.reward_minor, n.reward_currency)}" if n.reward_minor is not None else ""
        lines.append(f"need **T{n.number}** {esc(n.title)}{reward} ({n.state})")
    for c in ctx.session.scalars(select(FundingCall).where(FundingCall.if_proposal_id == p.id)
                                 .order_by(FundingCall.number)):
        lines.append(f"funding call **F{c.number}** {esc(c.title)} · "
                     f"{money(c.budget_minor, c.currency)} ({c.state})")
    return lines


def settle(ctx: Ctx, p: sql.ProposalRow, passed: bool, late: bool = False) -> None:
    """Open what the proposal held if it passed; cancel it otherwise (SQL-guarded: once).

    `late`: the proposal closed at its deadline while the bot was down; the events are
    dated at that deadline, as the closing is.
    """
    r = f"P{p.number}"
    reason = f"{r} did not pass ({p.outcome})"
    for n in ctx.conn.execute(sql.NEEDS_STILL_HELD_BY_LOCKED, {"p": p.id}).all():
        t = f"T{n.number}"
        values = ({"state": NeedState.OPEN} if passed
                  else {"state": NeedState.CANCELLED, "closed_at": ctx.now, "close_reason": reason})
        if ctx.conn.execute(sql.NEED_UPDATE_HELD, {"_id": n.id, **values}).rowcount != 1:
            continue
        n = ctx.conn.execute(sql.NEED_BY_ID, {"_id": n.id}).one()
        if passed:
            ctx.deadline_event("need.offered", t, p.closes_at, late, title=n.title,
                               skills=n.skills.split(), amount_minor=n.reward_minor,
                               currency=n.reward_currency, slots=n.slots,
                               due=n.due_at.isoformat() if n.due_at else None,
                               offered_by=n.offered_by, held_by=r)
            ctx.announce(f"{r} passed, so need {need_line(n)} is open — claim it with "
                         f"`{ctx.cmd('claim ' + t)}`", ref=t, choices=need_choices(ctx, n))
            notify_watchers(ctx, n, tuple(n.skills.split()), {n.offered_by})
        else:
            ctx.deadline_event("need.cancelled", t, p.closes_at, late, reason=reason)
            ctx.announce(f"{t} ({esc(n.title)}) is cancelled: {reason}.", ref=t)
        ctx.updated(t)
    from bot.service import books
    from bot.service.context import Refusal

    for c in ctx.session.scalars(select(FundingCall).where(FundingCall.if_proposal_id == p.id,
                                                           FundingCall.state == CallState.PROPOSED)
                                 .order_by(FundingCall.number).with_for_update()).all():
        f = f"F{c.number}"
        call_passed = passed
        if passed:
            # With `pool: true` the budget is reserved when the call opens; a pool that
            # cannot hold it now cancels the call, saying why.
            try:
                with ctx.session.begin_nested():
                    books.reserve(ctx, c, f)
            except Refusal as exc:
                call_passed, reason = False, f"{r} passed, but {exc.message}"
        res = ctx.session.execute(update(FundingCall).where(FundingCall.id == c.id,
                                                            FundingCall.state == CallState.PROPOSED)
                                  .values(state=CallState.OPEN if call_passed else CallState.CANCELLED,
                                          closed_at=None if call_passed else ctx.now))
        if res.rowcount != 1:
            continue
        ctx.session.refresh(c)
        if call_passed:
            ctx.deadline_event("call.opened", f, p.closes_at, late, title=c.title,
                               budget_minor=c.budget_minor, currency=c.currency,
                               closes=c.closes_at.isoformat(), points=c.points, held_by=r)
            ctx.announce(f"{r} passed, so funding call **{f}** is open: {esc(c.title)} — budget "
                         f"{money(c.budget_minor, c.currency)}, closes {when(c.closes_at)}. Pitch "
                         f"with `{ctx.cmd(f'pitch {f} <title> ask:…')}`", ref=f)
        else:
            ctx.deadline_event("call.cancelled", f, p.closes_at, late, reason=reason)
            ctx.announce(f"{f} ({esc(c.title)}) is cancelled: {reason}.", ref=f)
        ctx.updated(f)
