"""Prebuilt SQL: the statements of the aggregates read and written with SQLAlchemy Core.

A need with its claims, members and identities, the outbox and the event log are
read and written with these statements only (aggregates the ORM serves better, such as
proposals with their votes, funding calls and ventures, use the unit of work's session).
Each is built once, at import, with bind parameters: building a statement costs more
than running it, and SQLAlchemy's compiled cache compiles each one once. They run with
`Tx.execute` (`ctx.conn.execute` in a handler).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from sqlalchemy import Row, String, bindparam, cast, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from bot.domain.vocabulary import HOLDING, PENDING, ClaimState, DeliveryState, NeedState, ProposalState
from bot.store.models import (
    Approval,
    Claim,
    CommunityRow,
    Contribution,
    Event,
    FundingCall,
    HandledMessage,
    IdentityRow,
    KeyValue,
    LinkAttempt,
    LinkCode,
    Member,
    Need,
    NeedPayer,
    NeedSkill,
    OutboxDelivery,
    OutboxEntry,
    Payment,
    Pitch,
    Proposal,
    Venture,
    Vote,
    Watch,
)
from bot.store.tx import Tx


def _one_of(column, values):  # type: ignore[no-untyped-def]
    """`column IN (…)` for a fixed set of values, written as equalities: SQLAlchemy expands an
    `IN` list again at every execution (about 40 µs of a claim's statement on the bench
    machine), while equalities are compiled once with the statement."""
    return or_(*(column == v for v in values))


N = Need.__table__
C = Claim.__table__
P = Proposal.__table__
V = Vote.__table__
M = Member.__table__

NEED_BY_NUMBER = select(N).where(N.c.community == bindparam("c"), N.c.number == bindparam("n"))
NEED_BY_NUMBER_LOCKED = NEED_BY_NUMBER.with_for_update()
# Needs held until a proposal passes (`if:P3`; state `proposed` while held).
NEEDS_HELD_BY = select(N).where(N.c.if_proposal_id == bindparam("p")).order_by(N.c.number)
NEEDS_STILL_HELD_BY_LOCKED = (select(N).where(N.c.if_proposal_id == bindparam("p"),
                                                        N.c.state == NeedState.PROPOSED)
                              .order_by(N.c.number).with_for_update())
NEED_UPDATE_HELD = update(N).where(N.c.id == bindparam("_id"), N.c.state == NeedState.PROPOSED)
NEED_BY_ID = select(N).where(N.c.id == bindparam("_id"))
NEED_BY_ID_LOCKED = NEED_BY_ID.with_for_update()
NEED_UPDATE = update(N).where(N.c.id == bindparam("_id"))
# The new need's whole row: what `create_need` returns is the same kind of row a select gives.
NEED_INSERT = insert(N).returning(*N.c)
NEED_SKILL_INSERT = insert(NeedSkill.__table__)

CLAIMS_OF_NEED = (select(C).where(C.c.need_id == bindparam("need"),
                                  C.c.state.in_(bindparam("states", expanding=True)))
                  .order_by(C.c.id))
CLAIMS_OF_NEED_ALL = select(C).where(C.c.need_id == bindparam("need")).order_by(C.c.id)
CLAIM_OF_MEMBER = select(C).where(C.c.need_id == bindparam("need"), C.c.member_id == bindparam("m"),
                                  C.c.state.in_(bindparam("states", expanding=True)))
ACTIVE_CLAIMS_OF_MEMBER = select(func.count()).select_from(C).where(
    C.c.member_id == bindparam("m"), C.c.state == ClaimState.ACTIVE)
CLAIM_INSERT = insert(C)
APPROVAL_INSERT = insert(Approval.__table__)
CLAIM_BY_ID = select(C).where(C.c.id == bindparam("_id"))
# Activity on a claim: any command of its claimant naming its need (see bot.service.activity).
CLAIM_TOUCH = (update(C).where(
    C.c.member_id == bindparam("m"), _one_of(C.c.state, PENDING),
    C.c.need_id == select(N.c.id).where(N.c.community == bindparam("c"),
                                        N.c.number == bindparam("n")).scalar_subquery())
    .values(last_activity_at=bindparam("now"), idle_reminded=False))
# When a claim was last active: its last command, or when it was made.
CLAIM_LAST_ACTIVE = func.coalesce(C.c.last_activity_at, C.c.claimed_at)
_IDLE_SINCE = bindparam("_since", type_=C.c.claimed_at.type)
IDLE_REMIND = (update(C).where(C.c.id == bindparam("_id"), C.c.state == ClaimState.ACTIVE,
                               C.c.pinned.is_(False),
                               C.c.idle_reminded.is_(False), _IDLE_SINCE >= CLAIM_LAST_ACTIVE)
               .values(idle_reminded=True).returning(*C.c))
IDLE_RELEASE = (update(C).where(C.c.id == bindparam("_id"), C.c.state == ClaimState.ACTIVE,
                                C.c.pinned.is_(False),
                                _IDLE_SINCE >= CLAIM_LAST_ACTIVE)
                .values(state=ClaimState.RELEASED, closed_at=bindparam("_now")))
CLAIM_UPDATE = update(C).where(C.c.id == bindparam("_id"))
CONTRIBUTION_INSERT = insert(Contribution.__table__)
# What a need's approvals have credited so far (a sum is a Decimal on PostgreSQL).
CREDITED_TO_NEED = select(func.coalesce(func.sum(Contribution.__table__.c.reward_minor), 0)).where(
    Contribution.__table__.c.need_id == bindparam("need"))

# Slot accounting, the one place it is written: a need's `taken` is the number of its
# claims that hold a slot, and it is full when they fill its slots.
_HELD_SLOTS = (select(func.count()).where(C.c.need_id == N.c.id, _one_of(C.c.state, HOLDING))
               .scalar_subquery())
NEED_RECOUNT = (update(N).where(N.c.id == bindparam("_id"))
                .values(taken=_HELD_SLOTS, is_full=N.c.slots <= _HELD_SLOTS).returning(N.c.taken))


def recount_slots(tx: Tx, need_id: int) -> int:
    """Count the need's slots again after its claims changed; returns how many are taken."""
    return int(tx.execute(NEED_RECOUNT, {"_id": need_id}).scalar_one())


