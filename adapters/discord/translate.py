"""Pure translation between Discord payloads and the core's neutral types.

Nothing here does I/O. Interaction data (the raw ``data`` member of an
INTERACTION_CREATE, as discord.py keeps it in ``Interaction.data``) becomes the text
command the core parses; cards become embeds and buttons; long Markdown becomes pages
under Discord's limits with a visible continuation marker; ``allowed_mentions`` is built
so that only the members a message is about can be pinged.

The slash commands are declared once, in :data:`SLASH`: the adapter registers them from
it and :func:`command_text` turns what Discord sends back into the equivalent text
command, so a slash command and a typed command behave identically.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.chat.parser import COMMANDS
from bot.chat.render import clip, esc
from bot.ports import Card, Choice, CommunityId, InboundMessage, Platform

PLATFORM = Platform("discord")

# Discord's limits (https://discord.com/developers/docs/resources/message).
CONTENT_MAX = 2000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
BUTTONS_PER_ROW = 5
ROWS_MAX = 5
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100
MODAL_TITLE_MAX = 45
TEXT_INPUT_LABEL_MAX = 45
TEXT_INPUT_MAX = 4000
AUTOCOMPLETE_MAX = 25
CHOICE_NAME_MAX = 100

EPHEMERAL = 1 << 6

# ---------------------------------------------------------------------- slash commands

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
        refs: for ids: the letters autocomplete offers (`T`, `P`, `F`, `B`, `TPFB`), or
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

SLASH: tuple[Slash, ...] = (
    Slash(("need", "offer"), "offer", (
        Opt("title", "what is needed (one line)", required=True, max_length=200),
        _SKILLS,
        Opt("reward", "reward, like 40EUR", render="key", max_length=30),
        Opt("due", "due date, like 2026-12-24 or 10d", render="key", max_length=30),
        Opt("slots", "how many people may work on it at once", kind="int", render="key",
            min_value=1, max_value=50),
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
    Slash(("mine",), "mine"),
    Slash(("watch",), "watch", (Opt("skills", "skills, like python web", required=True,
                                    render="skills", max_length=400),)),
    Slash(("unwatch",), "unwatch", (Opt("skills", "skills, like python web", required=True,
                                        render="skills", max_length=400),)),
    Slash(("watching",), "watching"),
    Slash(("proposal", "open"), "propose", (
        Opt("text", "the proposal (one line)", required=True, max_length=200),
        Opt("closes", "when it closes, like 48h or 2026-12-01T18:00", render="key", max_length=30),
        Opt("quorum", "fewest votes for a valid outcome", kind="int", render="key",
            min_value=1, max_value=100000),
        Opt("description", "more detail", render="lines", max_length=2000))),
    Slash(("proposal", "vote"), "vote", (
        Opt("proposal", "the proposal, like P3", required=True, render="ref", refs="P"),
        Opt("position", "your position", required=True,
            choices=("agree", "abstain", "disagree", "block")),
        Opt("reason", "required to disagree or block", max_length=1000))),
    Slash(("proposal", "list"), "proposals", (_PAGE,)),
    Slash(("proposal", "show"), "proposal", (
        Opt("proposal", "the proposal, like P3", required=True, render="ref", refs="P"),)),
    Slash(("proposal", "close"), "close", (
        Opt("proposal", "the proposal, like P3", required=True, render="ref", refs="P"),)),
    Slash(("funding", "open"), "fund", (
        Opt("title", "what the call funds (one line)", required=True, max_length=200),
        Opt("budget", "budget, like 5000EUR", required=True, render="key", max_length=30),
        Opt("closes", "when it closes, like 2027-01-31 or 14d", required=True, render="key",
            max_length=30),
        Opt("points", "each member's allowance", kind="int", render="key", min_value=1,
            max_value=1_000_000),
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
    Slash(("ledger",), "ledger", (
        Opt("member", "only this member", kind="user", render="mention"),
        Opt("skill", "only this skill", render="skills", max_length=50))),
    Slash(("log",), "log", (
        Opt("object", "only this need, proposal, call or pitch", render="ref", refs="TPFB"),
        _PAGE)),
    Slash(("whoami",), "whoami"),
    Slash(("link",), "link", (Opt("code", "the code !link gave you on the other platform",
                                  render="ref", max_length=20),)),
    Slash(("unlink",), "unlink", (Opt("platform", "matrix, discord or console", required=True,
                                      render="ref", max_length=16),)),
    Slash(("help",), "help", (Opt("command", "one command", render="ref", refs="cmd",
                                  max_length=20),)),
)

SLASH_BY_NAME: dict[str, Slash] = {s.name: s for s in SLASH}
SLASH_OF_COMMAND: dict[str, Slash] = {s.command: s for s in SLASH}
GROUP_DESCRIPTIONS = {
    "need": "Needs and claims: offer, list, claim, submit, review",
    "proposal": "Consent proposals: open, vote, list, close",
    "funding": "Funding calls: open, pitch, back, close",
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
            first.append(_words(value))
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


# ---------------------------------------------------------------------- buttons and modals

BUTTON_STYLES = {"primary": 1, "secondary": 2, "success": 3, "danger": 4}
_STYLE_OF_KEY = {"claim": "primary", "submit": "primary", "release": "secondary",
                 "approve": "success", "changes": "secondary", "refuse": "danger",
                 "agree": "success", "abstain": "secondary", "disagree": "secondary",
                 "block": "danger"}
_ROLE_CHARS = {"contributor": "c", "maintainer": "m", "foundation": "f"}
_CHAR_ROLES = {v: k for k, v in _ROLE_CHARS.items()}
# cb:<key>:<ref>:<role>:<command without prefix>[|<prompt>] — everything a press needs,
# so a button on a card posted before a restart works without any state in memory.
CUSTOM_ID_RE = re.compile(
    r"cb:(?P<key>[a-z_]{1,20}):(?P<ref>[A-Z]\d{1,9}):(?P<role>[cmf]):(?P<cmd>[^|]{1,80})"
    r"(?:\|(?P<ask>.{1,45}))?")
MODAL_PREFIX = "cm:"


@dataclass(frozen=True)
class Pressed:
    """What a button's custom id carries.

    Attributes:
        key: the choice's key (`claim`).
        ref: the object (`T12`).
        role: the role the choice needs.
        command: the command without the prefix (`claim T12`).
        ask: the prompt of the text to ask for first, if any.
    """

    key: str
    ref: str
    role: str
    command: str
    ask: str | None

    def text(self, prefix: str, answer: str | None = None) -> str:
        """The text command to run, with the member's answer appended."""
        base = f"{prefix}{self.command}"
        answer = (answer or "").strip()
        return f"{base} {answer}" if answer else base


