"""The neutral port between the core and the chat platforms.

A handful of frozen dataclasses cross it: an adapter turns a platform event into an
`InboundMessage` (a button press, a reaction or a poll answer becomes the text command
of the `Choice` it stands for) and renders each `Outbound` its own way (Discord embeds
and buttons, Matrix HTML and reactions/polls, plain text on the console).

`CorePort` is everything an adapter (and the runtime and scheduler they stand on) calls
on the core; `bot.service.core.Core` implements it. `Adapter` is what every platform
adapter implements. Every result that crosses is a named record or a domain type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, NewType, Protocol

from bot.clock import Clock
from bot.config import Settings
from bot.domain.rules import Tally
from bot.domain.vocabulary import CardKind, CardMessage, Role

MemberId = NewType("MemberId", int)
CommunityId = NewType("CommunityId", str)
Platform = NewType("Platform", str)


@dataclass(frozen=True)
class InboundMessage:
    """A command as it arrived from a platform.

    Attributes:
        community: the community whose room it came from.
        platform: `console`, `matrix` or `discord`.
        space: the room or channel id (a direct-message room too).
        sender: the sender's id on that platform (`@bob:example.org`, a Discord snowflake).
        sender_name: how the platform displays the sender.
        text: the command text, prefix included (`!claim T1`).
        message_id: the platform's id of the message, used to answer it exactly once;
            None for sources that cannot be redelivered (the console).
        roles: roles the platform grants the sender (power levels, Discord roles); the
            core adds the ones the config lists.
        direct: whether it came from a direct-message room.
        private: whether nobody but the sender and the bot saw its text: a direct chat
            with the bot alone, a Discord slash command (its options are shown to nobody
            else), the console. A link code is accepted only in a private message.
    """

    community: CommunityId
    platform: Platform
    space: str
    sender: str
    sender_name: str
    text: str
    message_id: str | None = None
    roles: frozenset[str] = frozenset()
    direct: bool = False
    private: bool = False


@dataclass(frozen=True)
class Choice:
    """An action offered under a message: a button, a reaction or a numbered option.

    Attributes:
        key: a stable machine name (`claim`, `agree`, `approve`).
        label: what the member sees.
        command: the text command it stands for (`!claim T1`); pressing it runs that.
        ask: when set, the adapter first asks the member for text with this prompt
            (a modal, a follow-up message) and appends the answer to the command.
        role: the role the choice needs, so adapters may mark it for maintainers only.
    """

    key: str
    label: str
    command: str
    ask: str | None = None
    role: Role = Role.CONTRIBUTOR


class CommandOutcome(StrEnum):
    """How a command went, carried by its reply as a value (never read back from the text).

    The values are the `outcome` labels of the command metrics.
    """

    DONE = "ok"
    REFUSED = "refused"  # the member is told why (a "✗" line with the usage)
    FAILED = "error"  # our fault: nothing was changed


@dataclass(frozen=True)
class Outbound:
    """A message from the core.

    Attributes:
        community: the community it belongs to.
        text: Markdown; user text in it is already escaped, so it is never markup.
        kind: `reply` answers a command in its space; `announce` goes to every room of
            the community; `notice` goes to one member (directly where the platform allows);
            `update` says the object `ref` changed (adapters with cards edit them; no text).
        space: for a reply, the space of the command.
        reply_to: for a reply, the platform message id it answers.
        member: for a notice, the member it is for.
        ref: the object it is about (`T1`, `P2`, `F1`), so adapters can show and update a card.
        choices: actions offered with it.
        mentions: members the message is about and may ping.
        private: the reply is for its sender alone (personal lists, errors, link codes):
            adapters deliver it by direct message or an ephemeral reply, never to the room.
        outbox_id: for announcements and notices, their row in the outbox.
        late: an announcement of a deadline that passed while the bot was down.
        outcome: for a reply, how its command went.
    """

    community: CommunityId
    text: str
    kind: Literal["reply", "announce", "notice", "update"] = "reply"
    space: str | None = None
    reply_to: str | None = None
    member: MemberId | None = None
    ref: str | None = None
    choices: tuple[Choice, ...] = ()
    mentions: tuple[MemberId, ...] = ()
    private: bool = False
    outbox_id: int | None = None
    late: bool = False
    outcome: CommandOutcome = CommandOutcome.DONE


@dataclass(frozen=True)
class Card:
    """The current state of an object, for platforms that show and edit cards in place.

    The rendered parts (`title`, `body`, `fields`) are for showing; the structured parts
    (`kind`, `subject`, `state`, `tally`, `quorum`) are for adapters that build something
    of their own (a Matrix poll and its results), so that none parses rendered text.

    Attributes:
        ref: `T1`, `P2` or `F1`.
        title: the headline (escaped Markdown), `T1 · Fix the login crash`.
        body: Markdown lines under it.
        fields: (name, value) pairs shown side by side where the platform can.
        choices: the actions that fit the object's state.
        closed: the object is final (done, cancelled, closed).
        kind: the object it shows: a need, a proposal or a funding call.
        subject: what the object is about, as plain text (a need's or a call's title, a
            proposal's text), not escaped: an adapter escapes it for its own markup.
        state: the object's state as the core keeps it (`open`, `done`, `deciding`, …).
        tally: a proposal's counts of positions, None while they are sealed (hidden or
            secret votes, still open) and for other kinds.
        quorum: a proposal's quorum, None when it has none.
    """

    ref: str
    title: str
    body: str
    fields: tuple[tuple[str, str], ...] = ()
    choices: tuple[Choice, ...] = ()
    closed: bool = False
    kind: CardKind = CardKind.NEED
    subject: str = ""
    state: str = "open"
    tally: Tally | None = None
    quorum: int | None = None


@dataclass(frozen=True)
class CardRef:
    """A platform message that shows an object: its card, its poll, or its poll's end.

    Attributes:
        community: the community of the object.
        ref: the object (`T1`, `P2`).
        space: the room or channel of the message.
        message_id: the platform's id of the message.
        kind: its card, its poll, or its poll's end (what the adapter recorded with
            `remember_card`).
    """

    community: str
    ref: str
    space: str
    message_id: str
    kind: CardMessage


@dataclass(frozen=True)
class Suggestion:
    """An open object offered while a member types its id (autocomplete).

    Attributes:
        ref: `T12`, `P3`, `F1`, `B2` or `V1`.
        title: its title (a proposal's text, a venture's name), plain.
    """

    ref: str
    title: str


@dataclass(frozen=True, order=True)
class Due:
    """One deadline: when, what kind, which row (0 for the digest), which community."""

    at: datetime
    kind: str
    obj_id: int
    community: str


@dataclass(frozen=True)
class DeadlineKey:
    """A deadline an object could have, whether or not it is pending (`claim_expiry` of claim 4)."""

    kind: str
    obj_id: int


@dataclass(frozen=True)
class ObjectDeadlines:
    """The deadlines of some objects, for re-arming jobs after the objects changed.

    Attributes:
        due: their pending deadlines up to the asked time, earliest first.
        keys: every deadline the objects could have, so that a job for one that is no
            longer pending can be dropped.
    """

    due: tuple[Due, ...]
    keys: frozenset[DeadlineKey]


@dataclass(frozen=True)
class Figures:
    """What the metrics endpoint reads from the database at scrape time.

    Attributes:
        backlog: platform → announcements and notices not yet taken.
        counts: figure (`open_needs`, `active_claims`, `open_proposals`,
            `open_funding_calls`) → community → how many.
    """

    backlog: Mapping[str, int] = field(default_factory=dict)
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


FAR = datetime(9000, 1, 1)
"""A time after every deadline (`due(until=FAR)` lists all pending ones), near enough that
adding a reminder offset never overflows `datetime`."""

ChangeListener = Callable[[str, frozenset[str]], None]
"""Told after each commit: (community, refs of the objects that changed)."""
@dataclass(frozen=True)
class CommandRun:
    """How one handled message went, for observers such as the metrics.

    Attributes:
        message: the message as it arrived.
        replies: what the core answered (empty when it was not a command).
        command: the command's name, aliases resolved (`needs` for `!tasks`), or `unknown`.
        outcome: how it went, from its reply (`CommandOutcome`).
        seconds: how long the core took.
    """

    message: InboundMessage
    replies: tuple[Outbound, ...]
    command: str
    outcome: CommandOutcome
    seconds: float


CommandObserver = Callable[[CommandRun], None]
"""Told after each handled message how it went."""


class CorePort(Protocol):
    """Everything adapters, the runtime and the scheduler call on the core.

    Synchronous: async callers run the methods in the runtime's thread pool
    (`bot.runtime.Runtime.call`). `bot.service.core.Core` implements it.
    """

    settings: Settings
    """The validated configuration."""
    clock: Clock
    """Where the core reads the time."""
    prefix: str
    """The command prefix (`!`)."""
    change_listeners: list[ChangeListener]
    """Called after each commit, from the thread that committed (see `ChangeListener`)."""
    command_observer: CommandObserver | None
    """Called after each command, from the thread that ran it (metrics)."""

    # --- commands

    def handle(self, msg: InboundMessage) -> list[Outbound]:
        """Run one command and return its replies (announcements go to the outbox)."""
        ...

    # --- cards

    def card(self, community: str, ref: str) -> Card | None:
        """The current card of `T1`, `P2` or `F1`, or None when there is no such object."""
        ...

    def remember_card(self, platform: str, space: str, message_id: str, community: str, ref: str,
                      kind: CardMessage = CardMessage.CARD) -> None:
        """Record that a platform message shows `ref` (for edits in place and reactions)."""
        ...

    def cards_for(self, platform: str, community: str, ref: str) -> list[CardRef]:
        """Every message on `platform` showing `ref`, oldest first."""
        ...

    def card_of_message(self, platform: str, message_id: str) -> CardRef | None:
        """The card a platform message shows, or None."""
        ...

    # --- members and typing

    def identities(self, member: int, platform: str) -> list[str]:
        """The member's user ids on a platform (to send a notice or a mention)."""
        ...

    def suggest(self, community: str, kinds: str, typed: str = "",
                limit: int = 25) -> list[Suggestion]:
        """Open objects of the kinds (`TPF`) whose id or title matches what is typed."""
        ...

    # --- adapter state

    def kv_get(self, key: str) -> str | None:
        """Read a small piece of adapter state."""
        ...

    def kv_set(self, key: str, value: str) -> None:
        """Store a small piece of adapter state."""
        ...

    # --- outbox

    def outbox_begin(self, platform: str) -> None:
        """On a platform's first start, skip announcements made before it existed."""
        ...

    def take_outbox(self, platform: str, limit: int = 200) -> list[Outbound]:
        """Take entries to send on `platform`, leased to this process."""
        ...

    def outbox_sent(self, platform: str, outbox_ids: list[int]) -> None:
        """The platform accepted these entries."""
        ...

    def outbox_failed(self, platform: str, outbox_id: int, error: str) -> bool:
        """A send failed; True when it will be tried again."""
        ...

    def drain_outbox(self, platform: str, limit: int = 200) -> list[Outbound]:
        """Take entries and mark them sent at once (the console prints them)."""
        ...

    # --- deadlines

    def due(self, until: datetime | None = None, limit: int | None = None) -> list[Due]:
        """Every deadline due at or before `until` (default: now), earliest first."""
        ...

    def fire(self, item: Due) -> bool:
        """Apply one deadline; False when it was already applied."""
        ...

    def process_due(self) -> int:
        """Fire everything due now, in deadline order; how many this call applied."""
        ...

    def next_deadline(self) -> datetime | None:
        """The earliest pending deadline, overdue ones included."""
        ...

    def advance_to(self, target: datetime, clock_set: Callable[[datetime], None]) -> int:
        """Move a manual clock to `target`, firing each deadline at its own time on the way."""
        ...

    def current_deadline(self, community: str, kind: str, obj_id: int) -> Due | None:
        """One deadline as the database has it now, or None when it is no longer pending."""
        ...

    def deadlines_of(self, community: str, refs: frozenset[str], until: datetime) -> ObjectDeadlines:
        """The deadlines of some objects (`T12`, `P3`, `F1`, `digest`) up to `until`."""
        ...

    # --- health and metrics

    def ping(self) -> None:
        """Reach the database once; raises when it cannot be used."""
        ...

    def figures(self, platforms: list[str]) -> Figures:
        """The outbox backlog of `platforms` and the commons' figures, for metrics."""
        ...


class Adapter(Protocol):
    """What every platform adapter implements (console, Matrix, Discord).

    One lifecycle for all: constructed as `Adapter(runtime, settings)` (the runtime is
    `bot.runtime.Runtime`, whose `core` is a `CorePort`; the settings are the whole
    configuration, the adapter reads its own section), refusing a configuration it cannot
    work with by raising `bot.config.ConfigError` with one line that names the platform
    (printed as it is, no traceback); then `start`, and `stop` when the process ends.
    """

    platform: Platform

    async def start(self) -> None:
        """Connect and begin handing inbound messages to the core."""
        ...

    async def send(self, message: Outbound) -> None:
        """Deliver one outbound message to its space, member or rooms.

        A reply with `private=True` goes to its sender alone (a direct message, an
        ephemeral reply), never to the room. Outbox entries may be sent more than once
        (see `bot.runtime.Sender.send`): raise when the platform did not accept one.
        """
        ...

    async def stop(self) -> None:
        """Disconnect cleanly."""
        ...

    def is_connected(self) -> bool:
        """Whether the platform is reachable right now (health checks and metrics ask)."""
        ...
