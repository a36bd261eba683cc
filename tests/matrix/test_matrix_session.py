"""The console session of the core issue, played in a Matrix room against a real Synapse.

Four people (nio clients) talk to the bot (the Matrix adapter in this process, over a
SQLite core whose clock the test moves, as the console's ``/time`` does). One need is
claimed by command and one by a ✋ reaction on its card; the proposal is voted through
MSC3381 poll responses (one unstable, one stable form), and its close ends the poll.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from nio import InviteMemberEvent, RoomPutStateResponse, RoomSendResponse

from bot.clock import ManualClock
from tests.matrix.botkit import Chat, bot_config, content_of, register_bot, relates_to, room_with, start_bot
from tests.matrix.clients import MakePerson
from tests.matrix.synapse import SynapseServer

pytestmark = pytest.mark.synapse


def _body(ev: object) -> str:
    return getattr(ev, "body", "") or ""


async def test_the_whole_loop_in_a_room(make_person: MakePerson, synapse: SynapseServer, tmp_path,
                                        monkeypatch) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    carol = await make_person("carol")
    fundco = await make_person("fundco")
    account = await register_bot(synapse)
    room = await room_with(alice, [bob, carol, fundco], [account.user_id])
    clock = ManualClock()
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room],
                        foundation=[fundco.user_id])
    bot = await start_bot(account, config, clock=clock, monkeypatch=monkeypatch)
    try:
        a, b, c, f = (Chat(p, room, bot.user_id) for p in (alice, bob, carol, fundco))

        # bob watches #python: the new need reaches him as a notice in a direct chat.
        assert "#python" in await b.ask("!watch #python")

        offered = await a.say("!offer Fix the login crash #python #web reward:50EUR")
        assert offered.body == "T1 is offered and announced: Fix the login crash"
        assert offered.source["content"]["msgtype"] == "m.notice"
        card = await a.wait_bot(lambda ev: _body(ev).startswith("New need T1 Fix the login crash"),
                                "the announcement of T1")
        assert "React with ✋ to claim it." in card.body
        assert content_of(card)["m.mentions"] == {}

        dm_room, _ = await bob.inbox.wait_for(
            lambda r, ev: isinstance(ev, InviteMemberEvent) and ev.sender == bot.user_id
            and ev.state_key == bob.user_id, what="the bot's direct-chat invite")
        dm = dm_room.room_id
        assert (await bob.client.join(dm)).room_id == dm
        _, notice = await bob.inbox.wait_for(
            lambda r, ev: r.room_id == dm and _body(ev).startswith("New need matching your skills"),
            what="the watch notice in the direct chat")
        assert "T1 Fix the login crash" in notice.body
        # Commands work in the direct chat too.
        assert "T1" in await Chat(bob, dm, bot.user_id).ask("!needs")

        # Claimed by command.
        assert (await b.ask("!claim T1")).startswith("You claimed T1.")
        submitted = await b.ask("!submit T1 https://example.org/pr/12")
        assert submitted.startswith("Your work on T1 is submitted")
        assert (await b.ask("!approve T1")).startswith("✗ approve work needs the maintainer role")
        approved = await a.ask("!approve T1 thanks!")
        assert approved.startswith(f"Approved {_name(bob)}'s work on T1 — 50 EUR enters the ledger.")
        assert f"- {_name(bob)} 50 EUR (1 contribution)" in await a.ask("!ledger")

        # Claimed by reaction on the need's card.
        await a.say("!offer Write the Spanish docs #docs")
        card2 = await a.wait_bot(lambda ev: _body(ev).startswith("New need T2 Write the Spanish docs"),
                                 "the announcement of T2")
        reacted = await carol.client.room_send(room, "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": card2.event_id, "key": "✋️"}})
        assert isinstance(reacted, RoomSendResponse), reacted
        claimed = await c.wait_bot(lambda ev: relates_to(ev) == card2.event_id, "the reply to the ✋")
        assert claimed.body.startswith("You claimed T2.")
        assert content_of(claimed)["m.mentions"] == {"user_ids": [carol.user_id]}
        assert f"{_name(carol)} claimed T2" in await a.ask("!task T2")

        # The proposal, voted through its poll.
        opened = await a.ask("!propose Adopt a code of conduct closes:2d quorum:2")
        assert opened.startswith("P1 is open until")
        poll = await a.wait_bot(lambda ev: getattr(ev, "type", "") == "org.matrix.msc3381.poll.start",
                                "the poll of P1")
        pc = content_of(poll)
        unstable = pc["org.matrix.msc3381.poll.start"]
        assert [x["id"] for x in unstable["answers"]] == ["agree", "abstain", "disagree", "block"]
        assert unstable["question"]["org.matrix.msc1767.text"] == "P1: Adopt a code of conduct"
        assert [x["m.id"] for x in pc["m.poll"]["answers"]] == ["agree", "abstain", "disagree", "block"]
        assert "Adopt a code of conduct" in pc["org.matrix.msc1767.text"]
        assert "Adopt a code of conduct" in pc["body"]

        bob_vote = await bob.client.room_send(room, "org.matrix.msc3381.poll.response", {
            "m.relates_to": {"rel_type": "m.reference", "event_id": poll.event_id},
            "org.matrix.msc3381.poll.response": {"answers": ["agree"]}})
        voted = await b.wait_bot(lambda ev: "Your vote on P1 is agree." in _body(ev)
                                 and content_of(ev)["m.mentions"] == {"user_ids": [bob.user_id]},
                                 "bob's poll vote being recorded")
        assert relates_to(voted) == poll.event_id
        assert isinstance(bob_vote, RoomSendResponse)

        await carol.client.room_send(room, "m.poll.response", {
            "m.relates_to": {"rel_type": "m.reference", "event_id": poll.event_id},
            "m.selections": ["disagree"]})
        asked = await c.wait_bot(lambda ev: _body(ev).startswith("Why do you disagree with P1?"),
                                 "the question for carol's reason")
        # carol answers the question by replying to it: that records the vote with the reason.
        answer = await carol.client.room_send(room, "m.room.message", {
            "msgtype": "m.text", "body": "too strict for us",
            "m.relates_to": {"m.in_reply_to": {"event_id": asked.event_id}}})
        recorded = await c.wait_bot(lambda ev: relates_to(ev) == answer.event_id, "carol's vote")
        assert recorded.body.startswith("Your vote on P1 is disagree.")
        assert "disagree" in await c.ask("!vote P1 disagree too strict for us")

        # Three days pass: the deadline closes P1, announced with the poll's end.
        # As the console's `/time +3d`: each deadline fires at its own time on the way.
        await bot.runtime.call(bot.core.advance_to, clock.now() + timedelta(days=3), clock.set)
        bot.runtime.poke()
        closed = await a.wait_bot(
            lambda ev: _body(ev).startswith("P1 closed: not passed (1 agree, 1 disagree)"), "the close of P1")
        assert "too strict for us" in closed.body
        end = await a.wait_bot(lambda ev: getattr(ev, "type", "") == "org.matrix.msc3381.poll.end",
                               "the poll's end")
        ec = content_of(end)
        assert ec["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll.event_id}
        assert ec["org.matrix.msc3381.poll.end"] == {}
        assert ec["org.matrix.msc1767.text"].startswith("P1 closed: not passed")
        assert ec["m.poll.results"] == {"agree": 1, "abstain": 0, "disagree": 1, "block": 0}

        # Funding.
        funded = await f.ask("!fund Translation sprint budget:1000EUR closes:7d")
        assert funded.startswith("F1 is open until")
        assert (await c.ask("!pitch F1 Spanish docs ask:600EUR")).startswith("B1 is pitched to F1.")
        assert (await b.ask("!back B1 60")).startswith("You back B1 with 60 points")
        await f.ask("!closecall F1")
        allocation = await a.wait_bot(lambda ev: "B1 Spanish docs (60 points): funded 600 EUR → need T3, "
                                      f"claimed by {_name(carol)}" in _body(ev), "the allocation")
        assert "Unallocated: 400 EUR" in allocation.body
        assert (await f.ask("!log")).startswith("Log, newest first")
    finally:
        await bot.aclose()


async def test_power_levels_grant_roles(make_person: MakePerson, synapse: SynapseServer, tmp_path,
                                        monkeypatch) -> None:
    alice = await make_person("alice")  # room creator: power level 100
    bob = await make_person("bob")
    carol = await make_person("carol")
    account = await register_bot(synapse)
    room = await room_with(alice, [bob, carol], [account.user_id])
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room])
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        a, b, c = (Chat(p, room, bot.user_id) for p in (alice, bob, carol))
        assert "maintainer" in await a.ask("!whoami")
        await a.ask("!offer Package the release")
        await c.ask("!claim T1")
        await c.ask("!submit T1 done")
        refused = await b.ask("!approve T1")
        assert refused.startswith("✗ approve work needs the maintainer role")

        levels = (await alice.client.room_get_state_event(room, "m.room.power_levels")).content
        levels["users"][bob.user_id] = 50
        put = await alice.client.room_put_state(room, "m.room.power_levels", levels)
        assert isinstance(put, RoomPutStateResponse), put
        assert (await b.ask("!approve T1 good")).startswith(f"Approved {_name(carol)}'s work on T1")
    finally:
        await bot.aclose()


async def test_user_text_is_never_markup_or_a_mention(make_person: MakePerson, synapse: SynapseServer,
                                                      tmp_path, monkeypatch) -> None:
    alice = await make_person("alice")
    account = await register_bot(synapse)
    room = await room_with(alice, [], [account.user_id])
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room])
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        a = Chat(alice, room, bot.user_id)
        title = "<b>x</b><img src=x> @room"
        reply = await a.say(f"!offer {title}")
        card = await a.wait_bot(lambda ev: _body(ev).startswith("New need T1"), "the announcement")
        listed = await a.say("!needs")
        for ev in (reply, card, listed):
            content = content_of(ev)
            html = content["formatted_body"]
            assert "&lt;b&gt;x&lt;/b&gt;&lt;img src=x&gt; @room" in html
            assert "<b>" not in html and "<img" not in html
            assert title in content["body"]
            assert "room" not in content["m.mentions"]
            assert content["format"] == "org.matrix.custom.html"
    finally:
        await bot.aclose()


def _name(person) -> str:  # type: ignore[no-untyped-def]
    # Synapse gives a registered user its localpart as display name.
    return person.user_id.split(":")[0].lstrip("@")
