"""Hidden votes and secret ballots on Matrix: no public poll (MSC3381 answers are public
room events), and each vote is answered privately (docs/behaviour.md, Hidden votes and secret ballots)."""

from __future__ import annotations

from adapters.matrix import translate as tr
from tests.conftest import Chat, build, sqlite_url


def test_a_hidden_or_secret_proposal_gets_no_poll_and_votes_answer_privately(tmp_path) -> None:  # type: ignore[no-untyped-def]
    core, clock = build(sqlite_url(tmp_path, 'c.sqlite3'))
    chat = Chat(core, clock)
    chat.say("alice", "!propose Open vote")
    chat.say("alice", "!propose Hidden vote hidden:yes")
    chat.say("alice", "!propose Secret vote anonymous:yes")
    announcements = [o for o in chat.outbox("matrix") if o.kind == "announce"]
    assert [tr.announcement_parts(o)[0] for o in announcements] == ["poll", "", ""]
    assert "Vote in your direct chat with the bot" in announcements[1].text
    assert "Vote in your direct chat with the bot" in announcements[2].text
    [reply] = chat.send("bob", "!vote P3 agree", platform="matrix")
    assert reply.private and "only you see it" in reply.text
    core.engine.dispose()
