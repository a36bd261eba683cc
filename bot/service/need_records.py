"""Needs and their claims as stored, shared by the handlers of needs, review, funding and
cards: creating a need, reading a need and its claims, counting its taken slots."""

from __future__ import annotations

from sqlalchemy import select

from bot.service.context import Ctx
from bot.service.refs import load_row, next_number
from bot.store import sql
from bot.store.models import FAR_FUTURE, Claim, Need

HOLDING = ("active", "submitted", "approved")
PENDING = ("active", "submitted")


def create_need(ctx: Ctx, *, title: str, description: str, skills: tuple[str, ...],
                reward: tuple[int, str] | None, slots: int, due_at, offered_by: int,  # type: ignore[no-untyped-def]
                call_id: int | None = None, taken: int = 0, state: str = "open",
                if_proposal_id: int | None = None):
    """Insert a need with its skills (shared by `!offer` and funded pitches); returns its row."""
    values = dict(community=ctx.cid, number=next_number(ctx, "next_need"), title=title,
                  description=description, skills=" ".join(skills),
                  reward_minor=reward[0] if reward else None,
                  reward_currency=reward[1] if reward else None, slots=slots, taken=taken,
                  is_full=taken >= slots, due_at=due_at, sort_due=due_at or FAR_FUTURE,
                  due_reminded=False, offered_by=offered_by, call_id=call_id, state=state,
                  if_proposal_id=if_proposal_id, created_at=ctx.now, closed_at=None, close_reason=None)
    values["id"] = ctx.conn.execute(sql.NEED_INSERT, values).scalar_one()
    if skills:
        ctx.conn.execute(sql.NEED_SKILL_INSERT, [{"need_id": values["id"], "skill": s} for s in skills])
    return NeedView(**values)


class NeedView:
    """A need's values as plain attributes (what `need_line` and friends read)."""

    def __init__(self, **values) -> None:  # type: ignore[no-untyped-def]
        self.__dict__.update(values)


def need_row(ctx: Ctx, token: str | None, *, lock: bool):  # type: ignore[no-untyped-def]
    """The need a `T12` argument names, as a row; refuses with how to find one."""
    return load_row(ctx, token, "T", sql.NEED_BY_NUMBER_LOCKED if lock else sql.NEED_BY_NUMBER)


def claims_of(ctx: Ctx, need: Need, states: tuple[str, ...] = PENDING) -> list[Claim]:
    """The need's claims in `states`, oldest first, as ORM objects."""
    return list(ctx.session.scalars(select(Claim).where(
        Claim.need_id == need.id, Claim.state.in_(states)).order_by(Claim.id)))


def claim_rows(ctx: Ctx, need_id: int, states: tuple[str, ...]) -> list:  # type: ignore[type-arg]
    """The need's claims in `states`, as plain rows."""
    return list(ctx.conn.execute(sql.CLAIMS_OF_NEED, {"need": need_id, "states": list(states)}))


def set_slots(ctx: Ctx, need, taken: int) -> None:  # type: ignore[no-untyped-def]
    """Store how many slots of a need (a row) are taken."""
    ctx.conn.execute(sql.NEED_UPDATE, {"_id": need.id, "taken": taken, "is_full": taken >= need.slots})


def sync_slots(need: Need, delta: int) -> None:
    """Count `delta` more (or fewer) slots taken on a loaded need."""
    need.taken += delta
    need.is_full = need.taken >= need.slots
