"""The core: one entry point for commands, one for deadlines, one for the outbox.

It is synchronous on purpose: one ORM transaction runs about five times faster through
synchronous SQLAlchemy than through the asyncio extension (3,400/s against 680/s measured
on a SQLite file here). Async adapters call it through `bot.runtime.Runtime`, which runs
each call in its own small thread pool (`loop.run_in_executor`), so the event loop never
waits on the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine, select

from bot.chat.render import with_page_link
from bot.clock import Clock
from bot.config import Settings
from bot.ports import CommandObserver
from bot.service import deadlines
from bot.service.commands import INTERNAL_ERROR, SECRET_REPLAYED, Commands
from bot.service.deadline_runner import FIRE_GROUP, DeadlineRunner
from bot.service.handlers import HANDLERS
from bot.service.outbox import Outbox, Sending
from bot.service.queries import Queries
from bot.store.models import CommunityRow
from bot.store.tx import Tx

__all__ = ["FIRE_GROUP", "HANDLERS", "INTERNAL_ERROR", "SECRET_REPLAYED", "Core"]

log = logging.getLogger(__name__)


class Core(Commands, DeadlineRunner, Sending, Queries):
    """The platform-neutral bot: commands in, replies and announcements out.

    One facade over its parts, each a mixin in its own module: `Commands`
    (`bot.service.commands`: `handle`), `DeadlineRunner` (`bot.service.deadline_runner`:
    `due`, `fire`, `process_due`, `fire_many`, `next_deadline`, `advance_to`,
    `post_digest`), `Sending` (`bot.service.outbox`: `outbox_begin`, `take_outbox`,
    `outbox_sent`, `outbox_failed`, `drain_outbox`) and `Queries` (`bot.service.queries`:
    what adapters read outside commands — cards, suggestions, adapter state).

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
        self.outbox = Outbox(self.unit, clock)
        # Called after each commit with (community, changed object refs), from whatever
        # thread ran the command or deadline; the scheduler uses it to re-arm jobs at once.
        self.change_listeners: list[Callable[[str, frozenset[str]], None]] = []
        # Told after each command how it went (a `CommandRun`), from the
        # thread that ran it; the metrics of `adapters/http` count commands with it.
        self.command_observer: CommandObserver | None = None
        self._ensure_communities()
        with self.unit() as tx:
            deadlines.init_digests(tx, settings, clock.now())

    def unit(self) -> Tx:
        """A unit of work on this core's database: the one way to open a transaction.

        Use it as a context manager: it commits when the block ends without an exception
        and rolls back otherwise. Its `session` is the ORM session of the same transaction.
        """
        return Tx(self.engine)

    def _ensure_communities(self) -> None:
        with self.unit() as tx:
            s = tx.session
            have = set(s.scalars(select(CommunityRow.id)))
            for c in self.settings.communities:
                if c.id not in have:
                    s.add(CommunityRow(id=c.id, name=c.name or c.id, next_need=1,
                                       next_proposal=1, next_call=1, next_pitch=1))

    def _link(self, text: str, community: str, ref: str | None) -> str:
        """Announcements and replies about an object link to its page on the public board."""
        web = self.settings.web
        if web is None or not web.base_url or not self.settings.served_on_web(community):
            return text
        return with_page_link(text, web.base_url, community, ref)

    def _changed(self, community: str, refs: set[str]) -> None:
        if not refs or not self.change_listeners:
            return
        frozen = frozenset(refs)
        for fn in list(self.change_listeners):
            try:
                fn(community, frozen)
            except Exception:
                log.exception("change listener failed")