NEXT_NUMBER = {
    col: update(CommunityRow.__table__).where(CommunityRow.__table__.c.id == bindparam("c"))
    .values({col: CommunityRow.__table__.c[col] + 1}).returning(CommunityRow.__table__.c[col])
    for col in ("next_need", "next_proposal", "next_call", "next_pitch")
}

E = Event.__table__
# A history reads by the time each change happened, ties by insertion.
LATEST_EVENTS_OF = (select(E).where(E.c.community == bindparam("c"), E.c.object == bindparam("o"))
                    .order_by(E.c.at.desc(), E.c.id.desc()).limit(bindparam("lim")))

MEMBER_JOINED = select(M.c.created_at).where(M.c.id == bindparam("m"))
MEMBER_NAME = select(Member.__table__.c.display_name).where(Member.__table__.c.id == bindparam("m"))
# Every member may vote (contributor is everyone's role); linked identities count once.
MEMBERS_WHO_MAY_VOTE = select(func.count()).where(Member.__table__.c.community == bindparam("c"),
                                                  Member.__table__.c.merged_into.is_(None))
WATCHERS = select(Watch.__table__.c.member_id).where(
    Watch.__table__.c.skill.in_(bindparam("skills", expanding=True))).distinct()

_BOARD_ORDER = (N.c.is_full, N.c.sort_due, N.c.number)
OPEN_NEEDS_PAGE = (select(N).where(N.c.community == bindparam("c"), N.c.state == NeedState.OPEN)
                   .order_by(*_BOARD_ORDER).limit(bindparam("lim")).offset(bindparam("off")))
