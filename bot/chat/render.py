"""Formatting helpers: Markdown with user text escaped, times, money, caps."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

from bot.domain.ref import Ref
from bot.domain.rules import Money, shown

MAX_REPLY = 4000
TRUNCATED = "… (truncated)"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~@])")
# At the start of a line these begin a list, a quote or a heading.
_MD_LINE_START = re.compile(r"(?m)^(\s*)(\d*)([-+>.)])")
# One pass, left to right: an escaped character is kept as it is, our bold and code markers
# go. (Removing the markers first would strand the backslash of an escaped "\`".)
_PLAIN = re.compile(r"\\([\\`*_{}\[\]()<>#+\-!|~>@.])|\*\*|`")
# Zero-width and bidi-control characters can hide or reorder text; strip them from user text.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def esc(text: str | None) -> str:
    """Escape user text so Markdown renders it literally (no links, no emphasis, no HTML)."""
    if not text:
        return ""
    text = _INVISIBLE.sub("", text)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(_escape_line_start, text)


def echo(text: str | None, limit: int = 30) -> str:
    """User text quoted back in a reply or refusal: one line, capped, escaped."""
    return esc(shown(text or "", limit))


def _escape_line_start(m: re.Match[str]) -> str:
    lead, digits, mark = m.groups()
    if digits and mark not in ".)":
        return m.group(0)
    if not digits and mark in ".)":
        return m.group(0)
    return f"{lead}{digits}\\{mark}"


def unescape(markdown: str) -> str:
    """Plain text from our Markdown: drop the escapes and the bold/code markers."""
    return _PLAIN.sub(_plain, markdown)


def _plain(m: re.Match[str]) -> str:
    return m.group(1) or ""


def quote(text: str | None, limit: int) -> str:
    """Several lines of user text (a description) as a Markdown quote, capped and escaped.

    Quoted, no line of it can pass for one of the bot's own (an announcement, a list item).
    A line after the quote needs a blank line before it, or Markdown continues the quote.
    """
    if not text:
        return ""
    return "\n".join("> " + line if line.strip() else ">" for line in esc(clip(text, limit)).split("\n"))


# The objects with a page of their own on the board (a pitch's is its call's).
_PAGED = "TPFB"


def page_url(base_url: str | None, community: str, ref: str | None) -> str | None:
    """The public board's stable page of an object (`…/c/demo/T12`), when the board has an
    address and the ref names an object."""
    parsed = Ref.parse(ref, _PAGED)
    if not base_url or parsed is None:
        return None
    return f"{base_url}/c/{community}/{parsed}"


def with_page_link(text: str, base_url: str | None, community: str, ref: str | None) -> str:
    """Text followed by the link to its object's page on the board (unchanged without one)."""
    url = page_url(base_url, community, ref)
    return f"{text}\n{url}" if url else text


def clip(text: str, limit: int) -> str:
    """Cut text to `limit` characters with a visible truncated marker."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATED)] + TRUNCATED


def money(minor: int | Decimal | None, currency: str | None) -> str:
    """`50 EUR`, or an empty string when there is no amount.

    `minor` may come from `SUM()` over minor units, which PostgreSQL returns as a
    `Decimal` (SQLite as an int); a sum of integers is integral, so it converts exactly.
    """
    if minor is None or currency is None:
        return ""
    return str(Money(int(minor), currency))


def when(at: datetime | None) -> str:
    """A UTC time as people read it."""
    if at is None:
        return ""
    if at.hour == 23 and at.minute == 59:
        return f"{at:%Y-%m-%d}"
    return f"{at:%Y-%m-%d %H:%M} UTC"


def left(at: datetime, now: datetime) -> str:
    """Time left until `at`: `2d 4h left`, or `closing now` once it has passed.

    Nothing a member reads says "overdue": a passed deadline is acted on when its job
    runs (at once, or by the catch-up at the next start), and shows as closing now until then.
    """
    delta = at - now
    if delta <= timedelta(0):
        return "closing now"
    days, secs = delta.days, delta.seconds
    hours, minutes = secs // 3600, (secs % 3600) // 60
    if days:
        return f"{days}d {hours}h left"
    if hours:
        return f"{hours}h {minutes}m left"
    return f"{max(minutes, 1)}m left"
