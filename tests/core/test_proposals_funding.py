"""Consent proposals and funding calls through the core, as members see them."""

from datetime import timedelta

from sqlalchemy import select

from bot.store.models import Claim, Need


def test_propose_vote_and_close_at_the_deadline(chat):
    assert chat.say("alice", "!propose Adopt a code of conduct closes:2d quorum:2").startswith(
        "P1 is open until 2026-12-03 12:00 UTC")
    [card] = chat.outbox()
    assert [c.key for c in card.choices] == ["agree", "abstain", "disagree", "block"]
    assert chat.say("bob", "!vote P1 agree").startswith("Your vote on P1 is agree")
    refused = chat.say("carol", "!vote P1 disagree")
    assert refused.startswith("✗ a reason is required to disagree")
    assert "usage: `!vote P3 agree|abstain|disagree|block [reason]`" in refused
    chat.say("carol", "!vote P1 disagree too strict for us")
    detail = chat.say("dave", "!proposal P1")
    assert "carol: disagree — too strict for us" in detail and "Not voted yet:" in detail
    assert "dave" in detail.split("Not voted yet:")[1]
    chat.clock.advance(timedelta(days=2))  # on time: the scheduler fires at the deadline
    assert chat.core.process_due() == 1
    texts = chat.announcements()
    assert any(t.startswith("P1 closed: not passed (1 agree, 1 disagree)") and "too strict" in t
               for t in texts)
    assert chat.core.process_due() == 0  # idempotent
    assert chat.say("bob", "!vote P1 agree").startswith("✗ P1 is closed; voting is over")


def test_latest_vote_counts_and_outcomes(chat):
    chat.say("alice", "!propose One quorum:3")
    chat.say("bob", "!vote P1 disagree meh")
    assert "now agree" in chat.say("bob", "!vote P1 agree")
    chat.say("carol", "!vote P1 abstain")
    assert "1 agree, 1 abstain, 0 disagree, 0 block" in chat.say("dave", "!proposals")
    assert chat.say("dave", "!close P1").startswith("✗ only the author of P1 or a maintainer")
    assert chat.say("alice", "!close P1") == "P1 closed: no quorum."
    assert chat.say("erin", "!close P1").startswith("✗ P1 is already closed (no quorum)")
    chat.say("bob", "!propose Two")
    chat.say("carol", "!vote P2 agree")
    assert chat.say("dave", "!vote P2 block").startswith("✗ a reason is required to block")
    chat.say("dave", "!vote P2 block this breaks the licence")
    assert chat.say("erin", "!close P2") == "P2 closed: blocked."
    chat.say("bob", "!propose Three")
    chat.say("carol", "!vote P3 agree")
    assert chat.say("bob", "!close P3") == "P3 closed: passed."
    for bad, expected in [("!vote P3", "say agree, abstain"), ("!vote P9 agree", "P9 does not exist"),
                          ("!vote P1 maybe", "say agree, abstain"), ("!propose", "a proposal needs a text"),
                          ("!propose x closes:yesterday", "is not a time"),
                          ("!propose x quorum:none", "quorum:none is not a number")]:
        assert expected in chat.say("dave", bad)


def test_funding_call_pitch_back_and_allocation_into_claimed_needs(chat):
    assert chat.say("bob", "!fund Sprint budget:1000EUR closes:7d").startswith(
        "✗ opening a funding call needs the foundation role")
    assert chat.say("fundco", "!fund Sprint budget:1000EUR").startswith("✗ a funding call needs a budget")
    assert chat.say("fundco", "!fund Translation sprint budget:1000EUR closes:7d\nMore languages").startswith(
        "F1 is open until")
    assert chat.say("carol", "!pitch F1 Spanish docs ask:600USD").startswith("✗ F1's budget is in EUR")
    assert chat.say("carol", "!pitch F1 Spanish docs").startswith("✗ say how much you ask")
    chat.say("carol", "!pitch F1 Spanish docs ask:600EUR")
    chat.say("bob", "!pitch F1 German docs ask:800EUR")
    chat.say("dave", "!pitch F1 Nobody backs this ask:100EUR")
    assert "40 of 100 left" in chat.say("bob", "!back B1 60")
    assert chat.say("bob", "!back B2 50").startswith("✗ you have 40 of 100 points left in F1")
    assert "20 of 100 left" in chat.say("bob", "!back B1 80")  # latest backing replaces
    chat.say("bob", "!back B1 60")
    chat.say("carol", "!back B2 40")
    call = chat.say("dave", "!call F1")
    assert "B1** Spanish docs by carol — asks 600 EUR, 60 points, would get now 600 EUR" in call
    assert "B2** German docs by bob — asks 800 EUR, 40 points, would get now 400 EUR" in call
    assert "0 points, would get now 0 EUR" in call
    assert chat.say("bob", "!closecall F1").startswith("✗ closing a funding call needs the foundation role")
    chat.outbox()
    assert chat.say("fundco", "!closecall F1") == "F1 is closed and allocated."
    [ann] = chat.announcements()
    assert "B1 Spanish docs (60 points): funded 600 EUR → need T1, claimed by carol" in ann
    assert "B2 German docs (40 points): funded 400 EUR → need T2, claimed by bob" in ann
    assert "B3 Nobody backs this (0 points): unfunded" in ann and "Unallocated: 0 EUR" in ann
    with chat.core.unit() as tx:
        s = tx.session
        need = s.scalars(select(Need).where(Need.number == 1)).one()
        claim = s.scalars(select(Claim).where(Claim.need_id == need.id)).one()
        assert need.reward_minor == 60000 and need.is_full and claim.state == "active"
    # The pitcher may release the funded need to the community.
    assert chat.say("carol", "!release T1").startswith("You released T1")
    assert "T1" in chat.say("dave", "!needs")
    assert chat.say("bob", "!back B1 10").startswith("✗ F1 is closed; backing is over")
    assert "Closed" in chat.say("dave", "!call F1") and "got 600 EUR" in chat.say("dave", "!call F1")


