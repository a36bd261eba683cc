"""Pure rules of the commons: money, durations, the consent outcome and the funding allocation.

Nothing here touches the database or a platform; every function is deterministic so that
an outcome can be reproduced from the event log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from bot.domain.vocabulary import POSITIONS, Outcome

# ISO 4217 currencies whose minor unit is not the cent.
_MINOR_DIGITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "TND": 3}
MAX_AMOUNT_MINOR = 10**13


class RuleError(ValueError):
    """A value that breaks a rule; the message is plain text (the caller escapes it)."""


_DIGITS = re.compile(r"[0-9]+")


def is_digits(text: str) -> bool:
    """Whether text is ASCII digits only (`str.isdigit` also accepts `²`, which `int` refuses)."""
    return _DIGITS.fullmatch(text) is not None


def count(text: str, low: int, high: int) -> int | None:
    """The whole number `text` writes in ASCII digits, within [low, high]; None otherwise."""
    if len(text.lstrip("0")) > len(str(high)) or not is_digits(text):
        return None
    n = int(text)
    return n if low <= n <= high else None


def shown(text: str, limit: int = 30) -> str:
    """User text as quoted in a message: one line, at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def minor_digits(currency: str) -> int:
    """How many decimal digits the currency's minor unit has (2 unless listed)."""
    return _MINOR_DIGITS.get(currency, 2)


@dataclass(frozen=True, order=True)
class Money:
    """An amount in a currency's minor unit (cents for EUR)."""

    minor: int
    currency: str

    def __str__(self) -> str:
        digits = minor_digits(self.currency)
        if digits == 0:
            return f"{self.minor} {self.currency}"
        whole, frac = divmod(self.minor, 10**digits)
        if frac == 0:
            return f"{whole} {self.currency}"
        return f"{whole}.{frac:0{digits}d} {self.currency}"


_MONEY_RE = re.compile(r"^(\d{1,12})(?:[.,](\d{1,3}))?\s*([A-Za-z]{3})$", re.ASCII)
_MONEY_PREFIX_RE = re.compile(r"^([A-Za-z]{3})\s*(\d{1,12})(?:[.,](\d{1,3}))?$", re.ASCII)


def parse_money(text: str) -> Money:
    """Parse `50EUR`, `12.50eur` or `EUR50` into Money.

    Raises:
        RuleError: the text is not an amount followed by a three-letter currency.
    """
    text = text.strip()
    m = _MONEY_RE.match(text)
    if m:
        whole, frac, cur = m.groups()
    else:
        m = _MONEY_PREFIX_RE.match(text)
        if not m:
            raise RuleError(f"'{shown(text)}' is not an amount — write it like 50EUR or 12.50USD")
        cur, whole, frac = m.groups()
    cur = cur.upper()
    digits = minor_digits(cur)
    frac = frac or ""
    if len(frac) > digits:
        raise RuleError(f"{cur} has {digits} decimal digits at most — write it like 12.50{cur}")
    minor = int(whole) * 10**digits + (int(frac.ljust(digits, "0")) if digits else 0)
    if minor > MAX_AMOUNT_MINOR:
        raise RuleError(f"'{shown(text)}' is too large (at most {MAX_AMOUNT_MINOR // 10**digits} {cur})")
    return Money(minor, cur)


_DURATION_RE = re.compile(r"^(\d{1,6})\s*(m|min|h|d|w)$", re.IGNORECASE | re.ASCII)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_DURATION = timedelta(days=3660)


def parse_duration(text: str) -> timedelta:
    """Parse `30m`, `48h`, `10d` or `2w`.

    Raises:
        RuleError: not a number followed by m, h, d or w.
    """
    m = _DURATION_RE.match(text.strip())
    if not m:
        raise RuleError(f"'{shown(text)}' is not a duration — write it like 30m, 48h, 10d or 2w")
    delta = timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})
    if delta > MAX_DURATION:
        raise RuleError(f"'{shown(text)}' is too far away (10 years at most)")
    if not delta:
        raise RuleError(f"'{shown(text)}' is no time at all — give a duration like 30m, 48h or 10d")
    return delta


