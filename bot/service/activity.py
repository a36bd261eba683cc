"""Claims managed by activity (docs/behaviour.md, Claims managed by activity): idle
reminders and release, `!pin` / `!unpin`.

Activity is any command a claimant gives on their claim's need (`!task T12`, `!renew`,
`!submit`, `!log T12` …): the core calls `touch` after each command. Members are people, not
accounts — a command from any linked identity on any platform is the same member's
activity. `claim_idle_days` reminds an idle claimant once; `claim_idle_release_days`
releases the claim. A pinned claim neither expires nor is released as idle.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func

from bot.chat.render import esc, when
from bot.domain.ref import Ref, RefKind
from bot.domain.vocabulary import PENDING, ClaimState
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles
from bot.service.refs import load_row
from bot.store import sql
from bot.store.models import Claim

# Commands whose first word names a need: the claimant's activity on its claim. `!claim` is
# not one: a new claim's activity is its `claimed_at` (see LAST_ACTIVE), so touching it would
# write the same time again.
ACTIVITY = frozenset({"task", "renew", "submit", "log", "pin", "unpin"})
# When a claim was last active: its last command, or when it was made.
LAST_ACTIVE = func.coalesce(Claim.last_activity_at, Claim.claimed_at)


def touch(ctx: CommandCtx) -> None:
    """Record the member's activity on the claim their command names, if they hold one."""
    pa = ctx.parsed
    if pa.name not in ACTIVITY or not pa.words:
        return
    ref = Ref.parse(pa.words[0], RefKind.NEED)
    if ref:
        ctx.conn.execute(sql.CLAIM_TOUCH, {"m": ctx.member.id, "c": ctx.cid, "n": ref.number,
                                  "now": ctx.now})


def idle_remind(ctx: Ctx, claim_id: int, late: bool) -> bool:
    """A claim idle for `claim_idle_days`: remind its claimant once."""
    days = ctx.policies.claim_idle_days
    if not days:
        return False
    c = ctx.conn.execute(sql.IDLE_REMIND, {"_id": claim_id, "_since": ctx.now - timedelta(days=days)}).first()
    if c is None:
        return False
    need = ctx.conn.execute(sql.NEED_BY_ID, {"_id": c.need_id}).one()
    r = f"T{need.number}"
    release = ctx.policies.claim_idle_release_days
    tail = (f" It is released on {when((c.last_activity_at or c.claimed_at) + timedelta(days=release))}"
            " unless you act on it." if release else "")
    ctx.event("claim.idle_reminded", r, member=c.member_id, days=days)
    ctx.notice(c.member_id, f"Your claim on {r} ({esc(need.title)}) has been quiet for {days} days "
                            f"(policy claim_idle_days).{tail} Still on it? `{ctx.cmd('renew ' + r)}` "
                            f"— or hand it back with `{ctx.cmd('release ' + r)}`.", ref=r)
    return True


def idle_release(ctx: Ctx, claim_id: int, late: bool) -> bool:
    """A claim idle for `claim_idle_release_days`: released, its slot free."""
    days = ctx.policies.claim_idle_release_days
    c = ctx.conn.execute(sql.CLAIM_BY_ID, {"_id": claim_id}).first()
    if c is None or not days:
        return False
    need = ctx.conn.execute(sql.NEED_BY_ID_LOCKED, {"_id": c.need_id}).one()
    res = ctx.conn.execute(sql.IDLE_RELEASE, {"_id": claim_id, "_now": ctx.now,
                                              "_since": ctx.now - timedelta(days=days)})
    if res.rowcount != 1:
        return False
    sql.recount_slots(ctx.conn, need.id)
    r = f"T{need.number}"
    due = (c.last_activity_at or c.claimed_at) + timedelta(days=days)
    ctx.deadline_event("claim.released", r, due, late, member=c.member_id, idle_days=days)
    was_due = f"(late: was due {when(due)}) " if late else ""
    ctx.announce(f"{was_due}{ctx.name_of(c.member_id)}'s claim on {r} was released after {days} days "
                 f"without activity (policy claim_idle_release_days); the slot is free: "
                 f"{esc(need.title)} — claim it with `{ctx.cmd('claim ' + r)}`", ref=r, late=late)
    ctx.notice(c.member_id, f"Your claim on {r} was released after {days} days without activity.",
               ref=r)
    ctx.updated(r)
    return True


def _pin_target(ctx: CommandCtx) -> tuple:  # type: ignore[type-arg]
    pa = ctx.parsed
    need = load_row(ctx, pa.words[0] if pa.words else None, "T", sql.NEED_BY_NUMBER_LOCKED)
    r = f"T{need.number}"
    if len(pa.words) < 2:
        raise ctx.refuse(f"whose claim? name the member, like {ctx.cmd(f'{pa.name} {r} @alice')}")
    who = ctx.find_member(pa.words[1])
    if who is None:
        raise ctx.refuse(f"{esc(pa.words[1][:40])} is not a member here — name them as they appear "
                         "in the room")
    c = ctx.conn.execute(sql.CLAIM_OF_MEMBER, {"need": need.id, "m": who.id,
                                               "states": list(PENDING)}).first()
    if c is None:
        raise ctx.refuse(f"{esc(who.display_name)} holds no claim on {r} — see {ctx.cmd('task ' + r)}")
    return need, c, r


@handles("pin")
def pin(ctx: CommandCtx) -> Reply:
    """`!pin T12 @member`: the claim does not expire (nor is released as idle) until unpinned."""
    _need, c, r = _pin_target(ctx)
    if c.pinned:
        raise ctx.refuse(f"{ctx.name_of(c.member_id)}'s claim on {r} is already pinned")
    ctx.conn.execute(sql.CLAIM_UPDATE, {"_id": c.id, "pinned": True})
    ctx.event("claim.pinned", r, member=c.member_id)
    ctx.updated(r)
    return Reply(f"{ctx.name_of(c.member_id)}'s claim on {r} is pinned: it does not expire until "
                 f"{ctx.cmd(f'unpin {r}')} is used.", ref=r)


@handles("unpin")
def unpin(ctx: CommandCtx) -> Reply:
    """`!unpin T12 @member`: the claim's clock starts again."""
    _need, c, r = _pin_target(ctx)
    if not c.pinned:
        raise ctx.refuse(f"{ctx.name_of(c.member_id)}'s claim on {r} is not pinned")
    values = {"_id": c.id, "pinned": False, "last_activity_at": ctx.now, "idle_reminded": False}
    expires_at = c.expires_at
    if c.state == ClaimState.ACTIVE:
        expires_at = ctx.now + timedelta(days=ctx.policies.claim_days)
        values.update(expires_at=expires_at, reminded=False)
    ctx.conn.execute(sql.CLAIM_UPDATE, values)
    ctx.event("claim.unpinned", r, member=c.member_id,
              expires=expires_at.isoformat() if expires_at else None)
    ctx.updated(r)
    return Reply(f"{ctx.name_of(c.member_id)}'s claim on {r} is unpinned"
                 + (f"; it expires on {when(expires_at)}." if c.state == ClaimState.ACTIVE and expires_at
                    else "."), ref=r)
