"""Record the interaction payloads `test_translate.py` reads (run it to refresh them).

    .venv/bin/python -m tests.discord.record_payloads

It runs the adapter against the stand-in, performs each interaction once and writes the
INTERACTION_CREATE ``d`` the bot received to ``tests/discord/data/<name>.json``
(tokens replaced by a placeholder).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tests.discord.conftest import CHANNEL, WORLD, BotHarness, discord_settings
from tests.discord_standin import DiscordStandIn, point_discord_py_at
from tests.discord_standin.fixtures import seed_default_world

DATA = Path(__file__).with_name("data")


def _clean(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "token": "recorded-token"}


async def record() -> None:
    """Perform the interactions and write their payloads."""
    standin = DiscordStandIn()
    seed_default_world(standin)
    await standin.start()
    pointer = point_discord_py_at(standin)
    os.environ["DISCORD_TOKEN"] = standin.token
    with tempfile.TemporaryDirectory() as tmp:
        bot = BotHarness(standin, discord_settings(f"sqlite:///{tmp}/commons.sqlite3"))
        await bot.start()
        try:
            out: dict[str, dict[str, Any]] = {}
            h, _ = await bot.command(WORLD.bob_id, "need offer", {
                "title": "Fix the login crash", "skills": "python, #web", "reward": "50 EUR",
                "slots": 2, "description": "Crashes on empty password"})
            out["command_need_offer"] = h.payload
            card = await bot.card("T1")
            out["card_message"] = standin.messages[int(card["id"])]
            h, _ = await bot.press(int(card["id"]), "claim", WORLD.alice_id)
            out["component_claim"] = h.payload
            h, _ = await bot.press_and_fill(int(card["id"]), "submit", WORLD.alice_id,
                                            "https://example.org/pr/12")
            out["modal_submit"] = h.payload
            h, _ = await bot.command(WORLD.bob_id, "need approve", {
                "need": "T1", "member": WORLD.alice_id, "note": "thanks!"})
            out["command_need_approve"] = h.payload
            h, _ = await bot.command(WORLD.carol_id, "proposal vote", {
                "proposal": "P1", "position": "disagree", "reason": "too strict for us"})
            out["command_proposal_vote"] = h.payload
            h = await standin.send_autocomplete("need claim", {"need": "1"}, "need",
                                                channel_id=CHANNEL, user_id=WORLD.alice_id)
            await h.response()
            out["autocomplete_need_claim"] = h.payload
            for name, payload in out.items():
                (DATA / f"{name}.json").write_text(
                    json.dumps(_clean(payload) if "token" in payload else payload, indent=1,
                               ensure_ascii=False) + "\n", encoding="utf-8")
        finally:
            await bot.stop()
            pointer.restore()
            await standin.stop()


if __name__ == "__main__":
    asyncio.run(record())
