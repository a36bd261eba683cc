"""SQLAlchemy 2 models: the database is the source of truth for every object and deadline.

Datetimes are stored as naive UTC. Amounts are integers in the currency's minor unit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    false as sa_false,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.domain.vocabulary import (
    CallState,
    CardMessage,
    ClaimState,
    DeliveryState,
    NeedState,
    PitchState,
    ProposalState,
)
from bot.store.base import FAR_FUTURE, PK, Base

# The generative loop's tables, here too so that `Base.metadata` holds every table wherever
# the models are imported (migrations, backups), and `from bot.store.models import Pool` works.
from bot.store.books_models import (  # noqa: F401 (re-exported)
    CallReservation,
    NeedPayer,
    Payment,
    Pool,
    PoolEntry,
    RevenueDeclaration,
    Venture,
    VentureMember,
)


class CommunityRow(Base):
    """A community and its number counters (numbers are never reused)."""

    __tablename__ = "communities"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    next_need: Mapped[int] = mapped_column(Integer, default=1)
    next_proposal: Mapped[int] = mapped_column(Integer, default=1)
    next_call: Mapped[int] = mapped_column(Integer, default=1)
    next_pitch: Mapped[int] = mapped_column(Integer, default=1)


class Member(Base):
    """A person in a community, with one identity per platform."""

    __tablename__ = "members"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Set when this member's only identity joined another member by `!link` (it had no
    # history of its own, so nothing is left with it).
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    # Set on the member `!unlink` makes for the account it detaches: the member that account
    # was detached from, or the one that member was itself detached from (the first of the
    # chain). The members of one chain were one person for what was open before they split:
    # a vote or a points allowance there counts once among them.
    split_from: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True,
                                                   index=True)


class IdentityRow(Base):
    """A platform user id bound to a member."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("community", "platform", "user_id"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # When it joined its member by `!link`; None for the member's first account, the one the
    # member began with, which holds its record and name and is never unlinked.
    linked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Need(Base):
    """A task offer. `taken` counts claims holding a slot (active, submitted, approved)."""

    __tablename__ = "needs"
    __table_args__ = (
        UniqueConstraint("community", "number"),
        # Serves `!needs`: open ones, free slots first, most urgent first.
        Index("ix_needs_board", "community", "state", "is_full", "sort_due", "number"),
        Index("ix_needs_due", "state", "due_at"),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    skills: Mapped[str] = mapped_column(String(500), default="")
    reward_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reward_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    slots: Mapped[int] = mapped_column(Integer, default=1)
    taken: Mapped[int] = mapped_column(Integer, default=0)
    is_full: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sort_due: Mapped[datetime] = mapped_column(DateTime, default=FAR_FUTURE)
    due_reminded: Mapped[bool] = mapped_column(Boolean, default=False)
    offered_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("funding_calls.id"), nullable=True)
    # `!offer … if:P3`: held as `proposed` until that proposal closes.
    if_proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"), nullable=True,
                                                       index=True)
    state: Mapped[str] = mapped_column(String(16), default=NeedState.OPEN)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    close_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class NeedSkill(Base):
    """One skill of a need, for `!needs #skill` and for watchers."""

    __tablename__ = "need_skills"
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(64), primary_key=True)
    __table_args__ = (Index("ix_need_skills_skill", "skill", "need_id"),)


class Claim(Base):
    """A member's self-selected work on a need."""

    __tablename__ = "claims"
    __table_args__ = (
        Index("ix_claims_need", "need_id", "state"),
        Index("ix_claims_member", "member_id", "state"),
        Index("ix_claims_expiry", "state", "expires_at"),
        # The board's "waiting for review" group starts from the submitted claims.
        Index("ix_claims_waiting", "state", "need_id"),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    state: Mapped[str] = mapped_column(String(16), default=ClaimState.ACTIVE)
    claimed_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reminded: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    submission: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The claimant's last command on the claim (`claim_idle_days`); None: since claimed_at.
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    idle_reminded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # `!pin`: a maintainer keeps the claim from expiring or being released as idle.
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class Approval(Base):
    """One maintainer's approval of a claim's submission, where a need takes several
    (`approvals:` policy); a new submission needs approving afresh."""

    __tablename__ = "approvals"
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), primary_key=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)


class Watch(Base):
    """A member's subscription to new needs with a skill."""

    __tablename__ = "watches"
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(64), primary_key=True)
    __table_args__ = (Index("ix_watches_skill", "skill"),)


