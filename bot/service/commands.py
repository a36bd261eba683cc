"""Handling one inbound message: parse it, find the sender's member and roles, run the
command's handler in one transaction, and answer (`Commands`, a mixin of `Core`).

A message id seen before is answered with the replies it got the first time.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.chat.commands import COMMANDS, lookup, usage
from bot.chat.parser import Parsed, ParseError, parse
from bot.chat.render import MAX_REPLY, clip
from bot.chat.text import clean, clean_line, is_clean_id
from bot.clock import Clock
from bot.config import Community, Settings
from bot.domain.vocabulary import GRANTED_ROLES, Role
from bot.logs import COMMAND
from bot.ports import CommandObserver, CommandOutcome, CommandRun, InboundMessage, Outbound
from bot.service import (  # noqa: F401 (each binds its handlers on import)
    activity,
    books,
    decisions,
    funding,
    guide,
    handlers,
    identity,
    needs,
    proposals,
    record,
    review,
    ventures,
)
from bot.service.context import Actor, CommandCtx, Refusal, Reply
from bot.service.outbox import choices_of
from bot.store import sql
from bot.store.retry import RETRIES, backoff, retryable
from bot.store.tx import Tx

# Logged as the core's, as before the core was split: log filters and alerts name it.
log = logging.getLogger("bot.service.core")

# Every module of handlers is imported above, so each has bound its commands (@handles).
handlers.check()

SECRET_REPLAYED = ("That message was answered already, privately; for a new link code send the "
                   "link command again.")
INTERNAL_ERROR = ("Something went wrong on our side with that command; nothing was changed. "
                  "Try again, and tell a maintainer if it keeps happening.")


def _to_json(o: Outbound, secret: bool = False) -> dict:  # type: ignore[type-arg]
    text = SECRET_REPLAYED if secret else o.text
    return {"text": text, "private": o.private, "ref": o.ref,
            "choices": [c.__dict__ for c in o.choices], "outcome": o.outcome}


def _refused(text: str) -> Reply:
    """The one line a member gets for what they typed wrong or may not do."""
    return Reply("✗ " + text, private=True, outcome=CommandOutcome.REFUSED)


def _failed() -> Reply:
    """The answer to a command that failed on our side."""
    return Reply(INTERNAL_ERROR, private=True, outcome=CommandOutcome.FAILED)


def _shown(msg: InboundMessage, parsed: Parsed | None = None) -> str:
    """The command as logs may show it: a `!link` code is a secret, so only its name."""
    if parsed is not None and parsed.name == "link":
        return "link …"
    return msg.text[:200]


class Commands:
    """The entry point for commands; `Core` sets the attributes and methods it uses."""

    settings: Settings
    unit: Callable[[], Tx]
    clock: Clock
    prefix: str
    command_observer: CommandObserver | None
    _link: Callable[[str, str, str | None], str]
    _changed: Callable[[str, set[str]], None]

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
            self.command_observer(self._run_record(msg, out, time.perf_counter() - t0))
        return out

    def _run_record(self, msg: InboundMessage, out: list[Outbound], seconds: float) -> CommandRun:
        """How a message went, named and classified here, where its replies are written."""
        text = msg.text
        word = (text[len(self.prefix):].split(None, 1)[0].lower()
                if text.startswith(self.prefix) and len(text) > len(self.prefix) else "")
        spec = lookup(word)
        command = spec.name if spec is not None else "unknown"
        outcome = out[0].outcome if out else CommandOutcome.DONE
        return CommandRun(msg, tuple(out), command, outcome, seconds)

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
            return [self._reply(msg, _refused(text))]
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
                return [self._reply(msg, _failed())]
            except Exception:
                log.exception("command %r failed", _shown(msg, parsed))
                return [self._reply(msg, _failed())]
        raise AssertionError("unreachable")

    def _run(self, msg: InboundMessage, parsed: Parsed, community: Community) -> list[Outbound]:
        tx = self.unit()
        try:
            now = self.clock.now()
            member, roles = self._member(tx, community, msg, now)
            ctx = CommandCtx(tx=tx, community=community, member=member, roles=roles,
                             platform=msg.platform, now=now, prefix=self.prefix, msg=msg,
                             parsed=parsed)
            try:
                handlers.may_use(ctx)
                reply = handlers.HANDLERS[parsed.name](ctx)
                if COMMANDS[parsed.name].private:
                    reply.private = True
                activity.touch(ctx)
                ctx.write_log()
            except Refusal as exc:
                if exc.keep:
                    ctx.write_log()
                else:
                    # A refused command changes nothing: undo whatever the handler began.
                    # Only the record that the message was answered is kept.
                    tx.rollback()
                    tx.begin()
                    # A member created by this very command was rolled back with it.
                    if tx.execute(sql.MEMBER_NAME, {"m": ctx.member.id}).first() is None:
                        self._member(tx, community, msg, now)
                reply = _refused(
                    f"{exc.message} · usage: `{usage(exc.command or parsed.name, self.prefix)}`")
            out = self._reply(msg, reply)
            if msg.message_id:
                # Optimistic: a message seen before fails here on the primary key (waiting,
                # on PostgreSQL, for a concurrent first handling to commit) and is answered
                # with its stored replies; what this run did is rolled back.
                try:
                    tx.execute(sql.HANDLED_INSERT, {
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
        seen = tx.execute(sql.HANDLED_LOOKUP, {"p": msg.platform, "m": msg.message_id}).scalar() or []
        # Replies stored before outcomes were stored count as done.
        return [self._reply(msg, Reply(r["text"], choices_of(r["choices"]), r["private"], r["ref"],
                                       outcome=CommandOutcome(r.get("outcome", CommandOutcome.DONE))))
                for r in seen]

    def _reply(self, msg: InboundMessage, reply: Reply) -> Outbound:
        text = reply.text if reply.private else self._link(reply.text, msg.community, reply.ref)
        return Outbound(community=msg.community, text=clip(text, MAX_REPLY), kind="reply",
                        space=msg.space, reply_to=msg.message_id, ref=reply.ref,
                        choices=reply.choices, private=reply.private, outcome=reply.outcome)

    def _member(self, tx: Tx, community: Community, msg: InboundMessage,
                now: datetime) -> tuple[Actor, frozenset[Role]]:
        """The sender's member (created on first contact) and the roles they hold."""
        name = clip(msg.sender_name or msg.sender, 200)
        rows = tx.execute(sql.IDENTITY_LOOKUP, {"c": community.id, "p": msg.platform,
                                               "u": msg.sender}).all()
        keys = {f"{r[4]}:{r[5]}" for r in rows} | {f"{msg.platform}:{msg.sender}"}
        if rows:
            member_id, ident_id, ident_name, member_name = rows[0][:4]
            if ident_name != name:
                # Follow the platform's display name unless the member chose another one.
                tx.execute(sql.IDENTITY_RENAME, {"_id": ident_id, "display_name": name})
                if member_name == ident_name:
                    tx.execute(sql.MEMBER_RENAME, {"_id": member_id, "display_name": name})
                    member_name = name
            actor = Actor(member_id, member_name)
        else:
            member_id = tx.execute(sql.MEMBER_INSERT, {"community": community.id, "display_name": name,
                                                      "created_at": now}).scalar_one()
            tx.execute(sql.IDENTITY_INSERT, {"community": community.id, "platform": msg.platform,
                                            "user_id": msg.sender, "display_name": name,
                                            "member_id": member_id})
            actor = Actor(member_id, name)
        return actor, self._roles(community, msg, keys)

    @staticmethod
    def _roles(community: Community, msg: InboundMessage, keys: set[str]) -> frozenset[Role]:
        """Roles from the platform, the console's members and the config's lists."""
        roles = {Role.CONTRIBUTOR} | {Role(r) for r in msg.roles if r in GRANTED_ROLES}
        if msg.platform == "console" and community.console:
            roles |= set(community.console.members.get(msg.sender, []))
        if not keys.isdisjoint(community.roles.maintainer):
            roles.add(Role.MAINTAINER)
        if not keys.isdisjoint(community.roles.foundation):
            roles.add(Role.FOUNDATION)
        return frozenset(roles)
