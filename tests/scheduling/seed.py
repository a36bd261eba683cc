"""Seed many pending deadlines fast: bulk INSERTs through SQLAlchemy Core, no commands.

Used by the two-process test and by bench/deadlines.py. The rows are what the commands
would have written (numbers taken from the community's counters), so commands still work
on the database afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from bot.store.models import (
    FAR_FUTURE,
    Backing,
    Claim,
    CommunityRow,
    FundingCall,
    Member,
    Need,
    Pitch,
    Proposal,
)

CHUNK = 5000


def _bulk(conn, model, rows: list[dict]) -> None:  # type: ignore[no-untyped-def,type-arg]
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(model), rows[i:i + CHUNK])


def seed(engine: Engine, *, now: datetime, at: Callable[[int], datetime], community: str = "demo",
         claims: int = 0, proposals: int = 0, calls: int = 0, need_dues: int = 0,
         members: int = 20, reminders_done: bool = True) -> None:
    """Insert objects whose deadlines fall at `at(i)` (i counts from 0 within each kind).

    Args:
        engine: a migrated database with the community row present.
        now: when the objects were "created".
        at: the deadline of the i-th object of a kind.
        community: the community id.
        claims: active claims (one need each) expiring at `at(i)`.
        proposals: open proposals closing at `at(i)`.
        calls: open funding calls closing at `at(i)`, each with one backed pitch.
        need_dues: open needs due at `at(i)`, unclaimed.
        members: members to spread claims, pitches and backings over.
        reminders_done: mark claim reminders, nudges and due-date reminders as sent, so that
            only the main deadlines are pending.
    """
    with engine.begin() as conn:
        first_member = conn.scalar(select(Member.id).order_by(Member.id.desc()).limit(1)) or 0
        _bulk(conn, Member, [dict(community=community, display_name=f"seed{i}", created_at=now)
                             for i in range(members)])
        mids = list(conn.scalars(select(Member.id).where(Member.id > first_member).order_by(Member.id)))
        row = conn.execute(select(CommunityRow).where(CommunityRow.id == community)).one()
        next_need, next_prop, next_call, next_pitch = (row.next_need, row.next_proposal,
                                                       row.next_call, row.next_pitch)

        def need(num: int, i: int, due: datetime | None, taken: int) -> dict:  # type: ignore[type-arg]
            return dict(community=community, number=num, title=f"Seeded need {num}", description="",
                        skills="seed", slots=1, taken=taken, is_full=taken >= 1, due_at=due,
                        sort_due=due or FAR_FUTURE, due_reminded=reminders_done,
                        offered_by=mids[i % len(mids)], state="open", created_at=now)

        n_needs = claims + need_dues
        rows = [need(next_need + i, i, None, 1) for i in range(claims)]
        rows += [need(next_need + claims + i, i, at(i), 0) for i in range(need_dues)]
        _bulk(conn, Need, rows)
        if claims:
            ids = dict(conn.execute(select(Need.number, Need.id).where(
                Need.community == community, Need.number >= next_need,
                Need.number < next_need + claims)).all())
            _bulk(conn, Claim, [dict(need_id=ids[next_need + i], member_id=mids[(i + 1) % len(mids)],
                                     state="active", claimed_at=now, expires_at=at(i),
                                     reminded=reminders_done) for i in range(claims)])
        _bulk(conn, Proposal, [dict(community=community, number=next_prop + i, text=f"Seeded proposal {i}",
                                    description="", author_id=mids[i % len(mids)], closes_at=at(i),
                                    quorum=None, state="open", nudged=reminders_done, created_at=now)
                               for i in range(proposals)])
        _bulk(conn, FundingCall, [dict(community=community, number=next_call + i, title=f"Seeded call {i}",
                                       description="", budget_minor=100_000, currency="EUR", points=100,
                                       closes_at=at(i), posted_by=mids[0], state="open", created_at=now)
                                  for i in range(calls)])
        if calls:
            call_ids = dict(conn.execute(select(FundingCall.number, FundingCall.id).where(
                FundingCall.community == community, FundingCall.number >= next_call)).all())
            _bulk(conn, Pitch, [dict(community=community, number=next_pitch + i,
                                     call_id=call_ids[next_call + i], title=f"Seeded pitch {i}",
                                     description="", ask_minor=50_000, pitched_by=mids[(i + 2) % len(mids)],
                                     state="open", created_at=now) for i in range(calls)])
            pitch_ids = dict(conn.execute(select(Pitch.number, Pitch.id).where(
                Pitch.community == community, Pitch.number >= next_pitch)).all())
            _bulk(conn, Backing, [dict(pitch_id=pitch_ids[next_pitch + i],
                                       member_id=mids[(i + 3) % len(mids)],
                                       call_id=call_ids[next_call + i], points=10, at=now)
                                  for i in range(calls)])
        conn.execute(update(CommunityRow).where(CommunityRow.id == community).values(
            next_need=next_need + n_needs, next_proposal=next_prop + proposals,
            next_call=next_call + calls, next_pitch=next_pitch + calls))
