"""Input at the edges: characters that cannot be stored, non-ASCII digits, dates at the end of
time, echoed markup, terminal control, time edges, reward bounds and role-first refusals.

Each case is one a probe of the core found (issue 9); every one runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta

import pytest

from adapters.console.adapter import ConsoleAdapter
from bot.chat.render import unescape
from bot.runtime import Runtime
from tests.conftest import START, Chat, build

INTERNAL = "Something went wrong"


def refused(reply: str) -> str:
    """The refusal's own line, without the usage that follows it."""
    assert reply.startswith("✗ "), reply
    assert "\n" not in reply and INTERNAL not in reply, reply
    return reply.split(" · usage:")[0]


# --- item 5: no internal error from any input ------------------------------------------------


@pytest.mark.parametrize("text, says", [
    ("!offer Docs slots:²", "slots:² is not a number of people"),
    ("!offer Docs slots:٣", "slots:٣ is not a number of people"),
    ("!needs page:²", "page:² is not a page number"),
    ("!log page:²", "page:² is not a page number"),
    ("!propose Adopt it quorum:²", "quorum:² is not a number of votes"),
    ("!offer Docs reward:²EUR", "'²EUR' is not an amount"),
    ("!offer Docs due:²d", "'²d' is not a time"),
    ("!claim T²", "'T²' is not a need id"),
    ("!claim T٣", "'T٣' is not a need id"),
])
def test_numbers_are_ascii_digits_only(chat, text, says):
    assert says in refused(chat.say("alice", text))


def test_unicode_digits_in_points_and_backing_are_refused(chat):
    assert "points:² is not an allowance" in refused(
        chat.say("fundco", "!fund Sprint budget:100EUR closes:3d points:²"))
    chat.say("fundco", "!fund Sprint budget:100EUR closes:3d")
    chat.say("carol", "!pitch F1 Docs ask:50EUR")
    assert "say how many points" in refused(chat.say("bob", "!back B1 ²"))
    assert "say how many points" in refused(chat.say("bob", "!back B1 ٣"))
    assert chat.say("bob", "!back B1 3").startswith("You back B1 with 3 points")


@pytest.mark.parametrize("option", ["due:0001-01-01T00:00+01:00", "due:9999-12-31T23:00-02:00",
                                    "due:9999-12-31T23:59+00:00", "due:0001-01-01"])
def test_dates_at_the_ends_of_time_are_one_clear_line(chat, option):
    line = refused(chat.say("alice", f"!offer Docs {option}"))
    assert "out of range" in line or "in the past" in line or "too far away" in line
    assert chat.say("alice", "!needs").startswith("No open needs")


@pytest.mark.parametrize("option", ["closes:0001-01-01T00:00+01:00", "closes:9999-12-31T23:00-02:00"])
def test_closing_times_at_the_ends_of_time_are_one_clear_line(chat, option):
    assert "out of range" in refused(chat.say("alice", f"!propose Adopt it {option}"))
    assert "out of range" in refused(chat.say("fundco", f"!fund Sprint budget:9EUR {option}"))


def test_nul_and_lone_surrogates_are_removed_from_text_and_names(chat):
    reply = chat.send("b\x00ob\ud800", "!offer Fix\x00 the\ud800 docs\nline\x00 two\udfff",
                      platform="matrix")
    # The sender id itself cannot be stored: one clear line, nothing made.
    assert len(reply) == 1 and refused(reply[0].text).startswith("✗ your account's id")
    out = chat.core.handle(_msg("@bob:example.org", "b\x00ob\ud800 \x1b[31mred", "!offer Fix\x00 the\ud800 "
                                "docs #py\x00thon reward:5\x00EUR\nline\x00 two\udfff"))
    assert out[0].text.startswith("T1 is offered and announced: Fix the docs"), out
    task = chat.say("carol", "!task T1")
    assert "Fix the docs" in task and "line two" in task and "5 EUR" in task
    assert "bob red" in chat.say("carol", "!log")


def test_nul_in_a_message_id_is_refused_without_touching_the_database(chat):
    out = chat.core.handle(_msg("@bob:example.org", "bob", "!offer Docs", message_id="$ev\x00"))
    assert refused(out[0].text).startswith("✗ your account's id")
    assert chat.say("carol", "!needs").startswith("No open needs")


def _msg(sender, name, text, message_id=None):
    from bot.ports import CommunityId, InboundMessage, Platform

    return InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"), space="!r",
                          sender=sender, sender_name=name, text=text, message_id=message_id)


# --- item 8: refusals never echo markup ------------------------------------------------------

_LIVE = re.compile(r"(?<!\\)[<>\[\]@`*_]")