OPEN_NEEDS_WITH_SKILLS_PAGE = (
    select(N).where(N.c.community == bindparam("c"), N.c.state == NeedState.OPEN,
                    N.c.id.in_(select(NeedSkill.__table__.c.need_id).where(
                        NeedSkill.__table__.c.skill.in_(bindparam("skills", expanding=True)))))
    .order_by(*_BOARD_ORDER).limit(bindparam("lim")).offset(bindparam("off")))

# An outcome's review date has come: remind once.
PROPOSAL_REVIEWED = (update(P).where(P.c.id == bindparam("_id"), P.c.reviewed.is_(False),
                                     P.c.review_at <= bindparam("_now"))
                     .values(reviewed=True)
                     .returning(P.c.number, P.c.text, P.c.statement, P.c.outcome, P.c.review_at))

KV = KeyValue.__table__
KV_GET = select(KV.c.value).where(KV.c.key == bindparam("k"))
KV_UPDATE = update(KV).where(KV.c.key == bindparam("k")).values(value=bindparam("v"))
KV_INSERT = insert(KV)
# Moves a kv value forward only (ISO times compare as text): of two processes posting the
# same digest instant, one changes the row.
KV_ADVANCE = (update(KV).where(KV.c.key == bindparam("k"), KV.c.value < bindparam("v"))
              .values(value=bindparam("v")))


# --- The log a command writes (bot.service.context) ---

OUTBOX_INSERT = insert(OutboxEntry.__table__).returning(OutboxEntry.__table__.c.id)
OUTBOX_INSERT_MANY = insert(OutboxEntry.__table__)
EVENT_INSERT = insert(Event.__table__)
MEMBER_LOCK = (select(Member.__table__.c.id).where(Member.__table__.c.id == bindparam("m"))
               .with_for_update())


# --- Members and identities: who sent a command (bot.service.core), messages answered ---

LINKED = aliased(IdentityRow)
# The sender's identity and member, with every identity of that member (one row each; a
# role listed for any linked identity holds for all of them).
IDENTITY_LOOKUP = (
    select(IdentityRow.member_id, IdentityRow.id, IdentityRow.display_name, Member.display_name,
           LINKED.platform, LINKED.user_id)
    .join(Member, Member.id == IdentityRow.member_id)
    .join(LINKED, LINKED.member_id == IdentityRow.member_id)
    .where(IdentityRow.community == bindparam("c"), IdentityRow.platform == bindparam("p"),
           IdentityRow.user_id == bindparam("u")))
HANDLED_LOOKUP = select(HandledMessage.replies).where(
    HandledMessage.platform == bindparam("p"), HandledMessage.message_id == bindparam("m"))
HANDLED_INSERT = insert(HandledMessage.__table__)
MEMBER_INSERT = insert(Member.__table__).returning(Member.__table__.c.id)
IDENTITY_INSERT = insert(IdentityRow.__table__)
IDENTITY_RENAME = update(IdentityRow.__table__).where(IdentityRow.__table__.c.id == bindparam("_id"))
MEMBER_RENAME = update(Member.__table__).where(Member.__table__.c.id == bindparam("_id"))

ID = IdentityRow.__table__
# The member an identity on a platform belongs to (`ctx.find_member`), the live members.
MEMBER_OF_IDENTITY = (select(M).select_from(M.join(ID, ID.c.member_id == M.c.id))
                      .where(ID.c.community == bindparam("c"), ID.c.platform == bindparam("p"),
                             ID.c.user_id == bindparam("u")).limit(1))
LIVE_MEMBERS = (select(M).where(M.c.community == bindparam("c"), M.c.merged_into.is_(None))
                .order_by(M.c.id))
MEMBER_BY_ID = select(M).where(M.c.id == bindparam("_id"))

# Linking identities (bot.service.identity): codes, failed attempts, moving an identity.
LC, LA = LinkCode.__table__, LinkAttempt.__table__
IDENTITY = select(ID).where(ID.c.community == bindparam("c"), ID.c.platform == bindparam("p"),
                           ID.c.user_id == bindparam("u"))
