"""Needs and claims through the core, on SQLite and PostgreSQL, as members see them."""

from datetime import timedelta

from sqlalchemy import func, select

from bot.store.models import Contribution, Event


def offer(chat, text="!offer Fix the login crash #python #web reward:50EUR", who="alice"):
    reply = chat.say(who, text)
    assert "is offered" in reply, reply
    return reply


def test_offer_announces_a_card_with_claim_choice(chat):
    reply = offer(chat)
    assert reply.startswith("T1 is offered")
    [card] = chat.outbox()
    assert card.kind == "announce" and card.ref == "T1"
    assert "Fix the login crash" in card.text and "50 EUR" in card.text
    assert "\\#python" in card.text  # user skills are escaped Markdown
    assert [c.command for c in card.choices][:1] == ["!claim T1"]


def test_offer_with_description_due_and_slots(chat):
    chat.say("alice", "!offer Write docs #docs due:10d slots:2 reward:40EUR\nThe user guide\nall of it")
    task = chat.say("bob", "!task T1")
    assert "Write docs" in task and "2 of 2 free" in task and "The user guide" in task
    assert "due 2026-12-11" in task


def test_offer_refusals_change_nothing(chat):
    for text, expected in [
        ("!offer", "a need needs a title"),
        ("!offer x reward:fifty", "is not an amount"),
        ("!offer x due:yesterday", "is not a time"),
        ("!offer x slots:0", "slots:0 is not a number of people"),
        ("!offer " + "x" * 250, "keep it under 200"),
    ]:
        reply = chat.say("alice", text)
        assert reply.startswith("✗") and expected in reply, reply
        assert "usage: `!offer" in reply
    assert chat.say("bob", "!needs").startswith("No open needs")
    assert chat.outbox() == []


def test_needs_lists_free_first_then_urgent_and_paginates(chat):
    chat.say("alice", "!offer Later #a")
    chat.say("alice", "!offer Urgent #a due:2d")
    chat.say("alice", "!offer Soon #b due:5d")
    chat.say("bob", "!claim T2")  # Urgent is now full
    listing = chat.say("carol", "!needs")
    lines = listing.splitlines()
    assert "T3" in lines[1] and "T1" in lines[2] and "T2" in lines[3] and "full" in lines[3]
    only_a = chat.say("carol", "!needs #a")
    assert "T3" not in only_a and "T1" in only_a
    for i in range(12):
        chat.say("alice", f"!offer Extra {i}")
    page1 = chat.say("carol", "!needs")
    assert "More: `!needs page:2`" in page1
    page2 = chat.say("carol", "!needs page:2")
    assert page2.count("\n- ") == 5 and "More" not in page2
    assert chat.say("carol", "!needs page:zero").startswith("✗ page:zero is not a page number")


def test_claim_submit_approve_credits_the_ledger_and_closes_the_need(chat):
    offer(chat)
    assert chat.say("bob", "!claim T1").startswith("You claimed T1")
    assert "Your work on T1 is submitted" in chat.say("bob", "!submit T1 https://example.org/pr/12")
    refused = chat.say("bob", "!approve T1")
    assert refused.startswith("✗ approve work needs the maintainer role")
    assert "Approved bob's work on T1 — 50 EUR enters the ledger" in chat.say("alice", "!approve T1 thanks!")
    assert "- bob 50 EUR (1 contribution)" in chat.say("carol", "!ledger")
    assert "done" in chat.say("carol", "!task T1").splitlines()[0]
    texts = chat.announcements()
    assert any("T1 approved for bob by alice" in t and "T1 is done" in t for t in texts)
    assert chat.say("carol", "!claim T1").startswith("✗ T1 is done and cannot be claimed")


