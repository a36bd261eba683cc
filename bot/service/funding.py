"""Funding: fund, pitch, back, calls, call, closecall — and allocation at close."""

from __future__ import annotations

from fractions import Fraction

from sqlalchemy import delete, func, select, update

from bot.chat.render import clip, echo, esc, left, money, quote, when
from bot.domain.rules import (
    PitchStake,
    RuleError,
    allocate,
    allocation_steps,
    count,
    minor_digits,
    parse_money,
    parse_when,
)
from bot.domain.vocabulary import CallState, ClaimState, PitchState
from bot.service import books, held, identity
from bot.service.call_records import restore_budget
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles
from bot.service.need_records import create_need
from bot.service.need_text import ref as need_ref
from bot.service.refs import load, next_number
from bot.store import sql
from bot.store.models import Backing, FundingCall, Pitch


def ref(c: FundingCall) -> str:
    """`F1`."""
    return f"F{c.number}"


def pref(p: Pitch) -> str:
    """`B4`."""
    return f"B{p.number}"


def _pitches(ctx: Ctx, call: FundingCall) -> list[tuple[Pitch, int]]:
    points = (select(Backing.pitch_id, func.sum(Backing.points).label("pts"))
              .where(Backing.call_id == call.id).group_by(Backing.pitch_id).subquery())
    rows = ctx.session.execute(select(Pitch, func.coalesce(points.c.pts, 0))
                               .outerjoin(points, points.c.pitch_id == Pitch.id)
                               .where(Pitch.call_id == call.id).order_by(Pitch.number)).all()
    return [(p, int(pts)) for p, pts in rows]


def allocation(ctx: Ctx, call: FundingCall) -> tuple[list[tuple[Pitch, int, int]], int]:
    """Each pitch with its points and the amount it gets if the call closes now."""
    rows = _pitches(ctx, call)
    shares, rest = allocate(call.budget_minor,
                            [PitchStake(p.id, p.ask_minor, pts) for p, pts in rows])
    return [(p, pts, shares[p.id]) for p, pts in rows], rest


@handles("fund")
def fund(ctx: CommandCtx) -> Reply:
    """`!fund <title> budget:5000EUR closes:2027-01-31 [points:100]`."""
    pa = ctx.parsed
    title = pa.rest.strip()
    if not title:
        raise ctx.refuse("a funding call needs a title")
    if len(title) > 200:
        raise ctx.refuse("keep the title under 200 characters; details go on the next lines")
    if "budget" not in pa.options or "closes" not in pa.options:
        raise ctx.refuse("a funding call needs a budget and a closing time, like "
                         "budget:5000EUR closes:30d")
    try:
        budget = parse_money(pa.options["budget"])
        closes = parse_when(pa.options["closes"], ctx.now)
    except RuleError as exc:
        raise ctx.refuse(esc(str(exc))) from None
    if budget.minor <= 0:
        raise ctx.refuse("the budget must be more than zero")
    points = ctx.policies.points
    if "points" in pa.options:
        pt = pa.options["points"]
        allowance = count(pt, 1, 1_000_000)
        if allowance is None:
            raise ctx.refuse(f"points:{echo(pt, 10)} is not an allowance — write points:100")
        points = allowance
    cond = held.condition(ctx, closes, "closes", "call")
    call = FundingCall(community=ctx.cid, number=next_number(ctx, "next_call"), title=title,
                       description=clip(pa.description, 2000), budget_minor=budget.minor,
                       currency=budget.currency, points=points, closes_at=closes,
                       posted_by=ctx.member.id, state=CallState.PROPOSED if cond else CallState.OPEN,
                       created_at=ctx.now, if_proposal_id=cond.id if cond else None)
    ctx.session.add(call)
    ctx.session.flush()
    r = ref(call)
    if cond is not None:
        ctx.event("call.proposed", r, title=title, budget_minor=budget.minor,
                  currency=budget.currency, closes=closes.isoformat(), points=points,
                  held_by=f"P{cond.number}")
        ctx.announce(f"Proposed funding call **{r}** by {ctx.name_of(ctx.member.id)}: {esc(title)} — "
                     f"budget {budget}, {held.held_phrase(cond)}.", ref=r)
        ctx.updated(f"P{cond.number}")
        return Reply(f"{r} is proposed: {held.held_phrase(cond)}.", ref=r)
    books.reserve(ctx, call, r)
    ctx.event("call.opened", r, title=title, budget_minor=budget.minor, currency=budget.currency,
              closes=closes.isoformat(), points=points)
    text = (f"New funding call **{r}** by {ctx.name_of(ctx.member.id)}: {esc(title)} — budget "
            f"{budget}, closes {when(closes)}. Pitch with `{ctx.cmd(f'pitch {r} <title> ask:…')}`; "
            f"every member has {points} points to back pitches with `{ctx.cmd('back B… <points>')}`")
    if call.description:
        text += "\n" + quote(call.description, 500)
    ctx.announce(text, ref=r)
    return Reply(f"{r} is open until {when(closes)} and announced.", ref=r)


