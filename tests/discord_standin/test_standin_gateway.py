"""The stand-in against the real, unmodified discord.py client: the gateway (resume,
invalid session, member chunks), and the stand-in's own rules over raw HTTP.

The gateway tests start a bare ``discord.Client`` (no project code), drive it through the
stand-in and check both sides: what discord.py's callbacks saw, and what REST calls reached
"Discord"; the last two speak raw HTTP to the stand-in.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import discord
import pytest

from . import DiscordStandIn
from .bare_bot import WORLD, BareBot
from .fixtures import DiscordClientRunner, DiscordWorld

pytestmark = [pytest.mark.discord, pytest.mark.timeout(30)]


# ---------------------------------------------------------------------- gateway: resume, invalid session


async def test_resume_replays_interaction_exactly_once(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    bot = await run_discord_client(BareBot())
    session = standin.sessions[0]

    standin.hold_connections()  # the bot reconnects at once; keep it out until the command is queued
    await standin.disconnect_all(code=4000)
    handle = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.alice_id)
    assert not handle.delivered
    standin.release_connections()

    reply = await handle.response(timeout=5)
    assert reply.data["content"] == "pong"
    await asyncio.wait_for(bot.resumed.wait(), 5)
    assert len(standin.identifies) == 1 and standin.live_sessions == [session]
    resume = standin.resumes[-1]
    assert resume.ok and resume.session_id == session.id and resume.replayed >= 1
    assert standin.connections[-1].path == "/resume"  # discord.py used resume_gateway_url

    # Barrier: discord.py handles events in order, so once a later /ping is answered,
    # a duplicate delivery of the first one would have been answered too.
    later = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.bob_id)
    await later.response()
    assert len(handle.deliveries) == 1 and len(handle.callbacks) == 1
    assert bot.ping_calls == 2
    assert standin.errors == []


async def test_invalid_session_makes_discord_py_identify_again(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    bot = await run_discord_client(BareBot())
    bot.ready.clear()

    await standin.disconnect_all(code=4000, invalidate=True)
    await asyncio.wait_for(bot.ready.wait(), 5)

    assert [r.ok for r in standin.resumes] == [False]
    assert len(standin.identifies) == 2 and len(standin.live_sessions) == 1
    handle = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.alice_id)
    assert (await handle.response()).data["content"] == "pong"


async def test_members_intent_chunks_guild(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    intents = discord.Intents.default()
    intents.members = True
    bot = await run_discord_client(BareBot(intents=intents))

    guild = bot.get_guild(WORLD.guild_id)
    assert guild is not None and guild.chunked
    bob = guild.get_member(WORLD.bob_id)
    assert bob is not None and {r.name for r in bob.roles} == {"@everyone", "maintainer", "contributor"}
    assert any(f.op == 8 for f in standin.gateway_received)


# ---------------------------------------------------------------------- the stand-in's own rules (raw HTTP)


async def raw(
    standin: DiscordStandIn, method: str, path: str, body: Any = None, *, auth: bool = True
) -> tuple[int, str | None, Any]:
    headers = {"Authorization": f"Bot {standin.token}"} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, standin.api_base + path, json=body, headers=headers) as resp,
    ):
        data = await resp.json(content_type=None) if resp.status != 204 else None
        return resp.status, resp.headers.get("Content-Type"), data


async def test_unknown_route_is_recorded(standin: DiscordStandIn) -> None:
    status, content_type, body = await raw(standin, "GET", "/channels/1/pins/everything")
    assert (status, content_type, body) == (404, "application/json", {"message": "404: Not Found", "code": 0})
    assert standin.unknown_routes == ["GET /channels/1/pins/everything"]
    status, _, _ = await raw(standin, "GET", "/users/@me", auth=False)
    assert status == 401
    standin.unknown_routes.clear()  # this test made them on purpose


async def test_interaction_acknowledged_once_and_in_time(
    standin: DiscordStandIn, discord_world: DiscordWorld
) -> None:
    handle = await standin.send_interaction(
        2,
        {"id": "1", "name": "x", "type": 1},
        channel_id=discord_world.channel_id,
        user_id=discord_world.alice_id,
    )
    path = f"/interactions/{handle.id}/{handle.token}/callback"
    first = await raw(standin, "POST", path, {"type": 4, "data": {"content": "one"}}, auth=False)
    second = await raw(standin, "POST", path, {"type": 4, "data": {"content": "two"}}, auth=False)
    assert first[0] == 204 and second[0] == 400 and second[2]["code"] == 40060
    assert [c.status for c in handle.callbacks] == [204, 400]

    standin.interaction_deadline = 0.0
    late = await standin.send_interaction(
        2,
        {"id": "1", "name": "x", "type": 1},
        channel_id=discord_world.channel_id,
        user_id=discord_world.alice_id,
    )
    status, _, body = await raw(
        standin,
        "POST",
        f"/interactions/{late.id}/{late.token}/callback",
        {"type": 4, "data": {"content": "late"}},
        auth=False,
    )
    assert status == 404 and body["code"] == 10062
    with pytest.raises(AssertionError, match="refused"):
        await late.response()
