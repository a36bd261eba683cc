"""Spam and newcomer policies (docs/behaviour.md, Spam and newcomers): each refusal names
the policy and when it allows."""

from datetime import timedelta

from tests.conftest import Chat, build


def test_claims_per_day_newcomers_and_links(db_url):
    core, clock = build(db_url, max_claims_per_day=2, new_member_days=7, new_member_max_claims=1,
                        submit_requires_link=True, max_active_claims=5)
    chat = Chat(core, clock)
    for i in range(5):
        chat.say("alice", f"!offer Task {i}")
    assert chat.say("bob", "!claim T1").startswith("You claimed T1")
    refused = chat.say("bob", "!claim T2")
    assert refused.startswith("✗ policy new_member_max_claims: in their first 7 days members hold "
                              "at most 1 claims at once; you can claim more when one of yours is "
                              "done or released, or from 2026-12-08 12:00 UTC")
    clock.advance(timedelta(days=7))
    assert chat.say("bob", "!claim T2").startswith("You claimed T2")
    assert chat.say("bob", "!claim T3").startswith("You claimed T3")
    refused = chat.say("bob", "!claim T4")
    assert refused.startswith("✗ policy max_claims_per_day: you made 2 claims in the last 24 hours, "
                              "the most this community allows; you can claim again on "
                              "2026-12-09 12:00 UTC")
    clock.advance(timedelta(days=1))
    assert chat.say("bob", "!claim T4").startswith("You claimed T4")
    refused = chat.say("bob", "!submit T3 done, trust me")
    assert refused.startswith("✗ policy submit_requires_link: a submission must link to the work")
    assert chat.say("bob", "!submit T3 https://example.org/pr/3") == \
        "Your work on T3 is submitted; the maintainers are told."
    core.engine.dispose()
