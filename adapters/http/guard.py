"""What every HTTP listener of the bot answers, whatever a visitor sends it.

The public board and the health and metrics listener are reachable by anyone. Two rules hold
for both, here and nowhere else:

- Every response carries the security headers: pages, JSON, downloads, the live event
  stream, redirects, 404s, and aiohttp's own answer to a request it could not parse (a
  request line over 8 KB, garbage instead of HTTP), which no application ever sees.
- A visitor cannot flood the log: a request aiohttp could not parse or a visitor who left
  before the answer is one DEBUG line without a traceback, not an ERROR. Anything else that
  goes wrong is still an ERROR with its traceback: that one is ours.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger

# No inline script, style or plugin; only what the same origin serves; never in a frame.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def secure(headers: MutableMapping[str, str]) -> None:
    """Give a response the security headers (a response may bring a stricter CSP of its own).

    Everything served is live data, so it is never kept by a cache without asking again.
    """
    headers.setdefault("Content-Security-Policy", CSP)
    headers.update(HEADERS)
    headers.setdefault("Cache-Control", "no-cache")


async def _on_prepare(_request: web.Request, response: web.StreamResponse) -> None:
    secure(response.headers)


def protect(app: web.Application) -> None:
    """Give every answer of `app`'s routes the security headers as it is prepared: pages,
    streams, redirects and errors alike (`on_response_prepare`). Call before it starts."""
    if _on_prepare not in app.on_response_prepare:
        app.on_response_prepare.append(_on_prepare)


class _Request(web.Request):
    """A request whose answer is secured even when aiohttp answers it itself.

    aiohttp sends `on_response_prepare` only for a request it routed to an application; the
    400 it writes for a request it could not parse never was (aio-libs/aiohttp#6463). Such a
    request has no match info when its answer is prepared (`match_info` asserts it has one).
    """

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        if self._match_info is None:
            secure(response.headers)
        await super()._prepare_hook(response)


class _ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, telling a visitor's mistakes from ours: a request it could not
    parse or a connection the visitor closed is one DEBUG line, without its traceback."""

    def log(self, level: int, msg: object, *args: object, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if exc is True:
            exc = sys.exc_info()[1]
        elif isinstance(exc, tuple):
            exc = exc[1]
        if isinstance(exc, HttpProcessingError | ConnectionError):
            del kw["exc_info"]
            lines = str(getattr(exc, "message", None) or exc).strip().splitlines()
            level, msg, args = logging.DEBUG, f"{msg}: %s", (*args, (lines or [repr(exc)])[0][:200])
        super().log(level, msg, *args, **kw)


SERVER_LOG = _ServerLog(server_logger)


async def listen(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port with the security headers and the quiet server log.

    Args:
        app: the application, not yet started (its routes are all added).
        host: the address to bind.
        port: the port (0: any free port).

    Returns:
        The runner (`cleanup()` it to stop) and the port bound.
    """
    protect(app)
    runner = web.AppRunner(app, access_log=None, logger=SERVER_LOG)
    await runner.setup()
    assert runner.server is not None
    # The public Server.request_factory, making requests of the class above.
    runner.server.request_factory = partial(app._make_request, _cls=_Request)
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = next((a[1] for a in runner.addresses if isinstance(a, tuple)), port)
    return runner, bound
