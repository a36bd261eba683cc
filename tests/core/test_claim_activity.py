"""Claims managed by activity and pinned claims (docs/behaviour.md, Claims managed by
activity), fired on time and after downtime."""

from datetime import timedelta

from tests.conftest import Chat, build


def _chat(db_url, **policies):  # type: ignore[no-untyped-def]
    core, clock = build(db_url, claim_idle_days=3, claim_idle_release_days=5, claim_days=30,
                        **policies)
    return Chat(core, clock)


def _due(chat: Chat) -> list[str]:
    chat.core.process_due()
    return [o.text for o in chat.outbox() if "digest" not in o.text.lower()
            and not o.text.startswith("**")]


def test_an_idle_claim_is_reminded_then_released(db_url):
    chat = _chat(db_url)
    chat.say("alice", "!offer Fix the build")
    chat.say("bob", "!claim T1")
    chat.outbox()
    chat.clock.advance(timedelta(days=2))
    chat.say("bob", "!task T1", platform="console")  # activity: the clock starts again
    chat.clock.advance(timedelta(days=3))
    texts = _due(chat)
    assert any(t.startswith("Your claim on T1 (Fix the build) has been quiet for 3 days (policy "
                            "claim_idle_days). It is released on 2026-12-08 12:00 UTC") for t in texts)
    chat.clock.advance(timedelta(days=2))
    texts = _due(chat)
    assert any(t.startswith("bob's claim on T1 was released after 5 days without activity (policy "
                            "claim_idle_release_days)") for t in texts)
    assert "1 of 1 free" in chat.say("carol", "!needs")
    chat.core.engine.dispose()


def test_activity_from_a_linked_identity_counts_and_release_fires_once_after_downtime(db_url):
    chat = _chat(db_url)
    chat.say("alice", "!offer Write docs")
    chat.say("alice", "!offer Draw icons")
    chat.say("bob", "!claim T1")
    chat.say("carol", "!claim T2")
    code = chat.send("bob", "!link")[0].text.split("code is ")[1].split(".")[0].strip("*` ")
    chat.say("@bob:example.org", f"!link {code}", platform="matrix", private=True)
    assert chat.say("bob", "!link confirm").startswith("Linked")
    chat.clock.advance(timedelta(days=4))
    chat.say("@bob:example.org", "!renew T1", platform="matrix")  # bob, through Matrix
    chat.clock.advance(timedelta(days=4))  # the bot was down; carol's release was due on day 5
    texts = _due(chat)
    released = [t for t in texts if "'s claim on T2 was released after 5 days" in t]
    assert len(released) == 1 and released[0].startswith(
        "(late: was due 2026-12-06 12:00 UTC) carol's claim on T2 was released")
    assert "- bob: active" in chat.say("dave", "!task T1")  # bob acted on day 4 through Matrix
    assert not [t for t in _due(chat) if "T2 was released" in t]  # once
    chat.core.engine.dispose()


def test_a_pinned_claim_neither_expires_nor_is_released(db_url):
    core, clock = build(db_url, claim_idle_days=3, claim_idle_release_days=5, claim_days=7)
    chat = Chat(core, clock)
    chat.say("alice", "!offer Long research")
    chat.say("bob", "!claim T1")
    assert chat.say("carol", "!pin T1 @bob").startswith("✗ pinning a claim needs the maintainer role")
    chat.say("dave", "!whoami")
    assert chat.say("alice", "!pin T1 @dave").startswith("✗ dave holds no claim on T1")
    assert chat.say("alice", "!pin T1 @bob") == \
        "bob's claim on T1 is pinned: it does not expire until !unpin T1 is used."
    clock.advance(timedelta(days=20))
    _due(chat)
    assert "- bob: active" in chat.say("dave", "!task T1")
    assert chat.say("alice", "!unpin T1 @bob") == \
        "bob's claim on T1 is unpinned; it expires on 2026-12-28 12:00 UTC."
    clock.advance(timedelta(days=8))
    texts = _due(chat)
    assert any("bob's claim on T1" in t and ("expired" in t or "released" in t) for t in texts)
    core.engine.dispose()
