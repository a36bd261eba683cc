"""Pure translation between console lines and the neutral port types."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.chat.render import unescape
from bot.chat.text import clean
from bot.domain.vocabulary import Role
from bot.ports import Outbound

_STEP = re.compile(r"^\+?(\d{1,6})\s*(m|min|h|d|w)$", re.IGNORECASE | re.ASCII)
# The clock is a datetime: a step must keep it far inside year 9999.
MAX_STEP = timedelta(days=3660)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_step(text: str) -> timedelta | None:
    """`+3d`, `+12h`, `+30m`, `+1w` → a timedelta; None when it is not one.

    A step may be longer than `MAX_STEP`; the caller refuses it.
    """
    m = _STEP.match(text.strip())
    if not m:
        return None
    return timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})


def render(o: Outbound, member_names: dict[int, str] | None = None) -> str:
    """An outbound message as terminal text: Markdown escapes removed, choices numbered.

    Control characters and escape sequences are dropped, so no text can act on the terminal.
    """
    text = clean(unescape(o.text))
    if o.kind == "announce":
        text = "📣 " + text.replace("\n", "\n   ")
    elif o.kind == "notice":
        who = (member_names or {}).get(o.member or -1, f"member {o.member}")
        text = f"✉ to {who}: " + text.replace("\n", "\n   ")
    if o.choices:
        opts = "  ".join(f"[{c.label}: {c.command}{' <' + c.ask.lower() + '>' if c.ask else ''}]"
                         for c in o.choices if c.role == Role.CONTRIBUTOR)
        if opts:
            text += "\n   " + opts
    return text
