"""Proposals: propose, vote, proposals, proposal, close — and closing at the deadline.

Each proposal has a decision type (docs/behaviour.md, Decision types) whose rule `bot.domain.rules` states and
applies; an `advice` proposal is not closed with an outcome but handed to its decision
makers (`bot.service.decisions`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Row

from bot.chat.render import clip, echo, esc, left, quote, when
from bot.domain.rules import (
    RuleError,
    Tally,
    count,
    decision_explained,
    decision_outcome,
    decision_rule,
    parse_when,
)
from bot.domain.vocabulary import POSITIONS, Outcome, Position, ProposalState, Role
from bot.ports import Choice
from bot.service import held, identity
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles
from bot.service.paging import PAGE, page_number
from bot.service.refs import load_row, next_number
from bot.store import sql


def proposal_row(ctx: Ctx, token: str | None, *, lock: bool) -> sql.ProposalRow:
    """The proposal a `P3` argument names; refuses with how to find one."""
    return load_row(ctx, token, "P", sql.PROPOSAL_BY_NUMBER_LOCKED if lock else sql.PROPOSAL_BY_NUMBER)


def ref(p: sql.ProposalRow) -> str:
    """`P3`."""
    return f"P{p.number}"


def choices(ctx: Ctx, p: sql.ProposalRow) -> tuple[Choice, ...]:
    """The four positions, as actions."""
    if p.state != ProposalState.OPEN:
        return ()
    r = ref(p)
    return (
        Choice(Position.AGREE, "Agree", ctx.cmd(f"vote {r} agree")),
        Choice(Position.ABSTAIN, "Abstain", ctx.cmd(f"vote {r} abstain")),
        Choice(Position.DISAGREE, "Disagree", ctx.cmd(f"vote {r} disagree"), ask="Why do you disagree?"),
        Choice(Position.BLOCK, "Block", ctx.cmd(f"vote {r} block"), ask="Why do you block?"),
    )


def sealed(p: sql.ProposalRow) -> bool:
    """Whether its counts and positions are withheld now (hidden or secret, still open)."""
    return bool(p.hidden or p.anonymous) and p.state == ProposalState.OPEN


def counts_shown(ctx: Ctx, p: sql.ProposalRow) -> str:
    """The counts as anyone may see them now: `1 agree, …`, or how many voted while sealed."""
    if sealed(p):
        n = sum(_counts(ctx, p).values())
        return f"{n} vote{'s' if n != 1 else ''} cast, counts hidden until it closes"
    return str(tally(ctx, p))


def ballot_words(p: sql.ProposalRow) -> str:
    """How a hidden or secret proposal is voted on, for its announcement and card."""
    if p.anonymous:
        return ("Secret ballot: only the counts and the reasons, without names, are ever published. "
                "Vote in your direct chat with the bot (or with the buttons on Discord: only you see "
                "your answer).")
    if p.hidden:
        return ("Hidden vote: counts and positions are shown when it closes. Vote in your direct "
                "chat with the bot (or with the buttons on Discord: only you see your answer).")
    return ""


def tally(ctx: Ctx, p: sql.ProposalRow) -> Tally:
    """Counts of the latest vote of each member."""
    counts = _counts(ctx, p)
    return Tally(**{k: counts.get(k, 0) for k in POSITIONS})


def _counts(ctx: Ctx, p: sql.ProposalRow) -> dict[str, int]:
    return dict(ctx.conn.execute(sql.VOTE_COUNTS, {"p": p.id}).all())


def rule_of(ctx: Ctx, p: sql.ProposalRow) -> str:
    """The proposal's rule in plain words, naming an advice proposal's decision makers."""
    rule = decision_rule(p.decision, p.quorum)
    if p.decision == "advice":
        rule += f" (decision makers: {deciders_named(ctx, p)})"
    return rule


def deciders_of(p: sql.ProposalRow) -> list[int]:
    """Member ids of an advice proposal's decision makers."""
    return [int(x) for x in p.deciders.split()]


def deciders_named(ctx: Ctx, p: sql.ProposalRow) -> str:
    """`alice, bob`."""
    return ", ".join(ctx.name_of(m) for m in deciders_of(p))


