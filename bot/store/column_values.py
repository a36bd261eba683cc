"""What a value must be to fit a column of the schema: one rule, for a backup's rows
(`bot.store.backup_file`) and for rows found in the database (`bot.store.integrity`).

A whole number in the column's range, true or false, a date and time in UTC, text (no NUL,
within its length on PostgreSQL), JSON of the shape the model declares (an event's details
are an object), and nothing empty where the column cannot be.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Integer, String

from bot.store.models import Base


def checker(col: Column[Any], dialect: str) -> Callable[[Any], Any]:
    """A function that returns `value` fit for `col` (a date parsed) or raises ValueError
    saying what is wrong with it (`is not a whole number`), for `dialect` (`sqlite` or
    `postgresql`: PostgreSQL also refuses text longer than its column, SQLite keeps it)."""
    kind = col.type
    if isinstance(kind, Boolean):
        check = _boolean
    elif isinstance(kind, Integer):
        bits = 63 if isinstance(kind, BigInteger) or dialect == "sqlite" else 31
        check = _whole(-(2**bits), 2**bits - 1)
    elif isinstance(kind, DateTime):
        check = _datetime
    elif isinstance(kind, JSON):
        check = _json(json_shape(col))
    elif isinstance(kind, String):  # Text too
        # PostgreSQL refuses longer text than a column's length; SQLite keeps it.
        check = _text(kind.length if dialect == "postgresql" else None)
    else:
        return lambda v: v
    if col.nullable:
        return lambda v: None if v is None else check(v)

    def required(v: Any) -> Any:
        if v is None:
            raise ValueError("is empty (null), which it cannot be")
        return check(v)

    return required


def _shown(v: Any) -> str:
    return repr(v)[:40]


def _boolean(v: Any) -> bool:
    if type(v) is not bool:
        raise ValueError(f"{_shown(v)} is not true or false")
    return v


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if type(v) is not int:
            raise ValueError(f"{_shown(v)} is not a whole number")
        if not low <= v <= high:
            raise ValueError(f"{v} is out of range")
        return v

    return check


def _datetime(v: Any) -> datetime:
    try:
        at = datetime.fromisoformat(v) if type(v) is str else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is not None:
        raise ValueError(f"{_shown(v)} is not a date and time in UTC (like 2026-12-01T12:00:00)")
    return at


def _text(length: int | None) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if type(v) is not str:
            raise ValueError(f"{_shown(v)} is not text")
        if "\x00" in v:
            raise ValueError("holds a NUL character")
        if length is not None and len(v) > length:
            raise ValueError(f"is longer than its {length} characters")
        return v

    return check


def json_shape(col: Column[Any]) -> type:
    """The Python type a JSON column's model declares (`Mapped[dict[str, Any]]` → dict)."""
    for mapper in Base.registry.mappers:
        if mapper.local_table is col.table:
            hint = typing.get_type_hints(mapper.class_)[col.key]
            return typing.get_origin(typing.get_args(hint)[0]) or object
    return object


def _json(shape: type) -> Callable[[Any], Any]:
    word = {dict: "a JSON object", list: "a JSON list"}.get(shape, "JSON")

    def check(v: Any) -> Any:
        if not isinstance(v, shape):
            raise ValueError(f"is not {word}")
        return v

    return check
