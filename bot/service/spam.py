"""Spam and newcomer policies (docs/behaviour.md, Spam and newcomers): `max_claims_per_day`,
`new_member_days` with `new_member_max_claims`, `submit_requires_link`.

Each refusal names the policy and says when the action will be allowed. The claim checks
run after `Ctx.lock_member`, so two claims at once by one person (from two platforms) are
counted one after the other.
"""

from __future__ import annotations

import re
from datetime import timedelta

from bot.chat.render import when
from bot.service.context import CommandCtx, Ctx
from bot.store import sql

_LINK = re.compile(r"\bhttps?://\S+", re.IGNORECASE)
DAY = timedelta(days=1)


def check_claim(ctx: CommandCtx) -> None:
    """Refuse a claim beyond `max_claims_per_day` or a newcomer's `new_member_max_claims`."""
    pol = ctx.policies
    me = ctx.member.id
    if pol.max_claims_per_day:
        since = ctx.now - DAY
        times = list(ctx.conn.execute(sql.CLAIM_TIMES_SINCE, {"m": me, "since": since}).scalars())
        if len(times) >= pol.max_claims_per_day:
            allowed = times[len(times) - pol.max_claims_per_day] + DAY
            raise ctx.refuse(f"policy max_claims_per_day: you made {len(times)} claims in the last "
                             f"24 hours, the most this community allows; you can claim again on "
                             f"{when(allowed)}")
    if pol.new_member_days and pol.new_member_max_claims:
        joined = ctx.conn.execute(sql.MEMBER_JOINED, {"m": me}).scalar()
        settled = joined + timedelta(days=pol.new_member_days) if joined else ctx.now
        if settled > ctx.now:
            active = ctx.conn.execute(sql.PENDING_CLAIMS_OF_MEMBER, {"m": me}).scalar_one()
            if active >= pol.new_member_max_claims:
                raise ctx.refuse(f"policy new_member_max_claims: in their first {pol.new_member_days} "
                                 f"days members hold at most {pol.new_member_max_claims} claims at "
                                 f"once; you can claim more when one of yours is done or released, "
                                 f"or from {when(settled)}")


def check_submission(ctx: Ctx, note: str) -> None:
    """Refuse a submission without a link under `submit_requires_link`."""
    if ctx.policies.submit_requires_link and not _LINK.search(note):
        raise ctx.refuse("policy submit_requires_link: a submission must link to the work — it is "
                         "accepted as soon as it does, like "
                         f"{ctx.cmd('submit T12 https://example.org/pr/12')}")