def eligible(ctx: Ctx) -> int:
    """How many members may vote (the `quorum` type counts against them)."""
    return ctx.conn.execute(sql.MEMBERS_WHO_MAY_VOTE, {"c": ctx.cid}).scalar_one()


def _decision(ctx: CommandCtx) -> tuple[str, int]:
    """The decision type asked for with `type:` and its duration in hours."""
    pa = ctx.parsed
    kind = pa.options.get("type", "consent").lower()
    hours = ctx.policies.decision_hours(kind)
    if hours is None:
        raise ctx.refuse(f"type:{echo(kind, 20)} is not a decision type of this community — choose "
                         f"{', '.join(ctx.policies.decision_types())} (see {ctx.cmd('help propose')})")
    return kind, hours


def _deciders(ctx: CommandCtx, kind: str) -> str:
    """`deciders:@a,@b` as member ids, required for advice and refused for other types."""
    pa = ctx.parsed
    raw = pa.options.get("deciders")
    if kind != "advice":
        if raw is not None:
            raise ctx.refuse("deciders: is only for type:advice — other types are decided by the votes")
        return ""
    if not raw:
        raise ctx.refuse("an advice proposal names its decision makers — add deciders:@alice,@bob")
    ids: list[int] = []
    for token in [t for t in raw.split(",") if t.strip()][:10]:
        m = ctx.find_member(token)
        if m is None:
            raise ctx.refuse(f"{echo(token, 40)} is not a member here — name decision makers "
                             "like deciders:@alice,@bob")
        if m.id not in ids:
            ids.append(m.id)
    if not ids:
        raise ctx.refuse("an advice proposal names its decision makers — add deciders:@alice,@bob")
    return " ".join(str(i) for i in ids)


@handles("propose")
def propose(ctx: CommandCtx) -> Reply:
    """`!propose <text> [type:NAME] [closes:…] [quorum:N] [deciders:@a,@b]`."""
    pa = ctx.parsed
    text = pa.rest.strip()
    if not text:
        raise ctx.refuse("a proposal needs a text")
    if len(text) > 200:
        raise ctx.refuse(f"the text is {len(text)} characters; keep the first line under 200 and "
                         "put details on the next lines")
    kind, hours = _decision(ctx)
    deciders = _deciders(ctx, kind)
    try:
        closes = (parse_when(pa.options["closes"], ctx.now) if "closes" in pa.options
                  else ctx.now + timedelta(hours=hours))
    except RuleError as exc:
        raise ctx.refuse(esc(str(exc))) from None
    quorum = None
    if "quorum" in pa.options:
        q = pa.options["quorum"]
        quorum = count(q, 1, 100000)
        if quorum is None:
            raise ctx.refuse(f"quorum:{echo(q, 10)} is not a number of votes — write quorum:5")
        if kind in ("quorum", "advice"):
            raise ctx.refuse(f"quorum: does not apply to type:{kind} — "
                             + decision_rule(kind))
    flags = {}
    for key in ("hidden", "anonymous"):
        raw = pa.options.get(key, "no").lower()
        if raw not in ("yes", "no"):
            raise ctx.refuse(f"{key}:{echo(raw, 10)} — write {key}:yes or leave it out")
        flags[key] = raw == "yes"
    p = ctx.conn.execute(sql.PROPOSAL_INSERT, dict(
        community=ctx.cid, number=next_number(ctx, "next_proposal"), text=text,
        hidden=flags["hidden"], anonymous=flags["anonymous"], description=clip(pa.description, 2000),
        author_id=ctx.member.id, closes_at=closes, quorum=quorum, state=ProposalState.OPEN,
        nudged=False, created_at=ctx.now, decision=kind, deciders=deciders)).one()
    r = ref(p)
    ctx.event("proposal.opened", r, text=text, closes=closes.isoformat(), quorum=quorum,
              decision=kind, deciders=deciders_of(p), hidden=p.hidden, anonymous=p.anonymous)
    rule = rule_of(ctx, p)
    kind_words = "" if kind == "consent" else f" ({kind} decision)"
    body = (f"New proposal **{r}**{kind_words} by {ctx.name_of(ctx.member.id)}: {esc(text)}\n"
            f"Closes {when(closes)}{f', quorum {quorum}' if quorum else ''}. "
            f"Vote with `{ctx.cmd(f'vote {r} agree|abstain|disagree|block [reason]')}`\n"
            f"Rule: {rule}.")
    if ballot_words(p):
        body += "\n" + ballot_words(p)
    if p.description:
        body += "\n" + quote(p.description, 500)
    # A hidden or secret proposal gets no choices in the room: on Matrix they would become a
    # poll whose answers are public events. Its card (Discord) keeps the buttons, answered
    # privately.
    ctx.announce(body, ref=r, choices=() if ballot_words(p) else choices(ctx, p))
    return Reply(f"{r} is open until {when(closes)} and announced. Rule: {rule}.", ref=r)