def test_claim_refusals(chat):
    chat.say("alice", "!offer One")
    chat.say("alice", "!offer Two")
    chat.say("alice", "!offer Three")
    chat.say("alice", "!offer Four")
    chat.say("bob", "!claim T1")
    assert chat.say("bob", "!claim T1").startswith("✗ you already hold a claim on T1")
    assert chat.say("carol", "!claim T1").startswith("✗ T1 is full (1 of 1 slots taken)")
    assert chat.say("carol", "!claim T99").startswith("✗ T99 does not exist — see !needs")
    assert chat.say("carol", "!claim P1").startswith("✗ 'P1' is not a need id")
    assert chat.say("carol", "!claim").startswith("✗ which need?")
    chat.say("bob", "!claim 2")
    chat.say("bob", "!claim T3")
    assert chat.say("bob", "!claim T4").startswith("✗ you already have 3 active claims")


def test_renew_release_and_their_refusals(chat):
    offer(chat)
    chat.say("bob", "!claim T1")
    chat.clock.advance(timedelta(days=5))
    assert "now expires on 2026-12-20" in chat.say("bob", "!renew T1")
    assert chat.say("carol", "!renew T1").startswith("✗ you have no claim on T1 to renew")
    assert chat.say("carol", "!release T1").startswith("✗ you have no claim on T1 to release")
    chat.say("bob", "!submit T1 done")
    assert "does not expire while it waits" in chat.say("bob", "!renew T1")
    assert chat.say("bob", "!release T1").startswith("You released T1")
    assert "1 of 1 free" in chat.say("carol", "!needs")


def test_changes_sends_work_back_with_fresh_clock_and_refuse_frees_the_slot(chat):
    offer(chat)
    chat.say("bob", "!claim T1")
    assert chat.say("bob", "!submit T1").startswith("✗ say where the work is")
    chat.say("bob", "!submit T1 https://x.org/1")
    assert chat.say("carol", "!changes T1 please add tests").startswith(
        "✗ request changes on work needs the maintainer role")
    assert chat.say("alice", "!changes T1").startswith("✗ say what should change")
    chat.clock.advance(timedelta(days=3))
    assert "their claim runs until 2026-12-18" in chat.say("alice", "!changes T1 please add tests")
    assert "active" in chat.say("bob", "!task T1")
    chat.say("bob", "!submit T1 https://x.org/2")
    assert chat.say("alice", "!refuse T1").startswith("✗ a reason is required to refuse work")
    assert "slot is free" in chat.say("alice", "!refuse T1 out of scope")
    assert "1 of 1 free" in chat.say("carol", "!needs")
    assert chat.say("alice", "!approve T1").startswith("✗ T1 has no submitted work to approve")


def test_multi_slot_needs_split_the_reward_and_name_the_member(chat):
    chat.say("alice", "!offer Translate #i18n reward:90EUR slots:2")
    chat.say("bob", "!claim T1")
    chat.say("carol", "!claim T1")
    chat.say("bob", "!submit T1 de")
    chat.say("carol", "!submit T1 fr")
    assert chat.say("alice", "!approve T1").startswith("✗ several claims on T1 are submitted (bob, carol)")
    assert chat.say("alice", "!approve T1 @nobody").startswith("✗ \\@nobody is not a member here")
    assert "45 EUR" in chat.say("alice", "!approve T1 @bob")
    assert "open" in chat.say("dave", "!task T1").splitlines()[0] or "full" in chat.say("dave", "!task T1")
    assert "30 EUR" in chat.say("alice", "!approve T1 @carol amount:30EUR")
    ledger = chat.say("dave", "!ledger")
    assert "bob 45 EUR" in ledger and "carol 30 EUR" in ledger
    assert "done" in chat.say("dave", "!task T1").splitlines()[0]
    assert "carol 30 EUR" in chat.say("dave", "!ledger @carol") and "bob" not in chat.say(
        "dave", "!ledger @carol").split("Latest")[0]
    assert "bob 45 EUR" in chat.say("dave", "!ledger #i18n")


def test_self_approval_allowed_by_policy(db_url):
    from tests.conftest import Chat, build
    core, clock = build(db_url, allow_self_approval=True)
    chat = Chat(core, clock)
    chat.say("alice", "!offer Mine reward:10EUR")
    chat.say("alice", "!claim T1")
    chat.say("alice", "!submit T1 ok")
    assert chat.say("alice", "!approve T1").startswith("Approved alice's work")
    core.engine.dispose()


