"""The `commons-bot` command line: console, run, web, scheduler, digest, db upgrade, check-config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from importlib.metadata import entry_points
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings

DEFAULT_CONFIG = "config/example.yaml"
log = logging.getLogger("commons-bot")


def _load(path: str) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None


def _plugin(name: str):  # type: ignore[no-untyped-def]
    """Adapters plug in through the `commons_bot.adapters` entry points, so the core never
    imports them."""
    for ep in entry_points(group="commons_bot.adapters"):
        if ep.name == name:
            return ep.load()
    raise SystemExit(f"the {name} adapter is not installed — pip install 'commons-bot[{name}]'")


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file and say what it sets up."""
    settings = _load(args.path)
    for c in settings.communities:
        platforms = [p for p in ("console", "matrix", "discord") if getattr(c, p)]
        print(f"{args.path}: community {c.id}: {', '.join(platforms) or 'no platform'}")
    print(f"{args.path}: OK")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply migrations to the configured database."""
    from bot.store.db import current_revision, make_engine, upgrade

    settings = _load(args.config)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"database at revision {current_revision(engine)}")
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    """The embedded default: the console adapter on the configured database."""
    from bot.bootstrap import build_core, setup_logging
    from bot.clock import ManualClock

    settings = _load(args.config)
    setup_logging("WARNING")
    clock = ManualClock()
    core = build_core(settings, clock)
    console = _plugin("console")
    community = next((c for c in settings.communities if c.console), settings.communities[0])
    return console(core, clock, community).run()


def cmd_run(args: argparse.Namespace) -> int:
    """Run every platform the config sets up, over one core, until interrupted."""
    from bot.bootstrap import build_core, setup_logging

    settings = _load(args.config)
    setup_logging(settings.log_level)
    platforms = _platforms(settings)
    if not platforms:
        log.info("no Matrix or Discord set up in %s; starting the console", args.config)
        return cmd_console(args)
    core = build_core(settings)
    return asyncio.run(_serve(core, settings, platforms, board=settings.web is not None))


def _platforms(settings: Settings) -> list[str]:
    return [p for p in ("matrix", "discord")
            if getattr(settings, p) is not None and any(getattr(c, p) for c in settings.communities)]


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the public board alone (read-only); it sees what every bot process records."""
    from bot.bootstrap import setup_logging
    from bot.store.db import make_engine, upgrade

    settings = _load(args.config)
    setup_logging(settings.log_level)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return asyncio.run(_serve_board(settings))


async def _serve_board(settings: Settings) -> int:
    board = _plugin("web")(None, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await board.start()
    except OSError as exc:
        print(f"cannot listen on {board.web.listen}: {exc.strerror} — set web.listen in the config",
              file=sys.stderr)
        return 2
    print(f"public board on http://{board.web.listen.rpartition(':')[0] or '0.0.0.0'}:{board.port}/",
          file=sys.stderr)
    try:
        await stop.wait()
    finally:
        await board.stop()
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Run only the deadline scheduler: no chat platform, announcements go to the outbox.

    Every `run` process schedules deadlines too; this mode is for a deployment that wants
    one process for time alone (and for tests that kill and restart it).
    """
    from bot.bootstrap import build_core, setup_logging

    settings = _load(args.config)
    setup_logging(settings.log_level)
    core = build_core(settings)
    return asyncio.run(_serve(core, settings, []))


def cmd_digest(args: argparse.Namespace) -> int:
    """Post the digest of open needs, proposals and calls now, through the outbox.

    A running bot delivers it to every room with its next outbox poll. With a config whose
    only platform is the console, there is no bot to deliver it: it is printed here.
    """
    from bot.bootstrap import build_core, setup_logging
    from bot.chat.render import unescape
    from bot.store.models import OutboxDelivery, OutboxEntry

    settings = _load(args.config)
    setup_logging("WARNING")
    core = build_core(settings)
    communities = [c.id for c in settings.communities if args.community in (None, c.id)]
    if not communities:
        print(f"{args.config}: no community {args.community!r} — communities: "
              f"{', '.join(c.id for c in settings.communities)}", file=sys.stderr)
        return 2
    console_only = not _platforms(settings)
    for cid in communities:
        entry = core.post_digest(cid)
        if console_only:
            # Printed here, so the next console session must not print it again.
            with core.Session() as s, s.begin():
                s.add(OutboxDelivery(outbox_id=entry, platform="console", at=core.clock.now()))
                text = s.get(OutboxEntry, entry).text
            print(unescape(text))
        else:
            print(f"digest of {cid} queued (outbox {entry}); a running bot posts it to every room")
    return 0


async def _serve(core, settings: Settings, platforms: list[str],  # type: ignore[no-untyped-def]
                 board: bool = False) -> int:
    from bot.runtime import Runtime
    from bot.scheduling import DeadlineScheduler

    runtime = Runtime(core)
    adapters = [_plugin(p)(runtime, settings) for p in platforms]
    # The board runs beside the adapters, live from the core's change hooks.
    web = _plugin("web")(runtime, settings) if board else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = []
    scheduler = DeadlineScheduler(runtime)
    try:
        for a in adapters:
            await a.start()
            runtime.attach(a)
            started.append(a)
        if web is not None:
            await web.start()
            started.append(web)
        # After the adapters attach, so that a platform's first start does not skip the
        # announcements of the deadlines caught up here.
        await scheduler.start()
        log.info("running: %s", ", ".join(platforms) or "deadline scheduler only")
        await stop.wait()
    finally:
        await scheduler.shutdown()
        for a in reversed(started):
            await a.stop()
        await runtime.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `commons-bot` command."""
    parser = argparse.ArgumentParser(prog="commons-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("console", help="play the whole loop in a terminal (SQLite + console)")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(fn=cmd_console)
    p = sub.add_parser("run", help="run the Matrix and/or Discord adapters from the config")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("web", help="serve the public board (read-only) of every public community")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(fn=cmd_web)
    p = sub.add_parser("scheduler", help="run only the deadline scheduler (no chat platform)")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(fn=cmd_scheduler)
    p = sub.add_parser("digest", help="post the digest of open needs, proposals and calls now")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--community", default=None, help="only this community (default: all)")
    p.set_defaults(fn=cmd_digest)
    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("path", nargs="?", default=DEFAULT_CONFIG)
    p.set_defaults(fn=cmd_check_config)
    p = sub.add_parser("db", help="database maintenance")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    u = dbsub.add_parser("upgrade", help="apply schema migrations")
    u.add_argument("--config", default=DEFAULT_CONFIG)
    u.set_defaults(fn=cmd_db_upgrade)
    args = parser.parse_args(argv)
    if hasattr(args, "config") and not Path(args.config).exists():
        print(f"{args.config}: no such config file — copy config/example.yaml", file=sys.stderr)
        return 2
    return args.fn(args)


if __name__ == "__main__":
    raise SystemExit(main())
