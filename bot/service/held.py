"""Consent → work → money: needs and funding calls held until a proposal passes.

`!offer … if:P3` and `!fund … if:P3` create the need or call in state `proposed`, shown
with the proposal. When P3 closes (by command, at its deadline, or in the catch-up after
downtime — always inside the transaction that closes it) `bot.service.settle` opens what
it held if it passed and cancels it otherwise.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.chat.render import esc, money
from bot.domain.vocabulary import ProposalState
from bot.service.context import Ctx
from bot.service.refs import load
from bot.store.models import FundingCall, Need, Proposal


def condition(ctx: Ctx) -> Proposal | None:
    """The proposal an `if:P3` option names, which must still be undecided; None without it."""
    pa = ctx.parsed
    assert pa is not None
    token = pa.options.get("if")
    if token is None:
        return None
    p = load(ctx, token, "P", lock=True)
    if p.state == ProposalState.CLOSED:
        raise ctx.refuse(f"P{p.number} is already closed ({p.outcome}) — if: names an open proposal; "
                         f"without if: it starts at once")
    return p


def held_phrase(p: Proposal) -> str:
    """`held until P3 passes (cancelled if it does not)`."""
    return f"held until P{p.number} passes (cancelled if it does not)"


def held_lines(ctx: Ctx, p: Proposal) -> list[str]:
    """What a proposal holds, one line each, for `!proposal` and its card."""
    lines = []
    for n in ctx.session.scalars(select(Need).where(Need.if_proposal_id == p.id).order_by(Need.number)):
        reward = f" · {money(n.reward_minor, n.reward_currency)}" if n.reward_minor is not None else ""
        lines.append(f"need **T{n.number}** {esc(n.title)}{reward} ({n.state})")
    for c in ctx.session.scalars(select(FundingCall).where(FundingCall.if_proposal_id == p.id)
                                 .order_by(FundingCall.number)):
        lines.append(f"funding call **F{c.number}** {esc(c.title)} · "
                     f"{money(c.budget_minor, c.currency)} ({c.state})")
    return lines
