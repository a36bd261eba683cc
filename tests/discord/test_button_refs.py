"""A card button's custom id carries its object's id, read back as the chat reads ids."""

from adapters.discord import translate as tr
from bot.ports import Choice


def test_a_button_names_its_object_the_one_way():
    cid = tr.custom_id(Choice("claim", "Claim", "!claim T12"), "T12", "!")
    assert tr.parse_custom_id(cid) == tr.Pressed("claim", "T12", "contributor", "claim T12", None)
    assert tr.parse_custom_id("cb:claim:t12:c:claim T12").ref == "T12"


def test_a_button_whose_id_is_not_an_id_is_not_ours():
    # `\d` once took any script's digits: `T٣` passed for an id.
    for ref in ("T٣", "T²", "T1234567890", "X1", "12", "T"):
        assert tr.parse_custom_id(f"cb:claim:{ref}:c:claim T3") is None, ref
