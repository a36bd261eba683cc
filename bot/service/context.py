"""Units of work: the bot's own (`Ctx`) and a member's command (`CommandCtx`), with the
session, acting member, roles, clock and the events and outbox entries they queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from bot.chat.parser import Parsed
from bot.config import Community
from bot.domain.rules import is_digits
from bot.domain.vocabulary import Role
from bot.ports import Choice, CommandOutcome, InboundMessage
from bot.store import sql
from bot.store.tx import Tx


class Refusal(Exception):
    """A command that cannot be done; the message is the one line the member sees.

    The transaction is rolled back, so a refused command changes nothing — unless `keep`:
    then what the handler did before refusing is committed with the notices it queued (a
    failed `!link` attempt, which is what limits guessing, and a link code burned because
    it was refused), under the locks it took.
    """

    def __init__(self, message: str, command: str | None = None, keep: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.command = command
        self.keep = keep


@dataclass
class Pending:
    """An outbox entry queued by a handler; `id` is set once it is written."""

    community: str
    at: datetime
    kind: str
    text: str = ""
    ref: str | None = None
    member_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    late: bool = False
    id: int | None = None

    def row(self) -> dict[str, Any]:
        """The values of its outbox row."""
        return dict(community=self.community, at=self.at, kind=self.kind, text=self.text,
                    ref=self.ref, member_id=self.member_id, payload=self.payload, late=self.late)


@dataclass
class Actor:
    """The member acting on a command: enough to name them without another query."""

    id: int
    display_name: str


@dataclass
class Reply:
    """What a handler answers the member, and how the command went.

    A handler returns done replies; the dispatcher makes the refused and failed ones (from
    a `Refusal`, a `ParseError` or an internal error), so the outcome is set where it
    happens and nothing reads the text to learn it.
    """

    text: str
    choices: tuple[Choice, ...] = ()
    private: bool = False
    ref: str | None = None
    # A secret (a link code): private, and its text is never stored, not even to answer
    # the same message again after a crash.
    secret: bool = False
    outcome: CommandOutcome = CommandOutcome.DONE


@dataclass
class Ctx:
    """One unit of work in one community, inside one transaction: the session, the clock
    and the events and outbox entries it queues. The bot's own actions (deadlines, the
    digest, building a card) run in one; a member's command in a `CommandCtx`.

    `member` is None when the bot acts on its own; in a `CommandCtx` it never is.
    """

    tx: Tx
    community: Community
    platform: str
    now: datetime
    prefix: str
    member: Actor | None = None
    roles: frozenset[Role] = frozenset()
    announced: list[Pending] = field(default_factory=list)
    # Appends are written in one multi-row INSERT per table when the handler is done.
    _events: list[dict[str, Any]] = field(default_factory=list)
    _updates: list[str] = field(default_factory=list)
    _outbox: list[Pending] = field(default_factory=list)
    # Objects (`T12`, `P3`, `F1`, `digest`) whose events this unit of work wrote: after
    # commit the core tells its change listeners (the scheduler re-arms their deadlines).
    changed: set[str] = field(default_factory=set)

    @property
    def session(self) -> Session:
        """The ORM session, for the less frequent commands (made on first use)."""
        return self.tx.session

    @property
    def conn(self) -> Tx:
        """The unit of work, for its `execute`: runs the prebuilt statements of `bot.store`
        (after writing pending ORM changes, so they see them)."""
        return self.tx

    @property
    def cid(self) -> str:
        """The community id."""
        return self.community.id

    @property
    def policies(self):  # type: ignore[no-untyped-def]
        """The community's policies."""
        return self.community.policies

    def cmd(self, text: str) -> str:
        """A command as the member would type it, with the prefix."""
        return f"{self.prefix}{text}"

    def refuse(self, message: str) -> Refusal:
        """A refusal (raise it)."""
        return Refusal(message)

    def require(self, role: Role, doing: str) -> None:
        """Refuse unless the member holds `role`."""
        if role not in self.roles:
            raise self.refuse(f"{doing} needs the {role} role — ask a {role} of this community")

    def event(self, kind: str, obj: str, *, happened: datetime | None = None,
              **details: Any) -> None:
        """Append an event to the public log.

        Args:
            kind: what happened (`claim.approved`).
            obj: the object it happened to (`T12`).
            happened: when it happened, if not now (a deadline applied late is recorded at
                the deadline's time).
            details: the facts it decided, enough to replay it (see `bot.service.audit`).
        """
        actor = self.member.id if self.member else None
        self.changed.add(obj)
        self._events.append(dict(community=self.cid, at=happened or self.now, actor_id=actor,
                                 platform=self.platform, kind=kind, object=obj, details=details))

    def deadline_event(self, kind: str, obj: str, deadline: datetime, late: bool,
                       **details: Any) -> None:
        """Append the event of a deadline: at the deadline's time and marked late when the
        bot applies it after downtime, at the time it happens otherwise."""
        if late:
            self.event(kind, obj, happened=deadline, late=True, was_due=deadline.isoformat(), **details)
        else:
            self.event(kind, obj, **details)

    def announce(self, text: str, ref: str | None = None, choices: tuple[Choice, ...] = (),
                 mentions: tuple[int, ...] = (), late: bool = False) -> None:
        """Queue an announcement to every room of the community (sent after commit)."""
        entry = Pending(community=self.cid, at=self.now, kind="announce", ref=ref, text=text,
                        payload=_payload(choices, mentions), late=late)
        self._outbox.append(entry)
        self.announced.append(entry)

    def notice(self, member_id: int, text: str, ref: str | None = None,
               choices: tuple[Choice, ...] = ()) -> None:
        """Queue a message for one member (directly where the platform allows)."""
        self._outbox.append(Pending(community=self.cid, at=self.now, kind="notice", member_id=member_id,
                                    ref=ref, text=text, payload=_payload(choices, (member_id,))))

    def updated(self, ref: str) -> None:
        """Tell adapters that show cards that the object changed."""
        if ref not in self._updates:
            self._updates.append(ref)

    def write_log(self) -> None:
        """Write the queued events and outbox entries (call before commit).

        Plain table inserts, not the ORM, in the order the handler queued them (which is the
        order adapters deliver them in); a lone outbox entry gets its id back.
        """
        conn = self.conn
        if self._events:
            # A lone event as one row: a list takes the executemany path, which costs about
            # twice as much for a single row (45 µs a command on the bench machine).
            conn.execute(sql.EVENT_INSERT, self._events[0] if len(self._events) == 1 else self._events)
            self._events.clear()
        for r in self._updates:
            self._outbox.append(Pending(community=self.cid, at=self.now, kind="update", ref=r))
        self._updates.clear()
        if self._outbox:
            rows = [p.row() for p in self._outbox]
            if len(rows) == 1:
                self._outbox[0].id = conn.execute(sql.OUTBOX_INSERT, rows[0]).scalar()
            else:
                # Several rows in one statement; their ids are not needed back.
                conn.execute(sql.OUTBOX_INSERT_MANY, rows)
            self._outbox.clear()

    def name_of(self, member_id: int | None) -> str:
        """A member's display name (escaped)."""
        from bot.chat.render import esc

        if member_id is None:
            return "nobody"
        if self.member is not None and member_id == self.member.id:
            return esc(self.member.display_name)
        name = self.conn.execute(sql.MEMBER_NAME, {"m": member_id}).scalar()
        return esc(name) if name is not None else f"member {member_id}"

    def find_member(self, token: str) -> Row[Any] | None:
        """The member a `@name` argument means: an identity on this platform or a display name."""
        raw = token.strip()
        candidates = [raw, raw.lstrip("@")]
        m = raw.removeprefix("<@").removeprefix("!").removesuffix(">")
        if is_digits(m):
            candidates.append(m)
        for cand in candidates:
            row = self.conn.execute(sql.MEMBER_OF_IDENTITY, {"c": self.cid, "p": self.platform,
                                                             "u": cand}).first()
            if row:
                return row
        name = raw.lstrip("@").lower()
        hits = self.conn.execute(sql.LIVE_MEMBERS, {"c": self.cid}).all()
        hits = [h for h in hits if h.display_name.lower() == name]
        return hits[0] if len(hits) == 1 else None


