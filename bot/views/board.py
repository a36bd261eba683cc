"""Read models of the public board: the queries its pages show.

Read-only, on a connection the caller opens (the board's engine refuses writes). Lists
are keyset-paginated (`WHERE key < :last ORDER BY key DESC LIMIT n`), so a far page costs
what the first one does. Only public facts are read: never the outbox (notices to a
member), link codes, identities or handled messages.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    String,
    bindparam,
    cast,
    exists,
    false,
    func,
    select,
    true,
    tuple_,
)

from bot.chat.phrases import HIDDEN, event_phrase
from bot.chat.render import money
from bot.domain.rules import (
    AllocationRound,
    PitchStake,
    Tally,
    allocation_steps,
    count,
    decision_explained,
    decision_outcome,
    decision_rule,
)
from bot.domain.vocabulary import POSITIONS, CallState, ClaimState, NeedState, Outcome, ProposalState
from bot.store.models import (
    Backing,
    Claim,
    Contribution,
    Event,
    FundingCall,
    Member,
    Need,
    NeedSkill,
    Pitch,
    Proposal,
    Vote,
)

PAGE = 20
N, C, NS = Need.__table__.c, Claim.__table__.c, NeedSkill.__table__.c
E, M, V = Event.__table__.c, Member.__table__.c, Vote.__table__.c
P, FC, PI, B = Proposal.__table__.c, FundingCall.__table__.c, Pitch.__table__.c, Backing.__table__.c
K = Contribution.__table__.c
GROUPS = ("free", "full", "submitted", "done", "cancelled")
# What the community's Atom feed tells of: new needs, proposals, decisions, funded pitches.
FEED_KINDS = ("need.offered", "proposal.opened", "proposal.closed", "call.opened", "call.closed")


# A list's cursor names the last row of a page by the column the list is ordered on, so it
# is bounded by what PostgreSQL stores there: past it, the comparison fails with "integer
# out of range" instead of finding nothing.
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
CLOSED_GROUPS = ("done", "cancelled")


class BadCursor(ValueError):
    """A page cursor that this board did not write."""


def phrase(row: Any, who: dict[int, str]) -> str:
    """An event in plain words: the very phrase `!log` and exports show (`bot.chat.phrases`),
    the one place the board renders an event."""
    return event_phrase(row, who)


@dataclass
class Page:
    """One page of a list and the cursor of the next page (None on the last)."""

    items: list[dict[str, Any]]
    next: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def names(conn: Connection, ids: set[int | None]) -> dict[int, str]:
    """Display names of members by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(conn.execute(select(M.id, M.display_name).where(M.id.in_(wanted))).all())


_LATEST = select(func.max(E.id)).where(E.community == bindparam("c"))


def latest_event(conn: Connection, community: str) -> int:
    """The id of the community's newest event (0 before any): what live pages watch."""
    return conn.execute(_LATEST, {"c": community}).scalar() or 0


def _need(row: Any, group: str | None = None) -> dict[str, Any]:
    return {"ref": f"T{row.number}", "number": row.number, "title": row.title,
            "skills": row.skills.split() if row.skills else [],
            "reward": money(row.reward_minor, row.reward_currency) or None,
            "slots": row.slots, "taken": row.taken, "free": max(row.slots - row.taken, 0),
            "due_at": row.due_at, "state": row.state, "group": group or row.state,
            "created_at": row.created_at, "closed_at": row.closed_at}


_NEED_COLS = (N.id, N.number, N.title, N.skills, N.reward_minor, N.reward_currency, N.slots,
              N.taken, N.due_at, N.sort_due, N.state, N.created_at, N.closed_at)