@handles("vote")
def vote(ctx: CommandCtx) -> Reply:
    """`!vote P3 agree|abstain|disagree|block [reason]`."""
    pa = ctx.parsed
    # The proposal's row lock orders concurrent votes against its closing.
    p = proposal_row(ctx, pa.words[0] if pa.words else None, lock=True)
    r = ref(p)
    if len(pa.words) < 2 or pa.words[1].lower() not in POSITIONS:
        raise ctx.refuse(f"say agree, abstain, disagree or block, like {ctx.cmd(f'vote {r} agree')}")
    position = pa.words[1].lower()
    reason = " ".join(pa.words[2:]).strip()
    if p.state != ProposalState.OPEN or p.closes_at <= ctx.now:
        raise ctx.refuse(f"{r} is closed; voting is over — see {ctx.cmd('proposal ' + r)}")
    if position in (Position.DISAGREE, Position.BLOCK) and not reason:
        raise ctx.refuse(f"a reason is required to {position} — write "
                         f"{ctx.cmd(f'vote {r} {position} <your reason>')}")
    me = ctx.member.id
    others = identity.relatives(ctx, p.created_at)
    voted = others and ctx.conn.execute(sql.VOTER_AMONG, {"p": p.id, "ms": others}).scalar()
    if voted:
        raise ctx.refuse(f"{ctx.name_of(voted)} voted on {r} already, and was one member with this "
                         f"account when {r} opened: one person, one vote — see {ctx.cmd('proposal ' + r)}")
    cast = {"p": p.id, "m": me, "_position": position, "_reason": clip(reason, 1000), "_at": ctx.now}
    changed = ctx.conn.execute(sql.VOTE_POSITION, cast).first() is not None
    ctx.conn.execute(sql.VOTE_CHANGE if changed else sql.VOTE_CAST, cast)
    if p.hidden or p.anonymous:
        # The log is public: a sealed vote records that it was cast, not what it was; the
        # counts (and, for a hidden vote, the positions) enter the log at close.
        ctx.event("vote.cast", r, member=me, sealed="secret" if p.anonymous else "hidden")
        ctx.updated(r)
        return Reply(f"Your vote on {r} is {'now ' if changed else ''}{position} — only you see it; "
                     f"{counts_shown(ctx, p)}.", ref=r, private=True)
    ctx.event("vote.cast", r, member=me, position=position, reason=reason or None)
    ctx.updated(r)
    t = tally(ctx, p)
    return Reply(f"Your vote on {r} is {'now ' if changed else ''}{position}. Counts: {t}.", ref=r)


@handles("proposals")
def proposals(ctx: CommandCtx) -> Reply:
    """`!proposals`: open proposals with counts and time left."""
    pa = ctx.parsed
    page = page_number(ctx, pa.options.get("page"))
    rows = ctx.conn.execute(sql.OPEN_PROPOSALS, {"c": ctx.cid, "lim": PAGE + 1,
                                                 "off": (page - 1) * PAGE}).all()
    if not rows:
        return Reply(f"No open proposals — open one with `{ctx.cmd('propose <text>')}`")
    lines = [f"Open proposals (page {page}):"]
    for p in rows[:PAGE]:
        lines.append(f"- **{ref(p)}** {esc(p.text)} — {counts_shown(ctx, p)} — "
                     f"{left(p.closes_at, ctx.now)}")
    if len(rows) > PAGE:
        lines.append(f"More: `{ctx.cmd(f'proposals page:{page + 1}')}`")
    return Reply("\n".join(lines))


