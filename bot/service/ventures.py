"""Ventures (docs/behaviour.md, The books): register, membership, revenue, who pays a need, `!paid`.

A venture is generative when it gives back to the commons it lives on: `!ventures` and
`!venture V2` set what it pledged beside what it declared and what the foundation received.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import delete, func, select

from bot.chat.render import echo, esc, money
from bot.domain.books import Pledge, parse_period, parse_pledge, percent, period_bounds
from bot.domain.ref import Ref, RefKind, is_ref
from bot.domain.rules import Money, RuleError, parse_money
from bot.domain.vocabulary import EntryState, Role, VentureState
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles
from bot.store import sql
from bot.store.models import (
    Contribution,
    NeedPayer,
    Payment,
    PoolEntry,
    RevenueDeclaration,
    Venture,
    VentureMember,
)


def vref(v: Venture) -> str:
    """`V2`."""
    return f"V{v.number}"


def pledge_of(v: Venture) -> Pledge:
    """The venture's pledge as the domain reads it."""
    if v.pledge_bp is not None:
        return Pledge(basis_points=v.pledge_bp)
    return Pledge(monthly=Money(v.pledge_minor or 0, v.pledge_currency or ""))


def is_vref(token: str | None) -> bool:
    """Whether a word is a venture id (`V2`)."""
    return is_ref(token, RefKind.VENTURE)


def load_venture(ctx: Ctx, token: str | None, *, lock: bool = False) -> Venture:
    """The venture `V2` names, or a refusal saying how to find one."""
    if not token:
        raise ctx.refuse("which venture? give its id like V2")
    ref = Ref.parse(token, RefKind.VENTURE)
    if ref is None:
        raise ctx.refuse(f"'{echo(token, 20)}' is not a venture id — write it like V2")
    stmt = select(Venture).where(Venture.community == ctx.cid, Venture.number == ref.number)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    v = ctx.session.scalars(stmt).first()
    if v is None:
        raise ctx.refuse(f"{ref} does not exist — see {ctx.cmd('ventures')}")
    return v


def members_of(ctx: Ctx, v: Venture) -> list[int]:
    """Member ids of a venture, oldest first."""
    return list(ctx.session.scalars(select(VentureMember.member_id).where(
        VentureMember.venture_id == v.id).order_by(VentureMember.joined_at, VentureMember.member_id)))


def require_member(ctx: CommandCtx, v: Venture, doing: str) -> None:
    """Refuse unless the acting member belongs to the venture."""
    if ctx.member.id not in members_of(ctx, v):
        raise ctx.refuse(f"{doing} is for members of {vref(v)} — ask one of them to add you")


@handles("venture")
def venture(ctx: CommandCtx) -> Reply:
    """`!venture <name> pledge:10%`, `!venture V2`, `!venture V2 add @member`, `!venture V2 leave`."""
    pa = ctx.parsed
    if pa.words and is_vref(pa.words[0]) and "pledge" not in pa.options:
        v = load_venture(ctx, pa.words[0], lock=len(pa.words) > 1)
        if len(pa.words) == 1:
            return Reply(venture_detail(ctx, v), ref=vref(v))
        action = pa.words[1].lower()
        if action == "add":
            return _add(ctx, v, pa.words[2] if len(pa.words) > 2 else None)
        if action == "leave":
            return _leave(ctx, v)
        raise ctx.refuse(f"'{echo(action, 20)}' is not something to do with a venture — "
                         f"write {ctx.cmd(f'venture {vref(v)} add @member')} or "
                         f"{ctx.cmd(f'venture {vref(v)} leave')}")
    return _register(ctx)


