"""Deadlines as data: what is due, and firing one exactly once.

Every deadline is a row's column (a claim's `expires_at`, a proposal's `closes_at`, …),
or for the digest the next instant of the community's cron line after the last one posted
(a `kv` row). `due_items` lists what falls due; `fire` applies one with a guarded
`UPDATE … WHERE`, so a second fire — a retry, a catch-up after a crash, another process on
the same PostgreSQL, a scheduler job armed before the deadline moved — changes nothing and
announces nothing.

Reminders (claim reminder, proposal nudge, need due soon) fall a fixed time before their
row's deadline and only make sense while that deadline is still ahead: once it has passed
they are no longer pending (the expiry or the closing itself speaks instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from bot.chat.render import esc, when
from bot.config import Community, Settings
from bot.domain import cron
from bot.domain.ref import Ref, RefKind
from bot.domain.vocabulary import CallState, ClaimState, NeedState, ProposalState
from bot.ports import FAR, DeadlineKey, Due, ObjectDeadlines
from bot.service import digest
from bot.service.activity import LAST_ACTIVE, idle_release, idle_remind
from bot.service.context import Ctx
from bot.service.decisions import remind_review
from bot.service.funding import close_call
from bot.service.proposals import close_proposal
from bot.store import sql
from bot.store.models import Claim, FundingCall, Need, Proposal
from bot.store.tx import Tx

KINDS = ("claim_reminder", "claim_expiry", "claim_idle_reminder", "claim_idle_release",
         "proposal_nudge", "proposal_close", "proposal_review",
         "call_close", "need_due", "digest")
NUDGE_BEFORE = timedelta(hours=24)
NEED_DUE_BEFORE = timedelta(days=2)
LATE_AFTER = timedelta(minutes=5)


def digest_key(community_id: str) -> str:
    """The `kv` row holding the last digest instant of a community."""
    return f"digest:{community_id}"


def _remind(community: Community) -> timedelta:
    """How long before its expiry a claim is reminded: `reminder_days`, but never before
    half of the claim's time has run (with `claim_days: 1`, after 12 hours, not at once)."""
    policies = community.policies
    return min(timedelta(days=policies.reminder_days), timedelta(days=policies.claim_days) / 2)


def _offset(kind: str, community: Community) -> timedelta:
    p = community.policies
    # The idle deadlines fall some days *after* a claim's last activity.
    return {"claim_reminder": _remind(community), "proposal_nudge": NUDGE_BEFORE,
            "need_due": NEED_DUE_BEFORE, "claim_idle_reminder": -timedelta(days=p.claim_idle_days),
            "claim_idle_release": -timedelta(days=p.claim_idle_release_days)}.get(kind, timedelta(0))


def _select(kind: str, community: Community, now: datetime, until: datetime) -> Select | None:  # type: ignore[type-arg]
    """`(id, deadline column)` rows of one kind still pending at `now` and due by `until`,
    earliest first. Each uses an index on (state, deadline column)."""
    cid = community.id
    if kind == "claim_reminder":
        remind = _remind(community)
        if not remind:
            return None
        return (select(Claim.id, Claim.expires_at).join(Need, Need.id == Claim.need_id)
                .where(Claim.state == ClaimState.ACTIVE, Claim.reminded.is_(False), Claim.pinned.is_(False),
                       Claim.expires_at > now, Claim.expires_at <= until + remind,
                       Need.community == cid)
                .order_by(Claim.expires_at, Claim.id))
    if kind == "claim_expiry":
        return (select(Claim.id, Claim.expires_at).join(Need, Need.id == Claim.need_id)
                .where(Claim.state == ClaimState.ACTIVE, Claim.expires_at <= until, Need.community == cid,
                       Claim.pinned.is_(False))
                .order_by(Claim.expires_at, Claim.id))
    if kind in ("claim_idle_reminder", "claim_idle_release"):
        days = (community.policies.claim_idle_days if kind == "claim_idle_reminder"
                else community.policies.claim_idle_release_days)
        if not days:
            return None
        stmt = (select(Claim.id, LAST_ACTIVE).join(Need, Need.id == Claim.need_id)
                .where(Claim.state == ClaimState.ACTIVE, Claim.pinned.is_(False), Need.community == cid,
                       until - timedelta(days=days) >= LAST_ACTIVE)
                .order_by(LAST_ACTIVE, Claim.id))
        return stmt.where(Claim.idle_reminded.is_(False)) if kind == "claim_idle_reminder" else stmt
    if kind == "proposal_nudge":
        return (select(Proposal.id, Proposal.closes_at)
                .where(Proposal.state == ProposalState.OPEN, Proposal.nudged.is_(False),
                       Proposal.closes_at > now, Proposal.closes_at <= until + NUDGE_BEFORE,
                       Proposal.community == cid)
                .order_by(Proposal.closes_at, Proposal.id))
    if kind == "proposal_close":
        return (select(Proposal.id, Proposal.closes_at)
                .where(Proposal.state == ProposalState.OPEN, Proposal.closes_at <= until,
                       Proposal.community == cid)
                .order_by(Proposal.closes_at, Proposal.id))
    if kind == "proposal_review":
        return (select(Proposal.id, Proposal.review_at)
                .where(Proposal.reviewed.is_(False), Proposal.review_at <= until,
                       Proposal.community == cid)
                .order_by(Proposal.review_at, Proposal.id))
    if kind == "call_close":
        return (select(FundingCall.id, FundingCall.closes_at)
                .where(FundingCall.state == CallState.OPEN, FundingCall.closes_at <= until,
                       FundingCall.community == cid)
                .order_by(FundingCall.closes_at, FundingCall.id))
    if kind == "need_due":
        return (select(Need.id, Need.due_at)
                .where(Need.state == NeedState.OPEN, Need.due_reminded.is_(False), Need.due_at.is_not(None),
                       Need.due_at > now, Need.due_at <= until + NEED_DUE_BEFORE,
                       Need.community == cid)
                .order_by(Need.due_at, Need.id))
    raise ValueError(kind)


