"""Deadlines as data: one declaration per kind, what is due, and firing one exactly once.

Every deadline is a row's column (a claim's `expires_at`, a proposal's `closes_at`, …),
or for the digest the next instant of the community's cron line after the last one posted
(a `kv` row). `KINDS` declares each kind once — its name as stored in job ids, the object
it belongs to, how it is found due, what firing it does, whether it is announced, and what
happens when it fires late — and everything here reads that table: `due_items` lists what
falls due, `current` reads one again, `for_refs` finds the deadlines of some objects, and
`fire` applies one with a guarded `UPDATE … WHERE`, so a second fire — a retry, a catch-up
after a crash, another process on the same PostgreSQL, a scheduler job armed before the
deadline moved — changes nothing and announces nothing. Adding a kind is one entry.

Reminders (claim reminder, proposal nudge, need due soon) fall a fixed time before their
row's deadline and only make sense while that deadline is still ahead: once it has passed
they are no longer pending (the expiry or the closing itself speaks instead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

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

NUDGE_BEFORE = timedelta(hours=24)
NEED_DUE_BEFORE = timedelta(days=2)
LATE_AFTER = timedelta(minutes=5)
# The objects deadlines belong to, by the letter of their ids.
_OBJECTS: dict[RefKind, Any] = {RefKind.NEED: Need, RefKind.PROPOSAL: Proposal, RefKind.CALL: FundingCall}


class Late(StrEnum):
    """What becomes of a deadline that passed while no process was running."""

    MARKED = "marked"
    """Fired at the next start; what it announces begins `(late: was due …)`."""
    UNMARKED = "unmarked"
    """Fired at the next start; its notice to one member says nothing of the delay."""
    WHILE_AHEAD = "while ahead"
    """A reminder: fired late only while what it reminds of is still ahead, else dropped."""


@dataclass(frozen=True)
class Rows:
    """How a kind of deadline is found due: rows of one table whose deadline has come.

    Attributes:
        row: the id of the row (the deadline's `obj_id`).
        at: the row's deadline (a column, or an expression of its columns).
        owner: the column naming the row of the object it belongs to: `row` itself, or a
            claim's `need_id`.
        pending: what keeps a row pending (its state, the reminder not yet sent, …).
    """

    row: Any
    at: Any
    owner: Any
    pending: tuple[Any, ...]


Fire = Callable[[Ctx, Due, bool], bool]
"""Applies a deadline in the caller's transaction (the flag: it is late); False if it
was already done or is no longer pending."""


@dataclass(frozen=True)
class DeadlineKind:
    """One kind of deadline, declared once.

    Attributes:
        name: as stored in job ids and logs (`claim_expiry`).
        object: the object it belongs to (`T12` for a claim on it); None for the community's.
        rows: how it is found due; None for the digest (the next instant of its cron line).
        fire: what firing it does.
        announced: whether firing it tells the community's rooms (else only members).
        late: what becomes of it when it passed while no process ran.
        offset: how long before `rows.at` it falls (negative: after), by the community's
            policies; None turns the kind off in that community.
    """

    name: str
    object: RefKind | None
    rows: Rows | None
    fire: Fire
    announced: bool
    late: Late
    offset: Callable[[Community], timedelta | None] = lambda _community: timedelta(0)


def digest_key(community_id: str) -> str:
    """The `kv` row holding the last digest instant of a community."""
    return f"digest:{community_id}"


def _remind(community: Community) -> timedelta:
    """How long before its expiry a claim is reminded: `reminder_days`, but never before
    half of the claim's time has run (with `claim_days: 1`, after 12 hours, not at once)."""
    policies = community.policies
    return min(timedelta(days=policies.reminder_days), timedelta(days=policies.claim_days) / 2)


def _idle(days: Callable[[Community], int]) -> Callable[[Community], timedelta | None]:
    """An idle deadline falls `days` after a claim's last activity (0 days: off)."""
    return lambda community: -timedelta(days=days(community)) if days(community) else None


def _select(kind: DeadlineKind, community: Community, now: datetime,
            until: datetime) -> Select | None:  # type: ignore[type-arg]
    """`(id, deadline)` rows of one kind still pending at `now` and due by `until`,
    earliest first. Each uses an index on (state, deadline column)."""
    offset = kind.offset(community)
    if kind.rows is None or kind.object is None or offset is None:
        return None
    r, obj = kind.rows, _OBJECTS[kind.object]
    stmt = select(r.row, r.at)
    if r.owner is not obj.id:
        stmt = stmt.join(obj, obj.id == r.owner)
    stmt = stmt.where(*r.pending, obj.community == community.id, r.at <= until + offset)
    if kind.late == Late.WHILE_AHEAD:
        stmt = stmt.where(r.at > now)
    return stmt.order_by(r.at, r.row)


def _run(tx: Tx, kind: DeadlineKind, community: Community, stmt: Select) -> list[Due]:  # type: ignore[type-arg]
    offset = kind.offset(community) or timedelta(0)
    return [Due(at - offset, kind.name, oid, community.id) for oid, at in tx.execute(stmt)]


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
    for kind in KINDS.values():
        if kind.rows is None:
            d = _digest_due(tx, community, now, until)
            out.extend([d] if d is not None else [])
            continue
        stmt = _select(kind, community, now, until)
        if stmt is not None:
            out.extend(_run(tx, kind, community, stmt.limit(limit) if limit else stmt))
    out.sort()
    return out[:limit] if limit else out


def current(tx: Tx, community: Community, kind: str, obj_id: int,
            now: datetime) -> Due | None:
    """One deadline as the database has it now (its time may have moved), or None when it
    is no longer pending (done, cancelled, renewed past it, closed early…)."""
    k = KINDS[kind]
    if k.rows is None:
        return _digest_due(tx, community, now, FAR)
    stmt = _select(k, community, now, FAR)
    if stmt is None:
        return None
    items = _run(tx, k, community, stmt.where(k.rows.row == obj_id))
    return items[0] if items else None


def for_refs(tx: Tx, community: Community, refs: Iterable[str], now: datetime,
             until: datetime) -> ObjectDeadlines:
    """The pending deadlines of some objects (`T12`, `P3`, `F1`, `digest`), for re-arming
    after they changed.

    Returns:
        The deadlines due by `until`, and every deadline the objects could have (so a
        caller can drop jobs for ones that are no longer pending).
    """
    refs = set(refs)
    numbers: dict[RefKind, set[int]] = {letter: set() for letter in _OBJECTS}
    for r in refs:
        ref = Ref.parse(r, "".join(_OBJECTS))
        if ref:
            numbers[ref.kind].add(ref.number)
    # The objects' row ids, then the ids of the rows their deadlines are on (a need's claims).
    ids = {letter: list(tx.execute(select(model.id).where(
        model.community == community.id, model.number.in_(numbers[letter]))).scalars())
        for letter, model in _OBJECTS.items() if numbers[letter]}
    rows_of: dict[tuple[Any, Any], list[int]] = {}
    items: list[Due] = []
    keys: set[DeadlineKey] = set()
    for kind in KINDS.values():
        if kind.rows is None:
            if digest.REF in refs:
                keys.add(DeadlineKey(kind.name, 0))
                d = _digest_due(tx, community, now, until)
                items.extend([d] if d is not None else [])
            continue
        owners = ids.get(kind.object) if kind.object else None
        if not owners:
            continue
        r = kind.rows
        if (r.row, r.owner) not in rows_of:
            rows_of[r.row, r.owner] = owners if r.row is r.owner else list(
                tx.execute(select(r.row).where(r.owner.in_(owners))).scalars())
        keys |= {DeadlineKey(kind.name, i) for i in rows_of[r.row, r.owner]}
        stmt = _select(kind, community, now, until)
        if stmt is not None:
            items += _run(tx, kind, community, stmt.where(r.owner.in_(owners)))
    items.sort()
    return ObjectDeadlines(tuple(items), frozenset(keys))


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
    return KINDS[item.kind].fire(ctx, item, late)


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


_CLAIM_PENDING = (Claim.state == ClaimState.ACTIVE, Claim.pinned.is_(False))

KINDS: dict[str, DeadlineKind] = {k.name: k for k in (
    DeadlineKind("claim_reminder", RefKind.NEED,
                 Rows(Claim.id, Claim.expires_at, Claim.need_id,
                      (*_CLAIM_PENDING, Claim.reminded.is_(False))),
                 _claim_reminder, announced=False, late=Late.WHILE_AHEAD,
                 offset=lambda community: _remind(community) or None),
    DeadlineKind("claim_expiry", RefKind.NEED,
                 Rows(Claim.id, Claim.expires_at, Claim.need_id, _CLAIM_PENDING),
                 _claim_expiry, announced=True, late=Late.MARKED),
    DeadlineKind("claim_idle_reminder", RefKind.NEED,
                 Rows(Claim.id, LAST_ACTIVE, Claim.need_id,
                      (*_CLAIM_PENDING, Claim.idle_reminded.is_(False))),
                 lambda ctx, item, late: idle_remind(ctx, item.obj_id, late),
                 announced=False, late=Late.UNMARKED,
                 offset=_idle(lambda community: community.policies.claim_idle_days)),
    DeadlineKind("claim_idle_release", RefKind.NEED,
                 Rows(Claim.id, LAST_ACTIVE, Claim.need_id, _CLAIM_PENDING),
                 lambda ctx, item, late: idle_release(ctx, item.obj_id, late),
                 announced=True, late=Late.MARKED,
                 offset=_idle(lambda community: community.policies.claim_idle_release_days)),
    DeadlineKind("proposal_nudge", RefKind.PROPOSAL,
                 Rows(Proposal.id, Proposal.closes_at, Proposal.id,
                      (Proposal.state == ProposalState.OPEN, Proposal.nudged.is_(False))),
                 _proposal_nudge, announced=False, late=Late.WHILE_AHEAD,
                 offset=lambda _community: NUDGE_BEFORE),
    DeadlineKind("proposal_close", RefKind.PROPOSAL,
                 Rows(Proposal.id, Proposal.closes_at, Proposal.id,
                      (Proposal.state == ProposalState.OPEN,)),
                 _proposal_close, announced=True, late=Late.MARKED),
    DeadlineKind("proposal_review", RefKind.PROPOSAL,
                 Rows(Proposal.id, Proposal.review_at, Proposal.id, (Proposal.reviewed.is_(False),)),
                 lambda ctx, item, late: remind_review(ctx, item.obj_id, late),
                 announced=True, late=Late.MARKED),
    DeadlineKind("call_close", RefKind.CALL,
                 Rows(FundingCall.id, FundingCall.closes_at, FundingCall.id,
                      (FundingCall.state == CallState.OPEN,)),
                 _call_close, announced=True, late=Late.MARKED),
    DeadlineKind("need_due", RefKind.NEED,
                 Rows(Need.id, Need.due_at, Need.id,
                      (Need.state == NeedState.OPEN, Need.due_reminded.is_(False),
                       Need.due_at.is_not(None))),
                 _need_due, announced=False, late=Late.WHILE_AHEAD,
                 offset=lambda _community: NEED_DUE_BEFORE),
    DeadlineKind("digest", None, None, _digest, announced=True, late=Late.MARKED),
)}
