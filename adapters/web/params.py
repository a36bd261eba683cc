"""Every query parameter the board reads, checked here before anything is read.

A route names the parameters it takes (`SKILL.of(request)`); a value that is not one of them
is answered 400 with one line naming the parameter and what it takes, and nothing below
this module sees raw query text. Page cursors are read by the read models that write them
(`bot.views.board`), bounded by the column they page on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Generic, TypeVar

from aiohttp import web

from bot.domain.ref import Ref
from bot.views import board

T = TypeVar("T")
# C0 and C1 controls (NUL among them, which PostgreSQL refuses in text) and lone surrogates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# A skill as the board names it, in `?skill=` and in a feed's address.
SKILL_WORD = re.compile(r"[\w-]{1,64}")
# What else an event may be about: a member (`@12`) or the digest.
_OBJECT = re.compile(r"@[0-9]{1,12}|digest")
_KIND = re.compile(r"[a-z][a-z_]*(\.[a-z_]*)?")
CURSOR = "That page link is not one of ours — start again from the first page."


class BadParameter(ValueError):
    """A query parameter the board does not take; the message is the line the visitor reads."""

    def __init__(self, name: str, accepts: str) -> None:
        super().__init__(f"Wrong {name}= in the address. {accepts}")


@dataclass(frozen=True)
class Param(Generic[T]):
    """One query parameter: its name, how it is read, and what it takes, in words.

    Args:
        name: the parameter's name in the address.
        read: turns the (stripped, non-empty) text into a value; raises ValueError for
            text it does not take.
        accepts: the sentence a visitor reads when the value is wrong.
        max_chars: the longest value taken.
    """

    name: str
    read: Callable[[str], T]
    accepts: str
    max_chars: int = 64

    def of(self, request: web.Request) -> T | None:
        """The parameter's value in the request, None when absent or empty.

        Raises:
            BadParameter: the value is too long, holds a control character, or is not one
                `read` takes.
        """
        raw = request.query.get(self.name, "")
        if len(raw) > self.max_chars or _CONTROL.search(raw):
            raise BadParameter(self.name, self.accepts)
        raw = raw.strip()
        if not raw:
            return None
        try:
            return self.read(raw)
        except ValueError:
            raise BadParameter(self.name, self.accepts) from None


def _matching(pattern: re.Pattern[str], text: str) -> str:
    if not pattern.fullmatch(text):
        raise ValueError(text)
    return text


def _skill(text: str) -> str:
    return _matching(SKILL_WORD, text.lstrip("#").lower())


def _object(text: str) -> str:
    ref = Ref.parse(text, "TPFB")
    return str(ref) if ref else _matching(_OBJECT, text)


def _kind(text: str) -> str:
    return _matching(_KIND, text.lower())


def cursor(name: str, read: Callable[[str], T]) -> Param[T]:
    """A page cursor named `name`, read by its list's reader in `bot.views.board`."""
    return Param(name, read, CURSOR)


def needs_cursor(group: str) -> Param[int | tuple[datetime, int]]:
    """The `after` of a group of needs (its cursor depends on the group's order)."""
    return cursor("after", partial(board.needs_cursor, group))


SKILL = Param("skill", _skill, "A skill is one word of letters, digits or '-', like python.")
OBJECT = Param("object", _object, "An object is an id like T12, P3, F1 or B4.")
MEMBER = Param("member", str, "A member is named as on the board, like bob (200 characters at most).",
               max_chars=200)
KIND = Param("kind", _kind, "A kind is an event kind like claim.approved, or a family like claim.",
             max_chars=32)
SINCE = Param("since", board.event_cursor,
              "It is the number of the newest event a page showed, in digits 0-9, like 42.")
