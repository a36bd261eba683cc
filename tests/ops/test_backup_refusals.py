"""`commons-bot restore` refuses a backup cut short, changed or holding a bad row: one line
naming the problem, exit 2, and the target database is left as it was (SQLite and PostgreSQL).

The backups are real ones, then damaged as a disk, a copy or a hand would: cut at a line
(and compressed again, so gzip's own check passes), or changed in one value. "Resealed"
ones have their row counts and checksum made to match again, as a buggy writer would leave
them, so that the check of the row itself is what refuses them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bot.__main__ import main
from bot.store.backup import backup
from bot.store.db import HEAD_REVISION
from bot.store.models import Member
from tests.conftest import Chat, build
from tests.ops.test_backup import seed

REFUSED = " — nothing was restored; restore another backup"
Items = list[Any]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """A backup of a small record: members, needs, claims, events, contributions."""
    d = tmp_path_factory.mktemp("source")
    url = f"sqlite:///{d / 'source.sqlite3'}"
    core, clock = build(url)
    seed(Chat(core, clock), 2)
    core.engine.dispose()
    backup(url, d / "good.backup")
    return d / "good.backup"


def lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines(keepends=True)


def items(path: Path) -> Items:
    return [json.loads(line) for line in lines(path)]


def write_lines(path: Path, raw: list[bytes]) -> Path:
    path.write_bytes(gzip.compress(b"".join(raw)))
    return path


def write_resealed(path: Path, parsed: Items) -> Path:
    """`parsed` (without its end line) written with its row counts and checksum made to match."""
    body = [x for x in parsed if not (isinstance(x, dict) and "end" in x)]
    counts: dict[str, int] = {}
    table = None
    for x in body[1:]:
        if isinstance(x, dict):
            table = x["table"]
            counts[table] = 0
        else:
            counts[table] += 1  # type: ignore[index]
    if body[0].get("version") == 2:
        body[0]["rows"] = counts
    raw = [(json.dumps(x, ensure_ascii=False) + "\n").encode() for x in body]
    end = {"end": "commons-bot-backup", "sha256": hashlib.sha256(b"".join(raw)).hexdigest()}
    return write_lines(path, raw + ([(json.dumps(end) + "\n").encode()] if body[0]["version"] == 2 else []))


def section(parsed: Items, table: str) -> tuple[int, list[str]]:
    """The index of `table`'s first row in `parsed`, and its columns."""
    i = next(i for i, x in enumerate(parsed) if isinstance(x, dict) and x.get("table") == table)
    return i + 1, parsed[i]["columns"]


def set_value(table: str, column: str, value: Any) -> Callable[[Items], Items]:
    def change(parsed: Items) -> Items:
        i, columns = section(parsed, table)
        parsed[i][columns.index(column)] = value
        return parsed

    return change


def as_version_1(parsed: Items) -> Items:
    header = {k: v for k, v in parsed[0].items() if k != "rows"} | {"version": 1}
    return [header, *(x for x in parsed[1:] if not (isinstance(x, dict) and "end" in x))]


def restore(tmp_path: Path, url: str, backup_file: Path, capsys) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    config = tmp_path / "target.yaml"
    config.write_text(f"database_url: '{url}'\ncommunities:\n  - id: demo\n", encoding="utf-8")
    capsys.readouterr()
    code = main(["restore", "--config", str(config), str(backup_file)])
    out = capsys.readouterr()
    return code, out.out, out.err


def untouched(url: str) -> bool:
    """Whether the target is as it was: no SQLite file made, no table in the schema."""
    if url.startswith("sqlite"):
        return not Path(url.removeprefix("sqlite:///")).exists()
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM information_schema.tables "
                              "WHERE table_schema = current_schema()")).scalar()
    engine.dispose()
    return n == 0


