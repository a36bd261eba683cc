"""Taking a member over with a link code (issue 20, item 1): a code seen in a room dies at
once, a refused code dies too, a link acts only once the issuing account confirms it, and
`!unlink` detaches only the account that sends it, or one the member's first account names.

Maria is a maintainer by her Matrix account (`matrix:@maria:example.org` in the test config).
"""

from __future__ import annotations

from datetime import timedelta

from tests.core.links import code_of, link, notices

MARIA = "@maria:example.org"
INTRUDER = "666000666"  # a new Discord account
ROOM_TYPED = "✗ a link code works only in a direct message with the bot"
UNKNOWN = "✗ that code is unknown, used or expired"


def _bobs_work_to_review(chat) -> None:  # type: ignore[no-untyped-def]
    chat.say("alice", "!offer Fix the login crash")
    chat.say("bob", "!claim T1")
    assert chat.say("bob", "!submit T1 https://example.org/pr/1").startswith("Your work on T1 is submitted")


def test_a_code_typed_in_the_room_cannot_take_maria_over(chat):
    _bobs_work_to_review(chat)
    chat.say("alice", "!propose Adopt a code of conduct")
    assert chat.say(MARIA, "!vote P1 agree", platform="matrix").startswith("Your vote on P1 is agree")
    code = code_of(chat, MARIA, "matrix")
    notices(chat)
    # By mistake, in the community room, from the account that asked for it.
    [refused] = chat.send(MARIA, f"!link {code}", platform="matrix")
    assert refused.private and refused.text.startswith(ROOM_TYPED), refused
    assert "no longer works" in refused.text and code not in refused.text
    # Anyone who read it sends it from a new Discord account, privately: it is dead.
    assert chat.say(INTRUDER, f"!link {code}", platform="discord", private=True).startswith(UNKNOWN)
    assert chat.say(INTRUDER, "!approve T1", platform="discord").startswith(
        "✗ approve work needs the maintainer role")
    assert chat.say(INTRUDER, "!unlink matrix", platform="discord").startswith(
        "✗ you have no matrix account linked")
    who = chat.say(MARIA, "!whoami", platform="matrix")
    assert "Roles: contributor, maintainer" in who and "discord" not in who
    # Her vote is hers alone, and bob's work still waits for a maintainer's review.
    assert "- \\@maria:example.org: agree" in chat.say("carol", "!proposal P1")
    assert "- bob: submitted" in chat.say("carol", "!task T1")


def test_a_code_seen_in_a_room_dies_and_its_owner_is_told_privately(chat):
    code = code_of(chat, "bob", "console")
    notices(chat)
    # Carol types bob's code in a Discord channel (a typed command, not /link).
    [refused] = chat.send("carol-d", f"!link {code}", platform="discord")
    assert refused.private and refused.text.startswith(ROOM_TYPED)
    [told] = notices(chat)
    assert told.startswith("Your link code was sent where others can read it")
    assert "no longer works" in told and code not in told
    # Nobody can use it now, not even privately.
    assert chat.say("bob-m", f"!link {code}", platform="matrix", private=True).startswith(UNKNOWN)
    assert "matrix" not in chat.say("bob", "!whoami")


def test_a_refused_code_dies_and_its_owner_hears_of_it(chat):
    code = code_of(chat, "bob", "console")
    notices(chat)
    assert chat.say("bob2", f"!link {code}").startswith("✗ that code came from console too")
    [told] = notices(chat)
    assert told.startswith("Your link code was sent from the console account bob2 (bob2) and refused")
    assert chat.say("bob-d", f"!link {code}", platform="discord", private=True).startswith(UNKNOWN)
    # Refused because the sender is the code's own member: dead as well.
    code = code_of(chat, "bob", "console")
    assert chat.say("bob", f"!link {code}").startswith("✗ this account is already part of that member")
    assert chat.say("bob-d", f"!link {code}", platform="discord", private=True).startswith(UNKNOWN)
    assert "discord" not in chat.say("bob", "!whoami")


