"""Credentials, login and the bot's one device.

The bot keeps one device for good: its id and access token are stored under
``store_path`` with nio's crypto store, and every start calls ``restore_login``, so the
device's encryption keys stay valid and peers never see a new device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, LoginResponse, WhoamiResponse
from nio.crypto import ENCRYPTION_ENABLED
from nio.store import DefaultStore

from adapters.matrix.state import SYNC_TIMEOUT_MS, checked
from bot.config import ConfigError, MatrixSettings, resolve_env


class _CryptoStore(DefaultStore):
    """nio's default crypto store, without a database round trip on every sync.

    After each sync nio saves the rooms that sync found encrypted, and the store looks up
    the account row (through peewee) before it looks at the set, which is almost always
    empty. Measured with py-spy on bench/matrix_latency.py, that lookup was the largest
    part of the bot's CPU per sync. An empty set now costs nothing; a room that became
    encrypted is saved as before.
    """

    def save_encrypted_rooms(self, rooms: Any) -> None:
        if rooms:
            super().save_encrypted_rooms(rooms)


async def login(ms: MatrixSettings) -> AsyncClient:
    """Log in as configured, restoring the stored device; start its encryption.

    The device id and access token are kept under ``ms.store_path`` (mode 0600, never in
    the database or logs) beside nio's crypto store, and reused on every start.

    Raises:
        ConfigError: the homeserver, user or secret is not set, or encryption is on
            without its backend.
        SystemExit: login fails.
    """
    homeserver = resolve_env(ms.homeserver)
    user_id = resolve_env(ms.user_id)
    password = resolve_env(ms.password)
    token = resolve_env(ms.access_token)
    if not homeserver or not user_id:
        raise ConfigError("matrix: set MATRIX_HOMESERVER and MATRIX_USER_ID (matrix.homeserver "
                         "and matrix.user_id in the config name the variables)")
    if not password and not token:
        raise ConfigError("matrix: set MATRIX_PASSWORD or MATRIX_ACCESS_TOKEN")
    if ms.encryption and not ENCRYPTION_ENABLED:
        raise ConfigError("matrix: matrix.encryption is on but matrix-nio has no crypto backend: "
                         "pip install 'matrix-nio[e2e]'")
    store = Path(ms.store_path)
    await asyncio.to_thread(_make_private_dir, store)
    config = AsyncClientConfig(
        encryption_enabled=ms.encryption,
        store=_CryptoStore,
        # The sync token lives in the database, stored only after its batch is handled.
        store_sync_tokens=False,
        # 429s are waited out for as long as the homeserver asks (nio's default).
        max_limit_exceeded=None,
        # A homeserver restart is survived by retrying; nio's default back-off grows to
        # 60 s between attempts, far too long to come back after a short outage.
        max_timeout_retry_wait_time=ms.retry_max_seconds,
        request_timeout=SYNC_TIMEOUT_MS / 1000 + 15,
    )
    client = AsyncClient(homeserver, user_id, store_path=str(store) if ms.encryption else "",
                         config=config)
    creds_file = store / "credentials.json"
    saved = await asyncio.to_thread(_read_json, creds_file)
    try:
        if token:
            client.access_token = token
            who = await client.whoami()
            if not isinstance(who, WhoamiResponse) or not who.device_id:
                raise SystemExit(f"matrix: MATRIX_ACCESS_TOKEN was refused for {user_id}: {who}")
            client.restore_login(who.user_id, who.device_id, token)
        elif (saved and saved.get("user_id") == user_id and saved.get("homeserver") == homeserver
              and await _token_works(client, saved["access_token"])):
            client.restore_login(user_id, saved["device_id"], saved["access_token"])
        else:
            device_id = saved.get("device_id") if saved and saved.get("user_id") == user_id else None
            if device_id:
                # Logging in with the stored device id keeps the device (and its keys).
                client.device_id = device_id
            resp = await client.login(password, device_name=ms.device_name)
            if not isinstance(resp, LoginResponse):
                raise SystemExit(f"matrix: login of {user_id} failed: {getattr(resp, 'message', resp)}")
            await asyncio.to_thread(_write_private_json, creds_file, {
                "homeserver": homeserver, "user_id": resp.user_id, "device_id": resp.device_id,
                "access_token": resp.access_token})
    except BaseException:
        await client.close()
        raise
    if ms.encryption:
        if client.olm is None:
            raise SystemExit("matrix: end-to-end encryption did not start (no crypto store)")
        if client.should_upload_keys:
            await checked(client.keys_upload(), "upload device keys")
    return client

async def _token_works(client: AsyncClient, token: str) -> bool:
    client.access_token = token
    who = await client.whoami()
    client.access_token = ""
    return isinstance(who, WhoamiResponse)


def _make_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.chmod(0o700)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    # Written to a temporary file with mode 0600 and renamed: the token is never readable by
    # others, and a crash mid-write never leaves half a file.
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)
