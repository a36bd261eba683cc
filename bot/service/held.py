"""Consent → work → money: needs and funding calls held until a proposal passes.

`!offer … if:P3` and `!fund … if:P3` create the need or call in state `proposed`, shown
with the proposal. When P3 closes (by command, at its deadline, or in the catch-up after
downtime — always inside the transaction that closes it) `settle` opens what it held if it
passed and cancels it otherwise.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import select, update

from bot.chat.render import esc, money, when
from bot.domain.vocabulary import CallState, NeedState, ProposalState
from bot.service.call_records import restore_budget
from bot.service.context import CommandCtx, Ctx
from bot.service.need_text import need_choices, need_line, notify_watchers
from bot.service.refs import load_row
from bot.store import sql
from bot.store.models import FundingCall


def condition(ctx: CommandCtx, deadline: datetime | None = None, option: str = "closes",
              what: str = "call") -> sql.ProposalRow | None:
    """The proposal an `if:P3` option names, which must still be undecided; None without it.

    `deadline` (the call's `closes:`, the need's `due:`) must fall after the proposal
    closes: what it holds opens only then, and would otherwise open already past it.
    """
    pa = ctx.parsed
    token = pa.options.get("if")
    if token is None:
        return None
    p = load_row(ctx, token, "P", sql.PROPOSAL_BY_NUMBER_LOCKED)
    r = f"P{p.number}"
    if p.state == ProposalState.CLOSED:
        raise ctx.refuse(f"{r} is already closed ({p.outcome}) — if: names an open proposal; "
                         f"without if: it starts at once")
    if deadline is not None and deadline <= p.closes_at:
        verb = "close" if option == "closes" else "be due"
        raise ctx.refuse(f"the {what} would {verb} on {when(deadline)}, before {r} closes on "
                         f"{when(p.closes_at)}, and a {what} held by {r} opens only then — give "
                         f"{option}: after that, like {option}:{_after(ctx.now, p.closes_at, deadline)}")
    return p


def _after(now: datetime, closes: datetime, deadline: datetime) -> str:
    """The deadline asked for, counted from the proposal's close instead of from now: `4d`."""
    hours = math.ceil((closes - now + max(deadline - now, timedelta(hours=1))) / timedelta(hours=1))
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


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
    # After downtime what the proposal held opens or ends when it closed, as its events say.
    at = p.closes_at if late else ctx.now
    for n in ctx.conn.execute(sql.NEEDS_STILL_HELD_BY_LOCKED, {"p": p.id}).all():
        t = f"T{n.number}"
        values = ({"state": NeedState.OPEN} if passed
                  else {"state": NeedState.CANCELLED, "closed_at": at, "close_reason": reason})
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
        call_passed, why = passed, reason
        row_budget = restore_budget(ctx, c) if passed else {}
        if passed and c.closes_at <= at:
            # An advice proposal is decided when its decision makers say so, which may be
            # after the call's own closing time: it would open already closed.
            call_passed, why = False, (f"{r} passed, but {f}'s closing time {when(c.closes_at)} "
                                       f"had passed — open a new call with {ctx.cmd('fund')}")
        elif passed:
            # With `pool: true` the budget is reserved when the call opens; a pool that
            # cannot hold it now cancels the call, saying why.
            try:
                with ctx.session.begin_nested():
                    books.reserve(ctx, c, f, at, late)
            except Refusal as exc:
                call_passed, why = False, f"{r} passed, but {exc.message}"
        res = ctx.session.execute(update(FundingCall).where(FundingCall.id == c.id,
                                                            FundingCall.state == CallState.PROPOSED)
                                  .values(state=CallState.OPEN if call_passed else CallState.CANCELLED,
                                          closed_at=None if call_passed else at))
        if res.rowcount != 1:
            continue
        ctx.session.refresh(c)
        if call_passed:
            ctx.deadline_event("call.opened", f, p.closes_at, late, title=c.title,
                               budget_minor=c.budget_minor, currency=c.currency,
                               closes=c.closes_at.isoformat(), points=c.points, held_by=r,
                               **row_budget)
            ctx.announce(f"{r} passed, so funding call **{f}** is open: {esc(c.title)} — budget "
                         f"{money(c.budget_minor, c.currency)}, closes {when(c.closes_at)}. Pitch "
                         f"with `{ctx.cmd(f'pitch {f} <title> ask:…')}`", ref=f)
        else:
            ctx.deadline_event("call.cancelled", f, p.closes_at, late, reason=why, **row_budget)
            ctx.announce(f"{f} ({esc(c.title)}) is cancelled: {why}.", ref=f)
        ctx.updated(f)
