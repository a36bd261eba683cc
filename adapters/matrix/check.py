"""`check-config --connect` for Matrix: the homeserver answers and accepts the credentials.

An access token (given, or saved by an earlier start in `store_path`) is checked with
`whoami`. A password is checked by logging in and out again, which leaves no device.
"""

from __future__ import annotations

import json
from pathlib import Path

from nio import AsyncClient, LoginResponse, WhoamiResponse

from bot.config import Settings, resolve_env


async def check_credentials(settings: Settings) -> str | None:
    """None when the homeserver accepts the bot's credentials, else the one-line problem."""
    ms = settings.matrix
    assert ms is not None
    homeserver, user_id = resolve_env(ms.homeserver), resolve_env(ms.user_id)
    if not homeserver or not user_id:
        return "matrix: set MATRIX_HOMESERVER and MATRIX_USER_ID"
    token = resolve_env(ms.access_token)
    saved = Path(ms.store_path) / "credentials.json"
    if not token and saved.exists():
        try:
            token = json.loads(saved.read_text()).get("access_token")
        except (OSError, ValueError):
            token = None
    client = AsyncClient(homeserver, user_id)
    try:
        if token:
            client.access_token = token
            who = await client.whoami()
            if not isinstance(who, WhoamiResponse):
                return f"matrix: {homeserver} refused the access token: {getattr(who, 'message', who)}"
            return None
        password = resolve_env(ms.password)
        if not password:
            return "matrix: set MATRIX_PASSWORD or MATRIX_ACCESS_TOKEN"
        resp = await client.login(password, device_name="commons-bot check-config")
        if not isinstance(resp, LoginResponse):
            return f"matrix: login of {user_id} failed: {getattr(resp, 'message', resp)}"
        await client.logout()
        return None
    except OSError as exc:
        return f"matrix: cannot reach {homeserver}: {exc}"
    finally:
        await client.close()
