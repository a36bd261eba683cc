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

Each value is checked against its column (`bot.store.column_values`); a problem is one line
naming the table and the row's key, like `events row 1234: details is not a JSON object`.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
from sqlalchemy import Table

from bot.store.column_values import checker
from bot.store.integrity import row_name
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
        self.checks = [checker(table.c[c], dialect) for c in columns]

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
