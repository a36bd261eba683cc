"""The console session of the core issue, played on Discord with slash commands,
buttons and modals, against the unmodified discord.py client and the stand-in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.discord.conftest import PATCH, WORLD, BotHarness, fields

pytestmark = [pytest.mark.discord, pytest.mark.timeout(90)]

EPHEMERAL = 64
BOB, ALICE, CAROL, OLIVIA = WORLD.bob_id, WORLD.alice_id, WORLD.carol_id, WORLD.owner_id


def public(reply) -> bool:  # type: ignore[no-untyped-def]
    return reply.json["type"] == 4 and not reply.data.get("flags", 0) & EPHEMERAL


def ephemeral(reply) -> bool:  # type: ignore[no-untyped-def]
    return reply.json["type"] == 4 and bool(reply.data.get("flags", 0) & EPHEMERAL)


async def test_the_whole_loop_with_slash_commands_buttons_and_modals(discord_bot: BotHarness) -> None:
    bot, standin = discord_bot, discord_bot.standin

    # bob (Discord role "maintainer") offers; the card is announced with its buttons.
    _, r = await bot.command(BOB, "need offer", {"title": "Fix the login crash",
                                                  "skills": "python web", "reward": "50EUR"})
    assert public(r) and r.data["content"] == "T1 is offered and announced: Fix the login crash"
    card = await bot.card("T1")
    card_id = int(card["id"])
    assert "New need **T1** Fix the login crash · \\#python \\#web · 50 EUR" in card["content"]

    # alice claims and submits with the card's buttons; Submit asks for the link in a modal.
    _, r = await bot.press(card_id, "claim", ALICE)
    assert public(r) and r.data["content"].startswith("You claimed T1.")
    mark = standin.mark()
    _, opened = await bot.press(card_id, "submit", ALICE)
    assert opened.json["type"] == 9
    assert opened.json["data"]["title"] == "Submit · T1"
    _, r = await bot.press_and_fill(card_id, "submit", ALICE, "https://example.org/pr/12")
    assert r.data["content"].startswith("Your work on T1 is submitted")
    await bot.posted("alice submitted T1", since=mark)

    # Approve is for maintainers: alice is refused, privately, and nothing changes.
    _, r = await bot.press(card_id, "approve", ALICE)
    assert ephemeral(r)
    assert r.data["content"].startswith("✗ approve work needs the maintainer role")
    _, r = await bot.press(card_id, "approve", BOB)
    assert public(r) and r.data["content"] == "Approved alice's work on T1 — 50 EUR enters the ledger."
    done = await bot.edited(card_id, 0, lambda body: fields(body["embeds"][0])["State"] == "done")
    assert done.json["components"] == []  # a closed card has no buttons left

    text = await bot.say(CAROL, "ledger")
    assert "- alice 50 EUR (1 contribution)" in text

    # A consent proposal: buttons to vote; Disagree and Block ask for the reason.
    text = await bot.say(ALICE, "proposal open", {"text": "Adopt a code of conduct", "closes": "2d",
                                                   "quorum": 2})
    assert text.startswith("P1 is open until")
    p1 = await bot.card("P1")
    p1_id = int(p1["id"])
    _, r = await bot.press(p1_id, "agree", BOB)
    assert r.data["content"].startswith("Your vote on P1 is agree.")
    _, r = await bot.command(CAROL, "proposal vote", {"proposal": "P1", "position": "disagree"})
    assert ephemeral(r) and r.data["content"].startswith("✗ a reason is required to disagree")
    mark = standin.mark()
    _, r = await bot.press_and_fill(p1_id, "disagree", CAROL, "too strict for us")
    assert r.data["content"].startswith("Your vote on P1 is disagree.")
    counted = await bot.edited(p1_id, mark, lambda b: fields(b["embeds"][0])["Disagree"] == "1")
    assert fields(counted.json["embeds"][0])["Agree"] == "1"

    # Three days later the proposal has closed; the outcome is announced and the card closed.
    mark = standin.mark()
    await bot.runtime.call(bot.core.advance_to, bot.clock.now() + timedelta(days=3), bot.clock.set)
    bot.runtime.poke()
    await bot.posted("P1 closed: not passed (1 agree, 1 disagree)", since=mark)
    closed = await bot.edited(p1_id, mark, lambda b: b["components"] == [])
    assert "closed: not passed" in fields(closed.json["embeds"][0])["Status"]

    # Funding: the foundation (olivia, by the config's member list) opens a call.
    text = await bot.say(OLIVIA, "funding open", {"title": "Translation sprint", "budget": "1000EUR",
                                                  "closes": "7d"})
    assert text.startswith("F1 is open until")
    f1 = await bot.card("F1")
    assert await bot.say(CAROL, "funding pitch", {"call": "F1", "title": "Spanish docs",
                                                  "ask": "600EUR"}) == "B1 is pitched to F1."
    mark = standin.mark()
    text = await bot.say(BOB, "funding back", {"pitch": "B1", "points": 60})
    assert text.startswith("You back B1 with 60 points")
    backed = await bot.edited(int(f1["id"]), mark, lambda b: "60 points" in b["embeds"][0]["description"])
    # Allocation if the call closed now: the pitch's ask, since its share would exceed it.
    assert backed.json["embeds"][0]["description"] == \
        "**B1** Spanish docs — asks 600 EUR, 60 points → 600 EUR"
    assert fields(backed.json["embeds"][0])["Unallocated"] == "400 EUR"
    mark = standin.mark()
    _, r = await bot.command(OLIVIA, "funding close", {"call": "F1"})
    assert public(r)
    closing = await bot.posted("B1 Spanish docs (60 points): funded 600 EUR → need T2, claimed by carol",
                               since=mark)
    assert "Unallocated: 400 EUR" in closing.json["content"]

    text = await bot.say(CAROL, "log")
    assert text.startswith("Log, newest first")
    assert "[discord]" in text

    # Nothing the bot sent could ping anyone: no user, role or everyone mention anywhere.
    for m in standin.messages.values():
        assert not m["mention_everyone"] and m["mention_roles"] == []
    assert standin.calls_to(PATCH)
    assert standin.unknown_routes == []
