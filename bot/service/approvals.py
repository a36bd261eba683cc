"""N-of-M approvals and the offerer's limit (`approvals:`, `author_cannot_approve_over:`).

A need whose reward is over a rule's amount is approved when that many different
maintainers approve the claim's current submission; each approval before the last is a
row of `approvals` (keyed by claim, submission time and maintainer) and an event. The
need's row is locked by `!approve` (`SELECT … FOR UPDATE`), so two maintainers racing for
the last approval are serialised: the second finds the work already approved.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.chat.render import money
from bot.domain.rules import Money, approvals_needed, offerer_may_approve, parse_money
from bot.domain.vocabulary import ClaimState
from bot.service.context import CommandCtx, Ctx, Reply
from bot.store import sql
from bot.store.models import Approval


def _reward(need: Any) -> Money | None:
    return Money(need.reward_minor, need.reward_currency) if need.reward_minor is not None else None


def needed(ctx: Ctx, need: Any) -> int:
    """How many different maintainers approve a claim on this need."""
    rules = [(parse_money(r.over), r.count) for r in ctx.policies.approvals]
    return approvals_needed(_reward(need), rules)


def given(ctx: Ctx, claim: Any) -> list[int]:
    """Members who approved the claim's current submission, in order."""
    if claim.submitted_at is None:
        return []
    return list(ctx.session.scalars(select(Approval.member_id).where(
        Approval.claim_id == claim.id, Approval.submitted_at == claim.submitted_at)
        .order_by(Approval.at, Approval.member_id)))


def check_offerer(ctx: CommandCtx, need: Any) -> None:
    """Refuse the need's offerer when its reward is over `author_cannot_approve_over`."""
    raw = ctx.policies.author_cannot_approve_over
    if raw is None or need.offered_by != ctx.member.id:
        return
    limit = parse_money(raw)
    if not offerer_may_approve(_reward(need), limit):
        raise ctx.refuse(f"policy author_cannot_approve_over: you offered T{need.number} and its "
                         f"reward {money(need.reward_minor, need.reward_currency)} is over {limit} — "
                         "another maintainer approves it")


def record(ctx: CommandCtx, need: Any, claim: Any) -> Reply | None:
    """Count this maintainer's approval; a Reply while more are needed, None when it is the last."""
    count = needed(ctx, need)
    if count <= 1:
        return None
    before = given(ctx, claim)
    r = f"T{need.number}"
    who = ctx.name_of(claim.member_id)
    if ctx.member.id in before:
        raise ctx.refuse(f"you already approved {who}'s work on {r} ({len(before)} of {count}); "
                         f"{count - len(before)} more from other maintainers")
    if len(before) + 1 >= count:
        return None
    ctx.conn.execute(sql.APPROVAL_INSERT, {"claim_id": claim.id, "submitted_at": claim.submitted_at,
                                                  "member_id": ctx.member.id, "at": ctx.now})
    now_given = len(before) + 1
    ctx.event("claim.approval", r, member=claim.member_id, given=now_given, needed=count)
    left = count - now_given
    ctx.announce(f"{r}: {ctx.name_of(ctx.member.id)} approves {who}'s work ({now_given} of {count} "
                 f"approvals; {left} more needed from other maintainers with "
                 f"`{ctx.cmd('approve ' + r)}`).", ref=r)
    ctx.updated(r)
    return Reply(f"Your approval of {who}'s work on {r} is recorded: {now_given} of {count}, "
                 f"{left} more needed.", ref=r)


def status(ctx: Ctx, need: Any, claim: Any) -> str | None:
    """`approvals 1 of 2 (alice), 1 still needed` for a submitted claim needing several."""
    count = needed(ctx, need)
    if count <= 1 or claim.state != ClaimState.SUBMITTED:
        return None
    names = given(ctx, claim)
    by = f" ({', '.join(ctx.name_of(m) for m in names)})" if names else ""
    return f"approvals {len(names)} of {count}{by}, {count - len(names)} still needed"
