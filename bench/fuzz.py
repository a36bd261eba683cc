"""Generated hostile input through `Core.handle` on SQLite and PostgreSQL: internal errors.

Each input is a command (any command, any option, any id) mixed with what broke the core
before (issue 9): digits `int` refuses (`²`), other scripts' digits, lone surrogates, NUL
and other controls, ANSI escapes, dates at the ends of datetime's range, markup to echo,
odd sender ids, display names and message ids. Every input goes through `Core.handle` on a
real database, as a platform's message would; every few thousand the clock moves and the
deadlines that fell due fire. An internal error is a reply saying "Something went wrong",
anything the core logs at ERROR, or an exception out of the core.

Several workers split the inputs, each with its own database (a SQLite file, a PostgreSQL
schema), so the figures are per input and honest; they are not a throughput benchmark.
Not part of `make test`: a full run takes many minutes.

Run: .venv/bin/python bench/fuzz.py [--sqlite 1000000] [--pg 100000] [--workers 2]
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from bot.chat.commands import COMMANDS
from bot.clock import ManualClock
from bot.config import parse_settings
from bot.ports import CommandOutcome, CommunityId, InboundMessage, Platform
from bot.service.core import Core
from bot.store.db import make_engine, upgrade

PG_URL = os.environ.get("COMMONS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = datetime(2026, 12, 1, 12, 0)

ODD = ["²", "³", "¹", "٣", "৩", "๓", "１", "\x00", "\ud800", "\udfff", "\udc80", "\x1b[2J",
       "\x1b]0;x\x07", "\x1b", "\r", "\r\n", "\u2028", "\x85", "\x7f", "\x9b", "\u202e",
       "\ufeff", "\u200d", "🙂", "\t", "\x0b", "\x0c", "ß", "İ", "ſ", "K"]
DATES = ["0001-01-01T00:00+01:00", "9999-12-31T23:00-02:00", "9999-12-31T23:59+00:00",
         "0001-01-01", "9999-12-31", "2026-02-30", "2026-12-01T25:00", "2026-12-01T18:00Z",
         "2026-12-01T18:00+14:00", "2026-12-01T18:00-23:59", "2027-01-31", "2026-12-02",
         "0d", "0h", "0m", "999999w", "999999d", "1m", "30m", "48h", "3d", "10d", "3660d",
         "3661d", "2026-W01-1", "²d", "1²h", "2026-12-01T18:00:00.123456+05:30", "+3d"]
AMOUNTS = ["0EUR", "1EUR", "0.01EUR", "12.50EUR", "99999999999EUR", "9999999999999EUR",
           "12.505EUR", "EUR5", "5JPY", "5.5JPY", "5BHD", "²EUR", "٣EUR", "-5EUR", "5 EUR",
           "5", "100EUR", "5eur", "5,5EUR"]
NUMBERS = ["0", "1", "2", "3", "10", "50", "51", "100", "99999999999", "-1", "²", "٣", "１",
           "1²", "00", "", "1e3", "0x10"]
REFS = ["T1", "T2", "T3", "P1", "P2", "F1", "B1", "B2", "1", "2", "T0", "T99999999999", "T²",
        "T٣", "#1", "t1", "B²", "P٣", "F"]
WORDS = ["agree", "abstain", "disagree", "block", "@bob", "@alice", "@everyone", "<@&123456>",
         "<t:1:R>", "[click](https://evil.example/phish)", "#python", "#docs", "#py²", "**x**",
         "`code`", "\\", "\n", "\n📣 P9 closed: passed (9 agree)", "\n- item", "thanks!", "x",
         "https://example.org/pr/1"]
OPTIONS = sorted({o for spec in COMMANDS.values() for o in spec.options} | {"x"})
NAMES = [*sorted(COMMANDS), "tasks", "need", "unclaim", "funding", "nope", "Claim", "CLAIM"]
MEMBERS = ["alice", "bob", "carol", "fundco", "@bob:example.org", "123456789012345678"]
# The common commands again, so that state builds up: needs claimed, submitted, approved.
WEIGHTED = ["offer", "claim", "submit", "approve", "vote", "back", "pitch", "propose", "fund"] * 3


class Generator:
    """Inputs from a seeded `random.Random`: fast, reproducible, hostile."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.values = DATES + AMOUNTS + NUMBERS + REFS

    def odd(self, s: str) -> str:
        i = self.r.randrange(len(s) + 1)
        return s[:i] + self.r.choice(ODD) + s[i:]

    def word(self) -> str:
        r = self.r
        k = r.random()
        if k < 0.35:
            w = f"{r.choice(OPTIONS)}:{r.choice(self.values)}"
        elif k < 0.6:
            w = r.choice(REFS + NUMBERS)
        elif k < 0.85:
            w = r.choice(WORDS)
        else:
            w = "".join(chr(r.randrange(0x20, 0x2FFF) if r.random() < 0.9 else r.randrange(0, 0x110000))
                        for _ in range(r.randrange(1, 8)))
        return self.odd(w) if r.random() < 0.15 else w

    def message(self, n: int) -> InboundMessage:
        r = self.r
        name = r.choice(NAMES + WEIGHTED)
        text = " ".join(["!" + name, *(self.word() for _ in range(r.randrange(0, 7)))])
        if r.random() < 0.2:
            text = self.odd(text)
        sender = r.choice(MEMBERS)
        if r.random() < 0.02:
            sender = self.odd(sender)
        display = sender if r.random() < 0.8 else self.odd(r.choice(["Bob", "Ann", ""]))
        message_id = f"$f{n}" if r.random() < 0.5 else None
        if message_id and r.random() < 0.01:
            message_id = self.odd(message_id)
        roles = frozenset({"maintainer", "foundation"}) if sender == "alice" else frozenset()
        return InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"),
                              space="!r:x", sender=sender, sender_name=display, text=text,
                              message_id=message_id, roles=roles)


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _core(url: str, clock: ManualClock) -> Core:
    settings = parse_settings({
        "database_url": url,
        "communities": [{"id": "demo", "policies": {"max_active_claims": 100}}],
    })
    engine = make_engine(url)
    upgrade(engine)
    return Core(settings, engine, clock)


