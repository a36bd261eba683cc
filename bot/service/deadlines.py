"""Deadlines as data: what is due, and firing one exactly once.

Every deadline is a row's column (a claim's `expires_at`, a proposal's `closes_at`, …).
`due_items` lists what fell due; `fire` applies one with a guarded `UPDATE … WHERE`, so
a second fire — a retry, a catch-up after a crash, another process on the same
PostgreSQL — changes nothing and announces nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.chat.render import esc, when
from bot.config import Community
from bot.service.context import Ctx
from bot.service.funding import close_call
from bot.service.needs import ref as need_ref
from bot.service.proposals import close_proposal
from bot.store.models import Claim, FundingCall, Member, Need, Proposal, Vote

KINDS = ("claim_reminder", "claim_expiry", "proposal_nudge", "proposal_close", "call_close",
         "need_due")
NUDGE_BEFORE = timedelta(hours=24)
NEED_DUE_BEFORE = timedelta(days=2)
LATE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, order=True)
class Due:
    """One deadline: when, what kind, which row."""

    at: datetime
    kind: str
    obj_id: int
    community: str


def due_items(session: Session, community: Community, until: datetime,
              limit: int | None = None) -> list[Due]:
    """Deadlines of a community that fall at or before `until`, earliest first."""
    cid = community.id
    remind = timedelta(days=community.policies.reminder_days)
    out: list[Due] = []

    def add(kind: str, rows, offset: timedelta = timedelta(0)) -> None:  # type: ignore[no-untyped-def]
        out.extend(Due(at - offset, kind, oid, cid) for oid, at in rows)

    in_community = select(Need.id).where(Need.community == cid)
    lim = limit or 10**9
    if community.policies.reminder_days:
        add("claim_reminder", session.execute(
            select(Claim.id, Claim.expires_at).where(
                Claim.state == "active", Claim.reminded.is_(False),
                Claim.expires_at <= until + remind, Claim.expires_at > until,
                Claim.need_id.in_(in_community)).order_by(Claim.expires_at).limit(lim)), remind)
    add("claim_expiry", session.execute(
        select(Claim.id, Claim.expires_at).where(
            Claim.state == "active", Claim.expires_at <= until, Claim.need_id.in_(in_community))
        .order_by(Claim.expires_at).limit(lim)))
    add("proposal_nudge", session.execute(
        select(Proposal.id, Proposal.closes_at).where(
            Proposal.community == cid, Proposal.state == "open", Proposal.nudged.is_(False),
            Proposal.closes_at <= until + NUDGE_BEFORE, Proposal.closes_at > until)
        .order_by(Proposal.closes_at).limit(lim)), NUDGE_BEFORE)
    add("proposal_close", session.execute(
        select(Proposal.id, Proposal.closes_at).where(
            Proposal.community == cid, Proposal.state == "open", Proposal.closes_at <= until)
        .order_by(Proposal.closes_at).limit(lim)))
    add("call_close", session.execute(
        select(FundingCall.id, FundingCall.closes_at).where(
            FundingCall.community == cid, FundingCall.state == "open",
            FundingCall.closes_at <= until).order_by(FundingCall.closes_at).limit(lim)))
    add("need_due", session.execute(
        select(Need.id, Need.due_at).where(
            Need.community == cid, Need.state == "open", Need.due_reminded.is_(False),
            Need.due_at.is_not(None), Need.due_at <= until + NEED_DUE_BEFORE)
        .order_by(Need.due_at).limit(lim)), NEED_DUE_BEFORE)
    out.sort()
    return out[:limit] if limit else out


def fire(ctx: Ctx, item: Due) -> bool:
    """Apply one deadline inside the caller's transaction; False if it was already done."""
    late = ctx.now - item.at > LATE_AFTER
    fn = _FIRE[item.kind]
    done = fn(ctx, item.obj_id, late)
    return done


def _late(text: str, late: bool, at: datetime) -> str:
    return f"(late: was due {when(at)}) {text}" if late else text


def _claim_reminder(ctx: Ctx, claim_id: int, late: bool) -> bool:
    res = ctx.session.execute(update(Claim).where(
        Claim.id == claim_id, Claim.state == "active", Claim.reminded.is_(False))
        .values(reminded=True))
    if res.rowcount != 1:
        return False
    c = ctx.session.get(Claim, claim_id)
    need = ctx.session.get(Need, c.need_id)
    r = need_ref(need)
    ctx.event("claim.reminded", r, member=c.member_id, expires=c.expires_at.isoformat())
    ctx.notice(c.member_id, f"Your claim on {r} ({esc(need.title)}) expires on "
                            f"{when(c.expires_at)}. Still on it? `{ctx.cmd('renew ' + r)}` — "
                            f"or hand it back with `{ctx.cmd('release ' + r)}`.", ref=r)
    return True


