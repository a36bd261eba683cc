"""`Ref.parse`: the one reader of ids like T12 — what it takes, and what it refuses."""

import pytest

from bot.domain.ref import ALL, Ref, RefKind, is_ref


@pytest.mark.parametrize(("text", "kinds", "kind", "number"), [
    ("T12", "TPF", RefKind.NEED, 12),
    ("t12", "TPF", RefKind.NEED, 12),  # the letter in either case
    ("P3", "TPF", RefKind.PROPOSAL, 3),
    ("F1", "F", RefKind.CALL, 1),
    ("b4", ALL, RefKind.PITCH, 4),
    ("V2", "V", RefKind.VENTURE, 2),
    ("R7", "RS", RefKind.RECEIPT, 7),
    ("s3", "RS", RefKind.SPEND, 3),
    ("T#12", "T", RefKind.NEED, 12),
    ("12", "T", RefKind.NEED, 12),  # a bare number where one kind is wanted
    ("#12", "P", RefKind.PROPOSAL, 12),
    ("T012", "T", RefKind.NEED, 12),  # leading zeros count among the nine digits
    ("T0", "T", RefKind.NEED, 0),  # no object has it, which the caller says
    ("T999999999", "T", RefKind.NEED, 999_999_999),
    (" T12\n", "T", RefKind.NEED, 12),
])
def test_the_forms_members_write_are_taken(text, kinds, kind, number):
    ref = Ref.parse(text, kinds)
    assert ref == Ref(kind, number)
    assert str(ref) == f"{kind}{number}"


@pytest.mark.parametrize(("text", "kinds"), [
    ("", "T"), (None, "T"), ("T", "T"), ("#", "T"), ("T#", "T"),
    ("T²", "T"), ("T٣", "T"), ("T１２", "T"), ("٣", "T"), ("T1²", "T"),  # digits that are not ASCII
    ("T1234567890", "T"), ("T0000000001", "T"),  # ten digits, zeros included
    ("P3", "T"), ("X12", ALL), ("12", "TPF"), ("#12", "RS"),  # not a kind that is wanted
    ("TT1", "T"), ("T 12", "T"), ("T-1", "T"), ("T+1", "T"), ("T1.5", "T"), ("T1a", "T"),
    ("T\u200b12", "T"), ("@12", ALL), ("digest", ALL),
    ("\u017f3", "S"),  # the long s, which a Unicode case-insensitive match takes for s
])
def test_anything_else_is_refused(text, kinds):
    assert Ref.parse(text, kinds) is None


def test_the_default_kinds_are_needs_proposals_and_calls():
    assert [str(Ref.parse(t)) for t in ("T1", "P2", "F3")] == ["T1", "P2", "F3"]
    assert Ref.parse("B4") is None and Ref.parse("4") is None


def test_each_kind_has_its_letter_and_noun():
    assert ALL == "TPFBVRS"
    assert [k.noun for k in RefKind] == ["need", "proposal", "funding call", "pitch", "venture",
                                         "receipt", "spend"]


def test_of_reads_what_the_bot_wrote_and_raises_on_anything_else():
    assert Ref.of("B12") == Ref(RefKind.PITCH, 12)
    assert sorted([Ref.of("T10"), Ref.of("T9")]) == [Ref(RefKind.NEED, 9), Ref(RefKind.NEED, 10)]
    with pytest.raises(ValueError):
        Ref.of("digest")


def test_is_ref_wants_the_letter():
    assert is_ref("V2", RefKind.VENTURE) and is_ref("v#2", RefKind.VENTURE)
    assert not is_ref("2", RefKind.VENTURE) and not is_ref("T2", RefKind.VENTURE)
    assert not is_ref(None, RefKind.NEED)


def test_every_command_reads_an_id_the_same_way(chat):
    chat.say("alice", "!offer Fix the login crash #python")
    assert chat.say("bob", "!claim t#1").startswith("You claimed T1.")
    # `!log` once took only `T1` and looked for events of `T01` as written.
    assert chat.say("bob", "!log T01").startswith("Log of T1, newest first")
    assert chat.say("bob", "!log t#1").startswith("Log of T1, newest first")
    assert chat.say("bob", "!log T٣").startswith("✗ 'T٣' is not an id — write T12, P3, F1")
    assert chat.say("bob", "!task T٣").startswith("✗ 'T٣' is not a need id — write it like T12")
