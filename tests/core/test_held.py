"""Consent → work → money: `if:P3` needs and funding calls (docs/behaviour.md, Held items),
as members see them."""

from datetime import timedelta


def test_need_and_call_open_when_the_proposal_passes(chat):
    chat.say("bob", "!propose Build a Spanish edition closes:2d")
    assert chat.say("bob", "!offer Translate the guide #spanish reward:300EUR if:P1") == \
        "T1 is proposed: held until P1 passes (cancelled if it does not)."
    assert chat.say("fundco", "!fund Spanish sprint budget:1000EUR closes:30d if:P1") == \
        "F1 is proposed: held until P1 passes (cancelled if it does not)."
    shown = chat.say("dave", "!proposal P1")
    assert ("Opens if it passes: need **T1** Translate the guide · 300 EUR (proposed); "
            "funding call **F1** Spanish sprint · 1000 EUR (proposed)") in shown
    assert chat.say("carol", "!claim T1").startswith("✗ T1 is proposed and cannot be claimed")
    assert chat.say("carol", "!pitch F1 Docs ask:100EUR").startswith("✗ F1 is closed")
    assert "No open needs" in chat.say("carol", "!needs")
    chat.say("carol", "!watch #spanish")
    chat.say("carol", "!vote P1 agree")
    chat.outbox()
    chat.clock.advance(timedelta(days=2))
    assert chat.core.process_due() == 1
    out = chat.outbox()
    room = [o.text for o in out if o.kind == "announce"]
    assert room[0].startswith("P1 closed: passed (1 agree)")
    assert room[1].startswith("P1 passed, so need **T1** Translate the guide")
    assert room[2].startswith("P1 passed, so funding call **F1** is open: Spanish sprint")
    assert any(o.kind == "notice" and "T1" in o.text for o in out)  # carol watches #spanish
    assert chat.say("carol", "!claim T1").startswith("You claimed T1")
    assert chat.say("carol", "!pitch F1 Docs ask:100EUR").startswith("B1")


def test_held_work_is_cancelled_when_the_proposal_closes_while_the_bot_was_down(chat):
    chat.say("bob", "!propose Pay for a logo closes:1d")
    chat.say("bob", "!offer Draw a logo reward:200EUR if:P1")
    chat.say("carol", "!vote P1 disagree too expensive")
    chat.outbox()
    chat.clock.advance(timedelta(days=4))  # nobody was there at the deadline
    assert chat.core.process_due() == 1
    room = [o.text for o in chat.outbox() if o.kind == "announce"]
    assert room[0].startswith("(late: was due 2026-12-02 12:00 UTC) P1 closed: not passed")
    assert room[1] == "T1 (Draw a logo) is cancelled: P1 did not pass (not passed)."
    assert "Cancelled: P1 did not pass (not passed)" in chat.say("dave", "!task T1")
    assert chat.core.process_due() == 0


def test_advice_decision_opens_held_need_and_bad_conditions_are_refused(chat):
    chat.say("bob", "!propose Hire a designer type:advice deciders:@bob")
    chat.say("bob", "!offer Design review if:P1")
    assert chat.say("bob", "!offer X if:P9").startswith("✗ P9 does not exist")
    assert chat.say("bob", "!offer X if:T1").startswith("✗ 'T1' is not a proposal id")
    chat.say("bob", "!close P1")
    chat.say("bob", "!decide P1 passed we hire")
    assert "- **T1** Design review · 1 of 1 free" in chat.say("dave", "!needs")
    assert chat.say("bob", "!offer Y if:P1").startswith("✗ P1 is already closed (passed)")


def test_a_deadline_before_the_proposal_closes_is_refused_saying_when_it_closes(chat):
    chat.say("bob", "!propose Fund a docs sprint closes:3d")
    assert chat.say("fundco", "!fund Docs sprint budget:100EUR closes:1d if:P1").startswith(
        "✗ the call would close on 2026-12-02 12:00 UTC, before P1 closes on 2026-12-04 12:00 "
        "UTC, and a call held by P1 opens only then — give closes: after that, like closes:4d")
    assert chat.say("bob", "!offer Translate the guide due:2026-12-03 if:P1").startswith(
        "✗ the need would be due on 2026-12-03, before P1 closes on 2026-12-04 12:00 UTC, and a "
        "need held by P1 opens only then — give due: after that, like due:")
    assert chat.say("dave", "!calls") == "No funding calls yet."
    assert chat.say("fundco", "!fund Docs sprint budget:100EUR closes:4d if:P1").startswith(
        "F1 is proposed")
    assert chat.say("bob", "!offer Translate the guide due:5d if:P1").startswith("T1 is proposed")


def test_a_call_whose_closing_time_passed_before_its_advice_proposal_was_decided_is_cancelled(chat):
    chat.say("bob", "!propose Hire a designer type:advice deciders:@bob closes:1d")
    chat.say("fundco", "!fund Design sprint budget:100EUR closes:2d if:P1")
    chat.clock.advance(timedelta(days=3))  # the advice period and the call's time are over
    chat.core.process_due()
    chat.outbox()
    chat.say("bob", "!decide P1 passed we hire")
    room = chat.announcements()
    assert ("F1 (Design sprint) is cancelled: P1 passed, but F1's closing time "
            "2026-12-03 12:00 UTC had passed — open a new call with !fund.") in room
    assert "Cancelled" in chat.say("dave", "!call F1")
    assert chat.core.process_due() == 0
