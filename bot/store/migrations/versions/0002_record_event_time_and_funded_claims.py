"""The record: events read by time, and the claims funded pitches made before they were logged

Revision ID: 0002_record
Revises: 0002_web
Create Date: 2026-11-30 05:00:00

`!log`, the histories and the audit read events by the time each change happened, ties by
insertion: two indexes serve that. Before this revision, closing a funding call created a
claim for each funded pitch's pitcher without an event; each such claim gets its
`claim.made` event now, dated when the call closed (appended: no recorded event changes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_record"
down_revision = '0002_web'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_time", "events", ["community", "at", "id"])
    op.create_index("ix_events_object_time", "events", ["community", "object", "at", "id"])
    _backfill_funded_claims()


def _backfill_funded_claims() -> None:
    meta = sa.MetaData()
    bind = op.get_bind()
    events = sa.table("events", sa.column("id", sa.Integer), sa.column("community", sa.String),
                      sa.column("at", sa.DateTime), sa.column("actor_id", sa.Integer),
                      sa.column("platform", sa.String), sa.column("kind", sa.String),
                      sa.column("object", sa.String), sa.column("details", sa.JSON))
    pitches = sa.Table("pitches", meta, autoload_with=bind)
    needs = sa.Table("needs", meta, autoload_with=bind)
    calls = sa.Table("funding_calls", meta, autoload_with=bind)
    claims = sa.Table("claims", meta, autoload_with=bind)
    need_ref = sa.literal("T") + sa.cast(needs.c.number, sa.String)
    logged = (sa.select(events.c.id).where(events.c.community == needs.c.community,
                                           events.c.object == need_ref,
                                           events.c.kind == "claim.made")
              .correlate(needs))
    # The first claim of each funded need is the pitcher's, made when the call closed.
    first = claims.alias("first")
    first_claim = (sa.select(sa.func.min(first.c.id)).where(first.c.need_id == needs.c.id)
                   .correlate(needs).scalar_subquery())
    rows = bind.execute(
        sa.select(needs.c.community, needs.c.number, pitches.c.number.label("pitch"),
                  pitches.c.pitched_by, calls.c.closed_at, claims.c.expires_at)
        .select_from(pitches.join(needs, needs.c.id == pitches.c.need_id)
                     .join(calls, calls.c.id == pitches.c.call_id)
                     .join(claims, claims.c.id == first_claim))
        .where(~sa.exists(logged))
        .order_by(calls.c.closed_at, needs.c.number)).all()
    if rows:
        bind.execute(events.insert(), [
            dict(community=r.community, at=r.closed_at, actor_id=None, platform="bot",
                 kind="claim.made", object=f"T{r.number}",
                 details={"member": r.pitched_by, "pitch": f"B{r.pitch}",
                          "expires": r.expires_at.isoformat() if r.expires_at else None,
                          "backfilled": True})
            for r in rows])


def downgrade() -> None:
    op.drop_index("ix_events_object_time", "events")
    op.drop_index("ix_events_time", "events")