@handles("pitch")
def pitch(ctx: CommandCtx) -> Reply:
    """`!pitch F1 <title> ask:1200EUR`."""
    pa = ctx.parsed
    call = load(ctx, pa.words[0] if pa.words else None, "F", lock=True)
    r = ref(call)
    if call.state != CallState.OPEN or call.closes_at <= ctx.now:
        raise ctx.refuse(f"{r} is closed — see {ctx.cmd('calls')} for open calls")
    title = " ".join(pa.words[1:]).strip()
    if not title:
        raise ctx.refuse("a pitch needs a title")
    if len(title) > 200:
        raise ctx.refuse("keep the title under 200 characters; details go on the next lines")
    if "ask" not in pa.options:
        raise ctx.refuse(f"say how much you ask, like ask:1200{call.currency}")
    try:
        ask = parse_money(pa.options["ask"])
    except RuleError as exc:
        raise ctx.refuse(esc(str(exc))) from None
    if ask.currency != call.currency:
        raise ctx.refuse(f"{r}'s budget is in {call.currency}; ask in {call.currency}")
    if ask.minor <= 0:
        raise ctx.refuse("the ask must be more than zero")
    p = Pitch(community=ctx.cid, number=next_number(ctx, "next_pitch"), call_id=call.id,
              title=title, description=clip(pa.description, 2000), ask_minor=ask.minor,
              pitched_by=ctx.member.id, state=PitchState.OPEN, created_at=ctx.now)
    ctx.session.add(p)
    ctx.session.flush()
    ctx.event("pitch.added", pref(p), call=r, title=title, ask_minor=ask.minor,
              currency=ask.currency, pitched_by=ctx.member.id)
    ctx.announce(f"New pitch **{pref(p)}** to {r} by {ctx.name_of(ctx.member.id)}: {esc(title)} — "
                 f"asks {ask}. Back it with `{ctx.cmd(f'back {pref(p)} <points>')}`", ref=r)
    ctx.updated(r)
    return Reply(f"{pref(p)} is pitched to {r}.", ref=pref(p))