def test_a_backup_cut_anywhere_is_refused_and_nothing_is_restored(source, empty_db_url, tmp_path, capsys):
    raw = lines(source)
    parsed = items(source)
    tables, counts = parsed[0]["tables"], parsed[0]["rows"]
    first_event, _ = section(parsed, "events")
    needs, _ = section(parsed, "needs")
    cuts = {
        "after its header": (raw[:1], f"cut short: it ends before table {tables[0]} "
                                      f"(and {len(tables) - 1} more)"),
        "before its last tables": (raw[:needs - 1], f"cut short: it ends before table needs "
                                                    f"(and {len(tables) - tables.index('needs') - 1} more)"),
        "inside a table": (raw[:first_event + 1], f"cut short: it ends inside table events "
                                                  f"(1 of its {counts['events']} rows)"),
        "before its end line": (raw[:-1], "cut short: its end line is missing"),
        "with a line dropped": (raw[:first_event] + raw[first_event + 1:],
                                f"table events holds {counts['events'] - 1} rows, its header counts "
                                f"{counts['events']}: lines are missing"),
    }
    for name, (cut, expected) in cuts.items():
        path = write_lines(tmp_path / "cut.backup", cut)
        code, out, err = restore(tmp_path, empty_db_url, path, capsys)
        assert (code, out, err) == (2, "", f"{path}: {expected}{REFUSED}\n"), name
        assert untouched(empty_db_url), name
    # Cut after half its lines, wherever that falls.
    path = write_lines(tmp_path / "half.backup", raw[:len(raw) // 2])
    code, out, err = restore(tmp_path, empty_db_url, path, capsys)
    assert code == 2 and out == "" and err.startswith(f"{path}: cut short: it ends ")
    assert err.endswith(REFUSED + "\n") and err.count("\n") == 1
    assert untouched(empty_db_url)


def test_a_version_1_backup_cut_before_its_last_tables_is_refused(source, empty_db_url, tmp_path, capsys):
    parsed = as_version_1(items(source))
    raw = [(json.dumps(x) + "\n").encode() for x in parsed]
    tables = parsed[0]["tables"]
    for cut in (raw[:1], raw[:len(raw) // 2], raw[:-2]):
        path = write_lines(tmp_path / "old.backup", cut)
        code, out, err = restore(tmp_path, empty_db_url, path, capsys)
        assert code == 2 and out == "", err
        missing = next(t for t in tables if f'"table": "{t}"'.encode() not in b"".join(cut))
        assert err.startswith(f"{path}: cut short: it ends before table {missing}"), err
        assert untouched(empty_db_url)


def test_a_whole_version_1_backup_restores_with_a_warning(source, empty_db_url, tmp_path, capsys):
    path = write_resealed(tmp_path / "old.backup", as_version_1(items(source)))
    rows = sum(1 for x in items(source) if isinstance(x, list))
    code, out, err = restore(tmp_path, empty_db_url, path, capsys)
    assert (code, out) == (0, f"restored {rows} rows from {path}\n")
    assert err == (f"{path}: warning: it is a version-1 backup, without row counts or checksum: a "
                   "cut inside its last table (payments) could not be seen — take a new backup of "
                   "the restored database with commons-bot backup\n")
    core, clock = build(empty_db_url)
    assert "- m1 10 EUR (1 contribution)" in Chat(core, clock).say("bob", "!ledger")
    core.engine.dispose()


def _extra_column(parsed: Items) -> Items:
    i, columns = section(parsed, "members")
    parsed[i - 1]["columns"] = [*columns, "colour"]
    while isinstance(parsed[i], list):
        parsed[i].append("blue")
        i += 1
    return parsed


def _duplicate_event(parsed: Items) -> Items:
    i, _ = section(parsed, "events")
    return [*parsed[:i + 1], list(parsed[i]), *parsed[i + 1:]]


def _wider_row(parsed: Items) -> Items:
    i, _ = section(parsed, "members")
    parsed[i].append(7)
    return parsed


BAD = {
    "newer schema": (lambda p: [p[0] | {"revision": "0099_future"}, *p[1:]],
                     f"written by a newer commons-bot (schema revision '0099_future'; this one "
                     f"knows up to {HEAD_REVISION}) — upgrade commons-bot, then restore it"),
    "newer format": (lambda p: [p[0] | {"version": 3}, *p[1:]],
                     "written by a newer commons-bot (backup format 3; this one reads up to 2) — "
                     "upgrade commons-bot, then restore it"),
    "extra column": (_extra_column, f"table members has a column 'colour' that schema revision "
                                     f"{HEAD_REVISION} does not have{REFUSED}"),
    "wrong row width": (_wider_row, "line {members} (table members) has {wider} values for its "
                                    f"{{width}} columns{REFUSED}"),
    "date that is no date": (set_value("events", "at", "2026-13-45T99:00:00"),
                             "events row 1: at '2026-13-45T99:00:00' is not a date and time in "
                             f"UTC (like 2026-12-01T12:00:00){REFUSED}"),
    "duplicate row": (_duplicate_event, f"events row 1: a second row with the same key{REFUSED}"),
    "dangling row": (set_value("claims", "member_id", 999),
                     f"claims row 1: member_id 999 refers to no members row{REFUSED}"),
    "non-JSON event detail": (set_value("events", "details", "{not json"),
                              f"events row 1: details is not a JSON object{REFUSED}"),
    "non-integer amount": (set_value("contributions", "reward_minor", 10.5),
                           f"contributions row 1: reward_minor 10.5 is not a whole number{REFUSED}"),
    "null where a value must be": (set_value("needs", "title", None),
                                   f"needs row 1: title is empty (null), which it cannot be{REFUSED}"),
}


@pytest.mark.parametrize("bad", sorted(BAD))
def test_a_bad_backup_is_refused_in_one_line(source, empty_db_url, tmp_path, capsys, bad):
    change, expected = BAD[bad]
    parsed = items(source)
    members, _ = section(parsed, "members")
    path = write_resealed(tmp_path / "bad.backup", change(parsed))
    code, out, err = restore(tmp_path, empty_db_url, path, capsys)
    width = len(Member.__table__.columns)
    said = expected.format(members=members + 1, width=width, wider=width + 1)
    assert (code, out, err) == (2, "", f"{path}: {said}\n")
    assert untouched(empty_db_url)


def test_a_backup_changed_after_it_was_written_is_refused(source, empty_db_url, tmp_path, capsys):
    raw = lines(source)
    changed = [line.replace(b'"reward:10EUR', b'"reward:90EUR').replace(b", 1000, ", b", 9000, ")
               for line in raw]
    assert changed != raw
    path = write_lines(tmp_path / "changed.backup", changed)
    code, out, err = restore(tmp_path, empty_db_url, path, capsys)
    assert (code, out) == (2, "")
    assert err == (f"{path}: its checksum does not match its lines: it was changed or damaged "
                   f"after it was written{REFUSED}\n")
    garbled = write_lines(tmp_path / "garbled.backup", [*raw[:3], b"[1, 2\n", *raw[4:]])
    assert restore(tmp_path, empty_db_url, garbled, capsys) == (
        2, "", f"{garbled}: line 4 is not JSON{REFUSED}\n")
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(source.read_bytes()[:-20])
    assert restore(tmp_path, empty_db_url, damaged, capsys) == (
        2, "", f"{damaged}: cut short: the compressed file ends early{REFUSED}\n")
    assert untouched(empty_db_url)


def test_a_database_at_another_schema_revision_is_refused(source, db_url, tmp_path, capsys):
    # `db_url` has the newest schema and no rows; the backup says it was taken at the first.
    path = write_resealed(tmp_path / "older.backup", [items(source)[0] | {"revision": "0001"},
                                                      *items(source)[1:]])
    assert restore(tmp_path, db_url, path, capsys) == (
        2, "", f"the database of --config has a schema at revision {HEAD_REVISION}, the backup is "
               "at 0001 — restore into a new, empty database (or a new SQLite file)\n")
