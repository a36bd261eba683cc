"""Fixtures for the stand-in's own tests (defined in :mod:`.fixtures` for reuse)."""

from .fixtures import (
    discord_world,
    pytest_terminal_summary,
    run_discord_client,
    standin,
    standin_hygiene,
)

__all__ = ["discord_world", "pytest_terminal_summary", "run_discord_client", "standin", "standin_hygiene"]