class Proposal(Base):
    """A consent proposal."""

    __tablename__ = "proposals"
    __table_args__ = (
        UniqueConstraint("community", "number"),
        Index("ix_proposals_due", "state", "closes_at"),
        Index("ix_proposals_review", "reviewed", "review_at"),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    closes_at: Mapped[datetime] = mapped_column(DateTime)
    quorum: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=ProposalState.OPEN)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    nudged: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Decision type (docs/behaviour.md, Decision types); `advice` is decided by `deciders`
    # (member ids, spaces).
    decision: Mapped[str] = mapped_column(String(16), default="consent", server_default="consent")
    deciders: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # The outcome statement (`!outcome`, `!decide`) and when the community reviews it.
    statement: Mapped[str | None] = mapped_column(Text, nullable=True)
    review_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # `hidden:yes`: counts and positions shown only at close. `anonymous:yes`: a secret
    # ballot, whose positions are never published with names (nor in the event log).
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class Vote(Base):
    """A member's latest position on a proposal."""

    __tablename__ = "votes"
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    position: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime)


class FundingCall(Base):
    """A foundation's funding call."""

    __tablename__ = "funding_calls"
    __table_args__ = (
        UniqueConstraint("community", "number"),
        Index("ix_calls_due", "state", "closes_at"),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    budget_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    points: Mapped[int] = mapped_column(Integer, default=100)
    closes_at: Mapped[datetime] = mapped_column(DateTime)
    posted_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    # `!fund … if:P3`: held as `proposed` until that proposal closes.
    if_proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"), nullable=True,
                                                       index=True)
    state: Mapped[str] = mapped_column(String(16), default=CallState.OPEN)
    unallocated_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Pitch(Base):
    """A bucket pitched to a funding call."""

    __tablename__ = "pitches"
    __table_args__ = (UniqueConstraint("community", "number"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[int] = mapped_column(ForeignKey("funding_calls.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    ask_minor: Mapped[int] = mapped_column(BigInteger)
    pitched_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    state: Mapped[str] = mapped_column(String(16), default=PitchState.OPEN)
    funded_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Backing(Base):
    """A member's latest points on a pitch."""

    __tablename__ = "backings"
    pitch_id: Mapped[int] = mapped_column(ForeignKey("pitches.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("funding_calls.id"))
    points: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (Index("ix_backings_call_member", "call_id", "member_id"),)


class Contribution(Base):
    """An approved piece of work in the ledger (append-only)."""

    __tablename__ = "contributions"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"))
    reward_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    approved_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    at: Mapped[datetime] = mapped_column(DateTime)


class Event(Base):
    """One state change, appended and never edited: the public log."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_feed", "community", "id"),
        Index("ix_events_object", "community", "object", "id"),
        # The log and the histories read by the time each change happened, ties by insertion.
        Index("ix_events_time", "community", "at", "id"),
        Index("ix_events_object_time", "community", "object", "at", "id"),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    at: Mapped[datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    object: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxEntry(Base):
    """An announcement or notice, written in the same transaction as the change it tells of.

    Each platform's adapter delivers it once; `deliveries` records who sent it.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_feed", "community", "id"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    ref: Mapped[str | None] = mapped_column(String(32), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    late: Mapped[bool] = mapped_column(Boolean, default=False)


class OutboxDelivery(Base):
    """One platform's delivery of an outbox entry (the primary key makes one per platform).

    A process takes an entry by writing this row with `lease_until` a little ahead; it
    marks it `sent` only after the platform accepted it. Until then `lease_until` is when
    another process may take it again: the lease of a process that died, or the next try
    after a failed send (`attempts` of them so far). After too many it is `failed`.
    """

    __tablename__ = "outbox_deliveries"
    __table_args__ = (Index("ix_outbox_deliveries_retry", "platform", "state", "lease_until"),)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(8), default=DeliveryState.TAKEN)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class HandledMessage(Base):
    """A platform message already answered, with the replies it got.

    Written in the same transaction as the command's effect, so a message delivered again
    after a crash is answered with the same replies instead of being run twice.
    """

    __tablename__ = "handled_messages"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    replies: Mapped[list[Any]] = mapped_column(JSON, default=list)


class LinkCode(Base):
    """A single-use code that proves control of one identity, to join another to its member.

    Only a hash of the code is stored: the code itself exists in one private reply. Sent
    from another account, it waits (`joiner_id` set, `expires_at` moved on) until the
    issuing account confirms; `used` once confirmed, denied or burned.
    """

    __tablename__ = "link_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    joiner_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"), nullable=True)


class LinkAttempt(Base):
    """A failed `!link <code>`, kept to rate-limit guessing (per platform identity)."""

    __tablename__ = "link_attempts"
    __table_args__ = (Index("ix_link_attempts_who", "community", "platform", "user_id", "at"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime)


class KeyValue(Base):
    """Small adapter state (a Matrix sync token, a digest's last run)."""

    __tablename__ = "kv"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PostedCard(Base):
    """A platform message that shows an object's card, so it can be edited in place and a
    reaction or button on it maps back to the object."""

    __tablename__ = "posted_cards"
    __table_args__ = (Index("ix_posted_cards_ref", "platform", "community", "ref"),)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    space: Mapped[str] = mapped_column(String(255))
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    ref: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default=CardMessage.CARD)
    at: Mapped[datetime] = mapped_column(DateTime)
