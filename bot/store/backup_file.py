"""The backup file: its format, and a reader that checks every line before a row is loaded.

A backup is gzip-compressed JSON lines (format version 2):

1. a header: `{"format": "commons-bot-backup", "version": 2, "revision": R, "tables": [...],
   "rows": {table: count}}` — the schema revision, every table in load order, and how many
   rows each holds;
2. for each table, in the header's order, a line `{"table": name, "columns": [...]}` and
   then exactly as many rows as the header counts, each a list of values in column order;
3. an end line `{"end": "commons-bot-backup", "sha256": H}`, H being the SHA-256 of every
   line before it.

So a file cut anywhere, with a line dropped, doubled or changed, is refused before anything
is committed. Version 1 (before the row counts and the end line) is read too: its header
lists its tables, so a cut before its last table is still seen, but a cut inside the last
table is not, and `restore` says so (see `Header.warning`).

Each row is checked against the model's column (type, range, nullability, a date that is a
date, a JSON detail that is an object); a problem is one line naming the table and the
row's key, like `events row 1234: details is not a JSON object`.
"""

from __future__ import annotations

import hashlib
import typing
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import orjson
from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Integer, String, Table

from bot.store.models import Base

FORMAT = "commons-bot-backup"
VERSION = 2
READS = (1, 2)
CHUNK = 1000
HINT = "nothing was restored; restore another backup"
NOT_A_BACKUP = "give a file written by commons-bot backup"


class BadBackup(Exception):
    """What is wrong with a backup: one line, without the file's name."""

    def __init__(self, what: str, hint: str = HINT) -> None:
        super().__init__(f"{what} — {hint}")


@dataclass(frozen=True)
class Header:
    """What the first line of a backup says."""

    version: int
    revision: str
    tables: list[str]
    rows: dict[str, int] | None  # None in version 1

    @property
    def warning(self) -> str | None:
        """What a restore should say about this backup, if anything."""
        if self.version == 1:
            return ("it is a version-1 backup, without row counts or checksum: a cut inside its "
                    f"last table ({self.tables[-1]}) could not be seen — take a new backup of the "
                    "restored database with commons-bot backup")
        return None


def row_name(table: str, key: tuple[Any, ...]) -> str:
    """How a message names a row: `events row 1234`, `votes row (5, 12)`."""
    shown = [str(v) if type(v) is int else repr(v)[:40] for v in key]
    return f"{table} row {shown[0] if len(shown) == 1 else '(' + ', '.join(shown) + ')'}"


class BackupReader:
    """Reads a backup line by line; `BadBackup` for the first thing wrong with it.

    Args:
        file: the backup file, opened with `gzip.open(path, "rb")`.
    """

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._line = 0
        self._digest = hashlib.sha256()
        try:
            first = self._next()
        except BadBackup:
            first = None
        self.header = _header(first)

    def _next(self) -> Any:
        """The next line, parsed (None at the end of the file)."""
        try:
            raw = self._file.readline()
        except EOFError:
            raise BadBackup("cut short: the compressed file ends early") from None
        except (OSError, zlib.error) as exc:
            raise BadBackup(f"damaged: {exc}") from None
        if not raw:
            return None
        self._line += 1
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadBackup(f"line {self._line} is not JSON") from None
        if not (isinstance(item, dict) and "end" in item):
            self._digest.update(raw)
        return item

    def batches(self, schema: dict[str, set[str]],
                dialect: str) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
        """Every row, checked, as (table, up to CHUNK rows as column → value); the last check
        (row counts, end line, checksum) comes after the last batch.

        Args:
            schema: the columns of each table at the backup's revision (the database's).
            dialect: `sqlite` or `postgresql` (PostgreSQL also refuses text longer than its column).
        """
        h = self.header
        if set(h.tables) != set(schema):
            extra = sorted(set(h.tables) - set(schema))
            if extra:
                raise BadBackup(f"table {extra[0]!r} is not in schema revision {h.revision}")
            raise BadBackup(f"its header lacks table {sorted(set(schema) - set(h.tables))[0]!r}, "
                            f"which schema revision {h.revision} has")
        pending = list(h.tables)
        table: Table | None = None
        rows: _Rows | None = None
        seen = 0
        batch: list[dict[str, Any]] = []
        while True:
            item = self._next()
            if isinstance(item, list):
                if rows is None or table is None:
                    raise BadBackup(f"line {self._line} is a row before any table")
                seen += 1
                if h.rows is not None and seen > h.rows[table.name]:
                    raise BadBackup(f"table {table.name} has more rows than the "
                                    f"{h.rows[table.name]} its header counts")
                batch.append(rows.check(item, self._line))
                if len(batch) >= CHUNK:
                    yield table, batch
                    batch = []
                continue
            if table is not None:
                if batch:
                    yield table, batch
                    batch = []
                if item is None and h.rows is not None and seen < h.rows[table.name]:
                    raise BadBackup(f"cut short: it ends inside table {table.name} ({seen} of its "
                                    f"{h.rows[table.name]} rows)")
                if h.rows is not None and seen != h.rows[table.name]:
                    raise BadBackup(f"table {table.name} holds {seen} rows, its header counts "
                                    f"{h.rows[table.name]}: lines are missing")
            if item is None or (isinstance(item, dict) and "end" in item):
                break
            if not isinstance(item, dict) or "table" not in item:
                raise BadBackup(f"line {self._line} is neither a table nor a row")
            if not pending or item["table"] != pending[0]:
                raise BadBackup(f"line {self._line} starts table {str(item['table'])[:40]!r} where "
                                f"its header has {pending[0] if pending else 'no more tables'}")
            name = pending.pop(0)
            table = Base.metadata.tables.get(name)
            if table is None:
                raise BadBackup(f"table {name!r} is not one this commons-bot knows")
            rows = _Rows(table, item.get("columns"), schema[name], h.revision, dialect)
            seen = 0
        if item is not None and h.version < 2:
            raise BadBackup(f"line {self._line} is neither a table nor a row")
        if pending:
            raise BadBackup(f"cut short: it ends before table {pending[0]}"
                            + (f" (and {len(pending) - 1} more)" if len(pending) > 1 else ""))
        if h.version >= 2:
            self._end(item)

    def _end(self, item: Any) -> None:
        if item is None:
            raise BadBackup("cut short: its end line is missing")
        if item.get("end") != FORMAT or item.get("sha256") != self._digest.hexdigest():
            raise BadBackup("its checksum does not match its lines: it was changed or damaged "
                            "after it was written")
        if self._next() is not None:
            raise BadBackup(f"line {self._line} follows its end line")