def test_funding_call_closes_at_its_deadline_with_capped_pitches(chat):
    chat.say("fundco", "!fund Docs budget:100EUR closes:2d points:10")
    chat.say("bob", "!pitch F1 Small ask:10EUR")
    chat.say("carol", "!pitch F1 Big ask:500EUR")
    chat.say("dave", "!back B1 10")
    chat.say("bob", "!back B2 10")
    assert chat.say("bob", "!back B1 1").startswith("✗ you have 0 of 10 points left")
    assert "withdrew" in chat.say("dave", "!back B1 0")
    chat.say("dave", "!back B1 10")
    assert "F1" in chat.say("alice", "!calls")
    chat.outbox()
    chat.clock.advance(timedelta(days=2, minutes=1))
    assert chat.core.process_due() == 1
    [ann] = chat.announcements()
    assert "funded 10 EUR" in ann and "funded 90 EUR" in ann and "Unallocated: 0 EUR" in ann


def test_ledger_whoami_help_and_link(chat):
    assert chat.say("bob", "!ledger").startswith("The ledger is empty")
    who = chat.say("alice", "!whoami")
    assert "Roles: contributor, maintainer" in who and "console: alice" in who
    assert "Roles: contributor, maintainer" in chat.say("@maria:example.org", "!whoami", platform="matrix")
    assert chat.say("bob", "!help claim").startswith("`!claim T12` — take a free slot")
    assert chat.say("bob", "!help nope").startswith("✗ there is no command nope")
    assert "**Funding**" in chat.say("bob", "!help")
    code_reply = chat.say("bob", "!link")
    code = code_reply.split("code is ")[1].split(".")[0]
    assert chat.say("bob-on-discord", "!link WRONG", platform="discord", private=True).startswith(
        "✗ that code is unknown, used or expired")
    assert "Almost linked" in chat.say("bob-on-discord", f"!link {code}", platform="discord", private=True)
    assert "Linked" in chat.say("bob", "!link confirm")
    assert chat.say("x", f"!link {code}", platform="discord", private=True).startswith(
        "✗ that code is unknown, used")
    who = chat.say("bob-on-discord", "!whoami", platform="discord")
    assert "You are bob" in who and "console: bob" in who and "discord: bob-on-discord" in who


def test_linked_identities_vote_once(chat):
    code = chat.say("bob", "!link").split("code is ")[1].split(".")[0]
    chat.say("alice", "!propose Linked")
    chat.say("bob", "!vote P1 agree")
    assert chat.say("bob-d", f"!link {code}", platform="discord", private=True).startswith("Almost")
    assert chat.say("bob", "!link confirm").startswith("Linked")
    chat.clock.advance(timedelta(minutes=1))
    # The one person's latest vote counts, from whichever platform.
    chat.say("bob-d", "!vote P1 disagree changed my mind", platform="discord")
    assert "0 agree, 0 abstain, 1 disagree" in chat.say("carol", "!proposal P1")
    chat.say("bob-d", "!vote P1 agree", platform="discord")
    assert "1 agree, 0 abstain, 0 disagree" in chat.say("bob", "!proposal P1")


def test_link_codes_expire_after_15_minutes(chat):
    code = chat.say("bob", "!link").split("code is ")[1].split(".")[0]
    chat.clock.advance(timedelta(minutes=16))
    reply = chat.say("bob-d", f"!link {code}", platform="discord", private=True)
    assert reply.startswith("✗ that code is unknown, used or expired")


def test_claim_expires_and_frees_the_slot(chat):
    chat.say("alice", "!offer Expiring")
    chat.say("bob", "!claim T1")
    chat.outbox()
    chat.clock.advance(timedelta(days=12, minutes=1))
    assert chat.core.process_due() >= 1  # the reminder, two days before expiry (and a digest)
    [reminder] = [o for o in chat.outbox() if o.kind == "notice"]
    assert "expires on 2026-12-15" in reminder.text
    chat.clock.advance(timedelta(days=2))
    assert chat.core.process_due() >= 1
    out = chat.outbox()
    assert any(o.kind == "announce" and "bob's claim on T1 expired" in o.text for o in out)
    assert "1 of 1 free" in chat.say("carol", "!needs")
    assert chat.core.process_due() == 0
