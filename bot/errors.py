"""The exception every subcommand raises for an expected failure (see `bot.__main__.main`)."""

from __future__ import annotations


class CliError(Exception):
    """An expected failure of a subcommand; `str()` is the one line to print.

    Args:
        message: what went wrong and how to do it right.
        code: the exit status (1 unless said otherwise).
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class CorruptRow(Exception):
    """A row of the database that commons-bot could not have written, met by a reader (the
    audit, an export); `str()` names it by table and key: `events row 1234: details is not JSON`.
    """
