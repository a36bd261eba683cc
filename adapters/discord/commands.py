"""The slash commands: derived from the core's declarations, registered with discord.py,
read back as text commands.

:data:`SLASH` is one slash command per form of each command of `bot.chat.commands`
(`/need claim` runs `claim`); :func:`register` builds discord.py's command tree from it
(with discord.py's public `describe`/`choices`/`autocomplete` decorators) and syncs it per
guild; :func:`command_text` turns what Discord sends back into the equivalent text
command, so a slash command and a typed command behave identically. Free text goes after
the parser's literal marker `--`, so it is never read as options, and every command stays
within Discord's 8,000 characters (:func:`command_text_size`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import discord
from discord import app_commands

from adapters.discord.translate import autocomplete_choices
from bot.chat.commands import COMMANDS, Arg, Kind, lookup
from bot.chat.parser import LITERAL
from bot.chat.render import clip
from bot.config import Community
from bot.ports import CorePort
from bot.runtime import Runtime

AUTOCOMPLETE_MAX = 25
COMMAND_TEXT_MAX = 8000  # name, description and values of a command with all its options


class SlashHost(Protocol):
    """What the slash commands need of the Discord adapter."""

    runtime: Runtime
    core: CorePort

    async def on_slash(self, interaction: discord.Interaction[Any]) -> None:
        """Run a slash command."""

    def community_of(self, channel_id: int | None, guild_id: int | None) -> Community | None:
        """The community of a channel or guild."""


@dataclass(frozen=True)
class Slash:
    """A slash command: its path on Discord, the core command it runs, its options.

    Attributes:
        path: `("need", "claim")` for `/need claim`, `("whoami",)` for `/whoami`.
        command: the core command (`claim`).
        options: the form's arguments, in the order the text command writes them.
    """

    path: tuple[str, ...]
    command: str
    options: tuple[Arg, ...] = ()

    @property
    def description(self) -> str:
        """The core's summary of the command, within Discord's 100 characters."""
        return clip(COMMANDS[self.command].summary, 100)

    @property
    def name(self) -> str:
        """`need claim`."""
        return " ".join(self.path)


SLASH: tuple[Slash, ...] = tuple(Slash(tuple(form.path.split()), c.name, form.args)
                                 for c in COMMANDS.values() for form in c.forms)
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


ANSWERED_PRIVATELY = "Answered privately — only you can see the answer below."


def answers_privately(text: str, prefix: str = "!") -> bool:
    """Whether the text command `text` answers privately when it succeeds (its declaration
    says so)."""
    word = text[len(prefix):].split(maxsplit=1)[0].lower() if text.startswith(prefix) and \
        len(text) > len(prefix) else ""
    command = lookup(word)
    return command is not None and command.private


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


# Kinds that are one word: a value's first word is taken, as an id is.
_FIRST_WORD = (Kind.REF, Kind.WORD, Kind.COMMAND)


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
        if opt.key:
            first.append(f"{opt.key}:{''.join(str(value).split())}")
        elif opt.kind in _FIRST_WORD:
            first.append(str(value).split()[0])
        elif opt.kind == Kind.SKILLS:
            first.extend("#" + s.lstrip("#") for s in re.split(r"[\s,]+", str(value)) if s.lstrip("#"))
        elif opt.kind == Kind.MEMBER:
            first.append(f"<@{int(value)}>")
        elif opt.kind == Kind.LINES:
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


async def register(tree: app_commands.CommandTree[Any], adapter: SlashHost,
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


def _callback(adapter: SlashHost, slash: Slash):  # type: ignore[no-untyped-def]
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
        if opt.kind == Kind.MEMBER:
            annotation = discord.User
        elif opt.kind == Kind.NUMBER:
            annotation = app_commands.Range[int, opt.min_value, opt.max_value]
        elif opt.longest:
            annotation = app_commands.Range[str, 1, opt.longest]
        else:
            annotation = str
        params.append(inspect.Parameter(
            opt.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
            default=inspect.Parameter.empty if opt.required else None))
        descriptions[opt.name] = opt.description
        if opt.choices:
            choices[opt.name] = [app_commands.Choice(name=c, value=c) for c in opt.choices]
        if opt.kind == Kind.COMMAND:
            completers[opt.name] = _complete_command
        elif opt.refs:
            completers[opt.name] = _ref_completer(adapter, opt.refs)
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    decorated: Any = app_commands.describe(**descriptions)(callback)
    if choices:
        decorated = app_commands.choices(**choices)(decorated)
    if completers:
        decorated = app_commands.autocomplete(**completers)(decorated)
    return decorated


def _ref_completer(adapter: SlashHost, refs: str):  # type: ignore[no-untyped-def]
    """Suggests the open ids with these letters (`T`, `TPFB`) in the interaction's community."""

    async def complete(interaction: discord.Interaction[Any],
                       current: str) -> list[app_commands.Choice[str]]:
        community = adapter.community_of(interaction.channel_id, interaction.guild_id)
        if community is None:
            return []
        found = await adapter.runtime.call(adapter.core.suggest, community.id, refs, current)
        return _choices([(s.ref, s.title) for s in found])

    return complete


async def _complete_command(_interaction: discord.Interaction[Any],
                            current: str) -> list[app_commands.Choice[str]]:
    """Suggests command names."""
    return _choices(command_suggestions(current))


def _choices(items: list[tuple[str, str]]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=c["name"], value=c["value"]) for c in autocomplete_choices(items)]