def parse_when(text: str, now: datetime) -> datetime:
    """Parse a deadline: a duration from now (`48h`) or a UTC date/time (`2026-12-01T18:00`).

    A bare date means the end of that day (23:59 UTC).

    Raises:
        RuleError: neither form, or not in the future.
    """
    text = text.strip()
    if _DURATION_RE.match(text):
        return now + parse_duration(text)
    try:
        when = datetime.fromisoformat(text.rstrip("Zz"))
        if when.tzinfo is not None:
            # Near year 1 or 9999 the offset takes the time out of datetime's range.
            when = (when - when.utcoffset()).replace(tzinfo=None)  # type: ignore[operator]
    except ValueError:
        raise RuleError(
            f"'{shown(text)}' is not a time — write a duration like 48h or 10d, "
            "or a UTC date like 2026-12-24 or 2026-12-01T18:00"
        ) from None
    except OverflowError:
        raise RuleError(f"'{shown(text)}' is out of range — give a time within the next "
                        "10 years") from None
    if len(text) <= 10:
        when = when.replace(hour=23, minute=59)
    if when <= now:
        raise RuleError(f"'{shown(text)}' is in the past — give a time after {now:%Y-%m-%d %H:%M} UTC")
    if when - now > MAX_DURATION:
        raise RuleError(f"'{shown(text)}' is too far away (10 years at most)")
    return when


# --- consent -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tally:
    """Counts of the latest vote of each member."""

    agree: int = 0
    abstain: int = 0
    disagree: int = 0
    block: int = 0

    @property
    def total(self) -> int:
        """Every vote cast, abstentions included."""
        return self.agree + self.abstain + self.disagree + self.block

    @classmethod
    def of(cls, positions: list[str]) -> Tally:
        """Count a list of positions."""
        return cls(**{p: positions.count(p) for p in POSITIONS})

    def __str__(self) -> str:
        return (
            f"{self.agree} agree, {self.abstain} abstain, "
            f"{self.disagree} disagree, {self.block} block"
        )


def consent_outcome(tally: Tally, quorum: int | None) -> Outcome:
    """The outcome of a proposal at close, by the consent rule in its order
    (docs/behaviour.md, Decision types).

    Any block → blocked; fewer votes than the quorum → no quorum; more agree than
    disagree → passed; otherwise not passed.
    """
    if tally.block > 0:
        return Outcome.BLOCKED
    if quorum is not None and tally.total < quorum:
        return Outcome.NO_QUORUM
    if tally.agree > tally.disagree:
        return Outcome.PASSED
    return Outcome.NOT_PASSED


# --- decision types (docs/behaviour.md, Decision types) -------------------------------

DECISION_TYPES = ("consent", "significant", "quorum", "emergency", "advice")
# Default durations, in hours, of each type.
DECISION_HOURS = {"consent": 72, "significant": 7 * 24, "quorum": 7 * 24, "emergency": 24,
                  "advice": 72}
_RULES = {
    "consent": "more agree than disagree, with no block{quorum}",
    "significant": "more than half of the votes agree, with no block{quorum}",
    "quorum": "at least 75% of all members who may vote agree or abstain, with no block",
    "emergency": "at least 75% of the votes agree (blocks are recorded but do not stop it){quorum}",
    "advice": "its decision makers record the decision after the advice period; votes are advice",
}


def decision_rule(kind: str, quorum: int | None = None) -> str:
    """The rule of a decision type in plain words: `consent passes when …`."""
    q = f" and at least {quorum} votes (the quorum)" if quorum else ""
    if kind == "advice":
        return "advice: " + _RULES[kind]
    return f"{kind} passes when " + _RULES[kind].format(quorum=q)


def decision_outcome(kind: str, tally: Tally, quorum: int | None = None,
                     eligible: int = 0) -> str:
    """The outcome of a proposal of decision type `kind` at close (docs/behaviour.md, Decision types).

    Args:
        kind: one of `DECISION_TYPES`; `advice` has no outcome from votes (see `decide`).
        tally: the latest vote of each member.
        quorum: the fewest votes for a valid outcome, when the proposal set one.
        eligible: how many members may vote (the `quorum` type counts against them).

    Returns:
        `passed`, `not passed`, `blocked` or `no quorum`.
    """
    if kind == "consent":
        return consent_outcome(tally, quorum)
    if kind == "advice":
        raise ValueError("an advice proposal is decided by its decision makers, not by votes")
    if kind != "emergency" and tally.block > 0:
        return Outcome.BLOCKED
    if kind == "quorum":
        return Outcome.PASSED if eligible and 4 * (tally.agree + tally.abstain) >= 3 * eligible \
            else Outcome.NOT_PASSED
    if quorum is not None and tally.total < quorum:
        return Outcome.NO_QUORUM
    if kind == "significant":
        return Outcome.PASSED if 2 * tally.agree > tally.total else Outcome.NOT_PASSED
    if kind == "emergency":
        return Outcome.PASSED if tally.total and 4 * tally.agree >= 3 * tally.total else Outcome.NOT_PASSED
    raise ValueError(f"unknown decision type {kind!r}")