def _claim_expiry(ctx: Ctx, claim_id: int, late: bool) -> bool:
    c = ctx.session.get(Claim, claim_id)
    if c is None:
        return False
    # Lock the need first (as claim/release do) so the slot count stays right.
    need = ctx.session.scalars(select(Need).where(Need.id == c.need_id).with_for_update()
                               .execution_options(populate_existing=True)).one()
    res = ctx.session.execute(update(Claim).where(
        Claim.id == claim_id, Claim.state == "active", Claim.expires_at <= ctx.now)
        .values(state="expired", closed_at=ctx.now))
    if res.rowcount != 1:
        return False
    ctx.session.refresh(c)
    need.taken -= 1
    need.is_full = need.taken >= need.slots
    r = need_ref(need)
    ctx.event("claim.expired", r, member=c.member_id)
    ctx.announce(_late(f"{ctx.name_of(c.member_id)}'s claim on {r} expired; the slot is free: "
                       f"{esc(need.title)} — claim it with `{ctx.cmd('claim ' + r)}`",
                       late, c.expires_at), ref=r)
    ctx.announced[-1].late = late
    ctx.notice(c.member_id, f"Your claim on {r} expired and was released. Claim it again with "
                            f"`{ctx.cmd('claim ' + r)}` if a slot is free.", ref=r)
    ctx.updated(r)
    return True


def _proposal_nudge(ctx: Ctx, proposal_id: int, late: bool) -> bool:
    res = ctx.session.execute(update(Proposal).where(
        Proposal.id == proposal_id, Proposal.state == "open", Proposal.nudged.is_(False))
        .values(nudged=True))
    if res.rowcount != 1:
        return False
    p = ctx.session.get(Proposal, proposal_id)
    r = f"P{p.number}"
    voted = select(Vote.member_id).where(Vote.proposal_id == p.id)
    members = ctx.session.scalars(select(Member.id).where(
        Member.community == ctx.cid, Member.merged_into.is_(None), Member.id.not_in(voted))).all()
    for mid in members:
        ctx.notice(mid, f"{r} closes on {when(p.closes_at)} and you have not voted: {esc(p.text)} — "
                        f"`{ctx.cmd(f'vote {r} agree|abstain|disagree|block [reason]')}`", ref=r)
    ctx.event("proposal.nudged", r, members=len(members))
    return True


def _proposal_close(ctx: Ctx, proposal_id: int, late: bool) -> bool:
    p = ctx.session.scalars(select(Proposal).where(Proposal.id == proposal_id).with_for_update()
                            .execution_options(populate_existing=True)).first()
    if p is None or p.state != "open" or p.closes_at > ctx.now:
        return False
    return close_proposal(ctx, p, late=late) is not None


def _call_close(ctx: Ctx, call_id: int, late: bool) -> bool:
    c = ctx.session.scalars(select(FundingCall).where(FundingCall.id == call_id).with_for_update()
                            .execution_options(populate_existing=True)).first()
    if c is None or c.state != "open" or c.closes_at > ctx.now:
        return False
    return close_call(ctx, c, late=late)


def _need_due(ctx: Ctx, need_id: int, late: bool) -> bool:
    res = ctx.session.execute(update(Need).where(
        Need.id == need_id, Need.state == "open", Need.due_reminded.is_(False))
        .values(due_reminded=True))
    if res.rowcount != 1:
        return False
    need = ctx.session.get(Need, need_id)
    r = need_ref(need)
    text = f"{r} ({esc(need.title)}) is due on {when(need.due_at)}."
    claimants = ctx.session.scalars(select(Claim.member_id).where(
        Claim.need_id == need.id, Claim.state.in_(("active", "submitted")))).all()
    for mid in sorted({need.offered_by, *claimants}):
        ctx.notice(mid, text, ref=r)
    ctx.event("need.due_soon", r, due=need.due_at.isoformat())
    return True


_FIRE = {
    "claim_reminder": _claim_reminder,
    "claim_expiry": _claim_expiry,
    "proposal_nudge": _proposal_nudge,
    "proposal_close": _proposal_close,
    "call_close": _call_close,
    "need_due": _need_due,
}
