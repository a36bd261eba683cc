"""The command reference (`docs/commands.md`), made from the answers the bot itself gives
to `!help` and `!help <command>`, so the two can never disagree (a test checks the file
is current: `commons-bot docs --check`)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from bot.chat.commands import COMMANDS

HEADER = """# Commands

This reference is generated from the bot's own help (`commons-bot docs`); do not edit it
by hand. In a chat, `!help` gives the list below and `!help <command>` one entry. On
Discord every command is also a slash command (`/need claim`, `/proposal vote`, …).

Ids: `T` is a need, `P` a proposal, `F` a funding call, `B` a pitch. Options are
`key:value` words (`reward:50EUR`, `closes:2d`); skills are `#words`.
"""


def command_reference(prefix: str = "!") -> str:
    """The Markdown of the reference, asked of a throwaway core on a temporary SQLite file."""
    from bot.clock import ManualClock
    from bot.config import parse_settings
    from bot.ports import CommunityId, InboundMessage, Platform
    from bot.service.core import Core
    from bot.store.db import make_engine, upgrade

    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{Path(d) / 'docs.sqlite3'}"
        settings = parse_settings({"database_url": url, "prefix": prefix,
                                   "communities": [{"id": "docs", "console": {"members": {"reader": []}}}]})
        engine = make_engine(url)
        try:
            upgrade(engine)
            core = Core(settings, engine, ManualClock())

            def ask(text: str) -> str:
                msg = InboundMessage(community=CommunityId("docs"), platform=Platform("console"),
                                     space="docs", sender="reader", sender_name="reader", text=text)
                return core.handle(msg)[0].text

            overview = ask(f"{prefix}help")
            sections = []
            listed = re.findall(r"- `" + re.escape(prefix) + r"([a-z]+)", overview)
            for name in listed + sorted(set(COMMANDS) - set(listed)):
                sections.append(f"### {prefix}{name}\n\n{ask(f'{prefix}help {name}')}\n")
        finally:
            engine.dispose()
    lines = []
    for line in overview.splitlines():
        if line.startswith("**") and line.endswith("**"):
            # The overview's group titles become headings; its lists stay as they are.
            lines += ["", f"### {line.strip('*')}", ""]
        elif not line.startswith("Ids:"):
            lines.append(line)
    return (HEADER + "\n## Overview\n" + "\n".join(lines) + "\n\n## Every command\n\n"
            + "\n".join(sections))
