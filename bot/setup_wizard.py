"""`commons-bot init`: write a commented `commons-bot.yaml` and a `.env` template.

Interactive by default (each question shows its default; Enter takes it); with
`--non-interactive`, flags answer and defaults fill in the rest. Secrets are only ever
written to `.env` (mode 0600), and only those the admin typed in; the YAML refers to them
as `${VAR}`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
from pathlib import Path
from typing import Any

import yaml

from bot.config import ConfigError, parse_settings
from bot.errors import CliError

CONFIG_NAME = "commons-bot.yaml"
ENV_NAME = ".env"
PLATFORMS = ("console", "matrix", "discord")
# The secrets each platform reads, with what they are for.
SECRETS = {
    "matrix": [("MATRIX_HOMESERVER", "the homeserver's client URL, e.g. https://matrix.example.org", False),
               ("MATRIX_USER_ID", "the bot's Matrix id, e.g. @commons-bot:example.org", False),
               ("MATRIX_PASSWORD", "the bot account's password (or set MATRIX_ACCESS_TOKEN)", True),
               ("MATRIX_ACCESS_TOKEN", "an access token instead of the password", True)],
    "discord": [("DISCORD_TOKEN", "the bot token (Developer Portal → Bot → Reset Token)", True)],
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `commons-bot init` (each one answers a question)."""
    p.add_argument("--non-interactive", action="store_true",
                   help="ask nothing: flags answer, defaults fill in the rest")
    p.add_argument("--name", default="Our commons", help="the community's name")
    p.add_argument("--id", default=None, help="the community's id (default: from the name)")
    p.add_argument("--platforms", default="console",
                   help="comma-separated: console, matrix, discord")
    p.add_argument("--matrix-room", action="append", default=[], metavar="ROOM",
                   help="a Matrix room id or alias (repeat for several)")
    p.add_argument("--discord-guild", type=int, default=None, help="the Discord server id")
    p.add_argument("--discord-channel", action="append", type=int, default=[], metavar="ID",
                   help="a Discord channel id for announcements (repeat for several)")
    p.add_argument("--maintainer", action="append", default=[], metavar="PLATFORM:USER",
                   help="a maintainer, e.g. matrix:@alice:example.org (repeat for several)")
    p.add_argument("--foundation", action="append", default=[], metavar="PLATFORM:USER",
                   help="a foundation member (repeat for several)")
    p.add_argument("--database", default="sqlite:///commons.sqlite3",
                   help="database URL (sqlite:///FILE or postgresql://USER@HOST:5432/DB)")
    p.add_argument("--force", action="store_true", help=f"overwrite an existing {CONFIG_NAME} and {ENV_NAME}")


def _ask(question: str, default: str) -> str:
    answer = input(f"{question} [{default}]: ").strip()
    return answer or default


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:32]
    return slug if slug and slug[0].isalnum() else "commons"


def _answers(args: argparse.Namespace) -> dict[str, Any]:
    """The answers: from flags, and (interactive) from questions for what flags left open."""
    a: dict[str, Any] = {"name": args.name, "id": args.id, "platforms": args.platforms,
                         "rooms": list(args.matrix_room), "guild": args.discord_guild,
                         "channels": list(args.discord_channel), "maintainer": list(args.maintainer),
                         "foundation": list(args.foundation), "database": args.database, "secrets": {}}
    if not args.non_interactive:
        a["name"] = _ask("Community name", a["name"])
        a["id"] = _ask("Community id (lowercase letters, digits, - and _)", a["id"] or _slug(a["name"]))
        a["platforms"] = _ask("Platforms (console, matrix, discord; comma-separated)", a["platforms"])
    a["id"] = a["id"] or _slug(a["name"])
    platforms = [p.strip().lower() for p in a["platforms"].split(",") if p.strip()]
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown or not platforms:
        raise CliError(f"--platforms: {', '.join(unknown) or 'nothing'} is not a platform — "
                       "use console, matrix and/or discord, e.g. --platforms matrix,discord", code=2)
    a["platforms"] = platforms
    if not args.non_interactive:
        if "matrix" in platforms and not a["rooms"]:
            a["rooms"] = _ask("Matrix rooms (comma-separated ids or aliases)",
                              "#commons:example.org").split(",")
        if "discord" in platforms and a["guild"] is None:
            a["guild"] = int(_ask("Discord server (guild) id", "0")) or None
        if "discord" in platforms and not a["channels"]:
            a["channels"] = [int(c) for c in _ask("Discord channel ids (comma-separated)", "").split(",")
                             if c.strip()]
        a["maintainer"] = [m for m in _ask("Maintainers (platform:user, comma-separated)",
                                           ",".join(a["maintainer"])).split(",") if m.strip()]
        a["foundation"] = [m for m in _ask("Foundation members (platform:user, comma-separated)",
                                           ",".join(a["foundation"])).split(",") if m.strip()]
        a["database"] = _ask("Database URL", a["database"])
        for platform in platforms:
            for var, what, secret in SECRETS.get(platform, []):
                read = getpass.getpass if secret else input
                value = read(f"{var} — {what} (Enter: leave empty, fill in {ENV_NAME} later): ").strip()
                if value:
                    a["secrets"][var] = value
    a["rooms"] = [r.strip() for r in a["rooms"] if r.strip()]
    return a


def _q(value: Any) -> str:
    """A YAML scalar or flow list, quoted as YAML needs it."""
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip() \
        .removesuffix("\n...").removesuffix("...").strip()


