"""The generative loop typed in a Matrix room (SPEC §5): a venture, its revenue, the
foundation's receipt, the books, and a call refused beyond the commons fund."""

from __future__ import annotations

import pytest

from tests.matrix.botkit import Chat, bot_config, register_bot, room_with, start_bot
from tests.matrix.clients import MakePerson
from tests.matrix.synapse import SynapseServer

pytestmark = pytest.mark.synapse


async def test_the_books_in_a_room(make_person: MakePerson, synapse: SynapseServer, tmp_path,
                                   monkeypatch) -> None:
    bob = await make_person("bob")
    fundco = await make_person("fundco")
    account = await register_bot(synapse)
    room = await room_with(bob, [fundco], [account.user_id])
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room],
                        foundation=[fundco.user_id])
    config["communities"][0]["policies"] = {"pool": True}
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    try:
        b, f = Chat(bob, room, bot.user_id), Chat(fundco, room, bot.user_id)
        registered = await b.say("!venture Acme pledge:10%")
        assert registered.body.startswith("V1 Acme is registered with you as its member")
        declared = await b.say("!revenue V1 4000EUR")
        assert "pledged amount due: 400 EUR" in declared.body
        received = await f.say("!receive 400EUR from:V1 thanks")
        assert received.body.startswith("R1 recorded: 400 EUR from V1 Acme")
        assert "commons fund 200 EUR" in received.body
        # A call beyond the commons fund is refused, naming what is available (privately).
        refused = await f.ask("!fund Docs budget:300EUR closes:7d")
        assert "the commons fund has 200 EUR available" in refused
        books = await b.say("!books")
        assert "Operations fund 200 EUR" in books.body and "available 200 EUR" in books.body
        assert "V1" in books.body and "received 400 EUR" in books.body
    finally:
        await bot.aclose()
