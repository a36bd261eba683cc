"""One bot process of `bench/discord_latency.py`, pointed at a local Discord stand-in.

    discord_child.py bare <api_base> <gateway_url> <guild_id>
    discord_child.py bot <api_base> <gateway_url> <config.yaml>

`bare` is a plain discord.py bot answering `/ping` with a fixed text; `bot` is
`commons-bot run --config <config.yaml>` itself. Both get the token from DISCORD_TOKEN.
Pointing discord.py at the stand-in takes two class attributes, set before anything
connects; no discord.py file is touched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route


def point_at(api_base: str, gateway: str) -> None:
    """Make discord.py talk to the stand-in."""
    Route.BASE = api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


class BareBot(discord.Client):
    """The baseline: discord.py and one slash command, nothing else."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(intents=discord.Intents(guilds=True),
                         guild_ready_timeout=0.05)
        self.guild = discord.Object(id=guild_id)
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="ping", description="Answers pong", guild=self.guild)
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=self.guild)


def main() -> int:
    """Run the bare bot or the commons bot until killed."""
    kind, api_base, gateway, arg = sys.argv[1:5]
    point_at(api_base, gateway)
    if kind == "bare":
        BareBot(int(arg)).run(os.environ["DISCORD_TOKEN"], log_handler=None)
        return 0
    from bot.__main__ import main as commons_bot

    return commons_bot(["run", "--config", arg])


if __name__ == "__main__":
    raise SystemExit(main())