@handles("back")
def back(ctx: CommandCtx) -> Reply:
    """`!back B4 <points>`: spend points of your allowance (0 withdraws)."""
    pa = ctx.parsed
    number_word = pa.words[0] if pa.words else None
    p = load(ctx, number_word, "B")
    # The call's row is the lock: every backing of the call is serialised behind it, so the
    # allowance check below cannot be raced by the same member from another connection.
    call = ctx.session.scalars(select(FundingCall).where(FundingCall.id == p.call_id)
                               .with_for_update().execution_options(populate_existing=True)).one()
    r = ref(call)
    points = count(pa.words[1], 0, 999_999_999) if len(pa.words) > 1 else None
    if points is None:
        raise ctx.refuse(f"say how many points, like {ctx.cmd(f'back {pref(p)} 20')}")
    if call.state != CallState.OPEN or call.closes_at <= ctx.now:
        raise ctx.refuse(f"{r} is closed; backing is over — see {ctx.cmd('call ' + r)}")
    ctx.lock_member()
    # One allowance for the members that were one when the call opened (see `!unlink`).
    others = identity.relatives(ctx, call.created_at)
    spent = ctx.session.scalar(select(func.coalesce(func.sum(Backing.points), 0)).where(
        Backing.call_id == call.id, Backing.member_id.in_([ctx.member.id, *others]),
        (Backing.member_id != ctx.member.id) | (Backing.pitch_id != p.id))) or 0
    if spent + points > call.points:
        shared = (f" (shared with {', '.join(ctx.name_of(o) for o in others)}: one member with this "
                  f"account when {r} opened)" if others else "")
        raise ctx.refuse(f"you have {call.points - spent} of {call.points} points left in {r}{shared} — "
                         f"back {pref(p)} with at most {call.points - spent}")
    existing = ctx.session.get(Backing, (p.id, ctx.member.id))
    if points == 0:
        if existing is None:
            raise ctx.refuse(f"you do not back {pref(p)}; nothing to withdraw")
        ctx.session.execute(delete(Backing).where(Backing.pitch_id == p.id,
                                                  Backing.member_id == ctx.member.id))
    elif existing is None:
        ctx.session.add(Backing(pitch_id=p.id, member_id=ctx.member.id, call_id=call.id,
                                points=points, at=ctx.now))
    else:
        existing.points, existing.at = points, ctx.now
    ctx.event("pitch.backed", pref(p), call=r, member=ctx.member.id, points=points)
    ctx.updated(r)
    left_pts = call.points - spent - points
    if points == 0:
        return Reply(f"You withdrew your points from {pref(p)}; {left_pts} points left in {r}.")
    return Reply(f"You back {pref(p)} with {points} points; {left_pts} of {call.points} left in {r}.")


@handles("calls")
def calls(ctx: CommandCtx) -> Reply:
    """`!calls`: open calls first, then the latest closed ones."""
    rows = ctx.session.scalars(select(FundingCall).where(FundingCall.community == ctx.cid)
                               .order_by(FundingCall.state != CallState.OPEN, FundingCall.number.desc())
                               .limit(10)).all()
    if not rows:
        return Reply("No funding calls yet.")
    lines = ["Funding calls:"]
    for c in rows:
        n = ctx.session.scalar(select(func.count()).select_from(Pitch).where(Pitch.call_id == c.id))
        status = left(c.closes_at, ctx.now) if c.state == CallState.OPEN else c.state
        lines.append(f"- **{ref(c)}** {esc(c.title)} — {money(c.budget_minor, c.currency)}, "
                     f"{n} pitches, {status} — `{ctx.cmd('call ' + ref(c))}`")
    return Reply("\n".join(lines))


