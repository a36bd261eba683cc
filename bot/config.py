"""The YAML configuration: loaded, `${ENV_VAR}` references resolved, validated.

A bad file is refused with one line per problem naming the file, the key and what is
expected, e.g. ``config/example.yaml: communities[0].policies.claim_days: expected a
whole number of at least 1, got 'soon'``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config_problems import describe, key_path
from bot.domain.vocabulary import Role

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_ANY_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_KEYS = {"password", "access_token", "token", "registration_shared_secret"}
# The variable each platform's secret is read from, for the example in a refusal.
SECRET_VARIABLES = {"matrix.password": "MATRIX_PASSWORD", "matrix.access_token": "MATRIX_ACCESS_TOKEN",
                    "discord.token": "DISCORD_TOKEN"}
DEFAULT_DATABASE_URL = "sqlite:///commons.sqlite3"


class ConfigError(Exception):
    """The configuration is unusable; `str()` is the message to print, one line per problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DecisionName = Literal["consent", "significant", "quorum", "emergency", "advice"]


class Decision(_Model):
    """One decision type a community uses (docs/behaviour.md, Decision types); its rule is
    fixed by its name."""

    hours: int | None = Field(None, ge=1, le=24 * 365)


class ApprovalRule(_Model):
    """`{over: 500EUR, count: 2}`: a claim on a need whose reward is over the amount is
    approved when that many different maintainers approve it."""

    over: str
    count: int = Field(ge=1, le=20)

    @field_validator("over")
    @classmethod
    def _amount(cls, v: str) -> str:
        return _amount(v)


def _amount(v: str) -> str:
    from bot.domain.rules import RuleError, parse_money

    try:
        parse_money(v)
    except RuleError as exc:
        raise ValueError(f"expected an amount like 500EUR: {exc}") from None
    return v


class Policies(_Model):
    """Rules a community chooses (docs/behaviour.md; each key in config/example.yaml)."""

    claim_days: int = Field(14, ge=1, le=365)
    max_active_claims: int = Field(3, ge=1, le=100)
    allow_self_approval: bool = False
    proposal_hours: int = Field(72, ge=1, le=24 * 365)
    points: int = Field(100, ge=1, le=1_000_000)
    offer_role: Role = Role.CONTRIBUTOR
    propose_role: Role = Role.CONTRIBUTOR
    pitch_role: Role = Role.CONTRIBUTOR
    digest_cron: str = "0 9 * * mon"
    reminder_days: int = Field(2, ge=0, le=30)
    # Decision types members may choose with `type:`; none listed: all five, with the default
    # durations of docs/behaviour.md, Decision types. `consent` is always available (it is
    # the default) and lasts `proposal_hours` unless given here.
    decisions: dict[DecisionName, Decision] = {}
    # Claims managed by activity: remind a claimant after this many days without a command
    # on the claim (0: off), release the claim after `claim_idle_release_days` (0: never).
    claim_idle_days: int = Field(0, ge=0, le=365)
    claim_idle_release_days: int = Field(0, ge=0, le=365)
    # Spam and newcomers (0 / false: off).
    max_claims_per_day: int = Field(0, ge=0, le=1000)
    new_member_days: int = Field(0, ge=0, le=365)
    new_member_max_claims: int = Field(0, ge=0, le=100)
    submit_requires_link: bool = False
    # N-of-M approvals: [{over: 500EUR, count: 2}]; the highest rule a reward is over holds.
    approvals: list[ApprovalRule] = []
    # The offerer of a need may not approve its claims when its reward is over this amount.
    author_cannot_approve_over: str | None = None

    @field_validator("author_cannot_approve_over")
    @classmethod
    def _limit(cls, v: str | None) -> str | None:
        return None if v is None else _amount(v)

    def decision_hours(self, kind: str) -> int | None:
        """How long a proposal of that type stays open, or None when the community does not
        use the type."""
        from bot.domain.rules import DECISION_HOURS

        chosen = self.decisions.get(kind)  # type: ignore[call-overload]
        if chosen is not None and chosen.hours is not None:
            return chosen.hours
        if kind == "consent":
            return self.proposal_hours
        if kind in DECISION_HOURS and (not self.decisions or chosen is not None):
            return DECISION_HOURS[kind]
        return None

    def decision_types(self) -> list[str]:
        """The decision types available, consent first."""
        from bot.domain.rules import DECISION_TYPES

        return [k for k in DECISION_TYPES if self.decision_hours(k) is not None]
    # The foundation's books (docs/behaviour.md, The books): with `pool: true` funding calls are paid from
    # the commons fund; each receipt puts `operations_share` percent in the operations fund.
    pool: bool = False
    operations_share: int = Field(50, ge=0, le=100)
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")

    @field_validator("digest_cron")
    @classmethod
    def _cron_has_five_fields(cls, v: str) -> str:
        from bot.domain.cron import CronError, trigger

        if len(v.split()) != 5:
            raise ValueError("expected a cron line of five fields, like '0 9 * * mon'")
        try:
            trigger(v)
        except CronError as exc:
            raise ValueError(f"expected a cron line like '0 9 * * mon' (UTC): {exc}") from None
        return v


