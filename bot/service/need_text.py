"""How a need is shown: its id, its line in lists, the actions its card offers, and the
notice to members watching its skills."""

from __future__ import annotations

from bot.chat.render import esc, money, when
from bot.domain.vocabulary import NeedState, Role
from bot.ports import Choice
from bot.service.context import Ctx
from bot.store import sql
from bot.store.models import Need


def ref(need: Need) -> str:
    """`T12`."""
    return f"T{need.number}"


def need_choices(ctx: Ctx, need: Need) -> tuple[Choice, ...]:
    """The actions a need's card offers in its current state."""
    r = ref(need)
    if need.state != NeedState.OPEN:
        return ()
    return (
        Choice("claim", "Claim", ctx.cmd(f"claim {r}")),
        Choice("release", "Release", ctx.cmd(f"release {r}")),
        Choice("submit", "Submit", ctx.cmd(f"submit {r}"), ask="Link or note for your work"),
        Choice("approve", "Approve", ctx.cmd(f"approve {r}"), role=Role.MAINTAINER),
        Choice("changes", "Changes", ctx.cmd(f"changes {r}"), ask="What should change?",
               role=Role.MAINTAINER),
        Choice("refuse", "Refuse", ctx.cmd(f"refuse {r}"), ask="Why is it refused?",
               role=Role.MAINTAINER),
    )


def need_line(need: Need) -> str:
    """One line of a need for lists."""
    parts = [f"**{ref(need)}** {esc(need.title)}"]
    if need.skills:
        parts.append(" ".join(esc("#" + s) for s in need.skills.split()))
    if need.reward_minor is not None:
        parts.append(money(need.reward_minor, need.reward_currency))
    if need.state == NeedState.OPEN:
        parts.append("full" if need.is_full else f"{need.slots - need.taken} of {need.slots} free")
    else:
        parts.append(need.state)
    if need.due_at:
        parts.append(f"due {when(need.due_at)}")
    return " · ".join(parts)


def notify_watchers(ctx: Ctx, need: Need, skills: tuple[str, ...], exclude: set[int]) -> None:
    """Tell members watching one of the skills about a new need (once each)."""
    if not skills:
        return
    watchers = ctx.conn.execute(sql.WATCHERS, {"skills": list(skills)}).scalars().all()
    for mid in sorted(set(watchers) - exclude):
        ctx.notice(mid, f"New need matching your skills: {need_line(need)} — "
                        f"claim it with `{ctx.cmd('claim ' + ref(need))}`", ref=ref(need))
