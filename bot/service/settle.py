"""Settling what a proposal held (`!offer … if:P3`, `!fund … if:P3`) when it closes: the
needs and funding calls open if it passed and are cancelled otherwise.

Apart from `bot.service.held` (which the commands creating held objects import) because
opening a need announces and offers it as `bot.service.needs` does.
"""

from __future__ import annotations

from sqlalchemy import select, update

from bot.chat.render import esc, money, when
from bot.domain.vocabulary import CallState, NeedState
from bot.service import books, needs
from bot.service.context import Ctx, Refusal
from bot.store.models import FundingCall, Need, Proposal


def settle_held(ctx: Ctx, p: Proposal, passed: bool, late: bool = False) -> None:
    """Open what the proposal held if it passed; cancel it otherwise (SQL-guarded: once).

    `late`: the proposal closed at its deadline while the bot was down; the events are
    dated at that deadline, as the closing is.
    """
    r = f"P{p.number}"
    reason = f"{r} did not pass ({p.outcome})"
    for n in ctx.session.scalars(select(Need).where(Need.if_proposal_id == p.id,
                                                    Need.state == NeedState.PROPOSED)
                                 .order_by(Need.number).with_for_update()).all():
        t = f"T{n.number}"
        values = ({"state": NeedState.OPEN} if passed
                  else {"state": NeedState.CANCELLED, "closed_at": ctx.now, "close_reason": reason})
        res = ctx.session.execute(update(Need).where(Need.id == n.id, Need.state == NeedState.PROPOSED)
                                  .values(**values))
        if res.rowcount != 1:
            continue
        ctx.session.refresh(n)
        if passed:
            ctx.deadline_event("need.offered", t, p.closes_at, late, title=n.title,
                               skills=n.skills.split(), amount_minor=n.reward_minor,
                               currency=n.reward_currency, slots=n.slots,
                               due=n.due_at.isoformat() if n.due_at else None,
                               offered_by=n.offered_by, held_by=r)
            ctx.announce(f"{r} passed, so need {needs.need_line(n)} is open — claim it with "
                         f"`{ctx.cmd('claim ' + t)}`", ref=t, choices=needs.need_choices(ctx, n))
            needs.notify_watchers(ctx, n, tuple(n.skills.split()), {n.offered_by})
        else:
            ctx.deadline_event("need.cancelled", t, p.closes_at, late, reason=reason)
            ctx.announce(f"{t} ({esc(n.title)}) is cancelled: {reason}.", ref=t)
        ctx.updated(t)
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
