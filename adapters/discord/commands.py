"""The slash commands: declared once, registered with discord.py, read back as text commands.

:data:`SLASH` declares every slash command; :func:`register` builds discord.py's command
tree from it (with discord.py's public `describe`/`choices`/`autocomplete` decorators) and
syncs it per guild; :func:`command_text` turns what Discord sends back into the
equivalent text command, so a slash command and a typed command behave identically.
Free text goes after the parser's literal marker `--`, so it is never read as options,
and every command stays within Discord's 8,000 characters (:func:`command_text_size`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands

from bot.chat.parser import COMMANDS, LITERAL
from bot.chat.render import clip
from bot.domain.rules import DECISION_TYPES
from bot.domain.vocabulary import POSITIONS, Outcome

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

AUTOCOMPLETE_MAX = 25
COMMAND_TEXT_MAX = 8000  # name, description and values of a command with all its options

OptKind = Literal["str", "int", "user"]
Render = Literal["word", "key", "skills", "lines", "ref", "mention"]


@dataclass(frozen=True)
class Opt:
    """One option of a slash command and how it is written in the text command.

    Attributes:
        name: the option's name on Discord (lowercase).
        description: shown by Discord's client (at most 100 characters).
        kind: `str`, `int` or `user`.
        required: Discord refuses to send the command without it.
        render: `word` (the value's words as they are), `key` (`name:value`, spaces
            removed), `skills` (each word as `#word`), `lines` (on the next line: a
            description), `ref` (the first word only: an id like `T12`) or `mention`
            (`<@id>` of a user).
        refs: for ids: the letters autocomplete offers (`T`, `P`, `F`, `B`, `V`, `TPFB`), or
            `cmd` for command names.
        choices: fixed values to pick from.
        min_value: for numbers.
        max_value: for numbers.
        max_length: for text.
        key: the text option's key when it differs from `name`.
    """

    name: str
    description: str
    kind: OptKind = "str"
    required: bool = False
    render: Render = "word"
    refs: str = ""
    choices: tuple[str, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None
    key: str | None = None


@dataclass(frozen=True)
class Slash:
    """A slash command: its path on Discord, the core command it runs, its options.

    Attributes:
        path: `("need", "claim")` for `/need claim`, `("whoami",)` for `/whoami`.
        command: the core command (`claim`).
        options: in the order the text command writes them.
    """

    path: tuple[str, ...]
    command: str
    options: tuple[Opt, ...] = ()

    @property
    def description(self) -> str:
        """The core's summary of the command, within Discord's 100 characters."""
        return clip(COMMANDS[self.command].summary, 100)

    @property
    def name(self) -> str:
        """`need claim`."""
        return " ".join(self.path)


def _need(required: bool = True) -> Opt:
    return Opt("need", "the need, like T12", required=required, render="ref", refs="T")


_MEMBER = Opt("member", "whose submitted work (when several are submitted)", kind="user",
              render="mention")
_PAGE = Opt("page", "page number", kind="int", render="key", min_value=1, max_value=100000)
_SKILLS = Opt("skills", "skills, like python web", render="skills", max_length=400)
_VENTURE = Opt("venture", "the venture, like V2", required=True, render="ref", refs="V")
_AMOUNT = Opt("amount", "how much, like 400EUR", required=True, max_length=30)

SLASH: tuple[Slash, ...] = (
    Slash(("need", "offer"), "offer", (
        Opt("title", "what is needed (one line)", required=True, max_length=200),
        _SKILLS,
        Opt("reward", "reward, like 40EUR", render="key", max_length=30),
        Opt("due", "due date, like 2026-12-24 or 10d", render="key", max_length=30),
        Opt("slots", "how many people may work on it at once", kind="int", render="key",
            min_value=1, max_value=50),
        Opt("if_passes", "open it only if this proposal passes, like P3", render="key", key="if",
            max_length=20),
        Opt("description", "more detail", render="lines", max_length=2000))),
    Slash(("need", "list"), "needs", (_SKILLS, _PAGE)),
    Slash(("need", "show"), "task", (_need(),)),
    Slash(("need", "claim"), "claim", (_need(),)),
    Slash(("need", "renew"), "renew", (_need(),)),
    Slash(("need", "release"), "release", (_need(),)),
    Slash(("need", "submit"), "submit", (
        _need(), Opt("work", "a link to the work or a short note", required=True, max_length=1000))),
    Slash(("need", "approve"), "approve", (
        _need(), _MEMBER, Opt("amount", "reward to credit, like 20EUR", render="key", max_length=30),
        Opt("note", "a note for the contributor", max_length=1000))),
    Slash(("need", "changes"), "changes", (
        _need(), _MEMBER, Opt("note", "what should change", required=True, max_length=1000))),
    Slash(("need", "refuse"), "refuse", (
        _need(), _MEMBER, Opt("reason", "why the work is refused", required=True, max_length=1000))),
    Slash(("need", "cancel"), "cancel", (
        _need(), Opt("reason", "why the need is cancelled", required=True, max_length=1000))),
    Slash(("need", "pin"), "pin", (
        _need(), Opt("member", "whose claim to keep from expiring", kind="user", required=True,
                     render="mention"))),
    Slash(("need", "unpin"), "unpin", (
        _need(), Opt("member", "whose pinned claim", kind="user", required=True,
                     render="mention"))),
    Slash(("mine",), "mine"),
    Slash(("watch",), "watch", (Opt("skills", "skills, like python web", required=True,
                                    render="skills", max_length=400),)),
    Slash(("unwatch",), "unwatch", (Opt("skills", "skills, like python web", required=True,
                                        render="skills", max_length=400),)),
    Slash(("watching",), "watching"),
    Slash(("proposal", "open"), "propose", (
        Opt("text", "the proposal (one line)", required=True, max_length=200),
        Opt("type", "the decision type (default consent; /help propose gives each rule)",
            render="key", choices=DECISION_TYPES),
        Opt("deciders", "advice only: the decision makers, like @alice,@bob", render="key",
            max_length=300),
        Opt("hidden", "counts and positions shown only when it closes", render="key",
            choices=("yes", "no")),
        Opt("anonymous", "a secret ballot: positions never published with names", render="key",
            choices=("yes", "no")),
        Opt("closes", "when it closes, like 48h or 2026-12-01T18:00", render="key", max_length=30),
        Opt("quorum", "fewest votes for a valid outcome", kind="int", render="key",
            min_value=1, max_value=100000),
        Opt("description", "more detail", render="lines", max_length=2000))),
    Slash(("proposal", "vote"), "vote", (
        Opt("proposal", "the proposal, like P3", required=True, render="ref", refs="P"),
        Opt("position", "your position", required=True,
            choices=POSITIONS),
        Opt("reason", "required to disagree or block", max_length=1000))),
    Slash(("proposal", "list"), "proposals", (_PAGE,)),
    Slash(("proposal", "show"), "proposal", (
        Opt("proposal", "the proposal, like P3", required=True, render="ref", refs="P"),)),
    Slash(("proposal", "close"), "close", (
        Opt("proposal", "the proposal, like P3", required=True, render="ref", refs="P"),)),
    Slash(("proposal", "decide"), "decide", (
        Opt("proposal", "the advice proposal, like P3", required=True, render="ref", refs="P"),
        Opt("decision", "what you decide", required=True, choices=(Outcome.PASSED, Outcome.NOT_PASSED)),
        Opt("statement", "the decision and why", required=True, max_length=1000))),
    Slash(("proposal", "outcome"), "outcome", (
        Opt("proposal", "the closed proposal, like P3", required=True, render="ref", refs="P"),
        Opt("statement", "what was decided", required=True, max_length=1000),
        Opt("review", "when to review it, like 90d or 2027-06-01", render="key", max_length=30))),
    Slash(("funding", "open"), "fund", (
        Opt("title", "what the call funds (one line)", required=True, max_length=200),
        Opt("budget", "budget, like 5000EUR", required=True, render="key", max_length=30),
        Opt("closes", "when it closes, like 2027-01-31 or 14d", required=True, render="key",
            max_length=30),
        Opt("points", "each member's allowance", kind="int", render="key", min_value=1,
            max_value=1_000_000),
        Opt("if_passes", "open it only if this proposal passes, like P3", render="key", key="if",
            max_length=20),
        Opt("description", "more detail", render="lines", max_length=2000))),
    Slash(("funding", "pitch"), "pitch", (
        Opt("call", "the funding call, like F1", required=True, render="ref", refs="F"),
        Opt("title", "what you would do (one line)", required=True, max_length=200),
        Opt("ask", "how much you ask, like 1200EUR", required=True, render="key", max_length=30),
        Opt("description", "more detail", render="lines", max_length=2000))),
    Slash(("funding", "back"), "back", (
        Opt("pitch", "the pitch, like B4", required=True, render="ref", refs="B"),
        Opt("points", "points of your allowance (0 withdraws)", kind="int", required=True,
            min_value=0, max_value=1_000_000))),
    Slash(("funding", "list"), "calls"),
    Slash(("funding", "show"), "call", (
        Opt("call", "the funding call, like F1", required=True, render="ref", refs="F"),)),
    Slash(("funding", "close"), "closecall", (
        Opt("call", "the funding call, like F1", required=True, render="ref", refs="F"),)),
    Slash(("books", "show"), "books", (
        Opt("period", "a month, like 2026-11 (this month if left out)", render="key", max_length=7),)),
    Slash(("books", "receive"), "receive", (
        _AMOUNT,
        Opt("source", "who gave it: a venture like V2, or @member", required=True, render="key",
            refs="V", max_length=60, key="from"),
        Opt("note", "a note", max_length=500))),
    Slash(("books", "spend"), "spend", (
        _AMOUNT, Opt("purpose", "what it paid for", required=True, max_length=500))),
    Slash(("books", "reverse"), "reverse", (
        Opt("record", "the receipt or spend, like R7 or S3", required=True, render="ref",
            max_length=12),
        Opt("reason", "why it is reversed", required=True, max_length=500))),
    Slash(("books", "paid"), "paid", (_need(), Opt("member", "whom it was paid to (when several)",
                                                   kind="user", render="mention"))),
    Slash(("venture", "register"), "venture", (
        Opt("name", "the venture's name", required=True, max_length=200),
        Opt("pledge", "what it gives back: 10% or 200EUR/month", required=True, render="key",
            max_length=30))),
    Slash(("venture", "list"), "ventures"),
    Slash(("venture", "show"), "venture", (_VENTURE,)),
    Slash(("venture", "member"), "venture", (
        _VENTURE, Opt("action", "add a member or leave", required=True, choices=("add", "leave")),
        Opt("member", "the member to add", kind="user", render="mention"))),
    Slash(("venture", "revenue"), "revenue", (
        _VENTURE, Opt("amount", "revenue, like 4000EUR", required=True, max_length=30),
        Opt("period", "a month, like 2026-11 (this month if left out)", render="key",
            max_length=7))),
    Slash(("ledger",), "ledger", (
        Opt("member", "only this member", kind="user", render="mention"),
        Opt("skill", "only this skill", render="skills", max_length=50))),
    Slash(("log",), "log", (
        Opt("object", "only this need, proposal, call or pitch", render="ref", refs="TPFB"),
        _PAGE)),
    Slash(("whoami",), "whoami"),
    Slash(("link",), "link", (Opt("code", "the code !link gave you on the other platform, or confirm or deny",
                                  render="ref", max_length=20),)),
    Slash(("unlink",), "unlink", (Opt("platform", "matrix, discord or console", required=True,
                                      render="ref", max_length=16),)),
    Slash(("help",), "help", (Opt("command", "one command", render="ref", refs="cmd",
                                  max_length=20),)),
)

# Core commands whose answer is personal (shown only to the member) when they succeed.
PRIVATE_ANSWERS = frozenset({"whoami", "link", "unlink", "mine", "watch", "unwatch", "watching"})
ANSWERED_PRIVATELY = "Answered privately — only you can see the answer below."


def answers_privately(text: str, prefix: str = "!") -> bool:
    """Whether the text command `text` answers privately (when it succeeds)."""
    word = text[len(prefix):].split(maxsplit=1)[0].lower() if text.startswith(prefix) and \
        len(text) > len(prefix) else ""
    return word in PRIVATE_ANSWERS


SLASH_BY_NAME: dict[str, Slash] = {s.name: s for s in SLASH}
# Several slash commands may run one core command (`/venture register`, `/venture show`):
# the first stands for it in usage lines.
SLASH_OF_COMMAND: dict[str, Slash] = {s.command: s for s in reversed(SLASH)}
GROUP_DESCRIPTIONS = {
    "need": "Needs and claims: offer, list, claim, submit, review, pin",
    "proposal": "Proposals: open, vote, list, show, close, decide, outcome",
    "funding": "Funding calls: open, pitch, back, close",
    "books": "The foundation's books: show, receive, spend, reverse, paid",
    "venture": "Ventures: register, list, show, members, revenue",
}


def flatten_options(data: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The command path and the leaf options of an application command's ``data``.

    ``{"name": "need", "options": [{"name": "claim", "type": 1, "options": [...]}]}``
    gives ``("need claim", {"need": "T12"})``; the focused option of an autocomplete
    is included with its raw text.
    """
    path = [str(data.get("name", ""))]
    options = list(data.get("options") or [])
    while len(options) == 1 and options[0].get("type") in (1, 2):
        path.append(str(options[0]["name"]))
        options = list(options[0].get("options") or [])
    return " ".join(path), {str(o["name"]): o.get("value") for o in options}


