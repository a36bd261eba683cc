"""Hidden votes and secret ballots (docs/behaviour.md, Hidden votes and secret ballots): no
other member learns a position early, and a secret ballot's names never, through any
surface of the core."""

import csv
import io
import json
from datetime import timedelta

from sqlalchemy import select

from bot.store.models import Event
from tests.conftest import Chat


def _everything_dave_sees(chat: Chat) -> str:
    """What a member who did not vote can read: commands, card, room and the log."""
    card = chat.core.card("demo", "P1")
    parts = [chat.say("dave", c) for c in ("!proposal P1", "!proposals", "!log", "!log P1", "!mine")]
    parts.append(card.title + " ".join(f"{k}={v}" for k, v in card.fields) + card.body)
    parts += [o.text for o in chat.outbox()]
    return "\n".join(parts)


def test_hidden_vote_shows_nothing_until_it_closes(chat):
    opened = chat.say("alice", "!propose Switch the chat server hidden:yes closes:2d")
    assert opened.startswith("P1 is open until")
    [announcement] = chat.outbox()
    assert "Hidden vote: counts and positions are shown when it closes" in announcement.text
    assert announcement.choices == ()  # no public poll on Matrix
    reply = chat.send("bob", "!vote P1 disagree it breaks our bridges")[0]
    assert reply.private and reply.text == ("Your vote on P1 is disagree — only you see it; "
                                            "1 vote cast, counts hidden until it closes.")
    chat.say("carol", "!vote P1 agree")
    seen = _everything_dave_sees(chat)
    for leak in ("voted disagree", "voted agree", ": disagree", ": agree", "1 disagree", "1 agree,",
                 "bridges"):
        assert leak not in seen, leak
    assert "2 votes cast, counts hidden until it closes" in seen
    own = chat.send("bob", "!proposal P1")[0]
    assert own.private and "Your vote (only you see it): disagree — it breaks our bridges" in own.text
    chat.clock.advance(timedelta(days=2))
    chat.core.process_due()
    [closed] = [t for t in chat.announcements() if t.startswith("P1 closed")]
    assert closed.startswith("P1 closed: not passed (1 agree, 1 disagree)")
    assert "- bob (disagree): it breaks our bridges" in closed
    assert "- bob: disagree — it breaks our bridges" in chat.say("dave", "!proposal P1")


def test_secret_ballot_publishes_counts_and_reasons_without_names_ever(chat):
    chat.say("alice", "!propose Elect the treasurer anonymous:yes closes:2d")
    chat.say("bob", "!vote P1 block conflict of interest")
    chat.say("carol", "!vote P1 agree")
    chat.say("erin", "!vote P1 disagree too soon")
    seen = _everything_dave_sees(chat)
    assert "Secret ballot" in seen and "3 votes cast, counts hidden until it closes" in seen
    for leak in ("voted block", "voted agree", ": block", ": agree", "1 block", "1 agree,", "conflict",
                 "too soon"):
        assert leak not in seen, leak
    chat.clock.advance(timedelta(days=2))
    chat.core.process_due()
    seen = _everything_dave_sees(chat)
    assert "P1 closed: blocked (1 agree, 1 disagree, 1 block)" in seen
    assert "- (block): conflict of interest" in seen and "- (disagree): too soon" in seen
    for name in ("bob", "erin"):
        assert f"{name} (" not in seen and f"{name}: " not in seen.replace(f"{name}: voted", "")
    assert "- (secret): block — conflict of interest" in chat.say("dave", "!proposal P1")
    with chat.core.unit() as tx:
        s = tx.session
        details = [e.details for e in s.scalars(select(Event).where(Event.object == "P1"))]
    assert all("position" not in d for d in details)
    [closing] = [d for d in details if "outcome" in d]
    assert closing["reasons"] == [{"position": "disagree", "reason": "too soon"},
                                  {"position": "block", "reason": "conflict of interest"}]
    assert "votes" not in closing


def test_bad_ballot_options_are_refused(chat):
    assert chat.say("alice", "!propose X hidden:maybe").startswith(
        "✗ hidden:maybe — write hidden:yes or leave it out")


def test_exports_never_tell_a_sealed_position(chat, db_url):
    from tests.core.test_export import export

    chat.say("alice", "!propose Hidden choice hidden:yes closes:2d")
    chat.say("alice", "!propose Secret choice anonymous:yes closes:2d")
    chat.say("bob", "!vote P1 disagree bridgesbreak")
    chat.say("carol", "!vote P2 block conflictofinterest")
    for fmt in ("csv", "json"):
        _n, text = export(db_url, "events", fmt)
        for leak in ("bridgesbreak", "conflictofinterest", "disagree", "block"):
            assert leak not in text, (fmt, leak)
    _n, text = export(db_url, "proposals", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["agree"], r["disagree"], r["block"]) for r in rows] == [("", "", "")] * 2
    _n, text = export(db_url, "proposals", "json")
    assert [json.loads(line)["block"] for line in text.splitlines()] == [None, None]
    chat.clock.advance(timedelta(days=2))
    chat.core.process_due()
    _n, text = export(db_url, "events", "json")
    assert "bridgesbreak" in text and "conflictofinterest" in text  # reasons are published at close
    [secret] = [json.loads(line) for line in text.splitlines()
                if '"proposal.closed"' in line and '"P2"' in line]
    assert secret["details"]["reasons"] == [{"position": "block", "reason": "conflictofinterest"}]
    assert "votes" not in secret["details"]