def _register(ctx: CommandCtx) -> Reply:
    pa = ctx.parsed
    name = pa.rest.strip()
    if not name:
        raise ctx.refuse("a venture needs a name, like !venture Acme Coop pledge:10%")
    if len(name) > 200:
        raise ctx.refuse("keep the venture's name under 200 characters")
    if "pledge" not in pa.options:
        raise ctx.refuse("say what the venture gives back, like pledge:10% or pledge:200EUR/month")
    try:
        pledge = parse_pledge(pa.options["pledge"])
    except RuleError as exc:
        raise ctx.refuse(esc(str(exc))) from None
    currency = ctx.policies.currency
    if pledge.monthly is not None and pledge.monthly.currency != currency:
        raise ctx.refuse(f"the pool keeps its books in {currency}; pledge in {currency}")
    number = (ctx.session.scalar(select(func.max(Venture.number)).where(
        Venture.community == ctx.cid)) or 0) + 1
    v = Venture(community=ctx.cid, number=number, name=name, pledge_bp=pledge.basis_points,
                pledge_minor=pledge.monthly.minor if pledge.monthly else None,
                pledge_currency=pledge.monthly.currency if pledge.monthly else None,
                registered_by=ctx.member.id, state=VentureState.ACTIVE, created_at=ctx.now)
    ctx.session.add(v)
    ctx.session.flush()
    ctx.session.add(VentureMember(venture_id=v.id, member_id=ctx.member.id, joined_at=ctx.now))
    r = vref(v)
    ctx.event("venture.registered", r, name=name, pledge=str(pledge),
              pledge_bp=pledge.basis_points,
              pledge_minor=pledge.monthly.minor if pledge.monthly else None,
              member=ctx.member.id)
    ctx.announce(f"New venture **{r}** {esc(name)} registered by {ctx.name_of(ctx.member.id)} — "
                 f"pledges {pledge}. See `{ctx.cmd('venture ' + r)}`", ref=r)
    return Reply(f"{r} {esc(name)} is registered with you as its member; it pledges {pledge}. "
                 f"Declare revenue with `{ctx.cmd(f'revenue {r} <amount>')}`", ref=r)


def _add(ctx: CommandCtx, v: Venture, who: str | None) -> Reply:
    r = vref(v)
    if v.state != VentureState.ACTIVE:
        raise ctx.refuse(f"{r} has left; it takes no new members")
    require_member(ctx, v, "adding members")
    if not who:
        raise ctx.refuse(f"whom to add? write {ctx.cmd(f'venture {r} add @member')}")
    m = ctx.find_member(who)
    if m is None:
        raise ctx.refuse(f"{echo(who, 40)} is not a member here — they need to say something "
                         "to the bot first")
    if m.id in members_of(ctx, v):
        raise ctx.refuse(f"{esc(m.display_name)} is already a member of {r}")
    ctx.session.add(VentureMember(venture_id=v.id, member_id=m.id, joined_at=ctx.now))
    ctx.event("venture.joined", r, member=m.id)
    ctx.notice(m.id, f"{ctx.name_of(ctx.member.id)} added you to venture {r} {esc(v.name)}.", ref=r)
    return Reply(f"{esc(m.display_name)} is now a member of {r}.", ref=r)


def _leave(ctx: CommandCtx, v: Venture) -> Reply:
    r = vref(v)
    require_member(ctx, v, "leaving a venture")
    ctx.session.execute(delete(VentureMember).where(VentureMember.venture_id == v.id,
                                                    VentureMember.member_id == ctx.member.id))
    ctx.event("venture.member_left", r, member=ctx.member.id)
    if not members_of(ctx, v):
        v.state, v.left_at = VentureState.LEFT, ctx.now
        ctx.event("venture.left", r)
        ctx.announce(f"Venture {r} {esc(v.name)} has left: its last member left.", ref=r)
        return Reply(f"You left {r}; it had no other member, so the venture has left.", ref=r)
    return Reply(f"You left {r}.", ref=r)


@handles("revenue")
def revenue(ctx: CommandCtx) -> Reply:
    """`!revenue V2 4000EUR [period:2026-11]`: declare revenue; the pledged share becomes due."""
    pa = ctx.parsed
    v = load_venture(ctx, pa.words[0] if pa.words else None, lock=True)
    r = vref(v)
    require_member(ctx, v, "declaring revenue")
    if v.state != VentureState.ACTIVE:
        raise ctx.refuse(f"{r} has left; it declares no revenue")
    currency = ctx.policies.currency
    if len(pa.words) < 2:
        raise ctx.refuse(f"how much revenue? write {ctx.cmd(f'revenue {r} 4000{currency}')}")
    try:
        amount = parse_money(pa.words[1])
        period = parse_period(pa.options.get("period"), ctx.now)
    except RuleError as exc:
        raise ctx.refuse(esc(str(exc))) from None
    if amount.currency != currency:
        raise ctx.refuse(f"the pool keeps its books in {currency}; declare in {currency}")
    if amount.minor <= 0:
        raise ctx.refuse("declared revenue must be more than zero")
    earlier = ctx.session.scalar(select(func.count()).select_from(RevenueDeclaration).where(
        RevenueDeclaration.venture_id == v.id, RevenueDeclaration.period == period)) or 0
    due = pledge_of(v).due(amount.minor, first_of_period=earlier == 0)
    ctx.session.add(RevenueDeclaration(community=ctx.cid, venture_id=v.id, period=period,
                                       amount_minor=amount.minor, currency=currency,
                                       due_minor=due, declared_by=ctx.member.id, at=ctx.now))
    ctx.event("revenue.declared", r, period=period, amount=str(amount), amount_minor=amount.minor,
              due_minor=due, currency=currency)
    ctx.announce(f"{r} {esc(v.name)} declared {amount} of revenue for {period}; "
                 f"{money(due, currency)} is due to the pool by its pledge.", ref=r)
    return Reply(f"{r} declared {amount} for {period}; pledged amount due: {money(due, currency)}.",
                 ref=r)


