"""Round-trip latency, CPU and memory of commons-bot on Matrix, against a bare nio echo bot.

Starts a throwaway Synapse (``.venv-synapse``, see ``make synapse``), then on the same
homeserver:

1. a bare matrix-nio echo bot (this file with ``--echo-bot``, a separate process) that
   answers every ``!`` message with an ``m.notice`` reply;
2. commons-bot itself (``commons-bot run --config …``, a separate process, end-to-end
   encryption on as configured by default, in an unencrypted room) over a SQLite
   database seeded with 10,000 needs.

A nio client (the human) sends 200 sequential commands to each (``!needs`` and
``!task T<n>`` alternating; the echo bot just echoes them) and times each from the send
until its reply arrives over the human's ``/sync``. Printed: p50/p95 of both, the ratio
of the p50s, the CPU time (user + system, from ``/proc/<pid>/stat``) each bot process
spent per command, and the bot's resident memory (``VmRSS``) after the run. The last line
is one JSON object.

Run: .venv/bin/python bench/matrix_latency.py [--commands 200] [--needs 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nio import (  # noqa: E402
    AsyncClient,
    AsyncClientConfig,
    MatrixRoom,
    RoomMessageText,
    SyncResponse,
)

TICK = os.sysconf("SC_CLK_TCK")
WARMUP = 10


# --- the echo bot (runs in its own process) ---------------------------------------------


async def echo_bot() -> None:
    """A bare matrix-nio bot: join the room, reply to each ``!`` message with a notice."""
    client = AsyncClient(os.environ["ECHO_HS"], os.environ["ECHO_USER"],
                         config=AsyncClientConfig(encryption_enabled=False))
    await client.login(os.environ["ECHO_PW"])
    await client.join(os.environ["ECHO_ROOM"])
    first = await client.sync(timeout=0, full_state=True)
    assert isinstance(first, SyncResponse)

    async def on_message(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender != client.user_id and event.body.startswith("!"):
            await client.room_send(room.room_id, "m.room.message", {
                "msgtype": "m.notice", "body": event.body,
                "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}}})

    client.add_event_callback(on_message, RoomMessageText)  # type: ignore[arg-type]
    print("ready", flush=True)
    await client.sync_forever(timeout=30_000, since=first.next_batch)


# --- measuring ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure(human: Any, room: str, bot_id: str, pid: int,
                  commands: list[str]) -> tuple[list[float], float]:
    """Send each command, wait for its reply; return latencies (ms) and CPU ms per command."""
    from tests.matrix.botkit import relates_to

    async def one(text: str) -> float:
        t0 = time.perf_counter()
        event_id = await human.send_text(room, text)
        await human.inbox.wait_for(lambda r, e: r.room_id == room and getattr(e, "sender", "") == bot_id
                                   and relates_to(e) == event_id, 60, what=f"the reply to {text}")
        return (time.perf_counter() - t0) * 1000

    for text in commands[:WARMUP]:
        await one(text)
    cpu0 = cpu_seconds(pid)
    latencies = [await one(text) for text in commands[WARMUP:]]
    cpu = (cpu_seconds(pid) - cpu0) * 1000 / len(latencies)
    return latencies, cpu


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_line(proc: asyncio.subprocess.Process, word: str, timeout: float = 60) -> None:  # noqa: ASYNC109
    """Wait until the process prints a line starting with `word`."""
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise RuntimeError(f"process exited before printing {word!r}")
            if line.startswith(word):
                return


async def run(commands: int, needs: int, e2e: bool = True) -> dict[str, float]:
    """The whole benchmark; returns the figures."""
    from tests.matrix.botkit import (
        BotProcess,
        bot_config,
        register_bot,
        room_with,
        wait_joined,
        write_config,
    )
    from tests.matrix.clients import Person, new_client
    from tests.matrix.synapse import SynapseServer

    work = Path(tempfile.mkdtemp(prefix="matrix-bench-"))
    async with SynapseServer() as server:
        human = Person(await new_client(server, "human"))
        await human.start_syncing()
        echo = await register_bot(server, "echo")
        bot = await register_bot(server, "commons")
        echo_room = await room_with(human, [], [echo.user_id], name="echo")
        bot_room = await room_with(human, [], [bot.user_id], name="commons")
        texts = [("!needs" if i % 2 else f"!task T{1 + (i * 37) % needs}") for i in range(commands + WARMUP)]

        # 1. the bare echo bot
        env = {**os.environ, "ECHO_HS": server.base_url, "ECHO_USER": echo.user_id,
               "ECHO_PW": echo.password, "ECHO_ROOM": echo_room}
        proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "--echo-bot", env=env,
                                                    stdout=subprocess.PIPE)
        try:
            await wait_line(proc, "ready")
            await wait_joined(human, echo_room, echo.user_id)
            echo_lat, echo_cpu = await measure(human, echo_room, echo.user_id, proc.pid, texts)
        finally:
            proc.terminate()
            await proc.wait()

        # 2. commons-bot over a database with `needs` needs
        db = work / "bench.sqlite3"
        config = bot_config(bot, f"sqlite:///{db}", work / "store", [bot_room], encryption=e2e,
                            log_level="WARNING")
        seed(config, bot.env, needs)
        bot_proc = BotProcess(write_config(work / "matrix.yaml", config), bot.env, work / "bot.log")
        bot_proc.start()
        assert bot_proc.proc is not None
        try:
            await wait_joined(human, bot_room, bot.user_id, 90)
            bot_lat, bot_cpu = await measure(human, bot_room, bot.user_id, bot_proc.proc.pid, texts)
            rss = rss_mb(bot_proc.proc.pid)
        finally:
            bot_proc.terminate()
        await human.aclose()
    return {
        "echo_p50_ms": round(statistics.median(echo_lat), 1), "echo_p95_ms": round(pct(echo_lat, 0.95), 1),
        "bot_p50_ms": round(statistics.median(bot_lat), 1), "bot_p95_ms": round(pct(bot_lat, 0.95), 1),
        "ratio_p50": round(statistics.median(bot_lat) / statistics.median(echo_lat), 2),
        "echo_cpu_ms_per_cmd": round(echo_cpu, 2), "bot_cpu_ms_per_cmd": round(bot_cpu, 2),
        "rss_mb": round(rss, 1),
    }


def seed(config: dict[str, Any], env: dict[str, str], needs: int) -> None:
    """Create the bot's database and bulk-insert `needs` open needs (as bench/core.py does)."""
    from bot.bootstrap import build_core
    from bot.config import parse_settings

    spec = importlib.util.spec_from_file_location("bench_core", ROOT / "bench" / "core.py")
    assert spec and spec.loader
    bench_core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_core)
    os.environ.update(env)
    core = build_core(parse_settings(config, "bench"))
    bench_core.seed_needs(core, needs)
    core.engine.dispose()


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--needs", type=int, default=10_000)
    parser.add_argument("--no-e2e", action="store_true",
                        help="run commons-bot with encryption off (the echo bot never has it)")
    parser.add_argument("--echo-bot", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_bot:
        asyncio.run(echo_bot())
        return
    figures = asyncio.run(run(args.commands, args.needs, not args.no_e2e))
    print(f"{args.commands} sequential commands each, same Synapse, commons-bot with {args.needs:,} needs")
    print(f"echo bot     p50 {figures['echo_p50_ms']:7.1f} ms  p95 {figures['echo_p95_ms']:7.1f} ms  "
          f"CPU {figures['echo_cpu_ms_per_cmd']:.2f} ms/command")
    print(f"commons-bot  p50 {figures['bot_p50_ms']:7.1f} ms  p95 {figures['bot_p95_ms']:7.1f} ms  "
          f"CPU {figures['bot_cpu_ms_per_cmd']:.2f} ms/command  RSS {figures['rss_mb']:.1f} MB")
    print(f"ratio of p50s {figures['ratio_p50']:.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