@handles("call")
def call(ctx: CommandCtx) -> Reply:
    """`!call F1`: pitches with ask, points and allocation if it closed now."""
    pa = ctx.parsed
    c = load(ctx, pa.words[0] if pa.words else None, "F")
    r = ref(c)
    lines = [f"**{r}** {esc(c.title)} — budget {money(c.budget_minor, c.currency)}, "
             f"{c.points} points per member"]
    if c.state == CallState.OPEN:
        lines.append(f"Open, {left(c.closes_at, ctx.now)} (closes {when(c.closes_at)})")
    else:
        lines.append(f"{c.state.capitalize()} {when(c.closed_at)}")
    if c.description:
        lines.extend([quote(c.description, 800), ""])
    rows, rest = allocation(ctx, c)
    if not rows:
        lines.append(f"No pitches yet — `{ctx.cmd(f'pitch {r} <title> ask:…')}`")
    label = "would get now" if c.state == CallState.OPEN else "got"
    for p, pts, share in rows[:30]:
        got = (money(p.funded_minor or 0, c.currency) if c.state != CallState.OPEN
               else money(share, c.currency))
        lines.append(f"- **{pref(p)}** {esc(p.title)} by {ctx.name_of(p.pitched_by)} — asks "
                     f"{money(p.ask_minor, c.currency)}, {pts} points, {label} {got}")
    if len(rows) > 30:
        lines.append(f"- … and {len(rows) - 30} more pitches")
    if rows:
        unalloc = rest if c.state == CallState.OPEN else (c.unallocated_minor or 0)
        lines.append(f"Unallocated: {money(unalloc, c.currency)}")
    if rows and c.state == CallState.CLOSED:
        lines.extend(explain(c, [(pref(p), PitchStake(p.number, p.ask_minor, pts)) for p, pts, _ in rows]))
    return Reply("\n".join(lines), ref=r)


def _steps(c: FundingCall, rows: list[tuple[Pitch, int, int]]) -> list[dict]:  # type: ignore[type-arg]
    """The rounds of a call's allocation as the event records them (exact fractions as text)."""
    refs = {p.number: pref(p) for p, _, _ in rows}
    result = allocation_steps(c.budget_minor, [PitchStake(p.number, p.ask_minor, pts) for p, pts, _ in rows])
    return [{"remaining": str(rnd.remaining), "points": {refs[k]: v for k, v in rnd.points.items()},
             "shares": {refs[k]: str(v) for k, v in rnd.shares.items()},
             "capped": [refs[k] for k in rnd.capped]} for rnd in result.rounds]


def _exact(x: Fraction, currency: str) -> str:
    """An exact share: whole minor units as money, otherwise six decimals and '…'."""
    digits = minor_digits(currency)
    if x.denominator == 1:
        return money(int(x), currency)
    major = x / 10**digits
    whole = int(major)
    frac = int((major - whole) * 10**6)
    return f"{whole}.{frac:06d}… {currency}"


def explain(c: FundingCall, stakes: list[tuple[str, PitchStake]]) -> list[str]:
    """The allocation of a closed call step by step, by the rule in `allocation_steps`:
    each round's amount and points, each share, who was capped at the ask, the rounding."""
    cur = c.currency
    refs = {s.pitch_id: ref_ for ref_, s in stakes}
    asks = {s.pitch_id: s.ask for _, s in stakes}
    result = allocation_steps(c.budget_minor, [s for _, s in stakes])
    lines = ["How it was divided (in proportion to points, capped at each ask, the rest "
             "divided again):"]
    for i, rnd in enumerate(result.rounds, 1):
        total = sum(rnd.points.values())
        parts = []
        for pid, share in rnd.shares.items():
            part = (f"{refs[pid]} {_exact(rnd.remaining, cur)} × {rnd.points[pid]}/{total} = "
                    f"{_exact(share, cur)}")
            if pid in rnd.capped:
                part += f", more than its ask: capped at {money(asks[pid], cur)}"
            parts.append(part)
        lines.append(f"- Round {i}: {_exact(rnd.remaining, cur)} over {total} points — "
                     + "; ".join(parts))
    unbacked = [refs[s.pitch_id] for _, s in stakes if s.points == 0]
    if unbacked:
        lines.append(f"- No points, nothing: {', '.join(unbacked)}")
    allocated = sum(result.amounts.values())
    funded = ", ".join(f"{refs[pid]} {money(a, cur)}" for pid, a in result.amounts.items() if a)
    lines.append(f"- Rounded down to the {'cent' if minor_digits(cur) == 2 else 'minor unit'}: "
                 f"{funded or 'nothing funded'}; unallocated {money(result.unallocated, cur)} "
                 f"= {money(c.budget_minor, cur)} − {money(allocated, cur)}")
    return lines


