"""Decision types, advice decisions and outcome statements, as members see them
(docs/behaviour.md, Decision types)."""

from datetime import timedelta

import pytest

from bot.domain.rules import Tally, decision_outcome
from tests.conftest import Chat, build


def test_consent_outcome_explains_its_rule(chat):
    opened = chat.say("alice", "!propose Adopt a code of conduct")
    assert opened.startswith("P1 is open until 2026-12-04 12:00 UTC")
    assert "Rule: consent passes when more agree than disagree, with no block." in opened
    [announcement] = chat.announcements()
    assert "Rule: consent passes when more agree than disagree, with no block." in announcement
    chat.say("bob", "!vote P1 agree")
    chat.say("carol", "!vote P1 disagree too strict")
    chat.say("alice", "!close P1")
    [closed] = chat.announcements()
    assert closed.startswith("P1 closed: not passed (1 agree, 1 disagree)")
    assert ("Why: 1 agree, 1 disagree — consent passes when more agree than disagree, with no "
            "block." in closed)


def test_significant_decision_needs_more_than_half_agree(chat):
    opened = chat.say("alice", "!propose Move to a new forge type:significant")
    assert opened.startswith("P1 is open until 2026-12-08 12:00 UTC")  # 7 days
    assert "significant passes when more than half of the votes agree, with no block" in opened
    assert "(significant decision)" in chat.announcements()[0]
    chat.say("bob", "!vote P1 agree")
    chat.say("carol", "!vote P1 abstain")
    chat.clock.advance(timedelta(days=7))
    assert chat.core.process_due() == 2  # the proposal, and Monday's digest
    [closed] = [t for t in chat.announcements() if t.startswith("P1")]
    # Consent would pass (1 agree, 0 disagree); half of the votes is not more than half.
    assert closed.startswith("P1 closed: not passed (1 agree, 1 abstain)")
    assert "Why: 1 agree of 2 votes — significant passes when more than half" in closed
    assert "Status: closed 2026-12-08 12:00 UTC: not passed" in chat.say("dave", "!proposal P1")


def test_quorum_type_counts_all_members_and_emergency_ignores_blocks(chat):
    for m in ("bob", "carol", "dave"):
        chat.say(m, "!whoami")
    chat.say("alice", "!propose Change the licence type:quorum")
    for m in ("alice", "bob"):
        chat.say(m, "!vote P1 agree")
    chat.say("carol", "!vote P1 abstain")
    chat.say("alice", "!close P1")
    closed = chat.announcements()[-1]
    # alice, bob, carol, dave: 3 of 4 members agree or abstain = 75%.
    assert closed.startswith("P1 closed: passed (2 agree, 1 abstain)")
    assert "3 of 4 members agree or abstain — quorum passes when at least 75% of all members" in closed
    chat.say("alice", "!propose Take the server down now type:emergency")
    chat.say("bob", "!vote P2 agree")
    chat.say("carol", "!vote P2 agree")
    chat.say("alice", "!vote P2 agree")
    chat.say("dave", "!vote P2 block we lose the logs")
    assert chat.say("alice", "!close P2") == "P2 closed: passed."
    closed = chat.announcements()[-1]
    assert "blocks are recorded but do not stop it" in closed and "dave (block): we lose the logs" in closed


def test_advice_process_decided_by_its_decision_makers(chat):
    chat.say("erin", "!whoami")
    assert "add deciders:@alice,@bob" in chat.say("bob", "!propose New logo type:advice")
    assert "is only for type:advice" in chat.say("bob", "!propose New logo deciders:@erin")
    assert "@nobody is not a member here" in chat.say("bob", "!propose X type:advice deciders:@nobody")
    opened = chat.say("bob", "!propose New logo type:advice deciders:@erin,@bob closes:2d")
    assert "advice: its decision makers record the decision after the advice period; votes are " \
           "advice (decision makers: erin, bob)" in opened
    chat.outbox()
    chat.say("carol", "!vote P1 disagree the old one is loved")
    assert "advice period runs until 2026-12-03 12:00 UTC" in chat.say("erin", "!decide P1 passed ok")
    chat.clock.advance(timedelta(days=2))
    assert chat.core.process_due() == 1
    out = chat.outbox()
    room = [o.text for o in out if o.kind == "announce"]
    assert room[0].startswith("P1's advice period is over (1 disagree)")
    assert "carol (disagree): the old one is loved" in room[0]
    assert sum(1 for o in out if o.kind == "notice") == 2  # each decision maker is asked
    assert chat.say("dave", "!vote P1 agree").startswith("✗ P1 is closed; voting is over")
    assert "only P1's decision makers (erin, bob)" in chat.say("dave", "!decide P1 passed yes")
    assert "say passed or not passed" in chat.say("erin", "!decide P1 maybe")
    assert "say what was decided" in chat.say("erin", "!decide P1 passed")
    assert chat.say("erin", "!decide P1 not passed we keep the old logo, as advised") == \
        "P1 is decided: not passed, and announced."
    [decided] = chat.announcements()
    assert decided.startswith("P1 decided: not passed by erin — New logo")
    assert "Decision: we keep the old logo, as advised" in decided
    assert "already decided (not passed)" in chat.say("bob", "!decide P1 passed")
    chat.say("alice", "!propose Plain")
    refused = chat.say("alice", "!decide P2 passed x")
    assert "P2 is a consent decision: its votes decide it at close" in refused


