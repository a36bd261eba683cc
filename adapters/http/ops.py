"""Health and metrics over HTTP: `GET /healthz` and `GET /metrics`.

`add_ops_routes` adds both to any aiohttp application (the public board mounts them on
its own listener); `OpsServer` serves them on the `http.listen` address of the config
when the process has no other listener.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from adapters.http.guard import listen
from adapters.http.metrics import Metrics
from bot.config import Settings
from bot.ports import Adapter
from bot.runtime import Runtime

log = logging.getLogger(__name__)
METRICS_KEY = web.AppKey("commons_metrics", Metrics)


def add_ops_routes(app: web.Application, runtime: Runtime, settings: Settings,
                   adapters: Sequence[Adapter]) -> Metrics:
    """Add `/healthz` and `/metrics` to `app` and start counting commands.

    Args:
        app: the application (not yet started).
        runtime: the process's runtime (its core's database is checked).
        settings: the configuration: every platform it sets up must be connected.
        adapters: the platform adapters of this process.

    Returns:
        The metrics (call `uninstall()` when the process stops).
    """
    wanted = [p for p in ("matrix", "discord")
              if getattr(settings, p) is not None and any(getattr(c, p) for c in settings.communities)]
    by_platform = {a.platform: a for a in adapters}

    def connected(platform: str):  # type: ignore[no-untyped-def]
        adapter = by_platform.get(platform)
        check = getattr(adapter, "is_connected", None)
        return (lambda: bool(check())) if check else (lambda: False)

    metrics = Metrics(runtime.core, {p: connected(p) for p in wanted})
    metrics.install()
    app[METRICS_KEY] = metrics

    async def healthz(_request: web.Request) -> web.Response:
        problems = []
        try:
            await runtime.call(runtime.core.ping)
        except Exception as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
            problems.append(f"database does not answer: {first}")
        problems += [f"{p} is not connected" for p, ok in metrics.connected.items() if not ok()]
        if problems:
            return web.Response(status=503, text="; ".join(problems) + "\n")
        return web.Response(text="ok\n")

    async def metrics_page(_request: web.Request) -> web.Response:
        body = await runtime.call(metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    return metrics


class OpsServer:
    """`/healthz` and `/metrics` on their own listener (`http.listen`), or on the public
    board's listener when both run in one process at the same address.

    Constructed by `commons-bot run` through the `commons_bot.adapters` entry point `http`.

    Args:
        runtime: the bot's runtime.
        settings: the configuration (its `http` section is set).
        adapters: the platforms whose connection `/healthz` reports.
        app: an application already served (the board's); the routes are added to it and
            no listener of its own is opened.
    """

    platform = "http"

    def __init__(self, runtime: Runtime, settings: Settings, adapters: Sequence[Adapter],
                 app: web.Application | None = None) -> None:
        assert settings.http is not None
        self.listen = settings.http
        self._shared = app is not None
        self.app = app if app is not None else web.Application()
        self.metrics = add_ops_routes(self.app, runtime, settings, adapters)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on `http.listen` (unless the routes ride on another application).

        Raises:
            OSError: the address is taken or cannot be bound.
        """
        if self._shared:
            log.info("health and metrics on the public board's listener (/healthz, /metrics)")
            return
        self._runner, _port = await listen(self.app, self.listen.host, self.listen.port)
        log.info("health and metrics on http://%s/healthz and /metrics", self.listen.listen)

    async def stop(self) -> None:
        """Close the listener and stop counting."""
        self.metrics.uninstall()
        if self._runner is not None:
            await self._runner.cleanup()


plugin = OpsServer
