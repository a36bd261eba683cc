"""Backup and restore of a community's database, portable between SQLite and PostgreSQL.

A backup is gzip-compressed JSON lines: a header (format, schema revision, tables), then
for each table (in foreign-key order) a line naming it and its columns, and one line per
row. It is consistent while the bot runs:

- SQLite: the file is first copied with SQLite's online backup API (`sqlite3.Connection.
  backup`), which copies a single committed state while writers keep going; the copy is read.
- PostgreSQL: every table is read in one `REPEATABLE READ READ ONLY` transaction, a single
  snapshot, with no `pg_dump` needed (of whatever version).

`restore` loads a backup into an empty database of either kind: it migrates the schema to
the backup's revision, inserts the rows, moves PostgreSQL's id sequences past them, then
migrates to the newest revision.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, DateTime, Engine, Table, func, insert, select, text, update
from sqlalchemy.engine import make_url

from bot.errors import CliError
from bot.store.db import _stored_revision, make_engine, upgrade
from bot.store.models import Base

FORMAT = "commons-bot-backup"
VERSION = 1
CHUNK = 1000


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _encode(table: Table, row: Any) -> list[Any]:
    out = []
    for col, value in zip(table.columns, row, strict=True):
        if value is not None and isinstance(col.type, DateTime):
            value = value.isoformat()
        out.append(value)
    return out


def _decode(table: Table, columns: list[str], values: list[Any]) -> dict[str, Any]:
    row = dict(zip(columns, values, strict=True))
    for name, value in row.items():
        if value is not None and isinstance(table.c[name].type, DateTime):
            row[name] = datetime.fromisoformat(value)
    return row


def _dump(conn: Connection, out: IO[str], revision: str | None) -> int:
    tables = _tables()
    out.write(json.dumps({"format": FORMAT, "version": VERSION, "revision": revision,
                          "tables": [t.name for t in tables]}) + "\n")
    rows = 0
    for table in tables:
        out.write(json.dumps({"table": table.name, "columns": [c.name for c in table.columns]}) + "\n")
        pk = list(table.primary_key.columns)
        for row in conn.execute(select(table).order_by(*pk)):
            out.write(json.dumps(_encode(table, row), ensure_ascii=False) + "\n")
            rows += 1
    return rows


def backup(url: str, out_path: str | Path) -> int:
    """Write a consistent backup of the database at `url` to `out_path`.

    Returns:
        How many rows were written.

    Raises:
        CliError: `out_path` exists already, or the database has no schema.
    """
    out_path = Path(out_path)
    if out_path.exists():
        raise CliError(f"{out_path} already exists — name a new file for the backup", code=2)
    tmp = out_path.with_name(out_path.name + ".partial")
    parsed = make_url(url)
    with tempfile.TemporaryDirectory() as d:
        if parsed.get_backend_name() == "sqlite":
            src_path = parsed.database or ""
            if not Path(src_path).exists():
                raise CliError(f"database_url: {src_path} does not exist — nothing to back up")
            snapshot = Path(d) / "snapshot.sqlite3"
            src = sqlite3.connect(src_path, timeout=30)
            dst = sqlite3.connect(snapshot)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
            engine = make_engine(f"sqlite:///{snapshot}")
        else:
            engine = make_engine(url)
        try:
            revision = _stored_revision(engine)
            if revision is None:
                raise CliError("the database has no commons-bot schema — nothing to back up")
            with engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                with gzip.open(tmp, "wt", encoding="utf-8") as out:
                    rows = _dump(conn, out, revision)
                conn.rollback()
        finally:
            engine.dispose()
    tmp.replace(out_path)
    return rows


def _read(path: Path) -> Iterator[dict[str, Any] | list[Any]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)
    except (OSError, EOFError, ValueError) as exc:
        raise CliError(f"{path}: not a commons-bot backup ({exc})", code=2) from None


def _is_empty(engine: Engine) -> bool:
    if _stored_revision(engine) is None:
        return True
    with engine.connect() as conn:
        return all(conn.execute(select(func.count()).select_from(t)).scalar() == 0 for t in _tables())


def restore(url: str, in_path: str | Path) -> int:
    """Load the backup `in_path` into the empty database at `url` (SQLite or PostgreSQL).

    Returns:
        How many rows were loaded.

    Raises:
        CliError: the file is missing or not a backup, or the database is not empty.
    """
    in_path = Path(in_path)
    if not in_path.exists():
        raise CliError(f"{in_path}: no such file — give a file written by commons-bot backup", code=2)
    lines = _read(in_path)
    header = next(lines, None)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CliError(f"{in_path}: not a commons-bot backup (no header)", code=2)
    if header.get("version") != VERSION:
        raise CliError(f"{in_path}: backup format {header.get('version')} is not supported by this "
                       f"version (it reads {VERSION}) — upgrade commons-bot", code=2)
    engine = make_engine(url)
    try:
        if not _is_empty(engine):
            raise CliError("the database of --config is not empty — restore into a new, empty "
                           "database (or a new SQLite file)", code=2)
        upgrade(engine, header["revision"])
        tables = {t.name: t for t in _tables()}
        rows = 0
        with engine.begin() as conn:
            table: Table | None = None
            columns: list[str] = []
            batch: list[dict[str, Any]] = []
            deferred: list[tuple[Table, dict[str, Any]]] = []
            for item in lines:
                if isinstance(item, dict):
                    rows += _flush(conn, table, batch, deferred)
                    batch = []
                    if item.get("table") not in tables:
                        raise CliError(f"{in_path}: unknown table {item.get('table')!r} — "
                                       "made by a newer commons-bot?", code=2)
                    table, columns = tables[item["table"]], item["columns"]
                    continue
                assert table is not None
                batch.append(_decode(table, columns, item))
                if len(batch) >= CHUNK:
                    rows += _flush(conn, table, batch, deferred)
                    batch = []
            rows += _flush(conn, table, batch, deferred)
            for t, values in deferred:
                pk = {c.name: values.pop(c.name) for c in t.primary_key.columns}
                conn.execute(update(t).where(*(t.c[k] == v for k, v in pk.items())).values(**values))
            if engine.dialect.name == "postgresql":
                _move_sequences(conn)
        upgrade(engine)
        return rows
    finally:
        engine.dispose()


def _flush(conn: Connection, table: Table | None, batch: list[dict[str, Any]],
           deferred: list[tuple[Table, dict[str, Any]]]) -> int:
    """Insert rows; a column referring to its own table is set afterwards (any order works)."""
    if table is None or not batch:
        return 0
    self_refs = [c.name for c in table.columns if any(fk.column.table is table for fk in c.foreign_keys)]
    if self_refs:
        for row in batch:
            later = {k: row[k] for k in self_refs if row.get(k) is not None}
            if later:
                key = {c.name: row[c.name] for c in table.primary_key.columns}
                deferred.append((table, {**later, **key}))
                row.update({k: None for k in later})
    conn.execute(insert(table), batch)
    return len(batch)


def _move_sequences(conn: Connection) -> None:
    """PostgreSQL hands out ids from sequences: move each past the restored rows."""
    for table in _tables():
        pk = list(table.primary_key.columns)
        for col in pk:
            if col.autoincrement is True or (col.autoincrement == "auto" and len(pk) == 1
                                             and col.type.python_type is int):
                seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                   {"t": table.name, "c": col.name}).scalar()
                if seq:
                    conn.execute(text(f"SELECT setval('{seq}', COALESCE((SELECT MAX({col.name}) "
                                      f"FROM {table.name}), 0) + 1, false)"))
