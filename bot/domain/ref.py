"""Ids as members write them (`T12`, `P3`, `F1`, `B4`, `V2`, `R7`, `S3`), parsed in one place.

An id is a letter naming the kind of object and its number in the community. Members may
write the letter in either case and put `#` before the number (`t12`, `T#12`); where only
one kind is expected the letter may be left out (`12`, `#12`). The number is 1 to 9 ASCII
digits: `T²` and `T٣` are not ids (`int` would read `٣` as 3), and leading zeros count
among the nine (`T012` is T12). Everything that reads an id — a command's argument, a
board address, a button, an autocomplete — goes through `Ref.parse`; `str(ref)` writes it
back the one way the bot shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class RefKind(StrEnum):
    """The letter of an id, and what it names (`noun`)."""

    NEED = "T"
    PROPOSAL = "P"
    CALL = "F"
    PITCH = "B"
    VENTURE = "V"
    RECEIPT = "R"
    SPEND = "S"

    @property
    def noun(self) -> str:
        """What members call the object: `need`, `funding call`, …"""
        return _NOUNS[self]


_NOUNS = {RefKind.NEED: "need", RefKind.PROPOSAL: "proposal", RefKind.CALL: "funding call",
          RefKind.PITCH: "pitch", RefKind.VENTURE: "venture", RefKind.RECEIPT: "receipt",
          RefKind.SPEND: "spend"}
ALL = "".join(RefKind)
"""Every letter: `TPFBVRS`."""
NUMBER = "[0-9]{1,9}"
"""The number of an id as a pattern (for an address's route); `Ref.parse` reads it."""
_REF = re.compile(rf"([A-Z])?#?({NUMBER})", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True, order=True)
class Ref:
    """An object's id: its kind and its number in the community (`str(ref)` is `T12`)."""

    kind: RefKind
    number: int

    def __str__(self) -> str:
        return f"{self.kind}{self.number}"

    @classmethod
    def parse(cls, text: str | None, kinds: str = "TPF") -> Ref | None:
        """The id `text` writes, when it names one of `kinds`; None for anything else.

        Args:
            text: what was typed or received (`T12`, `t12`, `T#12`, `12`); spaces around
                it are ignored.
            kinds: the letters wanted (`T`, `TPF`, `ALL`); a bare number (`12`, `#12`) is
                taken only when there is one letter.
        """
        m = _REF.fullmatch(text.strip()) if text else None
        if m is None:
            return None
        letter = m.group(1).upper() if m.group(1) else (kinds if len(kinds) == 1 else "")
        if not letter or letter not in kinds:
            return None
        return cls(RefKind(letter), int(m.group(2)))

    @classmethod
    def of(cls, text: str, kinds: str = ALL) -> Ref:
        """The id in text the bot wrote itself (an event's object, a stored card's ref).

        Raises:
            ValueError: the text is not an id of `kinds`.
        """
        ref = cls.parse(text, kinds)
        if ref is None:
            raise ValueError(f"not an id of {kinds}: {text!r}")
        return ref


def is_ref(text: str | None, kind: RefKind) -> bool:
    """Whether `text` is an id of `kind` with its letter written (`V2`; `2` is not)."""
    ref = Ref.parse(text, ALL)
    return ref is not None and ref.kind == kind
