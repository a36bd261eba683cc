"""N-of-M approvals and the offerer's limit (docs/behaviour.md, N-of-M approvals), as maintainers see them."""

import threading
from datetime import timedelta

from sqlalchemy import func, select

from bot.ports import CommunityId, InboundMessage, Platform
from bot.store.models import Contribution
from tests.conftest import Chat, build

POLICY = {"approvals": [{"over": "500EUR", "count": 2}, {"over": "2000EUR", "count": 3}],
          "author_cannot_approve_over": "100EUR"}


def _chat(db_url):  # type: ignore[no-untyped-def]
    core, clock = build(db_url, **POLICY)
    return Chat(core, clock)


def test_two_maintainers_approve_a_large_reward(db_url):
    chat = _chat(db_url)
    chat.say("bob", "!offer Rewrite the sync engine reward:800EUR")
    chat.say("carol", "!claim T1")
    chat.say("carol", "!submit T1 https://example.org/pr/7")
    assert "- carol: submitted — submitted: https://example.org/pr/7 — approvals 0 of 2, 2 still needed" \
        in chat.say("dave", "!task T1")
    chat.outbox()
    assert chat.say("alice", "!approve T1 looks right") == \
        "Your approval of carol's work on T1 is recorded: 1 of 2, 1 more needed."
    assert chat.announcements() == ["T1: alice approves carol's work (1 of 2 approvals; 1 more needed "
                                    "from other maintainers with `!approve T1`)."]
    card = chat.core.card("demo", "T1")
    assert dict(card.fields)["Claims"] == "carol (submitted; approvals 1 of 2 (alice), 1 still needed)"
    assert dict(card.fields)["Approvals"] == "2 different maintainers approve each claim"
    assert chat.say("alice", "!approve T1").startswith(
        "✗ you already approved carol's work on T1 (1 of 2); 1 more from other maintainers")
    assert chat.say("erin", "!approve T1 thanks") == \
        "Approved carol's work on T1 — 800 EUR enters the ledger."
    assert "- carol 800 EUR (1 contribution)" in chat.say("dave", "!ledger")
    chat.core.engine.dispose()


def test_changes_requested_start_the_approvals_again_and_small_rewards_need_one(db_url):
    chat = _chat(db_url)
    chat.say("bob", "!offer Big reward:900EUR")
    chat.say("carol", "!claim T1")
    chat.say("carol", "!submit T1 first try")
    chat.say("alice", "!approve T1")
    chat.say("erin", "!changes T1 add tests")
    chat.clock.advance(timedelta(hours=3))
    chat.say("carol", "!submit T1 second try")
    assert "approvals 0 of 2, 2 still needed" in chat.say("dave", "!task T1")
    chat.say("bob", "!offer Small reward:50EUR")
    chat.say("dave", "!claim T2")
    chat.say("dave", "!submit T2 done")
    assert chat.say("alice", "!approve T2") == "Approved dave's work on T2 — 50 EUR enters the ledger."
    chat.core.engine.dispose()


def test_the_offerer_cannot_approve_over_the_limit(db_url):
    chat = _chat(db_url)
    chat.say("alice", "!offer Audit the books reward:300EUR")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 report")
    refused = chat.say("alice", "!approve T1")
    assert refused.startswith("✗ policy author_cannot_approve_over: you offered T1 and its reward "
                              "300 EUR is over 100 EUR — another maintainer approves it")
    assert chat.say("erin", "!approve T1") == "Approved bob's work on T1 — 300 EUR enters the ledger."
    chat.core.engine.dispose()


def test_maintainers_racing_for_the_last_approval_make_one_contribution(db_url):
    chat = _chat(db_url)
    chat.say("bob", "!offer Race reward:600EUR")
    chat.say("carol", "!claim T1")
    chat.say("carol", "!submit T1 done")
    chat.say("alice", "!approve T1")
    n = 8
    barrier = threading.Barrier(n)
    replies: list[str | None] = [None] * n

    def run(i: int) -> None:
        msg = InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"), space="room",
                             sender=f"@maint{i}:example.org", sender_name=f"maint{i}", text="!approve T1",
                             message_id=f"$approve-{i}", roles=frozenset({"maintainer"}))
        barrier.wait()
        [out] = chat.core.handle(msg)
        replies[i] = out.text

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    approved = [r for r in replies if r and r.startswith("Approved carol's work on T1")]
    late = [r for r in replies if r and r.startswith("✗ T1 has no submitted work to approve")]
    assert len(approved) == 1 and len(late) == n - 1, replies
    with chat.core.unit() as tx:
        s = tx.session
        assert s.scalar(select(func.count()).select_from(Contribution)) == 1
    chat.core.engine.dispose()


def test_a_bad_approvals_policy_is_refused():
    import pytest

    from bot.config import ConfigError
    from tests.conftest import make_settings

    with pytest.raises(ConfigError, match=r"approvals\[0\]\.over: expected an amount like 500EUR"):
        make_settings("sqlite://", approvals=[{"over": "lots", "count": 2}])