@handles("proposal")
def proposal(ctx: CommandCtx) -> Reply:
    """`!proposal P3`: counts, every vote with its reason, who has not voted."""
    pa = ctx.parsed
    p = proposal_row(ctx, pa.words[0] if pa.words else None, lock=False)
    r = ref(p)
    lines = [f"**{r}** {esc(p.text)} — by {ctx.name_of(p.author_id)}",
             f"Status: {status_of(ctx, p)}",
             f"Counts: {counts_shown(ctx, p)}" + (f"; quorum {p.quorum}" if p.quorum else ""),
             f"Rule: {rule_of(ctx, p)}"]
    if ballot_words(p):
        lines.append(ballot_words(p).split(":")[0] + ".")
    if p.statement:
        lines.append(f"Outcome statement: {esc(clip(p.statement, 500))}"
                     + (f" (review {when(p.review_at)})" if p.review_at else ""))
    if p.description:
        lines.extend([quote(p.description, 1000), ""])
    holds = held.held_lines(ctx, p)
    if holds:
        lines.append("Opens if it passes: " + "; ".join(holds))
    votes = ctx.conn.execute(sql.VOTES_OF, {"p": p.id}).all()
    mine = next((v for v in votes if v.member_id == ctx.member.id), None)
    if mine is not None and (sealed(p) or p.anonymous):
        lines.append(f"Your vote (only you see it): {mine.position}"
                     + (f" — {esc(clip(mine.reason, 200))}" if mine.reason else ""))
    for v in ([] if sealed(p) else (secret_order(list(votes)) if p.anonymous else votes)[:40]):
        who = "(secret)" if p.anonymous else ctx.name_of(v.member_id)
        if p.anonymous and not v.reason:
            continue
        lines.append(f"- {who}: {v.position}" + (f" — {esc(clip(v.reason, 200))}" if v.reason else ""))
    if len(votes) > 40 and not sealed(p):
        lines.append(f"- … and {len(votes) - 40} more votes")
    if p.state == ProposalState.OPEN:
        voted = {v.member_id for v in votes}
        missing = [m.display_name for m in ctx.conn.execute(sql.LIVE_MEMBERS, {"c": ctx.cid})
                   if m.id not in voted]
        if missing:
            shown = ", ".join(esc(n) for n in missing[:30])
            more = f" and {len(missing) - 30} more" if len(missing) > 30 else ""
            lines.append(f"Not voted yet: {shown}{more}")
    return Reply("\n".join(lines), choices=choices(ctx, p), ref=r, private=mine is not None and (
        sealed(p) or p.anonymous))


def status_of(ctx: Ctx, p: sql.ProposalRow) -> str:
    """`open, 2 days left (closes …)`, `closed …: passed` or an advice proposal's waiting."""
    if p.state == ProposalState.OPEN:
        return f"open, {left(p.closes_at, ctx.now)} (closes {when(p.closes_at)})"
    if p.state == ProposalState.DECIDING:
        return (f"advice period over {when(p.closes_at)}; waiting for the decision of "
                f"{deciders_named(ctx, p)}")
    return f"closed {when(p.closed_at)}: {p.outcome}"


@handles("close")
def close(ctx: CommandCtx) -> Reply:
    """`!close P3`: the author or a maintainer closes early."""
    pa = ctx.parsed
    p = proposal_row(ctx, pa.words[0] if pa.words else None, lock=True)
    r = ref(p)
    if p.author_id != ctx.member.id and Role.MAINTAINER not in ctx.roles:
        raise ctx.refuse(f"only the author of {r} or a maintainer can close it early")
    if p.state == ProposalState.DECIDING:
        raise ctx.refuse(f"{r}'s advice period is already over — its decision makers decide with "
                         f"{ctx.cmd(f'decide {r} passed|not passed <statement>')}")
    if p.state != ProposalState.OPEN:
        raise ctx.refuse(f"{r} is already closed ({p.outcome})")
    outcome = close_proposal(ctx, p, early=True)
    if p.decision == "advice":
        return Reply(f"{r}'s advice period is over; {deciders_named(ctx, p)} decide now.", ref=r)
    return Reply(f"{r} closed: {outcome}.", ref=r)