def decision_explained(kind: str, tally: Tally, outcome: str, quorum: int | None = None,
                       eligible: int = 0) -> str:
    """Why a proposal closed as it did, in plain words: the counts that mattered, then the rule."""
    rule = decision_rule(kind, quorum)
    if outcome == Outcome.BLOCKED:
        return f"{tally.block} block — {rule}"
    if outcome == Outcome.NO_QUORUM:
        return f"{tally.total} votes, fewer than the quorum of {quorum} — {rule}"
    if kind == "quorum":
        return f"{tally.agree + tally.abstain} of {eligible} members agree or abstain — {rule}"
    if kind in ("significant", "emergency"):
        return f"{tally.agree} agree of {tally.total} votes — {rule}"
    return f"{tally.agree} agree, {tally.disagree} disagree — {rule}"


# --- approvals (docs/behaviour.md, N-of-M approvals) ----------------------------------------


def approvals_needed(reward: Money | None, rules: list[tuple[Money, int]]) -> int:
    """How many different maintainers approve a claim on a need with this reward.

    Each rule `(over, count)` holds for rewards in its currency above `over`; the highest
    count that holds wins; with none, one approval is enough.
    """
    counts = [count for over, count in rules
              if reward is not None and reward.currency == over.currency and reward.minor > over.minor]
    return max(counts, default=1)


def offerer_may_approve(reward: Money | None, limit: Money | None) -> bool:
    """Whether a need's offerer may approve its claims under `author_cannot_approve_over`."""
    if limit is None or reward is None or reward.currency != limit.currency:
        return True
    return reward.minor <= limit.minor


# --- funding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PitchStake:
    """What the allocation needs to know of a pitch."""

    pitch_id: int
    ask: int
    points: int


@dataclass(frozen=True)
class AllocationRound:
    """One round of the allocation: what was divided, over which points, and who hit the cap."""

    remaining: Fraction
    points: dict[int, int]
    shares: dict[int, Fraction]
    capped: tuple[int, ...]


@dataclass(frozen=True)
class Allocation:
    """The allocation of a budget, with every round that led to it (for `!call` and the audit)."""

    budget: int
    rounds: tuple[AllocationRound, ...]
    amounts: dict[int, int]
    unallocated: int


def allocation_steps(budget: int, pitches: list[PitchStake]) -> Allocation:
    """Divide a budget among pitches in proportion to their points, capping each at its ask.

    A pitch whose share would exceed its ask gets exactly its ask; the surplus is divided
    again among the rest in proportion to their points, until nothing changes. Amounts are
    rounded down to the minor unit. Pitches with no points get nothing.

    Args:
        budget: the call's budget in minor units.
        pitches: every pitch of the call.

    Returns:
        The amounts (0 for unfunded), the unallocated remainder and each round's figures.
    """
    amounts = {p.pitch_id: 0 for p in pitches}
    active = [p for p in pitches if p.points > 0]
    remaining = Fraction(budget)
    final: dict[int, Fraction] = {}
    rounds: list[AllocationRound] = []
    while active:
        total_points = sum(p.points for p in active)
        shares = {p.pitch_id: remaining * p.points / total_points for p in active}
        capped = [p for p in active if shares[p.pitch_id] > p.ask]
        rounds.append(AllocationRound(remaining, {p.pitch_id: p.points for p in active}, shares,
                                      tuple(p.pitch_id for p in capped)))
        if not capped:
            final.update(shares)
            break
        for p in capped:
            final[p.pitch_id] = Fraction(p.ask)
            remaining -= p.ask
        capped_ids = {p.pitch_id for p in capped}
        active = [p for p in active if p.pitch_id not in capped_ids]
    for pid, share in final.items():
        amounts[pid] = int(share)  # floor: shares are never negative
    return Allocation(budget, tuple(rounds), amounts, budget - sum(amounts.values()))


def allocate(budget: int, pitches: list[PitchStake]) -> tuple[dict[int, int], int]:
    """The amount for each pitch id (0 for unfunded) and the unallocated remainder, by the
    rule of `allocation_steps`."""
    result = allocation_steps(budget, pitches)
    return result.amounts, result.unallocated
