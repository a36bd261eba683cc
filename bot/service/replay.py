"""The replay behind `commons-bot audit`: the state the event log derives, built from an
empty state one event at a time in the order the events were recorded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Text, cast, select

from bot.chat.render import money
from bot.domain.ref import Ref
from bot.domain.rules import (
    PitchStake,
    RuleError,
    Tally,
    allocation_steps,
    decision_outcome,
    parse_money,
)
from bot.domain.vocabulary import PENDING, POSITIONS, CallState, ClaimState, NeedState, ProposalState
from bot.errors import CorruptRow
from bot.service.books_audit import KINDS as BOOKS_KINDS
from bot.store.integrity import DATA_ERRORS, unfit
from bot.store.models import Event
from bot.store.reading import stream_tuples

BATCH = 5000


@dataclass
class _Need:
    slots: int = 1
    state: str = NeedState.OPEN
    reward: int | None = None
    claims: list[list[Any]] = field(default_factory=list)  # [member, state]


@dataclass
class _Call:
    budget: int
    currency: str
    state: str = CallState.OPEN
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
    state: str = ProposalState.OPEN
    outcome: str | None = None
    tally: Tally | None = None
    decision: str = "consent"
    secret: bool = False


def _minor(d: dict[str, Any], key: str, legacy: str) -> tuple[int | None, str | None]:
    """An amount an event recorded: `<key>_minor` + `currency`, or an older `50 EUR` string."""
    minor = d.get(f"{key}_minor")
    if minor is not None:
        if type(minor) is not int:
            raise ValueError(f"{key}_minor {str(minor)[:40]!r} is not a whole number")
        return minor, d.get("currency")
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
        # The books' events, replayed by `bot.service.books_audit` after the log is read,
        # and their event ids (to name one that does not fit).
        self.books: list[tuple[str, str, dict[str, Any]]] = []
        self.book_ids: list[int] = []
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
            self.needs[o].claims.append([self.canon(int(d["claimed_by"])), ClaimState.ACTIVE])

    def _claim_made(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        if d.get("backfilled"):
            return  # states the claim an older `need.offered` already made (migration 0002)
        if o in self.needs:
            self.needs[o].claims.append([member, ClaimState.ACTIVE])
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
        self._to(o, member, PENDING, ClaimState.RELEASED)

    def _claim_expired(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._to(o, member, (ClaimState.ACTIVE,), ClaimState.EXPIRED)

    def _claim_submitted(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._to(o, member, (ClaimState.ACTIVE,), ClaimState.SUBMITTED)

    def _claim_changes_requested(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._to(o, member, (ClaimState.SUBMITTED,), ClaimState.ACTIVE)

    def _claim_refused(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._to(o, member, (ClaimState.SUBMITTED,), ClaimState.REFUSED)

    def _claim_approved(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        if self._to(o, member, (ClaimState.SUBMITTED,), ClaimState.APPROVED) is None or member is None:
            return
        amount, currency = _minor(d, "amount", "reward")
        entry = self.ledger[(member, currency if amount is not None else None)]
        entry[0] += amount or 0
        entry[1] += 1

    def _need_done(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        if o in self.needs:
            self.needs[o].state = NeedState.DONE

    def _need_proposed(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self._need_offered(seq, o, member, d)
        self.needs[o].state = NeedState.PROPOSED

    def _need_cancelled(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        need = self.needs.get(o)
        if need is None:
            return
        need.state = NeedState.CANCELLED
        for c in need.claims:
            if c[1] in PENDING:
                c[1] = ClaimState.RELEASED

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
            p.tally, p.state = self._counted(p, d), ProposalState.DECIDING

    def _proposal_decided(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        p = self.proposals.get(o)
        if p is not None:
            p.state, p.outcome = ProposalState.CLOSED, d.get("outcome")

    def _proposal_closed(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        p = self.proposals.get(o)
        if p is None:
            return
        self._unseal(p, d)
        p.tally = self._counted(p, d)
        p.state = ProposalState.CLOSED
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
        proposed = self.calls.get(o)
        if proposed is not None and proposed.budget != budget:
            self.log_problems.append(f"log: {o} was proposed with a budget of "
                                     f"{money(proposed.budget, proposed.currency)} but opened with "
                                     f"{money(budget or 0, currency)}")
        self.calls[o] = _Call(budget=budget or 0, currency=currency or "")
        self._row_budget(o, d, "opened; it was proposed with {}, and opened with that")

    def _row_budget(self, o: str, d: dict[str, Any], what: str) -> None:
        """A call's row found with another budget than the recorded one (see
        `bot.service.funding.restore_budget`): the log keeps what it held."""
        c = self.calls.get(o)
        if c is not None and d.get("row_budget_minor") is not None:
            row = money(int(d["row_budget_minor"]), c.currency)
            self.log_problems.append(f"log: {o}'s row held a budget of {row} when it "
                                     + what.format(money(c.budget, c.currency)))

    def _call_proposed(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        self.calls.pop(o, None)
        self._call_opened(seq, o, member, d)
        self.calls[o].state = CallState.PROPOSED

    def _call_cancelled(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        if o in self.calls:
            self.calls[o].state = CallState.CANCELLED
            self._row_budget(o, d, "was cancelled; it was proposed with {}, and kept that")

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
        out = [(ref, PitchStake(Ref.of(ref).number, p.ask, sum(pts for _, pts in p.backings.values())))
               for ref, p in self.pitches.items() if p.call == call]
        return sorted(out, key=lambda x: x[1].pitch_id)

    def _call_closed(self, seq: int, o: str, member: int | None, d: dict[str, Any]) -> None:
        c = self.calls.get(o)
        if c is None:
            return
        stakes = self.stakes(o)
        result = allocation_steps(c.budget, [s for _, s in stakes])
        c.state = CallState.CLOSED
        c.amounts = {ref: result.amounts[s.pitch_id] for ref, s in stakes}
        c.unallocated = result.unallocated
        self._row_budget(o, d, "closed; it was opened with {}, and the close allocated that")
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


def _events(conn: Connection, community: str) -> Iterator[tuple[Any, ...]]:
    e = Event.__table__
    # The details as stored JSON text, parsed here: a replay reads every event once.
    stmt = (select(e.c.id, e.c.kind, e.c.object, e.c.actor_id, cast(e.c.details, Text))
            .where(e.c.community == community).order_by(e.c.id))
    return stream_tuples(conn, stmt, BATCH)


def replay(conn: Connection, community: str) -> tuple[Replay, int]:
    """Replay a community's log from an empty state; returns the state and how many events.

    Raises:
        CorruptRow: an event's details are not JSON, not an object, or do not fit its kind
            (`events row 12: details of claim.approved: amount_minor '5' is not a whole number`).
    """
    state = Replay()
    apply, loads = state.apply, orjson.loads
    n = 0
    books, book_ids = state.books, state.book_ids
    for eid, kind, obj, actor, raw in _events(conn, community):
        try:
            d = loads(raw) if raw else {}
            if type(d) is not dict:
                raise CorruptRow(f"events row {eid}: details is not a JSON object")
            apply(eid, kind, obj, actor, d)
            if kind in BOOKS_KINDS:
                _whole_amounts(d)
                books.append((kind, obj, d))
                book_ids.append(eid)
        except orjson.JSONDecodeError:
            raise CorruptRow(f"events row {eid}: details is not JSON") from None
        except DATA_ERRORS as exc:
            raise CorruptRow(f"events row {eid}: {unfit(kind, exc)}") from None
        n += 1
    return state, n


def _whole_amounts(d: dict[str, Any]) -> None:
    """The books add up amounts: each must be a whole number of minor units."""
    for k, v in d.items():
        if k.endswith("_minor") and v is not None and type(v) is not int:
            raise ValueError(f"{k} {str(v)[:40]!r} is not a whole number")

