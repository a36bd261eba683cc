"""One community on Matrix and Discord at once: one ``commons-bot run`` process (the real
CLI, in a subprocess) runs both adapters over one core, against a real Synapse and the
Discord stand-in."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.discord_standin import DiscordStandIn, point_discord_py_at
from tests.discord_standin.fixtures import DEFAULT_WORLD as WORLD
from tests.discord_standin.fixtures import seed_default_world

pytest.importorskip("nio")
from tests.matrix.botkit import Chat, bot_config, register_bot, room_with, wait_joined, write_config
from tests.matrix.clients import MakePerson
from tests.matrix.conftest import make_person, synapse
from tests.matrix.synapse import SynapseServer

__all__ = ["make_person", "synapse"]  # the Matrix fixtures (a real Synapse, nio clients)

pytestmark = [pytest.mark.synapse, pytest.mark.discord, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
EPHEMERAL = 64


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def test_a_need_offered_in_matrix_is_claimed_on_discord_and_linked_votes_count_once(
        make_person: MakePerson, synapse: SynapseServer, tmp_path: Path) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    account = await register_bot(synapse)
    room = await room_with(alice, [bob], [account.user_id])

    standin = DiscordStandIn()
    seed_default_world(standin)
    await standin.start()
    pointer = point_discord_py_at(standin)  # the test's own discord.py use, if any
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [room])
    config["discord"] = {"token": "${DISCORD_TOKEN}", "guild_ready_timeout": 0.05}
    config["communities"][0]["discord"] = {"guild": WORLD.guild_id, "channels": [WORLD.channel_id],
                                           "roles": {"maintainer": ["maintainer"]}}
    path = write_config(tmp_path / "both.yaml", config)
    env = {**os.environ, **account.env, "DISCORD_TOKEN": standin.token}
    env.pop("COMMONS_DATABASE_URL", None)
    log = tmp_path / "bot.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.discord.standin_run", standin.api_base, standin.gateway_url,
        "--config", str(path), cwd=ROOT, env=env, stdout=log.open("wb"), stderr=asyncio.subprocess.STDOUT)
    try:
        # Both platforms up: the bot joined the room and registered its slash commands.
        await wait_joined(alice, room, account.user_id, timeout=60)
        await standin.wait_until(lambda: standin.commands(WORLD.guild_id)
                                 and any(s.connected for s in standin.sessions),
                                 timeout=60, description="the Discord side ready")
        a, b = Chat(alice, room, account.user_id), Chat(bob, room, account.user_id)

        # A need offered in the Matrix room is announced on Discord with its card…
        assert (await a.ask("!offer Fix the login crash #python")).startswith("T1 is offered")

        def card_of(ref: str) -> dict[str, Any] | None:
            return next((m for m in standin.channel_messages(WORLD.channel_id)
                         if any(e.get("title", "").startswith(f"{ref} ·") for e in m["embeds"])), None)

        card = await standin.wait_until(lambda: card_of("T1"), timeout=20, description="T1's card")
        assert "New need **T1** Fix the login crash" in card["content"]
        # …and claimed there with the button; the Matrix room hears of it.
        claim = next(b["custom_id"] for r in card["components"] for b in r["components"]
                     if b["custom_id"].startswith("cb:claim:"))
        press = await standin.send_component(int(card["id"]), claim, user_id=WORLD.carol_id)
        assert (await press.response(timeout=20)).data["content"].startswith("You claimed T1.")
        await a.wait_bot(lambda ev: (getattr(ev, "body", "") or "").startswith("carol claimed T1"),
                         "the claim announced in Matrix")

        # bob links his Discord identity to his Matrix one: the code by /link (seen by the
        # bot alone), then confirmed from Matrix…
        code = re.search(r"link code is (\w+)", await b.ask("!link"))
        assert code is not None
        linked = await standin.send_command("link", {"code": code.group(1)},
                                            channel_id=WORLD.channel_id, user_id=WORLD.bob_id)
        reply = (await linked.response(timeout=20)).data
        assert reply["flags"] & EPHEMERAL and reply["content"].startswith("Almost linked")
        assert (await b.ask("!link confirm")).startswith("Linked: your discord account")

        # …then votes from each platform: the Discord vote replaces the Matrix one.
        assert (await a.ask("!propose Adopt a code of conduct")).startswith("P1 is open")
        pcard = await standin.wait_until(lambda: card_of("P1"), timeout=20, description="P1's card")
        assert (await b.ask("!vote P1 agree")).startswith("Your vote on P1 is agree.")
        abstain = next(b["custom_id"] for r in pcard["components"] for b in r["components"]
                       if b["custom_id"].startswith("cb:abstain:"))
        press = await standin.send_component(int(pcard["id"]), abstain, user_id=WORLD.bob_id)
        answer = (await press.response(timeout=20)).data["content"]
        assert answer.startswith("Your vote on P1 is now abstain.")
        assert "Counts: 0 agree, 1 abstain, 0 disagree, 0 block." in answer
        counted = await standin.wait_until(
            lambda: fields(standin.messages[int(pcard["id"])]["embeds"][0]).get("Abstain") == "1"
            and standin.messages[int(pcard["id"])], timeout=20, description="the card counting once")
        assert fields(counted["embeds"][0])["Agree"] == "0"
        shown = await a.ask("!proposal P1")
        assert "1 abstain" in shown and "1 agree" not in shown
        assert standin.unknown_routes == [] and standin.internal_errors == []
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        pointer.restore()
        await standin.stop()
        if proc.returncode not in (0, None):
            print(log.read_text(errors="replace")[-4000:])
