"""After the vote: `!decide` for advice proposals, `!outcome` statements and their review.

An advice proposal is not closed by its votes: when its advice period ends it waits for
its decision makers (`state = 'deciding'`), and one of them records the decision. Any
closed proposal may get an outcome statement with a review date; at that date the
community is reminded, once (the `proposal_review` deadline in `bot.service.deadlines`).
"""

from __future__ import annotations

from bot.chat.render import clip, esc, when
from bot.domain.rules import RuleError, decision_rule, parse_when
from bot.domain.vocabulary import Outcome, ProposalState, Role
from bot.service import held
from bot.service.context import CommandCtx, Ctx, Reply
from bot.service.handlers import handles
from bot.service.proposals import (
    close_proposal,
    counts_of,
    deciders_named,
    deciders_of,
    proposal_row,
    ref,
    tally,
)
from bot.store import sql


@handles("decide")
def decide(ctx: CommandCtx) -> Reply:
    """`!decide P3 passed|not passed <statement>`: a decision maker decides an advice proposal."""
    pa = ctx.parsed
    p = proposal_row(ctx, pa.words[0] if pa.words else None, lock=True)
    r = ref(p)
    how = ctx.cmd(f"decide {r} passed|not passed <statement>")
    if p.decision != "advice":
        raise ctx.refuse(f"{r} is a {p.decision} decision: its votes decide it at close "
                         f"({decision_rule(p.decision, p.quorum)}) — {ctx.cmd('decide')} is for "
                         "type:advice")
    if ctx.member.id not in deciders_of(p):
        raise ctx.refuse(f"only {r}'s decision makers ({deciders_named(ctx, p)}) can decide it — "
                         f"give them your advice with {ctx.cmd(f'vote {r} agree|abstain|disagree|block')}")
    if p.state == ProposalState.CLOSED:
        raise ctx.refuse(f"{r} is already decided ({p.outcome})")
    if p.state == ProposalState.OPEN and p.closes_at > ctx.now:
        raise ctx.refuse(f"{r}'s advice period runs until {when(p.closes_at)}; decide after it "
                         f"(or end it now with {ctx.cmd('close ' + r)})")
    words = [w.lower() for w in pa.words[1:3]]
    if words[:2] == ["not", "passed"]:
        outcome, statement = Outcome.NOT_PASSED, " ".join(pa.words[3:])
    elif words[:1] == ["passed"]:
        outcome, statement = Outcome.PASSED, " ".join(pa.words[2:])
    else:
        raise ctx.refuse(f"say passed or not passed, then the decision — like {how}")
    statement = statement.strip()
    if not statement:
        raise ctx.refuse(f"say what was decided and why, after {outcome} — like {how}")
    if p.state == ProposalState.OPEN:
        # The deadline passed while no scheduler ran: end the advice period first.
        close_proposal(ctx, p)
    decided = ctx.conn.execute(sql.PROPOSAL_DECIDE, {
        "_id": p.id, "_from": ProposalState.DECIDING, "_outcome": outcome, "_now": ctx.now,
        "_statement": clip(statement, 2000)}).first()
    if decided is None:
        raise ctx.refuse(f"{r} was decided a moment ago — see {ctx.cmd('proposal ' + r)}")
    p = decided
    t = tally(ctx, p)
    ctx.event("proposal.decided", r, outcome=outcome, statement=statement, counts=t.__dict__)
    ctx.announce(f"{r} decided: {outcome} by {ctx.name_of(ctx.member.id)} — {esc(p.text)}\n"
                 f"Decision: {esc(clip(statement, 1000))}\n"
                 f"Why: {decision_rule('advice')} (advice given: {counts_of(t)}).", ref=r)
    ctx.updated(r)
    held.settle(ctx, p, outcome == Outcome.PASSED)
    return Reply(f"{r} is decided: {outcome}, and announced.", ref=r)


@handles("outcome")
def outcome(ctx: CommandCtx) -> Reply:
    """`!outcome P3 <statement> [review:90d]`: the author or a maintainer states the outcome."""
    pa = ctx.parsed
    p = proposal_row(ctx, pa.words[0] if pa.words else None, lock=True)
    r = ref(p)
    if p.author_id != ctx.member.id and Role.MAINTAINER not in ctx.roles:
        raise ctx.refuse(f"only the author of {r} or a maintainer can state its outcome")
    if p.state != ProposalState.CLOSED:
        raise ctx.refuse(f"{r} is not closed yet — state its outcome once it is "
                         f"(see {ctx.cmd('proposal ' + r)})")
    statement = " ".join(pa.words[1:]).strip()
    if not statement:
        raise ctx.refuse(f"say what was decided — like {ctx.cmd(f'outcome {r} We adopt it review:90d')}")
    review_at = None
    if "review" in pa.options:
        try:
            review_at = parse_when(pa.options["review"], ctx.now)
        except RuleError as exc:
            raise ctx.refuse(f"review: {exc}") from None
    ctx.conn.execute(sql.PROPOSAL_OUTCOME, {"_id": p.id, "_statement": clip(statement, 2000),
                                            "_review": review_at})
    ctx.event("proposal.outcome", r, statement=statement,
              review=review_at.isoformat() if review_at else None)
    review = f"\nReview on {when(review_at)}." if review_at else ""
    ctx.announce(f"Outcome of {r} ({p.outcome}): {esc(clip(statement, 1000))}{review}", ref=r)
    ctx.updated(r)
    return Reply(f"The outcome of {r} is recorded and announced"
                 + (f"; the community is reminded to review it on {when(review_at)}." if review_at
                    else "."), ref=r)


def remind_review(ctx: Ctx, proposal_id: int, late: bool) -> bool:
    """The review date of an outcome has come: remind the community once."""
    row = ctx.conn.execute(sql.PROPOSAL_REVIEWED, {"_id": proposal_id, "_now": ctx.now}).first()
    if row is None:
        return False
    r = f"P{row.number}"
    ctx.deadline_event("proposal.review_due", r, row.review_at, late,
                       review=row.review_at.isoformat())
    text = (f"Time to review {r} ({row.outcome}): {esc(row.text)}\n"
            f"Outcome: {esc(clip(row.statement or '', 1000))}\n"
            f"Still right? Propose a change with `{ctx.cmd('propose <text>')}`.")
    if late:
        text = f"(late: was due {when(row.review_at)}) " + text
    ctx.announce(text, ref=r, late=late)
    return True