def worker(args: tuple[str, int, int, float]) -> dict[str, int | list[str]]:
    """Feed `count` inputs to a core on `url`; stop early at `deadline` (a time.time())."""
    url, count, seed, deadline = args
    logging.basicConfig(level=logging.CRITICAL)
    failures = _Failures()
    logging.getLogger("bot").addHandler(failures)
    clock = ManualClock(START)
    core = _core(url, clock)
    gen = Generator(seed)
    done = errors = refused = answered = 0
    samples: list[str] = []
    try:
        for n in range(count):
            if n % 256 == 0 and time.time() > deadline:
                break
            msg = gen.message(n)
            before = failures.count
            try:
                replies = core.handle(msg)
                bad = any(o.outcome == CommandOutcome.FAILED for o in replies) or failures.count > before
            except Exception as exc:  # an exception out of the core is an internal error too
                replies, bad = [], True
                msg = InboundMessage(**{**msg.__dict__, "text": f"{msg.text} -> {exc!r}"})
            done += 1
            if bad:
                errors += 1
                if len(samples) < 5:
                    samples.append(repr(msg.text)[:300])
            for o in replies:
                refused += o.outcome == CommandOutcome.REFUSED
                answered += 1
            if n % 5000 == 4999:
                # Deadlines made by the inputs fall due, including those at the edges of time.
                clock.advance(timedelta(hours=gen.r.choice([1, 12, 49, 24 * 15])))
                before = failures.count
                try:
                    core.process_due()
                except Exception:
                    errors += 1
                errors += failures.count - before
    finally:
        core.engine.dispose()
    return {"inputs": done, "errors": errors, "refused": refused, "answered": answered,
            "samples": samples}


def run(urls: list[str], total: int, seed: int, deadline: float) -> dict[str, int | list[str]]:
    share = [total // len(urls) + (1 if i < total % len(urls) else 0) for i in range(len(urls))]
    jobs = [(u, n, seed + i, deadline) for i, (u, n) in enumerate(zip(urls, share, strict=True))]
    if len(jobs) == 1:
        results = [worker(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            results = pool.map(worker, jobs)
    out: dict[str, int | list[str]] = {k: sum(r[k] for r in results)  # type: ignore[misc]
                                       for k in ("inputs", "errors", "refused", "answered")}
    out["samples"] = [s for r in results for s in r["samples"]][:5]  # type: ignore[union-attr]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sqlite", type=int, default=1_000_000, help="inputs on SQLite")
    ap.add_argument("--pg", type=int, default=100_000, help="inputs on PostgreSQL")
    ap.add_argument("--workers", type=int, default=2, help="processes, each with its own database")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop each database's run after this long (0: no limit) and report what ran")
    a = ap.parse_args()
    figures: dict[str, object] = {}
    for db, total in (("sqlite", a.sqlite), ("pg", a.pg)):
        if total <= 0:
            figures.update({f"inputs_{db}": 0, f"internal_errors_{db}": 0})
            continue
        schemas: list[str] = []
        if db == "sqlite":
            tmp = tempfile.mkdtemp(prefix="fuzz-")
            urls = [f"sqlite:///{tmp}/fuzz{i}.sqlite3" for i in range(a.workers)]
        else:
            eng = create_engine(PG_URL)
            with eng.begin() as c:
                for _ in range(a.workers):
                    schemas.append("fuzz_" + uuid.uuid4().hex[:12])
                    c.execute(text(f"CREATE SCHEMA {schemas[-1]}"))
            eng.dispose()
            sep = "&" if "?" in PG_URL else "?"
            urls = [f"{PG_URL}{sep}options=-csearch_path%3D{s}" for s in schemas]
        t0 = time.time()
        deadline = t0 + a.max_minutes * 60 if a.max_minutes else float("inf")
        try:
            res = run(urls, total, a.seed, deadline)
        finally:
            if db == "sqlite":
                shutil.rmtree(tmp, ignore_errors=True)
            if schemas:
                eng = create_engine(PG_URL)
                with eng.begin() as c:
                    for s in schemas:
                        c.execute(text(f"DROP SCHEMA IF EXISTS {s} CASCADE"))
                eng.dispose()
        secs = time.time() - t0
        print(f"{db}: {res['inputs']:,} inputs in {secs:,.0f} s ({res['inputs'] / secs:,.0f}/s, "
              f"{a.workers} workers), {res['answered']:,} replies of which {res['refused']:,} "
              f"refusals; internal errors: {res['errors']}", flush=True)
        for s in res["samples"]:  # type: ignore[union-attr]
            print(f"  internal error on {s}", flush=True)
        figures.update({f"inputs_{db}": res["inputs"], f"internal_errors_{db}": res["errors"],
                        f"seconds_{db}": round(secs), f"per_second_{db}": round(res["inputs"] / secs)})
    print(json.dumps({k: figures[k] for k in ("inputs_sqlite", "internal_errors_sqlite",
                                              "inputs_pg", "internal_errors_pg")}
                     | {k: v for k, v in figures.items() if k.startswith(("seconds", "per_second"))}))


if __name__ == "__main__":
    main()
