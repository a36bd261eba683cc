"""Linking accounts in core tests: ask for a code, send it privately, confirm it."""

from __future__ import annotations

import re


def code_of(chat, member: str = "bob", platform: str = "console") -> str:  # type: ignore[no-untyped-def]
    """Ask for a link code as `member` on `platform` (its answer is private) and return it."""
    [reply] = chat.send(member, "!link", platform=platform)
    assert reply.private and reply.kind == "reply", reply
    found = re.search(r"link code is (\w+)\.", reply.text)
    assert found, reply.text
    return found.group(1)


def link(chat, owner: str, owner_platform: str, joiner: str, joiner_platform: str) -> str:  # type: ignore[no-untyped-def]
    """Join `joiner`'s account to `owner`'s member the way a person does it: the code sent
    privately from the joining account, then confirmed from the owner's. Returns the
    confirmation."""
    code = code_of(chat, owner, owner_platform)
    waiting = chat.say(joiner, f"!link {code}", platform=joiner_platform, private=True)
    assert waiting.startswith("Almost linked"), waiting
    done = chat.say(owner, "!link confirm", platform=owner_platform)
    assert done.startswith("Linked"), done
    return done


def notices(chat) -> list[str]:  # type: ignore[no-untyped-def]
    """Texts of the notices (messages to one member) queued since the last look."""
    return [o.text for o in chat.outbox() if o.kind == "notice"]