_ID_COLUMN = {"claim_reminder": Claim.id, "claim_expiry": Claim.id,
              "claim_idle_reminder": Claim.id, "claim_idle_release": Claim.id, "proposal_nudge": Proposal.id,
              "proposal_close": Proposal.id, "proposal_review": Proposal.id,
              "call_close": FundingCall.id, "need_due": Need.id}


def _run(tx: Tx, kind: str, community: Community, stmt: Select) -> list[Due]:  # type: ignore[type-arg]
    offset = _offset(kind, community)
    return [Due(at - offset, kind, oid, community.id) for oid, at in tx.execute(stmt)]


def _digest_due(tx: Tx, community: Community, now: datetime, until: datetime) -> Due | None:
    value = tx.execute(sql.KV_GET, {"k": digest_key(community.id)}).scalar()
    if value is None:
        return None
    last = datetime.fromisoformat(value)
    expr = community.policies.digest_cron
    at = cron.next_after(expr, last)
    if at is not None and at <= now:
        # After downtime one digest stands for every missed instant: the latest one.
        at = cron.latest_between(expr, last, now)
    if at is None or at > until:
        return None
    return Due(at, "digest", 0, community.id)


def due_items(tx: Tx, community: Community, until: datetime, limit: int | None = None,
              now: datetime | None = None) -> list[Due]:
    """Deadlines of a community still pending at `now` that fall at or before `until`.

    Args:
        tx: the unit of work to read in.
        community: the community.
        until: the end of the range (`now` for "what is due now").
        limit: at most this many, the earliest (each kind reads at most `limit` rows, so a
            bounded window never loads every pending row).
        now: the current time (default: `until`); reminders whose own deadline is already
            past are not pending.

    Returns:
        The deadlines, earliest first.
    """
    now = now or until
    out: list[Due] = []
    for kind in KINDS[:-1]:
        stmt = _select(kind, community, now, until)
        if stmt is None:
            continue
        out.extend(_run(tx, kind, community, stmt.limit(limit) if limit else stmt))
    d = _digest_due(tx, community, now, until)
    if d is not None:
        out.append(d)
    out.sort()
    return out[:limit] if limit else out


def current(tx: Tx, community: Community, kind: str, obj_id: int,
            now: datetime) -> Due | None:
    """One deadline as the database has it now (its time may have moved), or None when it
    is no longer pending (done, cancelled, renewed past it, closed early…)."""
    if kind == "digest":
        return _digest_due(tx, community, now, FAR)
    stmt = _select(kind, community, now, FAR)
    if stmt is None:
        return None
    items = _run(tx, kind, community, stmt.where(_ID_COLUMN[kind] == obj_id))
    return items[0] if items else None