# The sender's identity, locked: its failed attempts are counted and written behind it.
IDENTITY_LOCKED = IDENTITY.with_for_update()
IDENTITY_BY_ID = select(ID).where(ID.c.id == bindparam("_id"))
IDENTITIES_OF_MEMBER = select(ID).where(ID.c.member_id == bindparam("m")).order_by(ID.c.id)
IDENTITY_OF_MEMBER_ON = select(ID.c.id).where(ID.c.member_id == bindparam("m"),
                                              ID.c.platform == bindparam("p"))
USER_IDS_OF_MEMBER_ON = select(ID.c.user_id).where(ID.c.member_id == bindparam("m"),
                                                 ID.c.platform == bindparam("p"))
IDENTITY_MOVE = (update(ID).where(ID.c.id == bindparam("_id"))
                 .values(member_id=bindparam("m"), linked_at=bindparam("linked_at")))
MEMBER_MERGE = update(M).where(M.c.id == bindparam("_id")).values(merged_into=bindparam("into"))
LINK_CODE_INSERT = insert(LC)
LINK_CODE_LOCKED = select(LC).where(LC.c.code_hash == bindparam("h")).with_for_update()
LINK_CODE_USED = update(LC).where(LC.c.code_hash == bindparam("h")).values(used=True)
LINK_CODE_WAIT = (update(LC).where(LC.c.code_hash == bindparam("h"))
                  .values(joiner_id=bindparam("j"), expires_at=bindparam("until")))
# The live code an identity issued (asking again replaces it, so there is one at most).
LINK_CODE_OF_ISSUER_LOCKED = (select(LC).where(LC.c.identity_id == bindparam("i"), LC.c.used.is_(False))
                              .with_for_update())
LINK_CODES_DROP_OF_IDENTITY = delete(LC).where(LC.c.identity_id == bindparam("i"))
LINK_CODES_DROP_OF_MEMBER = delete(LC).where(LC.c.member_id == bindparam("m"))
LINK_ATTEMPT_INSERT = insert(LA)
LINK_ATTEMPTS_SINCE = select(func.count()).select_from(LA).where(
    LA.c.community == bindparam("c"), LA.c.platform == bindparam("p"), LA.c.user_id == bindparam("u"),
    LA.c.at > bindparam("since"))
# A member and the members split from the same first one by `!unlink` (one row for most).
_M2 = M.alias("me")
_FIRST_OF_CHAIN = (select(func.coalesce(_M2.c.split_from, _M2.c.id)).where(_M2.c.id == bindparam("m"))
                   .scalar_subquery())
LINEAGE = select(M.c.id, M.c.split_from, M.c.created_at).where(
    or_(M.c.id == _FIRST_OF_CHAIN, M.c.split_from == _FIRST_OF_CHAIN))


# --- Deadlines (bot.service.deadlines): a catch-up fires hundreds of these in a row ---

CLAIM_REMIND = (update(C).where(C.c.id == bindparam("_id"), C.c.state == ClaimState.ACTIVE,
                                C.c.reminded.is_(False),
                                C.c.pinned.is_(False),
                                C.c.expires_at > bindparam("_now"), C.c.expires_at <= bindparam("_until"))
                .values(reminded=True).returning(C.c.need_id, C.c.member_id, C.c.expires_at))
# The need of a claim, locked (as claim and release lock it) before the claim changes.
NEED_OF_CLAIM_LOCKED = (
    select(N.c.id, N.c.number, N.c.title, N.c.taken, N.c.slots)
    .where(N.c.id == select(C.c.need_id).where(C.c.id == bindparam("_id")).scalar_subquery())
    .with_for_update())
