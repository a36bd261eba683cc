"""The generative loop's tables (docs/behaviour.md, The books): ventures, their pledges and revenue, and the
foundation's books (pools, entries, reservations, payers, payments)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.domain.vocabulary import EntryState, ReservationState, VentureState
from bot.store.base import PK, Base


class Venture(Base):
    """A venture earning a livelihood on the commons, with its pledge to give back.

    The pledge is `pledge_bp` basis points of declared revenue (`10%` = 1000) or a flat
    `pledge_minor` in `pledge_currency` per month.
    """

    __tablename__ = "ventures"
    __table_args__ = (UniqueConstraint("community", "number"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    pledge_bp: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pledge_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pledge_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    registered_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    state: Mapped[str] = mapped_column(String(16), default=VentureState.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    left_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class VentureMember(Base):
    """A member of a venture (the row goes when they leave; the log keeps the history)."""

    __tablename__ = "venture_members"
    venture_id: Mapped[int] = mapped_column(ForeignKey("ventures.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(DateTime)


class RevenueDeclaration(Base):
    """Revenue a venture declared for a month, and the pledged amount it made due (append-only)."""

    __tablename__ = "revenue_declarations"
    __table_args__ = (Index("ix_revenue_venture", "venture_id", "period"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"), index=True)
    venture_id: Mapped[int] = mapped_column(ForeignKey("ventures.id"))
    period: Mapped[str] = mapped_column(String(7))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    due_minor: Mapped[int] = mapped_column(BigInteger)
    declared_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    at: Mapped[datetime] = mapped_column(DateTime)


class Pool(Base):
    """A community's pool: the foundation's two funds and what open calls hold of the commons
    fund. One row per community, locked by every change (`SELECT … FOR UPDATE`)."""

    __tablename__ = "pools"
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    operations_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    commons_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class PoolEntry(Base):
    """A receipt `R7` or a spend `S3` of the pool: recorded → reversed, never deleted."""

    __tablename__ = "pool_entries"
    __table_args__ = (UniqueConstraint("community", "kind", "number"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    kind: Mapped[str] = mapped_column(String(8))  # receipt | spend
    number: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    operations_minor: Mapped[int] = mapped_column(BigInteger)
    commons_minor: Mapped[int] = mapped_column(BigInteger)
    venture_id: Mapped[int | None] = mapped_column(ForeignKey("ventures.id"), nullable=True)
    from_member: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    at: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(16), default=EntryState.RECORDED)
    reversed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reversed_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    reverse_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class CallReservation(Base):
    """The part of the commons fund an open funding call holds (with `pool: true`)."""

    __tablename__ = "call_reservations"
    call_id: Mapped[int] = mapped_column(ForeignKey("funding_calls.id"), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default=ReservationState.HELD)
    allocated_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class NeedPayer(Base):
    """Who pays a need's reward: a venture (`by:V2`) or the foundation."""

    __tablename__ = "need_payers"
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), primary_key=True)
    payer: Mapped[str] = mapped_column(String(16))  # venture | foundation
    venture_id: Mapped[int | None] = mapped_column(ForeignKey("ventures.id"), nullable=True)


class Payment(Base):
    """That an approved reward (a contribution) was paid by its payer."""

    __tablename__ = "payments"
    contribution_id: Mapped[int] = mapped_column(ForeignKey("contributions.id"), primary_key=True)
    paid_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    at: Mapped[datetime] = mapped_column(DateTime)
