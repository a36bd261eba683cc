"""`commons-bot audit`: replay the event log from nothing and check every figure it derives.

The replay (`bot.service.replay`) applies each event, in the order it was recorded (events
are written after the row locks of their change are taken, so that is the order the
changes were applied), to an empty state through the same domain rules the bot uses
(`bot.domain.rules.allocation_steps`, `decision_outcome`, `Tally`), then compares what it
derived with what the database holds: ledger totals per member and currency, every claim's
state, slots taken and need states, votes, tallies and outcomes, backings, every
allocation, budget and unallocated remainder, and the books (every fund balance, receipt, spend
and reservation: `bot.service.books_audit`). The log is also checked against itself: an
outcome or allocation an event recorded must be what the rules give.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from bot.chat.render import money
from bot.domain.ref import Ref
from bot.domain.rules import Tally
from bot.domain.vocabulary import HOLDING, ProposalState
from bot.errors import CorruptRow
from bot.service.books_audit import audit_books
from bot.service.replay import BATCH, SEALED, Replay, replay
from bot.store.integrity import DATA_ERRORS, corrupt_rows_named, unfit
from bot.store.models import (
    Backing,
    Base,
    Claim,
    Contribution,
    FundingCall,
    Member,
    Need,
    Pitch,
    Proposal,
    Vote,
)
from bot.store.reading import read_snapshot


@dataclass
class AuditReport:
    """What an audit found: events replayed, figures that match, and every difference."""

    community: str
    events: int = 0
    figures: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether everything derivable matched."""
        return not self.differences

    @property
    def empty(self) -> bool:
        """Whether there was nothing to check: no event, and no row without one."""
        return self.events == 0 and not self.differences

    def summary(self) -> str:
        """The one line the command prints."""
        if self.empty:
            return (f"audit: the record of {self.community} is empty (no events) — nothing to "
                    "check; is this the database you meant?")
        return f"audit: {self.events} events replayed, {self.figures} figures match"


class _Compare:
    """Counts matching figures and words each difference."""

    def __init__(self, report: AuditReport, names: dict[int, str]) -> None:
        self.report = report
        self.names = names

    def who(self, member: int | None) -> str:
        return f"{self.names.get(member, 'member')} (member {member})" if member is not None else "nobody"

    def check(self, what: str, from_log: Any, in_db: Any) -> None:
        if from_log == in_db:
            self.report.figures += 1
        else:
            self.report.differences.append(f"{what}: the log gives {from_log}, the database holds {in_db}")


def audit(engine: Engine, community: str) -> AuditReport:
    """Replay a community's log and compare every derivable figure with the database.

    Everything is read in one snapshot, so a bot running meanwhile cannot make the
    log and the tables disagree.

    Raises:
        CorruptRow: a row commons-bot could not have written, named by table and key.
    """
    report = AuditReport(community)
    with read_snapshot(engine) as conn, corrupt_rows_named(conn, Base.metadata.sorted_tables):
        state, report.events = replay(conn, community)
        names = dict(conn.execute(select(Member.id, Member.display_name)
                                  .where(Member.community == community)).all())
        cmp = _Compare(report, names)
        report.differences.extend(state.log_problems)
        _ledger(conn, community, state, cmp)
        _needs(conn, community, state, cmp)
        _proposals(conn, community, state, cmp)
        _funding(conn, community, state, cmp)
        figures, differences = _books(conn, community, state)
        report.figures += figures
        report.differences.extend(differences)
    return report


def _books(conn: Connection, community: str, state: Replay) -> tuple[int, list[str]]:
    """`audit_books`; when one of the books' events does not fit its kind, that event is
    found (each alone through the same replay) and named."""
    try:
        return audit_books(conn, community, state.books)
    except DATA_ERRORS:
        for eid, event in zip(state.book_ids, state.books, strict=True):
            try:
                audit_books(conn, community, [event])
            except DATA_ERRORS as exc:
                raise CorruptRow(f"events row {eid}: {unfit(event[0], exc)}") from None
        raise


