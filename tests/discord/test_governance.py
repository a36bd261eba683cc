"""Governance slash commands (docs/behaviour.md, Decision types) become the text commands the core parses."""

from adapters.discord import commands as cmds
from bot.chat.parser import parse


def _slash(sub: str, options: list[dict]) -> dict:  # type: ignore[type-arg]
    return {"name": "proposal", "options": [{"name": sub, "type": 1, "options": options}]}


def test_proposal_open_with_a_decision_type_and_decision_makers() -> None:
    data = _slash("open", [{"name": "text", "type": 3, "value": "New logo"},
                           {"name": "type", "type": 3, "value": "advice"},
                           {"name": "deciders", "type": 3, "value": "<@11>, <@12>"}])
    parsed = parse(cmds.command_text(data) or "")
    assert parsed is not None and parsed.options == {"type": "advice", "deciders": "<@11>,<@12>"}
    assert parsed.rest == "New logo"
    [opt] = [o for o in cmds.SLASH_BY_NAME["proposal open"].options if o.name == "type"]
    assert opt.choices == ("consent", "significant", "quorum", "emergency", "advice")


def test_decide_and_outcome() -> None:
    data = _slash("decide", [{"name": "proposal", "type": 3, "value": "P3"},
                             {"name": "decision", "type": 3, "value": "not passed"},
                             {"name": "statement", "type": 3, "value": "we keep the old logo"}])
    parsed = parse(cmds.command_text(data) or "")
    assert parsed is not None and parsed.name == "decide"
    assert parsed.rest == "P3 not passed we keep the old logo"
    data = _slash("outcome", [{"name": "proposal", "type": 3, "value": "P3"},
                              {"name": "statement", "type": 3, "value": "We meet review:soon"},
                              {"name": "review", "type": 3, "value": "90d"}])
    text = cmds.command_text(data) or ""
    parsed = parse(text)
    # Free text never turns into an option; the review option does.
    assert parsed is not None and parsed.options == {"review": "90d"}
    assert parsed.rest == "P3 We meet review:soon"


def test_a_need_held_until_a_proposal_passes() -> None:
    data = {"name": "need", "options": [{"name": "offer", "type": 1, "options": [
        {"name": "title", "type": 3, "value": "Translate the guide"},
        {"name": "if_passes", "type": 3, "value": "P3"}]}]}
    parsed = parse(cmds.command_text(data) or "")
    assert parsed is not None and parsed.options == {"if": "P3"} and parsed.rest == "Translate the guide"


def test_pin_names_the_claimant() -> None:
    data = {"name": "need", "options": [{"name": "pin", "type": 1, "options": [
        {"name": "need", "type": 3, "value": "T4"}, {"name": "member", "type": 6, "value": "42"}]}]}
    parsed = parse(cmds.command_text(data) or "")
    assert parsed is not None and parsed.name == "pin" and parsed.words == ("T4", "<@42>")


def test_a_need_paid_by_a_venture() -> None:
    # Every option the text command takes is on the slash command too: by: came with it.
    data = {"name": "need", "options": [{"name": "offer", "type": 1, "options": [
        {"name": "title", "type": 3, "value": "Port the app"},
        {"name": "by", "type": 3, "value": "V2"}]}]}
    parsed = parse(cmds.command_text(data) or "")
    assert parsed is not None and parsed.options == {"by": "V2"} and parsed.rest == "Port the app"
