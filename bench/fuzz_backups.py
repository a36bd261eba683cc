"""Mutated real backups through `commons-bot restore`, then `audit` and `export`: internal
errors, tracebacks and restores that were not all or nothing (the backup part of fuzz.py).

A real record is made on SQLite (a scripted session touching every kind of record, then
commands from fuzz.py's generator) and backed up; each try damages that backup as a disk, a copy or a
hand would: the compressed file cut, bytes flipped, garbage appended; lines cut, dropped,
doubled, swapped or garbled and the file compressed again; a header, a table line or one
value changed to something hostile, most of them "resealed" (row counts and checksum made
to match again, as a buggy writer would leave them) so that the row checks are reached.
Each goes through `commons-bot restore` (the command line's `main`, in this process) into
an empty database; a refused one must say one line, exit 2 and leave the database as it
was; an accepted one is audited and exported. On SQLite, half the accepted ones then get
one value changed behind the bot's back (as with the sqlite3 shell) and are audited and
exported again. An internal error is an exception out of `main`, an exit status not
expected, a refusal not on one line, "Something went wrong" or a log line at ERROR, and a
restore that changed the database it refused; every command's outcome goes to the log,
with the traceback of each exception, and the tracebacks in it are counted.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import logging
import random
import shutil
import sqlite3
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bot.__main__ import main
from bot.clock import ManualClock
from bot.ports import CommunityId, InboundMessage, Platform
from bot.store.backup import backup
from bot.store.db import make_engine, upgrade
from bot.views.export import WHATS

HOSTILE: list[Any] = [None, 0, -1, 1.5, 2**31, 2**63, 2**64, True, "", "x" * 600, "a\u0000b",
                      "2026-13-01T00:00:00", "2026-12-01T12:00:00+02:00", "last tuesday", [], {},
                      [1, 2], {"member": "x"}, "not json", 999999, "EUR", "open", "\u202e"]


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class Mutator:
    """Damaged copies of one backup, from a seeded `random.Random`."""

    def __init__(self, good: Path, seed: int) -> None:
        self.r = random.Random(seed)
        self.packed = good.read_bytes()
        self.lines = gzip.decompress(self.packed).splitlines(keepends=True)
        # The lines of each table (its table line and rows), so that a change falls on a
        # table picked at random half the time, not mostly on the biggest ones.
        self.sections: list[range] = []
        start = None
        for i, line in enumerate(self.lines):
            if line.startswith((b'{"table"', b'{"end"')):
                if start is not None:
                    self.sections.append(range(start, i))
                start = i
        self.sections = [s for s in self.sections if len(s) > 1]

    def _line(self, lines: list[bytes]) -> int:
        """A line to change: any, or one of a table picked at random."""
        if self.r.random() < 0.5:
            return self.r.randrange(len(lines) - 1)  # not the end line, rewritten when resealed
        return self.r.choice(self.r.choice(self.sections))

    def mutate(self) -> tuple[str, bytes]:
        """(what was done, the damaged file's bytes)."""
        r = self.r
        k = r.random()
        if k < 0.06:
            cut = r.randrange(len(self.packed))
            return f"compressed file cut at byte {cut}", self.packed[:cut]
        if k < 0.12:
            data = bytearray(self.packed)
            for _ in range(r.randint(1, 3)):
                data[r.randrange(len(data))] = r.randrange(256)
            return "bytes of the compressed file changed", bytes(data)
        if k < 0.14:
            return "garbage appended", self.packed + bytes(r.randrange(256) for _ in range(20))
        lines = list(self.lines)
        what, reseal = self._lines(lines) if k < 0.45 else self._value(lines)
        if reseal:
            lines = _resealed(lines)
        return what + (" (resealed)" if reseal else ""), gzip.compress(b"".join(lines))

    def _lines(self, lines: list[bytes]) -> tuple[str, bool]:
        r = self.r
        i = self._line(lines)
        k = r.random()
        if k < 0.25:
            del lines[i:]
            return f"cut before line {i + 1}", False
        if k < 0.45:
            del lines[i]
            return f"line {i + 1} dropped", r.random() < 0.5
        if k < 0.65:
            lines.insert(i, lines[i])
            return f"line {i + 1} doubled", r.random() < 0.5
        if k < 0.8:
            j = r.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            return f"lines {i + 1} and {j + 1} swapped", r.random() < 0.5
        data = bytearray(lines[i])
        for _ in range(r.randint(1, 3)):
            data[r.randrange(len(data))] = r.randrange(256)
        lines[i] = bytes(data)
        return f"bytes of line {i + 1} changed", r.random() < 0.5

    def _value(self, lines: list[bytes]) -> tuple[str, bool]:
        r = self.r
        i = self._line(lines)
        item = json.loads(lines[i])
        value = r.choice(HOSTILE)
        if isinstance(item, list) and item:
            j = r.randrange(len(item))
            k = r.random()
            if k < 0.3:
                # A plausible value: the same column of another row (a state, a key, an amount).
                rows = next((s for s in self.sections if i in s), range(i, i + 1))
                other = json.loads(lines[r.choice(rows[1:] or rows)])
                item[j] = other[j] if isinstance(other, list) and j < len(other) else value
                what = f"value {j} of line {i + 1} set to {item[j]!r:.30}, another row's"
            elif k < 0.8:
                item[j] = value
                what = f"value {j} of line {i + 1} set to {value!r:.30}"
            elif k < 0.9:
                item.append(value)
                what = f"a value added to line {i + 1}"
            else:
                item.pop(j)
                what = f"value {j} of line {i + 1} removed"
        elif isinstance(item, dict):
            key = r.choice(sorted(item))
            if key == "columns" and r.random() < 0.7:
                cols = item["columns"]
                op = r.choice(["rename", "add", "drop", "reorder"])
                if op == "rename":
                    cols[r.randrange(len(cols))] = "colour"
                elif op == "add":
                    cols.append("colour")
                elif op == "drop":
                    cols.pop(r.randrange(len(cols)))
                else:
                    r.shuffle(cols)
                what = f"columns of line {i + 1}: {op}"
            elif key == "tables" and r.random() < 0.7:
                r.shuffle(item["tables"])
                what = "tables of the header shuffled"
            else:
                item[key] = value
                what = f"{key} of line {i + 1} set to {value!r:.30}"
        else:
            return "nothing changed", False
        lines[i] = (json.dumps(item, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        return what, r.random() < 0.8


def _resealed(lines: list[bytes]) -> list[bytes]:
    """Row counts and checksum made to match the lines again."""
    body = [b for b in lines if not b.startswith(b'{"end"')]
    try:
        header = json.loads(body[0])
        counts: dict[str, int] = {}
        table = None
        for b in body[1:]:
            x = json.loads(b)
            if isinstance(x, dict) and "table" in x:
                table = str(x["table"])
                counts[table] = 0
            elif table is not None:
                counts[table] += 1
        if isinstance(header, dict) and isinstance(header.get("rows"), dict):
            header["rows"] = counts
            body[0] = (json.dumps(header) + "\n").encode()
    except (ValueError, IndexError, TypeError):
        pass  # a line that is not JSON any more: the checksum alone is made to match
    digest = hashlib.sha256(b"".join(body)).hexdigest()
    return [*body, (json.dumps({"end": "commons-bot-backup", "sha256": digest}) + "\n").encode()]


class Target:
    """An empty database for one try: a SQLite file (a migrated copy, or none yet) or a
    new PostgreSQL schema."""

    def __init__(self, kind: str, work: Path, pg_url: str, template: Path | None, n: int,
                 fresh: bool) -> None:
        self.kind, self.schema, self.file = kind, None, None
        if kind == "sqlite":
            self.file = work / f"target{n}.sqlite3"
            if not fresh and template is not None:
                shutil.copyfile(template, self.file)
            self.url = f"sqlite:///{self.file}"
        else:
            self.schema = f"fuzzbk_{n}_{random.getrandbits(32):08x}"
            _pg(pg_url, f"CREATE SCHEMA {self.schema}")
            sep = "&" if "?" in pg_url else "?"
            self.url = f"{pg_url}{sep}options=-csearch_path%3D{self.schema}"
        self.rows_before = self.rows()

    def rows(self) -> int | None:
        """Rows in all tables (None: no SQLite file or no table in the schema)."""
        if self.file is not None:
            if not self.file.exists():
                return None
            conn = sqlite3.connect(self.file)
            try:
                names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                return sum(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]
                           for n in names if n != "alembic_version")
            finally:
                conn.close()
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                names = conn.execute(text("SELECT table_name FROM information_schema.tables "
                                          "WHERE table_schema = current_schema()")).scalars().all()
                if not names:
                    return None
                return sum(conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one()
                           for n in names if n != "alembic_version")
        finally:
            engine.dispose()

    def drop(self, pg_url: str) -> None:
        if self.file is not None:
            for p in (self.file, Path(f"{self.file}-wal"), Path(f"{self.file}-shm")):
                p.unlink(missing_ok=True)
        else:
            _pg(pg_url, f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


def _pg(url: str, sql: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()


def _tamper(path: Path, r: random.Random) -> str:
    """One value of a restored SQLite database changed behind the bot's back."""
    conn = sqlite3.connect(path)
    try:
        tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name != 'alembic_version'")
                  if conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]]
        table = r.choice(tables)
        columns = [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')]
        column = r.choice(columns)
        value = r.choice(HOSTILE)
        stored = json.dumps(value) if isinstance(value, (list, dict, bool)) else value
        if isinstance(stored, int) and stored >= 2**63:
            stored = str(stored)
        offset = r.randrange(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
        with conn:
            conn.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = '
                         f'(SELECT rowid FROM "{table}" LIMIT 1 OFFSET {offset})', (stored,))
        return f"{table}.{column} of row {offset + 1} set to {value!r:.30}"
    except sqlite3.Error as exc:
        return f"tamper refused by SQLite ({exc})"
    finally:
        conn.close()


class Runner:
    """Runs the command line in this process and judges each outcome."""

    def __init__(self, log: io.TextIOBase) -> None:
        self.log = log
        self.errors = _Errors()
        logging.getLogger().addHandler(self.errors)
        self.figures = {"tries": 0, "refused": 0, "restored": 0, "internal_errors": 0,
                        "not_all_or_nothing": 0, "audits": 0, "exports": 0, "tampered": 0}
        self.samples: list[str] = []

    def cli(self, argv: list[str], allowed: tuple[int, ...], what: str) -> tuple[int | None, str]:
        out, err = io.StringIO(), io.StringIO()
        before = self.errors.count
        tb = None
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code: int | None = main(argv)
        except Exception:  # an exception out of main is an internal error
            code, tb = None, traceback.format_exc()
        said = err.getvalue()
        self.log.write(f"  {argv[0]}: exit {code}: {said.strip()[:300]}\n")
        if tb:
            self.log.write(tb)
        bad = (code not in allowed or self.errors.count > before
               or "Something went wrong" in out.getvalue() + said or said.count("\n") > 1
               or (code == 2 and said.count("\n") != 1))
        if bad:
            self.fail(f"{what}: {argv[0]} exit {code}: {(tb or said).strip().splitlines()[-1][:200]}")
        return code, said

    def fail(self, sample: str) -> None:
        self.figures["internal_errors"] += 1
        self.log.write(f"  INTERNAL ERROR: {sample}\n")
        if len(self.samples) < 5:
            self.samples.append(sample)


def run_backups(kind: str, count: int, good: Path, seed: int, deadline: float, work: Path,
                log_path: Path, pg_url: str) -> dict[str, Any]:
    """`count` damaged copies of `good` through restore (into `kind`), audit and export."""
    r = random.Random(seed)
    mutator = Mutator(good, seed)
    template = None
    if kind == "sqlite":
        template = work / "template.sqlite3"
        if not template.exists():
            engine = make_engine(f"sqlite:///{template}")
            upgrade(engine)
            engine.dispose()
    with open(log_path, "a", encoding="utf-8") as log:
        runner = Runner(log)
        figures = runner.figures
        for n in range(count):
            if time.time() > deadline:
                break
            what, data = mutator.mutate()
            bad = work / "try.backup"
            bad.write_bytes(data)
            target = Target(kind, work, pg_url, template, n, fresh=r.random() < 0.2)
            config = work / "try.yaml"
            config.write_text(f"database_url: '{target.url}'\ncommunities:\n  - id: demo\n", encoding="utf-8")
            log.write(f"#{n} {kind}: {what}\n")
            figures["tries"] += 1
            try:
                code, _ = runner.cli(["restore", "--config", str(config), str(bad)], (0, 2), what)
                if code == 0:
                    figures["restored"] += 1
                    _use(runner, config, work, what)
                    if kind == "sqlite" and r.random() < 0.5 and target.file is not None:
                        tampered = _tamper(target.file, r)
                        log.write(f"  tampered: {tampered}\n")
                        figures["tampered"] += 1
                        _use(runner, config, work, f"{what}, then {tampered}")
                else:
                    figures["refused"] += 1
                    if target.rows() != target.rows_before:
                        figures["not_all_or_nothing"] += 1
                        runner.fail(f"{what}: refused, but the database changed")
            finally:
                target.drop(pg_url)
        logging.getLogger().removeHandler(runner.errors)
    return {**figures, "samples": runner.samples}


def _use(runner: Runner, config: Path, work: Path, what: str) -> None:
    """Audit and every export of the restored record: exit 0 or 1, never an exception."""
    runner.figures["audits"] += 1
    runner.cli(["audit", "--config", str(config)], (0, 1), what)
    for export in WHATS:
        runner.figures["exports"] += 1
        out = work / f"export.{export}"
        runner.cli(["export", "--config", str(config), "--what", export, "--community", "demo",
                    "--out", str(out)], (0, 1), what)
        out.unlink(missing_ok=True)


# A session touching every kind of record, so that the backup the reader is fuzzed with
# holds a row in most tables; generated commands follow it.
SESSION = [("alice", "!offer Fix the login crash #python reward:50EUR slots:2"),
           ("bob", "!claim T1"), ("bob", "!submit T1 https://example.org/pr/1"),
           ("alice", "!approve T1 thanks"), ("carol", "!claim T1"),
           ("alice", "!propose Adopt a code of conduct closes:2d"), ("bob", "!vote P1 agree"),
           ("carol", "!vote P1 block not yet"), ("fundco", "!fund Docs sprint budget:500EUR closes:3d"),
           ("carol", "!pitch F1 Spanish docs ask:300EUR"), ("bob", "!back B1 50"),
           ("bob", "!venture Acme Coop pledge:10%"), ("bob", "!revenue V1 4000EUR"),
           ("fundco", "!receive 400EUR from:V1 pledge"), ("fundco", "!receive 90EUR from:bob gift"),
           ("alice", "!watch #python"), ("fundco", "!paid T1")]


def seed_backup(directory: Path, inputs: int, seed: int, generator: type, make_core: Callable[..., Any],
                start: datetime) -> Path:
    """A backup of a real record: SESSION, then `inputs` commands from fuzz.py's `generator`
    on a core from its `make_core`, then deadlines."""
    url = f"sqlite:///{directory / 'seed.sqlite3'}"
    clock = ManualClock(start)
    core = make_core(url, clock)
    for who, said in SESSION:
        roles = frozenset({"maintainer", "foundation"}) if who in ("alice", "fundco") else frozenset()
        core.handle(InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"),
                                   space="!r:x", sender=who, sender_name=who, text=said,
                                   message_id=None, roles=roles))
    gen = generator(seed)
    for n in range(inputs):
        core.handle(gen.message(n))
    core.advance_to(clock.now() + timedelta(days=4), clock.set)
    core.engine.dispose()
    path = directory / "seed.backup"
    backup(url, path)
    return path


def fuzz_backups(a: argparse.Namespace, generator: type, make_core: Callable[..., Any],
                 start: datetime, pg_url: str) -> dict[str, object]:
    """The backup reader's run on SQLite and PostgreSQL (fuzz.py's options `a`); prints a
    line each, returns figures."""
    figures: dict[str, object] = {}
    work = Path(tempfile.mkdtemp(prefix="fuzz-backups-"))
    log = Path(a.log)
    log.write_text("", encoding="utf-8")
    try:
        good = seed_backup(work, a.seed_inputs, a.seed, generator, make_core, start)
        for db, total in (("sqlite", a.backups), ("pg", a.backups_pg)):
            t0 = time.time()
            deadline = t0 + a.max_minutes * 60 if a.max_minutes else float("inf")
            res = run_backups("sqlite" if db == "sqlite" else "postgresql", total, good,
                              a.seed, deadline, work, log, pg_url) if total > 0 else {"tries": 0}
            secs = time.time() - t0
            if total > 0:
                print(f"backups on {db}: {res['tries']:,} damaged backups in {secs:,.0f} s: "
                      f"{res['refused']:,} refused, {res['restored']:,} restored, then "
                      f"{res['audits']:,} audits and {res['exports']:,} exports ({res['tampered']:,} "
                      f"after a value was changed behind the bot's back); internal errors: "
                      f"{res['internal_errors']}, not all or nothing: {res['not_all_or_nothing']}",
                      flush=True)
                for sample in res["samples"]:
                    print(f"  internal error on {sample}", flush=True)
            figures.update({f"backups_{db}": res["tries"],
                            f"backup_internal_errors_{db}": res.get("internal_errors", 0),
                            f"seconds_backups_{db}": round(secs)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["backup_log_tracebacks"] = log.read_text(encoding="utf-8").count(
        "Traceback (most recent call last)")
    print(f"backups: {figures['backup_log_tracebacks']} tracebacks in {log}", flush=True)
    return figures