def close_proposal(ctx: Ctx, p: sql.ProposalRow, *, early: bool = False, late: bool = False) -> str | None:
    """Close a proposal with its outcome, announce it; None if it was already closed.

    The `UPDATE … WHERE state = 'open'` is the guard: when two processes fire the same
    deadline, only one changes the row and announces.
    """
    t = tally(ctx, p)
    if p.decision == "advice":
        return _end_advice(ctx, p, t, early=early, late=late)
    voters = eligible(ctx) if p.decision == "quorum" else 0
    outcome = decision_outcome(p.decision, t, p.quorum, voters)
    closed = ctx.conn.execute(sql.PROPOSAL_CLOSE, {"_id": p.id, "_from": ProposalState.OPEN,
                                                   "_outcome": outcome, "_now": ctx.now}).first()
    if closed is None:
        return None
    p = closed
    r = ref(p)
    ctx.deadline_event("proposal.closed", r, p.closes_at, late, outcome=outcome,
                       counts=t.__dict__, quorum=p.quorum, early=early, decision=p.decision,
                       eligible=voters if p.decision == "quorum" else None, **revealed(ctx, p))
    quorum = f" (quorum {p.quorum})" if p.quorum else ""
    text = f"{r} closed: {outcome} ({counts_of(t)}) — {esc(p.text)}{quorum}"
    text += f"\nWhy: {decision_explained(p.decision, t, outcome, p.quorum, voters)}."
    _announce_closing(ctx, p, text, late)
    held.settle(ctx, p, outcome == Outcome.PASSED, late)
    return outcome


def revealed(ctx: Ctx, p: sql.ProposalRow) -> dict[str, object]:
    """What a sealed proposal's closing event publishes: a hidden vote's positions with
    names; a secret ballot's reasons without names. Nothing for an open vote (its votes
    are in the log already)."""
    if not (p.hidden or p.anonymous):
        return {}
    votes = ctx.conn.execute(sql.VOTES_OF, {"p": p.id}).all()
    if p.anonymous:
        return {"reasons": [{"position": v.position, "reason": v.reason}
                            for v in secret_order(votes) if v.reason]}
    return {"votes": [{"member": v.member_id, "position": v.position, "reason": v.reason or None}
                      for v in votes]}


def secret_order(votes: list[Row[Any]]) -> list[Row[Any]]:
    """A secret ballot's votes in an order that says nothing of who cast them or when."""
    return sorted(votes, key=lambda v: (POSITIONS.index(v.position), v.reason))


def counts_of(t: Tally) -> str:
    """`2 agree, 1 disagree` (positions nobody took left out), or `no votes`."""
    return ", ".join(f"{getattr(t, k)} {k}" for k in POSITIONS if getattr(t, k)) or "no votes"


def _announce_closing(ctx: Ctx, p: sql.ProposalRow, text: str, late: bool) -> None:
    """Announce the end of voting with every reason given."""
    r = ref(p)
    if late:
        text = f"(late: was due {when(p.closes_at)}) " + text
    reasons = ctx.conn.execute(sql.VOTES_WITH_REASONS, {"p": p.id}).all()
    for v in (secret_order(list(reasons)) if p.anonymous else reasons)[:20]:
        who = "" if p.anonymous else f"{ctx.name_of(v.member_id)} "
        text += f"\n- {who}({v.position}): {esc(clip(v.reason, 200))}"
    ctx.announce(text, ref=r, late=late)
    ctx.updated(r)


def _end_advice(ctx: Ctx, p: sql.ProposalRow, t: Tally, *, early: bool, late: bool) -> str | None:
    """The advice period is over: voting stops and the decision makers are asked to decide."""
    advised = ctx.conn.execute(sql.PROPOSAL_ADVISED, {"_id": p.id, "_from": ProposalState.OPEN}).first()
    if advised is None:
        return None
    p = advised
    r = ref(p)
    ctx.deadline_event("proposal.advised", r, p.closes_at, late, counts=t.__dict__, early=early,
                       **revealed(ctx, p))
    how = ctx.cmd(f"decide {r} passed|not passed <statement>")
    _announce_closing(ctx, p, f"{r}'s advice period is over ({counts_of(t)}) — {esc(p.text)}\n"
                               f"{deciders_named(ctx, p)} now decide with `{how}`.", late)
    for m in deciders_of(p):
        ctx.notice(m, f"The advice on {r} is in ({counts_of(t)}): you decide it with `{how}`.",
                   ref=r)
    return ProposalState.DECIDING