def board(conn: Connection, community: str, group: str, *, skill: str | None = None,
          after: Any = None, limit: int = PAGE) -> Page:
    """Needs of one group, most urgent first (done and cancelled: newest first).

    Groups of open needs: `submitted` (work waits for review), `full` (every slot
    taken), `free` (a slot is free). `after` is the position `needs_cursor` read.
    """
    params: dict[str, Any] = {"c": community, "s": skill, "lim": limit + 1}
    closed = group in CLOSED_GROUPS
    if after is not None:
        if closed:
            params["n"] = after
        else:
            params["d"], params["n"] = after
    rows = conn.execute(_board_stmt(group, skill is not None, after is not None), params).all()
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = str(last.number) if closed else f"{last.sort_due:%Y%m%dT%H%M%S}.{last.number}"
    return Page([_need(r, None if closed else group) for r in rows[:limit]], nxt)


@cache
def _board_stmt(group: str, by_skill: bool, paged: bool) -> Any:
    """The statement of one shape of board query, built once (building one costs about as
    much as running it)."""
    stmt = select(*_NEED_COLS).where(N.community == bindparam("c"))
    if by_skill:
        stmt = stmt.where(N.id.in_(select(NS.need_id).where(NS.skill == bindparam("s"))))
    if group in CLOSED_GROUPS:
        stmt = stmt.where(N.state == group)
        if paged:
            stmt = stmt.where(N.number < bindparam("n"))
        return stmt.order_by(N.number.desc()).limit(bindparam("lim"))
    stmt = stmt.where(N.state == NeedState.OPEN)
    if group == "submitted":
        # Driven by the few claims that wait, not by a scan of every open need.
        stmt = stmt.where(N.id.in_(select(C.need_id).where(C.state == ClaimState.SUBMITTED)))
    else:
        waiting = exists().where(C.need_id == N.id, C.state == ClaimState.SUBMITTED)
        stmt = stmt.where(N.is_full == (true() if group == "full" else false()), ~waiting)
    if paged:
        stmt = stmt.where(tuple_(N.sort_due, N.number) >
                          tuple_(bindparam("d", type_=N.sort_due.type), bindparam("n", type_=N.number.type)))
    return stmt.order_by(N.sort_due, N.number).limit(bindparam("lim"))


def _position(text: str, column: Column[Any]) -> int:
    """A cursor's row key: ASCII digits within what the column holds on PostgreSQL."""
    n = count(text, 0, BIGINT_MAX if isinstance(column.type, BigInteger) else INTEGER_MAX)
    if n is None:
        raise BadCursor(text)
    return n


_DUE = re.compile(r"[0-9]{8}T[0-9]{6}")


def needs_cursor(group: str, text: str) -> int | tuple[datetime, int]:
    """The position a needs page's `after` names: a number (done and cancelled), else the
    due time and number of the last need shown (`20261231T120000.12`).

    Raises:
        BadCursor: text this board does not write.
    """
    if group in CLOSED_GROUPS:
        return _position(text, N.number)
    due, _, number = text.partition(".")
    if not _DUE.fullmatch(due):
        raise BadCursor(text)
    try:
        return datetime.strptime(due, "%Y%m%dT%H%M%S"), _position(number, N.number)
    except ValueError:
        raise BadCursor(text) from None


def event_cursor(text: str) -> int:
    """An event id: the log's `before`, and the newest event a live page showed.

    Raises:
        BadCursor: not an id an event can have.
    """
    return _position(text, E.id)


def proposals_cursor(text: str) -> int:
    """The proposal number a proposals page's cursor names (BadCursor if none can)."""
    return _position(text, P.number)


def calls_cursor(text: str) -> int:
    """The call number a funding calls page's cursor names (BadCursor if none can)."""
    return _position(text, FC.number)


def ledger_cursor(text: str) -> int:
    """The contribution id a ledger page's `before` names (BadCursor if none can)."""
    return _position(text, K.id)


