"""`commons-bot audit`: a full session replays clean; a figure changed by hand is reported."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.service.audit import audit
from bot.store.reading import reading_engine


def session(chat) -> None:  # type: ignore[no-untyped-def]
    """Every kind of change the bot records, with deadlines fired on the way."""
    say = chat.say
    assert say("alice", "!offer Fix the login crash #python reward:50EUR").startswith("T1 is offered")
    say("bob", "!claim T1")
    say("bob", "!submit T1 https://example.org/pr/12")
    say("alice", "!changes T1 add a test")
    say("bob", "!submit T1 https://example.org/pr/13")
    assert "50 EUR" in say("alice", "!approve T1 thanks!")
    say("alice", "!offer Translate the docs #docs reward:100EUR slots:3")
    for who in ("bob", "carol", "dave"):
        say(who, "!claim T2")
        say(who, f"!submit T2 https://example.org/{who}")
    say("alice", "!approve T2 @bob")
    say("alice", "!refuse T2 @carol not in scope")
    say("alice", "!approve T2 @dave amount:40EUR")
    say("alice", "!offer Write a guide #docs")
    say("carol", "!claim T3")
    say("carol", "!release T3")
    say("carol", "!claim T3")
    say("alice", "!offer Old task")
    say("bob", "!claim T4")
    say("alice", "!cancel T4 no longer needed")
    say("alice", "!offer Slow task")
    say("dave", "!claim T5")
    say("alice", "!propose Adopt a code of conduct closes:2d quorum:2")
    say("bob", "!vote P1 agree")
    say("carol", "!vote P1 disagree too strict")
    say("carol", "!vote P1 agree")
    say("alice", "!propose Move to weekly calls closes:5d")
    say("dave", "!vote P2 block not for us")
    say("fundco", "!fund Translation sprint budget:1000EUR closes:7d")
    say("carol", "!pitch F1 Spanish docs ask:600EUR")
    say("bob", "!pitch F1 German docs ask:300EUR")
    say("dave", "!pitch F1 Italian docs ask:500EUR")
    say("bob", "!back B1 60")
    say("carol", "!back B2 90")
    say("dave", "!back B3 10")
    say("dave", "!back B3 0")
    say("dave", "!back B1 30")
    say("alice", "!back B3 7")
    say("fundco", "!fund Small grants budget:100EUR closes:2d")
    say("bob", "!pitch F2 Icons ask:50EUR")
    say("carol", "!back B4 3")
    say("alice", "!close P2")
    # Past every deadline: P1 closes, F2 closes, claims are reminded and expire.
    chat.core.advance_to(chat.clock.now() + timedelta(days=16), chat.clock.set)
    say("fundco", "!closecall F1")


def test_a_full_session_replays_clean(chat, db_url):
    session(chat)
    report = audit(reading_engine(db_url), "demo")
    assert report.differences == []
    assert report.events >= 60
    assert report.figures >= 60
    assert report.summary() == f"audit: {report.events} events replayed, {report.figures} figures match"


TAMPER = {
    "contribution": ("UPDATE contributions SET reward_minor = reward_minor + 1 "
                     "WHERE id = (SELECT MIN(id) FROM contributions)",
                     "ledger of bob (member 2) in EUR (total): the log gives 83.34 EUR, "
                     "the database holds 83.35 EUR"),
    "claim": ("UPDATE claims SET state = 'approved' WHERE state = 'refused'",
              "T2 claim #2 of carol (member 3): the log gives refused, the database holds approved"),
    "vote": ("UPDATE votes SET position = 'disagree' WHERE position = 'block'",
             "P2 vote of dave (member 4): the log gives block, the database holds disagree"),
    "allocation": ("UPDATE pitches SET funded_minor = funded_minor - 100 WHERE number = 1",
                   "F1 allocation to B1: the log gives"),
    "budget": ("UPDATE funding_calls SET budget_minor = budget_minor + 1 WHERE number = 1",
               "F1 budget: the log gives 1000 EUR, the database holds 1000.01 EUR"),
}


@pytest.mark.parametrize("what", list(TAMPER))
def test_a_figure_changed_by_hand_is_reported(chat, db_url, what):
    session(chat)
    sql, expected = TAMPER[what]
    with chat.core.engine.begin() as conn:
        assert conn.execute(text(sql)).rowcount == 1
    report = audit(reading_engine(db_url), "demo")
    assert not report.ok
    assert any(d.startswith(expected) for d in report.differences), report.differences


def test_the_migration_logs_the_claims_funded_pitches_made_before_and_the_audit_accepts_old_events(db_url):
    import json as _json

    from alembic import command

    from bot.clock import ManualClock
    from bot.service.core import Core
    from bot.store.db import alembic_config, make_engine, upgrade
    from tests.conftest import START, Chat, make_settings

    engine = make_engine(db_url)
    # Today's code runs on today's schema; the history is then taken back to the revision
    # before 0002_record and its events rewritten as the older code wrote them.
    upgrade(engine)
    chat = Chat(Core(make_settings(db_url), engine, ManualClock(START)), ManualClock(START))
    chat.say("alice", "!offer Fix the login crash reward:50EUR")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 done")
    chat.say("alice", "!approve T1")
    chat.say("fundco", "!fund Sprint budget:1000EUR closes:7d")
    chat.say("carol", "!pitch F1 Spanish docs ask:600EUR")
    chat.say("bob", "!back B1 60")
    chat.say("fundco", "!closecall F1")
    command.downgrade(alembic_config(engine), "0002_web")
    # What the code before revision 0002 wrote: no claim event for the funded pitch, and
    # amounts as text.
    with engine.begin() as conn:
        carol, bob = (conn.execute(text("SELECT id FROM members WHERE display_name = :n"), {"n": n})
                      .scalar_one() for n in ("carol", "bob"))
        old = {"title": "Spanish docs", "pitch": "B1", "call": "F1", "reward": "600 EUR",
               "claimed_by": carol}
        conn.execute(text("DELETE FROM events WHERE kind = 'claim.made' AND object = 'T2'"))
        conn.execute(text("UPDATE events SET details = :d WHERE kind = 'need.offered' AND object = 'T2'"),
                     {"d": _json.dumps(old)})
        conn.execute(text("UPDATE events SET details = :d WHERE kind = 'claim.approved'"),
                     {"d": _json.dumps({"member": bob, "reward": "50 EUR", "note": None})})
    upgrade(engine)
    assert "carol holds the claim on T2 as the pitcher of B1" in chat.say("dave", "!log T2")
    assert "alice approved bob's work on T1 — 50 EUR" in chat.say("dave", "!log T1")
    report = audit(reading_engine(db_url), "demo")
    assert report.differences == [] and report.figures > 0
    engine.dispose()
