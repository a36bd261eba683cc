"""Backup and restore of a community's database, portable between SQLite and PostgreSQL.

The file is described in `bot.store.backup_file`: gzip-compressed JSON lines, a header
counting the rows of every table, the rows, and an end line carrying a checksum. A backup
is consistent while the bot runs:

- SQLite: the file is first copied with SQLite's online backup API (`sqlite3.Connection.
  backup`), which copies a single committed state while writers keep going; the copy is read.
- PostgreSQL: every table is counted and read in one `REPEATABLE READ READ ONLY`
  transaction, a single snapshot, with no `pg_dump` needed (of whatever version).

`restore` loads a backup into an empty database of either kind, all or nothing: in one
transaction it migrates the schema to the backup's revision, inserts the rows as the
reader checks them, moves PostgreSQL's id sequences past them and migrates to the newest
revision; a backup found cut, changed or corrupt at any line rolls all of it back.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Table,
    UniqueConstraint,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError

from bot.errors import CliError
from bot.store.backup_file import FORMAT, VERSION, BackupReader, BadBackup
from bot.store.db import HEAD_REVISION, _stored_revision, known_revisions, make_engine, migrate
from bot.store.integrity import row_name
from bot.store.models import Base


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _encode(table: Table, row: Any) -> list[Any]:
    out = []
    for col, value in zip(table.columns, row, strict=True):
        if value is not None and isinstance(col.type, DateTime):
            value = value.isoformat()
        out.append(value)
    return out


def _dump(conn: Connection, out: IO[bytes], revision: str | None) -> int:
    tables = _tables()
    digest = hashlib.sha256()

    def write(item: Any) -> None:
        line = (json.dumps(item, ensure_ascii=False) + "\n").encode()
        digest.update(line)
        out.write(line)

    counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables}
    write({"format": FORMAT, "version": VERSION, "revision": revision,
           "tables": [t.name for t in tables], "rows": counts})
    rows = 0
    for table in tables:
        write({"table": table.name, "columns": [c.name for c in table.columns]})
        pk = list(table.primary_key.columns)
        for row in conn.execute(select(table).order_by(*pk)):
            write(_encode(table, row))
            rows += 1
    out.write(json.dumps({"end": FORMAT, "sha256": digest.hexdigest()}).encode() + b"\n")
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
                with gzip.open(tmp, "wb") as out:
                    rows = _dump(conn, out, revision)
                conn.rollback()
        finally:
            engine.dispose()
    tmp.replace(out_path)
    return rows


@dataclass(frozen=True)
class Restored:
    """What a restore loaded, and what it has to say about the backup (or None)."""

    rows: int
    warning: str | None


def restore(url: str, in_path: str | Path) -> Restored:
    """Load the backup `in_path` into the empty database at `url` (SQLite or PostgreSQL),
    all or nothing.

    Raises:
        CliError: (code 2, nothing restored) the file is missing, not a backup, made by a
            newer commons-bot, cut short, changed or corrupt — one line naming the first
            problem (a row by its table and key) — or the database is not empty.
    """
    in_path = Path(in_path)
    if not in_path.is_file():
        raise CliError(f"{in_path}: no such file — give a file written by commons-bot backup", code=2)
    try:
        with gzip.open(in_path, "rb") as file:
            return _restore(url, BackupReader(file))
    except BadBackup as exc:
        raise CliError(f"{in_path}: {exc}", code=2) from None
    except OSError as exc:  # the file itself cannot be read (gzip's own errors are BadBackup)
        raise CliError(f"{in_path}: cannot be read ({exc.strerror or exc})", code=2) from None


def _restore(url: str, reader: BackupReader) -> Restored:
    revision = reader.header.revision
    if revision != HEAD_REVISION and revision not in known_revisions():
        raise BadBackup(f"written by a newer commons-bot (schema revision {revision[:40]!r}; this "
                        f"one knows up to {HEAD_REVISION})", "upgrade commons-bot, then restore it")
    created = _new_sqlite_file(url)
    engine = make_engine(url)
    try:
        rows = _load(engine, reader)
    except BaseException:
        engine.dispose()
        for path in created:
            path.unlink(missing_ok=True)
        raise
    engine.dispose()
    return Restored(rows, reader.header.warning)


def _new_sqlite_file(url: str) -> list[Path]:
    """The files a SQLite database at `url` would create, when it does not exist yet (a
    refused restore removes them, so it leaves nothing behind)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return []
    path = Path(parsed.database)
    if path.exists():
        return []
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _load(engine: Engine, reader: BackupReader) -> int:
    """One transaction: schema at the backup's revision, its rows, then the newest schema."""
    with engine.begin() as conn:
        _check_empty(conn, reader.header.revision)
        migrate(conn, reader.header.revision)
        insp = inspect(conn)
        # Commons-bot's tables at the backup's revision (a PostgreSQL schema may hold others).
        schema = {t: {c["name"] for c in insp.get_columns(t)}
                  for t in insp.get_table_names() if t in Base.metadata.tables}
        loader = _Loader(conn)
        for table, batch in reader.batches(schema, conn.dialect.name):
            loader.insert(table, batch)
        loader.finish()
        if conn.dialect.name == "postgresql":
            _move_sequences(conn)
        try:
            migrate(conn)
        except (IntegrityError, DataError) as exc:
            raise BadBackup(f"its rows do not upgrade to schema revision {HEAD_REVISION}: "
                            f"{_first_line(exc)}") from None
        return loader.rows


