"""Cards: the current state of a need, proposal or funding call, for adapters that show
an object once and edit it in place (Discord embeds; Matrix and console print text)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.chat.render import clip, esc, left, money, unescape, when
from bot.config import Community
from bot.domain.ref import Ref, RefKind
from bot.domain.vocabulary import HOLDING, CallState, CardKind, NeedState, ProposalState
from bot.ports import Card
from bot.service.context import Ctx
from bot.store import sql
from bot.store.models import FundingCall
from bot.store.tx import Tx


def build_card(tx: Tx, community: Community, prefix: str, ref: str,
               now: datetime) -> Card | None:
    """The card of `ref` as it is now, or None if there is no such object."""
    from bot.service import approvals, funding, held, proposals
    from bot.service.need_records import claim_rows
    from bot.service.need_text import need_choices

    parsed = Ref.parse(ref)
    if parsed is None:
        return None
    ref, letter, number = str(parsed), parsed.kind, parsed.number
    ctx = Ctx(tx=tx, community=community, platform="card", now=now, prefix=prefix)
    session = ctx.session
    if letter == RefKind.NEED:
        n = ctx.conn.execute(sql.NEED_BY_NUMBER, {"c": community.id, "n": number}).first()
        if n is None:
            return None
        fields = [("State", n.state if n.state != NeedState.OPEN else
                   ("full" if n.is_full else f"{n.slots - n.taken} of {n.slots} slots free"))]
        if n.reward_minor is not None:
            fields.append(("Reward", money(n.reward_minor, n.reward_currency)))
        if n.skills:
            fields.append(("Skills", esc(" ".join("#" + s for s in n.skills.split()))))
        if n.due_at:
            fields.append(("Due", when(n.due_at)))
        holders = []
        for c in claim_rows(ctx, n.id, HOLDING):
            approval = approvals.status(ctx, n, c)
            holders.append(f"{ctx.name_of(c.member_id)} ({c.state}{'; ' + approval if approval else ''})")
        count = approvals.needed(ctx, n)
        if count > 1 and n.state == NeedState.OPEN:
            fields.append(("Approvals", f"{count} different maintainers approve each claim"))
        if holders:
            fields.append(("Claims", ", ".join(holders)))
        fields.append(("Offered by", ctx.name_of(n.offered_by)))
        return Card(ref=ref, title=f"{ref} · {esc(n.title)}", body=esc(clip(n.description, 1500)),
                    fields=tuple(fields), choices=need_choices(ctx, n),
                    closed=n.state != NeedState.OPEN, kind=CardKind.NEED, subject=_plain(n.title),
                    state=n.state)
    if letter == RefKind.PROPOSAL:
        p = ctx.conn.execute(sql.PROPOSAL_BY_NUMBER, {"c": community.id, "n": number}).first()
        if p is None:
            return None
        t = proposals.tally(ctx, p)
        status = (f"open, {left(p.closes_at, now)}" if p.state == ProposalState.OPEN
                  else "waiting for the decision makers" if p.state == ProposalState.DECIDING
                  else f"closed: {p.outcome}")
        if proposals.sealed(p):
            fields = [("Votes", proposals.counts_shown(ctx, p)), ("Status", status),
                      ("Closes", when(p.closes_at)),
                      ("Ballot", proposals.ballot_words(p).split(":")[0])]
        else:
            fields = [("Agree", str(t.agree)), ("Abstain", str(t.abstain)),
                      ("Disagree", str(t.disagree)), ("Block", str(t.block)), ("Status", status),
                      ("Closes", when(p.closes_at))]
        if p.quorum:
            fields.append(("Quorum", str(p.quorum)))
        fields.append(("Rule", proposals.rule_of(ctx, p)))
        holds = held.held_lines(ctx, p)
        if holds:
            fields.append(("Opens if it passes", clip("; ".join(holds), 900)))
        if p.statement:
            fields.append(("Outcome", esc(clip(p.statement, 500))
                           + (f" (review {when(p.review_at)})" if p.review_at else "")))
        author = ctx.conn.execute(sql.MEMBER_NAME, {"m": p.author_id}).scalar()
        fields.append(("Author", esc(author) if author is not None else "?"))
        return Card(ref=ref, title=f"{ref} · {esc(p.text)}", body=esc(clip(p.description, 1500)),
                    fields=tuple(fields), choices=proposals.choices(ctx, p),
                    closed=p.state != ProposalState.OPEN, kind=CardKind.PROPOSAL, subject=_plain(p.text),
                    state=p.state, tally=None if proposals.sealed(p) else t,
                    quorum=p.quorum or None)
    c = session.scalars(select(FundingCall).where(FundingCall.community == community.id,
                                                  FundingCall.number == number)).first()
    if c is None:
        return None
    rows, rest = funding.allocation(ctx, c)
    lines = []
    for pitch, pts, share in rows[:20]:
        got = share if c.state == CallState.OPEN else (pitch.funded_minor or 0)
        lines.append(f"**{funding.pref(pitch)}** {esc(pitch.title)} — asks "
                     f"{money(pitch.ask_minor, c.currency)}, {pts} points → "
                     f"{money(got, c.currency)}")
    body = "\n".join(lines) or "No pitches yet."
    status = f"open, {left(c.closes_at, now)}" if c.state == CallState.OPEN else c.state
    fields = (("Budget", money(c.budget_minor, c.currency)), ("Status", status),
              ("Closes", when(c.closes_at)), ("Points per member", str(c.points)),
              ("Unallocated", money(rest if c.state == CallState.OPEN else c.unallocated_minor or 0,
                                    c.currency)))
    return Card(ref=ref, title=f"{ref} · {esc(c.title)}", body=body, fields=fields,
                choices=(), closed=c.state != CallState.OPEN, kind=CardKind.CALL, subject=_plain(c.title),
                state=c.state)


def _plain(text: str) -> str:
    """User text as plain text, as members see it where it is shown (invisible characters
    that could hide or reorder it are dropped, as `esc` drops them)."""
    return unescape(esc(text))