def focused_option(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(name, text typed so far) of the option being autocompleted, or None."""
    options = list(data.get("options") or [])
    while options:
        nxt: list[dict[str, Any]] = []
        for o in options:
            if o.get("focused"):
                return str(o["name"]), str(o.get("value") or "")
            if o.get("type") in (1, 2):
                nxt.extend(o.get("options") or [])
        options = nxt
    return None


def _words(value: Any) -> str:
    # A value is one line on Discord; collapse any whitespace run anyway.
    return " ".join(str(value).split())


def command_text(data: Mapping[str, Any], prefix: str = "!") -> str | None:
    """The text command a slash command stands for, or None if it is not one of ours.

    ``/need approve need:T3 member:@bob note:great`` becomes ``!approve T3 <@bob-id> great``;
    the core parses it exactly as if it had been typed.
    """
    name, values = flatten_options(data)
    slash = SLASH_BY_NAME.get(name)
    if slash is None:
        return None
    first: list[str] = [f"{prefix}{slash.command}"]
    # Free text (a title, a note) goes last, after the parser's literal marker, so that
    # `/need offer title:"Innocent slots:50"` sets no slots: it stays exactly as written.
    free: list[str] = []
    lines: list[str] = []
    for opt in slash.options:
        value = values.get(opt.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if opt.render == "ref":
            first.append(str(value).split()[0])
        elif opt.render == "key":
            first.append(f"{opt.key or opt.name}:{''.join(str(value).split())}")
        elif opt.render == "skills":
            first.extend("#" + s.lstrip("#") for s in re.split(r"[\s,]+", str(value)) if s.lstrip("#"))
        elif opt.render == "mention":
            first.append(f"<@{int(value)}>")
        elif opt.render == "lines":
            lines.append(str(value).strip())
        else:
            free.append(_words(value))
    if free:
        first += [LITERAL, *free]
    return "\n".join([" ".join(first), *lines])


def slash_usage(command: str) -> str | None:
    """`/need claim need:<need>` for the core command `claim`, or None."""
    slash = SLASH_OF_COMMAND.get(command)
    if slash is None:
        return None
    parts = [f"/{slash.name}"]
    parts.extend(f"{o.name}:<{o.name}>" if o.required else f"[{o.name}]" for o in slash.options)
    return " ".join(parts)


_USAGE_RE = re.compile(r"usage: `(?P<prefix>\S{1,3}?)(?P<cmd>[a-z]+)(?P<rest>[^`]*)`")


def with_slash_usage(text: str) -> str:
    """Add the slash form beside the text usage the core's errors end with."""

    def sub(m: re.Match[str]) -> str:
        slash = slash_usage(m.group("cmd"))
        return m.group(0) + (f" · on Discord `{slash}`" if slash else "")

    return _USAGE_RE.sub(sub, text, count=1)


def command_text_size(command: Mapping[str, Any]) -> int:
    """Characters Discord counts against a command's 8,000: names, descriptions and values,
    of the command and of all its options, subcommands and choices."""
    size = len(str(command.get("name", ""))) + len(str(command.get("description", "")))
    for choice in command.get("choices") or []:
        size += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    return size + sum(command_text_size(o) for o in command.get("options") or [])


def command_suggestions(typed: str) -> list[tuple[str, str]]:
    """Command names for `/help`'s autocomplete."""
    t = typed.strip().lstrip("!/").lower()
    return [(n, s.summary) for n, s in COMMANDS.items() if n.startswith(t)][:AUTOCOMPLETE_MAX]


# ---------------------------------------------------------------------- registration


async def register(tree: app_commands.CommandTree[Any], adapter: DiscordAdapter,
                   guild_ids: list[int]) -> None:
    """Build every slash command of :data:`SLASH` and sync them to each guild.

    Raises:
        ValueError: a command would exceed Discord's 8,000 characters.
    """
    guilds = [discord.Object(id=g) for g in guild_ids]
    groups: dict[str, app_commands.Group] = {}
    tops: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = []
    for slash in SLASH:
        cmd = app_commands.Command(name=slash.path[-1], description=slash.description,
                                   callback=_callback(adapter, slash))
        if len(slash.path) == 1:
            tops.append(cmd)
            continue
        group = groups.get(slash.path[0])
        if group is None:
            group = app_commands.Group(name=slash.path[0], description=GROUP_DESCRIPTIONS[slash.path[0]])
            groups[slash.path[0]] = group
            tops.append(group)
        group.add_command(cmd)
    for top in tops:
        size = command_text_size(top.to_dict(tree))
        if size > COMMAND_TEXT_MAX:
            raise ValueError(f"/{top.name}: {size} characters of names, descriptions and values; "
                             f"Discord allows {COMMAND_TEXT_MAX}")
        tree.add_command(top, guilds=guilds)
    for g in guilds:
        await tree.sync(guild=g)


def _callback(adapter: DiscordAdapter, slash: Slash):  # type: ignore[no-untyped-def]
    """A callback whose signature declares the slash command's typed options.

    discord.py reads options from the callback's signature; the values themselves are
    read back from the interaction's raw data by :func:`command_text`.
    """

    async def callback(interaction: discord.Interaction[Any], **_options: Any) -> None:
        await adapter.on_slash(interaction)

    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=discord.Interaction)]
    descriptions: dict[str, str] = {}
    choices: dict[str, list[app_commands.Choice[str]]] = {}
    completers: dict[str, Any] = {}
    for opt in sorted(slash.options, key=lambda o: not o.required):
        annotation: Any
        if opt.kind == "user":
            annotation = discord.User
        elif opt.kind == "int":
            annotation = app_commands.Range[int, opt.min_value, opt.max_value]
        elif opt.max_length:
            annotation = app_commands.Range[str, 1, opt.max_length]
        else:
            annotation = str
        params.append(inspect.Parameter(
            opt.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
            default=inspect.Parameter.empty if opt.required else None))
        descriptions[opt.name] = opt.description
        if opt.choices:
            choices[opt.name] = [app_commands.Choice(name=c, value=c) for c in opt.choices]
        if opt.refs:
            completers[opt.name] = _completer(adapter, opt.refs)
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    decorated: Any = app_commands.describe(**descriptions)(callback)
    if choices:
        decorated = app_commands.choices(**choices)(decorated)
    if completers:
        decorated = app_commands.autocomplete(**completers)(decorated)
    return decorated


def _completer(adapter: DiscordAdapter, refs: str):  # type: ignore[no-untyped-def]
    async def complete(interaction: discord.Interaction[Any],
                       current: str) -> list[app_commands.Choice[str]]:
        from adapters.discord.translate import autocomplete_choices

        if refs == "cmd":
            items = command_suggestions(current)
        else:
            community = adapter.community_of(interaction.channel_id, interaction.guild_id)
            if community is None:
                return []
            found = await adapter.runtime.call(adapter.core.suggest, community.id, refs, current)
            items = [(s.ref, s.title) for s in found]
        return [app_commands.Choice(name=c["name"], value=c["value"]) for c in autocomplete_choices(items)]

    return complete