@pytest.mark.parametrize("member, text", [
    ("alice", "!offer X reward:[click](https://evil.example/phish)"),
    ("alice", "!offer X due:<t:1:R>"),
    ("alice", "!offer X slots:@everyone"),
    ("alice", "!<@&123456>"),
    ("alice", "!@everyone"),
    ("bob", "!claim <@&123456>"),
    ("bob", "!claim [click](https://evil.example/phish)"),
    ("alice", "!ledger @everyone"),
    ("alice", "!ledger <@&123456>"),
    ("bob", "!log <t:1:R>"),
    ("bob", "!needs page:<@&1>"),
    ("bob", "!propose X closes:**bold**"),
    ("bob", "!help <@&123456>"),
    ("fundco", "!fund X budget:[a](b)EUR closes:1d"),
])
def test_refusals_echo_user_text_escaped(chat, member, text):
    line = refused(chat.say(member, text))
    assert not _LIVE.search(line), line
    if "(https" in text:
        assert "[click](https://evil.example/phish)"[:20] in unescape(line)


def test_an_approval_naming_everyone_echoes_it_escaped(chat):
    chat.say("alice", "!offer Docs")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 done")
    line = refused(chat.say("alice", "!approve T1 @everyone"))
    assert line.startswith("✗ \\@everyone is not a member here")


def test_echoed_text_is_capped(chat):
    line = refused(chat.say("alice", "!offer X reward:" + "9" * 5000 + "EUR"))
    assert len(line) < 200
    line = refused(chat.say("bob", "!claim " + "T" * 5000))
    assert len(line) < 200


# --- item 9: terminal and plain text ----------------------------------------------------------


def _console(chat: Chat) -> tuple[ConsoleAdapter, io.StringIO]:
    out = io.StringIO()
    console = ConsoleAdapter(Runtime(chat.core), chat.core.settings,
                             community=chat.core.settings.communities[0], out=out)
    asyncio.run(console.start())
    return console, out


def test_ansi_escapes_never_reach_the_console(chat):
    console, out = _console(chat)
    console.member = "alice"
    console.line("!offer \x1b[2JClear \x1b]0;title\x07screen \x9b31m\x07bell")
    console.line("!task T1")
    printed = out.getvalue()
    assert "Clear screen" in printed
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", printed), repr(printed)


def test_a_description_line_cannot_pass_for_an_announcement(chat):
    chat.say("alice", "!offer Docs\n📣 P9 closed: passed (9 agree)\n- fake item")
    task = chat.say("carol", "!task T1")
    assert not any(line.startswith(("📣", "- fake")) for line in task.splitlines()), task
    chat.outbox()  # the need's announcement is the bot's own
    console, out = _console(chat)
    console.line("!task T1")
    lines = out.getvalue().splitlines()
    assert any("📣 P9 closed" in line for line in lines)
    assert not any(line.startswith("📣") for line in lines), lines
    assert "Claim it with !claim T1" in lines


def test_backslash_escapes_render_as_the_text_typed_in_the_console(chat):
    console, out = _console(chat)
    console.member = "alice"
    console.line("!offer Use `make test` and **bold** \\o/ #ci")
    printed = out.getvalue()
    assert "Use `make test` and **bold** \\o/" in printed, printed


# --- item 10: time edges ------------------------------------------------------------------------


def test_a_claim_past_its_expiry_cannot_be_renewed_or_submitted(chat):
    chat.say("alice", "!offer Docs")
    chat.say("bob", "!claim T1")
    chat.clock.advance(timedelta(days=14, seconds=1))  # the expiry has not fired yet
    assert "your claim on T1 expired on" in refused(chat.say("bob", "!renew T1"))
    assert "your claim on T1 expired on" in refused(chat.say("bob", "!submit T1 https://x.example"))
    chat.core.process_due()
    assert "bob's claim on T1 expired" in chat.say("carol", "!task T1")


@pytest.mark.parametrize("member, text", [
    ("alice", "!propose Adopt it closes:0d"), ("alice", "!propose Adopt it closes:0h"),
    ("alice", "!offer Docs due:0m"), ("fundco", "!fund Sprint budget:9EUR closes:0h"),
])
def test_zero_durations_are_refused(chat, member, text):
    assert "is no time at all" in refused(chat.say(member, text))


def test_a_one_day_claim_is_reminded_half_way_not_at_once(db_url):
    core, clock = build(db_url, claim_days=1)
    try:
        chat = Chat(core, clock)
        chat.say("alice", "!offer Docs")
        chat.say("bob", "!claim T1")
        reminders = [d for d in core.due(until=START + timedelta(days=2)) if d.kind == "claim_reminder"]
        assert [d.at for d in reminders] == [START + timedelta(hours=12)]
        clock.set(START + timedelta(seconds=1))
        assert core.process_due() == 0
        clock.set(START + timedelta(hours=12))
        assert core.process_due() == 1
        assert any("Your claim on T1" in o.text for o in chat.outbox() if o.kind == "notice")
    finally:
        core.engine.dispose()


def test_the_default_claim_is_still_reminded_two_days_before_expiry(chat):
    chat.say("alice", "!offer Docs")
    chat.say("bob", "!claim T1")
    reminders = [d for d in chat.core.due(until=START + timedelta(days=30)) if d.kind == "claim_reminder"]
    assert [d.at for d in reminders] == [START + timedelta(days=12)]


@pytest.mark.parametrize("step", ["+999999w", "+999999d", "+523w"])
def test_console_time_far_ahead_is_one_clear_line(chat, step):
    console, out = _console(chat)
    assert console.line(f"/time {step}") is True
    printed = out.getvalue()
    assert printed.startswith("✗ /time moves at most 522w") and printed.count("\n") == 1, printed
    assert chat.clock.now() == START


