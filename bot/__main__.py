"""The `commons-bot` command line: console, run, scheduler, digest, audit, export, db upgrade,
check-config."""

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
    return asyncio.run(_serve(core, settings, platforms))


def _platforms(settings: Settings) -> list[str]:
    return [p for p in ("matrix", "discord")
            if getattr(settings, p) is not None and any(getattr(c, p) for c in settings.communities)]


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


def _communities(settings: Settings, args: argparse.Namespace) -> list[str] | None:
    """The communities `--community` names (all by default), or None after saying it is unknown."""
    ids = [c.id for c in settings.communities if args.community in (None, c.id)]
    if not ids:
        print(f"{args.config}: no community {args.community!r} — communities: "
              f"{', '.join(c.id for c in settings.communities)}", file=sys.stderr)
        return None
    return ids


_NO_SCHEMA = ("the database of {0} cannot be read as a commons-bot database — "
              "run commons-bot db upgrade --config {0} first")


def cmd_audit(args: argparse.Namespace) -> int:
    """Replay the event log from nothing and check every figure against the database.

    Prints `audit: N events replayed, M figures match` per community and exits 0, or the
    first differences and exits 1.
    """
    from sqlalchemy.exc import DBAPIError

    from bot.service.audit import audit
    from bot.store.reading import reading_engine

    settings = _load(args.config)
    ids = _communities(settings, args)
    if ids is None:
        return 2
    engine = reading_engine(settings.database_url)
    failed = False
    for cid in ids:
        try:
            report = audit(engine, cid)
        except DBAPIError:
            print(_NO_SCHEMA.format(args.config), file=sys.stderr)
            return 2
        prefix = f"{cid}: " if len(ids) > 1 else ""
        if report.ok:
            print(prefix + report.summary())
            continue
        failed = True
        print(f"{prefix}audit: {report.events} events replayed, {len(report.differences)} "
              f"differences ({report.figures} figures match); the first:")
        for line in report.differences[:10]:
            print(f"  {line}")
    engine.dispose()
    return 1 if failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    """Stream one export (events, ledger, needs, proposals, calls) as CSV or JSON Lines."""
    from datetime import datetime

    from sqlalchemy.exc import DBAPIError

    from bot.store.export import write_export
    from bot.store.reading import reading_engine

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since.rstrip("Zz"))
        except ValueError:
            print(f"--since {args.since[:30]!r} is not a date — write it like 2026-12-01 or "
                  "2026-12-01T18:00 (UTC)", file=sys.stderr)
            return 2
        if since.tzinfo is not None:
            since = (since - since.utcoffset()).replace(tzinfo=None)  # type: ignore[operator]
    settings = _load(args.config)
    ids = _communities(settings, args)
    if ids is None:
        return 2
    if len(ids) > 1:
        print(f"{args.config} has several communities — name one with --community "
              f"({', '.join(ids)})", file=sys.stderr)
        return 2
    engine = reading_engine(settings.database_url)
    try:
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                n = write_export(engine, ids[0], args.what, args.format, out, since=since)
            print(f"{n} {args.what} written to {args.out}", file=sys.stderr)
        else:
            write_export(engine, ids[0], args.what, args.format, sys.stdout, since=since)
            sys.stdout.flush()
    except OSError as exc:
        print(f"cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    except DBAPIError:
        print(_NO_SCHEMA.format(args.config), file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _add_record_commands(sub) -> None:  # type: ignore[no-untyped-def]
    """`audit` and `export`: the public record, checked and exported."""
    p = sub.add_parser("audit", help="replay the event log and check every figure")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--community", default=None, help="only this community (default: all)")
    p.set_defaults(fn=cmd_audit)
    p = sub.add_parser("export", help="export the record as CSV or JSON Lines")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--what", required=True, choices=["events", "ledger", "needs", "proposals", "calls"])
    p.add_argument("--format", default="csv", choices=["csv", "json"])
    p.add_argument("--community", default=None, help="the community (needed when there are several)")
    p.add_argument("--since", default=None, help="only records from this UTC date or time on")
    p.add_argument("--out", default=None, help="a file to write (default: stdout)")
    p.set_defaults(fn=cmd_export)


async def _serve(core, settings: Settings, platforms: list[str]) -> int:  # type: ignore[no-untyped-def]
    from bot.runtime import Runtime
    from bot.scheduling import DeadlineScheduler

    runtime = Runtime(core)
    adapters = [_plugin(p)(runtime, settings) for p in platforms]
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
    p = sub.add_parser("scheduler", help="run only the deadline scheduler (no chat platform)")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.set_defaults(fn=cmd_scheduler)
    p = sub.add_parser("digest", help="post the digest of open needs, proposals and calls now")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--community", default=None, help="only this community (default: all)")
    p.set_defaults(fn=cmd_digest)
    _add_record_commands(sub)
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