class RoleLists(_Model):
    """Explicit role holders, as `platform:user` identities (`console:alice`,
    `matrix:@alice:example.org`, `discord:123456789`)."""

    maintainer: list[str] = []
    foundation: list[str] = []


class ConsoleCommunity(_Model):
    """Members of the console, each with its roles (contributor is implied)."""

    members: dict[str, list[Role]] = {}


class MatrixCommunity(_Model):
    """The community's Matrix rooms and how power levels map to roles."""

    rooms: list[str] = []
    power_levels: dict[Literal["maintainer", "foundation"], int] = {"maintainer": 50}
    claim_reaction: str = "✋"

    @field_validator("rooms")
    @classmethod
    def _room_ids(cls, v: list[str]) -> list[str]:
        for room in v:
            # Room version 12 ids carry no server name (`!abc…`); aliases always do.
            if not ((room.startswith("!") and len(room) > 1) or (room.startswith("#") and ":" in room)):
                raise ValueError(f"expected room ids like '!abc:example.org', got {room!r}")
        return v


class DiscordCommunity(_Model):
    """The community's Discord guild and channels, and how Discord roles map to ours."""

    guild: int | None = None
    channels: list[int] = []
    roles: dict[Literal["maintainer", "foundation"], list[str | int]] = {}
    text_commands: bool = False


class CommunityWeb(_Model):
    """Whether the public board shows this community (`web.public: false` hides it)."""

    public: bool = True


class Community(_Model):
    """One community: its rooms on each platform, its roles and its policies."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    name: str = ""
    policies: Policies = Policies()
    roles: RoleLists = RoleLists()
    console: ConsoleCommunity | None = None
    matrix: MatrixCommunity | None = None
    discord: DiscordCommunity | None = None
    web: CommunityWeb = CommunityWeb()


class WebSettings(_Model):
    """The public board (`commons-bot web`, or beside the adapters in `commons-bot run`)."""

    # host:port the board listens on (port 0: any free port).
    listen: str = "127.0.0.1:8080"
    # Where visitors reach the board, e.g. https://commons.example.org; when set, chat
    # replies and announcements link to the pages of the objects they name, and the board
    # serves Atom feeds linking there (a feed is read elsewhere: it needs this address).
    base_url: str | None = None
    # false: no community is served (each community can also hide itself).
    public: bool = True

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        port = v.rpartition(":")[2]
        if not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("expected host:port like '127.0.0.1:8080'")
        return v

    @field_validator("base_url")
    @classmethod
    def _absolute(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", v):
            raise ValueError("expected an address like 'https://commons.example.org'")
        return v.rstrip("/") if v else v

    def host_port(self) -> tuple[str, int]:
        """The host and port to listen on."""
        host, _, port = self.listen.rpartition(":")
        return host or "0.0.0.0", int(port)


class MatrixSettings(_Model):
    """How the bot reaches its Matrix homeserver; secrets come from the environment."""

    homeserver: str = "${MATRIX_HOMESERVER}"
    user_id: str = "${MATRIX_USER_ID}"
    password: str | None = "${MATRIX_PASSWORD}"
    access_token: str | None = "${MATRIX_ACCESS_TOKEN}"
    device_name: str = "commons-bot"
    store_path: str = "state/matrix"
    encryption: bool = True
    # Accept direct-chat invites from members of a community room (other invites: only
    # to the configured rooms).
    direct_messages: bool = True
    # Event type of proposal polls; the content always carries both MSC3381 forms.
    poll_event_type: Literal["org.matrix.msc3381.poll.start", "m.poll.start"] = \
        "org.matrix.msc3381.poll.start"
    # Timeline events per room per sync; a longer gap is fetched with /messages.
    timeline_limit: int = Field(50, ge=1, le=1000)
    # Longest wait between reconnection attempts while the homeserver is unreachable.
    retry_max_seconds: float = Field(5.0, gt=0, le=300)


class DiscordSettings(_Model):
    """How the bot reaches Discord; the token comes from the environment."""

    token: str = "${DISCORD_TOKEN}"
    # How long discord.py waits for the guilds of READY before it is ready (its default).
    guild_ready_timeout: float = Field(2.0, ge=0, le=60)


class HttpSettings(_Model):
    """The listener for health and metrics (`GET /healthz`, `GET /metrics`)."""

    listen: str = "127.0.0.1:9102"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected HOST:PORT like '127.0.0.1:9102'")
        return v

    @property
    def host(self) -> str:
        """The address to bind (brackets of an IPv6 address removed)."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The port to bind."""
        return int(self.listen.rpartition(":")[2])


