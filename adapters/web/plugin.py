"""Entry point of the public board (`commons_bot.adapters: web`)."""

from adapters.web.server import WebBoard

plugin = WebBoard
