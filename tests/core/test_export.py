"""Exports of the record, as someone downloading them would read them (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from bot.store.reading import reading_engine
from bot.views.export import write_export
from tests.conftest import START
from tests.core.test_audit import session


def export(db_url: str, what: str, fmt: str, **kw) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    engine = reading_engine(db_url)
    n = write_export(engine, "demo", what, fmt, out, **kw)
    engine.dispose()
    return n, out.getvalue()


def test_events_carry_the_phrase_of_the_log_in_csv_and_json_lines(chat, db_url):
    session(chat)
    n, text = export(db_url, "events", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.startswith("id,at,platform,kind,object,actor_id,actor,phrase,details\n")
    assert len(rows) == n > 60
    phrases = [r["phrase"] for r in rows]
    assert "alice approved bob's work on T1 — 50 EUR: thanks!" in phrases
    assert "dave withdrew their points from B3" in phrases
    assert "carol's claim on T3 expired; the slot is free" in phrases
    assert "carol holds the claim on T7 as the pitcher of B1" in phrases
    approved = next(r for r in rows if r["kind"] == "claim.approved")
    assert json.loads(approved["details"])["amount_minor"] == 5000
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)

    n_json, lines = export(db_url, "events", "json")
    records = [json.loads(line) for line in lines.splitlines()]
    assert n_json == n == len(records)
    assert [r["phrase"] for r in records] == phrases
    assert records[0]["details"]["title"] == "Fix the login crash"


def test_ledger_needs_proposals_and_calls(chat, db_url):
    session(chat)
    n, text = export(db_url, "ledger", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert n == 3
    assert [(r["member"], r["need"], r["amount"], r["currency"], r["approved_by"]) for r in rows] == [
        ("bob", "T1", "50.00", "EUR", "alice"), ("bob", "T2", "33.34", "EUR", "alice"),
        ("dave", "T2", "40.00", "EUR", "alice")]

    _, text = export(db_url, "needs", "json")
    needs = {r["need"]: r for r in map(json.loads, text.splitlines())}
    assert needs["T1"]["state"] == "done" and needs["T4"]["state"] == "cancelled"
    assert needs["T7"]["call"] == "F1" and needs["T7"]["reward"] == "600.00"

    _, text = export(db_url, "proposals", "csv")
    props = {r["proposal"]: r for r in csv.DictReader(io.StringIO(text))}
    assert (props["P1"]["outcome"], props["P1"]["agree"], props["P1"]["disagree"]) == ("passed", "2", "0")
    assert (props["P2"]["outcome"], props["P2"]["block"]) == ("blocked", "1")

    _, text = export(db_url, "calls", "csv")
    calls = [(r["call"], r["pitch"], r["points"], r["funded"], r["unallocated"], r["need"])
             for r in csv.DictReader(io.StringIO(text))]
    assert calls == [
        ("F1", "", "", "", "0.00", ""), ("F1", "B1", "90", "600.00", "", "T7"),
        ("F1", "B2", "90", "300.00", "", "T8"), ("F1", "B3", "7", "100.00", "", "T9"),
        ("F2", "", "", "", "50.00", ""), ("F2", "B4", "3", "50.00", "", "T6")]


def test_since_keeps_later_records_only(chat, db_url):
    session(chat)
    n_all, _ = export(db_url, "events", "csv")
    n_later, text = export(db_url, "events", "json", since=START + timedelta(days=3))
    records = [json.loads(line) for line in text.splitlines()]
    assert 0 < n_later < n_all
    assert all(r["at"] >= (START + timedelta(days=3)).isoformat() for r in records)


def test_an_unknown_export_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--what must be one of events, ledger"):
        write_export(reading_engine(f"sqlite:///{tmp_path}/x.db"), "demo", "members", "csv", io.StringIO())
