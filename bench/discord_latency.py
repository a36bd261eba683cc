"""Latency and cost of the Discord adapter beside a bare discord.py bot, in one run.

Two local Discord stand-ins (`tests/discord_standin`) serve two bot processes: a bare
discord.py bot answering `/ping` with a fixed text, and `commons-bot run` with the
Discord adapter on a SQLite file holding 15 open needs. Each gets 200 interactions, sent
one at a time, alternating between the two bots, with a 10 ms gap after each answer:
`/ping` for the bare bot, `/need list` for ours. Latency is from the stand-in writing
INTERACTION_CREATE to the gateway socket until the bot's interaction callback arrives.
CPU is each process's user+system time over the measured interactions (from /proc),
divided by their number; RSS is the bot's resident memory at the end.

Fan-out: in this process, the Discord adapter delivers 500 announcements to a community
with 10 channels (5,000 posts), one entry at a time as the runtime's outbox pump does,
against a stand-in whose per-channel message bucket allows 5 posts per 0.25 s (Discord's
5 per 5 s, sped up 12.5 times). `fanout_s_500` is the time until every post arrived,
`fanout_min_s_500` the least time those limits allow for the same posts; target:
`fanout_s_500 <= 1.2 * fanout_min_s_500`.

Run: .venv/bin/python bench/discord_latency.py [--calls 200] [--announcements 500]
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from tests.discord_standin import DiscordStandIn, InteractionHandle
from tests.discord_standin.fixtures import DEFAULT_WORLD as WORLD
from tests.discord_standin.fixtures import seed_default_world

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("discord_child.py")
TICKS = os.sysconf("SC_CLK_TCK")
GAP = 0.010


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), in the values' unit."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Side:
    """One bot process and its stand-in."""

    def __init__(self, name: str, command: str, options: dict[str, object] | None = None) -> None:
        self.name = name
        self.command = command
        self.options = options or {}
        self.standin = DiscordStandIn()
        seed_default_world(self.standin)
        self.proc: asyncio.subprocess.Process | None = None
        self.latencies: list[float] = []
        self.started = 0.0
        self.ready_s = 0.0

    async def launch(self, kind: str, arg: str, log: Path) -> None:
        """Start the process and wait until its command is registered and it answers."""
        await self.standin.start()
        env = {**os.environ, "DISCORD_TOKEN": self.standin.token}
        env.pop("COMMONS_DATABASE_URL", None)
        self.started = time.perf_counter()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), kind, self.standin.api_base, self.standin.gateway_url, arg,
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
        await self.standin.wait_until(
            lambda: any(s.connected for s in self.standin.sessions)
            and any(c["name"] == self.command.split()[0] for c in self.standin.commands(WORLD.guild_id)),
            timeout=60, description=f"{self.name} ready")
        self.ready_s = time.perf_counter() - self.started

    async def once(self, user: int = WORLD.alice_id) -> InteractionHandle:
        """One interaction, answered."""
        handle = await self.standin.send_command(self.command, self.options,
                                                 channel_id=WORLD.channel_id, user_id=user)
        await handle.response(timeout=10)
        return handle

    async def close(self) -> None:
        """Stop the process and the stand-in."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self.standin.stop()


async def run(calls: int) -> dict[str, float]:
    """Measure both bots in one run; returns the figures."""
    bare = Side("bare discord.py bot", "ping")
    bot = Side("commons-bot", "need list")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "discord.yaml"
        config.write_text(yaml.safe_dump({
            "database_url": f"sqlite:///{tmp}/commons.sqlite3",
            "log_level": "WARNING",
            "discord": {"token": "${DISCORD_TOKEN}", "guild_ready_timeout": 0.05},
            "communities": [{"id": "demo", "discord": {
                "guild": WORLD.guild_id, "channels": [WORLD.channel_id],
                "roles": {"maintainer": ["maintainer"]}}}],
        }))
        try:
            await bare.launch("bare", str(WORLD.guild_id), Path(tmp) / "bare.log")
            await bot.launch("bot", str(config), Path(tmp) / "bot.log")
            for i in range(15):
                h = await bot.standin.send_command("need offer", {"title": f"Need number {i}",
                                                                  "skills": "python", "due": f"{i + 1}d"},
                                                   channel_id=WORLD.channel_id, user_id=WORLD.bob_id)
                await h.response(timeout=10)
            for _ in range(20):  # warm both up (imports, caches, connection pools)
                await bare.once()
                await bot.once()
            assert bare.proc is not None and bot.proc is not None
            cpu0 = {s.name: cpu_seconds(s.proc.pid) for s in (bare, bot)}  # type: ignore[union-attr]
            for _ in range(calls):
                for side in (bare, bot):
                    handle = await side.once()
                    assert handle.latency is not None
                    side.latencies.append(handle.latency * 1000)
                    await asyncio.sleep(GAP)
            cpu = {s.name: (cpu_seconds(s.proc.pid) - cpu0[s.name]) / calls * 1000  # type: ignore[union-attr]
                   for s in (bare, bot)}
            figures = {
                "bare_p50_ms": round(statistics.median(bare.latencies), 3),
                "bare_p95_ms": round(pct(bare.latencies, 95), 3),
                "bot_p50_ms": round(statistics.median(bot.latencies), 3),
                "bot_p95_ms": round(pct(bot.latencies, 95), 3),
                "ratio_p50": round(statistics.median(bot.latencies) / statistics.median(bare.latencies), 2),
                "bare_cpu_ms_per_interaction": round(cpu[bare.name], 3),
                "bot_cpu_ms_per_interaction": round(cpu[bot.name], 3),
                "rss_mb": round(rss_mb(bot.proc.pid), 1),
                "bare_rss_mb": round(rss_mb(bare.proc.pid), 1),
                "bare_ready_s": round(bare.ready_s, 2),
                "bot_ready_s": round(bot.ready_s, 2),
            }
            errors = bare.standin.errors + bot.standin.errors
            unknown = bare.standin.unknown_routes + bot.standin.unknown_routes
            if errors or unknown:
                raise RuntimeError(f"the stand-ins refused calls: {errors[:3]} unknown: {unknown[:3]}")
            return figures
        finally:
            await bot.close()
            await bare.close()