def test_a_link_acts_only_once_the_issuing_account_confirms_it(chat):
    _bobs_work_to_review(chat)
    code = code_of(chat, MARIA, "matrix")
    notices(chat)
    waiting = chat.say("maria-d", f"!link {code}", platform="discord", private=True)
    assert waiting.startswith("Almost linked: send `!link confirm` from your matrix account")
    [asked] = notices(chat)
    assert asked.startswith("The discord account maria-d (maria-d) sent your link code")
    assert "`!link confirm`" in asked and "`!link deny`" in asked
    # Until then the new account holds nothing of Maria's: not her role, not her member.
    assert chat.say("maria-d", "!approve T1", platform="discord").startswith(
        "✗ approve work needs the maintainer role")
    assert "discord" not in chat.say(MARIA, "!whoami", platform="matrix")
    # Only the account that issued the code confirms.
    assert chat.say("maria-d", "!link confirm", platform="discord").startswith(
        "✗ no account is waiting to join you")
    assert chat.say(MARIA, "!link confirm", platform="matrix").startswith(
        "Linked: your discord account maria-d (maria-d) is now part of you")
    assert chat.say("maria-d", "!approve T1", platform="discord").startswith("Approved")


def test_the_issuing_account_denies_and_nothing_joins(chat):
    code = code_of(chat, MARIA, "matrix")
    assert chat.say(INTRUDER, f"!link {code}", platform="discord", private=True).startswith("Almost linked")
    assert chat.say(MARIA, "!link deny", platform="matrix").startswith(
        f"Denied: the discord account {INTRUDER} ({INTRUDER}) was not linked")
    assert chat.say(MARIA, "!link confirm", platform="matrix").startswith("✗ no account is waiting")
    assert chat.say(INTRUDER, f"!link {code}", platform="discord", private=True).startswith(UNKNOWN)
    assert "discord" not in chat.say(MARIA, "!whoami", platform="matrix")


def test_a_second_account_sending_a_waiting_code_cancels_it(chat):
    code = code_of(chat, MARIA, "matrix")
    assert chat.say("maria-d", f"!link {code}", platform="discord", private=True).startswith("Almost")
    # The same account again is told it waits; it cancels nothing.
    assert chat.say("maria-d", f"!link {code}", platform="discord", private=True).startswith("Almost")
    notices(chat)
    assert chat.say(INTRUDER, f"!link {code}", platform="discord", private=True).startswith(UNKNOWN)
    [told] = notices(chat)
    assert told.startswith(f"Your link code was sent from the discord account {INTRUDER}")
    assert ("The account that waited for your confirmation, the discord account maria-d "
            "(maria-d), is not joined either") in told
    assert chat.say(MARIA, "!link confirm", platform="matrix").startswith("✗ no account is waiting")


def test_a_confirmation_checks_again_and_lapses(chat):
    chat.say("alice", "!offer Docs")
    code = code_of(chat, MARIA, "matrix")
    chat.say("maria-d", f"!link {code}", platform="discord", private=True)
    # The waiting account made history of its own meanwhile: what is recorded never moves.
    chat.say("maria-d", "!claim T1", platform="discord")
    assert chat.say(MARIA, "!link confirm", platform="matrix").startswith(
        "✗ the discord account maria-d (maria-d) already has history of its own here")
    assert chat.say(MARIA, "!link confirm", platform="matrix").startswith("✗ no account is waiting")
    code = code_of(chat, MARIA, "matrix")
    assert chat.say("maria", f"!link {code}").startswith("Almost")
    chat.clock.advance(timedelta(minutes=16))
    assert chat.say(MARIA, "!link confirm", platform="matrix").startswith("✗ no account is waiting")


def test_unlink_detaches_only_the_sender_or_an_account_the_first_one_names(chat):
    _bobs_work_to_review(chat)
    link(chat, MARIA, "matrix", "maria-d", "discord")
    link(chat, MARIA, "matrix", "maria", "console")
    # Nobody detaches the first account, which holds the member's record and name.
    assert chat.say("maria-d", "!unlink matrix", platform="discord").startswith(
        "✗ your matrix account is the first of this member")
    assert chat.say(MARIA, "!unlink matrix", platform="matrix").startswith(
        "✗ your matrix account is the first of this member")
    assert "- matrix: \\@maria:example.org (first account)" in chat.say(MARIA, "!whoami", platform="matrix")
    # Another account only detaches itself.
    assert chat.say("maria-d", "!unlink console", platform="discord").startswith(
        "✗ an account unlinks only itself, or from the member's first account (matrix)")
    assert chat.say("maria", "!unlink console").startswith("Unlinked: your console account maria")
    # The first account detaches any other.
    assert chat.say(MARIA, "!unlink discord", platform="matrix").startswith(
        "Unlinked: your discord account maria-d")
    assert chat.say("maria-d", "!approve T1", platform="discord").startswith(
        "✗ approve work needs the maintainer role")
    assert chat.say(MARIA, "!approve T1", platform="matrix").startswith("Approved")
