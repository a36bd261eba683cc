"""Linking identities (issue 9, items 2 and 4): a code proves control of two accounts on
different platforms, nothing recorded moves, limits count the person once, `!unlink`."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from sqlalchemy import select

from bot.store.models import Event, HandledMessage, LinkCode, OutboxEntry
from tests.core.links import code_of as _code
from tests.core.links import link


def test_the_code_is_private_and_never_recorded_anywhere(chat, caplog):
    caplog.set_level(logging.DEBUG)
    [reply] = chat.send("bob", "!link", platform="matrix", message_id="$ask")
    code = re.search(r"link code is (\w+)\.", reply.text).group(1)  # type: ignore[union-attr]
    assert reply.private
    # Asked again (a redelivery after a crash): answered, but the code is not in the record.
    [again] = chat.send("bob", "!link", platform="matrix", message_id="$ask")
    assert again.private and code not in again.text and "answered already" in again.text
    waiting = chat.send("bob-d", f"!link {code}", platform="discord", message_id="d1", private=True)
    assert waiting[0].private and waiting[0].text.startswith("Almost linked")
    linked = chat.send("bob", "!link confirm", platform="matrix", message_id="$confirm")
    assert linked[0].private and linked[0].text.startswith("Linked")
    with chat.core.unit() as tx:
        s = tx.session
        stored = [repr(r.replies) for r in s.scalars(select(HandledMessage))]
        stored += [repr(e.details) + e.object for e in s.scalars(select(Event))]
        stored += [o.text + repr(o.payload) for o in s.scalars(select(OutboxEntry))]
        stored += [c.code_hash for c in s.scalars(select(LinkCode))]
    assert stored and not any(code in x for x in stored)
    assert all(code not in o.text for o in chat.core.take_outbox("console"))
    assert code not in chat.say("carol", "!log")
    assert code not in caplog.text


def test_link_joins_accounts_and_limits_count_the_person_once(chat):
    for i in range(1, 5):
        chat.say("alice", f"!offer Need {i}")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!claim T2")
    assert link(chat, "bob", "console", "bob-d", "discord").startswith(
        "Linked: your discord account bob-d (bob-d) is now part of you, bob")
    # The same need twice, from the other platform: no second pending claim.
    assert chat.say("bob-d", "!claim T1", platform="discord").startswith("✗ you already hold a claim on T1")
    assert chat.say("bob-d", "!claim T3", platform="discord").startswith("You claimed T3")
    assert chat.say("bob-d", "!claim T4", platform="discord").startswith("✗ you already have 3 active claims")
    chat.say("fundco", "!fund Sprint budget:100EUR closes:7d points:100")
    chat.say("carol", "!pitch F1 One ask:50EUR")
    chat.say("carol", "!pitch F1 Two ask:50EUR")
    assert chat.say("bob", "!back B1 60").startswith("You back B1")
    assert chat.say("bob-d", "!back B2 50", platform="discord").startswith(
        "✗ you have 40 of 100 points left in F1")
    who = chat.say("bob-d", "!whoami", platform="discord")
    assert "console: bob" in who and "discord: bob-d" in who


def test_accounts_on_the_same_platform_cannot_be_linked(chat):
    code = _code(chat)
    assert chat.say("bob2", f"!link {code}").startswith("✗ that code came from console too")
    assert "console: bob2" not in chat.say("bob", "!whoami")


def test_an_account_with_history_cannot_be_linked_and_nothing_moves(chat):
    chat.say("alice", "!offer Fix typo reward:12.50EUR")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 https://example.org/pr/1")
    chat.say("alice", "!approve T1")
    chat.say("alice", "!propose Adopt it")
    chat.say("bob", "!vote P1 agree")
    # alice's code redeemed by bob's console account, which has history of its own.
    code = _code(chat, "alice", "matrix")
    reply = chat.say("bob", f"!link {code}")
    assert reply.startswith("✗ this console account already has history of its own here")
    ledger = chat.say("carol", "!ledger")
    assert "- bob 12.50 EUR (1 contribution)" in ledger and "approved by alice" in ledger
    assert "- bob: agree" in chat.say("carol", "!proposal P1")
    # The other way round works: bob's account with history stays, the fresh one joins it.
    link(chat, "bob", "console", "bob-m", "matrix")
    assert "- bob 12.50 EUR (1 contribution)" in chat.say("carol", "!ledger")
    assert "Your ledger: 12.50 EUR" in chat.say("bob-m", "!mine", platform="matrix")


def test_codes_are_single_use_expire_and_die_with_their_member(chat):
    code = _code(chat)
    assert chat.say("bob-d", f"!link {code}", platform="discord", private=True).startswith("Almost")
    assert chat.say("bob", "!link confirm").startswith("Linked")
    assert chat.say("bob-m", f"!link {code}", platform="matrix", private=True).startswith(
        "✗ that code is unknown, used or expired")
    # carol-d asks for a code, then joins carol: the code of the member she left is dead.
    dead = _code(chat, "carol-d", "discord")
    link(chat, "carol", "console", "carol-d", "discord")
    assert chat.say("mallory", f"!link {dead}", platform="matrix", private=True).startswith(
        "✗ that code is unknown, used or expired")
    # A code of an account that was unlinked since is dead too.
    late = _code(chat, "bob-d", "discord")
    assert chat.say("bob", "!unlink discord").startswith("Unlinked")
    assert chat.say("bob-m", f"!link {late}", platform="matrix", private=True).startswith(
        "✗ that code is unknown, used or expired")
    expiring = _code(chat, "dave")
    chat.clock.advance(timedelta(minutes=15))
    assert chat.say("dave-d", f"!link {expiring}", platform="discord", private=True).startswith(
        "✗ that code is unknown, used or expired")


def test_redemption_attempts_are_rate_limited(chat):
    code = _code(chat)
    for i in range(5):
        assert chat.say("eve", f"!link WRONG{i}", platform="discord", private=True).startswith(
            "✗ that code is unknown, used or expired")
    assert chat.say("eve", f"!link {code}", platform="discord", private=True).startswith(
        "✗ too many wrong codes")
    assert "discord" not in chat.say("bob", "!whoami")
    chat.clock.advance(timedelta(minutes=16))
    code = _code(chat)
    assert chat.say("eve", f"!link {code}", platform="discord", private=True).startswith("Almost linked")


def test_unlink_gives_the_account_back_and_the_record_stays(chat):
    chat.say("alice", "!offer Docs")
    link(chat, "bob", "console", "bob-d", "discord")
    chat.say("bob-d", "!claim T1", platform="discord")
    chat.say("bob-d", "!submit T1 done", platform="discord")
    chat.say("alice", "!approve T1")
    assert chat.say("bob", "!unlink matrix").startswith("✗ you have no matrix account linked")
    reply = chat.say("bob", "!unlink discord")
    assert reply.startswith("Unlinked: your discord account bob-d is a member of its own again")
    # What was done through discord stays with bob; the discord account starts afresh.
    assert "- bob no reward (1 contribution)" in chat.say("carol", "!ledger")
    assert chat.say("bob-d", "!mine", platform="discord").startswith("Nothing on your plate")
    assert "discord" not in chat.say("bob", "!whoami")
    assert chat.say("bob", "!unlink console").startswith("✗ your console account is your only one")
    assert "bob unlinked their discord identity" in chat.say("carol", "!log")