def need(conn: Connection, community: str, number: int) -> dict[str, Any] | None:
    """A need with its claims, submissions, reviews and full history."""
    row = conn.execute(select(*_NEED_COLS, N.description, N.offered_by, N.call_id, N.close_reason)
                       .where(N.community == community, N.number == number)).first()
    if row is None:
        return None
    out = _need(row)
    claims = conn.execute(select(Claim.__table__).where(C.need_id == row.id)
                          .order_by(C.claimed_at, C.id)).all()
    who = names(conn, {row.offered_by} | {c.member_id for c in claims} | {c.reviewer_id for c in claims})
    call = None
    if row.call_id is not None:
        call = conn.execute(select(FC.number).where(FC.id == row.call_id)).scalar()
    out.update(description=row.description, offered_by=who.get(row.offered_by),
               close_reason=row.close_reason, call=f"F{call}" if call else None,
               claims=[{"member": who.get(c.member_id), "state": c.state, "claimed_at": c.claimed_at,
                        "expires_at": c.expires_at, "submitted_at": c.submitted_at,
                        "submission": c.submission, "reviewer": who.get(c.reviewer_id),
                        "review_note": c.review_note} for c in claims],
               history=history(conn, community, f"T{number}"))
    return out


def history(conn: Connection, community: str, ref: str, limit: int = 500) -> list[dict[str, Any]]:
    """Every event of one object, oldest first."""
    rows = conn.execute(select(Event.__table__).where(E.community == community, E.object == ref,
                                                      E.kind.not_in(HIDDEN))
                        .order_by(E.id).limit(limit)).all()
    return _events(conn, rows)


