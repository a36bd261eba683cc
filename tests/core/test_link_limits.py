"""Limits that linking must not open (issue 20, item 1): the wrong-code limit holds under
concurrent attempts, and an account unlinked from a member does not vote again or spend a
second points allowance where that member already did."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from bot.ports import CommunityId, InboundMessage, Platform
from bot.store.models import LinkAttempt
from tests.conftest import build
from tests.core.links import code_of, link

ATTEMPTS = 40


def _private(sender: str, text: str, message_id: str | None = None) -> InboundMessage:
    return InboundMessage(community=CommunityId("demo"), platform=Platform("discord"), space="dm",
                          sender=sender, sender_name=sender, text=text, message_id=message_id,
                          direct=True, private=True)


def test_forty_wrong_codes_at_once_get_five_tries(db_url):
    core, _ = build(db_url)
    # eve exists before the race (her first contact creates her member).
    core.handle(_private("eve", "!whoami"))
    barrier = threading.Barrier(ATTEMPTS)
    replies: dict[int, str] = {}

    def guess(i: int) -> None:
        barrier.wait()
        [out] = core.handle(_private("eve", f"!link WRONG{i:05d}", f"guess-{i}"))
        replies[i] = out.text

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(ATTEMPTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    tried = [r for r in replies.values() if r.startswith("✗ that code is unknown, used or expired")]
    stopped = [r for r in replies.values() if r.startswith("✗ too many wrong codes")]
    assert (len(tried), len(stopped)) == (5, ATTEMPTS - 5), sorted(replies.values())
    with core.unit() as tx:
        assert tx.session.scalar(select(func.count()).select_from(LinkAttempt)) == 5
    core.engine.dispose()


def test_an_unlinked_account_does_not_vote_again_where_its_member_voted(chat):
    chat.say("alice", "!propose Adopt a code of conduct")
    link(chat, "bob", "console", "bob-d", "discord")
    assert chat.say("bob-d", "!vote P1 agree", platform="discord").startswith("Your vote on P1 is agree")
    assert chat.say("bob", "!unlink discord").startswith("Unlinked")
    assert chat.say("bob-d", "!vote P1 disagree too slow", platform="discord").startswith(
        "✗ bob voted on P1 already, and was one member with this account when P1 opened")
    assert "Counts: 1 agree, 0 abstain, 0 disagree, 0 block" in chat.say("carol", "!proposal P1")
    # A proposal opened after the unlink: two members, two votes.
    chat.clock.advance(timedelta(minutes=1))
    chat.say("alice", "!propose Meet monthly")
    assert chat.say("bob-d", "!vote P2 agree", platform="discord").startswith("Your vote on P2 is agree")
    assert chat.say("bob", "!vote P2 agree").startswith("Your vote on P2 is agree")


def test_the_member_does_not_vote_where_its_unlinked_account_voted(chat):
    chat.say("alice", "!propose Adopt a code of conduct")
    link(chat, "bob", "console", "bob-d", "discord")
    assert chat.say("bob", "!unlink discord").startswith("Unlinked")
    assert chat.say("bob-d", "!vote P1 agree", platform="discord").startswith("Your vote on P1 is agree")
    assert chat.say("bob", "!vote P1 block no").startswith(
        "✗ bob-d voted on P1 already, and was one member with this account when P1 opened")
    # It has history of its own now: it cannot join bob again either.
    code = code_of(chat, "bob", "console")
    assert chat.say("bob-d", f"!link {code}", platform="discord", private=True).startswith(
        "✗ this discord account already has history of its own here")


def test_an_unlinked_account_shares_the_points_allowance_of_a_call_open_before(chat):
    chat.say("fundco", "!fund Sprint budget:100EUR closes:7d points:100")
    chat.say("carol", "!pitch F1 One ask:50EUR")
    chat.say("carol", "!pitch F1 Two ask:50EUR")
    link(chat, "bob", "console", "bob-d", "discord")
    assert chat.say("bob-d", "!back B1 70", platform="discord").startswith("You back B1 with 70 points")
    assert chat.say("bob", "!unlink discord").startswith("Unlinked")
    assert chat.say("bob-d", "!back B2 50", platform="discord").startswith(
        "✗ you have 30 of 100 points left in F1")
    assert chat.say("bob-d", "!back B2 30", platform="discord").startswith("You back B2 with 30 points")
    assert chat.say("bob", "!back B1 71").startswith("✗ you have 70 of 100 points left in F1")
    # A call opened after the unlink: an allowance each.
    chat.clock.advance(timedelta(minutes=1))
    chat.say("fundco", "!fund Later budget:100EUR closes:7d points:100")
    chat.say("carol", "!pitch F2 Three ask:50EUR")
    assert chat.say("bob-d", "!back B3 100", platform="discord").startswith("You back B3 with 100")
    assert chat.say("bob", "!back B3 100").startswith("You back B3 with 100")


def test_an_unlinked_account_joins_no_other_member(chat):
    link(chat, "bob", "console", "bob-d", "discord")
    assert chat.say("bob", "!unlink discord").startswith("Unlinked")
    # Its history stays with bob; what counts once for bob counts once for it too, so it
    # may only be linked back to bob.
    code = code_of(chat, "bob-m", "matrix")
    assert chat.say("bob-d", f"!link {code}", platform="discord", private=True).startswith(
        "✗ this discord account was unlinked from bob")
    code = code_of(chat, "bob", "console")
    assert chat.say("bob-d", f"!link {code}", platform="discord", private=True).startswith(
        "Almost linked")
