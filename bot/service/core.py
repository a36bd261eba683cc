"""The core: one entry point for commands, one for deadlines, one for the outbox.

It is synchronous on purpose: one ORM transaction runs about five times faster through
synchronous SQLAlchemy than through the asyncio extension (3,400/s against 680/s measured
on a SQLite file here). Async adapters call it in a worker thread (`asyncio.to_thread`),
so the event loop never waits on the database.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import aliased

from bot.chat.parser import Parsed, ParseError, parse, usage
from bot.chat.render import MAX_REPLY, clip, with_page_link
from bot.chat.text import clean, clean_line, is_clean_id
from bot.clock import Clock
from bot.config import Community, Settings
from bot.domain.vocabulary import GRANTED_ROLES, Role
from bot.logs import COMMAND
from bot.ports import InboundMessage, Outbound
from bot.service import (
    activity,
    books,
    deadlines,
    decisions,
    digest,
    funding,
    identity,
    misc,
    needs,
    proposals,
    review,
    ventures,
)
from bot.service.context import Actor, Ctx, Refusal, Reply
from bot.service.outbox import Outbox, choices_of
from bot.service.queries import Queries
from bot.store import sql
from bot.store.db import session_factory
from bot.store.models import (
    CommunityRow,
    HandledMessage,
    IdentityRow,
    Member,
)
from bot.store.retry import RETRIES, backoff, retryable, retrying
from bot.store.tx import Runner, Tx

log = logging.getLogger(__name__)

HANDLERS: dict[str, Callable[[Ctx], Reply]] = {
    "offer": needs.offer, "needs": needs.needs, "task": needs.task, "claim": needs.claim,
    "renew": needs.renew, "release": needs.release, "submit": needs.submit,
    "approve": review.approve, "changes": review.changes, "refuse": review.refuse,
    "cancel": needs.cancel, "mine": needs.mine, "watch": needs.watch, "unwatch": needs.unwatch,
    "watching": needs.watching, "pin": activity.pin, "unpin": activity.unpin,
    "propose": proposals.propose, "vote": proposals.vote, "proposals": proposals.proposals,
    "proposal": proposals.proposal, "close": proposals.close, "decide": decisions.decide,
    "outcome": decisions.outcome,
    "fund": funding.fund, "pitch": funding.pitch, "back": funding.back, "calls": funding.calls,
    "call": funding.call, "closecall": funding.closecall,
    "venture": ventures.venture, "ventures": ventures.ventures, "revenue": ventures.revenue,
    "paid": ventures.paid, "receive": books.receive, "spend": books.spend,
    "reverse": books.reverse, "books": books.books,
    "ledger": misc.ledger, "log": misc.log, "whoami": misc.whoami, "link": identity.link,
    "unlink": identity.unlink,
    "help": misc.help_,
}
# Built once: these run for every command, and building a statement costs as much as running it.
_LINKED = aliased(IdentityRow)
# The sender's identity and member, with every identity of that member (one row each; a
# role listed for any linked identity holds for all of them).
_IDENTITY_LOOKUP = (
    select(IdentityRow.member_id, IdentityRow.id, IdentityRow.display_name, Member.display_name,
           _LINKED.platform, _LINKED.user_id)
    .join(Member, Member.id == IdentityRow.member_id)
    .join(_LINKED, _LINKED.member_id == IdentityRow.member_id)
    .where(IdentityRow.community == bindparam("c"), IdentityRow.platform == bindparam("p"),
           IdentityRow.user_id == bindparam("u")))
_HANDLED_LOOKUP = select(HandledMessage.replies).where(
    HandledMessage.platform == bindparam("p"), HandledMessage.message_id == bindparam("m"))
_HANDLED_INSERT = insert(HandledMessage.__table__)
_MEMBER_INSERT = insert(Member.__table__).returning(Member.__table__.c.id)
_IDENTITY_INSERT = insert(IdentityRow.__table__)
_IDENTITY_RENAME = update(IdentityRow.__table__).where(IdentityRow.__table__.c.id == bindparam("_id"))
_MEMBER_RENAME = update(Member.__table__).where(Member.__table__.c.id == bindparam("_id"))
SECRET_REPLAYED = ("That message was answered already, privately; for a new link code send the "
                   "link command again.")
INTERNAL_ERROR = ("Something went wrong on our side with that command; nothing was changed. "
                  "Try again, and tell a maintainer if it keeps happening.")
# Deadlines a catch-up fires per transaction (see Core.fire_many).
FIRE_GROUP = 50


def _to_json(o: Outbound, secret: bool = False) -> dict:  # type: ignore[type-arg]
    text = SECRET_REPLAYED if secret else o.text
    return {"text": text, "private": o.private, "ref": o.ref,
            "choices": [c.__dict__ for c in o.choices]}


def _shown(msg: InboundMessage, parsed: Parsed | None = None) -> str:
    """The command as logs may show it: a `!link` code is a secret, so only its name."""
    if parsed is not None and parsed.name == "link":
        return "link …"
    return msg.text[:200]




class Core(Queries):
    """The platform-neutral bot: commands in, replies and announcements out.

    What adapters read outside commands (cards, suggestions, adapter state) comes from
    its `Queries` mixin (`bot.service.queries`).

    Args:
        settings: the validated configuration.
        engine: a SQLAlchemy engine whose schema is upgraded.
        clock: where the core reads the time.
    """

    def __init__(self, settings: Settings, engine: Engine, clock: Clock) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.prefix = settings.prefix
        self.Session = session_factory(engine)
        self.outbox = Outbox(engine, clock)
        # Called after each commit with (community, changed object refs), from whatever
        # thread ran the command or deadline; the scheduler uses it to re-arm jobs at once.
        self.change_listeners: list[Callable[[str, frozenset[str]], None]] = []
        # Called after each command with (message, replies, seconds it took), from the
        # thread that ran it; the metrics of `adapters/http` count commands with it.
        self.command_observer: Callable[[InboundMessage, list[Outbound], float], None] | None = None
        self._ensure_communities()
        with self.Session() as s, s.begin():
            deadlines.init_digests(s, settings, clock.now())

    # --- commands --------------------------------------------------------------------

    def handle(self, msg: InboundMessage) -> list[Outbound]:
        """Run one command and return the replies (announcements go to the outbox).

        While it runs, log lines name its community, platform and id (`bot.logs.COMMAND`);
        then `command_observer`, when set, is told how it went (metrics).
        """
        token = COMMAND.set(msg)
        t0 = time.perf_counter()
        try:
            out = self._handle(msg)
        finally:
            COMMAND.reset(token)
        if self.command_observer is not None:
            self.command_observer(msg, out, time.perf_counter() - t0)
        return out

    def _handle(self, msg: InboundMessage) -> list[Outbound]:
        """Parse and run one command (see `handle`).

        Never raises for anything a member typed: an unknown command, bad arguments or a
        refused action give one clear line. A message id seen before is answered with the
        replies it got the first time, and runs nothing again.
        """
        msg = dataclasses.replace(msg, text=clean(msg.text),
                                  sender_name=clean_line(msg.sender_name or ""))
        try:
            parsed = parse(msg.text, self.prefix)
            if parsed is not None and not (
                    is_clean_id(msg.sender) and (msg.message_id is None or is_clean_id(msg.message_id))):
                # Refused, not cleaned: `@bob\x00` must never become `@bob`.
                raise ParseError("your account's id has characters this bot cannot store "
                                 "— ask an admin of this room to check the bridge or client")
        except ParseError as exc:
            text = exc.message
            if exc.command:
                text += f" · usage: `{usage(exc.command, self.prefix)}`"
            return [self._reply(msg, Reply("✗ " + text, private=True))]
        if parsed is None:
            return []
        try:
            community = self.settings.community(msg.community)
        except KeyError:
            log.warning("message for unknown community %r", msg.community)
            return []
        for attempt in range(RETRIES):
            try:
                return self._run(msg, parsed, community)
            except (DBAPIError, PoolTimeout) as exc:
                if attempt + 1 < RETRIES and retryable(exc):
                    time.sleep(backoff(attempt))
                    continue
                log.exception("command %r failed", _shown(msg, parsed))
                return [self._reply(msg, Reply(INTERNAL_ERROR, private=True))]
            except Exception:
                log.exception("command %r failed", _shown(msg, parsed))
                return [self._reply(msg, Reply(INTERNAL_ERROR, private=True))]
        raise AssertionError("unreachable")

    def _run(self, msg: InboundMessage, parsed: Parsed, community: Community) -> list[Outbound]:
        tx = Tx(self.engine)
        try:
            now = self.clock.now()
            member, roles = self._member(tx.conn, community, msg, now)
            ctx = Ctx(tx=tx, community=community, member=member, roles=roles,
                      platform=msg.platform, now=now, prefix=self.prefix, msg=msg, parsed=parsed)
            try:
                reply = HANDLERS[parsed.name](ctx)
                activity.touch(ctx)
                ctx.write_log()
            except Refusal as exc:
                # A refused command changes nothing: undo whatever the handler began. Only
                # the record that the message was answered is kept.
                tx.rollback()
                tx.begin()
                # A member created by this very command was rolled back with it.
                if tx.conn.execute(sql.MEMBER_NAME, {"m": ctx.member.id}).first() is None:
                    self._member(tx.conn, community, msg, now)
                for stmt, params in ctx.kept:
                    tx.connection.execute(stmt, params)
                reply = Reply("✗ " + exc.message +
                              f" · usage: `{usage(exc.command or parsed.name, self.prefix)}`",
                              private=True)
            out = self._reply(msg, reply)
            if msg.message_id:
                # Optimistic: a message seen before fails here on the primary key (waiting,
                # on PostgreSQL, for a concurrent first handling to commit) and is answered
                # with its stored replies; what this run did is rolled back.
                try:
                    tx.conn.execute(_HANDLED_INSERT, {
                        "platform": msg.platform, "message_id": msg.message_id, "at": now,
                        "replies": [_to_json(out, reply.secret)]})
                except IntegrityError:
                    tx.rollback()
                    tx.begin()
                    return self._replay(tx, msg)
            tx.commit()
            self._changed(community.id, ctx.changed)
            return [out]
        finally:
            tx.close()

    def _replay(self, tx: Tx, msg: InboundMessage) -> list[Outbound]:
        """The replies a message got when it was first handled."""
        seen = tx.conn.execute(_HANDLED_LOOKUP, {"p": msg.platform, "m": msg.message_id}).scalar() or []
        return [self._reply(msg, Reply(r["text"], choices_of(r["choices"]), r["private"], r["ref"]))
                for r in seen]

    def _link(self, text: str, community: str, ref: str | None) -> str:
        """Announcements and replies about an object link to its page on the public board."""
        web = self.settings.web
        if web is None or not web.base_url or not self.settings.served_on_web(community):
            return text
        return with_page_link(text, web.base_url, community, ref)

    def _reply(self, msg: InboundMessage, reply: Reply) -> Outbound:
        text = reply.text if reply.private else self._link(reply.text, msg.community, reply.ref)
        return Outbound(community=msg.community, text=clip(text, MAX_REPLY), kind="reply",
                        space=msg.space, reply_to=msg.message_id, ref=reply.ref,
                        choices=reply.choices, private=reply.private)

    def _member(self, conn: Runner, community: Community, msg: InboundMessage,
                now: datetime) -> tuple[Actor, frozenset[str]]:
        """The sender's member (created on first contact) and the roles they hold."""
        name = clip(msg.sender_name or msg.sender, 200)
        rows = conn.execute(_IDENTITY_LOOKUP, {"c": community.id, "p": msg.platform,
                                               "u": msg.sender}).all()
        keys = {f"{r[4]}:{r[5]}" for r in rows} | {f"{msg.platform}:{msg.sender}"}
        if rows:
            member_id, ident_id, ident_name, member_name = rows[0][:4]
            if ident_name != name:
                # Follow the platform's display name unless the member chose another one.
                conn.execute(_IDENTITY_RENAME, {"_id": ident_id, "display_name": name})
                if member_name == ident_name:
                    conn.execute(_MEMBER_RENAME, {"_id": member_id, "display_name": name})
                    member_name = name
            actor = Actor(member_id, member_name)
        else:
            member_id = conn.execute(_MEMBER_INSERT, {"community": community.id, "display_name": name,
                                                      "created_at": now}).scalar_one()
            conn.execute(_IDENTITY_INSERT, {"community": community.id, "platform": msg.platform,
                                            "user_id": msg.sender, "display_name": name,
                                            "member_id": member_id})
            actor = Actor(member_id, name)
        return actor, self._roles(community, msg, keys)

    @staticmethod
    def _roles(community: Community, msg: InboundMessage, keys: set[str]) -> frozenset[str]:
        """Roles from the platform, the console's members and the config's lists."""
        roles = {Role.CONTRIBUTOR} | {r for r in msg.roles if r in GRANTED_ROLES}
        if msg.platform == "console" and community.console:
            roles |= set(community.console.members.get(msg.sender, []))
        if not keys.isdisjoint(community.roles.maintainer):
            roles.add(Role.MAINTAINER)
        if not keys.isdisjoint(community.roles.foundation):
            roles.add(Role.FOUNDATION)
        return frozenset(roles)

    def _ensure_communities(self) -> None:
        with self.Session() as s, s.begin():
            have = set(s.scalars(select(CommunityRow.id)))
            for c in self.settings.communities:
                if c.id not in have:
                    s.add(CommunityRow(id=c.id, name=c.name or c.id, next_need=1,
                                       next_proposal=1, next_call=1, next_pitch=1))

    # --- deadlines -------------------------------------------------------------------

    def due(self, until: datetime | None = None, limit: int | None = None) -> list[deadlines.Due]:
        """Every deadline due at or before `until` (default: now), earliest first."""
        now = self.clock.now()
        until = until or now
        with self.Session() as s:
            items: list[deadlines.Due] = []
            for c in self.settings.communities:
                items.extend(deadlines.due_items(s, c, until, limit, now=min(now, until)))
        items.sort()
        return items[:limit] if limit else items

    def fire(self, item: deadlines.Due) -> bool:
        """Apply one deadline in its own transaction; False when it was already applied."""
        community = self.settings.community(item.community)
        for attempt in range(RETRIES):
            try:
                with Tx(self.engine) as tx:
                    ctx = Ctx(tx=tx, community=community, member=None,  # type: ignore[arg-type]
                              roles=frozenset(), platform="bot", now=self.clock.now(),
                              prefix=self.prefix)
                    done = deadlines.fire(ctx, item)
                    ctx.write_log()
                self._changed(item.community, ctx.changed)
                return done
            except (DBAPIError, PoolTimeout) as exc:
                if attempt + 1 < RETRIES and retryable(exc):
                    time.sleep(backoff(attempt))
                    continue
                raise
        return False

    def process_due(self) -> int:
        """Fire everything that is due now, in deadline order. Idempotent.

        Returns:
            How many deadlines this call applied (ones applied before, here or by another
            process, are not counted).
        """
        fired = 0
        while True:
            batch = self.due(limit=500)
            applied = 0
            for i in range(0, len(batch), FIRE_GROUP):
                applied += self.fire_many(batch[i:i + FIRE_GROUP])
            fired += applied
            # A full batch where nothing applied is one another process is firing right now
            # (or one that keeps failing): stop instead of spinning; the next run retries.
            if len(batch) < 500 or not applied:
                return fired

    def fire_many(self, items: list[deadlines.Due]) -> int:
        """Apply deadlines in order, several in one transaction; the same as `fire` on each.

        A catch-up fires hundreds in a row, and per transaction a connection check, BEGIN
        and COMMIT cost as much as a deadline's own statements on PostgreSQL. If anything
        goes wrong the group is undone and each is fired in its own transaction, with
        retries, so one broken deadline never holds back the others.

        Returns:
            How many were applied here.
        """
        if len(items) > 1:
            done: list[tuple[str, set[str]]] = []
            try:
                applied = 0
                with Tx(self.engine) as tx:
                    for item in items:
                        ctx = Ctx(tx=tx, community=self.settings.community(item.community),
                                  member=None, roles=frozenset(), platform="bot",  # type: ignore[arg-type]
                                  now=self.clock.now(), prefix=self.prefix)
                        applied += deadlines.fire(ctx, item)
                        ctx.write_log()
                        done.append((item.community, ctx.changed))
            except Exception:
                log.debug("a group of %d deadlines failed; firing them one by one", len(items),
                          exc_info=True)
            else:
                for community, refs in done:
                    self._changed(community, refs)
                return applied
        applied = 0
        for item in items:
            try:
                applied += self.fire(item)
            except Exception:
                # One broken deadline must not hold back every later one.
                log.exception("deadline %s %s of %s failed", item.kind, item.obj_id, item.community)
        return applied

    def next_deadline(self) -> datetime | None:
        """The earliest pending deadline, overdue ones included (for the console's `/time`)."""
        items = self.due(until=deadlines.FAR, limit=1)
        return items[0].at if items else None

    def advance_to(self, target: datetime, clock_set: Callable[[datetime], None]) -> int:
        """Move a manual clock to `target`, firing each deadline at its own time on the way.

        This is what the scheduler would have done had it run through that time, so the
        console's `/time +3d` shows effects in deadline order and not as late.
        """
        fired = 0
        while True:
            nxt = self.next_deadline()
            if nxt is None or nxt > target:
                break
            clock_set(max(nxt, self.clock.now()))
            n = self.process_due()
            fired += n
            if n == 0 and self.next_deadline() == nxt:
                break  # nothing more can move at this instant
        clock_set(target)
        return fired + self.process_due()

    def post_digest(self, community: str) -> int:
        """Post the digest of a community now (outside its cron), through the outbox.

        Returns:
            The outbox id of the announcement.
        """
        c = self.settings.community(community)
        with Tx(self.engine) as tx:
            ctx = Ctx(tx=tx, community=c, member=None,  # type: ignore[arg-type]
                      roles=frozenset(), platform="bot", now=self.clock.now(), prefix=self.prefix)
            entry = digest.post(ctx)
            ctx.write_log()
            tx.flush()
            return entry.id

    def _changed(self, community: str, refs: set[str]) -> None:
        if not refs or not self.change_listeners:
            return
        frozen = frozenset(refs)
        for fn in list(self.change_listeners):
            try:
                fn(community, frozen)
            except Exception:
                log.exception("change listener failed")

    # --- outbox ----------------------------------------------------------------------

    @retrying
    def outbox_begin(self, platform: str) -> None:
        """On a platform's first start, skip announcements made before it existed."""
        self.outbox.begin(platform)

    @retrying
    def take_outbox(self, platform: str, limit: int = 200) -> list[Outbound]:
        """Take entries to send on `platform`, leased to this process (see `Outbox.take`)."""
        return [self._linked(o) for o in self.outbox.take(platform, limit)]

    @retrying
    def outbox_sent(self, platform: str, outbox_ids: list[int]) -> None:
        """The platform accepted these entries (see `Outbox.sent`)."""
        self.outbox.sent(platform, outbox_ids)

    def _linked(self, o: Outbound) -> Outbound:
        """An announcement about an object links to its page on the public board."""
        if o.kind != "announce":
            return o
        return replace(o, text=self._link(o.text, o.community, o.ref))

    @retrying
    def outbox_failed(self, platform: str, outbox_id: int, error: str) -> bool:
        """A send failed; True when it will be tried again (see `Outbox.failed`)."""
        return self.outbox.failed(platform, outbox_id, error)

    def drain_outbox(self, platform: str, limit: int = 200) -> list[Outbound]:
        """Take entries and mark them sent at once (see `Outbox.drain`)."""
        return [self._linked(o) for o in self.outbox.drain(platform, limit)]