def custom_id(choice: Choice, ref: str, prefix: str) -> str:
    """The custom id of a card's button (at most 100 characters).

    Raises:
        ValueError: the command itself cannot fit (never for the core's choices).
    """
    command = choice.command[len(prefix):] if choice.command.startswith(prefix) else choice.command
    command = " ".join(command.split())
    base = f"cb:{choice.key}:{ref}:{_ROLE_CHARS.get(choice.role, 'c')}:{command}"
    if len(base) > CUSTOM_ID_MAX or len(command) > 80 or "|" in command:
        raise ValueError(f"choice {choice.key} of {ref} does not fit a custom id")
    if choice.ask:
        ask = choice.ask.replace("|", "/")[: min(TEXT_INPUT_LABEL_MAX, CUSTOM_ID_MAX - len(base) - 1)]
        if ask:
            base += "|" + ask
    return base


def parse_custom_id(value: str) -> Pressed | None:
    """A card button's custom id back into what it stands for; None if it is not ours."""
    m = CUSTOM_ID_RE.fullmatch(value)
    if m is None:
        return None
    return Pressed(m["key"], m["ref"], _CHAR_ROLES[m["role"]], m["cmd"], m["ask"])


def modal_custom_id(button_custom_id: str) -> str:
    """The custom id of the modal a button opens (the button's state, re-prefixed)."""
    return MODAL_PREFIX + button_custom_id[len("cb:"):]


