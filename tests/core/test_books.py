"""The generative loop (docs/behaviour.md, The books) through the core, as members and the
foundation see it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.conftest import Chat, build


@pytest.fixture
def pool_chat(db_url) -> Iterator[Chat]:  # type: ignore[no-untyped-def]
    """A chat driver over a community whose funding calls are paid from the pool."""
    core, clock = build(db_url, pool=True)
    chat = Chat(core, clock)
    for member in ("bob", "carol"):  # members are known once they have spoken
        chat.say(member, "!whoami")
    yield chat
    core.engine.dispose()


def test_the_tour_a_venture_gives_back_and_a_funded_need_is_paid(pool_chat):
    chat = pool_chat
    reply = chat.say("bob", "!venture Acme Coop pledge:10%")
    assert reply.startswith("V1 Acme Coop is registered with you as its member; it pledges 10% of revenue")
    assert chat.say("carol", "!revenue V1 4000EUR").startswith("✗ declaring revenue is for members of V1")
    assert chat.say("bob", "!revenue V1 4000EUR") == (
        "V1 declared 4000 EUR for 2026-12; pledged amount due: 400 EUR.")
    assert chat.say("bob", "!receive 400EUR from:V1").startswith(
        "✗ recording a receipt needs the foundation role")
    assert chat.say("fundco", "!receive 400EUR from:V1 November pledge") == (
        "R1 recorded: 400 EUR from V1 Acme Coop — operations fund now 200 EUR, commons fund 200 EUR.")
    assert "gives back 10% of declared revenue (pledged 10%)" in chat.say("dave", "!ventures")
    assert chat.say("fundco", "!fund Docs sprint budget:150EUR closes:7d").startswith("F1 is open")
    books = chat.say("dave", "!books")
    assert ("Operations fund 200 EUR · commons fund 200 EUR (reserved by open calls 150 EUR, "
            "available 50 EUR) · held in all 400 EUR") in books
    chat.say("carol", "!pitch F1 Write the guide ask:150EUR")
    chat.say("dave", "!back B1 10")
    assert chat.say("fundco", "!closecall F1") == "F1 is closed and allocated."
    assert ("commons fund 50 EUR (reserved by open calls 0 EUR, available 50 EUR)"
            in chat.say("dave", "!books"))
    chat.say("carol", "!submit T1 https://example.org/guide")
    assert chat.say("alice", "!approve T1").startswith("Approved carol's work on T1")
    assert "- T1: 150 EUR to carol, by the foundation" in chat.say("dave", "!books")
    assert chat.say("bob", "!paid T1").startswith(
        "✗ marking the foundation's payments needs the foundation role")
    assert chat.say("fundco", "!paid T1") == "Recorded: carol was paid 150 EUR for T1 by the foundation."
    assert "Payables owed: none" in chat.say("dave", "!books")
    assert chat.say("fundco", "!paid T1").startswith("✗ nothing is owed on T1")


def test_books_add_up_for_the_period(pool_chat):
    chat = pool_chat
    chat.say("bob", "!venture Acme pledge:200EUR/month")
    chat.say("bob", "!revenue V1 1000EUR")
    assert chat.say("bob", "!revenue V1 500EUR").endswith("pledged amount due: 0 EUR.")
    chat.say("fundco", "!receive 301EUR from:V1")
    assert chat.say("fundco", "!receive 99EUR from:@dave").startswith(
        "✗ from:\\@dave is neither a venture like V2 nor a member here")
    chat.say("dave", "!whoami")
    chat.say("fundco", "!receive 99EUR from:@dave")
    chat.say("fundco", "!spend 120EUR hosting")
    books = chat.say("erin", "!books period:2026-12")
    # 301 splits 150.50 / 150.50, 99 splits 49.50 / 49.50; 120 leaves operations.
    assert ("Operations fund 80 EUR · commons fund 200 EUR (reserved by open calls 0 EUR, "
            "available 200 EUR) · held in all 280 EUR") in books
    assert ("In 2026-12: received 400 EUR, spent 120 EUR, reversed 0 EUR of receipts and 0 EUR "
            "of spends, allocated to funded needs 0 EUR") in books
    assert ("**V1** Acme — declared 1500 EUR, due 200 EUR, received 301 EUR: gives back 20% of "
            "declared revenue (pledged 200 EUR/month)") in books
    empty = chat.say("erin", "!books period:2026-11")
    assert "In 2026-11: received 0 EUR, spent 0 EUR" in empty
    assert chat.say("erin", "!books period:2027-01").startswith("✗ period:2027-01 has not begun")
    assert chat.say("erin", "!books period:nov").startswith(
        "✗ period:nov is not a month — write period:2026-12")


def test_refusals_name_the_available_amount(pool_chat):
    chat = pool_chat
    chat.say("fundco", "!receive 100EUR from:@bob")
    assert chat.say("fundco", "!spend 80EUR hosting") == (
        "✗ the operations fund has 50 EUR; spend at most that · usage: `!spend 120EUR <purpose>`")
    assert chat.say("fundco", "!fund Big budget:60EUR closes:7d").startswith(
        "✗ the commons fund has 50 EUR available; give a budget of at most that")
    assert chat.say("dave", "!calls") == "No funding calls yet."
    chat.say("fundco", "!fund Small budget:30EUR closes:7d")
    assert chat.say("fundco", "!fund Next budget:30EUR closes:7d").startswith(
        "✗ the commons fund has 20 EUR available")
    assert chat.say("fundco", "!receive 10USD from:@bob").startswith(
        "✗ the pool keeps its books in EUR; give the amount in EUR")
    assert chat.say("fundco", "!receive 10EUR").startswith("✗ say who gave it: from:V2")
    assert chat.say("fundco", "!spend -5EUR x").startswith("✗ '-5EUR' is not an amount")


def test_a_reversal_restores_balances_and_stays_on_record(pool_chat):
    chat = pool_chat
    chat.say("fundco", "!receive 100EUR from:@bob")
    chat.say("fundco", "!spend 30EUR stickers")
    assert chat.say("fundco", "!reverse S1 double entry") == (
        "S1 is reversed — operations fund 50 EUR, commons fund 50 EUR.")
    assert chat.say("fundco", "!reverse S1 again").startswith("✗ S1 is already reversed")
    assert chat.say("fundco", "!reverse R1") .startswith("✗ say why it is reversed")
    assert chat.say("fundco", "!reverse R1 wrong donor") == (
        "R1 is reversed — operations fund 0 EUR, commons fund 0 EUR.")
    books = chat.say("dave", "!books")
    assert "S1 spend 30 EUR stickers — reversed: double entry" in books
    assert "R1 receipt 100 EUR — reversed: wrong donor" in books
    assert "reversed 100 EUR of receipts and 30 EUR of spends" in books
    assert chat.say("fundco", "!reverse R9 x").startswith("✗ R9 does not exist")


def test_a_receipt_held_by_an_open_call_cannot_be_reversed(pool_chat):
    chat = pool_chat
    chat.say("fundco", "!receive 100EUR from:@bob")
    chat.say("fundco", "!fund Docs budget:40EUR closes:7d")
    assert chat.say("fundco", "!reverse R1 mistake").startswith(
        "✗ reversing R1 would take 50 EUR from the operations fund (50 EUR there) and 50 EUR "
        "from the commons fund (10 EUR available)")


def test_calls_close_at_their_deadline_and_return_the_remainder(pool_chat):
    chat = pool_chat
    chat.say("fundco", "!receive 200EUR from:@bob")
    chat.say("fundco", "!fund Docs budget:100EUR closes:2d")
    chat.say("carol", "!pitch F1 Guide ask:30EUR")
    chat.say("dave", "!back B1 5")
    chat.clock.advance(timedelta(days=2))
    assert chat.core.process_due() == 1
    assert "commons fund 70 EUR (reserved by open calls 0 EUR, available 70 EUR)" in chat.say(
        "dave", "!books")


def test_venture_membership_and_paid_needs(chat):
    chat.say("bob", "!venture Acme pledge:5%")
    assert chat.say("carol", "!venture V1 add @dave").startswith("✗ adding members is for members of V1")
    assert chat.say("bob", "!venture V1 add carol") == "carol is now a member of V1."
    assert chat.say("dave", "!offer Fix the shop reward:300EUR by:V1").startswith(
        "✗ offering a need paid by V1 is for members of V1")
    assert chat.say("carol", "!offer Fix the shop by:V1").startswith(
        "✗ by:V1 says who pays the reward")
    assert chat.say("carol", "!offer Fix the shop reward:300EUR by:V1").startswith("T1 is offered")
    chat.say("dave", "!claim T1")
    chat.say("dave", "!submit T1 done")
    chat.say("alice", "!approve T1")
    detail = chat.say("erin", "!venture V1")
    assert "Members: bob, carol" in detail and "Owes: T1: 300 EUR to dave, by V1" in detail
    assert chat.say("erin", "!paid T1").startswith("✗ marking V1's payments is for members of V1")
    assert chat.say("carol", "!paid T1 @dave") == "Recorded: dave was paid 300 EUR for T1 by V1."
    assert "Paid needs: 1, paying contributors 300 EUR" in chat.say("erin", "!venture V1")
    assert chat.say("bob", "!venture V1 leave") == "You left V1."
    assert chat.say("carol", "!venture V1 leave") == (
        "You left V1; it had no other member, so the venture has left.")
    assert "**V1** Acme (left)" in chat.say("erin", "!ventures")
    logged = chat.say("erin", "!log V1")
    assert "venture V1 has left: its last member left" in logged
    assert "bob registered venture V1: Acme, pledging 5% of revenue" in logged
    assert chat.say("carol", "!venture V9").startswith("✗ V9 does not exist — see !ventures")
    assert chat.say("carol", "!venture Nope pledge:120%").startswith("✗ pledge:120% — a percentage")
    assert chat.say("carol", "!venture Nope").startswith("✗ say what the venture gives back")
    # A reward without a payer is recognition only: nothing becomes payable.
    chat.say("bob", "!offer Thanks reward:10EUR")
    chat.say("dave", "!claim T2")
    chat.say("dave", "!submit T2 ok")
    chat.say("alice", "!approve T2")
    assert chat.say("alice", "!paid T2").startswith("✗ nothing is owed on T2")


def test_without_the_pool_calls_need_no_funds(chat):
    assert chat.say("fundco", "!fund Docs budget:100EUR closes:7d").startswith("F1 is open")
    assert "commons fund 0 EUR (reserved by open calls 0 EUR" in chat.say("dave", "!books")


def test_the_digest_shows_the_pool_and_what_moved_since_the_last_one(pool_chat):
    chat = pool_chat
    chat.say("fundco", "!receive 100EUR from:@bob")
    chat.outbox()
    chat.core.post_digest("demo")
    [digest] = chat.announcements()
    assert ("**The pool:** Operations fund 50 EUR · commons fund 50 EUR (reserved by open calls "
            "0 EUR, available 50 EUR) · held in all 100 EUR") in digest
    assert "Since the last digest: received 100 EUR, spent 0 EUR" in digest
    chat.clock.advance(timedelta(days=1))
    chat.say("fundco", "!spend 30EUR hosting")
    chat.clock.advance(timedelta(days=1))
    chat.core.post_digest("demo")
    [digest] = [t for t in chat.announcements() if t.startswith("**Digest")]
    assert "Since the last digest: received 0 EUR, spent 30 EUR" in digest
    assert "**The pool:** Operations fund 20 EUR" in digest


def test_the_books_audit_reproduces_every_balance_and_finds_tampering(pool_chat):
    from sqlalchemy import update

    from bot.service.audit import audit
    from bot.service.books_audit import audit_books
    from bot.store.models import Pool, PoolEntry

    chat = pool_chat
    chat.say("bob", "!venture Acme pledge:10%")
    chat.say("bob", "!revenue V1 1000EUR")
    chat.say("fundco", "!receive 300EUR from:V1")
    chat.say("fundco", "!spend 20EUR hosting")
    chat.say("fundco", "!reverse S1 typo")
    chat.say("fundco", "!fund Docs budget:100EUR closes:7d")
    chat.say("carol", "!pitch F1 Guide ask:40EUR")
    chat.say("bob", "!back B1 5")
    chat.say("fundco", "!closecall F1")
    chat.say("carol", "!submit T1 done")
    chat.say("alice", "!approve T1")
    chat.say("fundco", "!paid T1")
    with chat.core.engine.connect() as conn:
        figures, diffs = audit_books(conn, "demo")
    assert diffs == [] and figures == 3 + 2 + 1 + 1 + 1
    report = audit(chat.core.engine, "demo")  # `commons-bot audit`
    assert report.ok, report.differences
    with chat.core.engine.begin() as conn:
        conn.execute(update(Pool).values(commons_minor=Pool.commons_minor + 1))
        conn.execute(update(PoolEntry).where(PoolEntry.kind == "spend").values(state="recorded"))
    diffs = audit(chat.core.engine, "demo").differences
    assert diffs == ["books: the commons fund is 11001 in the database, the log gives 11000",
                     "books: S1 is [2000, 2000, 0, 'recorded'] in the database, not what the log says"]


def test_calls_opened_and_closed_after_downtime_are_booked_at_their_deadlines(pool_chat):
    chat = pool_chat
    chat.say("fundco", "!receive 400EUR from:@bob")
    chat.say("bob", "!propose Fund the docs closes:1d")
    chat.say("bob", "!vote P1 agree")
    chat.say("fundco", "!fund Docs budget:100EUR closes:2d if:P1")
    chat.say("fundco", "!fund Guide budget:50EUR closes:3d")
    chat.say("carol", "!pitch F2 Guide ask:30EUR")
    chat.say("bob", "!back B1 5")
    chat.clock.advance(timedelta(days=40))  # down over the turn of the month
    assert chat.core.process_due() + chat.core.process_due() == 3 + 1
    late = "(late: was due 2026-12-0{} 12:00 UTC)"
    f1 = chat.say("dave", "!log F1")
    assert ("- 2026-12-02 12:00 UTC [bot] F1 reserved 100 EUR of the commons fund until it closes "
            + late.format(2)) in f1
    assert ("- 2026-12-03 12:00 UTC [bot] F1 took 0 EUR from the commons fund; 100 EUR of its "
            "reservation is available again " + late.format(3)) in f1
    assert ("- 2026-12-04 12:00 UTC [bot] F2 took 30 EUR from the commons fund; 20 EUR of its "
            "reservation is available again " + late.format(4)) in chat.say("dave", "!log F2")
    assert "Closed 2026-12-04 12:00 UTC" in chat.say("dave", "!call F2")
    assert "Closed 2026-12-03 12:00 UTC" in chat.say("dave", "!call F1")
    # The books count the allocation in the month the log dates it.
    assert "allocated to funded needs 30 EUR" in chat.say("dave", "!books period:2026-12")
    assert "allocated to funded needs 0 EUR" in chat.say("dave", "!books period:2027-01")


def test_a_budget_changed_by_hand_is_reported_and_the_close_allocates_the_recorded_one(pool_chat):
    from sqlalchemy import text

    from bot.service.audit import audit

    chat = pool_chat
    chat.say("fundco", "!receive 400EUR from:@bob")
    chat.say("fundco", "!fund Docs budget:100EUR closes:7d")
    chat.say("carol", "!pitch F1 Guide ask:200EUR")
    chat.say("bob", "!back B1 5")
    with chat.core.engine.begin() as conn:
        conn.execute(text("UPDATE funding_calls SET budget_minor = 14000"))
    assert "F1 budget: the log gives 100 EUR, the database holds 140 EUR" in audit(
        chat.core.engine, "demo").differences
    chat.outbox()
    chat.say("fundco", "!closecall F1")
    [closed] = chat.announcements()
    assert "B1 Guide (5 points): funded 100 EUR → need T1" in closed
    assert "budget 100 EUR" in chat.say("dave", "!call F1")
    assert "commons fund 100 EUR (reserved by open calls 0 EUR" in chat.say("dave", "!books")
    # The close put the recorded budget back; the log keeps what the row held.
    assert audit(chat.core.engine, "demo").differences == [
        "log: F1's row held a budget of 140 EUR when it closed; it was opened with 100 EUR, "
        "and the close allocated that"]


def test_a_receipt_given_to_another_venture_by_hand_is_reported(pool_chat):
    from sqlalchemy import text

    from bot.service.audit import audit

    chat = pool_chat
    chat.say("bob", "!venture Acme pledge:10%")
    chat.say("carol", "!venture Beta pledge:5%")
    chat.say("fundco", "!receive 100EUR from:V1")
    chat.say("fundco", "!receive 50EUR from:@carol")
    assert audit(chat.core.engine, "demo").ok
    with chat.core.engine.begin() as conn:
        conn.execute(text("UPDATE pool_entries SET venture_id = (SELECT id FROM ventures "
                          "WHERE number = 2) WHERE number = 1"))
        conn.execute(text("UPDATE pool_entries SET from_member = NULL, venture_id = (SELECT id "
                          "FROM ventures WHERE number = 1) WHERE number = 2"))
    assert audit(chat.core.engine, "demo").differences == [
        "books: R1 came from V1 by the log, the database says V2",
        "books: R2 came from member 2 by the log, the database says V1"]


def test_a_call_still_settles_its_reservation_after_the_pool_is_switched_off(pool_chat, db_url):
    from bot.service.audit import audit
    from bot.service.core import Core
    from tests.conftest import make_settings

    chat = pool_chat
    chat.say("fundco", "!receive 200EUR from:@bob")
    chat.say("fundco", "!fund Docs budget:100EUR closes:2d")
    chat.say("carol", "!pitch F1 Guide ask:30EUR")
    chat.say("bob", "!back B1 5")
    # The community sets `pool: false` and restarts while F1 holds its reservation.
    chat.core = Core(make_settings(db_url, pool=False), chat.core.engine, chat.clock)
    chat.clock.advance(timedelta(days=2))
    assert chat.core.process_due() == 1
    assert "commons fund 70 EUR (reserved by open calls 0 EUR, available 70 EUR)" in chat.say(
        "dave", "!books")
    assert "F1 took 30 EUR from the commons fund; 70 EUR of its reservation is available again" \
        in chat.say("dave", "!log F1")
    assert audit(chat.core.engine, "demo").ok


def test_a_closed_call_still_holding_its_reservation_is_reported(pool_chat):
    from sqlalchemy import text

    from bot.service.audit import audit

    chat = pool_chat
    chat.say("fundco", "!receive 200EUR from:@bob")
    chat.say("fundco", "!fund Docs budget:100EUR closes:2d")
    with chat.core.engine.begin() as conn:  # what a close without settling left behind
        conn.execute(text("UPDATE funding_calls SET state = 'closed'"))
    assert "books: F1 is closed but its reservation still holds 100 EUR of the commons fund" in audit(
        chat.core.engine, "demo").differences


def test_a_held_call_opens_with_the_budget_it_was_proposed_with(pool_chat):
    from sqlalchemy import text

    from bot.service.audit import audit

    chat = pool_chat
    chat.say("fundco", "!receive 400EUR from:@bob")
    chat.say("bob", "!propose Fund the docs")
    chat.say("fundco", "!fund Docs budget:100EUR closes:30d if:P1")
    with chat.core.engine.begin() as conn:
        conn.execute(text("UPDATE funding_calls SET budget_minor = 14000"))
    chat.say("carol", "!vote P1 agree")
    chat.say("bob", "!close P1")
    assert "reserved by open calls 100 EUR" in chat.say("dave", "!books")
    assert "budget 100 EUR" in chat.say("dave", "!call F1")
    assert audit(chat.core.engine, "demo").differences == [
        "log: F1's row held a budget of 140 EUR when it opened; it was proposed with 100 EUR, "
        "and opened with that"]
    # Cancelled when its proposal passes (the pool cannot hold it): the log keeps it too.
    chat.say("bob", "!propose Fund the site")
    chat.say("fundco", "!fund Site budget:100EUR closes:30d if:P2")
    with chat.core.engine.begin() as conn:
        conn.execute(text("UPDATE funding_calls SET budget_minor = 9000 WHERE number = 2"))
    chat.say("fundco", "!fund Logo budget:100EUR closes:30d")
    chat.say("carol", "!vote P2 agree")
    chat.say("bob", "!close P2")
    assert "Cancelled" in chat.say("dave", "!call F2")
    assert ("log: F2's row held a budget of 90 EUR when it was cancelled; it was proposed with "
            "100 EUR, and kept that") in audit(chat.core.engine, "demo").differences
