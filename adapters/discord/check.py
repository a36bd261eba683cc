"""`check-config --connect` for Discord: the token logs in (REST only, no gateway)."""

from __future__ import annotations

import discord

from bot.config import Settings, resolve_env


async def check_credentials(settings: Settings) -> str | None:
    """None when Discord accepts the token, else the one-line problem."""
    assert settings.discord is not None
    token = resolve_env(settings.discord.token)
    if not token:
        return f"discord.token: {settings.discord.token} is not set"
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(token)
    except discord.LoginFailure:
        return ("discord.token: Discord refused the token — reset it in the Developer Portal "
                "(Bot → Reset Token)")
    except (discord.HTTPException, OSError) as exc:
        return f"discord: cannot reach Discord: {exc}"
    finally:
        await client.close()
    return None
