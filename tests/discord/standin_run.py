"""``commons-bot run`` with discord.py pointed at a Discord stand-in, for tests.

    python -m tests.discord.standin_run <api_base> <gateway_url> --config FILE

Everything after the two URLs goes to ``commons-bot`` unchanged; only the two class
attributes that address Discord are set first (no discord.py file is touched).
"""

from __future__ import annotations

import sys

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.__main__ import main

if __name__ == "__main__":
    Route.BASE = sys.argv[1]
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2])
    raise SystemExit(main(["run", *sys.argv[3:]]))
