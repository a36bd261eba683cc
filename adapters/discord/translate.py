"""Pure translation between Discord payloads and the core's neutral types.

Nothing here does I/O. Interaction data (the raw ``data`` member of an
INTERACTION_CREATE, as discord.py keeps it in ``Interaction.data``) becomes the text
command the core parses; cards become embeds and buttons; long Markdown becomes pages
under Discord's limits with a visible continuation marker; ``allowed_mentions`` is built
so that only the members a message is about can be pinged. The slash commands live in
:mod:`adapters.discord.commands`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.chat.render import clip, esc
from bot.domain.ref import ALL, Ref
from bot.domain.vocabulary import CardKind, Position, Role
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
CHOICE_VALUE_MAX = 100
ALLOWED_USERS_MAX = 100

EPHEMERAL = 1 << 6

# ---------------------------------------------------------------------- buttons and modals

BUTTON_STYLES = {"primary": 1, "secondary": 2, "success": 3, "danger": 4}
_STYLE_OF_KEY = {"claim": "primary", "submit": "primary", "release": "secondary",
                 "approve": "success", "changes": "secondary", "refuse": "danger",
                 Position.AGREE: "success", Position.ABSTAIN: "secondary", Position.DISAGREE: "secondary",
                 Position.BLOCK: "danger"}
_ROLE_CHARS = {Role.CONTRIBUTOR: "c", Role.MAINTAINER: "m", Role.FOUNDATION: "f"}
_CHAR_ROLES = {v: k for k, v in _ROLE_CHARS.items()}
# cb:<key>:<ref>:<role>:<command without prefix>[|<prompt>] — everything a press needs,
# so a button on a card posted before a restart works without any state in memory. The
# ref is read by `Ref.parse` (`parse_custom_id`).
CUSTOM_ID_RE = re.compile(
    r"cb:(?P<key>[a-z_]{1,20}):(?P<ref>[^:]{1,10}):(?P<role>[cmf]):(?P<cmd>[^|]{1,80})"
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
    ref = Ref.parse(m["ref"], ALL) if m else None
    if m is None or ref is None:
        return None
    return Pressed(m["key"], str(ref), _CHAR_ROLES[m["role"]], m["cmd"], m["ask"])


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
    groups: list[list[Choice]] = [[c for c in choices if c.role == Role.CONTRIBUTOR],
                                  [c for c in choices if c.role != Role.CONTRIBUTOR]]
    rows: list[dict[str, Any]] = []
    for group in groups:
        for i in range(0, len(group), BUTTONS_PER_ROW):
            if len(rows) == ROWS_MAX:
                return rows
            rows.append({"type": 1, "components": [
                {"type": 2, "style": BUTTON_STYLES[_STYLE_OF_KEY.get(c.key, "secondary")],
                 "label": clip(c.label if c.role == Role.CONTRIBUTOR else f"{c.label} ({c.role}s)",
                               BUTTON_LABEL_MAX),
                 "custom_id": custom_id(c, ref, prefix)}
                for c in group[i:i + BUTTONS_PER_ROW]]})
    return rows


# ---------------------------------------------------------------------- cards

COLOURS = {CardKind.NEED: 0x2ECC71, CardKind.PROPOSAL: 0x3498DB, CardKind.CALL: 0xF1C40F}
CLOSED_COLOUR = 0x95A5A6


_MORE_FIELDS = ("…", "*(more than a card can hold)*")


def card_embed(card: Card) -> dict[str, Any]:
    """A card as an embed payload within every embed limit (shortened, never silently).

    The 6,000-character total counts the title, the footer, every field's name and value
    and the description: fields are shortened first (with a visible marker for any left
    out), the description gets what remains.
    """
    footer = f"{card.ref} · closed" if card.closed else f"{card.ref} · this card updates itself"
    title = clip(card.title, EMBED_TITLE_MAX)
    budget = EMBED_TOTAL_MAX - len(title) - len(footer) - sum(map(len, _MORE_FIELDS))
    fields: list[dict[str, Any]] = []
    for n, (name, value) in enumerate(card.fields):
        name = clip(name or "—", EMBED_FIELD_NAME_MAX)
        room = budget - len(name)
        if room < 20 or (n == EMBED_FIELDS_MAX - 1 and len(card.fields) > EMBED_FIELDS_MAX):
            # The budget keeps room for this marker, so what is left out is never silent.
            fields.append({"name": _MORE_FIELDS[0], "value": _MORE_FIELDS[1], "inline": False})
            break
        value = clip(value or "—", min(EMBED_FIELD_VALUE_MAX, room))
        fields.append({"name": name, "value": value, "inline": len(value) <= 40})
        budget -= len(name) + len(value)
    embed: dict[str, Any] = {
        "title": title,
        "color": CLOSED_COLOUR if card.closed else COLOURS.get(card.kind, CLOSED_COLOUR),
        "fields": fields,
        "footer": {"text": footer},
    }
    used = len(title) + len(footer) + sum(len(f["name"]) + len(f["value"]) for f in fields)
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

DMS_CLOSED = ("<@{user}> the answer is private and your direct messages are closed — use the "
              "slash command instead (type `/`), which answers only you.")

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


def allowed_users(user_ids: Iterable[int]) -> list[int]:
    """The members a message may ping: each once, at most Discord's 100."""
    return list(dict.fromkeys(int(u) for u in user_ids))[:ALLOWED_USERS_MAX]