NEED_TITLE = select(N.c.number, N.c.title).where(N.c.id == bindparam("_id"))
CLAIM_EXPIRE = (update(C).where(C.c.id == bindparam("_id"), C.c.state == ClaimState.ACTIVE,
                                C.c.pinned.is_(False),
                                C.c.expires_at <= bindparam("_now"))
                .values(state=ClaimState.EXPIRED, closed_at=bindparam("_now"))
                .returning(C.c.member_id, C.c.expires_at,
                           select(M.c.display_name).where(M.c.id == C.c.member_id).scalar_subquery()
                           .label("name")))
PROPOSAL_NUDGE = (update(P).where(P.c.id == bindparam("_id"), P.c.state == ProposalState.OPEN,
                                  P.c.nudged.is_(False),
                                  P.c.closes_at > bindparam("_now"), P.c.closes_at <= bindparam("_until"))
                  .values(nudged=True).returning(P.c.number, P.c.text, P.c.closes_at, P.c.created_at))
MEMBERS_NOT_VOTED = (select(M.c.id).where(M.c.community == bindparam("c"), M.c.merged_into.is_(None),
                                           M.c.id.not_in(select(V.c.member_id)
                                                         .where(V.c.proposal_id == bindparam("p"))))
                     .order_by(M.c.id))
NEED_DUE_SOON = (update(N).where(N.c.id == bindparam("_id"), N.c.state == NeedState.OPEN,
                                 N.c.due_reminded.is_(False),
                                 N.c.due_at > bindparam("_now"), N.c.due_at <= bindparam("_until"))
                 .values(due_reminded=True)
                 .returning(N.c.number, N.c.title, N.c.due_at, N.c.created_at, N.c.offered_by))
CLAIMANTS_PENDING = select(C.c.member_id).where(C.c.need_id == bindparam("_id"),
                                                _one_of(C.c.state, PENDING))


# --- The outbox (bot.service.outbox) ---

OUTBOX = OutboxEntry.__table__
DELIVERIES = OutboxDelivery.__table__
OUTBOX_TOP = select(func.max(OUTBOX.c.id))
OUTBOX_PENDING = (
    select(OUTBOX).where(OUTBOX.c.id > bindparam("low"), OUTBOX.c.id.not_in(
        select(DELIVERIES.c.outbox_id).where(DELIVERIES.c.platform == bindparam("p"),
                                              DELIVERIES.c.outbox_id > bindparam("low"))))
    .order_by(OUTBOX.c.id).limit(bindparam("lim")))
# Entries another process took and never marked sent (it died) or whose send failed, once
# their lease or backoff is over.
OUTBOX_RETRY_DUE = (
    select(OUTBOX).join(DELIVERIES, DELIVERIES.c.outbox_id == OUTBOX.c.id)
    .where(DELIVERIES.c.platform == bindparam("p"), DELIVERIES.c.state == DeliveryState.TAKEN,
           DELIVERIES.c.lease_until <= bindparam("now"))
    .order_by(OUTBOX.c.id).limit(bindparam("lim")))
# Guarded on the lease it saw: of two processes retaking one entry, one changes the row.
OUTBOX_RETAKE = (
    update(DELIVERIES)
    .where(DELIVERIES.c.outbox_id == bindparam("o"), DELIVERIES.c.platform == bindparam("p"),
           DELIVERIES.c.state == DeliveryState.TAKEN, DELIVERIES.c.lease_until <= bindparam("now"))
    .values(attempts=DELIVERIES.c.attempts + 1, lease_until=bindparam("lease"),
            at=bindparam("now")))
OUTBOX_SENT = (
    update(DELIVERIES)
    .where(DELIVERIES.c.outbox_id.in_(bindparam("ids", expanding=True)),
           DELIVERIES.c.platform == bindparam("p"))
    .values(state=DeliveryState.SENT, lease_until=None, error=None))
OUTBOX_ATTEMPTS = select(DELIVERIES.c.attempts).where(
    DELIVERIES.c.outbox_id == bindparam("o"), DELIVERIES.c.platform == bindparam("p"),
    DELIVERIES.c.state == DeliveryState.TAKEN)