def _events(conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    who = names(conn, {r.actor_id for r in rows})
    return [{"id": r.id, "at": r.at, "actor": who.get(r.actor_id) if r.actor_id else "the bot",
             "platform": r.platform, "kind": r.kind, "object": r.object,
             "text": phrase(r, who)} for r in rows]


def log(conn: Connection, community: str, *, obj: str | None = None, member: str | None = None,
        kind: str | None = None, before: int | None = None, limit: int = PAGE) -> Page:
    """The event log, newest first, filtered by object, member (display name) and kind.

    A kind ending in a dot (`claim.`) matches the whole family.
    """
    stmt = select(Event.__table__).where(E.community == community, E.kind.not_in(HIDDEN))
    if obj:
        stmt = stmt.where(E.object == obj)
    if member:
        ids = select(M.id).where(M.community == community,
                                 func.lower(M.display_name) == member.lstrip("@").lower())
        stmt = stmt.where(E.actor_id.in_(ids))
    if kind:
        stmt = stmt.where(E.kind.startswith(kind) if kind.endswith(".") else E.kind == kind)
    if before is not None:
        stmt = stmt.where(E.id < before)
    rows = conn.execute(stmt.order_by(E.id.desc()).limit(limit + 1)).all()
    nxt = str(rows[limit - 1].id) if len(rows) > limit else None
    return Page(_events(conn, rows[:limit]), nxt)


def _tallies(conn: Connection, ids: list[int]) -> dict[int, Tally]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if ids:
        for pid, pos, n in conn.execute(select(V.proposal_id, V.position, func.count())
                                        .where(V.proposal_id.in_(ids))
                                        .group_by(V.proposal_id, V.position)).all():
            counts[pid][pos] = n
    return {i: Tally(**{k: counts[i].get(k, 0) for k in POSITIONS}) for i in ids}


def _proposal(row: Any, tally: Tally, author: str | None) -> dict[str, Any]:
    # A hidden vote or secret ballot shows how many voted, not how, until it closes.
    sealed = bool(row.hidden or row.anonymous) and row.state == ProposalState.OPEN
    shown = Tally() if sealed else tally
    guess = (row.state == ProposalState.OPEN and not sealed and row.decision not in ("advice", "quorum"))
    return {"ref": f"P{row.number}", "number": row.number, "text": row.text, "author": author,
            "state": row.state, "outcome": row.outcome, "quorum": row.quorum,
            "closes_at": row.closes_at, "created_at": row.created_at, "closed_at": row.closed_at,
            "tally": shown.__dict__ | {"total": tally.total}, "sealed": sealed,
            "decision": row.decision, "anonymous": row.anonymous,
            "would_be": decision_outcome(row.decision, tally, row.quorum) if guess else None}


def proposals(conn: Connection, community: str, state: str, *, after: int | None = None,
              limit: int = PAGE) -> Page:
    """Open (`open`) or closed (`closed`) proposals, newest first, with their counts."""
    stmt = select(Proposal.__table__).where(
        P.community == community,
        P.state == ProposalState.OPEN if state == "open" else P.state != ProposalState.OPEN)
    if after is not None:
        stmt = stmt.where(P.number < after)
    rows = conn.execute(stmt.order_by(P.number.desc()).limit(limit + 1)).all()
    tallies = _tallies(conn, [r.id for r in rows[:limit]])
    who = names(conn, {r.author_id for r in rows})
    nxt = str(rows[limit - 1].number) if len(rows) > limit else None
    return Page([_proposal(r, tallies[r.id], who.get(r.author_id)) for r in rows[:limit]], nxt)


def proposal(conn: Connection, community: str, number: int) -> dict[str, Any] | None:
    """A proposal with every vote and reason, its quorum, and the rule that decides it."""
    row = conn.execute(select(Proposal.__table__)
                       .where(P.community == community, P.number == number)).first()
    if row is None:
        return None
    votes = conn.execute(select(Vote.__table__).where(V.proposal_id == row.id).order_by(V.at)).all()
    who = names(conn, {row.author_id} | {v.member_id for v in votes})
    tally = _tallies(conn, [row.id])[row.id]
    out = _proposal(row, tally, who.get(row.author_id))
    out["description"] = row.description
    if out["sealed"]:
        out["votes"] = []
    elif row.anonymous:
        # A secret ballot: positions and reasons, never names nor the time that would tell them.
        out["votes"] = [{"member": "(secret)", "position": v.position, "reason": v.reason, "at": None}
                        for v in sorted(votes, key=lambda v: (POSITIONS.index(v.position), v.reason))]
    else:
        out["votes"] = [{"member": who.get(v.member_id), "position": v.position, "reason": v.reason,
                         "at": v.at} for v in votes]
    outcome = row.outcome or out["would_be"]
    if row.decision == "consent" and outcome and not out["sealed"]:
        out["rule"] = decided_by(tally, row.quorum, outcome)
    elif outcome and not out["sealed"] and row.decision != "advice" and row.state == ProposalState.CLOSED:
        out["rule"] = decision_explained(row.decision, tally, outcome, row.quorum)
    else:
        out["rule"] = decision_rule(row.decision, row.quorum)
    out["history"] = history(conn, community, f"P{number}")
    return out


def decided_by(tally: Tally, quorum: int | None, outcome: str) -> str:
    """Which step of the consent rule gives this outcome, in words."""
    if outcome == Outcome.BLOCKED:
        return f"Blocked: {tally.block} block{'s' if tally.block != 1 else ''} — any block stops it."
    if outcome == Outcome.NO_QUORUM:
        return (f"No quorum: {tally.total} vote{'s' if tally.total != 1 else ''}, "
                f"fewer than the quorum of {quorum}.")
    if outcome == Outcome.PASSED:
        return (f"Passed: no block{', quorum met' if quorum else ''}, and more agree ({tally.agree}) "
                f"than disagree ({tally.disagree}).")
    return (f"Not passed: no block{', quorum met' if quorum else ''}, but agree ({tally.agree}) is "
            f"not more than disagree ({tally.disagree}).")


def calls(conn: Connection, community: str, *, after: int | None = None, limit: int = PAGE) -> Page:
    """Funding calls, newest first."""
    stmt = select(FundingCall.__table__).where(FC.community == community)
    if after is not None:
        stmt = stmt.where(FC.number < after)
    rows = conn.execute(stmt.order_by(FC.number.desc()).limit(limit + 1)).all()
    nxt = str(rows[limit - 1].number) if len(rows) > limit else None
    return Page([_call(r) for r in rows[:limit]], nxt)


def _call(row: Any) -> dict[str, Any]:
    return {"ref": f"F{row.number}", "number": row.number, "title": row.title, "state": row.state,
            "budget": money(row.budget_minor, row.currency), "currency": row.currency,
            "closes_at": row.closes_at, "points": row.points, "created_at": row.created_at,
            "closed_at": row.closed_at}


def call_of_pitch(conn: Connection, community: str, number: int) -> int | None:
    """The number of the funding call pitch `B<number>` belongs to, or None."""
    return conn.execute(select(FC.number).join(Pitch.__table__, PI.call_id == FC.id)
                        .where(PI.community == community, PI.number == number)).scalar()


def call(conn: Connection, community: str, number: int) -> dict[str, Any] | None:
    """A funding call: pitches with points and what they would get now (or got), and the
    capped allocation step by step."""
    row = conn.execute(select(FundingCall.__table__)
                       .where(FC.community == community, FC.number == number)).first()
    if row is None:
        return None
    pts = select(B.pitch_id, func.sum(B.points).label("pts")).where(B.call_id == row.id) \
        .group_by(B.pitch_id).subquery()
    pitches = conn.execute(select(Pitch.__table__, func.coalesce(pts.c.pts, 0).label("points"))
                           .outerjoin(pts, pts.c.pitch_id == PI.id)
                           .where(PI.call_id == row.id).order_by(PI.number)).all()
    allocation = allocation_steps(row.budget_minor, [PitchStake(p.id, p.ask_minor, int(p.points))
                                                     for p in pitches])
    shares, rest, rounds = allocation.amounts, allocation.unallocated, allocation.rounds
    is_open = row.state == CallState.OPEN
    need_numbers = dict(conn.execute(select(N.id, N.number).where(
        N.id.in_([p.need_id for p in pitches if p.need_id]))).all())
    who = names(conn, {p.pitched_by for p in pitches} | {row.posted_by})
    cur = row.currency
    out = _call(row)
    out.update(description=row.description, posted_by=who.get(row.posted_by),
               unallocated=money(rest if is_open else row.unallocated_minor or 0, cur))
    ref_of = {p.id: f"B{p.number}" for p in pitches}
    items = []
    for p in pitches:
        got = shares[p.id] if is_open else (p.funded_minor or 0)
        items.append({"ref": ref_of[p.id], "title": p.title, "pitched_by": who.get(p.pitched_by),
                      "ask": money(p.ask_minor, cur), "ask_minor": p.ask_minor, "points": int(p.points),
                      "gets": money(got, cur), "gets_minor": got, "state": p.state,
                      "need": f"T{need_numbers[p.need_id]}" if p.need_id in need_numbers else None,
                      "description": p.description})
    out["pitches"] = items
    out["steps"] = _steps(rounds, ref_of, {p.id: p for p in pitches}, cur)
    return out


def _steps(rounds: tuple[AllocationRound, ...], ref_of: dict[int, str], pitches: dict[int, Any],
           cur: str) -> list[str]:
    def m(x: Fraction) -> str:
        return money(int(x), cur)

    steps = []
    for i, r in enumerate(rounds, 1):
        among = ", ".join(f"{ref_of[p]} ({int(pitches[p].points)} points)" for p in r.points)
        text = f"Round {i}: {m(r.remaining)} is shared among {among}, {sum(r.points.values())} points in all."
        if r.capped:
            capped = ", ".join(f"{ref_of[p]} (asks {money(pitches[p].ask_minor, cur)})" for p in r.capped)
            text += (f" A share would exceed the ask of {capped}: each gets exactly its ask, "
                     "and the rest is shared again.")
        else:
            text += (" No share exceeds its ask: each gets its share in proportion to its points, "
                     "rounded down.")
        steps.append(text)
    return steps


def ledger(conn: Connection, community: str, *, before: int | None = None,
           limit: int = PAGE) -> Page:
    """Contributions newest first, with totals per member and per skill and the monthly
    series of rewards per currency (in `extra`)."""
    stmt = (select(K.id, K.member_id, K.reward_minor, K.currency, K.approved_by, K.at,
                   N.number, N.title).join(Need.__table__, N.id == K.need_id)
            .where(K.community == community))
    if before is not None:
        stmt = stmt.where(K.id < before)
    rows = conn.execute(stmt.order_by(K.id.desc()).limit(limit + 1)).all()
    per_member = conn.execute(select(K.member_id, K.currency, func.coalesce(func.sum(K.reward_minor), 0),
                                     func.count()).where(K.community == community)
                              .group_by(K.member_id, K.currency)).all()
    per_skill = conn.execute(select(NS.skill, K.currency, func.coalesce(func.sum(K.reward_minor), 0),
                                    func.count()).join(NeedSkill.__table__, NS.need_id == K.need_id)
                             .where(K.community == community).group_by(NS.skill, K.currency)).all()
    who = names(conn, {r.member_id for r in rows} | {r.approved_by for r in rows}
                | {r[0] for r in per_member})
    series: dict[str, dict[str, int]] = defaultdict(dict)
    # The month as the first seven characters of the stored time: the same text on SQLite
    # and PostgreSQL, summed in the database rather than row by row here.
    month = func.substr(cast(K.at, String), 1, 7)
    for cur, m, total in conn.execute(select(K.currency, month, func.coalesce(func.sum(K.reward_minor), 0))
                                      .where(K.community == community, K.currency.is_not(None))
                                      .group_by(K.currency, month)):
        series[cur][m] = int(total)
    items = [{"id": r.id, "member": who.get(r.member_id), "need": f"T{r.number}", "title": r.title,
              "reward": money(r.reward_minor, r.currency) or "no reward",
              "approved_by": who.get(r.approved_by), "at": r.at} for r in rows[:limit]]
    nxt = str(rows[limit - 1].id) if len(rows) > limit else None
    extra = {"members": _totals(per_member, lambda k: who.get(k)),
             "skills": _totals(per_skill, lambda k: "#" + k),
             "monthly": {cur: dict(sorted(v.items())) for cur, v in sorted(series.items())}}
    months = sorted({m for v in series.values() for m in v})
    extra["monthly_rows"] = [(m, [money(series[cur].get(m, 0), cur) for cur in sorted(series)])
                             for m in months]
    return Page(items, nxt, extra)


def _totals(rows: list[Any], label: Any) -> list[dict[str, Any]]:
    acc: dict[Any, dict[str, Any]] = {}
    for key, cur, total, n in rows:
        a = acc.setdefault(key, {"name": label(key), "amounts": [], "count": 0})
        a["count"] += n
        if cur:
            a["amounts"].append(money(total, cur))
    return sorted(acc.values(), key=lambda a: (-a["count"], a["name"] or ""))


def feed(conn: Connection, community: str, *, skill: str | None = None,
         limit: int = 40) -> list[dict[str, Any]]:
    """What the Atom feeds tell of, newest first: new needs, proposals, decisions and
    funding calls with their funded pitches (per skill: the needs with that skill)."""
    stmt = select(Event.__table__).where(E.community == community, E.kind.in_(FEED_KINDS))
    if skill:
        stmt = stmt.where(E.kind == "need.offered", E.object.in_(_need_refs(conn, community, skill)))
    rows = conn.execute(stmt.order_by(E.id.desc()).limit(limit)).all()
    return [e | {"details": r.details} for e, r in zip(_events(conn, rows), rows, strict=True)]


def _need_refs(conn: Connection, community: str, skill: str, limit: int = 200) -> list[str]:
    rows = conn.execute(select(N.number).join(NeedSkill.__table__, NS.need_id == N.id)
                        .where(N.community == community, NS.skill == skill)
                        .order_by(N.number.desc()).limit(limit)).all()
    return [f"T{r[0]}" for r in rows]
