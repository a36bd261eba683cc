"""Card kinds, delivery states and a member's roles are enums whose members are the very
strings stored and compared before."""

from bot.domain.vocabulary import CardKind, CardMessage, DeliveryState, Role
from bot.ports import CommunityId, InboundMessage, Platform
from bot.service.commands import Commands
from tests.conftest import make_settings


def test_members_are_the_stored_strings():
    assert [*CardKind] == ["need", "proposal", "call"]
    assert [*CardMessage] == ["card", "poll", "pollend"]
    assert [*DeliveryState] == ["taken", "sent", "failed"]


def test_cards_say_their_kind(chat):
    chat.say("alice", "!offer Fix the login crash #python")
    chat.say("alice", "!propose Adopt a code of conduct")
    chat.say("fundco", "!fund Docs sprint budget:1000EUR closes:7d")
    kinds = [chat.core.card("demo", ref).kind for ref in ("T1", "P1", "F1")]
    assert kinds == [CardKind.NEED, CardKind.PROPOSAL, CardKind.CALL]


def test_a_platform_grants_roles_as_roles_and_nothing_it_does_not_know(tmp_path):
    community = make_settings(f"sqlite:///{tmp_path / 'x.sqlite3'}").community("demo")
    msg = InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"), space="!r",
                         sender="@zed:example.org", sender_name="zed", text="!whoami",
                         roles=frozenset({"maintainer", "admin"}))
    roles = Commands._roles(community, msg, {"matrix:@zed:example.org"})
    assert roles == {Role.CONTRIBUTOR, Role.MAINTAINER}
    assert all(type(r) is Role for r in roles)