@dataclass(frozen=True)
class VentureFigures:
    """What a venture declared, owes by its pledge and gave, in the pool's currency."""

    declared: int
    due: int
    given: int
    paid_needs: int
    paid_to_contributors: int

    def gives_back(self, pledge: Pledge) -> str:
        """`gives back 10% of declared revenue (pledged 10%)`."""
        if pledge.basis_points is not None:
            pledged = percent(Fraction(pledge.basis_points, 100))
        else:
            pledged = f"{pledge.monthly}/month"
        if self.declared == 0:
            return f"no revenue declared yet (pledged {pledged})"
        return f"gives back {percent(Fraction(self.given * 100, self.declared))} of declared " \
               f"revenue (pledged {pledged})"


def figures(ctx: Ctx, v: Venture, period: str | None = None) -> VentureFigures:
    """A venture's declared revenue, dues, receipts and paid needs (in `period` if given)."""
    rev = select(func.coalesce(func.sum(RevenueDeclaration.amount_minor), 0),
                 func.coalesce(func.sum(RevenueDeclaration.due_minor), 0)).where(
        RevenueDeclaration.venture_id == v.id)
    given = select(func.coalesce(func.sum(PoolEntry.amount_minor), 0)).where(
        PoolEntry.venture_id == v.id, PoolEntry.kind == "receipt", PoolEntry.state == EntryState.RECORDED)
    if period is not None:
        rev = rev.where(RevenueDeclaration.period == period)
        start, end = period_bounds(period)
        given = given.where(PoolEntry.at >= start, PoolEntry.at < end)
    declared, due = ctx.session.execute(rev).one()
    paid = ctx.session.execute(
        select(func.count(), func.coalesce(func.sum(Contribution.reward_minor), 0))
        .select_from(Payment).join(Contribution, Contribution.id == Payment.contribution_id)
        .join(NeedPayer, NeedPayer.need_id == Contribution.need_id)
        .where(NeedPayer.venture_id == v.id)).one()
    return VentureFigures(int(declared), int(due), int(ctx.session.scalar(given) or 0),
                          int(paid[0]), int(paid[1]))


def venture_line(ctx: Ctx, v: Venture, period: str | None = None) -> str:
    """One line of `!ventures` / `!books`."""
    f = figures(ctx, v, period)
    cur = ctx.policies.currency
    state = "" if v.state == VentureState.ACTIVE else " (left)"
    return (f"**{vref(v)}** {esc(v.name)}{state} — declared {money(f.declared, cur)}, due "
            f"{money(f.due, cur)}, received {money(f.given, cur)}: {f.gives_back(pledge_of(v))}")


@handles("ventures")
def ventures(ctx: CommandCtx) -> Reply:
    """`!ventures`: every venture with its pledge against what it declared and gave."""
    rows = ctx.session.scalars(select(Venture).where(Venture.community == ctx.cid)
                               .order_by(Venture.state != VentureState.ACTIVE, Venture.number)).all()
    if not rows:
        return Reply(f"No ventures yet — register one with `{ctx.cmd('venture <name> pledge:10%')}`")
    return Reply("\n".join(["Ventures:", *("- " + venture_line(ctx, v) for v in rows[:30])]))


def venture_detail(ctx: Ctx, v: Venture) -> str:
    """`!venture V2`: pledge, members, figures, needs it pays."""
    f = figures(ctx, v)
    cur = ctx.policies.currency
    names = ", ".join(ctx.name_of(m) for m in members_of(ctx, v)) or "nobody"
    lines = [f"**{vref(v)}** {esc(v.name)} — {v.state}, pledges {pledge_of(v)}",
             f"Members: {names}",
             f"Revenue declared {money(f.declared, cur)}, pledged amount due {money(f.due, cur)}, "
             f"received by the pool {money(f.given, cur)}",
             f"It {f.gives_back(pledge_of(v))}.",
             f"Paid needs: {f.paid_needs}, paying contributors {money(f.paid_to_contributors, cur)}"]
    owed = [p for p in payables(ctx) if p.payer == vref(v)]
    if owed:
        lines.append("Owes: " + "; ".join(p.line(ctx) for p in owed[:10]))
    return "\n".join(lines)


