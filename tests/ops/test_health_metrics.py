"""`GET /healthz` and `GET /metrics`: in-process against a real core (SQLite and PostgreSQL),
and through the real `commons-bot scheduler` process with `http:` in its config."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import create_engine

from adapters.http.ops import add_ops_routes
from bot.config import parse_settings
from bot.runtime import Runtime
from tests.conftest import TEST_CONFIG, Chat, build, sqlite_url

CLI = str(Path(sys.executable).with_name("commons-bot"))


class FakeMatrix:
    """An adapter that only reports its connection state."""

    platform = "matrix"

    def __init__(self) -> None:
        self.up = True

    def is_connected(self) -> bool:
        return self.up


def with_matrix(settings):  # type: ignore[no-untyped-def]
    data = settings.model_dump()
    data["matrix"] = {}
    data["communities"][0]["matrix"] = {"rooms": ["!room:example.org"]}
    return parse_settings(data, "test-config")


def metric(body: str, name: str, **labels: str) -> float:
    """The value of one sample in the exposition text."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" ([0-9.e+-]+)$"
    found = re.search(pattern, body, re.M)
    assert found, f"{name}{{{want}}} not in metrics:\n{body[:3000]}"
    return float(found.group(1))


async def test_health_and_metrics_follow_the_core(db_url):
    core, clock = build(db_url)
    settings = with_matrix(core.settings)
    core.settings = settings
    chat = Chat(core, clock)
    runtime = Runtime(core)
    matrix = FakeMatrix()
    app = web.Application()
    metrics = add_ops_routes(app, runtime, settings, [matrix])
    async with TestClient(TestServer(app)) as http:
        resp = await http.get("/healthz")
        assert (resp.status, await resp.text()) == (200, "ok\n")

        assert chat.say("alice", "!offer Fix the login crash reward:50EUR").startswith("T1")
        assert chat.say("bob", "!claim T1").startswith("You claimed")
        assert chat.say("bob", "!approve T1").startswith("✗")
        assert chat.say("alice", "!propose Adopt a code of conduct closes:2d").startswith("P1")
        assert chat.say("bob", "!unclaim T1").startswith("You released")  # an alias counts as its command
        assert chat.say("bob", "!claim T1").startswith("You claimed")
        resp = await http.get("/metrics")
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        body = await resp.text()
        assert metric(body, "commons_commands_total", command="claim", outcome="ok") == 2
        assert metric(body, "commons_commands_total", command="approve", outcome="refused") == 1
        assert metric(body, "commons_commands_total", command="release", outcome="ok") == 1
        assert metric(body, "commons_command_seconds_count", command="claim") == 2
        assert metric(body, "commons_open_needs", community="demo") == 1
        assert metric(body, "commons_active_claims", community="demo") == 1
        assert metric(body, "commons_open_proposals", community="demo") == 1
        assert metric(body, "commons_open_funding_calls", community="demo") == 0
        assert metric(body, "commons_platform_connected", platform="matrix") == 1
        # The outbox was never begun for matrix here: every announcement is waiting.
        assert metric(body, "commons_outbox_backlog", platform="matrix") >= 2
        # The claim's reminder and expiry, the proposal's nudge and closing, the digest.
        assert metric(body, "commons_deadlines_pending", state="upcoming") >= 4
        assert metric(body, "commons_deadlines_pending", state="overdue") == 0

        matrix.up = False
        resp = await http.get("/healthz")
        assert (resp.status, await resp.text()) == (503, "matrix is not connected\n")
        body = await (await http.get("/metrics")).text()
        assert metric(body, "commons_platform_connected", platform="matrix") == 0
    metrics.uninstall()
    assert core.command_observer is None
    await runtime.close()
    core.engine.dispose()


