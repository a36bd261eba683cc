"""`/healthz` follows the Matrix adapter's sync with the test Synapse."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.http.ops import add_ops_routes
from tests.matrix.botkit import bot_config, register_bot, start_bot
from tests.matrix.synapse import SynapseServer

pytestmark = pytest.mark.synapse


async def test_healthz_follows_the_sync(synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    account = await register_bot(synapse)
    config = bot_config(account, f"sqlite:///{tmp_path / 'bot.sqlite3'}", tmp_path / "store", [])
    bot = await start_bot(account, config, monkeypatch=monkeypatch)
    app = web.Application()
    metrics = add_ops_routes(app, bot.runtime, bot.settings, [bot.adapter])
    try:
        async with TestClient(TestServer(app)) as http:
            resp = await http.get("/healthz")
            assert (resp.status, await resp.text()) == (200, "ok\n")
            await bot.adapter.stop()
            resp = await http.get("/healthz")
            assert (resp.status, await resp.text()) == (503, "matrix is not connected\n")
    finally:
        metrics.uninstall()
        await bot.runtime.close()
        bot.core.engine.dispose()