def render_config(a: dict[str, Any]) -> str:
    """The commented YAML for the answers (secrets only as `${VAR}`)."""
    platforms = a["platforms"]
    db = a["database"]
    db_line = "${COMMONS_DATABASE_URL}" if a.get("db_in_env") else db
    lines = [
        "# commons-bot configuration, written by `commons-bot init`.",
        "# Check it:  commons-bot check-config commons-bot.yaml   (add --connect to try the credentials)",
        "# Secrets are never written here: `${NAME}` reads the environment variable NAME",
        f"# (see {ENV_NAME}; load it with `set -a; . ./{ENV_NAME}; set +a` or systemd's EnvironmentFile=).",
        "",
        "# Where everything is stored: sqlite:///FILE or postgresql://USER@HOST:5432/DB",
        f"database_url: {_q(db_line)}",
        'prefix: "!"          # what starts a command',
        "log_level: INFO      # DEBUG, INFO, WARNING or ERROR (stderr)",
        "",
        "# Health (GET /healthz) and Prometheus metrics (GET /metrics) for `commons-bot run`:",
        "# uncomment to listen (keep it on loopback, or behind your reverse proxy).",
        "# http:",
        "#   listen: 127.0.0.1:9102",
    ]
    if "matrix" in platforms:
        lines += ["", "matrix:", "  homeserver: ${MATRIX_HOMESERVER}", "  user_id: ${MATRIX_USER_ID}",
                  "  password: ${MATRIX_PASSWORD}          # first login only; or use access_token",
                  "  access_token: ${MATRIX_ACCESS_TOKEN}",
                  "  store_path: state/matrix              # the device and crypto store: keep and back up",
                  "  encryption: true"]
    if "discord" in platforms:
        lines += ["", "discord:", "  token: ${DISCORD_TOKEN}"]
    lines += ["", "communities:", f"  - id: {_q(a['id'])}", f"    name: {_q(a['name'])}",
              "    policies:",
              "      claim_days: 14              # a claim expires after this many days unless renewed",
              "      max_active_claims: 3        # active claims one member may hold at once",
              "      proposal_hours: 72          # default time a proposal stays open",
              "      points: 100                 # each member's allowance per funding call",
              '      digest_cron: "0 9 * * mon"  # when the digest of open needs is posted (UTC)',
              "    # Explicit role holders as platform:user (console:alice, matrix:@alice:example.org,",
              "    # discord:123456789012345678), on top of what the platforms grant.",
              "    roles:", f"      maintainer: {_q(a['maintainer'])}",
              f"      foundation: {_q(a['foundation'])}"]
    if "console" in platforms:
        members = {m.split(":", 1)[1]: [role] for role in ("maintainer", "foundation")
                   for m in a[role] if m.startswith("console:")}
        members = members or {"alice": ["maintainer"], "bob": [], "fundco": ["foundation"]}
        lines += ["    console:                      # members who act in `commons-bot console` (/as NAME)",
                  "      members:"] + [f"        {_q(m)}: {_q(r)}" for m, r in members.items()]
    if "matrix" in platforms:
        lines += ["    matrix:", f"      rooms: {_q(a['rooms'])}",
                  "      power_levels: {maintainer: 50, foundation: 100}"]
    if "discord" in platforms:
        lines += ["    discord:", f"      guild: {_q(a['guild'])}", f"      channels: {_q(a['channels'])}",
                  "      roles: {maintainer: [maintainer], foundation: [foundation]}"]
    return "\n".join(lines) + "\n"


def render_env(a: dict[str, Any]) -> str:
    """The `.env` template: every variable the config reads, with what was typed in."""
    lines = ["# Environment of commons-bot: secrets live here, never in commons-bot.yaml.",
             "# Keep this file private (mode 0600) and out of version control."]
    if a.get("db_in_env"):
        lines += ["", "# The database URL holds a password.", f"COMMONS_DATABASE_URL={a['database']}"]
    for platform in a["platforms"]:
        for var, what, _secret in SECRETS.get(platform, []):
            lines += ["", f"# {what}", f"{var}={a['secrets'].get(var, '')}"]
    if len(lines) == 2:
        lines += ["", "# (the console needs no secret)"]
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    """Create `path` with mode 0600 from the start (never world-readable, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)


def run_init(args: argparse.Namespace) -> int:
    """Ask, validate, write; prints what was written and what to do next."""
    config, env = Path(CONFIG_NAME), Path(ENV_NAME)
    existing = [str(p) for p in (config, env) if p.exists()]
    if existing and not args.force:
        raise CliError(f"{' and '.join(existing)} already exist here — keep them, or run "
                       "commons-bot init --force to overwrite", code=2)
    try:
        a = _answers(args)
    except (EOFError, KeyboardInterrupt):
        raise CliError("init: stopped before anything was written") from None
    except ValueError as exc:
        raise CliError(f"init: {exc} — ids are numbers", code=2) from None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        a["db_in_env"] = make_url(a["database"]).password is not None
    except ArgumentError:
        raise CliError(f"--database: {a['database']!r} is not a database URL — expected "
                       "sqlite:///commons.sqlite3 or postgresql://bot@127.0.0.1:5432/commons",
                       code=2) from None
    text = render_config(a)
    try:
        parse_settings(yaml.safe_load(text), CONFIG_NAME)
    except ConfigError as exc:
        raise CliError(str(exc).splitlines()[0], code=2) from None
    holds_secret = bool(a["secrets"]) or a["db_in_env"]
    config.write_text(text, encoding="utf-8")
    _write_private(env, render_env(a))
    print(f"wrote {config} and {env} (mode 0600"
          + (", it holds the secrets you typed" if holds_secret else "; fill in the secrets") + ")")
    print(f"next: set -a; . ./{env}; set +a; commons-bot check-config {config} --connect; "
          f"commons-bot run --config {config}")
    return 0
