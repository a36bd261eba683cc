"""The one normalisation of text entering the core, before anything parses or stores it.

Every platform hands the core text it did not write: command text, display names, sender
and message ids. Some of it cannot be stored at all (NUL is refused by PostgreSQL, a lone
surrogate by every encoder) and some of it acts on whoever reads it later (ANSI escapes
clear a terminal, a carriage return rewrites the line it is on). None of it carries
meaning in a command, so it is removed here, once, at the edge.
"""

from __future__ import annotations

import re

# CSI sequences (`ESC [ … final`), OSC strings (`ESC ] … BEL | ESC \`) and two-byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)")
# Every line break a platform may send becomes `\n`, the only one the parser knows.
_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# C0 and C1 controls except tab and newline, DEL, and lone surrogates (never valid text).
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(text: str) -> str:
    """Text with control characters, escape sequences and lone surrogates removed.

    Tabs and newlines stay (a description has lines); every other line break becomes a
    newline.
    """
    if text.isprintable():
        return text  # the common case, at C speed
    text = _ANSI.sub("", text)
    text = _BREAKS.sub("\n", text)
    return _CONTROL.sub("", text)


def clean_line(text: str) -> str:
    """`clean`, on one line: line breaks and tabs become spaces (display names)."""
    return " ".join(clean(text).split())


def is_clean_id(text: str) -> bool:
    """Whether a platform id can be stored and compared as it is.

    Ids are refused rather than cleaned: `@bob\\x00` must never become `@bob`.
    """
    return bool(text) and text.isprintable() and not _CONTROL.search(text)
