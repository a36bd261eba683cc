"""The domain's vocabulary: each enum member is the very string stored and shown."""

from dataclasses import fields

from bot.domain.rules import Tally
from bot.domain.vocabulary import (
    POSITIONS,
    ROLES,
    ClaimState,
    NeedState,
    Outcome,
    Position,
    ProposalState,
)


def test_members_are_their_strings():
    assert NeedState.OPEN == "open" and f"{NeedState.CANCELLED}" == "cancelled"
    assert str(Outcome.NO_QUORUM) == "no quorum"
    assert ClaimState("submitted") is ClaimState.SUBMITTED
    assert {ProposalState.OPEN: 1}["open"] == 1
    assert ", ".join(ROLES) == "contributor, maintainer, foundation"


def test_tally_counts_every_position_in_order():
    assert tuple(f.name for f in fields(Tally)) == POSITIONS
    assert Tally.of([Position.AGREE, "agree", "block"]) == Tally(agree=2, block=1)
