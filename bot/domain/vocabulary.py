"""The domain's vocabulary: the states of each object, vote positions, outcomes, roles, the
kinds of cards and the states of a delivery.

Each is a `StrEnum`, so a member equals the string stored in the database, written to the
event log and shown to members (`NeedState.OPEN == "open"`, `f"{NeedState.OPEN}"` is
`open`): using them changes no stored value and no message. docs/behaviour.md, Objects
and their states, lists them.
"""

from __future__ import annotations

from enum import StrEnum


class NeedState(StrEnum):
    """A need: open → done / cancelled; `proposed` while held by an `if:P3` proposal."""

    OPEN = "open"
    PROPOSED = "proposed"
    DONE = "done"
    CANCELLED = "cancelled"


class ClaimState(StrEnum):
    """A claim: active → submitted → approved / refused; active → released / expired;
    submitted → active (changes requested)."""

    ACTIVE = "active"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REFUSED = "refused"
    RELEASED = "released"
    EXPIRED = "expired"


# Claims holding one of the need's slots, and those still in the claimant's hands.
HOLDING: tuple[ClaimState, ...] = (ClaimState.ACTIVE, ClaimState.SUBMITTED, ClaimState.APPROVED)
PENDING: tuple[ClaimState, ...] = (ClaimState.ACTIVE, ClaimState.SUBMITTED)


class ProposalState(StrEnum):
    """A proposal: open → closed (with an `Outcome`); an advice proposal waits in `deciding`
    for its decision makers after the advice period."""

    OPEN = "open"
    DECIDING = "deciding"
    CLOSED = "closed"


class Outcome(StrEnum):
    """How a closed proposal ended."""

    PASSED = "passed"
    NOT_PASSED = "not passed"
    BLOCKED = "blocked"
    NO_QUORUM = "no quorum"


class Position(StrEnum):
    """A member's position on a proposal, in the order tallies list them."""

    AGREE = "agree"
    ABSTAIN = "abstain"
    DISAGREE = "disagree"
    BLOCK = "block"


POSITIONS: tuple[Position, ...] = tuple(Position)


class CallState(StrEnum):
    """A funding call: open → closed (allocated) / cancelled; `proposed` while held."""

    OPEN = "open"
    PROPOSED = "proposed"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class PitchState(StrEnum):
    """A pitch (bucket): open → funded / unfunded when its call closes."""

    OPEN = "open"
    FUNDED = "funded"
    UNFUNDED = "unfunded"


class Role(StrEnum):
    """What a member may do: everyone contributes; maintainers review and moderate; the
    foundation funds and keeps the books."""

    CONTRIBUTOR = "contributor"
    MAINTAINER = "maintainer"
    FOUNDATION = "foundation"


ROLES: tuple[Role, ...] = tuple(Role)
# The roles a platform or the config may grant (everyone is a contributor).
GRANTED_ROLES: tuple[Role, ...] = (Role.MAINTAINER, Role.FOUNDATION)


class VentureState(StrEnum):
    """A venture: active → left (when its last member leaves)."""

    ACTIVE = "active"
    LEFT = "left"


class EntryState(StrEnum):
    """A receipt or spend of the books: recorded → reversed (never deleted)."""

    RECORDED = "recorded"
    REVERSED = "reversed"


class ReservationState(StrEnum):
    """A funding call's budget reserved from the commons fund: held → settled at close."""

    HELD = "held"
    SETTLED = "settled"


class CardKind(StrEnum):
    """The object a card shows (`bot.ports.Card.kind`)."""

    NEED = "need"
    PROPOSAL = "proposal"
    CALL = "call"


class CardMessage(StrEnum):
    """What a platform message recorded for an object shows (`bot.ports.CardRef.kind`):
    its card, its poll, or the end of its poll."""

    CARD = "card"
    POLL = "poll"
    POLL_END = "pollend"


class DeliveryState(StrEnum):
    """An outbox entry's delivery to one platform: taken (leased to a process, or waiting
    to be tried again) → sent, or failed once given up."""

    TAKEN = "taken"
    SENT = "sent"
    FAILED = "failed"
