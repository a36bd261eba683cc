"""The board as a plugin: started by `commons-bot web`, or beside the chat adapters by
`commons-bot run` when the config has a `web:` section."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from adapters.http.guard import listen
from adapters.web.app import make_app, watcher
from bot.config import Settings, WebSettings, database_url
from bot.store.db import make_engine

log = logging.getLogger(__name__)


class WebBoard:
    """Serves the public board on `web.listen`.

    Args:
        runtime: the bot's runtime when the board runs in the bot's process (its core's
            change hooks make pages live at once), or None for a board of its own (it
            then notices changes by polling the database).
        settings: the configuration.
    """

    platform = "web"

    def __init__(self, runtime: Any, settings: Settings) -> None:
        self.settings = settings
        self.web = settings.web or WebSettings()
        self.engine = make_engine(database_url(settings), read_only=True)
        self.app: web.Application = make_app(settings, self.engine)
        self._core = runtime.core if runtime is not None else None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        """Listen (port 0 picks a free port; `port` then says which)."""
        host, port = self.web.host_port()
        if self._core is not None:
            self._core.change_listeners.append(watcher(self.app).on_change)
        self._runner, self.port = await listen(self.app, host, port)
        log.info("public board on http://%s:%s/", host, self.port)

    async def stop(self) -> None:
        """Stop serving."""
        if self._core is not None:
            fn = watcher(self.app).on_change
            if fn in self._core.change_listeners:
                self._core.change_listeners.remove(fn)
        if self._runner is not None:
            await self._runner.cleanup()
        self.engine.dispose()