# --- who pays a need, and `!paid` ----------------------------------------------------------


def offer_payer(ctx: Ctx, by: str | None, has_reward: bool) -> tuple[str, int | None, str] | None:
    """Who will pay the reward of a need being offered (checked before it is created):
    (`venture` or `foundation`, the venture's id, how to name the payer), or None.

    `by:V2` names a venture the offerer belongs to; a reward the foundation offers is the
    foundation's to pay; any other reward is recognition only.
    """
    if by is not None:
        v = load_venture(ctx, by)
        if v.state != VentureState.ACTIVE:
            raise ctx.refuse(f"{vref(v)} has left; it pays no new rewards")
        require_member(ctx, v, f"offering a need paid by {vref(v)}")
        if not has_reward:
            raise ctx.refuse(f"by:{vref(v)} says who pays the reward — give one, like reward:300EUR")
        return ("venture", v.id, vref(v))
    if has_reward and Role.FOUNDATION in ctx.roles:
        return ("foundation", None, "the foundation")
    return None


def record_payer(ctx: Ctx, need_id: int, payer: tuple[str, int | None, str] | None) -> None:
    """Store who pays a new need's reward."""
    if payer is not None:
        ctx.session.add(NeedPayer(need_id=need_id, payer=payer[0], venture_id=payer[1]))


@dataclass(frozen=True)
class Payable:
    """An approved reward owed by its payer."""

    contribution_id: int
    need: str
    payee: int
    amount: int
    currency: str
    payer: str  # `V2` or `the foundation`

    def line(self, ctx: Ctx) -> str:
        """`T3: 300 EUR to bob, by V2`."""
        return f"{self.need}: {money(self.amount, self.currency)} to {ctx.name_of(self.payee)}, " \
               f"by {self.payer}"


def payables(ctx: Ctx, need_id: int | None = None) -> list[Payable]:
    """Approved rewards not yet paid, oldest first (a need of a funding call is the foundation's)."""
    rows = (ctx.conn.execute(sql.PAYABLES, {"c": ctx.cid}) if need_id is None
            else ctx.conn.execute(sql.PAYABLES_OF_NEED, {"c": ctx.cid, "need": need_id}))
    out = []
    for c in rows:
        who = f"V{c.venture_number}" if c.payer == "venture" else "the foundation"
        out.append(Payable(c.id, f"T{c.need_number}", c.member_id, c.reward_minor or 0, c.currency or "",
                           who))
    return out


@handles("paid")
def paid(ctx: CommandCtx) -> Reply:
    """`!paid T12 [@member]`: the payer marks an approved reward paid."""
    from bot.service.refs import load_row

    pa = ctx.parsed
    need = load_row(ctx, pa.words[0] if pa.words else None, "T", sql.NEED_BY_NUMBER_LOCKED)
    r = f"T{need.number}"
    owed = payables(ctx, need.id)
    if len(pa.words) > 1:
        m = ctx.find_member(pa.words[1])
        if m is None:
            raise ctx.refuse(f"{echo(pa.words[1], 40)} is not a member here")
        owed = [p for p in owed if p.payee == m.id]
    if not owed:
        raise ctx.refuse(f"nothing is owed on {r}: a reward is payable once the work is approved, "
                         "and only when a venture or the foundation pays it")
    if len({p.payee for p in owed}) > 1:
        names = ", ".join(sorted({ctx.name_of(p.payee) for p in owed}))
        raise ctx.refuse(f"{r} owes several contributors ({names}) — name one: "
                         f"{ctx.cmd(f'paid {r} @member')}")
    p = owed[0]
    if p.payer == "the foundation":
        ctx.require(Role.FOUNDATION, "marking the foundation's payments")
    else:
        require_member(ctx, load_venture(ctx, p.payer), f"marking {p.payer}'s payments")
    for item in owed:
        ctx.session.add(Payment(contribution_id=item.contribution_id, paid_by=ctx.member.id,
                                at=ctx.now))
        ctx.event("payable.paid", r, member=item.payee, payer=item.payer,
                  amount=money(item.amount, item.currency), amount_minor=item.amount,
                  currency=item.currency)
    total = money(sum(i.amount for i in owed), p.currency)
    ctx.announce(f"{p.payer[0].upper() + p.payer[1:]} paid {ctx.name_of(p.payee)} {total} for {r}.",
                 ref=r)
    return Reply(f"Recorded: {ctx.name_of(p.payee)} was paid {total} for {r} by {p.payer}.", ref=r)
