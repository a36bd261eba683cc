"""Throughput of the core and latency of `!needs`, on a SQLite file.

Prints commands per second of a realistic mix (offer, claim, submit, approve, vote,
needs) beside a raw `sqlite3` baseline of one insert and commit per command in the same
run, and p50/p99 of `!needs` (first page) with 1,000 and 100,000 needs stored. The last
line is one JSON object.

It also measures `cpu_ms_per_cmd`, the CPU time of the process per command (p50), with
the Prometheus metrics of `adapters/http` counting commands and without, in one run whose
commands alternate between the two (so both see the same machine and the same database).

Run: .venv/bin/python bench/core.py [--rounds 400]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from bot.clock import ManualClock
from bot.config import parse_settings
from bot.ports import CommandOutcome, CommunityId, InboundMessage, Outbound, Platform
from bot.service.core import Core
from bot.store.db import make_engine, upgrade
from bot.store.models import FAR_FUTURE, Member, Need, NeedSkill

START = datetime(2026, 12, 1, 12, 0)


def make_core(path: Path) -> Core:
    url = f"sqlite:///{path}"
    settings = parse_settings({
        "database_url": url,
        "communities": [{"id": "demo", "policies": {"max_active_claims": 100},
                         "roles": {"maintainer": ["matrix:@alice:x"]}}],
    })
    engine = make_engine(url)
    upgrade(engine)
    return Core(settings, engine, ManualClock(START))


class Sender:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.n = 0

    def __call__(self, member: str, text: str) -> str:
        return self.reply(member, text).text

    def reply(self, member: str, text: str) -> Outbound:
        self.n += 1
        msg = InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"), space="!r:x",
                             sender=member, sender_name=member, text=text, message_id=f"$e{self.n}")
        return self.core.handle(msg)[0]


def bench_mix(rounds: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        core = make_core(Path(d) / "mix.sqlite3")
        say = Sender(core)
        assert say("@alice:x", "!propose Bench proposal closes:30d").startswith("P1")
        commands = 0
        t0 = time.perf_counter()
        for i in range(rounds):
            member = f"@m{i}:x"
            n = i + 1
            replies = [
                say.reply("@alice:x", f"!offer Task number {i} #python reward:10EUR"),
                say.reply(member, f"!claim T{n}"),
                say.reply(member, f"!submit T{n} https://example.org/pr/{i}"),
                say.reply("@alice:x", f"!approve T{n} good"),
                say.reply(member, "!vote P1 agree"),
                say.reply(member, "!needs"),
            ]
            commands += len(replies)
            assert all(r.outcome == CommandOutcome.DONE for r in replies), replies
        elapsed = time.perf_counter() - t0
        core.engine.dispose()
        return commands / elapsed


def bench_metrics_cpu(rounds: int) -> tuple[float, float]:
    """p50 CPU ms per command without and with metrics, alternating command by command."""
    from adapters.http.metrics import Metrics

    with tempfile.TemporaryDirectory() as d:
        core = make_core(Path(d) / "cpu.sqlite3")
        metrics = Metrics(core, {})
        say = Sender(core)
        assert say("@alice:x", "!propose Bench proposal closes:30d").startswith("P1")
        samples: dict[bool, list[float]] = {False: [], True: []}
        for i in range(rounds):
            member, n = f"@m{i}:x", i + 1
            for k, (who, text) in enumerate((
                    ("@alice:x", f"!offer Task number {i} #python reward:10EUR"),
                    (member, f"!claim T{n}"), (member, f"!submit T{n} https://example.org/pr/{i}"),
                    ("@alice:x", f"!approve T{n} good"), (member, "!vote P1 agree"), (member, "!needs"))):
                # Every other command, shifted each round: each kind of command is measured
                # as often with metrics as without.
                on = (i + k) % 2 == 1
                if on:
                    metrics.install()
                else:
                    metrics.uninstall()
                t0 = time.process_time()
                reply = say.reply(who, text)
                samples[on].append((time.process_time() - t0) * 1000)
                assert reply.outcome == CommandOutcome.DONE, reply
        metrics.uninstall()
        counted = sum(s.value for m in metrics.registry.collect() if m.name == "commons_commands"
                      for s in m.samples if s.name == "commons_commands_total")
        assert counted == len(samples[True]), (counted, len(samples[True]))
        core.engine.dispose()
    return statistics.median(samples[False]), statistics.median(samples[True])


def bench_sqlite_baseline(n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        con = sqlite3.connect(Path(d) / "raw.sqlite3", isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        t0 = time.perf_counter()
        for i in range(n):
            con.execute("BEGIN")
            con.execute("INSERT INTO t (body) VALUES (?)", (f"command {i}",))
            con.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        con.close()
        return n / elapsed


def seed_needs(core: Core, count: int) -> None:
    """Bulk-insert open needs (a third claimed full, some with due dates)."""
    with core.unit() as tx:
        s = tx.session
        s.execute(insert(Member).values(id=1, community="demo", display_name="seed", created_at=START))
        batch, skills = [], []
        for i in range(1, count + 1):
            due = START + timedelta(days=1 + i % 90) if i % 4 == 0 else None
            full = i % 3 == 0
            batch.append(dict(id=i, community="demo", number=i, title=f"Seeded need {i}", description="",
                              skills="python" if i % 2 else "docs", slots=1, taken=1 if full else 0,
                              is_full=full, due_at=due, sort_due=due or FAR_FUTURE, due_reminded=False,
                              offered_by=1, state="open" if i % 10 else "done", created_at=START,
                              reward_minor=None, reward_currency=None))
            skills.append(dict(need_id=i, skill="python" if i % 2 else "docs"))
            if len(batch) == 5000:
                s.execute(insert(Need), batch)
                s.execute(insert(NeedSkill), skills)
                batch, skills = [], []
        if batch:
            s.execute(insert(Need), batch)
            s.execute(insert(NeedSkill), skills)
    from sqlalchemy import text

    with core.engine.begin() as c:
        c.execute(text(f"UPDATE communities SET next_need = {count + 1}"))
        c.exec_driver_sql("ANALYZE")


def bench_needs(count: int, samples: int = 300) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        core = make_core(Path(d) / f"needs{count}.sqlite3")
        seed_needs(core, count)
        say = Sender(core)
        for _ in range(20):
            say("@reader:x", "!needs")
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            reply = say("@reader:x", "!needs")
            times.append((time.perf_counter() - t0) * 1000)
        assert reply.startswith("Open needs (page 1)") and "More:" in reply, reply
        core.engine.dispose()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=400, help="rounds of the six-command mix")
    args = ap.parse_args()
    cmds = bench_mix(args.rounds)
    base = bench_sqlite_baseline(args.rounds * 6)
    print(f"core mix:          {cmds:8.0f} commands/s ({args.rounds * 6} commands)")
    print(f"sqlite3 baseline:  {base:8.0f} insert+commit/s")
    print(f"ratio:             {cmds / base:8.3f} of the raw baseline")
    cpu_off, cpu_on = bench_metrics_cpu(args.rounds)
    print(f"cpu per command:   p50 {cpu_off:.3f} ms without metrics, {cpu_on:.3f} ms with "
          f"({(cpu_on / cpu_off - 1) * 100:+.1f}%)")
    p50_1k, p99_1k = bench_needs(1000)
    print(f"!needs @ 1k:       p50 {p50_1k:.2f} ms  p99 {p99_1k:.2f} ms")
    p50_100k, p99_100k = bench_needs(100_000)
    print(f"!needs @ 100k:     p50 {p50_100k:.2f} ms  p99 {p99_100k:.2f} ms "
          f"({p50_100k / p50_1k:.2f}x the 1k p50)")
    print(json.dumps({
        "commands_per_s": round(cmds, 1), "sqlite_baseline_per_s": round(base, 1),
        "ratio": round(cmds / base, 3),
        "cpu_ms_per_cmd": round(cpu_off, 4), "cpu_ms_per_cmd_metrics": round(cpu_on, 4),
        "metrics_overhead_pct": round((cpu_on / cpu_off - 1) * 100, 2),
        "needs_p50_ms_1k": round(p50_1k, 3), "needs_p99_ms_1k": round(p99_1k, 3),
        "needs_p50_ms_100k": round(p50_100k, 3), "needs_p99_ms_100k": round(p99_100k, 3),
    }))


if __name__ == "__main__":
    main()
