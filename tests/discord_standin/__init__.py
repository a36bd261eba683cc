"""A local stand-in for Discord's gateway and REST API that unmodified discord.py runs against.

See :mod:`.server` for the stand-in and :mod:`.fixtures` for pytest fixtures.
"""

from __future__ import annotations

from types import TracebackType

from .server import (
    Delivery,
    DiscordStandIn,
    GatewayFrame,
    GatewaySession,
    InteractionHandle,
    RestCall,
    ResumeRecord,
    UploadedFile,
)

__all__ = [
    "Delivery",
    "DiscordPyPointer",
    "DiscordStandIn",
    "GatewayFrame",
    "GatewaySession",
    "InteractionHandle",
    "RestCall",
    "ResumeRecord",
    "UploadedFile",
    "point_discord_py_at",
]


class DiscordPyPointer:
    """Undo handle returned by :func:`point_discord_py_at`; also a context manager."""

    def __init__(self, base: str, gateway: object) -> None:
        self._base = base
        self._gateway = gateway
        self._restored = False

    def restore(self) -> None:
        """Point discord.py back where it pointed before (idempotent)."""
        if self._restored:
            return
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        Route.BASE = self._base
        DiscordWebSocket.DEFAULT_GATEWAY = self._gateway  # type: ignore[assignment]
        self._restored = True

    def __enter__(self) -> DiscordPyPointer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()


def point_discord_py_at(standin: DiscordStandIn) -> DiscordPyPointer:
    """Make every discord.py client in this process talk to ``standin``.

    discord.py builds REST URLs from the class attribute ``Route.BASE`` when a
    ``Route`` is created, and connects the gateway to
    ``DiscordWebSocket.DEFAULT_GATEWAY`` (``Client.connect`` never asks
    ``/gateway/bot``); it resumes at the ``resume_gateway_url`` from READY. So two
    class attributes are enough, and no discord.py file is touched.

    Args:
        standin: A started stand-in.

    Returns:
        A pointer whose ``restore()`` (or ``with`` exit) undoes the change.
    """
    import yarl
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    pointer = DiscordPyPointer(Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    Route.BASE = standin.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)
    return pointer