def test_decide_after_downtime_ends_the_advice_period_first(chat):
    chat.say("bob", "!propose Rename the project type:advice deciders:@bob closes:1d")
    chat.announcements()
    chat.clock.advance(timedelta(days=2))  # no scheduler ran
    assert chat.say("bob", "!decide P1 passed we rename it") == "P1 is decided: passed, and announced."
    texts = chat.announcements()
    assert texts[0].startswith("P1's advice period is over") and texts[1].startswith("P1 decided: passed")
    assert chat.core.process_due() == 0


def test_unknown_or_unused_types_are_refused(db_url):
    core, clock = build(db_url, decisions={"consent": {}, "significant": {"hours": 240}})
    chat = Chat(core, clock)
    refused = chat.say("alice", "!propose X type:emergency")
    assert refused.startswith("✗ type:emergency is not a decision type of this community — choose "
                              "consent, significant")
    assert chat.say("alice", "!propose X type:significant").startswith(
        "P1 is open until 2026-12-11 12:00 UTC")
    helped = chat.say("bob", "!help propose")
    assert "- `significant`, 10 days: significant passes when" in helped and "- `emergency`" not in helped
    core.engine.dispose()


def test_help_propose_states_every_rule(chat):
    helped = chat.say("bob", "!help propose")
    for line in ("- `consent` (the default), 3 days: consent passes when more agree than disagree",
                 "- `significant`, 7 days: significant passes when more than half of the votes agree",
                 "- `quorum`, 7 days: quorum passes when at least 75% of all members who may vote",
                 "- `emergency`, 24 h: emergency passes when at least 75% of the votes agree",
                 "- `advice`, 3 days: advice: its decision makers record the decision"):
        assert line in helped


def test_outcome_statement_and_review_reminder_after_downtime(chat):
    chat.say("bob", "!propose Weekly calls on Tuesday")
    assert "is not closed yet" in chat.say("bob", "!outcome P1 We meet review:90d")
    chat.say("carol", "!vote P1 agree")
    chat.say("bob", "!close P1")
    chat.announcements()
    assert "only the author of P1 or a maintainer" in chat.say("dave", "!outcome P1 nope")
    assert "review: 'soon' is not a time" in chat.say("bob", "!outcome P1 We meet review:soon")
    assert chat.say("bob", "!outcome P1 We meet on Tuesdays at 18:00 UTC review:90d") == (
        "The outcome of P1 is recorded and announced; the community is reminded to review it on "
        "2027-03-01 12:00 UTC.")
    assert chat.announcements() == ["Outcome of P1 (passed): We meet on Tuesdays at 18:00 UTC\n"
                                    "Review on 2027-03-01 12:00 UTC."]
    assert "Outcome statement: We meet on Tuesdays at 18:00 UTC (review 2027-03-01 12:00 UTC)" in \
        chat.say("dave", "!proposal P1")
    chat.clock.advance(timedelta(days=100))  # the bot was down at the review date
    assert chat.core.process_due() == 2  # the review, and one digest for the missed Mondays
    [review] = [t for t in chat.announcements() if "review" in t]
    assert review.startswith("(late: was due 2027-03-01 12:00 UTC) Time to review P1 (passed)")
    assert "Outcome: We meet on Tuesdays at 18:00 UTC" in review
    assert chat.core.process_due() == 0  # once


@pytest.mark.parametrize(("kind", "tally", "quorum", "eligible", "expected"), [
    ("consent", Tally(agree=2, disagree=1), None, 0, "passed"),
    ("consent", Tally(agree=1, disagree=1), None, 0, "not passed"),
    ("significant", Tally(agree=2, abstain=1), None, 0, "passed"),
    ("significant", Tally(agree=2, abstain=1, block=1), None, 0, "blocked"),
    ("significant", Tally(agree=1), 2, 0, "no quorum"),
    ("quorum", Tally(agree=2, abstain=1), None, 4, "passed"),
    ("quorum", Tally(agree=2), None, 4, "not passed"),
    ("emergency", Tally(agree=3, block=1), None, 0, "passed"),
    ("emergency", Tally(), None, 0, "not passed"),
    ("emergency", Tally(agree=2, disagree=1), None, 0, "not passed"),
])
def test_decision_rules(kind, tally, quorum, eligible, expected):
    assert decision_outcome(kind, tally, quorum, eligible) == expected