def for_refs(tx: Tx, community: Community, refs: Iterable[str], now: datetime,
             until: datetime) -> ObjectDeadlines:
    """The pending deadlines of some objects (`T12`, `P3`, `F1`, `digest`), for re-arming
    after they changed.

    Returns:
        The deadlines due by `until`, and every deadline the objects could have (so a
        caller can drop jobs for ones that are no longer pending).
    """
    need_nums: set[int] = set()
    prop_nums: set[int] = set()
    call_nums: set[int] = set()
    items: list[Due] = []
    keys: set[tuple[str, int]] = set()
    for r in refs:
        if r == digest.REF:
            keys.add(("digest", 0))
            d = _digest_due(tx, community, now, until)
            if d:
                items.append(d)
            continue
        ref = Ref.parse(r, "TPF")
        if ref:
            nums = {RefKind.NEED: need_nums, RefKind.PROPOSAL: prop_nums, RefKind.CALL: call_nums}
            nums[ref.kind].add(ref.number)
    cid = community.id
    if need_nums:
        need_ids = list(tx.execute(select(Need.id).where(Need.community == cid,
                                                         Need.number.in_(need_nums))).scalars())
        claim_ids = list(tx.execute(select(Claim.id).where(Claim.need_id.in_(need_ids))).scalars())
        keys |= {("need_due", i) for i in need_ids}
        claim_kinds = ("claim_reminder", "claim_expiry", "claim_idle_reminder", "claim_idle_release")
        keys |= {(k, i) for i in claim_ids for k in claim_kinds}
        for kind in claim_kinds:
            stmt = _select(kind, community, now, until)
            if stmt is not None and need_ids:
                items += _run(tx, kind, community, stmt.where(Claim.need_id.in_(need_ids)))
        stmt = _select("need_due", community, now, until)
        if stmt is not None and need_ids:
            items += _run(tx, "need_due", community, stmt.where(Need.id.in_(need_ids)))
    if prop_nums:
        prop_ids = list(tx.execute(select(Proposal.id).where(Proposal.community == cid,
                                                             Proposal.number.in_(prop_nums))).scalars())
        prop_kinds = ("proposal_nudge", "proposal_close", "proposal_review")
        keys |= {(k, i) for i in prop_ids for k in prop_kinds}
        for kind in prop_kinds:
            stmt = _select(kind, community, now, until)
            if stmt is not None and prop_ids:
                items += _run(tx, kind, community, stmt.where(Proposal.id.in_(prop_ids)))
    if call_nums:
        call_ids = list(tx.execute(select(FundingCall.id).where(
            FundingCall.community == cid, FundingCall.number.in_(call_nums))).scalars())
        keys |= {("call_close", i) for i in call_ids}
        stmt = _select("call_close", community, now, until)
        if stmt is not None and call_ids:
            items += _run(tx, "call_close", community, stmt.where(FundingCall.id.in_(call_ids)))
    items.sort()
    return ObjectDeadlines(tuple(items), frozenset(DeadlineKey(k, i) for k, i in keys))


def init_digests(tx: Tx, settings: Settings, now: datetime) -> None:
    """Start each community's digest schedule from `now` on its first start.

    Without this row a brand-new bot would post "last Monday's" digest at once; with it,
    the first digest is the first cron instant after the bot first ran.
    """
    for c in settings.communities:
        key = digest_key(c.id)
        if tx.execute(sql.KV_GET, {"k": key}).first() is not None:
            continue
        try:
            with tx.connection.begin_nested():
                tx.execute(sql.KV_INSERT, {"key": key, "value": now.replace(microsecond=0).isoformat()})
        except IntegrityError:
            pass  # another process started at the same moment and wrote it


def fire(ctx: Ctx, item: Due) -> bool:
    """Apply one deadline inside the caller's transaction; False if it was already done
    (or is not due yet, or no longer pending)."""
    if item.at > ctx.now:
        return False
    late = ctx.now - item.at > LATE_AFTER
    return _FIRE[item.kind](ctx, item, late)


def _late(text: str, late: bool, at: datetime) -> str:
    return f"(late: was due {when(at)}) {text}" if late else text




def _claim_reminder(ctx: Ctx, item: Due, late: bool) -> bool:
    remind = _remind(ctx.community)
    if not remind:
        return False
    # The time guard matters: a job armed before a renew must not remind early.
    c = ctx.conn.execute(sql.CLAIM_REMIND, {"_id": item.obj_id, "_now": ctx.now,
                                            "_until": ctx.now + remind}).first()
    if c is None:
        return False
    need = ctx.conn.execute(sql.NEED_TITLE, {"_id": c.need_id}).one()
    r = f"T{need.number}"
    ctx.deadline_event("claim.reminded", r, item.at, late, member=c.member_id,
                       expires=c.expires_at.isoformat())
    ctx.notice(c.member_id, f"Your claim on {r} ({esc(need.title)}) expires on "
                            f"{when(c.expires_at)}. Still on it? `{ctx.cmd('renew ' + r)}` — "
                            f"or hand it back with `{ctx.cmd('release ' + r)}`.", ref=r)
    return True