def allowed_mentions(user_ids: Iterable[int] = ()) -> dict[str, Any]:
    """The ``allowed_mentions`` payload: nobody but `user_ids`; never @everyone, @here or roles."""
    return {"parse": [], "users": [str(u) for u in allowed_users(user_ids)],
            "roles": [], "replied_user": False}



# ---------------------------------------------------------------------- permissions and delivery

# What docs/discord.md (Set up) tells admins to grant (84992): what posting cards needs.
NEEDED_PERMISSIONS = (("view_channel", "View Channel"), ("send_messages", "Send Messages"),
                      ("embed_links", "Embed Links"), ("read_message_history", "Read Message History"))
# What Discord's 403 codes mean for a channel.
FORBIDDEN = {50001: "View Channel", 50013: "Send Messages or Embed Links", 50007: "direct messages"}


def missing_permissions(permissions: Any) -> list[str]:
    """Names of the needed permissions a `discord.Permissions` lacks."""
    return [label for attr, label in NEEDED_PERMISSIONS if not getattr(permissions, attr, False)]


def nonce(outbox_id: int, channel_id: int, page: int = 0) -> str:
    """A message nonce (at most 25 characters) for one page of an outbox entry in one channel."""
    digest = hashlib.blake2b(f"{outbox_id}:{channel_id}:{page}".encode(), digest_size=12).hexdigest()
    return digest[:25]


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
            direct: bool = False, private: bool = False) -> InboundMessage:
    """The neutral message for a command from Discord: `private` for an interaction (a
    slash command's options, a button, a modal are seen by the bot alone) or a direct
    message, not for a command typed in a channel."""
    return InboundMessage(community=CommunityId(community), platform=PLATFORM,
                          space=str(channel_id), sender=str(user_id), sender_name=name,
                          text=text, message_id=message_id, roles=roles, direct=direct,
                          private=private)


def interaction_message_id(interaction_id: int) -> str:
    """The id the core deduplicates an interaction by: a replayed one runs once."""
    return f"i{interaction_id}"


def autocomplete_choices(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """Autocomplete results (`T12 · Fix the login crash`), within Discord's limits."""
    out = []
    for ref, title in items:
        out.append({"name": clip(f"{ref} · {title}", CHOICE_NAME_MAX), "value": ref[:CHOICE_VALUE_MAX]})
        if len(out) == AUTOCOMPLETE_MAX:
            break
    return out