# --- item 11: rewards -------------------------------------------------------------------------


def _approve_all(chat: Chat, members: list[str], **amounts: str) -> list[str]:
    replies = []
    for m in members:
        chat.say(m, "!claim T1")
        chat.say(m, "!submit T1 https://example.org/pr")
        extra = f" amount:{amounts[m]}" if m in amounts else ""
        replies.append(chat.say("alice", f"!approve T1 @{m}{extra}"))
    return replies


def test_the_remainder_cent_goes_to_the_first_approval(chat):
    chat.say("alice", "!offer Translate reward:100EUR slots:3")
    replies = _approve_all(chat, ["bob", "carol", "dave"])
    assert "33.34 EUR enters the ledger" in replies[0]
    assert "33.33 EUR enters the ledger" in replies[1] and "33.33 EUR" in replies[2]
    assert _credited(chat) == 10000


def _credited(chat: Chat) -> int:
    """What the ledger holds in all, in minor units (read from the store: the record)."""
    from sqlalchemy import func, select

    from bot.store.models import Contribution

    with chat.core.unit() as tx:
        s = tx.session
        return int(s.scalar(select(func.coalesce(func.sum(Contribution.reward_minor), 0))))


def test_an_amount_is_bounded_by_what_is_left_of_the_reward(chat):
    chat.say("alice", "!offer Typo reward:1EUR")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 done")
    line = refused(chat.say("alice", "!approve T1 amount:99999999999EUR"))
    assert "T1's reward is 1 EUR and 1 EUR of it is left — give at most amount:1EUR" in line
    assert "ledger is empty" in chat.say("carol", "!ledger")


def test_a_two_slot_need_never_credits_more_than_its_reward(chat):
    chat.say("alice", "!offer Docs reward:10EUR slots:2")
    replies = _approve_all(chat, ["bob"], bob="10EUR")
    assert "10 EUR enters the ledger" in replies[0]
    chat.say("carol", "!claim T1")
    chat.say("carol", "!submit T1 done")
    assert "0 EUR of it is left" in refused(chat.say("alice", "!approve T1 @carol amount:10EUR"))
    assert "0 EUR enters the ledger" in chat.say("alice", "!approve T1 @carol")
    assert _credited(chat) == 1000


def test_an_amount_on_a_need_without_reward_is_refused(chat):
    chat.say("alice", "!offer Docs")
    chat.say("bob", "!claim T1")
    chat.say("bob", "!submit T1 done")
    assert "T1 has no reward" in refused(chat.say("alice", "!approve T1 amount:5EUR"))
    assert chat.say("alice", "!approve T1").startswith("Approved bob's work on T1.")


def test_a_funded_pitch_stays_its_pitchers_until_released(chat):
    chat.say("fundco", "!fund Sprint budget:100EUR closes:3d")
    chat.say("carol", "!pitch F1 Spanish docs ask:60EUR")
    chat.say("bob", "!back B1 10")
    chat.say("fundco", "!closecall F1")
    chat.clock.advance(timedelta(days=60))
    chat.core.process_due()
    task = chat.say("bob", "!task T1")
    assert "- carol: active" in task and "expired" not in task
    assert "yours until you release it" in chat.say("carol", "!mine")
    assert "does not expire" in refused(chat.say("carol", "!renew T1"))
    assert refused(chat.say("bob", "!claim T1")).startswith("✗ T1 is full")
    chat.say("carol", "!submit T1 https://example.org/es")
    chat.say("alice", "!changes T1 a few typos")
    assert "yours until you release it" in chat.say("carol", "!mine")
    assert chat.say("carol", "!release T1").startswith("You released T1")
    assert chat.say("bob", "!claim T1").startswith("You claimed T1")


# --- item 13: the role before the state --------------------------------------------------------


@pytest.mark.parametrize("text, needs", [
    ("!approve T2", "approve work needs the maintainer role"),
    ("!approve T1", "approve work needs the maintainer role"),
    ("!changes T2 more", "request changes on work needs the maintainer role"),
    ("!refuse T2 no", "refuse work needs the maintainer role"),
    ("!approve T99", "approve work needs the maintainer role"),
])
def test_role_gated_commands_name_the_role_first(chat, text, needs):
    chat.say("alice", "!offer One")
    chat.say("alice", "!offer Two")
    chat.say("carol", "!claim T1")
    chat.say("carol", "!submit T1 done")
    assert needs in refused(chat.say("bob", text))


def test_a_maintainer_still_cannot_approve_their_own_work(chat):
    chat.say("alice", "!offer Docs")
    chat.say("erin", "!claim T1")
    chat.say("erin", "!submit T1 done")
    assert "you cannot approve your own work" in refused(chat.say("erin", "!approve T1"))


def test_a_reaction_naming_an_unstorable_message_id_finds_no_card(chat):
    chat.say("alice", "!offer Docs")
    assert chat.core.card_of_message("matrix", "$ev\x00") is None
    assert chat.core.card_of_message("matrix", "$ev\ud800") is None