def _claim_expiry(ctx: Ctx, item: Due, late: bool) -> bool:
    need = ctx.conn.execute(sql.NEED_OF_CLAIM_LOCKED, {"_id": item.obj_id}).first()
    if need is None:
        return False
    c = ctx.conn.execute(sql.CLAIM_EXPIRE, {"_id": item.obj_id, "_now": ctx.now}).first()
    if c is None:
        return False
    sql.recount_slots(ctx.conn, need.id)
    r = f"T{need.number}"
    ctx.deadline_event("claim.expired", r, c.expires_at, late, member=c.member_id)
    ctx.announce(_late(f"{esc(c.name) or f'member {c.member_id}'}'s claim on {r} expired; the slot is free: "
                       f"{esc(need.title)} — claim it with `{ctx.cmd('claim ' + r)}`",
                       late, c.expires_at), ref=r, late=late)
    ctx.notice(c.member_id, f"Your claim on {r} expired and was released. Claim it again with "
                            f"`{ctx.cmd('claim ' + r)}` if a slot is free.", ref=r)
    ctx.updated(r)
    return True


def _proposal_nudge(ctx: Ctx, item: Due, late: bool) -> bool:
    p = ctx.conn.execute(sql.PROPOSAL_NUDGE, {"_id": item.obj_id, "_now": ctx.now,
                                  "_until": ctx.now + NUDGE_BEFORE}).first()
    if p is None:
        return False
    if p.created_at > p.closes_at - NUDGE_BEFORE:
        # Opened for less than a day: its announcement is the reminder (row marked done).
        return False
    r = f"P{p.number}"
    members = ctx.conn.execute(sql.MEMBERS_NOT_VOTED, {"c": ctx.cid, "p": item.obj_id}).scalars().all()
    for mid in members:
        ctx.notice(mid, f"{r} closes on {when(p.closes_at)} and you have not voted: {esc(p.text)} — "
                        f"`{ctx.cmd(f'vote {r} agree|abstain|disagree|block [reason]')}`", ref=r)
    ctx.deadline_event("proposal.nudged", r, item.at, late, members=len(members))
    return True


def _proposal_close(ctx: Ctx, item: Due, late: bool) -> bool:
    p = ctx.conn.execute(sql.PROPOSAL_BY_ID_LOCKED, {"_id": item.obj_id}).first()
    if p is None or p.state != ProposalState.OPEN or p.closes_at > ctx.now:
        return False
    return close_proposal(ctx, p, late=late) is not None


def _proposal_review(ctx: Ctx, item: Due, late: bool) -> bool:
    return remind_review(ctx, item.obj_id, late)


def _call_close(ctx: Ctx, item: Due, late: bool) -> bool:
    c = ctx.session.scalars(select(FundingCall).where(FundingCall.id == item.obj_id).with_for_update()
                            .execution_options(populate_existing=True)).first()
    if c is None or c.state != CallState.OPEN or c.closes_at > ctx.now:
        return False
    return close_call(ctx, c, late=late)


def _need_due(ctx: Ctx, item: Due, late: bool) -> bool:
    need = ctx.conn.execute(sql.NEED_DUE_SOON, {"_id": item.obj_id, "_now": ctx.now,
                                        "_until": ctx.now + NEED_DUE_BEFORE}).first()
    if need is None:
        return False
    if need.created_at > need.due_at - NEED_DUE_BEFORE:
        # Offered with less than two days to go: the offerer just set that date, and the
        # due date is never "two days away"; nothing to tell (the row is marked done).
        return False
    r = f"T{need.number}"
    text = (f"{r} ({esc(need.title)}) is due on {when(need.due_at)} — "
            f"see `{ctx.cmd('task ' + r)}`.")
    claimants = ctx.conn.execute(sql.CLAIMANTS_PENDING, {"_id": item.obj_id}).scalars().all()
    for mid in sorted({need.offered_by, *claimants}):
        ctx.notice(mid, text, ref=r)
    ctx.deadline_event("need.due_soon", r, item.at, late, due=need.due_at.isoformat())
    return True


def _digest(ctx: Ctx, item: Due, late: bool) -> bool:
    at = item.at.replace(microsecond=0).isoformat()
    # One row per community holds the last instant posted: across processes only one
    # moves it forward, so each cron instant is posted once.
    res = ctx.conn.execute(sql.KV_ADVANCE, {"k": digest_key(ctx.cid), "v": at})
    if res.rowcount != 1:
        return False
    digest.post(ctx, at=item.at, late=late)
    return True


_FIRE = {
    "claim_reminder": _claim_reminder,
    "claim_expiry": _claim_expiry,
    "proposal_nudge": _proposal_nudge,
    "proposal_close": _proposal_close,
    "proposal_review": _proposal_review,
    "claim_idle_reminder": lambda ctx, item, late: idle_remind(ctx, item.obj_id, late),
    "claim_idle_release": lambda ctx, item, late: idle_release(ctx, item.obj_id, late),
    "call_close": _call_close,
    "need_due": _need_due,
    "digest": _digest,
}
