"""The pure rules: money, durations, the consent outcome and the funding allocation."""

from datetime import datetime, timedelta

import pytest

from bot.domain.rules import (
    Money,
    PitchStake,
    RuleError,
    Tally,
    allocate,
    consent_outcome,
    parse_duration,
    parse_money,
    parse_when,
)

NOW = datetime(2026, 12, 1, 12, 0)


@pytest.mark.parametrize(("text", "minor", "cur"), [
    ("50EUR", 5000, "EUR"), ("12.50eur", 1250, "EUR"), ("EUR7", 700, "EUR"),
    ("1000JPY", 1000, "JPY"), ("0.5usd", 50, "USD"), ("1,25EUR", 125, "EUR"),
])
def test_money_parses(text, minor, cur):
    assert parse_money(text) == Money(minor, cur)


@pytest.mark.parametrize("text", ["50", "EUR", "fifty EUR", "1.234EUR", "12.5JPY", "-5EUR", ""])
def test_money_refuses_with_an_example(text):
    with pytest.raises(RuleError) as err:
        parse_money(text)
    assert "EUR" in str(err.value) or "JPY" in str(err.value) or "USD" in str(err.value)


def test_money_prints_as_people_write_it():
    assert str(Money(5000, "EUR")) == "50 EUR"
    assert str(Money(1250, "EUR")) == "12.50 EUR"
    assert str(Money(7, "JPY")) == "7 JPY"


def test_durations_and_deadlines():
    assert parse_duration("48h") == timedelta(hours=48)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_when("10d", NOW) == NOW + timedelta(days=10)
    assert parse_when("2026-12-24", NOW) == datetime(2026, 12, 24, 23, 59)
    assert parse_when("2026-12-01T18:00", NOW) == datetime(2026, 12, 1, 18, 0)
    assert parse_when("2026-12-01T18:00+01:00", NOW) == datetime(2026, 12, 1, 17, 0)
    with pytest.raises(RuleError, match="in the past"):
        parse_when("2026-11-30", NOW)
    with pytest.raises(RuleError, match="duration like 48h"):
        parse_when("soon", NOW)
    with pytest.raises(RuleError, match="too far"):
        parse_when("99999d", NOW)


@pytest.mark.parametrize(("votes", "quorum", "outcome"), [
    (["agree", "agree", "block"], None, "blocked"),
    (["block"], 5, "blocked"),                      # block comes before quorum
    (["agree", "agree"], 3, "no quorum"),
    (["agree", "abstain", "abstain"], 3, "passed"),  # abstentions count toward quorum
    (["agree", "agree", "disagree"], None, "passed"),
    (["agree", "disagree"], 2, "not passed"),        # a tie does not pass
    ([], None, "not passed"),
    (["abstain"], None, "not passed"),
    (["disagree", "disagree", "agree"], None, "not passed"),
])
def test_consent_outcome_in_spec_order(votes, quorum, outcome):
    assert consent_outcome(Tally.of(votes), quorum) == outcome


def test_allocation_is_proportional_to_points():
    shares, rest = allocate(100000, [PitchStake(1, 100000, 60), PitchStake(2, 100000, 40)])
    assert shares == {1: 60000, 2: 40000} and rest == 0


def test_allocation_caps_at_ask_and_redistributes_until_stable():
    # 1000.00 budget; A asks 100 with half the points: capped, its surplus goes to B and C
    # in proportion; then B (ask 500) is capped too; C takes the rest.
    pitches = [PitchStake(1, 10000, 50), PitchStake(2, 50000, 30), PitchStake(3, 90000, 20)]
    shares, rest = allocate(100000, pitches)
    assert shares[1] == 10000
    assert shares[2] == 50000
    assert shares[3] == 40000
    assert rest == 0


def test_allocation_rounds_down_and_reports_the_remainder():
    shares, rest = allocate(10000, [PitchStake(i, 10**9, 1) for i in (1, 2, 3)])
    assert shares == {1: 3333, 2: 3333, 3: 3333}
    assert rest == 1


def test_pitches_without_points_get_nothing_and_caps_leave_unallocated():
    shares, rest = allocate(100000, [PitchStake(1, 30000, 10), PitchStake(2, 20000, 90),
                                     PitchStake(3, 50000, 0)])
    assert shares == {1: 30000, 2: 20000, 3: 0}
    assert rest == 50000


def test_allocation_with_no_points_at_all():
    shares, rest = allocate(5000, [PitchStake(1, 100, 0)])
    assert shares == {1: 0} and rest == 5000


def test_allocation_is_deterministic_and_never_exceeds_budget():
    pitches = [PitchStake(i, 1000 + 137 * i, (i * 7) % 11) for i in range(1, 30)]
    a = allocate(123457, pitches)
    b = allocate(123457, list(reversed(pitches)))
    assert a == b
    assert sum(a[0].values()) + a[1] == 123457
    assert all(a[0][p.pitch_id] <= p.ask for p in pitches)
