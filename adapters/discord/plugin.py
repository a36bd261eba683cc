"""Entry point `commons_bot.adapters: discord` (see pyproject.toml)."""

from adapters.discord.adapter import DiscordAdapter

plugin = DiscordAdapter
