"""The audit replays governance (docs/behaviour.md, Decision types) through the type-aware
rules: decision types, advice decisions, hidden votes and secret ballots, held needs and
calls, N-of-M approvals."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from bot.service.audit import audit
from bot.store.reading import reading_engine
from tests.conftest import Chat, build


def test_a_governance_session_replays_clean_and_a_changed_outcome_is_reported(db_url):
    core, clock = build(db_url, approvals=[{"over": "500EUR", "count": 2}])
    chat = Chat(core, clock)
    say = chat.say
    for m in ("bob", "carol", "dave", "erin", "fundco"):
        say(m, "!whoami")
    say("alice", "!propose Move forge type:significant closes:2d")
    say("bob", "!vote P1 agree")
    say("carol", "!vote P1 abstain")
    say("alice", "!propose Licence type:quorum closes:2d")
    for m in ("alice", "bob", "carol", "dave", "erin"):
        say(m, "!vote P2 agree")
    say("alice", "!propose Hire type:advice deciders:@erin closes:2d hidden:yes")
    say("bob", "!vote P3 disagree too costly")
    say("alice", "!propose Treasurer anonymous:yes closes:2d")
    say("bob", "!vote P4 agree")
    say("carol", "!vote P4 block conflict")
    say("alice", "!propose Servers hidden:yes closes:2d")
    say("carol", "!vote P5 agree")
    say("alice", "!offer Migrate reward:700EUR if:P2")
    say("fundco", "!fund Sprint budget:900EUR closes:30d if:P1")
    say("alice", "!propose Emergency fix type:emergency closes:1d")
    say("bob", "!vote P6 agree")
    clock.advance(timedelta(days=3))  # every proposal closes in the catch-up
    assert core.process_due() >= 6
    say("erin", "!decide P3 not passed the advice was against it")
    say("alice", "!outcome P2 We relicense review:30d")
    say("bob", "!claim T1")
    say("bob", "!submit T1 done")
    say("alice", "!approve T1")
    say("erin", "!approve T1")
    report = audit(reading_engine(db_url), "demo")
    assert report.differences == []
    assert report.figures >= 30
    with core.engine.begin() as c:
        c.execute(text("UPDATE proposals SET outcome = 'passed' WHERE number = 1"))
    report = audit(reading_engine(db_url), "demo")
    assert report.differences == ["P1 outcome: the log gives not passed, the database holds passed"]
    core.engine.dispose()
