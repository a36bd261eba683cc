"""How `run`, `scheduler` and `web` serve until a signal: adapters plugged in by entry
point, the board, the health and metrics endpoint, and the deadline scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from importlib.metadata import entry_points

from bot.config import ConfigError, Settings
from bot.errors import CliError
from bot.ports import CorePort

log = logging.getLogger("commons-bot")


def plugin(name: str):  # type: ignore[no-untyped-def]
    """Adapters plug in through the `commons_bot.adapters` entry points, so the core never
    imports them."""
    for ep in entry_points(group="commons_bot.adapters"):
        if ep.name == name:
            return ep.load()
    extra = "http" if name == "http" else name
    raise CliError(f"the {name} adapter is not installed — pip install 'commons-bot[{extra}]'")


async def serve(core: CorePort, settings: Settings, platforms: list[str],
                board: bool = False) -> int:
    """Run the adapters of `platforms` (and the board when `board`) over `core`, with the
    deadline scheduler, until SIGINT or SIGTERM."""
    from bot.runtime import Runtime
    from bot.scheduling import DeadlineScheduler

    runtime = Runtime(core)
    adapters = [plugin(p)(runtime, settings) for p in platforms]
    # The board runs beside the adapters, live from the core's change hooks.
    web = plugin("web")(runtime, settings) if board else None
    # Health and metrics when the config asks for them: on the board's listener when both
    # name the same address, else on their own.
    ops = None
    if settings.http is not None:
        shared = web is not None and settings.web is not None and settings.web.listen == settings.http.listen
        ops = plugin("http")(runtime, settings, adapters, *([web.app] if shared else []))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = []
    scheduler = DeadlineScheduler(runtime)
    try:
        if ops is not None and web is None:
            await ops.start()
        for a in adapters:
            try:
                await a.start()
            except Exception as exc:
                problem = _start_failure(a.platform, exc)
                if problem is None:
                    raise
                with contextlib.suppress(Exception):
                    await a.stop()  # let go of what the failed start opened
                raise CliError(problem) from None
            runtime.attach(a)
            started.append(a)
        if web is not None:
            await web.start()
            started.append(web)
            if ops is not None:
                await ops.start()
        # After the adapters attach, so that a platform's first start does not skip the
        # announcements of the deadlines caught up here.
        await scheduler.start()
        log.info("running: %s", ", ".join(platforms) or "deadline scheduler only")
        await stop.wait()
    finally:
        await scheduler.shutdown()
        for a in reversed(started):
            await a.stop()
        if ops is not None:
            await ops.stop()
        await runtime.close()
    return 0


def _start_failure(platform: str, exc: Exception) -> str | None:
    """The one line for a platform that could not start, or None for an unexpected error."""
    if isinstance(exc, ConfigError):
        return str(exc)  # the adapter's own refusal names its platform already
    if isinstance(exc, OSError | TimeoutError | ValueError):
        return f"{platform}: could not connect: {exc}"
    # A platform library's own refusal (discord.LoginFailure, …), known here only by name:
    # the core imports no platform library.
    if type(exc).__name__ in ("LoginFailure", "PrivilegedIntentsRequired"):
        return f"{platform}: login refused: {exc}"
    return None


async def serve_board(settings: Settings) -> int:
    """Serve the public board alone, with no core, until SIGINT or SIGTERM."""
    board = plugin("web")(None, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await board.start()
    except OSError as exc:
        raise CliError(f"cannot listen on {board.web.listen}: {exc.strerror} — set web.listen in the config",
                       code=2) from None
    print(f"public board on http://{board.web.listen.rpartition(':')[0] or '0.0.0.0'}:{board.port}/",
          file=sys.stderr)
    try:
        await stop.wait()
    finally:
        await board.stop()
    return 0
