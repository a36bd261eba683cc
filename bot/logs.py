"""Logging set-up: text lines for a terminal, or one JSON object per line for a collector.

`COMMAND` carries the command being handled (set by `Core.handle`), so every line logged
while it runs names its community, platform and command id. JSON lines never carry a
secret (the values of the secret variables are masked) nor the text of a command sent in
a direct message.
"""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from bot.ports import InboundMessage

COMMAND: ContextVar[InboundMessage | None] = ContextVar("commons_command", default=None)
# Environment variables whose values must never reach a log line.
SECRET_ENV = ("DISCORD_TOKEN", "MATRIX_PASSWORD", "MATRIX_ACCESS_TOKEN", "COMMONS_DATABASE_URL")
PRIVATE = "<private message>"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, community, platform,
    command_id (and exception, when there is one)."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        if secrets is None:
            secrets = [os.environ[k] for k in SECRET_ENV if os.environ.get(k)]
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)

    def _clean(self, text: str, msg: InboundMessage | None) -> str:
        if msg is not None and msg.direct and msg.text:
            for private in (repr(msg.text[:200]), msg.text[:200], msg.text):
                text = text.replace(private, PRIVATE)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        msg = COMMAND.get()
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._clean(record.getMessage(), msg),
            "community": msg.community if msg else None,
            "platform": msg.platform if msg else None,
            "command_id": msg.message_id if msg else None,
        }
        if record.exc_info:
            out["exception"] = self._clean(self.formatException(record.exc_info), msg)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr (stdout is the console's chat) as text lines or JSON lines."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level, logging.INFO))
    # Alembic announces every migration at INFO; that is noise in a terminal chat.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler logs every job run at INFO; our scheduler logs what a deadline did instead.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # aiohttp logs every request at INFO: a Prometheus scrape every few seconds is noise.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
