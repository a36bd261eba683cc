"""`!log` and a need's history: plain words, time order, late catch-ups, nothing internal."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import START


def test_a_catch_up_after_downtime_is_logged_at_the_deadline_and_marked_late(chat):
    chat.say("alice", "!offer Fix the login crash")
    chat.say("carol", "!claim T1")
    # The bot was down through the claim's expiry (14 days): nothing fired on the way.
    chat.clock.set(START + timedelta(days=20))
    chat.say("alice", "!offer Write the docs")
    assert chat.core.process_due() >= 1
    log = chat.say("bob", "!log").splitlines()
    assert log[0] == "Log, newest first (page 1):"
    assert log[1] == "- 2026-12-21 12:00 UTC [console] alice offered T2: Write the docs"
    assert log[2] == ("- 2026-12-15 12:00 UTC [bot] carol's claim on T1 expired; the slot is free "
                      "(late: was due 2026-12-15 12:00 UTC)")
    assert log[3] == "- 2026-12-01 12:00 UTC [console] carol claimed T1"
    history = chat.say("bob", "!task T1")
    assert history.index("carol's claim on T1 expired; the slot is free") < history.index("carol claimed T1")


def test_withdrawals_reviews_and_bot_bookkeeping_read_as_people_say_them(chat):
    chat.say("alice", "!offer Fix the login crash reward:50EUR")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 https://example.org/pr/1")
    chat.say("alice", "!changes T1 add a test")
    chat.say("bob", "!submit T1 https://example.org/pr/2")
    chat.say("alice", "!approve T1")
    chat.say("fundco", "!fund Sprint budget:100EUR closes:7d")
    chat.say("carol", "!pitch F1 Docs ask:60EUR")
    chat.say("bob", "!back B1 10")
    chat.say("bob", "!back B1 0")
    chat.say("carol", "!watch #python")
    chat.core.post_digest("demo")
    log = chat.say("dave", "!log")
    assert "bob withdrew their points from B1" in log
    assert "bob backed B1 with 10 points" in log
    assert "fundco opened funding call F1: Sprint — budget 100 EUR" in log
    assert "carol pitched B1 to F1: Docs — asks 60 EUR" in log
    page2 = chat.say("dave", "!log page:2")
    assert "alice approved bob's work on T1 — 50 EUR" in log + page2
    assert "alice asked bob for changes on T1: add a test" in log + page2
    for internal in ("digest", "watch", "pitch.backed", "claim.", "need."):
        assert internal not in log + page2