def test_cancel_tells_claimants_and_is_for_offerer_or_maintainer(chat):
    chat.say("bob", "!offer Bob's idea")
    chat.say("carol", "!claim T1")
    chat.outbox()
    assert chat.say("dave", "!cancel T1 nah").startswith("✗ only the offerer of T1 or a maintainer")
    assert chat.say("bob", "!cancel T1").startswith("✗ a reason is required to cancel")
    assert chat.say("bob", "!cancel T1 duplicate of upstream work") == "T1 is cancelled."
    out = chat.outbox()
    notices = [o for o in out if o.kind == "notice"]
    assert len(notices) == 1 and "was cancelled" in notices[0].text
    assert chat.core.identities(notices[0].member, "console") == ["carol"]
    assert chat.say("alice", "!cancel T1 again").startswith("✗ T1 is already cancelled")
    assert "Cancelled: duplicate of upstream work" in chat.say("dave", "!task T1")


def test_mine_lists_claims_offers_and_votes_to_cast(chat):
    offer(chat)
    chat.say("bob", "!offer Bob offers")
    chat.say("bob", "!claim T1")
    assert chat.say("dave", "!mine").startswith("Nothing on your plate")
    chat.say("alice", "!propose Something")
    mine = chat.say("bob", "!mine")
    assert "**T1** Fix the login crash" in mine and "expires 2026-12-15" in mine
    assert "Your open offers" in mine and "T2" in mine
    assert "P1" in mine
    assert chat.send("bob", "!mine")[0].private is True


def test_watchers_are_told_of_new_needs_with_their_skills(chat):
    assert chat.say("bob", "!watch").startswith("✗ name the skills")
    assert "#python" in chat.say("bob", "!watch #python #rust")
    assert chat.say("bob", "!watching") == "You watch \\#python \\#rust"
    chat.outbox()
    chat.say("alice", "!offer Speed up #python")
    notices = [o for o in chat.outbox() if o.kind == "notice"]
    assert len(notices) == 1 and "Speed up" in notices[0].text
    chat.say("bob", "!unwatch #python")
    chat.say("alice", "!offer Another #python")
    assert [o for o in chat.outbox() if o.kind == "notice"] == []
    assert chat.say("bob", "!unwatch #go").startswith("✗ you do not watch \\#go")


def test_every_change_is_an_event_in_the_log(chat):
    offer(chat)
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 link")
    chat.say("alice", "!approve T1")
    log = chat.say("carol", "!log T1")
    assert (log.index("alice approved bob's work on T1 — 50 EUR")
            < log.index("bob submitted work on T1: link")
            < log.index("bob claimed T1") < log.index("alice offered T1"))
    with chat.core.unit() as tx:
        s = tx.session
        kinds = s.scalars(select(Event.kind).order_by(Event.id)).all()
        assert kinds == ["need.offered", "claim.made", "claim.submitted", "claim.approved", "need.done"]
        assert s.scalar(select(func.count()).select_from(Contribution)) == 1
    assert chat.say("carol", "!log X1").startswith("✗ 'X1' is not an id")


def test_a_redelivered_message_is_answered_the_same_and_runs_once(chat):
    offer(chat)
    first = chat.say("bob", "!claim T1", platform="matrix", message_id="$evt1")
    again = chat.say("bob", "!claim T1", platform="matrix", message_id="$evt1")
    assert first == again and first.startswith("You claimed T1")
    assert "1 of 1 slots taken" in chat.say("carol", "!task T1") or "full" in chat.say("carol", "!task T1")
    with chat.core.unit() as tx:
        s = tx.session
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "claim.made")) == 1


def test_words_after_the_literal_marker_are_never_options(chat):
    """`--` ends the options: the rest of the line is the title, exactly as written."""
    reply = chat.say("alice", "!offer reward:5EUR -- Rename slots:2 to #seats:2")
    assert reply.startswith("T1 is offered"), reply
    task = chat.say("bob", "!task T1")
    assert "Rename slots:2 to #seats:2" in task.replace("\\", "") and "5 EUR" in task
    assert "1 of 1 free" in task