def parse_modal_custom_id(value: str) -> Pressed | None:
    """The button state behind a modal's custom id; None if it is not ours."""
    if not value.startswith(MODAL_PREFIX):
        return None
    return parse_custom_id("cb:" + value[len(MODAL_PREFIX):])


def modal_values(data: Mapping[str, Any]) -> dict[str, str]:
    """Text input values of a modal submit's ``data``, by custom id.

    Inputs come wrapped in action rows (type 1) or, the current way, in labels (type 18).
    """
    out: dict[str, str] = {}

    def walk(components: Iterable[Mapping[str, Any]]) -> None:
        for c in components:
            if c.get("type") == 4 and "custom_id" in c:
                out[str(c["custom_id"])] = str(c.get("value") or "")
            if "components" in c:
                walk(c["components"])
            if isinstance(c.get("component"), Mapping):
                walk([c["component"]])

    walk(data.get("components") or [])
    return out


def modal_title(pressed: Pressed, label: str | None = None) -> str:
    """`Submit · T12`, within the modal title's 45 characters."""
    word = label or pressed.key.replace("_", " ").capitalize()
    return clip(f"{word} · {pressed.ref}", MODAL_TITLE_MAX)


def button_rows(choices: Sequence[Choice], ref: str, prefix: str) -> list[dict[str, Any]]:
    """Action rows of buttons: one row for everyone's choices, one for role-bound ones."""
    groups: list[list[Choice]] = [[c for c in choices if c.role == "contributor"],
                                  [c for c in choices if c.role != "contributor"]]
    rows: list[dict[str, Any]] = []
    for group in groups:
        for i in range(0, len(group), BUTTONS_PER_ROW):
            if len(rows) == ROWS_MAX:
                return rows
            rows.append({"type": 1, "components": [
                {"type": 2, "style": BUTTON_STYLES[_STYLE_OF_KEY.get(c.key, "secondary")],
                 "label": clip(c.label if c.role == "contributor" else f"{c.label} ({c.role}s)",
                               BUTTON_LABEL_MAX),
                 "custom_id": custom_id(c, ref, prefix)}
                for c in group[i:i + BUTTONS_PER_ROW]]})
    return rows


# ---------------------------------------------------------------------- cards

COLOURS = {"T": 0x2ECC71, "P": 0x3498DB, "F": 0xF1C40F}
CLOSED_COLOUR = 0x95A5A6


def card_embed(card: Card) -> dict[str, Any]:
    """A card as an embed payload within every embed limit (body shortened, never silently)."""
    fields = [{"name": clip(name or "—", EMBED_FIELD_NAME_MAX),
               "value": clip(value or "—", EMBED_FIELD_VALUE_MAX), "inline": len(value or "") <= 40}
              for name, value in card.fields[:EMBED_FIELDS_MAX]]
    footer = f"{card.ref} · closed" if card.closed else f"{card.ref} · this card updates itself"
    embed: dict[str, Any] = {
        "title": clip(card.title, EMBED_TITLE_MAX),
        "color": CLOSED_COLOUR if card.closed else COLOURS.get(card.ref[:1], CLOSED_COLOUR),
        "fields": fields,
        "footer": {"text": footer},
    }
    used = len(embed["title"]) + len(footer) + sum(len(f["name"]) + len(f["value"]) for f in fields)
    room = min(EMBED_DESCRIPTION_MAX, EMBED_TOTAL_MAX - used)
    if card.body and room > 20:
        embed["description"] = clip(card.body, room)
    return embed


def card_components(card: Card, prefix: str) -> list[dict[str, Any]]:
    """The card's buttons (none once it is closed)."""
    if card.closed:
        return []
    return button_rows(card.choices, card.ref, prefix)


# ---------------------------------------------------------------------- text

_CONT_NEXT = "\n*(continued below · {i}/{n})*"
_CONT_PREV = "*(continued · {i}/{n})*\n"
_MARK_ROOM = 64  # both markers, with page numbers up to three digits