OUTBOX_FAILED = (
    update(DELIVERIES)
    .where(DELIVERIES.c.outbox_id == bindparam("o"), DELIVERIES.c.platform == bindparam("p"),
           DELIVERIES.c.state == DeliveryState.TAKEN)
    .values(state=bindparam("state"), lease_until=bindparam("lease"), error=bindparam("error")))

_TAKE_DELIVERY: dict[str, Any] = {}


def take_delivery(dialect: str) -> Any:
    """Taking an entry: a delivery row, or nothing when another process has one already.

    Built on first use: importing the PostgreSQL dialect costs a SQLite-only bot 3 MB.
    """
    if dialect not in _TAKE_DELIVERY:
        module = import_module(f"sqlalchemy.dialects.{dialect}")
        # RETURNING tells whether the row was written: an INSERT's rowcount is -1 on psycopg.
        _TAKE_DELIVERY[dialect] = (module.insert(DELIVERIES).on_conflict_do_nothing()
                                   .returning(DELIVERIES.c.outbox_id))
    return _TAKE_DELIVERY[dialect]


# --- Needs and claims read for members and adapters (mine, digest, ledger, payables, spam, queries) ---

CT = Contribution.__table__
MY_PENDING_CLAIMS = (select(C.c.state, C.c.expires_at, N.c.number, N.c.title)
                     .select_from(C.join(N, N.c.id == C.c.need_id))
                     .where(C.c.member_id == bindparam("m"), _one_of(C.c.state, PENDING))
                     .order_by(C.c.expires_at))
MY_OPEN_OFFERS = (select(N).where(N.c.community == bindparam("c"), N.c.offered_by == bindparam("m"),
                                  N.c.state == NeedState.OPEN)
                  .order_by(N.c.number).limit(10))
_OPEN_NEEDS_FULL = (N.c.community == bindparam("c"), N.c.state == NeedState.OPEN,
                    N.c.is_full == bindparam("full"))
OPEN_NEEDS_COUNT = select(func.count()).select_from(N).where(*_OPEN_NEEDS_FULL)
OPEN_NEEDS_BY_DUE = (select(N).where(*_OPEN_NEEDS_FULL).order_by(N.c.sort_due, N.c.number)
                     .limit(bindparam("lim")))
CLAIM_TIMES_SINCE = (select(C.c.claimed_at).where(C.c.member_id == bindparam("m"),
                                                  C.c.claimed_at > bindparam("since"))
                     .order_by(C.c.claimed_at))
PENDING_CLAIMS_OF_MEMBER = select(func.count()).select_from(C).where(
    C.c.member_id == bindparam("m"), _one_of(C.c.state, PENDING))
# The ledger's contributions: all of a community's, those of needs with #skills, a member's.
_LEDGER = {
    "all": select(CT.c.id).where(CT.c.community == bindparam("c")),
    "skills": select(CT.c.id).where(CT.c.community == bindparam("c"), CT.c.need_id.in_(
        select(NeedSkill.__table__.c.need_id).where(
            NeedSkill.__table__.c.skill.in_(bindparam("skills", expanding=True))))),
    "member": select(CT.c.id).where(CT.c.community == bindparam("c"), CT.c.member_id == bindparam("m")),
}
LEDGER_TOTALS = {scope: select(CT.c.member_id, CT.c.currency, func.coalesce(func.sum(CT.c.reward_minor), 0),
                               func.count())
                 .where(CT.c.id.in_(ids)).group_by(CT.c.member_id, CT.c.currency)
                 for scope, ids in _LEDGER.items()}
LEDGER_RECENT = {scope: select(CT.c.at, CT.c.member_id, CT.c.reward_minor, CT.c.currency, CT.c.approved_by,
                               N.c.number, N.c.title)
                 .select_from(CT.join(N, N.c.id == CT.c.need_id))
                 .where(CT.c.id.in_(ids)).order_by(CT.c.id.desc()).limit(10)
                 for scope, ids in _LEDGER.items()}
