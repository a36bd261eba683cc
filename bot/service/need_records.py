"""Needs and their claims as stored, shared by the handlers of needs, review, funding and
cards: creating a need, reading a need and its claims (slots are counted by
`sql.recount_slots`, in one place)."""

from __future__ import annotations

from bot.domain.vocabulary import NeedState
from bot.service.context import Ctx
from bot.service.refs import load_row, next_number
from bot.store import sql
from bot.store.models import FAR_FUTURE


def create_need(ctx: Ctx, *, title: str, description: str, skills: tuple[str, ...],
                reward: tuple[int, str] | None, slots: int, due_at, offered_by: int,  # type: ignore[no-untyped-def]
                call_id: int | None = None, taken: int = 0, state: str = NeedState.OPEN,
                if_proposal_id: int | None = None):
    """Insert a need with its skills (shared by `!offer` and funded pitches); returns its row
    (the same kind of row `sql.NEED_BY_NUMBER` gives)."""
    values = dict(community=ctx.cid, number=next_number(ctx, "next_need"), title=title,
                  description=description, skills=" ".join(skills),
                  reward_minor=reward[0] if reward else None,
                  reward_currency=reward[1] if reward else None, slots=slots, taken=taken,
                  is_full=taken >= slots, due_at=due_at, sort_due=due_at or FAR_FUTURE,
                  due_reminded=False, offered_by=offered_by, call_id=call_id, state=state,
                  if_proposal_id=if_proposal_id, created_at=ctx.now, closed_at=None, close_reason=None)
    need = ctx.conn.execute(sql.NEED_INSERT, values).one()
    if skills:
        ctx.conn.execute(sql.NEED_SKILL_INSERT, [{"need_id": need.id, "skill": s} for s in skills])
    return need


def need_row(ctx: Ctx, token: str | None, *, lock: bool):  # type: ignore[no-untyped-def]
    """The need a `T12` argument names, as a row; refuses with how to find one."""
    return load_row(ctx, token, "T", sql.NEED_BY_NUMBER_LOCKED if lock else sql.NEED_BY_NUMBER)


def claim_rows(ctx: Ctx, need_id: int, states: tuple[str, ...]) -> list:  # type: ignore[type-arg]
    """The need's claims in `states`, as plain rows."""
    return list(ctx.conn.execute(sql.CLAIMS_OF_NEED, {"need": need_id, "states": list(states)}))
