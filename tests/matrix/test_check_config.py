"""`check-config --connect` against the test Synapse: the bot's credentials are tried."""

from __future__ import annotations

import pytest

from adapters.matrix.check import check_credentials
from bot.config import parse_settings
from tests.matrix.synapse import SynapseServer

pytestmark = pytest.mark.synapse


def settings(tmp_path):  # type: ignore[no-untyped-def]
    return parse_settings({"matrix": {"store_path": str(tmp_path / "store")},
                           "communities": [{"id": "demo", "matrix": {"rooms": ["!r:localhost"]}}]})


async def test_password_and_token_are_checked(synapse: SynapseServer, tmp_path, monkeypatch) -> None:
    user = await synapse.register("checkbot", "right-password")
    monkeypatch.setenv("MATRIX_HOMESERVER", synapse.base_url)
    monkeypatch.setenv("MATRIX_USER_ID", user.user_id)
    monkeypatch.delenv("MATRIX_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("MATRIX_PASSWORD", "right-password")
    assert await check_credentials(settings(tmp_path)) is None
    monkeypatch.setenv("MATRIX_PASSWORD", "wrong-password")
    problem = await check_credentials(settings(tmp_path))
    assert problem is not None and problem.startswith(f"matrix: login of {user.user_id} failed: ")
    monkeypatch.setenv("MATRIX_ACCESS_TOKEN", user.access_token)
    assert await check_credentials(settings(tmp_path)) is None
    monkeypatch.setenv("MATRIX_ACCESS_TOKEN", "syt_not_a_token")
    problem = await check_credentials(settings(tmp_path))
    assert problem is not None and problem.startswith(f"matrix: {synapse.base_url} refused the access token")
