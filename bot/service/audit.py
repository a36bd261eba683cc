"""`commons-bot audit`: replay the event log from nothing and check every figure it derives.

The replay applies each event, in the order it was recorded (events are written after the
row locks of their change are taken, so that is the order the changes were applied), to an
empty state through the
same domain rules the bot uses (`bot.domain.rules.allocation_steps`, `decision_outcome`,
`Tally`), then compares what it derived with what the database holds: ledger totals per
member and currency, every claim's state, slots taken and need states, votes, tallies and
outcomes, backings, every allocation and unallocated remainder, and the books (every fund
balance, receipt, spend and reservation: `bot.service.books_audit`). The log is also checked
against itself: an outcome or allocation an event recorded must be what the rules give.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Text, cast, func, select

from bot.chat.render import money
from bot.domain.rules import (
    POSITIONS,
    PitchStake,
    RuleError,
    Tally,
    allocation_steps,
    decision_outcome,
    parse_money,
)
from bot.service.books_audit import KINDS as BOOKS_KINDS
from bot.service.books_audit import audit_books
from bot.store.models import (
    Backing,
    Claim,
    Contribution,
    Event,
    FundingCall,
    Member,
    Need,
    Pitch,
    Proposal,
    Vote,
)
from bot.store.reading import read_snapshot, stream_tuples

HOLDING = ("active", "submitted", "approved")
PENDING = ("active", "submitted")
BATCH = 5000


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

    def summary(self) -> str:
        """The one line the command prints."""
        return f"audit: {self.events} events replayed, {self.figures} figures match"


@dataclass
class _Need:
    slots: int = 1
    state: str = "open"
    reward: int | None = None
    claims: list[list[Any]] = field(default_factory=list)  # [member, state]


@dataclass
class _Call:
    budget: int
    currency: str
    state: str = "open"
    amounts: dict[str, int] | None = None
    unallocated: int | None = None


@dataclass
class _Pitch:
    call: str
    ask: int
    backings: dict[int, tuple[int, int]] = field(default_factory=dict)  # member -> (seq, points)


# The position of a vote on a hidden or secret proposal, which its `vote.cast` withholds.
SEALED = "(sealed)"


@dataclass
class _Proposal:
    quorum: int | None
    votes: dict[int, tuple[int, str]] = field(default_factory=dict)  # member -> (seq, position)
    state: str = "open"
    outcome: str | None = None
    tally: Tally | None = None
    decision: str = "consent"
    secret: bool = False


def _minor(d: dict[str, Any], key: str, legacy: str) -> tuple[int | None, str | None]:
    """An amount an event recorded: `<key>_minor` + `currency`, or an older `50 EUR` string."""
    if d.get(f"{key}_minor") is not None:
        return int(d[f"{key}_minor"]), d.get("currency")
    text = d.get(legacy)
    if isinstance(text, str) and text:
        try:
            m = parse_money(text)
        except RuleError:
            return None, None
        return m.minor, m.currency
    return None, None


class Replay:
    """The state the log derives, built one event at a time."""

    def __init__(self) -> None:
        self.needs: dict[str, _Need] = {}
        self.ledger: dict[tuple[int, str | None], list[int]] = defaultdict(lambda: [0, 0])
        self.proposals: dict[str, _Proposal] = {}
        self.calls: dict[str, _Call] = {}
        self.pitches: dict[str, _Pitch] = {}
        self.merged: dict[int, int] = {}
        self.log_problems: list[str] = []
        # The books' events, replayed by `bot.service.books_audit` after the log is read.
        self.books: list[tuple[str, str, dict[str, Any]]] = []
        self._handlers: dict[str, Any] = {}

    def canon(self, member: int) -> int:
        """The member a (possibly linked) member id counts as now."""
        while member in self.merged:
            member = self.merged[member]
        return member

    def apply(self, seq: int, kind: str, obj: str, actor: int | None, d: dict[str, Any]) -> None:
        """Apply one event (kinds that change nothing derivable, like a reminder, are skipped)."""
        try:
            handler = self._handlers[kind]
        except KeyError:
            handler = self._handlers[kind] = getattr(self, "_" + kind.replace(".", "_"), None)
        if handler is not None:
            member = d.get("member", actor)
            if member is not None:
                member = int(member)
                if self.merged:
                    member = self.canon(member)
            handler(seq, obj, member, d)

    # --- needs and claims -------------------------------------------------------------

    def _need_offered(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self.needs[o] = _Need(slots=int(d.get("slots") or 1), reward=_minor(d, "amount", "reward")[0])
        if d.get("claimed_by") is not None:
            # Logged before funded pitches had their own `claim.made`: the claim it made.
            self.needs[o].claims.append([self.canon(int(d["claimed_by"])), "active"])

    def _claim_made(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        if d.get("backfilled"):
            return  # states the claim an older `need.offered` already made (migration 0002)
        if o in self.needs:
            self.needs[o].claims.append([member, "active"])
        else:
            self.log_problems.append(f"log: a claim on {o} before {o} was offered")

    def _claim(self, o: str, member: int | None, states: tuple[str, ...]) -> list[Any] | None:
        need = self.needs.get(o)
        if need is None:
            self.log_problems.append(f"log: a claim on {o} before {o} was offered")
            return None
        for c in reversed(need.claims):
            if self.canon(c[0]) == member and c[1] in states:
                return c
        self.log_problems.append(f"log: {o} has no {'/'.join(states)} claim of member {member}")
        return None

    def _to(self, o: str, member: int | None, states: tuple[str, ...], new: str) -> list[Any] | None:
        c = self._claim(o, member, states)
        if c is not None:
            c[1] = new
        return c

    def _claim_released(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._to(o, member, PENDING, "released")

    def _claim_expired(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._to(o, member, ("active",), "expired")

    def _claim_submitted(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._to(o, member, ("active",), "submitted")

    def _claim_changes_requested(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._to(o, member, ("submitted",), "active")

    def _claim_refused(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._to(o, member, ("submitted",), "refused")

    def _claim_approved(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        if self._to(o, member, ("submitted",), "approved") is None or member is None:
            return
        amount, currency = _minor(d, "amount", "reward")
        entry = self.ledger[(member, currency if amount is not None else None)]
        entry[0] += amount or 0
        entry[1] += 1

    def _need_done(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        if o in self.needs:
            self.needs[o].state = "done"

    def _need_proposed(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._need_offered(seq, o, member, d)
        self.needs[o].state = "proposed"

    def _need_cancelled(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        need = self.needs.get(o)
        if need is None:
            return
        need.state = "cancelled"
        for c in need.claims:
            if c[1] in PENDING:
                c[1] = "released"

    # --- proposals ----------------------------------------------------------------------

    def _proposal_opened(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self.proposals[o] = _Proposal(quorum=d.get("quorum"), decision=d.get("decision") or "consent",
                                      secret=bool(d.get("anonymous")))

    def _vote_cast(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        p = self.proposals.get(o)
        if p is not None and member is not None:
            p.votes[member] = (seq, SEALED if d.get("sealed") else str(d.get("position")))

    def _unseal(self, p: _Proposal, d: dict[str, Any]) -> None:
        """A hidden vote's positions, published by the event that ended its voting."""
        for v in d.get("votes") or []:
            m = self.canon(int(v["member"]))
            if m in p.votes:
                p.votes[m] = (p.votes[m][0], str(v["position"]))

    def _counted(self, p: _Proposal, d: dict[str, Any]) -> Tally:
        """The tally of the votes; a secret ballot's comes from the counts it published."""
        counts = d.get("counts") or {}
        if p.secret:
            return Tally(**{k: int(counts.get(k, 0)) for k in POSITIONS})
        return Tally.of([pos for _, pos in p.votes.values()])

    def _proposal_advised(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        p = self.proposals.get(o)
        if p is not None:
            self._unseal(p, d)
            p.tally, p.state = self._counted(p, d), "deciding"

    def _proposal_decided(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        p = self.proposals.get(o)
        if p is not None:
            p.state, p.outcome = "closed", d.get("outcome")

    def _proposal_closed(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        p = self.proposals.get(o)
        if p is None:
            return
        self._unseal(p, d)
        p.tally = self._counted(p, d)
        p.state = "closed"
        p.outcome = decision_outcome(p.decision, p.tally, p.quorum, int(d.get("eligible") or 0))
        if p.secret and p.tally.total != len(p.votes):
            self.log_problems.append(f"log: {o} published {p.tally.total} secret votes, but "
                                     f"{len(p.votes)} members voted")
        if d.get("outcome") != p.outcome:
            self.log_problems.append(f"log: {o} closed as {d.get('outcome')} but its votes give "
                                     f"{p.outcome} ({p.tally})")
        counts = d.get("counts")
        if counts is not None and Tally(**{k: int(counts.get(k, 0)) for k in POSITIONS}) != p.tally:
            self.log_problems.append(f"log: {o}'s recorded counts {counts} differ from its votes "
                                     f"({p.tally})")

    # --- funding ------------------------------------------------------------------------

    def _call_opened(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        budget, currency = _minor(d, "budget", "budget")
        self.calls[o] = _Call(budget=budget or 0, currency=currency or "")

    def _call_proposed(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._call_opened(seq, o, member, d)
        self.calls[o].state = "proposed"

    def _call_cancelled(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        if o in self.calls:
            self.calls[o].state = "cancelled"

    def _pitch_added(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self.pitches[o] = _Pitch(call=str(d.get("call")), ask=_minor(d, "ask", "ask")[0] or 0)

    def _pitch_backed(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        p = self.pitches.get(o)
        if p is None or member is None:
            return
        if int(d.get("points") or 0) == 0:
            p.backings.pop(member, None)
        else:
            p.backings[member] = (seq, int(d["points"]))

    def stakes(self, call: str) -> list[tuple[str, PitchStake]]:
        """The call's pitches as the allocation sees them, in pitch order."""
        out = [(ref, PitchStake(int(ref[1:]), p.ask, sum(pts for _, pts in p.backings.values())))
               for ref, p in self.pitches.items() if p.call == call]
        return sorted(out, key=lambda x: x[1].pitch_id)

    def _call_closed(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        c = self.calls.get(o)
        if c is None:
            return
        stakes = self.stakes(o)
        result = allocation_steps(c.budget, [s for _, s in stakes])
        c.state = "closed"
        c.amounts = {ref: result.amounts[s.pitch_id] for ref, s in stakes}
        c.unallocated = result.unallocated
        recorded = d.get("allocation")
        if recorded is not None and {k: int(v) for k, v in recorded.items()} != c.amounts:
            self.log_problems.append(f"log: {o} recorded the allocation {recorded}, its backings "
                                     f"give {c.amounts}")

    # --- identity -----------------------------------------------------------------------

    def _member_linked(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        source, target = d.get("merged"), int(o.lstrip("@"))
        if source is None or int(source) == target:
            return
        source = int(source)
        self.merged[source] = target
        # As `!link` does: where both voted or backed, the latest one counts.
        for p in self.proposals.values():
            if source in p.votes:
                v = p.votes.pop(source)
                if target not in p.votes or p.votes[target][0] < v[0]:
                    p.votes[target] = v
        for pi in self.pitches.values():
            if source in pi.backings:
                b = pi.backings.pop(source)
                if target not in pi.backings or pi.backings[target][0] < b[0]:
                    pi.backings[target] = b


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


def _events(conn: Connection, community: str) -> Iterator[tuple[Any, ...]]:
    e = Event.__table__
    # The details as stored JSON text, parsed here: a replay reads every event once.
    stmt = (select(e.c.id, e.c.kind, e.c.object, e.c.actor_id, cast(e.c.details, Text))
            .where(e.c.community == community).order_by(e.c.id))
    return stream_tuples(conn, stmt, BATCH)


def replay(conn: Connection, community: str) -> tuple[Replay, int]:
    """Replay a community's log from an empty state; returns the state and how many events."""
    state = Replay()
    apply, loads = state.apply, orjson.loads
    n = 0
    books = state.books
    for eid, kind, obj, actor, raw in _events(conn, community):
        d = loads(raw) if raw else {}
        apply(eid, kind, obj, actor, d)
        if kind in BOOKS_KINDS:
            books.append((kind, obj, d))
        n += 1
    return state, n


def audit(engine: Engine, community: str) -> AuditReport:
    """Replay a community's log and compare every derivable figure with the database.

    Everything is read in one snapshot, so a bot running meanwhile cannot make the
    log and the tables disagree.
    """
    report = AuditReport(community)
    with read_snapshot(engine) as conn:
        state, report.events = replay(conn, community)
        names = dict(conn.execute(select(Member.id, Member.display_name)
                                  .where(Member.community == community)).all())
        cmp = _Compare(report, names)
        report.differences.extend(state.log_problems)
        _ledger(conn, community, state, cmp)
        _needs(conn, community, state, cmp)
        _proposals(conn, community, state, cmp)
        _funding(conn, community, state, cmp)
        figures, differences = audit_books(conn, community, state.books)
        report.figures += figures
        report.differences.extend(differences)
    return report


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
    for number in sorted(set(db_needs) | {int(r[1:]) for r in state.needs}):
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
        if prop.secret or prop.state == "open":
            # Positions the log withholds (secret, or hidden and still open): who voted counts.
            held = {m: SEALED if got.get(m) == SEALED else pos for m, pos in held.items()}
        for m in sorted(set(got) | set(held)):
            cmp.check(f"{r} vote of {cmp.who(m)}", got.get(m, "no vote"), held.get(m, "no vote"))
        cmp.check(f"{r} state", prop.state, row.state)
        if prop.state != "open":
            db_tally = Tally.of(list(db_votes.get(row.number, {}).values()))
            cmp.check(f"{r} tally", str(prop.tally), str(db_tally))
        if prop.state == "closed":
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
    for row in conn.execute(select(f.c.number, f.c.state, f.c.unallocated_minor, f.c.currency)
                            .where(f.c.community == cid)):
        r = f"F{row.number}"
        call = state.calls.get(r)
        if call is None:
            cmp.check(r, "never opened", "present")
            continue
        cmp.check(f"{r} state", call.state, row.state)
        if call.amounts is None:
            continue
        cur = call.currency
        cmp.check(f"{r} unallocated", money(call.unallocated, cur), money(row.unallocated_minor, cur))
        for ref, amount in call.amounts.items():
            db = pitches.get(int(ref[1:]))
            cmp.check(f"{r} allocation to {ref}", money(amount, cur),
                      money(db.funded_minor, cur) if db is not None and db.funded_minor is not None
                      else "nothing")
