"""Fixtures: the commons bot's Discord adapter, over a real core, against the stand-in.

``discord_bot`` starts the adapter the way ``commons-bot run`` does (a `Runtime` over a
`Core`, `adapter.start()`, `runtime.attach(adapter)`) with discord.py pointed at the
stand-in; `BotHarness.restart()` stops it and starts a new process-like instance over
the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.discord.adapter import DiscordAdapter
from bot.clock import ManualClock
from bot.config import Settings, parse_settings
from bot.runtime import Runtime
from bot.service.core import Core
from bot.store.db import make_engine, upgrade
from tests.conftest import START, sqlite_url
from tests.discord_standin import DiscordStandIn, InteractionHandle, RestCall, point_discord_py_at
from tests.discord_standin.fixtures import (
    DEFAULT_WORLD,
    DiscordWorld,
    discord_world,
    pytest_terminal_summary,
    run_discord_client,
    seed_default_world,
    standin_hygiene,
)

__all__ = ["discord_bot", "discord_world", "pytest_terminal_summary", "run_discord_client", "standin",
           "standin_hygiene"]

WORLD = DEFAULT_WORLD
CHANNEL = WORLD.channel_id
POST = "POST /channels/{channel_id}/messages"
PATCH = "PATCH /channels/{channel_id}/messages/{message_id}"


def discord_settings(db_url: str, *, text_commands: bool = False, **extra: Any) -> Settings:
    """A community on the stand-in's default guild: `maintainer` role → maintainer,
    the guild owner (olivia) is the foundation by the config's member list."""
    cfg: dict[str, Any] = {
        "prefix": "!",
        "database_url": db_url,
        "discord": {"token": "${DISCORD_TOKEN}", "guild_ready_timeout": 0.05},
        "communities": [{
            "id": "demo",
            "name": "Demo commons",
            "roles": {"maintainer": [], "foundation": [f"discord:{WORLD.owner_id}"]},
            "discord": {"guild": WORLD.guild_id, "channels": [WORLD.channel_id],
                        "roles": {"maintainer": ["maintainer"]},
                        "text_commands": text_commands},
        }],
        **extra,
    }
    return parse_settings(cfg, "discord-test-config")


class BotHarness:
    """The adapter under test and what tests do to it through the stand-in.

    Attributes:
        standin: the Discord stand-in.
        settings: the configuration.
        clock: the core's manual clock (kept across restarts).
        core: the current core.
        runtime: the current runtime.
        adapter: the current adapter.
    """

    def __init__(self, standin: DiscordStandIn, settings: Settings) -> None:
        self.standin = standin
        self.settings = settings
        self.clock = ManualClock(START)
        self.engine = make_engine(settings.database_url)
        upgrade(self.engine)
        self.core: Core
        self.runtime: Runtime
        self.adapter: DiscordAdapter

    async def start(self) -> None:
        """Start a fresh core, runtime and adapter (as a new process would)."""
        self.core = Core(self.settings, self.engine, self.clock)
        self.runtime = Runtime(self.core)
        self.adapter = DiscordAdapter(self.runtime, self.settings)
        await self.adapter.start()
        self.runtime.attach(self.adapter)

    async def stop(self) -> None:
        """Stop the adapter and the runtime."""
        await self.adapter.stop()
        await self.runtime.close()

    async def restart(self) -> None:
        """Stop everything and start again over the same database."""
        await self.stop()
        await self.start()

    # -- acting as members

    async def command(self, user: int, name: str, options: dict[str, Any] | None = None,
                      channel: int = CHANNEL) -> tuple[InteractionHandle, RestCall]:
        """Run a slash command; returns the handle and its first callback."""
        handle = await self.standin.send_command(name, options or {}, channel_id=channel, user_id=user)
        return handle, await handle.response(timeout=10)

    async def say(self, user: int, name: str, options: dict[str, Any] | None = None) -> str:
        """Run a slash command and return the text of its answer."""
        _, reply = await self.command(user, name, options)
        return reply.data.get("content", "")

    async def press(self, message_id: int, key: str, user: int) -> tuple[InteractionHandle, RestCall]:
        """Press the button `key` (claim, approve, agree…) on a card."""
        cid = self.button(message_id, key)
        handle = await self.standin.send_component(message_id, cid, user_id=user)
        return handle, await handle.response(timeout=10)

    async def press_and_fill(self, message_id: int, key: str, user: int,
                             answer: str) -> tuple[InteractionHandle, RestCall]:
        """Press a button that opens a modal, fill it in, and send it."""
        opened, modal = await self.press(message_id, key, user)
        assert modal.json["type"] == 9, modal.json
        handle = await self.standin.send_modal_submit(opened, {"answer": answer})
        return handle, await handle.response(timeout=10)

    def button(self, message_id: int, key: str) -> str:
        """The custom id of the button `key` on a message."""
        message = self.standin.messages[message_id]
        for row in message["components"]:
            for b in row["components"]:
                if b.get("custom_id", "").startswith(f"cb:{key}:"):
                    return b["custom_id"]
        raise AssertionError(f"no {key} button on {message_id}: {message['components']}")

    async def card(self, ref: str, channel: int = CHANNEL) -> dict[str, Any]:
        """Wait for the card of `ref` to be posted in `channel` and return the message."""

        def find() -> dict[str, Any] | None:
            for m in self.standin.channel_messages(channel):
                if any(e.get("title", "").startswith(f"{ref} ·") for e in m["embeds"]):
                    return m
            return None

        return await self.standin.wait_until(find, timeout=10, description=f"card of {ref}")

    async def posted(self, text: str, channel: int = CHANNEL, since: int = 0) -> RestCall:
        """Wait for a message containing `text` to be posted in `channel`."""
        return await self.standin.wait_for_call(
            POST, since=since, timeout=10,
            predicate=lambda c: c.path == f"/channels/{channel}/messages"
            and text in (c.json or {}).get("content", ""))

    async def edited(self, message_id: int, since: int,
                     check: Any = None) -> RestCall:
        """Wait for an edit of message `message_id` after mark `since`."""
        return await self.standin.wait_for_call(
            PATCH, since=since, timeout=10,
            predicate=lambda c: c.path.endswith(f"/messages/{message_id}")
            and (check is None or check(c.json)))


def fields(embed: dict[str, Any]) -> dict[str, str]:
    """An embed's fields by name."""
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


# The permissions docs/discord.md (Set up) tells admins to grant the bot (View Channels, Send Messages,
# Embed Links, Read Message History): the adapter is tested holding exactly these.
README_PERMISSIONS = 84992


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    """The stand-in of `tests.discord_standin.fixtures`, the bot holding only README_PERMISSIONS."""
    server = DiscordStandIn(bot_permissions=README_PERMISSIONS)
    seed_default_world(server)
    await server.start()
    pointer = point_discord_py_at(server)
    try:
        yield server
    finally:
        pointer.restore()
        await server.stop()


@pytest.fixture
def bot_settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    """The settings `discord_bot` runs with (override the fixture to change them)."""
    return discord_settings(sqlite_url(tmp_path))


@pytest.fixture
async def discord_bot(standin: DiscordStandIn, bot_settings: Settings,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotHarness]:
    """The commons bot's Discord adapter running against the stand-in."""
    monkeypatch.setenv("DISCORD_TOKEN", standin.token)
    bot = BotHarness(standin, bot_settings)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
        bot.engine.dispose()


_ = (DiscordWorld, discord_world, run_discord_client, standin_hygiene)
