"""`commons-bot audit` and `export` on a record they cannot vouch for: an empty one is said
to be empty, and a row commons-bot could not have written (edited by hand, or loaded by an
older restore that did not check) is named by table and key — never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bot.__main__ import main

CORRUPT = "the database holds a row commons-bot did not write: {} — correct it, or restore a good backup\n"


def config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "audit.yaml"
    path.write_text(f"database_url: '{url}'\ncommunities:\n  - id: demo\n", encoding="utf-8")
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def tamper(url: str, sql: str, **params: Any) -> None:
    """Change the database behind the bot's back (on SQLite with foreign keys off, as a hand
    with the sqlite3 shell would)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        with conn:
            conn.execute(sql.replace("CAST(:d AS json)", ":d"), params)
        conn.close()
        return
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql), params)
    engine.dispose()


def event_id(url: str, kind: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        eid = conn.execute(text("SELECT max(id) FROM events WHERE kind = :k"), {"k": kind}).scalar_one()
    engine.dispose()
    return int(eid)


def approved(chat) -> None:  # type: ignore[no-untyped-def]
    chat.say("alice", "!offer Fix the login crash reward:50EUR")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 https://example.org/pr/1")
    assert "enters the ledger" in chat.say("alice", "!approve T1 thanks")


def test_an_empty_record_is_said_to_be_empty(db_url, tmp_path, capsys):
    assert run(capsys, "audit", "--config", config(tmp_path, db_url)) == (
        1, "audit: the record of demo is empty (no events) — nothing to check; is this the "
           "database you meant?\n", "")


def test_an_event_whose_details_are_not_an_object_is_named(chat, db_url, tmp_path, capsys):
    approved(chat)
    eid = event_id(db_url, "claim.made")
    tamper(db_url, "UPDATE events SET details = CAST(:d AS json) WHERE id = :id", d='"a string"', id=eid)
    cfg = config(tmp_path, db_url)
    expected = CORRUPT.format(f"events row {eid}: details is not a JSON object")
    assert run(capsys, "audit", "--config", cfg) == (1, "", expected)
    out = tmp_path / "events.csv"
    assert run(capsys, "export", "--config", cfg, "--what", "events", "--out", str(out)) == (1, "", expected)
    assert not out.exists()


def test_an_event_whose_amount_is_not_a_whole_number_is_named(chat, db_url, tmp_path, capsys):
    approved(chat)
    assert chat.say("fundco", "!receive 400EUR from:bob donation").startswith("R1 recorded: 400 EUR")
    eid = event_id(db_url, "claim.approved")
    tamper(db_url, "UPDATE events SET details = CAST(:d AS json) WHERE id = :id",
           d='{"member": 2, "amount_minor": "50.5", "currency": "EUR"}', id=eid)
    cfg = config(tmp_path, db_url)
    assert run(capsys, "audit", "--config", cfg) == (1, "", CORRUPT.format(
        f"events row {eid}: details of claim.approved: amount_minor '50.5' is not a whole number"))
    # A receipt, replayed by the books: an amount in words, then an amount left out.
    receipt = event_id(db_url, "receipt.recorded")
    tamper(db_url, "UPDATE events SET details = CAST(:d AS json) WHERE id = :id",
           d='{"member": 2, "amount_minor": 5000, "currency": "EUR"}', id=eid)
    tamper(db_url, "UPDATE events SET details = CAST(:d AS json) WHERE id = :id",
           d='{"amount_minor": "forty", "operations_minor": 20000, "commons_minor": 20000}', id=receipt)
    assert run(capsys, "audit", "--config", cfg) == (1, "", CORRUPT.format(
        f"events row {receipt}: details of receipt.recorded: amount_minor 'forty' is not a whole number"))
    tamper(db_url, "UPDATE events SET details = CAST(:d AS json) WHERE id = :id",
           d='{"amount_minor": 40000, "commons_minor": 20000}', id=receipt)
    assert run(capsys, "audit", "--config", cfg) == (1, "", CORRUPT.format(
        f"events row {receipt}: details of receipt.recorded lack 'operations_minor'"))


@pytest.mark.parametrize("sql, what, expected, audit_says", [
    ("UPDATE events SET details = 'not json' WHERE id = 2", "events", "events row 2: details is not JSON",
     None),
    # The audit reads the sum of the ledger, where SQLite counts the word as 0: a difference.
    ("UPDATE contributions SET reward_minor = 'fifty' WHERE id = 1", "ledger",
     "contributions row 1: reward_minor 'fifty' is not a whole number",
     "  ledger of bob (member 2) in EUR (total): the log gives 50 EUR, the database holds 0 EUR"),
    # The audit does not read when a contribution was approved.
    ("UPDATE contributions SET at = 'last tuesday' WHERE id = 1", "ledger",
     "contributions row 1: at 'last tuesday' is not a date and time in UTC (like 2026-12-01T12:00:00)",
     "figures match"),
], ids=["details not JSON", "amount in words", "date in words"])
def test_a_row_sqlite_kept_against_its_column_is_named(tmp_path, capsys, sql, what, expected, audit_says):
    # SQLite keeps any value in any column.
    from tests.conftest import Chat, build, sqlite_url

    url = sqlite_url(tmp_path)
    core, clock = build(url)
    approved(Chat(core, clock))
    core.engine.dispose()
    tamper(url, sql)
    cfg = config(tmp_path, url)
    out_file = tmp_path / "export.csv"
    assert run(capsys, "export", "--config", cfg, "--what", what, "--out", str(out_file)) == (
        1, "", CORRUPT.format(expected))
    assert not out_file.exists()
    code, out, err = run(capsys, "audit", "--config", cfg)
    if audit_says is None:
        assert (code, out, err) == (1, "", CORRUPT.format(expected))
    else:
        assert code == (0 if audit_says == "figures match" else 1) and err == ""
        assert audit_says in out.splitlines()[-1]