async def test_healthz_is_503_while_the_database_does_not_answer(tmp_path):
    core, _clock = build(sqlite_url(tmp_path, 'db.sqlite3'))
    runtime = Runtime(core)
    app = web.Application()
    metrics = add_ops_routes(app, runtime, core.settings, [])
    # The database goes away: nothing listens where the engine points now.
    core.engine.dispose()
    core.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                                connect_args={"connect_timeout": 2})
    async with TestClient(TestServer(app)) as http:
        resp = await http.get("/healthz")
        text = await resp.text()
    assert resp.status == 503 and text.startswith("database does not answer:"), text
    metrics.uninstall()
    await runtime.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_scheduler_process_serves_health_and_metrics_with_json_logs(tmp_path):
    port = free_port()
    config = {**TEST_CONFIG, "database_url": f"sqlite:///{tmp_path / 'commons.sqlite3'}",
              "http": {"listen": f"127.0.0.1:{port}"}, "log_level": "INFO"}
    path = tmp_path / "bot.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    env = {**os.environ, "DISCORD_TOKEN": "Zm9vYmFyLnNlY3JldC50b2tlbg"}
    proc = await asyncio.create_subprocess_exec(
        CLI, "scheduler", "--config", str(path), "--log-format", "json",
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=tmp_path)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        # Wait for the line that says the listener is up.
        async with asyncio.timeout(60):
            while True:
                line = (await proc.stderr.readline()).decode()
                assert line, f"the process ended: {lines}"
                lines.append(line)
                if "health and metrics on" in line:
                    break
        async with ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert (resp.status, await resp.text()) == (200, "ok\n")
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                body = await resp.text()
        assert metric(body, "commons_open_needs", community="demo") == 0
        assert "commons_commands_total" in body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 30)
    lines += rest.decode().splitlines(keepends=True)
    assert proc.returncode == 0, lines
    records = [json.loads(line) for line in lines if line.strip()]
    assert records and all(set(r) >= {"time", "level", "logger", "message", "community", "platform",
                                      "command_id"} for r in records)
    assert any(r["message"].startswith("health and metrics on http://127.0.0.1:") for r in records)
    assert not any(env["DISCORD_TOKEN"] in line for line in lines)


@pytest.mark.parametrize("listen", ["9102", "localhost:", "host:99999"])
def test_a_bad_listen_address_is_refused_in_one_line(listen):
    from bot.config import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_settings({**TEST_CONFIG, "http": {"listen": listen}}, "bot.yaml")
    assert str(err.value) == (f"bot.yaml: http.listen: expected HOST:PORT like '127.0.0.1:9102', "
                              f"got {listen!r}")


async def test_the_health_listener_carries_the_security_headers_and_keeps_a_quiet_log(tmp_path):
    """`/healthz` and `/metrics` on their own listener: every answer, aiohttp's own 400s
    included, carries the security headers, and an oversized URL writes no traceback."""
    from adapters.http.ops import OpsServer
    from tests.http_probe import assert_secured, get, raw, watching_log

    core, _clock = build(sqlite_url(tmp_path, "db.sqlite3"))
    port = free_port()
    settings = parse_settings({**TEST_CONFIG, "http": {"listen": f"127.0.0.1:{port}"}}, "test-config")
    runtime = Runtime(core)
    server = OpsServer(runtime, settings, [])
    await server.start()
    try:
        with watching_log("adapters", "aiohttp") as log:
            answers = await asyncio.to_thread(lambda: {
                "/healthz": get(port, "/healthz"), "/metrics": get(port, "/metrics"),
                "/nothing": get(port, "/nothing"), "an 8 KB URL": get(port, "/" + "a" * 8200),
                "garbage": raw(port, b"\x16\x03\x01 not HTTP\r\n\r\n")})
        assert {w: a.status for w, a in answers.items()} == {
            "/healthz": 200, "/metrics": 200, "/nothing": 404, "an 8 KB URL": 400, "garbage": 400}
        assert answers["/healthz"].body == "ok\n"
        for what, answer in answers.items():
            assert_secured(answer, what)
        assert log.problems() == []
        assert log.count("aiohttp.server", "Got more than 8190 bytes") == 1
    finally:
        await server.stop()
        await runtime.close()
        core.engine.dispose()