def _ledger(conn: Connection, cid: str, state: Replay, cmp: _Compare) -> None:
    rows = conn.execute(select(Contribution.member_id, Contribution.currency,
                               func.coalesce(func.sum(Contribution.reward_minor), 0), func.count())
                        .where(Contribution.community == cid)
                        .group_by(Contribution.member_id, Contribution.currency)).all()
    db = {(m, cur): [int(total), int(n)] for m, cur, total, n in rows}
    replayed: dict[tuple[int, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for (m, cur), (total, n) in state.ledger.items():
        entry = replayed[(state.canon(m), cur)]
        entry[0] += total
        entry[1] += n
    for key in sorted(set(db) | set(replayed), key=lambda k: (k[0], k[1] or "")):
        m, cur = key
        got, held = replayed.get(key, [0, 0]), db.get(key, [0, 0])
        label = f"ledger of {cmp.who(m)}" + (f" in {cur}" if cur else " without reward")
        if cur:
            cmp.check(label + " (total)", money(got[0], cur), money(held[0], cur))
        cmp.check(label + " (contributions)", got[1], held[1])


def _needs(conn: Connection, cid: str, state: Replay, cmp: _Compare) -> None:
    n, c = Need.__table__, Claim.__table__
    db_claims: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for number, member, st in conn.execute(
            select(n.c.number, c.c.member_id, c.c.state).join(n, n.c.id == c.c.need_id)
            .where(n.c.community == cid).order_by(n.c.number, c.c.id)
            .execution_options(yield_per=BATCH)):
        db_claims[number].append((member, st))
    db_needs = {r.number: r for r in conn.execute(
        select(n.c.number, n.c.state, n.c.taken, n.c.reward_minor).where(n.c.community == cid)
        .execution_options(yield_per=BATCH))}
    for number in sorted(set(db_needs) | {Ref.of(r).number for r in state.needs}):
        r = f"T{number}"
        need, row = state.needs.get(r), db_needs.get(number)
        if need is None or row is None:
            cmp.check(f"{r}", "recorded" if need else "never offered",
                      "present" if row is not None else "absent")
            continue
        cmp.check(f"{r} state", need.state, row.state)
        cmp.check(f"{r} slots taken", sum(1 for x in need.claims if x[1] in HOLDING), row.taken)
        cmp.check(f"{r} reward", need.reward, row.reward_minor)
        held = db_claims.get(number, [])
        for i in range(max(len(need.claims), len(held))):
            got = tuple(need.claims[i]) if i < len(need.claims) else None
            have = held[i] if i < len(held) else None
            who = cmp.who(state.canon(got[0]) if got else have[0] if have else None)
            cmp.check(f"{r} claim #{i + 1} of {who}",
                      got[1] if got else "no claim", have[1] if have else "no claim")
            if got and have:
                cmp.check(f"{r} claim #{i + 1} member", state.canon(got[0]), have[0])


def _proposals(conn: Connection, cid: str, state: Replay, cmp: _Compare) -> None:
    p, v = Proposal.__table__, Vote.__table__
    db_votes: dict[int, dict[int, str]] = defaultdict(dict)
    for number, member, position in conn.execute(
            select(p.c.number, v.c.member_id, v.c.position).join(p, p.c.id == v.c.proposal_id)
            .where(p.c.community == cid).execution_options(yield_per=BATCH)):
        db_votes[number][member] = position
    for row in conn.execute(select(p.c.number, p.c.state, p.c.outcome).where(p.c.community == cid)):
        r = f"P{row.number}"
        prop = state.proposals.get(r)
        if prop is None:
            cmp.check(r, "never proposed", "present")
            continue
        held = db_votes.get(row.number, {})
        got = {state.canon(m): pos for m, (_, pos) in prop.votes.items()}
        if prop.secret or prop.state == ProposalState.OPEN:
            # Positions the log withholds (secret, or hidden and still open): who voted counts.
            held = {m: SEALED if got.get(m) == SEALED else pos for m, pos in held.items()}
        for m in sorted(set(got) | set(held)):
            cmp.check(f"{r} vote of {cmp.who(m)}", got.get(m, "no vote"), held.get(m, "no vote"))
        cmp.check(f"{r} state", prop.state, row.state)
        if prop.state != ProposalState.OPEN:
            db_tally = Tally.of(list(db_votes.get(row.number, {}).values()))
            cmp.check(f"{r} tally", str(prop.tally), str(db_tally))
        if prop.state == ProposalState.CLOSED:
            cmp.check(f"{r} outcome", prop.outcome, row.outcome)


def _funding(conn: Connection, cid: str, state: Replay, cmp: _Compare) -> None:
    f, pi, b = FundingCall.__table__, Pitch.__table__, Backing.__table__
    points = dict(conn.execute(select(pi.c.number, func.sum(b.c.points)).join(pi, pi.c.id == b.c.pitch_id)
                               .where(pi.c.community == cid).group_by(pi.c.number)).all())
    pitches = {row.number: row for row in conn.execute(
        select(pi.c.number, pi.c.state, pi.c.funded_minor, pi.c.ask_minor).where(pi.c.community == cid))}
    for number in sorted(pitches):
        r = f"B{number}"
        got = state.pitches.get(r)
        if got is None:
            cmp.check(r, "never pitched", "present")
            continue
        cmp.check(f"{r} points", sum(p for _, p in got.backings.values()), int(points.get(number) or 0))
    for row in conn.execute(select(f.c.number, f.c.state, f.c.unallocated_minor, f.c.currency,
                                   f.c.budget_minor).where(f.c.community == cid)):
        r = f"F{row.number}"
        call = state.calls.get(r)
        if call is None:
            cmp.check(r, "never opened", "present")
            continue
        cmp.check(f"{r} state", call.state, row.state)
        cmp.check(f"{r} budget", money(call.budget, call.currency), money(row.budget_minor, row.currency))
        if call.amounts is None:
            continue
        cur = call.currency
        cmp.check(f"{r} unallocated", money(call.unallocated, cur), money(row.unallocated_minor, cur))
        for ref, amount in call.amounts.items():
            db = pitches.get(Ref.of(ref).number)
            cmp.check(f"{r} allocation to {ref}", money(amount, cur),
                      money(db.funded_minor, cur) if db is not None and db.funded_minor is not None
                      else "nothing")
