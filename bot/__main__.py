"""The `commons-bot` command line: console, run, web, scheduler, digest, audit, export, init,
backup, restore, docs, check-config, db upgrade.

Each subcommand is one `cmd_*` function plus one `_register` line in `build_parser`.
Every expected failure (a bad config, an unset variable, an unreachable database, a
refused login) reaches `main` as a `ConfigError` or `CliError` and is printed there as
one line on stderr with a non-zero exit; nobody sees a traceback for a mistake they can fix.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version

from bot.cli_serve import plugin, serve, serve_board
from bot.config import ConfigError, Settings, database_url, load_settings, unset_env
from bot.errors import CliError, CorruptRow

DEFAULT_CONFIG = "config/example.yaml"
log = logging.getLogger("commons-bot")


def _load(path: str) -> Settings:
    """The settings of `path`, with a usable database URL (or a ConfigError)."""
    settings = load_settings(path)
    try:
        database_url(settings)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return settings


def _platforms(settings: Settings) -> list[str]:
    return [p for p in ("matrix", "discord")
            if getattr(settings, p) is not None and any(getattr(c, p) for c in settings.communities)]


def _require_env(settings: Settings, path: str) -> None:
    """Refuse to start with a `${VAR}` the config needs unset (named by its key path)."""
    missing = unset_env(settings)
    if missing:
        raise ConfigError(f"{path}: {missing[0]}"
                          + (f" (and {len(missing) - 1} more: commons-bot check-config {path})"
                             if len(missing) > 1 else ""))


def _utc_time(option: str, value: str) -> datetime:
    """The naive UTC time an option gives (`2026-12-01`, `2026-12-01T18:00`, with or without
    an offset or `Z`), or a CliError saying how to write it."""
    try:
        when = datetime.fromisoformat(value.rstrip("Zz"))
    except ValueError:
        raise CliError(f"{option} {value[:30]!r} is not a date — write it like 2026-12-01 or "
                       "2026-12-01T18:00 (UTC)", code=2) from None
    if when.tzinfo is not None:
        when = (when - when.utcoffset()).replace(tzinfo=None)  # type: ignore[operator]
    return when


def _logging(args: argparse.Namespace, level: str) -> None:
    from bot.logs import setup_logging

    setup_logging(level, getattr(args, "log_format", "text"))


# --- subcommands ---------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file: keys, `${VAR}`s, the database URL (and with --connect, that
    the database and the platforms answer)."""
    from bot.checks import connect_checks

    settings = load_settings(args.path)
    problems = [p for p in unset_env(settings) if not p.startswith("database_url:")]
    try:
        database_url(settings)
    except ConfigError as exc:
        problems.insert(0, str(exc))
    if not problems and args.connect:
        problems = connect_checks(settings)
    for c in settings.communities:
        platforms = [p for p in ("console", "matrix", "discord") if getattr(c, p)]
        print(f"{args.path}: community {c.id}: {', '.join(platforms) or 'no platform'}")
    for p in problems:
        print(f"{args.path}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.path}: OK" + (" (database and platforms answer)" if args.connect else ""))
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply migrations to the configured database."""
    from bot.store.db import current_revision, make_engine, upgrade

    settings = _load(args.config)
    engine = make_engine(database_url(settings))
    upgrade(engine)
    print(f"database at revision {current_revision(engine)}")
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    """The embedded default: the console adapter on the configured database."""
    from bot.bootstrap import build_core, fresh_start
    from bot.clock import ManualClock

    start = _utc_time("--clock", args.clock) if args.clock else None
    if start and not args.fresh:
        # A record's clock only moves forward: a start time is for a new record.
        raise CliError("--clock sets the clock of a new record, so it goes with --fresh "
                       "(commons-bot console --fresh --clock 2026-12-05T12:00)", code=2)
    settings = _load(args.config)
    _logging(args, "WARNING")
    if args.fresh:
        print(fresh_start(settings), file=sys.stderr)
    from bot.runtime import Runtime

    runtime = Runtime(build_core(settings, ManualClock(start)))
    console = plugin("console")(runtime, settings)
    asyncio.run(console.start())
    try:
        return console.run()
    finally:
        asyncio.run(console.stop())
        asyncio.run(runtime.close())


def cmd_run(args: argparse.Namespace) -> int:
    """Run every platform the config sets up, over one core, until interrupted."""
    from bot.bootstrap import build_core

    settings = _load(args.config)
    platforms = _platforms(settings)
    if not platforms:
        _logging(args, settings.log_level)
        log.info("no Matrix or Discord set up in %s; starting the console", args.config)
        return cmd_console(argparse.Namespace(**{**vars(args), "fresh": False, "clock": None}))
    _require_env(settings, args.config)
    _logging(args, settings.log_level)
    core = build_core(settings)
    return asyncio.run(serve(core, settings, platforms, board=settings.web is not None))


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the public board alone (read-only); it sees what every bot process records."""
    from bot.store.db import make_engine, upgrade

    settings = _load(args.config)
    _logging(args, settings.log_level)
    engine = make_engine(database_url(settings))
    upgrade(engine)
    engine.dispose()
    return asyncio.run(serve_board(settings))


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Run only the deadline scheduler: no chat platform, announcements go to the outbox.

    Every `run` process schedules deadlines too; this mode is for a deployment that wants
    one process for time alone (and for tests that kill and restart it).
    """
    from bot.bootstrap import build_core

    settings = _load(args.config)
    _logging(args, settings.log_level)
    core = build_core(settings)
    return asyncio.run(serve(core, settings, []))


def cmd_digest(args: argparse.Namespace) -> int:
    """Post the digest of open needs, proposals and calls now, through the outbox.

    A running bot delivers it to every room with its next outbox poll. With a config whose
    only platform is the console, there is no bot to deliver it: it is printed here.
    """
    from bot.bootstrap import build_core
    from bot.chat.render import unescape
    from bot.store.models import OutboxDelivery, OutboxEntry

    settings = _load(args.config)
    _logging(args, "WARNING")
    communities = [c.id for c in settings.communities if args.community in (None, c.id)]
    if not communities:
        raise CliError(f"{args.config}: no community {args.community!r} — communities: "
                       f"{', '.join(c.id for c in settings.communities)}", code=2)
    core = build_core(settings)
    console_only = not _platforms(settings)
    for cid in communities:
        entry = core.post_digest(cid)
        if console_only:
            # Printed here, so the next console session must not print it again.
            with core.unit() as tx:
                s = tx.session
                s.add(OutboxDelivery(outbox_id=entry, platform="console", at=core.clock.now()))
                text = s.get(OutboxEntry, entry).text
            print(unescape(text))
        else:
            print(f"digest of {cid} queued (outbox {entry}); a running bot posts it to every room")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Write `commons-bot.yaml` and a `.env` template in the current folder."""
    from bot.setup_wizard import run_init

    return run_init(args)


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the database to a file, consistently, while the bot may be running."""
    from bot.store.backup import backup

    settings = _load(args.config)
    n = backup(database_url(settings), args.out)
    print(f"backed up {n} rows to {args.out}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Load a backup into the (empty) database the config names, all or nothing.

    A backup cut short, changed after it was written or holding a corrupt row is refused
    with one line naming the problem (exit 2), and nothing is restored.
    """
    from bot.store.backup import restore

    settings = _load(args.config)
    done = restore(database_url(settings), args.infile)
    if done.warning:
        print(f"{args.infile}: warning: {done.warning}", file=sys.stderr)
    print(f"restored {done.rows} rows from {args.infile}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    """Write (or with --check, compare) the command reference, from the bot's own help."""
    from pathlib import Path

    from bot.docs import command_reference

    text = command_reference()
    out = Path(args.out)
    if args.check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            raise CliError(f"{out} is out of date — run: commons-bot docs {out}")
        print(f"{out} is current")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


def _communities(settings: Settings, args: argparse.Namespace) -> list[str]:
    """The communities `--community` names (all by default)."""
    ids = [c.id for c in settings.communities if args.community in (None, c.id)]
    if not ids:
        raise CliError(f"{args.config}: no community {args.community!r} — communities: "
                       f"{', '.join(c.id for c in settings.communities)}", code=2)
    return ids


_NO_SCHEMA = ("the database of {0} cannot be read as a commons-bot database — "
              "run commons-bot db upgrade --config {0} first")


def cmd_audit(args: argparse.Namespace) -> int:
    """Replay the event log from nothing and check every figure against the database.

    Prints `audit: N events replayed, M figures match` per community and exits 0, or the
    first differences and exits 1. An empty record (no events) has nothing to check: that
    is said, with exit 1, so a restore that lost everything cannot pass for a sound one.
    A row commons-bot could not have written is named (exit 1).
    """
    from sqlalchemy.exc import DBAPIError

    from bot.service.audit import audit
    from bot.store.reading import reading_engine

    settings = _load(args.config)
    ids = _communities(settings, args)
    engine = reading_engine(database_url(settings))
    failed = False
    try:
        for cid in ids:
            try:
                report = audit(engine, cid)
            except DBAPIError:
                raise CliError(_NO_SCHEMA.format(args.config), code=2) from None
            prefix = f"{cid}: " if len(ids) > 1 else ""
            if report.ok:
                print(prefix + report.summary())
                failed = failed or report.empty
                continue
            failed = True
            print(f"{prefix}audit: {report.events} events replayed, {len(report.differences)} "
                  f"differences ({report.figures} figures match); the first:")
            for line in report.differences[:10]:
                print(f"  {line}")
    finally:
        engine.dispose()
    return 1 if failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    """Stream one export (events, ledger, needs, proposals, calls, books) as CSV or JSON Lines.

    A row commons-bot could not have written is named (exit 1), and no --out file is left.
    """
    from pathlib import Path

    from sqlalchemy.exc import DBAPIError

    from bot.store.reading import reading_engine
    from bot.views.export import write_export

    since = _utc_time("--since", args.since) if args.since else None
    settings = _load(args.config)
    ids = _communities(settings, args)
    if len(ids) > 1:
        raise CliError(f"{args.config} has several communities — name one with --community "
                       f"({', '.join(ids)})", code=2)
    engine = reading_engine(database_url(settings))
    try:
        if args.out:
            try:
                with open(args.out, "w", encoding="utf-8", newline="") as out:
                    n = write_export(engine, ids[0], args.what, args.format, out, since=since)
            except CorruptRow:
                Path(args.out).unlink(missing_ok=True)  # not a half export passing for a whole one
                raise
            print(f"{n} {args.what} written to {args.out}", file=sys.stderr)
        else:
            write_export(engine, ids[0], args.what, args.format, sys.stdout, since=since)
            sys.stdout.flush()
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {exc.strerror}", code=2) from None
    except DBAPIError:
        raise CliError(_NO_SCHEMA.format(args.config), code=2) from None
    finally:
        engine.dispose()
    return 0


# --- the parser ------------------------------------------------------------------------


def _version() -> str:
    try:
        return version("commons-bot")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's help shows its default."""


def _register(sub, name: str, fn: Callable[[argparse.Namespace], int], help: str,  # type: ignore[no-untyped-def]
              *, config: bool = True) -> argparse.ArgumentParser:
    """Add a subcommand: its parser (with --config and --log-format unless config=False)."""
    p = sub.add_parser(name, help=help, description=(fn.__doc__ or help).strip(), formatter_class=_Help)
    if config:
        p.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE", help="the YAML config file")
        p.add_argument("--log-format", choices=("text", "json"), default="text",
                       help="log lines on stderr as text, or one JSON object per line")
    p.set_defaults(fn=fn)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: one `_register` per subcommand."""
    parser = argparse.ArgumentParser(prog="commons-bot", description=__doc__.split("\n")[0],
                                     formatter_class=_Help)
    parser.add_argument("--version", action="version", version=f"commons-bot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = _register(sub, "console", cmd_console, "play the whole loop in a terminal (SQLite + console)")
    p.add_argument("--fresh", action="store_true",
                   help="start over: empty the database (a SQLite file is kept aside as FILE.old)")
    p.add_argument("--clock", metavar="WHEN", default=None,
                   help="with --fresh: start the clock at this UTC time (like 2026-12-05T12:00) "
                        "instead of now, so a scripted session reads the same on any day")
    _register(sub, "run", cmd_run, "run the Matrix and/or Discord adapters from the config")
    _register(sub, "web", cmd_web, "serve the public board (read-only) of every public community")
    _register(sub, "scheduler", cmd_scheduler, "run only the deadline scheduler (no chat platform)")
    p = _register(sub, "digest", cmd_digest, "post the digest of open needs, proposals and calls now")
    p.add_argument("--community", default=None, help="only this community (default: all)")
    p = _register(sub, "audit", cmd_audit, "replay the event log and check every figure")
    p.add_argument("--community", default=None, help="only this community (default: all)")
    p = _register(sub, "export", cmd_export, "export the record as CSV or JSON Lines")
    p.add_argument("--what", required=True,
                   choices=["events", "ledger", "needs", "proposals", "calls", "books"],
                   help="what to export")
    p.add_argument("--format", default="csv", choices=["csv", "json"], help="CSV, or JSON Lines")
    p.add_argument("--community", default=None, help="the community (needed when there are several)")
    p.add_argument("--since", default=None, help="only records from this UTC date or time on")
    p.add_argument("--out", default=None, help="a file to write (default: stdout)")
    p = _register(sub, "check-config", cmd_check_config, "validate a config file", config=False)
    p.add_argument("path", nargs="?", default=DEFAULT_CONFIG, help="the YAML config file")
    p.add_argument("--connect", action="store_true",
                   help="also check that the database and the platforms' credentials answer")
    p = _register(sub, "init", cmd_init, "write commons-bot.yaml and a .env template here",
                  config=False)
    from bot.setup_wizard import add_arguments

    add_arguments(p)
    p = _register(sub, "backup", cmd_backup, "copy the database to a file (safe while running)")
    p.add_argument("out", metavar="OUT", help="the backup file to write (must not exist)")
    p = _register(sub, "restore", cmd_restore, "load a backup into the empty database of --config")
    p.add_argument("infile", metavar="IN", help="a file written by commons-bot backup")
    p = _register(sub, "docs", cmd_docs, "write the command reference from the bot's own help",
                  config=False)
    p.add_argument("out", nargs="?", default="docs/commands.md", help="where to write it")
    p.add_argument("--check", action="store_true", help="only check that OUT is current")
    p = sub.add_parser("db", help="database maintenance", formatter_class=_Help)
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    _register(dbsub, "upgrade", cmd_db_upgrade, "apply schema migrations")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `commons-bot` command: the one place expected failures become one line."""
    from sqlalchemy.exc import OperationalError

    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except CliError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except CorruptRow as exc:
        print(f"the database holds a row commons-bot did not write: {exc} — correct it, or "
              "restore a good backup", file=sys.stderr)
        return 1
    except OperationalError as exc:
        first = str(exc.orig or exc).strip().splitlines()[0]
        print(f"database: cannot use it: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
