"""The adapter's pure translation, fed with payloads recorded from Synapse (tests/matrix/data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.matrix import markup
from adapters.matrix import translate as tr
from bot.chat.render import TRUNCATED, esc
from bot.domain.rules import Tally
from bot.ports import Choice, CommunityId, Outbound
from tests.conftest import Chat, build, sqlite_url

DATA = Path(__file__).parent / "data"
BOT = "@bot:localhost"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def test_a_command_message_is_a_command() -> None:
    ev = load("command")
    got = tr.classify(ev, BOT, "!")
    assert got == tr.Command(ev["event_id"], ev["sender"], "!claim T1")
    msg = tr.inbound(got.text, got.event_id, got.sender, community="demo", room_id="!r",
                     sender_name="Bob", roles=frozenset({"maintainer"}))
    assert msg.message_id == ev["event_id"] and msg.platform == "matrix" and msg.space == "!r"
    assert msg.roles == frozenset({"maintainer"})


def test_ignored_events() -> None:
    # The bot's own messages, notices (other bots), edits (must not run twice), member events.
    own = {**load("command"), "sender": BOT}
    for source in (own, load("notice"), load("edit"), load("member_join"), load("create")):
        assert tr.classify(source, BOT, "!") is None
    # Malformed events are ignored, never raised on.
    for bad in ({}, {"type": "m.room.message"}, {**load("command"), "content": "x"},
                {**load("reaction"), "content": {"m.relates_to": {"rel_type": "m.annotation"}}}):
        assert tr.classify(bad, BOT, "!") is None


def test_a_legacy_reply_fallback_is_not_part_of_the_command() -> None:
    ev = load("command")
    ev["content"]["body"] = "> <@alice:localhost> New need T1\n\n!claim T1"
    assert tr.classify(ev, BOT, "!").text == "!claim T1"  # type: ignore[union-attr]


def test_reaction_claims_a_need_card() -> None:
    ev = load("reaction")
    got = tr.classify(ev, BOT, "!")
    assert isinstance(got, tr.Reaction) and got.key == "✋️"
    # ✋️ (with the emoji selector) and skin tones count as ✋.
    assert tr.reaction_command(got.key, "T4", "✋", "!") == "!claim T4"
    assert tr.reaction_command("✋🏽", "T4", "✋", "!") == "!claim T4"
    assert tr.reaction_command("👍", "T4", "✋", "!") is None
    assert tr.reaction_command("✋", "P1", "✋", "!") is None


def test_poll_responses_in_both_forms() -> None:
    unstable = tr.classify(load("poll_response_unstable"), BOT, "!")
    stable = tr.classify(load("poll_response_stable"), BOT, "!")
    assert isinstance(unstable, tr.PollResponse) and unstable.answers == ("block",)
    assert isinstance(stable, tr.PollResponse) and stable.answers == ("agree",)
    assert tr.poll_vote("P3", stable.answers, "!") == tr.PollVote("!vote P3 agree")
    block = tr.poll_vote("P3", unstable.answers, "!")
    assert block is not None and block.command is None
    assert "!vote P3 block <your reason>" in block.ask  # type: ignore[operator]
    assert tr.poll_vote("P3", (), "!") is None and tr.poll_vote("P3", ("pizza",), "!") is None


def test_a_text_reply_can_answer_a_question() -> None:
    ev = load("text_reply")
    got = tr.classify(ev, BOT, "!")
    assert isinstance(got, tr.TextReply) and got.text == "because it is too strict"
    assert got.in_reply_to == ev["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]


def test_history_ends_at_the_bots_own_join() -> None:
    join = load("member_join")
    me = join["state_key"]
    timeline = [load("command"), join, load("reaction")]
    assert tr.after_own_join(timeline, me) == 2
    assert tr.after_own_join(timeline, BOT) is None
    # A display-name change is a member event with prev membership join: not a join.
    rename = {**join, "unsigned": {"prev_content": {"membership": "join"}}}
    assert tr.after_own_join([rename, load("command")], me) is None


def test_direct_invites_and_room_creators() -> None:
    invite = load("invite_member")
    assert tr.is_direct_invite([invite], invite["state_key"]) == (True, invite["sender"])
    create = load("create")
    creators = tr.room_creators(create)
    assert creators == {create["sender"]}
    assert tr.power_of(create["sender"], 0, "12", creators) >= 100  # v12: creators outrank all
    assert tr.power_of(create["sender"], 0, "10", creators) == 0
    assert tr.roles_from_power(50, {"maintainer": 50, "foundation": 100}) == {"maintainer"}
    assert tr.roles_from_power(0, {"maintainer": 50}) == frozenset()


def test_a_reply_is_a_notice_with_html_a_reply_relation_and_no_room_mention() -> None:
    text = f"T1 is offered and announced: {esc('<b>x</b><img src=x> @room & &amp;')}"
    content = tr.notice_content(text, reply_to="$cmd", mentions=["@bob:localhost"])
    assert content["msgtype"] == "m.notice"
    assert content["body"] == "T1 is offered and announced: <b>x</b><img src=x> @room & &amp;"
    assert content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"] == ("T1 is offered and announced: &lt;b&gt;x&lt;/b&gt;&lt;img src=x&gt; "
                                         "@room &amp; &amp;amp;")
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd"}}
    assert content["m.mentions"] == {"user_ids": ["@bob:localhost"]}
    assert tr.notice_content("hi")["m.mentions"] == {}
    assert "m.relates_to" not in tr.notice_content("hi")


def test_markdown_renders_but_links_and_images_never() -> None:
    html = tr.to_html("**T1** `!claim T1`\n- one\n- two [x](http://evil) ![i](http://evil/i.png)")
    assert "<strong>T1</strong>" in html and "<code>!claim T1</code>" in html and "<li>one</li>" in html
    assert "<a " not in html and "<img" not in html


def test_a_long_text_is_cut_to_fit_one_event_with_a_marker() -> None:
    huge = esc("<" * 30_000)  # each < is \\< in Markdown and &lt; in HTML: far over the limit
    content = tr.notice_content(huge)
    assert tr.content_size(content) <= tr.MAX_CONTENT_BYTES
    assert content["body"].endswith(TRUNCATED) and content["formatted_body"].endswith(TRUNCATED)
    assert content["body"].startswith("<<<")


def test_poll_start_and_end_carry_both_forms_and_fallbacks() -> None:
    start = tr.poll_start_content("P3", "Adopt a code of conduct", "New proposal **P3**")
    unstable = start["org.matrix.msc3381.poll.start"]
    assert unstable["kind"] == "org.matrix.msc3381.poll.disclosed" and unstable["max_selections"] == 1
    assert unstable["question"]["org.matrix.msc1767.text"] == "P3: Adopt a code of conduct"
    assert [(a["id"], a["org.matrix.msc1767.text"]) for a in unstable["answers"]] == [
        ("agree", "Agree"), ("abstain", "Abstain"), ("disagree", "Disagree"), ("block", "Block")]
    assert start["m.poll"]["kind"] == "m.disclosed"
    assert [a["m.id"] for a in start["m.poll"]["answers"]] == ["agree", "abstain", "disagree", "block"]
    assert start["m.poll"]["question"]["m.text"] == [{"body": "P3: Adopt a code of conduct"}]
    assert start["org.matrix.msc1767.text"].startswith("P3: Adopt a code of conduct\n1. Agree")
    assert start["body"] == start["org.matrix.msc1767.text"] and start["m.mentions"] == {}

    end = tr.poll_end_content("$poll", "P3 closed: passed (2 agree)", {"agree": 2, "block": 0, "x": 9})
    assert end["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$poll"}
    assert end["org.matrix.msc3381.poll.end"] == {}
    assert end["org.matrix.msc1767.text"] == end["body"] == "P3 closed: passed (2 agree)"
    assert end["m.text"] == [{"body": "P3 closed: passed (2 agree)"}]
    assert end["m.poll.results"] == {"agree": 2, "block": 0}
    assert tr.poll_results(Tally(agree=2, block=1)) == {"agree": 2, "abstain": 0, "disagree": 0, "block": 1}
    assert tr.poll_results(None) == {}  # sealed votes: no results


def test_announcements_that_become_cards_and_polls() -> None:
    claim = Choice("claim", "Claim", "!claim T1")
    need = Outbound(CommunityId("demo"), "New need T1", kind="announce", ref="T1", choices=(claim,))
    assert tr.announcement_parts(need) == ("card", "T1")
    assert tr.choices_hint(need.choices, "✋") == "React with ✋ to claim it."
    votes = tuple(Choice(k, k, f"!vote P1 {k}") for k in ("agree", "abstain", "disagree", "block"))
    prop = Outbound(CommunityId("demo"), "New proposal P1", kind="announce", ref="P1", choices=votes)
    assert tr.announcement_parts(prop) == ("poll", "P1")
    claimed = Outbound(CommunityId("demo"), "bob claimed T1", kind="announce", ref="T1")
    assert tr.announcement_parts(claimed) == ("", "T1")


def test_transaction_ids_are_stable_and_distinct() -> None:
    assert tr.txn_id("reply", "$a", 0) == tr.txn_id("reply", "$a", 0)
    assert len({tr.txn_id("reply", "$a", 0), tr.txn_id("reply", "$a", 1), tr.txn_id("reply", "$b", 0),
                tr.txn_id("out", 1, "!r")}) == 4
    assert tr.txn_id("x").isalnum()


# --- the fast renderer for the core's Markdown ----------------------------------------

_FRAGMENTS = st.one_of(
    st.text(max_size=12).map(esc),
    st.sampled_from(["**T1**", "**P12**", "`!claim T1`", "`!vote P1 block <reason>`", " · ", "(",
                     ")", ": ", "#", "&amp;", '"', "1.", "\\", "*", "_", "[x](http://e)", "  ",
                     "\t", "\r", "---", "> ", "<b>", "`", "**", " **x** ", "- ", "\n", "\n\n", "[console]",
                     "[x]: /u", "![i](/i.png)", "<http://e>"]),
)
_LINES = st.lists(st.tuples(st.booleans(), st.lists(_FRAGMENTS, max_size=6).map("".join)), max_size=8).map(
    lambda lines: "\n".join(("- " if item else "") + text for item, text in lines))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_LINES)
def test_the_fast_renderer_agrees_with_markdown_it_or_declines(text: str) -> None:
    fast = markup._core_html(text)
    assert fast is None or fast == markup._MD.render(text), text


def test_the_core_replies_take_the_fast_path_and_render_as_markdown_it_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    core, _clock = build(sqlite_url(tmp_path, 'c.sqlite3'))
    chat = Chat(core, _clock)
    for title in ("Fix the login crash", "<b>x</b><img src=x> @room", "- not a list *or* _this_",
                  "1. [link](http://evil) `code` \\ & &amp;"):
        chat.say("alice", f"!offer {title} #python reward:50EUR")
    chat.say("bob", "!claim T2")
    chat.say("bob", "!submit T2 https://example.org/pr/12 <done>")
    chat.say("alice", "!propose Adopt a **code** of conduct closes:2d")
    replies = [chat.say("bob", c) for c in ("!needs", "!task T2", "!mine", "!proposals", "!proposal P1",
                                             "!help", "!ledger", "!log")]
    for text in replies:
        fast = markup._core_html(text)
        assert fast is not None, text
        assert fast == markup._MD.render(text)
    assert "<li><strong>T2</strong> &lt;b&gt;x&lt;/b&gt;&lt;img src=x&gt; @room" in tr.to_html(replies[0])
    core.engine.dispose()


def test_a_private_reply_names_its_command_and_the_pointer_says_nothing_of_it() -> None:
    content = tr.private_reply_content("Your link code is **AB12CD34**.", room_id="!r:hs",
                                       reply_to="$cmd", mentions=["@a:hs"])
    assert content["body"] == "Your link code is AB12CD34."
    assert content[tr.PRIVATE_REPLY_KEY] == {"room_id": "!r:hs", "event_id": "$cmd"}
    assert "m.relates_to" not in content  # a reply cannot point into another room
    assert content["m.mentions"] == {"user_ids": ["@a:hs"]}
    pointer = tr.notice_content(tr.PRIVATE_POINTER, reply_to="$cmd", mentions=["@a:hs"])
    assert pointer["body"] == "I sent you a direct message."
    assert pointer["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd"}}
