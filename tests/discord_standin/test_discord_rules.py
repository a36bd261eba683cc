"""Documented Discord behaviour the stand-in follows (issue 13), against unmodified discord.py.

Deferred follow-ups edit the loading message; the 3-second window runs from the
interaction's creation; interaction tokens expire after 15 minutes.
"""

from __future__ import annotations

import asyncio

import aiohttp
import discord
import pytest
from discord import app_commands

from . import DiscordStandIn
from .fixtures import DEFAULT_WORLD, DiscordClientRunner

pytestmark = [pytest.mark.discord, pytest.mark.timeout(30)]

WORLD = DEFAULT_WORLD
GUILD = discord.Object(id=WORLD.guild_id)
EPHEMERAL, LOADING = 64, 128


class RulesBot(discord.Client):
    """/defer: a public defer, then (when the test says so) two follow-ups; /ping."""

    def __init__(self, **options: float) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05, **options)
        self.tree = app_commands.CommandTree(self)
        self.go = asyncio.Event()
        self.failures: list[discord.HTTPException] = []

        @self.tree.command(name="defer", description="Defers publicly, then follows up", guild=GUILD)
        async def defer(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await self.go.wait()
            try:
                await interaction.followup.send("the answer", ephemeral=True)
                await interaction.followup.send("one more thing", ephemeral=True)
            except discord.HTTPException as exc:
                self.failures.append(exc)

        @self.tree.command(name="ping", description="Answers pong", guild=GUILD)
        async def ping(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_message("pong")
            except discord.HTTPException as exc:
                self.failures.append(exc)

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=GUILD)


async def test_a_followup_after_a_defer_edits_the_loading_message(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    bot = await run_discord_client(RulesBot())
    handle = await standin.send_command("defer", channel_id=WORLD.channel_id, user_id=WORLD.alice_id)
    assert (await handle.response()).json == {"type": 5}
    bot.go.set()
    first, second = await handle.followup(0), await handle.followup(1)
    # The first follow-up became the loading message: public (its ephemeral flag ignored).
    original = handle.original_message
    assert original is not None and original["content"] == "the answer"
    assert original["flags"] == 0 and first.response["id"] == original["id"]
    # The next one is a new message, private as asked.
    assert second.response["id"] != original["id"] and second.response["flags"] == EPHEMERAL
    public = [m["content"] for m in standin.channel_messages(WORLD.channel_id)]
    assert public == ["the answer"]


async def test_the_three_seconds_run_from_the_interactions_creation(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    await run_discord_client(RulesBot())
    standin.hold_connections()
    await standin.disconnect_all(code=4000)
    handle = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.bob_id)
    standin.age(handle, 3.5)  # an outage longer than Discord's window
    standin.release_connections()
    refused = await handle.response(timeout=10, require_ok=False)
    assert refused.status == 404 and refused.response["code"] == 10062
    standin.errors.clear()


async def test_interaction_tokens_expire_after_fifteen_minutes(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    bot = await run_discord_client(RulesBot())
    handle = await standin.send_command("defer", channel_id=WORLD.channel_id, user_id=WORLD.alice_id)
    await handle.response()
    standin.age(handle, 15 * 60 + 1)
    bot.go.set()
    late = await handle.followup(0, require_ok=False)
    assert late.status == 401 and late.response["code"] == 50027
    standin.errors.clear()


async def test_a_command_over_eight_thousand_characters_is_refused(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    bot = await run_discord_client(RulesBot())
    group = app_commands.Group(name="big", description="d" * 100)
    for i in range(25):
        @app_commands.command(name=f"c{i}", description="d" * 100)
        @app_commands.describe(text="d" * 100, more="d" * 100, most="d" * 100)
        async def sub(interaction: discord.Interaction, text: str, more: str, most: str) -> None:
            await interaction.response.send_message(text)  # pragma: no cover

        group.add_command(sub)
    bot.tree.add_command(group, guild=GUILD)
    with pytest.raises(discord.HTTPException) as refused:
        await bot.tree.sync(guild=GUILD)
    assert refused.value.status == 400 and "maximum size" in str(refused.value)
    standin.errors.clear()


async def test_discord_py_asks_for_zlib_stream_and_gets_it(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    await run_discord_client(RulesBot())
    conn = standin.connections[-1]
    assert conn.query.get("compress") == "zlib-stream" and conn.zlib is not None
    # Everything still flows: a command through the compressed socket is answered.
    handle = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.bob_id)
    assert (await handle.response()).data["content"] == "pong"


async def test_withheld_heartbeat_acks_make_the_client_reconnect_and_resume(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    standin.heartbeat_interval_ms = 100
    await run_discord_client(RulesBot(heartbeat_timeout=0.5))
    session = standin.sessions[-1]
    standin.ack_heartbeats = False  # a zombie connection, as far as the client can tell
    await standin.wait_until(lambda: bool(standin.resumes), timeout=10, description="a RESUME")
    standin.ack_heartbeats = True
    assert standin.resumes[-1].ok and standin.resumes[-1].session_id == session.id
    assert standin.connections[0].close_code == 4000  # closed by the client, resumable
    handle = await standin.send_command("ping", channel_id=WORLD.channel_id, user_id=WORLD.bob_id)
    assert (await handle.response(timeout=10)).data["content"] == "pong"


async def test_rate_limits_answer_429_with_retry_after_per_bucket_and_globally(
    standin: DiscordStandIn, run_discord_client: DiscordClientRunner
) -> None:
    route = "POST /channels/{channel_id}/messages"
    standin.rate_limits.routes[route] = (2, 5.0)
    auth = {"Authorization": f"Bot {standin.token}"}
    async with aiohttp.ClientSession() as http:
        async def post(channel: int) -> aiohttp.ClientResponse:
            async with http.post(f"{standin.api_base}/channels/{channel}/messages", headers=auth,
                                 json={"content": "hi"}) as r:
                await r.read()
                return r

        first, second, third = [await post(WORLD.channel_id) for _ in range(3)]
        elsewhere = await post(WORLD.other_channel_id)
    assert [first.status, second.status, third.status, elsewhere.status] == [200, 200, 429, 200]
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    assert second.headers["X-RateLimit-Remaining"] == "0" and "X-RateLimit-Bucket" in second.headers
    assert float(third.headers["Retry-After"]) > 0 and third.headers["X-RateLimit-Scope"] == "user"
    assert standin.errors[-1].response["retry_after"] > 0 and standin.errors[-1].response["global"] is False
    assert elsewhere.headers["X-RateLimit-Remaining"] == "1"  # another channel, another bucket
    standin.errors.clear()

    # discord.py paces itself by those headers and loses nothing.
    standin.rate_limits.routes[route] = (2, 0.3)
    standin.rate_limits.reset()
    bot = await run_discord_client(RulesBot())
    needs = bot.get_channel(WORLD.other_channel_id)
    assert isinstance(needs, discord.TextChannel)
    await asyncio.gather(*(needs.send(f"m{i}") for i in range(5)))
    assert len(standin.channel_messages(WORLD.other_channel_id)) == 6

    # The global limit: 429 with global=true, which discord.py waits out too.
    standin.rate_limits.routes.clear()
    standin.rate_limits.global_limit = 3
    await asyncio.gather(*(needs.send(f"g{i}") for i in range(6)))
    assert len(standin.channel_messages(WORLD.other_channel_id)) == 12
    assert any(is_global for _, _, is_global in standin.rate_limits.hits)
    assert all(c.response["global"] is True for c in standin.errors if c.status == 429)
    standin.errors.clear()


def test_a_missing_specification_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from . import spec

    monkeypatch.setattr(spec, "SPEC_FILE", tmp_path / "openapi.json")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(spec.SpecMissing, match="specification is missing"):
        spec.load.__wrapped__()
    monkeypatch.setenv("CI", "false")
    assert spec.load.__wrapped__() is None  # locally: the stand-in runs unchecked
