"""The Discord adapter: slash commands, cards with buttons and modals (discord.py)."""