# A member's history among needs, claims, contributions and the event log: anything
# recorded with the member's id (bot.service.identity checks the ORM aggregates' own).
HAS_HISTORY = select(or_(*(exists().where(col == bindparam("m"))
                           for col in (C.c.member_id, CT.c.member_id, CT.c.approved_by, N.c.offered_by,
                                       E.c.actor_id))))
# Approved rewards not yet paid, oldest first (a need of a funding call is the foundation's).
_NP, _PAY, _VEN = NeedPayer.__table__, Payment.__table__, Venture.__table__
PAYABLES = (select(CT.c.id, CT.c.member_id, CT.c.reward_minor, CT.c.currency, N.c.number.label("need_number"),
                   _NP.c.payer, _VEN.c.number.label("venture_number"))
            .select_from(CT.join(N, N.c.id == CT.c.need_id)
                         .outerjoin(_NP, _NP.c.need_id == N.c.id)
                         .outerjoin(_VEN, _VEN.c.id == _NP.c.venture_id)
                         .outerjoin(_PAY, _PAY.c.contribution_id == CT.c.id))
            .where(CT.c.community == bindparam("c"), CT.c.reward_minor > 0, _PAY.c.contribution_id.is_(None),
                   _NP.c.payer.is_not(None) | N.c.call_id.is_not(None))
            .order_by(CT.c.id))
PAYABLES_OF_NEED = PAYABLES.where(CT.c.need_id == bindparam("need"))
# Open needs and pending claims per community (an adapter's figures).
OPEN_NEEDS_PER_COMMUNITY = (select(N.c.community, func.count()).where(N.c.state == NeedState.OPEN)
                            .group_by(N.c.community))
PENDING_CLAIMS_PER_COMMUNITY = (select(N.c.community, func.count())
                                .select_from(C.join(N, N.c.id == C.c.need_id))
                                .where(_one_of(C.c.state, PENDING)).group_by(N.c.community))
OUTBOX_BACKLOG = select(func.count(OUTBOX.c.id)).where(OUTBOX.c.id > bindparam("low"), OUTBOX.c.id.not_in(
    select(DELIVERIES.c.outbox_id).where(DELIVERIES.c.platform == bindparam("p"))))
# Open needs for a member typing a ref: the newest, by the number's first digits, by title.
_SUGGEST_NEEDS = (select(N.c.number, N.c.title)
                  .where(N.c.community == bindparam("c"), N.c.state == NeedState.OPEN))
SUGGEST_NEEDS = _SUGGEST_NEEDS.order_by(N.c.number.desc()).limit(bindparam("lim"))
SUGGEST_NEEDS_BY_NUMBER = (_SUGGEST_NEEDS.where(cast(N.c.number, String).like(bindparam("prefix")))
                           .order_by(N.c.number.desc()).limit(bindparam("lim")))
SUGGEST_NEEDS_BY_TITLE = (_SUGGEST_NEEDS.where(func.lower(N.c.title).contains(bindparam("words"), escape="/"))
                          .order_by(N.c.number.desc()).limit(bindparam("lim")))


