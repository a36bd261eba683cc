"""`!help`: every command grouped by what it is for, one command explained, and the decision
types a community uses — all read from the commands' declarations (`bot.chat.commands`)."""

from __future__ import annotations

from bot.chat.commands import COMMANDS, Group, usage
from bot.chat.render import echo
from bot.domain.rules import decision_rule
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles


def decision_types_help(ctx: Ctx) -> str:
    """Each decision type the community uses: its duration and when it passes."""
    lines = ["Decision types (`type:`), each with its default duration and rule:"]
    for kind in ctx.policies.decision_types():
        hours = ctx.policies.decision_hours(kind)
        span = f"{hours // 24} days" if hours % 24 == 0 and hours >= 48 else f"{hours} h"
        default = " (the default)" if kind == "consent" else ""
        lines.append(f"- `{kind}`{default}, {span}: {decision_rule(kind)}")
    lines.append("With quorum:N, fewer votes than N give no quorum (consent, significant, "
                 "emergency). An advice proposal names its decision makers with deciders:@a,@b.")
    return "\n".join(lines)


@handles("help")
def help_(ctx: CommandCtx) -> Reply:
    """`!help [command]`."""
    pa = ctx.parsed
    if pa.words:
        name = pa.words[0].lstrip(ctx.prefix).lower()
        if name not in COMMANDS:
            raise ctx.refuse(f"there is no command {echo(name, 30)} — {ctx.cmd('help')} lists them")
        spec = COMMANDS[name]
        text = f"`{usage(name, ctx.prefix)}` — {spec.summary}"
        if name in ("propose", "decide"):
            text += "\n" + decision_types_help(ctx)
        return Reply(text)
    lines = []
    for group in Group:
        lines.append(f"**{group}**")
        lines.extend(f"- `{usage(c.name, ctx.prefix)}`" for c in COMMANDS.values() if c.group == group)
    lines.append(f"Ids: T = need, P = proposal, F = funding call, B = pitch, V = venture, "
                 f"R = receipt, S = spend. "
                 f"`{ctx.cmd('help <command>')}` explains one.")
    return Reply("\n".join(lines))
