"""Pure rules of the foundation's books (docs/behaviour.md, The books): pledges, the split
of a receipt, periods, and the pool's balances replayed from the events that moved them.

Amounts are integers in the currency's minor unit; nothing here rounds up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from bot.domain.rules import Money, RuleError, parse_money, shown

_PERCENT_RE = re.compile(r"^(\d{1,3})(?:[.,](\d{1,2}))?%$", re.ASCII)
_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)


@dataclass(frozen=True)
class Pledge:
    """What a venture pledges: basis points of declared revenue, or a flat amount a month."""

    basis_points: int | None = None
    monthly: Money | None = None

    def __str__(self) -> str:
        if self.basis_points is not None:
            return f"{percent(Fraction(self.basis_points, 100))} of revenue"
        return f"{self.monthly}/month"

    def due(self, revenue_minor: int, first_of_period: bool) -> int:
        """The amount a declaration of `revenue_minor` makes due.

        A percentage is due on every declaration (rounded down); a flat pledge once a month,
        on the period's first declaration.
        """
        if self.basis_points is not None:
            return revenue_minor * self.basis_points // 10_000
        assert self.monthly is not None
        return self.monthly.minor if first_of_period else 0


def parse_pledge(text: str) -> Pledge:
    """Parse `10%`, `2.5%` or `200EUR/month`.

    Raises:
        RuleError: neither form, or a percentage above 100.
    """
    text = text.strip()
    m = _PERCENT_RE.match(text)
    if m:
        bp = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
        if not 0 < bp <= 10_000:
            raise RuleError(f"pledge:{shown(text)} — a percentage pledge is more than 0% and at most 100%")
        return Pledge(basis_points=bp)
    if text.lower().endswith("/month"):
        amount = parse_money(text[: -len("/month")])
        if amount.minor <= 0:
            raise RuleError("a flat pledge must be more than zero a month")
        return Pledge(monthly=amount)
    raise RuleError(f"pledge:{shown(text)} is not a pledge — write pledge:10% or pledge:200EUR/month")


def percent(value: Fraction) -> str:
    """`10%`, `12.5%`: one decimal at most, rounded down, no trailing zero."""
    tenths = int(value * 10)
    whole, frac = divmod(tenths, 10)
    return f"{whole}%" if frac == 0 else f"{whole}.{frac}%"


def parse_period(text: str | None, now: datetime) -> str:
    """A month `2026-11`; none means the current month. A future month is refused.

    Raises:
        RuleError: not a `YYYY-MM` month, or after the current month.
    """
    current = f"{now:%Y-%m}"
    if text is None:
        return current
    m = _PERIOD_RE.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise RuleError(f"period:{shown(text, 20)} is not a month — write period:{current}")
    if text.strip() > current:
        raise RuleError(f"period:{text.strip()} has not begun — give {current} or an earlier month")
    return text.strip()


def split(amount_minor: int, operations_share: int) -> tuple[int, int]:
    """(operations, commons) parts of a receipt; the commons fund gets any odd minor unit."""
    operations = amount_minor * operations_share // 100
    return operations, amount_minor - operations


@dataclass
class Balances:
    """The pool's balances, as the events that moved them say (see `apply`)."""

    operations: int = 0
    commons: int = 0
    reserved: int = 0

    @property
    def available(self) -> int:
        """What the commons fund can still give to new calls."""
        return self.commons - self.reserved

    def apply(self, kind: str, details: dict[str, Any]) -> None:
        """Move the balances as one event says; other kinds change nothing.

        Raises:
            RuleError: the event would take a balance below zero.
        """
        d = details
        if kind == "receipt.recorded":
            self.operations += d["operations_minor"]
            self.commons += d["commons_minor"]
        elif kind == "receipt.reversed":
            self.operations -= d["operations_minor"]
            self.commons -= d["commons_minor"]
        elif kind == "spend.recorded":
            self.operations -= d["amount_minor"]
        elif kind == "spend.reversed":
            self.operations += d["amount_minor"]
        elif kind == "pool.reserved":
            self.reserved += d["amount_minor"]
        elif kind == "pool.settled":
            self.reserved -= d["amount_minor"]
            self.commons -= d["allocated_minor"]
        else:
            return
        if min(self.operations, self.commons, self.reserved, self.available) < 0:
            raise RuleError(f"{kind} takes a fund below zero")


BOOK_KINDS = frozenset({"receipt.recorded", "receipt.reversed", "spend.recorded",
                        "spend.reversed", "pool.reserved", "pool.settled"})


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """The first instant of a month `2026-11` and of the month after (UTC, naive)."""
    year, month = (int(x) for x in period.split("-"))
    start = datetime(year, month, 1)
    end = datetime(year + month // 12, month % 12 + 1, 1)
    return start, end