def _header(item: Any) -> Header:
    if not isinstance(item, dict) or item.get("format") != FORMAT:
        raise BadBackup("not a commons-bot backup (no header)", NOT_A_BACKUP)
    version = item.get("version")
    if type(version) is not int or version not in READS:
        if type(version) is int and version > VERSION:
            raise BadBackup(f"written by a newer commons-bot (backup format {version}; this one "
                            f"reads up to {VERSION})", "upgrade commons-bot, then restore it")
        raise BadBackup(f"not a commons-bot backup (format version {str(version)[:20]!r})", NOT_A_BACKUP)
    revision, tables, rows = item.get("revision"), item.get("tables"), item.get("rows")
    if not isinstance(revision, str):
        raise BadBackup("its header names no schema revision")
    if (not isinstance(tables, list) or not tables or not all(isinstance(t, str) for t in tables)
            or len(set(tables)) != len(tables)):
        raise BadBackup("its header does not list its tables")
    if version >= 2 and (not isinstance(rows, dict) or set(rows) != set(tables)
                         or not all(type(n) is int and n >= 0 for n in rows.values())):
        raise BadBackup("its header does not count the rows of each of its tables")
    return Header(version, revision, tables, rows if version >= 2 else None)


class _Rows:
    """Checks the rows of one table: width, then each value against its column."""

    def __init__(self, table: Table, columns: Any, at_revision: set[str], revision: str,
                 dialect: str) -> None:
        name = table.name
        if (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
                or len(set(columns)) != len(columns)):
            raise BadBackup(f"table {name} does not list its columns")
        extra = [c for c in columns if c not in at_revision or c not in table.c]
        if extra:
            raise BadBackup(f"table {name} has a column {extra[0][:40]!r} that schema revision "
                            f"{revision} does not have")
        missing = sorted(at_revision - set(columns))
        if missing:
            raise BadBackup(f"table {name} lacks its column {missing[0]!r}")
        self.table = name
        self.columns = columns
        self.key = [columns.index(c.name) for c in table.primary_key.columns]
        self.checks = [_check(table.c[c], dialect) for c in columns]

    def check(self, values: list[Any], line: int) -> dict[str, Any]:
        if len(values) != len(self.columns):
            raise BadBackup(f"line {line} (table {self.table}) has {len(values)} values for its "
                            f"{len(self.columns)} columns")
        row = {}
        for name, check, value in zip(self.columns, self.checks, values, strict=True):
            try:
                row[name] = check(value)
            except ValueError as exc:
                who = row_name(self.table, tuple(values[i] for i in self.key))
                raise BadBackup(f"{who}: {name} {exc}") from None
        return row


def _check(col: Column[Any], dialect: str) -> Callable[[Any], Any]:
    """A function that returns a value fit for `col` (a date parsed) or raises ValueError."""
    kind = col.type
    if isinstance(kind, Boolean):
        check = _boolean
    elif isinstance(kind, Integer):
        bits = 63 if isinstance(kind, BigInteger) or dialect == "sqlite" else 31
        check = _whole(-(2**bits), 2**bits - 1)
    elif isinstance(kind, DateTime):
        check = _datetime
    elif isinstance(kind, JSON):
        check = _json(_json_shape(col))
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


def _json_shape(col: Column[Any]) -> type:
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
