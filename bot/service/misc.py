"""Ledger, log, whoami, link and help."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bot.chat.parser import COMMANDS, usage
from bot.chat.phrases import HIDDEN, phrase
from bot.chat.render import echo, esc, money, when
from bot.domain.rules import decision_rule
from bot.domain.vocabulary import ROLES
from bot.service.context import Ctx, Reply
from bot.service.needs import PAGE, _page
from bot.store.models import (
    Contribution,
    Event,
    IdentityRow,
    Need,
    NeedSkill,
)

_OBJ_RE = re.compile(r"^([TPFBVRS])(\d{1,9})$", re.IGNORECASE | re.ASCII)


def ledger(ctx: Ctx) -> Reply:
    """`!ledger [@member | #skill]`: contributions and totals per member."""
    pa = ctx.parsed
    assert pa is not None
    stmt = select(Contribution).where(Contribution.community == ctx.cid)
    scope = ""
    if pa.skills:
        stmt = stmt.where(Contribution.need_id.in_(
            select(NeedSkill.need_id).where(NeedSkill.skill.in_(pa.skills))))
        scope = " for " + esc(" ".join("#" + s for s in pa.skills))
    elif pa.words:
        who = ctx.find_member(pa.words[0])
        if who is None:
            raise ctx.refuse(f"{echo(pa.words[0], 40)} is not a member here — name them as they "
                             "appear in the room, or give #skills")
        stmt = stmt.where(Contribution.member_id == who.id)
        scope = " for " + esc(who.display_name)
    totals = ctx.session.execute(
        select(Contribution.member_id, Contribution.currency,
               func.coalesce(func.sum(Contribution.reward_minor), 0), func.count())
        .where(Contribution.id.in_(stmt.with_only_columns(Contribution.id)))
        .group_by(Contribution.member_id, Contribution.currency)).all()
    if not totals:
        return Reply(f"The ledger{scope} is empty — approved work appears here.")
    per: dict[int, list[str]] = {}
    counts: dict[int, int] = {}
    for mid, cur, total, n in totals:
        counts[mid] = counts.get(mid, 0) + n
        if cur:
            per.setdefault(mid, []).append(money(total, cur))
    lines = [f"Ledger{scope} — totals:"]
    for mid in sorted(counts, key=lambda m: (-counts[m], m)):
        amounts = ", ".join(per.get(mid, [])) or "no reward"
        lines.append(f"- {ctx.name_of(mid)} {amounts} ({counts[mid]} contribution"
                     f"{'s' if counts[mid] != 1 else ''})")
    recent = ctx.session.execute(
        select(Contribution, Need).join(Need, Need.id == Contribution.need_id)
        .where(Contribution.id.in_(stmt.with_only_columns(Contribution.id)))
        .order_by(Contribution.id.desc()).limit(10)).all()
    lines.append("Latest:")
    for c, n in recent:
        amount = money(c.reward_minor, c.currency) or "no reward"
        lines.append(f"- {when(c.at)} {ctx.name_of(c.member_id)} T{n.number} {esc(n.title)} — "
                     f"{amount}, approved by {ctx.name_of(c.approved_by)}")
    return Reply("\n".join(lines))


def say(ctx: Ctx, e) -> str:  # type: ignore[no-untyped-def]
    """An event in plain words, as the chat shows it (names and user text escaped)."""
    return phrase(e.kind, e.object, e.details, e.actor_id, ctx.name_of, esc)


def log(ctx: Ctx) -> Reply:
    """`!log [T12 | P3 | F1] [page:N]`: the event log in plain words, newest first by the
    time each change happened, ties by insertion."""
    pa = ctx.parsed
    assert pa is not None
    page = _page(ctx, pa.options.get("page"))
    stmt = select(Event).where(Event.community == ctx.cid, Event.kind.not_in(HIDDEN))
    scope = ""
    if pa.words:
        m = _OBJ_RE.match(pa.words[0])
        if not m:
            raise ctx.refuse(f"'{echo(pa.words[0], 20)}' is not an id — write T12, P3, F1, B4, "
                             "V2, R7 or S3")
        obj = m.group(1).upper() + m.group(2)
        stmt = stmt.where(Event.object == obj)
        scope = f" of {obj}"
    # By the time each change happened (a deadline applied late sits at its own time).
    rows = ctx.session.scalars(stmt.order_by(Event.at.desc(), Event.id.desc()).limit(PAGE + 1)
                               .offset((page - 1) * PAGE)).all()
    if not rows:
        return Reply(f"No events{scope}{' on page ' + str(page) if page > 1 else ''}.")
    lines = [f"Log{scope}, newest first (page {page}):"]
    for e in rows[:PAGE]:
        lines.append(f"- {when(e.at)} [{e.platform}] {say(ctx, e)}")
    if len(rows) > PAGE:
        nxt = f"log {pa.words[0]} page:{page + 1}" if pa.words else f"log page:{page + 1}"
        lines.append(f"More: `{ctx.cmd(nxt)}`")
    return Reply("\n".join(lines))


def whoami(ctx: Ctx) -> Reply:
    """`!whoami`: your member, linked identities and roles."""
    ids = ctx.session.scalars(select(IdentityRow).where(IdentityRow.member_id == ctx.member.id)
                              .order_by(IdentityRow.id)).all()
    roles = ", ".join(r for r in ROLES if r in ctx.roles)
    lines = [f"You are {esc(ctx.member.display_name)} (member #{ctx.member.id}) in "
             f"{esc(ctx.community.name or ctx.cid)}", f"Roles: {roles}", "Identities:"]
    lines.extend(f"- {i.platform}: {esc(i.user_id)}" for i in ids)
    if len(ids) == 1:
        lines.append(f"Link another platform with `{ctx.cmd('link')}`")
    return Reply("\n".join(lines), private=True)


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


def help_(ctx: Ctx) -> Reply:
    """`!help [command]`."""
    pa = ctx.parsed
    assert pa is not None
    if pa.words:
        name = pa.words[0].lstrip(ctx.prefix).lower()
        if name not in COMMANDS:
            raise ctx.refuse(f"there is no command {echo(name, 30)} — {ctx.cmd('help')} lists them")
        spec = COMMANDS[name]
        text = f"`{usage(name, ctx.prefix)}` — {spec.summary}"
        if name in ("propose", "decide"):
            text += "\n" + decision_types_help(ctx)
        return Reply(text)
    groups = {
        "Needs and claims": ["offer", "needs", "task", "claim", "renew", "release", "submit",
                             "approve", "changes", "refuse", "cancel", "pin", "unpin", "mine", "watch",
                             "unwatch", "watching"],
        "Proposals": ["propose", "vote", "proposals", "proposal", "close", "decide", "outcome"],
        "Funding": ["fund", "pitch", "back", "calls", "call", "closecall"],
        "The generative loop": ["venture", "ventures", "revenue", "receive", "spend", "reverse",
                                "paid", "books"],
        "Transparency": ["ledger", "log", "whoami", "link", "unlink", "help"],
    }
    lines = []
    for title, names in groups.items():
        lines.append(f"**{title}**")
        lines.extend(f"- `{usage(n, ctx.prefix)}`" for n in names)
    lines.append(f"Ids: T = need, P = proposal, F = funding call, B = pitch, V = venture, "
                 f"R = receipt, S = spend. "
                 f"`{ctx.cmd('help <command>')}` explains one.")
    return Reply("\n".join(lines))
