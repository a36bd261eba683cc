"""The Discord adapter against the stand-in: cards, buttons, modals, mentions, restarts,
resumes, deferral, autocomplete, text commands — with the unmodified discord.py client."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot.config import Settings
from bot.ports import InboundMessage
from tests.conftest import sqlite_url
from tests.discord.conftest import CHANNEL, PATCH, POST, WORLD, BotHarness, discord_settings, fields

pytestmark = [pytest.mark.discord, pytest.mark.timeout(60)]

EPHEMERAL = 64
BOB, ALICE, CAROL, OLIVIA = WORLD.bob_id, WORLD.alice_id, WORLD.carol_id, WORLD.owner_id
INTENT_GUILD_MESSAGES, INTENT_MESSAGE_CONTENT = 1 << 9, 1 << 15


async def offer(bot: BotHarness, title: str = "Fix the login crash", **options: Any) -> int:
    """bob offers a need; returns the id of its card."""
    await bot.command(BOB, "need offer", {"title": title, **options})
    count = len(bot.core.suggest("demo", "T", ""))
    return int((await bot.card(f"T{count}"))["id"])


async def submitted(bot: BotHarness, user: int = ALICE) -> int:
    card = await offer(bot)
    await bot.press(card, "claim", user)
    await bot.press_and_fill(card, "submit", user, "https://example.org/pr/1")
    await bot.posted("submitted T1")  # the last announcement of these three steps
    return card


# ---------------------------------------------------------------------- roles and refusals


async def test_maintainer_buttons_are_refused_for_a_contributor(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    card = await submitted(bot)
    mark = standin.mark()

    _, r = await bot.press(card, "approve", CAROL)
    assert r.json["type"] == 4 and r.data["flags"] & EPHEMERAL
    assert r.data["content"].startswith("✗ approve work needs the maintainer role")
    # Changes would ask for a note: someone without the role is refused before the form.
    _, r = await bot.press(card, "changes", CAROL)
    assert r.json["type"] == 4 and r.data["flags"] & EPHEMERAL
    assert "needs the maintainer role" in r.data["content"]

    # A refused command changes nothing: no card edit, no announcement, still submitted.
    # (Barrier: the outbox is delivered in order, so once this announcement is posted,
    # anything the refusals had queued would have been delivered before it.)
    await bot.command(ALICE, "proposal open", {"text": "Barrier"})
    barrier = await bot.posted("P1", since=mark)
    assert [c for c in standin.calls_to(POST, since=mark) if c is not barrier] == []
    # Only edits still showing the submitted work (a late echo of the submission's update).
    for edit in standin.calls_to(PATCH, since=mark):
        assert fields(edit.json["embeds"][0])["Claims"] == "alice (submitted)"
    assert dict(bot.core.card("demo", "T1").fields)["Claims"] == "alice (submitted)"

    # The maintainer gets the form; the role comes from the Discord role named "maintainer".
    _, opened = await bot.press(card, "changes", BOB)
    assert opened.json["type"] == 9
    assert opened.json["data"]["components"][0]["label"] == "What should change?"


async def test_roles_come_from_discord_roles_and_the_config(discord_bot: BotHarness) -> None:
    bot = discord_bot
    assert "Roles: contributor, maintainer" in await bot.say(BOB, "whoami")
    assert "Roles: contributor\n" in await bot.say(ALICE, "whoami")
    assert "Roles: contributor, foundation" in await bot.say(OLIVIA, "whoami")
    _, r = await bot.command(ALICE, "funding open", {"title": "x", "budget": "10EUR", "closes": "7d"})
    assert r.data["flags"] & EPHEMERAL and "needs the foundation role" in r.data["content"]


# ---------------------------------------------------------------------- cards


async def test_card_is_edited_after_each_change(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    card = await offer(bot, reward="50EUR", slots=1)
    first = standin.messages[card]["embeds"][0]
    assert fields(first)["State"] == "1 of 1 slots free"

    async def step(user: int, key: str, expect: dict[str, str], answer: str | None = None) -> dict:
        mark = standin.mark()
        if answer is None:
            await bot.press(card, key, user)
        else:
            await bot.press_and_fill(card, key, user, answer)

        def shows(body: dict) -> bool:
            got = fields(body["embeds"][0])
            return all(got.get(k) == v for k, v in expect.items())

        return (await bot.edited(card, mark, shows)).json

    await step(ALICE, "claim", {"State": "full", "Claims": "alice (active)"})
    await step(ALICE, "submit", {"Claims": "alice (submitted)"}, answer="https://example.org/pr/1")
    await step(BOB, "changes", {"Claims": "alice (active)"}, answer="add a test please")
    await step(ALICE, "release", {"State": "1 of 1 slots free"})
    await step(CAROL, "claim", {"Claims": "carol (active)"})
    mark = standin.mark()
    await bot.command(BOB, "need cancel", {"need": "T1", "reason": "duplicate of T9"})
    cancelled = await bot.edited(card, mark, lambda b: fields(b["embeds"][0])["State"] == "cancelled")
    assert cancelled.json["components"] == []
    assert cancelled.json["embeds"][0]["footer"]["text"] == "T1 · closed"
    # One card per object and channel: later announcements about T1 are plain messages.
    cards = [m for m in standin.channel_messages(CHANNEL) if m["embeds"]]
    assert len(cards) == 1


async def test_a_button_on_a_card_sent_before_a_restart_works_after_it(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    card = await offer(bot)
    await bot.press(card, "claim", ALICE)
    form, _ = await bot.press(card, "submit", ALICE)  # a modal open across the restart

    await bot.restart()
    assert len(standin.identifies) == 2  # a new process: a new gateway session

    mark = standin.mark()
    handle = await standin.send_modal_submit(form, {"answer": "https://example.org/pr/7"})
    assert (await handle.response()).data["content"].startswith("Your work on T1 is submitted")
    _, r = await bot.press(card, "approve", BOB)
    assert r.data["content"] == "Approved alice's work on T1."
    done = await bot.edited(card, mark, lambda b: fields(b["embeds"][0])["State"] == "done")
    assert done.json["components"] == []


async def test_a_proposal_card_shows_live_counts(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    await bot.command(ALICE, "proposal open", {"text": "Meet on Thursdays"})
    card = int((await bot.card("P1"))["id"])
    for user, key in ((ALICE, "agree"), (BOB, "abstain"), (CAROL, "agree")):
        mark = standin.mark()
        await bot.press(card, key, user)
        await bot.edited(card, mark)
    mark = standin.mark()
    _, r = await bot.press_and_fill(card, "block", BOB, "we meet on Fridays")
    assert r.data["content"].startswith("Your vote on P1 is now block.")
    final = await bot.edited(card, mark, lambda b: fields(b["embeds"][0])["Block"] == "1")
    counts = fields(final.json["embeds"][0])
    assert (counts["Agree"], counts["Abstain"], counts["Disagree"]) == ("2", "0", "0")


# ---------------------------------------------------------------------- mentions


async def test_a_need_titled_everyone_and_a_role_pings_nobody(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    titles = ["@everyone <@&1>", f"@here <@&{WORLD.contributor_role_id}> <@{WORLD.carol_id}>"]
    for title in titles:
        card = await offer(bot, title)
        await bot.press(card, "claim", ALICE)
        await bot.command(ALICE, "need show", {"need": "T1"})
    await bot.command(CAROL, "need list")
    await bot.posted("alice claimed T2")

    sent = [c for c in standin.calls if c.method in ("POST", "PATCH") and c.ok
            and ("/messages" in c.path or c.path.endswith("/callback"))]
    assert len(sent) >= 8
    for call in sent:
        body = call.json.get("data", call.json) if call.path.endswith("/callback") else call.json
        if "content" not in body and "embeds" not in body:
            continue
        allowed = body.get("allowed_mentions")
        assert allowed is not None and allowed.get("parse") == [], call
        assert not allowed.get("roles") and not allowed.get("everyone"), call
        assert {int(u) for u in allowed.get("users", [])} <= {ALICE}, call
    # What Discord stored: no @everyone, no role ping; only alice, in "alice claimed …".
    for m in standin.messages.values():
        assert m["mention_everyone"] is False and m["mention_roles"] == [], m["content"]
        pinged = [u["id"] for u in m["mentions"]]
        assert pinged in ([], [str(ALICE)]), m["content"]
        if pinged:
            assert "claimed" in m["content"] and m["content"].endswith(f"<@{ALICE}>")
    card_title = standin.messages[int((await bot.card("T1"))["id"])]["embeds"][0]["title"]
    assert card_title == "T1 · \\@everyone \\<\\@&1\\>"


# ---------------------------------------------------------------------- robustness


async def test_a_gateway_disconnect_and_resume_lose_no_interaction(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    card = await offer(bot)
    session = standin.sessions[-1]

    standin.hold_connections()  # keep the bot away until the interactions are queued
    await standin.disconnect_all(code=4000)
    command = await standin.send_command("need offer", {"title": "Second need"},
                                         channel_id=CHANNEL, user_id=BOB)
    press = await standin.send_component(card, bot.button(card, "claim"), user_id=ALICE)
    assert not command.delivered and not press.delivered
    standin.release_connections()

    assert (await command.response(timeout=10)).data["content"].startswith("T2 is offered")
    assert (await press.response(timeout=10)).data["content"].startswith("You claimed T1.")
    assert len(standin.identifies) == 1 and standin.resumes[-1].ok
    assert standin.live_sessions == [session]
    assert len(command.deliveries) == 1 and len(press.deliveries) == 1

    # Even a second delivery of the same interaction does not run the command again.
    session.push("INTERACTION_CREATE", command.payload, command)
    await standin.wait_until(lambda: len(command.callbacks) == 2, description="the second answer")
    assert command.callbacks[1].status == 400  # "already acknowledged": nothing was re-run
    assert [s.ref for s in bot.core.suggest("demo", "T")] == ["T2", "T1"]


async def test_a_slow_core_is_deferred_and_does_not_block_the_gateway(
        discord_bot: BotHarness) -> None:
    bot = discord_bot
    release = threading.Event()
    entered = threading.Event()
    real = bot.core.handle

    def slow_for_needs(msg: InboundMessage):  # type: ignore[no-untyped-def]
        if msg.text.startswith("!needs"):
            entered.set()
            release.wait(20)
        return real(msg)

    bot.core.handle = slow_for_needs  # type: ignore[method-assign]
    try:
        slow = await bot.standin.send_command("need list", {}, channel_id=CHANNEL, user_id=ALICE)
        deferred = await slow.response(timeout=5)
        assert deferred.json["type"] == 5 and slow.latency is not None and slow.latency < 3
        # While that command waits on the database, the gateway still answers others.
        text = await bot.say(BOB, "whoami")
        assert text.startswith("You are bob")
        assert entered.is_set()
    finally:
        release.set()
    answer = await slow.followup(timeout=10)
    assert answer.json["content"].startswith("No open needs")
    assert not answer.json.get("flags", 0) & EPHEMERAL  # a public answer to everyone
    # On Discord that follow-up edits the loading message: it is the answer, shown to
    # everyone, and nothing deletes it (issue 13: the old adapter deleted its own answer).
    shown = slow.original_message
    assert shown is not None and shown["content"].startswith("No open needs")
    assert not shown["flags"] & EPHEMERAL
    assert not any(c.kind == "delete" for c in slow.calls)


# ---------------------------------------------------------------------- replies


async def test_errors_and_personal_lists_are_ephemeral(discord_bot: BotHarness) -> None:
    bot = discord_bot
    _, r = await bot.command(ALICE, "need claim", {"need": "T99"})
    assert r.data["flags"] & EPHEMERAL
    assert r.data["content"].startswith("✗ T99 does not exist — see !needs")
    assert "on Discord `/need claim need:<need>`" in r.data["content"]
    for name in ("mine", "whoami", "watching"):
        _, r = await bot.command(ALICE, name)
        assert r.data["flags"] & EPHEMERAL, name
    _, r = await bot.command(ALICE, "watch", {"skills": "python, #web"})
    assert r.data["content"] == "You will be told of new needs with \\#python \\#web"
    _, r = await bot.command(ALICE, "help")
    assert not r.data.get("flags", 0) & EPHEMERAL


async def test_long_answers_are_paginated_with_a_continuation(discord_bot: BotHarness) -> None:
    bot = discord_bot
    for i in range(10):
        await bot.command(BOB, "need offer", {"title": f"{i} " + "long title " * 17})
    handle, first = await bot.command(CAROL, "need list")
    second = await handle.followup()
    pages = [first.data["content"], second.json["content"]]
    assert all(len(p) <= 2000 for p in pages)
    assert pages[0].endswith("*(continued below · 1/2)*")
    assert pages[1].startswith("*(continued · 2/2)*")
    assert sum(p.count("**T") for p in pages) == 10


async def test_autocomplete_offers_open_ids(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    await offer(bot, "Fix the login crash")
    await offer(bot, "Translate the docs")
    await bot.command(ALICE, "proposal open", {"text": "Adopt a code of conduct"})

    typing = await standin.send_autocomplete("need claim", {"need": ""}, "need",
                                             channel_id=CHANNEL, user_id=ALICE)
    assert [c["value"] for c in (await typing.response()).data["choices"]] == ["T2", "T1"]
    typing = await standin.send_autocomplete("need claim", {"need": "login"}, "need",
                                             channel_id=CHANNEL, user_id=ALICE)
    assert (await typing.response()).data["choices"] == [
        {"name": "T1 · Fix the login crash", "value": "T1"}]
    typing = await standin.send_autocomplete("proposal vote", {"proposal": "P"}, "proposal",
                                             channel_id=CHANNEL, user_id=ALICE)
    assert [c["value"] for c in (await typing.response()).data["choices"]] == ["P1"]
    typing = await standin.send_autocomplete("help", {"command": "cl"}, "command",
                                             channel_id=CHANNEL, user_id=ALICE)
    assert [c["value"] for c in (await typing.response()).data["choices"]] == ["claim", "close",
                                                                               "closecall"]


async def test_slash_commands_are_synced_per_guild(discord_bot: BotHarness) -> None:
    standin = discord_bot.standin
    put = standin.calls_to("PUT /applications/{application_id}/guilds/{guild_id}/commands")
    assert len(put) == 1 and put[0].path.endswith(f"/guilds/{WORLD.guild_id}/commands")
    assert standin.commands(None) == []  # nothing global
    names = {c["name"]: c for c in standin.commands(WORLD.guild_id)}
    assert set(names) == {"need", "proposal", "funding", "books", "venture", "mine", "watch",
                          "unwatch", "watching", "ledger", "log", "whoami", "link", "unlink", "help"}
    subs = [o["name"] for o in names["need"]["options"]]
    assert subs == ["offer", "list", "show", "claim", "renew", "release", "submit", "approve",
                    "changes", "refuse", "cancel", "pin", "unpin"]
    approve = next(o for o in names["need"]["options"] if o["name"] == "approve")
    assert [(o["name"], o["type"], o.get("required", False)) for o in approve["options"]] == [
        ("need", 3, True), ("member", 6, False), ("amount", 3, False), ("note", 3, False)]
    assert next(o for o in approve["options"] if o["name"] == "need")["autocomplete"] is True
    # The minimal intents: no message content without text commands.
    intents = standin.identifies[0]["intents"]
    assert not intents & INTENT_MESSAGE_CONTENT and not intents & INTENT_GUILD_MESSAGES


class TestTextCommands:
    """With `text_commands: true` the bot asks for the message-content intent and answers `!`."""

    @pytest.fixture
    def bot_settings(self, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
        return discord_settings(sqlite_url(tmp_path), text_commands=True)

    async def test_typed_commands_are_answered(self, discord_bot: BotHarness) -> None:
        bot, standin = discord_bot, discord_bot.standin
        assert standin.identifies[0]["intents"] & INTENT_MESSAGE_CONTENT
        sent = await standin.send_message(CHANNEL, BOB, "!offer Fix the fence @everyone #garden")
        reply = await bot.posted("T1 is offered and announced")
        assert str(reply.json["message_reference"]["message_id"]) == sent["id"]
        assert reply.json["allowed_mentions"]["parse"] == []
        await bot.card("T1")
        await standin.send_message(CHANNEL, ALICE, "hello, no command here")
        await standin.send_message(CHANNEL, ALICE, "!claim T1")
        await bot.posted("You claimed T1.")
        assert not any(m["mention_everyone"] for m in standin.messages.values())


async def test_notices_go_to_the_member_directly(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin
    await bot.command(ALICE, "watch", {"skills": "python"})
    mark = standin.mark()
    await bot.command(BOB, "need offer", {"title": "Port the parser", "skills": "python"})
    dm = standin.dm_channel_id(ALICE)
    notice = await bot.posted("New need matching your skills", channel=dm, since=mark)
    assert "**T1** Port the parser" in notice.json["content"]
    assert notice.json["allowed_mentions"]["parse"] == []