@handles("closecall")
def closecall(ctx: CommandCtx) -> Reply:
    """`!closecall F1`: the foundation closes early."""
    pa = ctx.parsed
    c = load(ctx, pa.words[0] if pa.words else None, "F", lock=True)
    if c.state != CallState.OPEN:
        raise ctx.refuse(f"{ref(c)} is already {c.state}")
    close_call(ctx, c, early=True)
    return Reply(f"{ref(c)} is closed and allocated.", ref=ref(c))


def close_call(ctx: Ctx, c: FundingCall, *, early: bool = False, late: bool = False) -> bool:
    """Close a call: allocate, fund pitches as needs claimed by their pitchers, announce.

    Guarded by `UPDATE … WHERE state = 'open'`, so it happens once across processes.
    """
    # After downtime the call closed at its deadline: `!books period:` counts its allocation
    # in the month the log dates it.
    closed_at = c.closes_at if late else ctx.now
    res = ctx.session.execute(update(FundingCall).where(FundingCall.id == c.id,
                                                        FundingCall.state == CallState.OPEN)
                              .values(state=CallState.CLOSED, closed_at=closed_at))
    if res.rowcount != 1:
        return False
    c.state, c.closed_at = CallState.CLOSED, closed_at
    row_budget = restore_budget(ctx, c)
    rows, rest = allocation(ctx, c)
    c.unallocated_minor = rest
    r = ref(c)
    # Everything the allocation decided, round by round, so that a replay can check it and
    # anyone can redo it (see bot.service.audit and `explain`).
    ctx.deadline_event("call.closed", r, c.closes_at, late, early=early,
                       budget_minor=c.budget_minor, currency=c.currency,
                       points={pref(p): pts for p, pts, _ in rows},
                       steps=_steps(c, rows),
                       allocation={pref(p): share for p, _, share in rows},
                       unallocated_minor=rest, **row_budget)
    lines = [f"{r} closed: {esc(c.title)} — budget {money(c.budget_minor, c.currency)}"]
    if late:
        lines[0] = f"(late: was due {when(c.closes_at)}) " + lines[0]
    for p, pts, share in rows:
        if share > 0:
            p.state, p.funded_minor = PitchState.FUNDED, share
            need = create_need(ctx, title=p.title, description=p.description, skills=(),
                               reward=(share, c.currency), slots=1, due_at=None,
                               offered_by=c.posted_by, call_id=c.id, taken=1)
            p.need_id = need.id
            # The community funded this pitcher's work: the claim is theirs until they
            # release it, it never expires.
            ctx.conn.execute(sql.CLAIM_INSERT, dict(need_id=need.id, member_id=p.pitched_by,
                                                    state=ClaimState.ACTIVE, claimed_at=ctx.now,
                                                    expires_at=None, reminded=False))
            ctx.deadline_event("need.offered", need_ref(need), c.closes_at, late, title=p.title,
                               pitch=pref(p), call=r, amount_minor=share, currency=c.currency,
                               slots=1, offered_by=c.posted_by)
            ctx.deadline_event("claim.made", need_ref(need), c.closes_at, late,
                               member=p.pitched_by, pitch=pref(p))
            lines.append(f"- {pref(p)} {esc(p.title)} ({pts} points): funded "
                         f"{money(share, c.currency)} → need {need_ref(need)}, claimed by "
                         f"{ctx.name_of(p.pitched_by)}")
        else:
            p.state, p.funded_minor = PitchState.UNFUNDED, 0
            lines.append(f"- {pref(p)} {esc(p.title)} ({pts} points): unfunded")
    lines.append(f"Unallocated: {money(rest, c.currency)}")
    books.settle(ctx, c, r, rest, late)
    ctx.announce("\n".join(lines), ref=r, late=late)
    ctx.updated(r)
    return True
