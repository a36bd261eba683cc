"""How long the scheduler takes to start over many pending deadlines, and to catch up.

    .venv/bin/python bench/deadlines.py [--db postgresql://postgres@127.0.0.1:5432/test]

For 0 (the baseline), 10,000 and 100,000 pending deadlines it seeds a database with bulk
INSERTs (claims with a reminder and an expiry, proposals with a nudge and a closing,
needs with a due date, funding calls with a backed pitch, spread over two months), then
starts a *fresh* process that builds the core and runs `DeadlineScheduler.start()` (catch
up, then arm the first window), so each RSS figure is that process's own. Then 1,000
overdue deadlines (400 claim expiries, 300 proposal closings, 100 call closings that each
fund a need, 200 due-date reminders, on top of 10,000 pending) are caught up at start.

Targets: arming over 100,000 pending under 2 s and under 50 MB above the empty database;
catching up 1,000 overdue under 5 s. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTINGS = {"communities": [{"id": "demo", "name": "Bench commons",
                             "policies": {"digest_cron": "0 9 * * mon"}}]}


def _settings(url: str):  # type: ignore[no-untyped-def]
    from bot.config import parse_settings

    return parse_settings({**SETTINGS, "database_url": url}, "bench")


def _prepare(url: str, pending: int, overdue: int) -> None:
    """Migrate, create the community and seed the deadlines (in this, the parent, process)."""
    from bot.clock import utcnow
    from bot.service.core import Core
    from bot.store.db import make_engine, upgrade
    from tests.scheduling.seed import seed

    engine = make_engine(url)
    upgrade(engine)
    now = utcnow()
    Core(_settings(url), engine, _FixedClock(now))  # the digest starts counting now
    if pending:
        span = timedelta(days=60)
        # Every kind counts its deadlines: a claim has two (reminder and expiry), a proposal
        # two (nudge and closing), a need one (its due-date reminder), a call one.
        claims, proposals, dues = pending // 4, pending * 15 // 100, pending * 15 // 100
        calls = pending - 2 * claims - 2 * proposals - dues

        def spread(n: int):  # type: ignore[no-untyped-def]
            # From two days and an hour on: the first reminders (two days before) fall an
            # hour from now, none is overdue, and the first 24-hour window is well filled.
            return lambda i: now + timedelta(days=2, hours=1) + span * i / max(n, 1)

        seed(engine, now=now, at=spread(claims), claims=claims, reminders_done=False)
        seed(engine, now=now, at=spread(proposals), proposals=proposals, reminders_done=False)
        seed(engine, now=now - timedelta(days=1), at=spread(dues), need_dues=dues, reminders_done=False)
        seed(engine, now=now, at=spread(calls), calls=calls, reminders_done=False)
    if overdue:
        past = lambda i: now - timedelta(hours=1) + timedelta(seconds=i)  # noqa: E731
        seed(engine, now=now - timedelta(days=30), at=past, claims=overdue * 4 // 10)
        seed(engine, now=now - timedelta(days=30), at=past, proposals=overdue * 3 // 10)
        seed(engine, now=now - timedelta(days=30), at=past, calls=overdue // 10)
        # Due tomorrow: the reminder two days before fell due yesterday.
        seed(engine, now=now - timedelta(days=30), at=lambda i: now + timedelta(days=1),
             need_dues=overdue - 8 * overdue // 10, reminders_done=False)
    engine.dispose()


class _FixedClock:
    def __init__(self, at):  # type: ignore[no-untyped-def]
        self.at = at

    def now(self):  # type: ignore[no-untyped-def]
        return self.at


def _peak_rss_mb() -> float:
    """This process's peak resident memory.

    VmHWM belongs to the address space, which exec replaces; ru_maxrss would still count
    the bench parent's memory that the child was forked with.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(url: str) -> None:
    """Start the scheduler as a bot process would, and report time and peak memory."""
    from bot.bootstrap import build_core
    from bot.runtime import Runtime
    from bot.scheduling import DeadlineScheduler

    async def main() -> dict:  # type: ignore[type-arg]
        core = build_core(_settings(url))
        runtime = Runtime(core)
        sched = DeadlineScheduler(runtime)
        t0 = time.perf_counter()
        report = await sched.start()
        took = time.perf_counter() - t0
        await sched.shutdown()
        await runtime.close()
        return {"seconds": took, "caught_up": report.caught_up, "jobs": report.jobs,
                "peak_rss_mb": _peak_rss_mb()}

    print(json.dumps(asyncio.run(main())))


def _run(url: str) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("COMMONS_CLOCK_OFFSET", None)
    out = subprocess.run([sys.executable, __file__, "--child", url], check=True, env=env,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


class _Databases:
    """Fresh databases: SQLite files in a temporary folder, or PostgreSQL schemas."""

    def __init__(self, pg: str | None) -> None:
        self.pg = pg
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-deadlines-")
        self.schemas: list[str] = []

    def new(self) -> str:
        if not self.pg:
            return f"sqlite:///{self.tmp.name}/{uuid.uuid4().hex[:8]}.sqlite3"
        from sqlalchemy import create_engine, text

        from bot.store.db import normalise_url

        schema = "bench_" + uuid.uuid4().hex[:10]
        eng = create_engine(normalise_url(self.pg))
        with eng.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        eng.dispose()
        self.schemas.append(schema)
        sep = "&" if "?" in self.pg else "?"
        return f"{normalise_url(self.pg)}{sep}options=-csearch_path%3D{schema}"

    def close(self) -> None:
        if self.pg and self.schemas:
            from sqlalchemy import create_engine, text

            from bot.store.db import normalise_url

            eng = create_engine(normalise_url(self.pg))
            with eng.begin() as c:
                for s in self.schemas:
                    c.execute(text(f"DROP SCHEMA IF EXISTS {s} CASCADE"))
            eng.dispose()
        self.tmp.cleanup()


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    dbs = _Databases(args.db)
    try:
        results = {}
        for label, pending, overdue in [("empty", 0, 0), ("10k", 10_000, 0), ("100k", 100_000, 0),
                                        ("catchup", 10_000, 1_000)]:
            url = dbs.new()
            t0 = time.perf_counter()
            _prepare(url, pending, overdue)
            seeded = time.perf_counter() - t0
            r = _run(url)
            results[label] = r
            print(f"{label:>8}: {pending:>7} pending, {overdue:>5} overdue (seeded in {seeded:.1f} s) — "
                  f"start {r['seconds']:.3f} s, caught up {r['caught_up']}, armed {r['jobs']} jobs, "
                  f"peak RSS {r['peak_rss_mb']:.1f} MB", flush=True)
        assert results["catchup"]["caught_up"] == 1_000, results["catchup"]
        figures = {
            "arm_s_10k": round(results["10k"]["seconds"], 3),
            "arm_s_100k": round(results["100k"]["seconds"], 3),
            "arm_mb_100k": round(results["100k"]["peak_rss_mb"] - results["empty"]["peak_rss_mb"], 1),
            "catchup_s_1k": round(results["catchup"]["seconds"], 3),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in results.values()), 1),
        }
        print(f"targets: arm 100k < 2 s: {figures['arm_s_100k'] < 2}; < 50 MB above empty: "
              f"{figures['arm_mb_100k'] < 50}; catch-up 1k < 5 s: {figures['catchup_s_1k'] < 5}")
        print(json.dumps(figures))
    finally:
        dbs.close()


if __name__ == "__main__":
    main()