@dataclass(kw_only=True)
class CommandCtx(Ctx):
    """The unit of work of one member's command: the dispatcher builds it once the command
    is parsed and its sender known, so handlers never check for None."""

    member: Actor
    msg: InboundMessage
    parsed: Parsed

    def refuse(self, message: str, *, keep: bool = False) -> Refusal:
        """A refusal for the current command (raise it); its reply shows the usage. With
        `keep`, what the handler did so far is committed (see `Refusal`)."""
        return Refusal(message, self.parsed.name, keep)

    def lock_member(self) -> None:
        """Hold the acting member's row until commit, before checking a per-member limit.

        Under PostgreSQL's READ COMMITTED, counting a member's claims or points and then
        writing is a race between two connections of the same member; the row lock
        serialises them, and each statement after it sees what the previous holder
        committed. Linked identities share one member, so this covers them too. (SQLite
        takes the database's write lock at BEGIN, which serialises anyway.)
        """
        if self.tx.connection.dialect.name != "sqlite":
            self.tx.execute(sql.MEMBER_LOCK, {"m": self.member.id})


def _payload(choices: tuple[Choice, ...], mentions: tuple[int, ...]) -> dict[str, Any]:
    return {
        "choices": [
            {"key": c.key, "label": c.label, "command": c.command, "ask": c.ask, "role": c.role}
            for c in choices
        ],
        "mentions": list(mentions),
    }
