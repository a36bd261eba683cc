"""Entry point of the console adapter (`commons_bot.adapters: console`)."""

from adapters.console.adapter import ConsoleAdapter

plugin = ConsoleAdapter