FANOUT_CHANNELS = 10
FANOUT_LIMIT = (5, 0.4)
POST_ROUTE = "POST /channels/{channel_id}/messages"


async def fanout(announcements: int) -> dict[str, float]:
    """Deliver `announcements` to 10 rate-limited channels through the adapter; the figures."""
    from adapters.discord.adapter import DiscordAdapter
    from bot.clock import ManualClock
    from bot.config import parse_settings
    from bot.ports import CommunityId, Outbound
    from bot.runtime import Runtime
    from bot.service.core import Core
    from bot.store.db import make_engine, upgrade
    from tests.conftest import START
    from tests.discord_standin import point_discord_py_at

    standin = DiscordStandIn(bot_permissions=84992)
    standin.spec = None  # the tests check bodies against the spec; here we time delivery only
    seed_default_world(standin)
    channels = [standin.add_channel(WORLD.guild_id, f"c{i}") for i in range(FANOUT_CHANNELS)]
    standin.rate_limits.routes[POST_ROUTE] = FANOUT_LIMIT
    await standin.start()
    pointer = point_discord_py_at(standin)
    os.environ["DISCORD_TOKEN"] = standin.token
    with tempfile.TemporaryDirectory() as tmp:
        settings = parse_settings({
            "database_url": f"sqlite:///{tmp}/fanout.sqlite3",
            "discord": {"token": "${DISCORD_TOKEN}", "guild_ready_timeout": 0.05},
            "communities": [{"id": "demo", "discord": {"guild": WORLD.guild_id, "channels": channels}}],
        }, "fanout")
        engine = make_engine(settings.database_url)
        upgrade(engine)
        runtime = Runtime(Core(settings, engine, ManualClock(START)))
        adapter = DiscordAdapter(runtime, settings)
        await adapter.start()
        try:
            start = time.perf_counter()
            for i in range(announcements):  # as the outbox pump does: one entry at a time
                await adapter.send(Outbound(CommunityId("demo"), f"Announcement {i}", kind="announce",
                                            outbox_id=i + 1))
            elapsed = time.perf_counter() - start
            posted = sum(len(standin.channel_messages(c)) for c in channels)
            if posted != announcements * FANOUT_CHANNELS or standin.unknown_routes:
                raise RuntimeError(f"fan-out: {posted} posts, unknown routes {standin.unknown_routes[:3]}")
        finally:
            await adapter.stop()
            await runtime.close()
            engine.dispose()
            pointer.restore()
            await standin.stop()
    return {"fanout_s_500": round(elapsed, 2),
            "fanout_min_s_500": round(standin.rate_limits.least_time(POST_ROUTE, announcements), 2),
            "fanout_429s": len(standin.rate_limits.hits)}


def main() -> None:
    """Print the figures, then the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--announcements", type=int, default=500)
    args = parser.parse_args()
    f = asyncio.run(run(args.calls))
    f.update(asyncio.run(fanout(args.announcements)))
    print(f"{args.calls} interactions each, one at a time, {GAP * 1000:.0f} ms gap, alternating")
    print(f"bare discord.py /ping : p50 {f['bare_p50_ms']:.2f} ms  p95 {f['bare_p95_ms']:.2f} ms  "
          f"CPU {f['bare_cpu_ms_per_interaction']:.2f} ms/interaction  RSS {f['bare_rss_mb']:.0f} MB  "
          f"ready after {f['bare_ready_s']:.2f} s")
    print(f"commons-bot /need list: p50 {f['bot_p50_ms']:.2f} ms  p95 {f['bot_p95_ms']:.2f} ms  "
          f"CPU {f['bot_cpu_ms_per_interaction']:.2f} ms/interaction  RSS {f['rss_mb']:.0f} MB  "
          f"ready after {f['bot_ready_s']:.2f} s")
    print(f"ratio of p50: {f['ratio_p50']:.2f}x (target: at most 3x; CPU target: at most 2.5x bare)")
    print(f"fan-out of {args.announcements} announcements to {FANOUT_CHANNELS} channels: "
          f"{f['fanout_s_500']:.2f} s; the limits allow {f['fanout_min_s_500']:.2f} s "
          f"(target: at most 1.2x)")
    print(json.dumps(f))


if __name__ == "__main__":
    main()
