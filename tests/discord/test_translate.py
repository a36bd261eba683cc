"""Pure translation, fed with payloads recorded from the stand-in (`record_payloads.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import discord
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.discord import commands as cmds
from adapters.discord import translate as tr
from bot.chat.commands import COMMANDS
from bot.chat.parser import parse
from bot.chat.render import esc
from bot.ports import Card, Choice

DATA = Path(__file__).with_name("data")
ALICE = 1_100_000_000_000_000_031


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------- interactions → commands


def test_slash_command_payloads_become_text_commands() -> None:
    offer = recorded("command_need_offer")["data"]
    assert cmds.flatten_options(offer)[0] == "need offer"
    text = cmds.command_text(offer)
    assert text == ("!offer #python #web reward:50EUR slots:2 -- Fix the login crash\n"
                    "Crashes on empty password")
    parsed = parse(text)
    assert parsed is not None and parsed.name == "offer"
    assert parsed.skills == ("python", "web") and parsed.options == {"reward": "50EUR", "slots": "2"}
    assert parsed.rest == "Fix the login crash"
    assert parsed.description == "Crashes on empty password"

    assert cmds.command_text(recorded("command_need_approve")["data"]) == f"!approve T1 <@{ALICE}> -- thanks!"
    assert cmds.command_text(recorded("command_proposal_vote")["data"], prefix="?") == \
        "?vote P1 -- disagree too strict for us"


def test_autocomplete_payload_names_the_focused_option() -> None:
    data = recorded("autocomplete_need_claim")["data"]
    assert cmds.focused_option(data) == ("need", "1")
    assert cmds.flatten_options(data)[0] == "need claim"


def test_button_and_modal_payloads_carry_the_command() -> None:
    press = recorded("component_claim")
    pressed = tr.parse_custom_id(press["data"]["custom_id"])
    assert pressed == tr.Pressed("claim", "T1", "contributor", "claim T1", None)
    assert pressed.text("!") == "!claim T1"

    submit = recorded("modal_submit")
    modal = tr.parse_modal_custom_id(submit["data"]["custom_id"])
    assert modal is not None and modal.command == "submit T1"
    assert tr.modal_values(submit["data"]) == {"answer": "https://example.org/pr/12"}
    assert modal.text("!", "  https://example.org/pr/12 ") == "!submit T1 https://example.org/pr/12"


def test_modal_values_in_action_rows_too() -> None:
    data = {"custom_id": "cm:x", "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "answer", "value": "old style"}]}]}
    assert tr.modal_values(data) == {"answer": "old style"}


def test_every_core_command_has_a_slash_command() -> None:
    assert {s.command for s in cmds.SLASH} == set(COMMANDS)
    for s in cmds.SLASH:
        assert len(s.path) in (1, 2) and all(p.islower() and len(p) <= 32 for p in s.path)
        assert 1 <= len(s.description) <= 100
        names = [o.name for o in s.options]
        assert len(names) == len(set(names)) <= 25
        assert all(1 <= len(o.description) <= 100 for o in s.options)
        assert cmds.slash_usage(s.command) is not None


def test_usage_hints_get_their_slash_form() -> None:
    line = "✗ T99 does not exist — see !needs · usage: `!claim T12`"
    assert cmds.with_slash_usage(line) == line + " · on Discord `/need claim need:<need>`"
    assert cmds.with_slash_usage("no usage here") == "no usage here"


def test_roles_map_from_names_and_ids() -> None:
    held = [(20, "Maintainer"), (21, "contributor")]
    mapping: dict[str, list[str | int]] = {"maintainer": ["maintainer"], "foundation": [99, "20"]}
    assert tr.platform_roles(held, mapping) == {"maintainer", "foundation"}
    assert tr.platform_roles([(21, "contributor")], mapping) == frozenset()


# ---------------------------------------------------------------------- cards


def need_card(**kw: Any) -> Card:
    choices = (Choice("claim", "Claim", "!claim T12"),
               Choice("submit", "Submit", "!submit T12", ask="Link or note for your work"),
               Choice("approve", "Approve", "!approve T12", role="maintainer"),
               Choice("refuse", "Refuse", "!refuse T12", ask="Why is it refused?", role="maintainer"))
    return Card(ref="T12", title="T12 · " + esc("Fix *the* @everyone"), body="Details",
                fields=(("State", "1 of 1 slots free"), ("Reward", "50 EUR")), choices=choices, **kw)


def test_a_card_becomes_an_embed_with_buttons_like_the_recorded_card() -> None:
    card = need_card()
    embed = tr.card_embed(card)
    assert embed["title"] == "T12 · Fix \\*the\\* \\@everyone"
    assert embed["fields"][0] == {"name": "State", "value": "1 of 1 slots free", "inline": True}
    assert discord.Embed.from_dict(embed).to_dict()["title"] == embed["title"]
    rows = tr.card_components(card, "!")
    assert [[b["custom_id"] for b in r["components"]] for r in rows] == [
        ["cb:claim:T12:c:claim T12", "cb:submit:T12:c:submit T12|Link or note for your work"],
        ["cb:approve:T12:m:approve T12", "cb:refuse:T12:m:refuse T12|Why is it refused?"]]
    assert rows[1]["components"][0]["label"] == "Approve (maintainers)"
    # The same shape as the card the adapter posted through discord.py (recorded).
    stored = recorded("card_message")
    assert stored["components"][0]["components"][0]["custom_id"] == "cb:claim:T1:c:claim T1"
    assert {k for k in stored["embeds"][0]} >= {"title", "fields", "footer", "color"}
    assert tr.card_components(need_card(closed=True), "!") == []


def test_embeds_stay_within_discord_limits() -> None:
    huge = Card(ref="F1", title="F1 · " + "t" * 400, body="b" * 9000,
                fields=tuple((f"f{i}" * 100, "v" * 2000) for i in range(30)))
    embed = tr.card_embed(huge)
    assert len(embed["title"]) <= 256 and len(embed["fields"]) <= 25
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in embed["fields"])
    # Discord counts the fields in the 6,000 total too (issue 13): always within it.
    total = len(embed["title"]) + len(embed["footer"]["text"]) + len(embed.get("description", "")) + \
        sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    assert all(f["value"].endswith("(truncated)") for f in embed["fields"][:-1])
    assert embed["fields"][-1] == {"name": "…", "value": "*(more than a card can hold)*", "inline": False}
    small = tr.card_embed(Card(ref="P1", title="P1 · x", body="b" * 5000))
    assert len(small["description"]) == 4096 and small["description"].endswith("… (truncated)")


def test_custom_ids_round_trip_and_fit() -> None:
    choice = Choice("disagree", "Disagree", "!vote P123 disagree", ask="Why do you disagree? " * 5)
    cid = tr.custom_id(choice, "P123", "!")
    assert len(cid) <= 100
    pressed = tr.parse_custom_id(cid)
    assert pressed is not None and pressed.command == "vote P123 disagree"
    assert pressed.ask is not None and len(pressed.ask) <= 45
    assert tr.parse_custom_id(tr.modal_custom_id(cid).replace("cm:", "cb:", 1)) == pressed
    assert tr.parse_custom_id("claim:12") is None
    assert tr.parse_custom_id("cb:claim:T1:x:claim T1") is None  # unknown role letter
    with pytest.raises(ValueError):
        tr.custom_id(Choice("claim", "Claim", "!claim " + "x" * 120), "T1", "!")


# ---------------------------------------------------------------------- text and mentions


def test_short_text_is_one_page() -> None:
    assert tr.paginate("hello") == ["hello"]


def test_long_text_is_paginated_at_lines_with_markers() -> None:
    lines = [f"- **T{i}** " + "word " * 30 for i in range(40)]
    pages = tr.paginate("\n".join(lines))
    assert len(pages) >= 3 and all(len(p) <= 2000 for p in pages)
    n = len(pages)
    assert pages[0].endswith(f"*(continued below · 1/{n})*")
    assert pages[-1].startswith(f"*(continued · {n}/{n})*")
    body = "\n".join(p.split("\n", 1)[1] if i else p for i, p in enumerate(pages))
    assert all(line.strip() in body for line in lines)


def _without_markers(pages: list[str]) -> list[str]:
    out = []
    for i, p in enumerate(pages):
        if i > 0:
            p = p.split("\n", 1)[1]
        if i < len(pages) - 1:
            p = p.rsplit("\n", 1)[0]
        out.append(p)
    return out


@given(st.text(alphabet=st.sampled_from(list("ab \\`*\n_@")), min_size=1000, max_size=5000).map(esc))
def test_pagination_never_loses_text_or_breaks_an_escape(text: str) -> None:
    # The core's Markdown, where user text is escaped (`esc`), is what gets paginated.
    pages = tr.paginate(text)
    assert all(len(p) <= tr.CONTENT_MAX for p in pages)
    bodies = _without_markers(pages)
    for body in bodies[:-1]:
        # A page never ends inside an escape (`\*` split into `\` and `*`).
        stripped = body.rstrip("`")
        trailing = len(stripped) - len(stripped.rstrip("\\"))
        assert trailing % 2 == 0 or body.endswith("`"), body[-10:]
    joined = "".join(bodies)
    for ch in "ab*_@\\":
        assert joined.count(ch) == text.count(ch), ch


def test_allowed_mentions_ping_only_the_members_named() -> None:
    assert tr.allowed_mentions() == {"parse": [], "users": [], "roles": [], "replied_user": False}
    assert tr.allowed_mentions([5, 5, 7])["users"] == ["5", "7"]
    assert len(tr.allowed_mentions(range(1, 300))["users"]) == 100  # Discord's cap
    assert tr.mention_line([5, 7, 5]) == "<@5> <@7>"
    assert tr.escape_markdown("@everyone <@&1>") == "\\@everyone \\<\\@&1\\>"


def test_autocomplete_choices_fit() -> None:
    items = [(f"T{i}", "x" * 200) for i in range(40)]
    out = tr.autocomplete_choices(items)
    assert len(out) == 25 and all(len(c["name"]) <= 100 for c in out)
    assert all(len(c["value"]) <= 100 for c in tr.autocomplete_choices([("T" + "9" * 150, "x")]))
    assert [n for n, _ in cmds.command_suggestions("!cl")] == ["claim", "close", "closecall"]


def test_fields_alone_never_push_an_embed_over_six_thousand() -> None:
    # 25 fields of 250 characters fit each field's limit but not Discord's 6,000 total.
    card = Card(ref="T1", title="T1 · x", body="", fields=tuple((f"n{i}", "v" * 250) for i in range(25)))
    embed = tr.card_embed(card)
    total = len(embed["title"]) + len(embed["footer"]["text"]) + \
        sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000 and embed["fields"][-1]["value"] == "*(more than a card can hold)*"


def test_every_slash_command_fits_discords_eight_thousand_characters() -> None:
    big = {"name": "x", "description": "d" * 100,
           "options": [{"name": "o", "description": "d" * 100,
                        "choices": [{"name": "n" * 100, "value": "v" * 100}] * 25}] * 2}
    assert cmds.command_text_size(big) == 1 + 100 + 2 * (1 + 100 + 25 * 200)


def test_slash_free_text_is_never_read_as_options() -> None:
    # Issue 9 item 12: free text stays free text.
    data = {"name": "need", "options": [{"name": "offer", "type": 1, "options": [
        {"name": "title", "type": 3, "value": "Innocent slots:50 reward:9999999EUR due:1d #python"}]}]}
    parsed = parse(cmds.command_text(data) or "")
    assert parsed is not None and parsed.options == {} and parsed.skills == ()
    assert parsed.rest == "Innocent slots:50 reward:9999999EUR due:1d #python"
    data = {"name": "proposal", "options": [{"name": "open", "type": 1, "options": [
        {"name": "text", "type": 3, "value": "Lower quorum:3"}, {"name": "quorum", "type": 4, "value": 5}]}]}
    parsed = parse(cmds.command_text(data) or "")
    assert parsed is not None and parsed.options == {"quorum": "5"} and parsed.rest == "Lower quorum:3"
    # Every word stays exactly as written.
    data = {"name": "need", "options": [{"name": "offer", "type": 1, "options": [
        {"name": "title", "type": 3, "value": "see https://x.org/a:b and ratio:2"}]}]}
    parsed = parse(cmds.command_text(data) or "")
    assert parsed is not None and parsed.rest == "see https://x.org/a:b and ratio:2"
