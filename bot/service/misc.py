"""Ledger, log, whoami, link and help."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update

from bot.chat.parser import COMMANDS, usage
from bot.chat.render import esc, money, when
from bot.domain.rules import decision_rule
from bot.service.context import Actor, Ctx, Reply
from bot.service.needs import PAGE, _page
from bot.store.models import (
    Backing,
    Claim,
    Contribution,
    Event,
    FundingCall,
    IdentityRow,
    LinkCode,
    Member,
    Need,
    NeedSkill,
    Pitch,
    Proposal,
    Vote,
    Watch,
)

_OBJ_RE = re.compile(r"^([TPFB])(\d{1,9})$", re.IGNORECASE)
LINK_MINUTES = 15


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
            raise ctx.refuse(f"{pa.words[0][:40]} is not a member here — name them as they "
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


def describe(kind: str, details: dict) -> str:  # type: ignore[type-arg]
    """A short human phrase for an event."""
    d = details or {}
    phrases = {
        "need.offered": "offered the need",
        "need.done": "need done",
        "need.cancelled": f"cancelled it: {esc(str(d.get('reason', '')))}",
        "claim.made": "claimed it",
        "claim.renewed": "renewed their claim",
        "claim.released": "released their claim",
        "claim.expired": "claim expired",
        "claim.submitted": f"submitted: {esc(str(d.get('submission', '')))[:200]}",
        "claim.approved": "approved the work" + (f" ({d['reward']})" if d.get("reward") else ""),
        "claim.changes_requested": f"asked for changes: {esc(str(d.get('note', '')))[:200]}",
        "claim.refused": f"refused the work: {esc(str(d.get('reason', '')))[:200]}",
        "proposal.opened": "opened the proposal",
        "proposal.closed": f"closed: {d.get('outcome')}",
        "vote.cast": (f"voted {d.get('position')}" if not d.get("sealed")
                      else f"voted ({d.get('sealed')} until it closes)" if d.get("sealed") == "hidden"
                      else "voted (secret ballot)"),
        "call.opened": f"opened the call ({d.get('budget')})",
        "call.closed": f"closed the call (unallocated {d.get('unallocated')})",
        "pitch.added": f"pitched to {d.get('call')} ({d.get('ask')})",
        "pitch.backed": f"backed with {d.get('points')} points",
        "member.linked": "linked an identity",
        "watch.added": "watches " + " ".join("#" + s for s in d.get("skills", [])),
        "watch.removed": "stopped watching " + " ".join("#" + s for s in d.get("skills", [])),
    }
    return phrases.get(kind, kind)


def log(ctx: Ctx) -> Reply:
    """`!log [T12 | P3 | F1] [page:N]`: the event log, newest first."""
    pa = ctx.parsed
    assert pa is not None
    page = _page(ctx, pa.options.get("page"))
    stmt = select(Event).where(Event.community == ctx.cid)
    scope = ""
    if pa.words:
        m = _OBJ_RE.match(pa.words[0])
        if not m:
            raise ctx.refuse(f"'{pa.words[0][:20]}' is not an id — write T12, P3, F1 or B4")
        obj = m.group(1).upper() + m.group(2)
        stmt = stmt.where(Event.object == obj)
        scope = f" of {obj}"
    rows = ctx.session.scalars(stmt.order_by(Event.id.desc()).limit(PAGE + 1)
                               .offset((page - 1) * PAGE)).all()
    if not rows:
        return Reply(f"No events{scope}{' on page ' + str(page) if page > 1 else ''}.")
    lines = [f"Log{scope}, newest first (page {page}):"]
    for e in rows[:PAGE]:
        actor = ctx.name_of(e.actor_id) if e.actor_id else "the bot"
        lines.append(f"- {when(e.at)} [{e.platform}] {e.object} {actor}: {describe(e.kind, e.details)}")
    if len(rows) > PAGE:
        nxt = f"log {pa.words[0]} page:{page + 1}" if pa.words else f"log page:{page + 1}"
        lines.append(f"More: `{ctx.cmd(nxt)}`")
    return Reply("\n".join(lines))


def whoami(ctx: Ctx) -> Reply:
    """`!whoami`: your member, linked identities and roles."""
    ids = ctx.session.scalars(select(IdentityRow).where(IdentityRow.member_id == ctx.member.id)
                              .order_by(IdentityRow.id)).all()
    roles = ", ".join(r for r in ("contributor", "maintainer", "foundation") if r in ctx.roles)
    lines = [f"You are {esc(ctx.member.display_name)} (member #{ctx.member.id}) in "
             f"{esc(ctx.community.name or ctx.cid)}", f"Roles: {roles}", "Identities:"]
    lines.extend(f"- {i.platform}: {esc(i.user_id)}" for i in ids)
    if len(ids) == 1:
        lines.append(f"Link another platform with `{ctx.cmd('link')}`")
    return Reply("\n".join(lines), private=True)


def link(ctx: Ctx) -> Reply:
    """`!link` gives a code; `!link <code>` on another platform joins the identities."""
    pa = ctx.parsed
    assert pa is not None
    if not pa.words:
        code = secrets.token_hex(4).upper()
        ctx.session.add(LinkCode(code=code, member_id=ctx.member.id,
                                 expires_at=ctx.now + timedelta(minutes=LINK_MINUTES), used=False))
        return Reply(f"Your link code is {code}. Within {LINK_MINUTES} minutes, send "
                     f"`{ctx.cmd('link ' + code)}` from your account on the other platform.",
                     private=True)
    code = pa.words[0].upper()
    row = ctx.session.scalars(select(LinkCode).where(LinkCode.code == code)
                              .with_for_update()).first()
    if row is None or row.used or row.expires_at <= ctx.now:
        raise ctx.refuse(f"that code is unknown, used or expired — get a new one with "
                         f"{ctx.cmd('link')} on your other platform")
    target = ctx.session.get(Member, row.member_id)
    if target is None or target.community != ctx.cid:
        raise ctx.refuse("that code belongs to another community")
    row.used = True
    if target.id == ctx.member.id:
        raise ctx.refuse("this identity is already part of that member — nothing to link")
    source_id = ctx.member.id
    merge_members(ctx, source_id=source_id, target=target)
    ctx.event("member.linked", f"@{target.id}", platform=ctx.platform, merged=source_id)
    return Reply(f"Linked: this {ctx.platform} identity is now {esc(target.display_name)}; "
                 "claims, votes and the ledger count you once.", private=True)


def merge_members(ctx: Ctx, *, source_id: int, target: Member) -> None:
    """Fold `source` into `target`: identities, claims, votes, backings, watches, ledger.

    Where both voted on a proposal or backed a pitch, the latest one counts, as it would
    have had one person cast both.
    """
    s = ctx.session
    sid, tid = source_id, target.id
    for v in s.scalars(select(Vote).where(Vote.member_id == sid)).all():
        other = s.get(Vote, (v.proposal_id, tid))
        if other is None:
            s.add(Vote(proposal_id=v.proposal_id, member_id=tid, position=v.position,
                       reason=v.reason, at=v.at))
        elif v.at > other.at:
            other.position, other.reason, other.at = v.position, v.reason, v.at
        s.delete(v)
    for b in s.scalars(select(Backing).where(Backing.member_id == sid)).all():
        other = s.get(Backing, (b.pitch_id, tid))
        if other is None:
            s.add(Backing(pitch_id=b.pitch_id, member_id=tid, call_id=b.call_id, points=b.points,
                          at=b.at))
        elif b.at > other.at:
            other.points, other.at = b.points, b.at
        s.delete(b)
    for w in s.scalars(select(Watch).where(Watch.member_id == sid)).all():
        if s.get(Watch, (tid, w.skill)) is None:
            s.add(Watch(member_id=tid, skill=w.skill))
        s.delete(w)
    s.flush()
    for model, col in ((IdentityRow, IdentityRow.member_id), (Claim, Claim.member_id),
                       (Contribution, Contribution.member_id), (Need, Need.offered_by),
                       (Proposal, Proposal.author_id), (FundingCall, FundingCall.posted_by),
                       (Pitch, Pitch.pitched_by)):
        s.execute(update(model).where(col == sid).values({col.key: tid}))
    s.execute(update(Member).where(Member.id == sid).values(merged_into=tid))
    ctx.member = Actor(target.id, target.display_name)


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
            raise ctx.refuse(f"there is no command {esc(name[:30])} — {ctx.cmd('help')} lists them")
        spec = COMMANDS[name]
        text = f"`{usage(name, ctx.prefix)}` — {spec.summary}"
        if name in ("propose", "decide"):
            text += "\n" + decision_types_help(ctx)
        return Reply(text)
    groups = {
        "Needs and claims": ["offer", "needs", "task", "claim", "renew", "release", "submit",
                             "approve", "changes", "refuse", "cancel", "mine", "watch", "unwatch",
                             "watching"],
        "Proposals": ["propose", "vote", "proposals", "proposal", "close", "decide", "outcome"],
        "Funding": ["fund", "pitch", "back", "calls", "call", "closecall"],
        "Transparency": ["ledger", "log", "whoami", "link", "help"],
    }
    lines = []
    for title, names in groups.items():
        lines.append(f"**{title}**")
        lines.extend(f"- `{usage(n, ctx.prefix)}`" for n in names)
    lines.append(f"Ids: T = need, P = proposal, F = funding call, B = pitch. "
                 f"`{ctx.cmd('help <command>')}` explains one.")
    return Reply("\n".join(lines))
