"""Naming a corrupt row: when reading the record fails on a value commons-bot could not
have written (edited by hand, or loaded by an older restore that did not check), the
reader says which row it is instead of crashing.

The search runs only after a read failed, so the audit and the exports pay nothing for it
while the record is sound: it reads the tables the failed read used, value by value, with
the rule a restore applies (`bot.store.column_values`). (A row referring to a member who
is not there reads as "member 999", which breaks nothing.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Column, Connection, DateTime, Table, select, type_coerce
from sqlalchemy.types import NullType

from bot.errors import CorruptRow
from bot.store.column_values import checker

# What a reader's own code raises on a value it cannot use.
DATA_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def row_name(table: str, key: tuple[Any, ...]) -> str:
    """How a message names a row: `events row 1234`, `votes row (5, 12)`."""
    shown = [str(v) if type(v) is int else repr(v)[:40] for v in key]
    return f"{table} row {shown[0] if len(shown) == 1 else '(' + ', '.join(shown) + ')'}"


def unfit(kind: str, exc: Exception) -> str:
    """Why an event's details do not fit its kind (what reading them raised), in words."""
    if isinstance(exc, KeyError):
        return f"details of {kind} lack {exc.args[0]!r}"
    return f"details of {kind}: {exc}"


@contextmanager
def corrupt_rows_named(conn: Connection, tables: Sequence[Table]) -> Iterator[None]:
    """Turn a reader's failure on a bad value into `CorruptRow` naming the row, when one of
    `tables` holds one (anything else goes on as it was raised)."""
    try:
        yield
    except DATA_ERRORS:
        found = first_corrupt_row(conn, tables)
        if found is None:
            raise
        raise CorruptRow(found) from None


def first_corrupt_row(conn: Connection, tables: Sequence[Table]) -> str | None:
    """`events row 12: details is not JSON` for the first row of `tables` that commons-bot
    could not have written, or None."""
    for table in tables:
        found = _bad_value(conn, table)
        if found is not None:
            return found
    return None


def _stored(col: Column[Any], value: Any) -> Any:
    """A value as the driver gives it, in the form a backup holds (what `checker` takes)."""
    if value is None:
        return None
    kind = col.type
    if isinstance(kind, DateTime):
        return value.isoformat() if isinstance(value, datetime) else value
    if isinstance(kind, Boolean) and type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(kind, JSON) and isinstance(value, (str, bytes)):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError("is not JSON") from None
    return value


def _bad_value(conn: Connection, table: Table) -> str | None:
    cols = list(table.columns)
    checks = [checker(c, conn.dialect.name) for c in cols]
    key = [cols.index(c) for c in table.primary_key.columns]
    # Raw values: no result processing, which is what fails on a bad one.
    stmt = select(*(type_coerce(c, NullType()) for c in cols)).order_by(*table.primary_key.columns)
    for row in conn.execute(stmt.execution_options(yield_per=2000)):
        for col, check, value in zip(cols, checks, row, strict=True):
            try:
                check(_stored(col, value))
            except ValueError as exc:
                return f"{row_name(table.name, tuple(row[i] for i in key))}: {col.name} {exc}"
    return None

