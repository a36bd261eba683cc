"""`/healthz` follows the Discord adapter's connection (against the stand-in)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.http.ops import add_ops_routes
from tests.discord.conftest import BotHarness

pytestmark = pytest.mark.discord


async def test_healthz_follows_the_gateway(discord_bot: BotHarness) -> None:
    app = web.Application()
    metrics = add_ops_routes(app, discord_bot.runtime, discord_bot.settings, [discord_bot.adapter])
    async with TestClient(TestServer(app)) as http:
        resp = await http.get("/healthz")
        assert (resp.status, await resp.text()) == (200, "ok\n")
        body = await (await http.get("/metrics")).text()
        assert 'commons_platform_connected{platform="discord"} 1.0' in body
        await discord_bot.adapter.client.close()
        resp = await http.get("/healthz")
        assert (resp.status, await resp.text()) == (503, "discord is not connected\n")
    metrics.uninstall()