def _check_empty(conn: Connection, revision: str) -> None:
    """Refuse a database with rows, or with a schema at another revision than the backup's
    (the rows would not be migrated as they must)."""
    present = set(inspect(conn).get_table_names())
    for t in _tables():
        if t.name in present and conn.execute(select(text("1")).select_from(t).limit(1)).first():
            raise CliError("the database of --config is not empty — restore into a new, empty "
                           "database (or a new SQLite file)", code=2)
    if "alembic_version" in present:
        at = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        if at is not None and at != revision:
            raise CliError(f"the database of --config has a schema at revision {at}, the backup is "
                           f"at {revision} — restore into a new, empty database (or a new SQLite "
                           "file)", code=2)


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0][:200] if str(orig).strip() else type(orig).__name__


class _Loader:
    """Inserts checked rows; a row the database refuses (a duplicate, a dangling reference)
    is found and named. A column referring to its own table is set after all its rows."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rows = 0
        self.deferred: list[tuple[Table, dict[str, Any], dict[str, Any]]] = []
        self._self_refs: dict[str, list[str]] = {}

    def insert(self, table: Table, batch: list[dict[str, Any]]) -> None:
        refs = self._self_refs.get(table.name)
        if refs is None:
            refs = self._self_refs[table.name] = [
                c.name for c in table.columns if any(fk.column.table is table for fk in c.foreign_keys)]
        for row in batch:
            later = {k: row[k] for k in refs if row.get(k) is not None}
            if later:
                self.deferred.append((table, row.copy(), later))
                row.update({k: None for k in later})
        try:
            # A savepoint per batch: a refused batch leaves the transaction usable, to find its row.
            with self.conn.begin_nested():
                self.conn.execute(insert(table), batch)
        except (IntegrityError, DataError):
            self._refused(table, batch)
        self.rows += len(batch)

    def _refused(self, table: Table, batch: list[dict[str, Any]]) -> None:
        for row in batch:
            try:
                with self.conn.begin_nested():
                    self.conn.execute(insert(table), [row])
            except (IntegrityError, DataError) as exc:
                raise BadBackup(f"{_name(table, row)}: {self._why(table, row, exc)}") from None
        raise BadBackup(f"table {table.name}: the database refused its rows")

    def _exists(self, table: Table, values: dict[str, Any]) -> bool:
        where = [table.c[k] == v for k, v in values.items()]
        found = self.conn.execute(select(text("1")).select_from(table).where(*where).limit(1))
        return found.first() is not None

    def _why(self, table: Table, row: dict[str, Any], exc: Exception) -> str:
        """Why the database refused `row`, in words (its own message as a last resort)."""
        if self._exists(table, {c.name: row[c.name] for c in table.primary_key.columns}):
            return "a second row with the same key"
        for uc in table.constraints:
            if (isinstance(uc, UniqueConstraint) and all(row.get(c.name) is not None for c in uc.columns)
                    and self._exists(table, {c.name: row[c.name] for c in uc.columns})):
                return f"repeats the {', '.join(c.name for c in uc.columns)} of another row"
        return self._dangling(table, row) or f"the database refused it: {_first_line(exc)}"

    def _dangling(self, table: Table, values: dict[str, Any]) -> str | None:
        for fk in table.foreign_keys:
            value = values.get(fk.parent.name)
            if value is not None and not self._exists(fk.column.table, {fk.column.name: value}):
                return f"{fk.parent.name} {value!r} refers to no {fk.column.table.name} row"
        return None

    def finish(self) -> None:
        """Set the columns that refer to their own table, now that every row is in."""
        for table, row, later in self.deferred:
            key = {c.name: row[c.name] for c in table.primary_key.columns}
            try:
                with self.conn.begin_nested():
                    self.conn.execute(update(table).where(*(table.c[k] == v for k, v in key.items()))
                                      .values(**later))
            except (IntegrityError, DataError) as exc:
                why = self._dangling(table, later) or f"the database refused it: {_first_line(exc)}"
                raise BadBackup(f"{_name(table, row)}: {why}") from None


def _name(table: Table, row: dict[str, Any]) -> str:
    return row_name(table.name, tuple(row.get(c.name) for c in table.primary_key.columns))


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