def like_escaped(text: str) -> str:
    """`text` for a LIKE pattern escaped with `/` (as `SUGGEST_NEEDS_BY_TITLE` declares)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


# ORM loads of the aggregates the session serves (proposals, calls, pitches, needs for
# cards), by community and number; `lock` adds `FOR UPDATE` and refreshes an object the
# session already holds. Built once: building a statement costs about as much as running it.
def _load(model, lock: bool):  # type: ignore[no-untyped-def]
    stmt = select(model).where(model.community == bindparam("c"), model.number == bindparam("n"))
    return stmt.with_for_update().execution_options(populate_existing=True) if lock else stmt


LOAD_BY_NUMBER = {(model, lock): _load(model, lock)
                  for model in (FundingCall, Pitch) for lock in (False, True)}


# --- Proposals with their votes (bot.service.proposals, decisions, held) ---
# Statements, as needs and claims are: `!vote` is the busiest command of governance, and
# through the ORM (a session, the proposal and the vote loaded as objects, a flush) it took
# about 4 ms on the 2-core bench machine, against 1.0 to 1.7 ms this way (300 votes in a row).

# A proposal as stored: the row these statements give (every column of `proposals`).
ProposalRow = Row[Any]
PROPOSAL_INSERT = insert(P).returning(*P.c)
PROPOSAL_BY_NUMBER = select(P).where(P.c.community == bindparam("c"), P.c.number == bindparam("n"))
PROPOSAL_BY_NUMBER_LOCKED = PROPOSAL_BY_NUMBER.with_for_update()
PROPOSAL_BY_ID_LOCKED = select(P).where(P.c.id == bindparam("_id")).with_for_update()
OPEN_PROPOSALS = (select(P).where(P.c.community == bindparam("c"), P.c.state == ProposalState.OPEN)
                  .order_by(P.c.closes_at, P.c.number).limit(bindparam("lim")).offset(bindparam("off")))
OPEN_PROPOSALS_COUNT = select(func.count()).where(P.c.community == bindparam("c"),
                                                  P.c.state == ProposalState.OPEN)
# Open proposals a member has not voted on yet (`!mine`).
PROPOSALS_TO_VOTE = (select(P).where(P.c.community == bindparam("c"), P.c.state == ProposalState.OPEN,
                                     P.c.id.not_in(select(V.c.proposal_id)
                                                   .where(V.c.member_id == bindparam("m"))))
                     .order_by(P.c.closes_at).limit(10))
# Each state change is guarded by the state it leaves, so that two processes closing the same
# proposal change it once; the row comes back as it now is.
_PROPOSAL_IN = (P.c.id == bindparam("_id"), P.c.state == bindparam("_from"))
PROPOSAL_CLOSE = (update(P).where(*_PROPOSAL_IN)
                  .values(state=ProposalState.CLOSED, outcome=bindparam("_outcome"),
                          closed_at=bindparam("_now"))
                  .returning(*P.c))
PROPOSAL_DECIDE = (update(P).where(*_PROPOSAL_IN)
                   .values(state=ProposalState.CLOSED, outcome=bindparam("_outcome"),
                           closed_at=bindparam("_now"), statement=bindparam("_statement"))
                   .returning(*P.c))
PROPOSAL_ADVISED = update(P).where(*_PROPOSAL_IN).values(state=ProposalState.DECIDING).returning(*P.c)
PROPOSAL_OUTCOME = (update(P).where(P.c.id == bindparam("_id"))
                    .values(statement=bindparam("_statement"), review_at=bindparam("_review"),
                            reviewed=False)
                    .returning(*P.c))
# A member's vote: one row per member and proposal, changed in place when they vote again.
_THIS_VOTE = (V.c.proposal_id == bindparam("p"), V.c.member_id == bindparam("m"))
VOTE_POSITION = select(V.c.position).where(*_THIS_VOTE)
VOTE_CAST = insert(V).values(proposal_id=bindparam("p"), member_id=bindparam("m"),
                             position=bindparam("_position"), reason=bindparam("_reason"),
                             at=bindparam("_at"))
VOTE_CHANGE = (update(V).where(*_THIS_VOTE)
               .values(position=bindparam("_position"), reason=bindparam("_reason"), at=bindparam("_at")))
# A proposal's counts per position (the latest vote of each member).
VOTE_COUNTS = (select(V.c.position, func.count()).where(V.c.proposal_id == bindparam("p"))
               .group_by(V.c.position))
VOTES_OF = select(V).where(V.c.proposal_id == bindparam("p")).order_by(V.c.at)
VOTER_AMONG = select(V.c.member_id).where(V.c.proposal_id == bindparam("p"),
                                          V.c.member_id.in_(bindparam("ms", expanding=True))).limit(1)
VOTES_WITH_REASONS = VOTES_OF.where(V.c.reason != "")