class Settings(_Model):
    """The whole configuration file."""

    database_url: str = DEFAULT_DATABASE_URL
    # Connections one process keeps open to PostgreSQL, and how many more it may open at a
    # busy moment (docs/database.md, Connections: their sum times the processes must stay under the
    # server's max_connections).
    database_pool_size: int = Field(5, ge=1, le=100)
    database_max_overflow: int = Field(5, ge=0, le=100)
    prefix: str = Field("!", min_length=1, max_length=3)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    communities: list[Community] = Field(min_length=1)
    matrix: MatrixSettings | None = None
    discord: DiscordSettings | None = None
    http: HttpSettings | None = None
    web: WebSettings | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> Settings:
        seen: set[str] = set()
        for c in self.communities:
            if c.id in seen:
                raise ValueError(f"community id {c.id!r} is used twice")
            seen.add(c.id)
        return self

    def community(self, community_id: str) -> Community:
        """The community with that id."""
        for c in self.communities:
            if c.id == community_id:
                return c
        raise KeyError(community_id)

    def served_on_web(self, community_id: str) -> bool:
        """Whether the public board may show this community."""
        web = self.web or WebSettings()
        try:
            return web.public and self.community(community_id).web.public
        except KeyError:
            return False


def _check_secrets(node: Any, path: str, problems: list[str]) -> None:
    """Secrets may only be `${ENV_VAR}` references, so none is ever committed in a file."""
    if isinstance(node, dict):
        for k, v in node.items():
            sub = f"{path}.{k}" if path else str(k)
            if k in SECRET_KEYS and v is not None and not (
                isinstance(v, str) and _ENV_REF.match(v)
            ):
                var = SECRET_VARIABLES.get(sub) or re.sub(r"\W+", "_", sub).strip("_").upper()
                problems.append(
                    f"{sub}: secrets must be an environment reference like "
                    f"'${{{var}}}' (then export {var}=…), not a value written in the file"
                )
            else:
                _check_secrets(v, sub, problems)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_secrets(v, f"{path}[{i}]", problems)


def resolve_env(value: str | None) -> str | None:
    """Replace `${VAR}` references with the environment's values; unset ones give None."""
    if value is None:
        return None
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        got = os.environ.get(m.group(1))
        if got is None:
            missing = True
            return ""
        return got

    out = _ANY_ENV_REF.sub(sub, value)
    return None if missing else out


def parse_settings(data: Any, source: str = "<config>") -> Settings:
    """Validate already-loaded YAML data.

    Raises:
        ConfigError: with one `source: key: problem` line per problem.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    problems: list[str] = []
    _check_secrets(data, "", problems)
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    data = dict(data)
    if os.environ.get("COMMONS_DATABASE_URL"):
        data["database_url"] = os.environ["COMMONS_DATABASE_URL"]
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {key_path(e['loc']) or '(top level)'}: {describe(e)}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read, resolve and validate a YAML config file.

    Raises:
        ConfigError: the file is missing, not YAML, or not a valid configuration.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the file ({exc.strerror}) — copy config/example.yaml "
                          "or write one with: commons-bot init") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{p}: not valid YAML{where}: {problem}") from None
    return parse_settings(data, str(p))


def unset_env(settings: Settings) -> list[str]:
    """Every `${VAR}` the settings name whose variable is not set, as `key.path: …` lines.

    Matrix needs only one of its password and access token, so those two count as one.
    """
    problems: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, str):
            for name in _ANY_ENV_REF.findall(node):
                # An empty value counts as unset: that is what a blank line of .env gives.
                if not os.environ.get(name):
                    problems.append(f"{path}: ${{{name}}} is not set — export {name}=…")

    data = settings.model_dump()
    walk(data, "")
    if settings.matrix is not None:
        either = ("matrix.password", "matrix.access_token")
        if resolve_env(settings.matrix.password) or resolve_env(settings.matrix.access_token):
            problems = [p for p in problems if not p.startswith(either)]
        elif not (settings.matrix.password or settings.matrix.access_token):
            problems.append("matrix: set password: ${MATRIX_PASSWORD} or access_token: "
                            "${MATRIX_ACCESS_TOKEN}")
    return problems


def database_url(settings: Settings) -> str:
    """The database URL with `${VAR}` resolved, checked to parse.

    Raises:
        ConfigError: a variable it names is unset, or it is not a database URL.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = settings.database_url
    url = resolve_env(raw)
    if url is None:
        names = ", ".join(f"${{{n}}}" for n in _ANY_ENV_REF.findall(raw) if os.environ.get(n) is None)
        raise ConfigError(f"database_url: {names} is not set — export it, or write a URL like "
                          f"{DEFAULT_DATABASE_URL} or postgresql://bot@127.0.0.1:5432/commons")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database_url: {_hide_password(url)!r} is not a database URL — expected "
                          f"{DEFAULT_DATABASE_URL} or postgresql://bot@127.0.0.1:5432/commons") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"database_url: {parsed.get_backend_name()!r} is not supported — "
                          "use sqlite:///FILE or postgresql://USER@HOST:5432/DB")
    return url


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
