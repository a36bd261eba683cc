"""Funding calls as stored: the row checked against what the log recorded of it."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot.service.context import Ctx
from bot.store.models import Event, FundingCall

log = logging.getLogger(__name__)


def restore_budget(ctx: Ctx, c: FundingCall) -> dict[str, int]:
    """Put back on a call's row the budget its first event recorded, if the row says otherwise.

    The record is sacred: a call opens and allocates the budget members were shown, never
    one changed in the database behind the bot's back. Opening and closing cannot refuse
    (a deadline must end), so they follow the record, and their event keeps the figure the
    row held (`row_budget_minor`), which `commons-bot audit` reports. Calls logged before
    budgets were recorded in minor units are taken as they are.

    Returns:
        `{"row_budget_minor": …}` to add to the event when the row was put back, else `{}`.
    """
    r = f"F{c.number}"
    first = ctx.session.scalar(select(Event.details).where(
        Event.community == ctx.cid, Event.object == r,
        Event.kind.in_(("call.proposed", "call.opened"))).order_by(Event.id).limit(1))
    recorded = (first or {}).get("budget_minor")
    if recorded is None or int(recorded) == c.budget_minor:
        return {}
    row = c.budget_minor
    log.warning("%s of %s: the row's budget %s differs from the recorded %s; the recorded one "
                "is used and put back", r, ctx.cid, row, recorded)
    c.budget_minor = int(recorded)
    return {"row_budget_minor": row}
