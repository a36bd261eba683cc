"""Pytest fixtures for tests that run discord.py against the Discord stand-in.

``conftest.py`` of this package re-exports them. Another test package reuses them
by importing them into its own ``conftest.py``, e.g. ``from
tests.discord_standin.fixtures import run_discord_client, standin, standin_hygiene``
(``python -m pytest`` from the repository root puts the root on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import pytest

from . import DiscordStandIn, point_discord_py_at, spec

if TYPE_CHECKING:
    import discord

__all__ = [
    "DEFAULT_WORLD",
    "DiscordClientRunner",
    "DiscordWorld",
    "discord_world",
    "run_discord_client",
    "seed_default_world",
    "standin",
    "standin_hygiene",
]

ClientT = TypeVar("ClientT", bound="discord.Client")

# Waiting methods take ``timeout=`` (ruff's ASYNC109 is silenced on them): tests read
# best as ``await handle.response(timeout=5)``, with the bound right at the wait.


@dataclass(frozen=True)
class DiscordWorld:
    """Fixed ids of the default world, so tests and bot code can use them as constants."""

    guild_id: int = 1_100_000_000_000_000_001
    channel_id: int = 1_100_000_000_000_000_010  # "general"
    other_channel_id: int = 1_100_000_000_000_000_011  # "needs"
    maintainer_role_id: int = 1_100_000_000_000_000_020
    contributor_role_id: int = 1_100_000_000_000_000_021
    owner_id: int = 1_100_000_000_000_000_030
    alice_id: int = 1_100_000_000_000_000_031  # contributor
    bob_id: int = 1_100_000_000_000_000_032  # maintainer and contributor
    carol_id: int = 1_100_000_000_000_000_033  # no role

    @property
    def everyone_role_id(self) -> int:
        """The ``@everyone`` role shares the guild's id."""
        return self.guild_id


DEFAULT_WORLD = DiscordWorld()


def seed_default_world(standin: DiscordStandIn, world: DiscordWorld = DEFAULT_WORLD) -> DiscordWorld:
    """Create the default guild: two text channels, two roles, an owner and three members.

    Args:
        standin: A stand-in (started or not).
        world: The ids to use.

    Returns:
        ``world``.
    """
    standin.add_guild("Commons", guild_id=world.guild_id, owner_id=world.owner_id)
    standin.add_channel(world.guild_id, "general", channel_id=world.channel_id)
    standin.add_channel(world.guild_id, "needs", channel_id=world.other_channel_id)
    standin.add_role(world.guild_id, "maintainer", role_id=world.maintainer_role_id)
    standin.add_role(world.guild_id, "contributor", role_id=world.contributor_role_id, mentionable=True)
    standin.add_member(world.guild_id, world.owner_id, "olivia")
    standin.add_member(world.guild_id, world.alice_id, "alice", [world.contributor_role_id])
    standin.add_member(
        world.guild_id, world.bob_id, "bob", [world.maintainer_role_id, world.contributor_role_id]
    )
    standin.add_member(world.guild_id, world.carol_id, "carol")
    return world


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    """A started stand-in seeded with :data:`DEFAULT_WORLD`, with discord.py pointed at it."""
    server = DiscordStandIn()
    seed_default_world(server)
    await server.start()
    pointer = point_discord_py_at(server)
    try:
        yield server
    finally:
        pointer.restore()
        await server.stop()


@pytest.fixture
def discord_world(standin: DiscordStandIn) -> DiscordWorld:
    """The ids of the world the ``standin`` fixture was seeded with."""
    return DEFAULT_WORLD


class DiscordClientRunner:
    """Starts discord.py clients against the stand-in and closes them at teardown.

    Call it to start a client: ``client = await run_discord_client(MyClient(...))``.
    """

    def __init__(self, standin: DiscordStandIn) -> None:
        self._standin = standin
        self._running: dict[int, tuple[discord.Client, asyncio.Task[None]]] = {}

    async def __call__(self, client: ClientT, *, timeout: float = 10.0) -> ClientT:  # noqa: ASYNC109
        """Log ``client`` in, connect it and wait until discord.py fires ``on_ready``.

        ``login`` runs the start-up REST calls and ``setup_hook`` (where command
        syncs usually happen); ``connect`` runs the gateway loop in a task.

        Raises:
            TimeoutError: The client did not get ready within ``timeout`` seconds.
        """
        await asyncio.wait_for(client.login(self._standin.token), timeout)
        task = asyncio.create_task(client.connect(reconnect=True), name=f"discord-client-{id(client)}")
        self._running[id(client)] = (client, task)
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({ready, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if task in done:
                task.result()  # re-raise why the gateway loop ended
            raise TimeoutError(f"discord.py client not ready within {timeout}s\n{self._standin.describe()}")
        return client

    async def stop(self, client: discord.Client, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Close ``client`` (a clean 1000 close, which ends its gateway session)."""
        entry = self._running.pop(id(client), None)
        await asyncio.wait_for(client.close(), timeout)
        if entry is not None:
            await asyncio.wait_for(entry[1], timeout)

    async def stop_all(self) -> None:
        """Close every client still running."""
        for client, _ in list(self._running.values()):
            with contextlib.suppress(Exception):
                await self.stop(client)


@pytest.fixture
async def run_discord_client(standin: DiscordStandIn) -> AsyncIterator[DiscordClientRunner]:
    """A :class:`DiscordClientRunner`; every client it started is closed at teardown."""
    runner = DiscordClientRunner(standin)
    try:
        yield runner
    finally:
        await runner.stop_all()


@pytest.fixture(autouse=True)
def standin_hygiene(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test using ``standin``: no unknown route was called, no stand-in bug hit."""
    yield
    server = request.node.funcargs.get("standin")
    if isinstance(server, DiscordStandIn):
        assert server.unknown_routes == [], (
            f"discord.py called routes the stand-in does not know: {server.unknown_routes}"
        )
        assert server.internal_errors == [], f"stand-in internal errors: {server.internal_errors}"
        # Every body the bot sent is one Discord's own specification accepts…
        assert server.spec_refused == [], f"refused by Discord's OpenAPI schema: {server.spec_refused}"
        # …and every answer the stand-in gave is one Discord could give.
        assert server.spec_response_errors == [], (
            f"stand-in answers outside Discord's OpenAPI schema: {server.spec_response_errors}"
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many request bodies were checked against Discord's specification."""
    line = spec.summary_line()
    if line is not None:
        terminalreporter.write_line(line)
