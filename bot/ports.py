"""The neutral port between the core and the chat platforms.

A handful of frozen dataclasses cross it: an adapter turns a platform event into an
`InboundMessage` (a button press, a reaction or a poll answer becomes the text command
of the `Choice` it stands for) and renders each `Outbound` its own way (Discord embeds
and buttons, Matrix HTML and reactions/polls, plain text on the console).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NewType, Protocol

from bot.domain.vocabulary import ROLES, Role  # noqa: F401 (ROLES re-exported)

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


@dataclass(frozen=True)
class Card:
    """The current state of an object, for platforms that show and edit cards in place.

    Attributes:
        ref: `T1`, `P2` or `F1`.
        title: the headline (escaped Markdown).
        body: Markdown lines under it.
        fields: (name, value) pairs shown side by side where the platform can.
        choices: the actions that fit the object's state.
        closed: the object is final (done, cancelled, closed).
    """

    ref: str
    title: str
    body: str
    fields: tuple[tuple[str, str], ...] = ()
    choices: tuple[Choice, ...] = ()
    closed: bool = False


@dataclass(frozen=True)
class Identity:
    """A member's identity on one platform."""

    platform: Platform
    user_id: str
    display_name: str


class Adapter(Protocol):
    """What every platform adapter implements (console, Matrix, Discord)."""

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
