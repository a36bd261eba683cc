"""Text → command. Pure: no database, no platform.

A command is the prefix and a name (or an alias) declared in `bot.chat.commands`, then
words. `key:value` words whose key the command knows are options, `#word` is a skill (for
the commands that take skills), and for the commands that take a description (`offer`,
`propose`, `fund`, `pitch`) the remaining words of the first line are the title and further
lines the description; elsewhere the remaining words are the note, link or reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.chat.commands import lookup
from bot.chat.render import echo, esc

_OPTION_RE = re.compile(r"^([a-z]+):(.+)$", re.IGNORECASE | re.ASCII)
_SKILL_RE = re.compile(r"^#([\w][\w.+-]{0,47})$")


class ParseError(ValueError):
    """The text is a command but cannot be understood; the message says how to write it."""

    def __init__(self, message: str, command: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.command = command


@dataclass(frozen=True)
class Parsed:
    """A command as written: its name and the parts of its text."""

    name: str
    words: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    skills: tuple[str, ...] = ()
    description: str = ""

    @property
    def rest(self) -> str:
        """The remaining words of the first line, joined."""
        return " ".join(self.words)


# After this word the rest of the first line is words only: no options, no skills
# (`!offer -- Rename slots:2 to seats:2`; the Discord adapter puts free text there).
LITERAL = "--"


def parse(text: str, prefix: str = "!") -> Parsed | None:
    """Parse a chat message.

    Returns:
        None when the text is not addressed to the bot (no prefix, or the prefix alone).

    Raises:
        ParseError: an unknown command or malformed options.
    """
    stripped = text.strip()
    if not stripped.startswith(prefix):
        return None
    body = stripped[len(prefix):]
    first, _, more = body.partition("\n")
    tokens = first.split()
    if not tokens or body[:1].isspace():
        return None
    spec = lookup(tokens[0].lower())
    if spec is None:
        raise ParseError(f"unknown command {esc(prefix)}{echo(tokens[0], 30)} — see {prefix}help "
                         "for the list")
    name = spec.name
    words: list[str] = []
    options: dict[str, str] = {}
    skills: list[str] = []
    literal = False
    for tok in tokens[1:]:
        if literal:
            words.append(tok)
            continue
        if tok == LITERAL:
            literal = True
            continue
        m = _OPTION_RE.match(tok)
        if m and m.group(1).lower() in spec.options:
            key = m.group(1).lower()
            if key in options:
                raise ParseError(f"{key}: is given twice — give it once", name)
            options[key] = m.group(2)
            continue
        if spec.skills and tok.startswith("#"):
            s = _SKILL_RE.match(tok)
            if not s:
                raise ParseError(
                    f"'{echo(tok, 40)}' is not a skill — skills are #word, letters and digits", name)
            skill = s.group(1).lower()
            if skill not in skills:
                skills.append(skill)
            continue
        words.append(tok)
    description = more.strip() if spec.multiline else ""
    if not spec.multiline and more.strip():
        # For notes and reasons, further lines belong to the text.
        words.extend(more.split())
    return Parsed(name, tuple(words), options, tuple(skills), description)