def paginate(text: str, limit: int = CONTENT_MAX) -> list[str]:
    """Split Markdown into messages of at most `limit` characters.

    Splits at line ends, else at spaces, never inside a backslash escape; an inline code
    span cut in two is closed and reopened. Every page of a split text says it is part
    `i/n`, so nothing is ever cut silently.
    """
    text = text.strip("\n") or "…"
    if len(text) <= limit:
        return [text]
    budget = limit - _MARK_ROOM
    pages: list[str] = []
    rest = text
    carry_code = False
    while rest:
        head = "`" if carry_code else ""
        room = budget - len(head) - 1
        if len(rest) <= room:
            chunk, rest = rest, ""
        else:
            cut = rest.rfind("\n", 0, room + 1)
            if cut <= room // 2:
                cut = rest.rfind(" ", 0, room + 1)
            if cut <= room // 2:
                cut = room
                # Never split `\*` into `\` and `*`: that would turn the escape into markup.
                while cut > 1 and rest[cut - 1] == "\\":
                    cut -= 1
            chunk, rest = rest[:cut], rest[cut:].lstrip(" \n")
        chunk = head + chunk
        carry_code = chunk.replace("\\`", "").count("`") % 2 == 1
        if carry_code:
            chunk += "`"
        pages.append(chunk)
    n = len(pages)
    out = []
    for i, page in enumerate(pages, 1):
        if i > 1:
            page = _CONT_PREV.format(i=i, n=n) + page
        if i < n:
            page += _CONT_NEXT.format(i=i, n=n)
        out.append(page)
    return out


def escape_markdown(text: str) -> str:
    """Escape text that did not come from the core (which escapes its own) for Discord."""
    return esc(text)


def mention_line(user_ids: Sequence[int]) -> str:
    """`<@1> <@2>`: the members a message is about, who may be pinged."""
    return " ".join(f"<@{int(u)}>" for u in dict.fromkeys(user_ids))


def allowed_mentions(user_ids: Iterable[int] = ()) -> dict[str, Any]:
    """The ``allowed_mentions`` payload: nobody but `user_ids`; never @everyone, @here or roles."""
    return {"parse": [], "users": [str(int(u)) for u in dict.fromkeys(user_ids)][:100],
            "roles": [], "replied_user": False}


# ---------------------------------------------------------------------- inbound


def platform_roles(member_roles: Iterable[tuple[int, str]],
                   mapping: Mapping[str, Sequence[str | int]]) -> frozenset[str]:
    """Our roles from a member's Discord roles.

    Args:
        member_roles: (id, name) of each Discord role the member holds.
        mapping: the config's `roles`: our role → Discord role names or ids.
    """
    ids = {int(i) for i, _ in member_roles}
    names = {n.casefold() for _, n in member_roles}
    out = set()
    for ours, theirs in mapping.items():
        for want in theirs:
            by_id = (isinstance(want, int) or str(want).isdigit()) and int(want) in ids
            if by_id or (isinstance(want, str) and want.casefold() in names):
                out.add(ours)
    return frozenset(out)


def inbound(*, community: str, channel_id: int, user_id: int, name: str, text: str,
            message_id: str | None, roles: frozenset[str] = frozenset(),
            direct: bool = False) -> InboundMessage:
    """The neutral message for a command from Discord."""
    return InboundMessage(community=CommunityId(community), platform=PLATFORM,
                          space=str(channel_id), sender=str(user_id), sender_name=name,
                          text=text, message_id=message_id, roles=roles, direct=direct)


def interaction_message_id(interaction_id: int) -> str:
    """The id the core deduplicates an interaction by: a replayed one runs once."""
    return f"i{interaction_id}"


def autocomplete_choices(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """Autocomplete results (`T12 · Fix the login crash`), within Discord's limits."""
    out = []
    for ref, title in items:
        out.append({"name": clip(f"{ref} · {title}", CHOICE_NAME_MAX), "value": ref})
        if len(out) == AUTOCOMPLETE_MAX:
            break
    return out


def command_suggestions(typed: str) -> list[tuple[str, str]]:
    """Command names for `/help`'s autocomplete."""
    t = typed.strip().lstrip("!/").lower()
    return [(n, s.summary) for n, s in COMMANDS.items() if n.startswith(t)][:AUTOCOMPLETE_MAX]
