"""`--log-format json`: one object per line naming community, platform and command id,
never a secret nor the text of a command sent in a direct message."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import JsonFormatter
from bot.ports import CommunityId, InboundMessage, Platform
from bot.service import core as core_module
from tests.conftest import build


def capture(secrets: list[str]) -> tuple[io.StringIO, logging.Handler]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(secrets))
    logging.getLogger().addHandler(handler)
    return out, handler


def test_a_failing_command_logs_one_json_object_without_private_text(db_url, monkeypatch):
    core, _clock = build(db_url)
    token = "MTIzNDU2Nzg5.secret-token-value"

    def broken(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"the platform said no (token {token})")

    monkeypatch.setitem(core_module.HANDLERS, "watch", broken)
    out, handler = capture([token])
    try:
        msg = InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"), space="!dm:x",
                             sender="@bob:x", sender_name="bob", text="!watch #my-private-health-issue",
                             message_id="$event1", direct=True)
        replies = core.handle(msg)
    finally:
        logging.getLogger().removeHandler(handler)
    assert replies[0].text.startswith("Something went wrong on our side")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "ERROR" and record["logger"] == "bot.service.core"
    assert (record["community"], record["platform"], record["command_id"]) == ("demo", "matrix", "$event1")
    assert record["message"] == "command <private message> failed"
    assert "RuntimeError: the platform said no (token ***)" in record["exception"]
    assert "private-health-issue" not in lines[0] and token not in lines[0]
    core.engine.dispose()


def test_lines_outside_a_command_name_no_community():
    out, handler = capture([])
    try:
        logging.getLogger("commons-bot").warning("scheduler armed %d jobs", 3)
    finally:
        logging.getLogger().removeHandler(handler)
    record = json.loads(out.getvalue())
    assert record["message"] == "scheduler armed 3 jobs"
    assert (record["community"], record["platform"], record["command_id"]) == (None, None, None)
    assert record["time"].endswith("+00:00")
