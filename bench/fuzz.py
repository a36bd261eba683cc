"""Generated hostile input through `Core.handle` and the public board, on SQLite and
PostgreSQL: internal errors.

Each input is a command (any command, any option, any id) mixed with what broke the core
before (issue 9): digits `int` refuses (`²`), other scripts' digits, lone surrogates, NUL
and other controls, ANSI escapes, dates at the ends of datetime's range, markup to echo,
odd sender ids, display names and message ids. Every input goes through `Core.handle` on a
real database, as a platform's message would; every few thousand the clock moves and the
deadlines that fell due fire. An internal error is a reply saying "Something went wrong",
anything the core logs at ERROR, or an exception out of the core.

Several workers split the inputs, each with its own database (a SQLite file, a PostgreSQL
schema), so the figures are per input and honest; they are not a throughput benchmark.

Then the board: a database filled by a few thousand such inputs is served by the real
board (`WebBoard`, with a `base_url`) on loopback, and generated requests go to every page
with hostile query parameters (the same odd digits and controls, cursors at and past the
bounds of PostgreSQL's integer and bigint, 4,400 digits, raw percent-escapes, invalid
UTF-8, a `Host` header of its own), with a live stream dropped now and then, and
raw requests aiohttp itself refuses (an 8 KB request line, garbage). An internal error is
a 5xx answer or anything logged at ERROR; a traceback is any record that carries one;
every answer must carry the security headers and never the Host a visitor sent.

Then the backup reader (`bench/fuzz_backups.py`): a backup of a real record made here,
damaged thousands of ways, through `commons-bot restore` into SQLite and PostgreSQL, and
what restore accepts through `audit` and every `export`; internal errors, restores that
were not all or nothing, and the tracebacks in the log (`--log`) are counted.

Not part of `make test`: a full run takes many minutes.

Run: .venv/bin/python bench/fuzz.py [--sqlite 1000000] [--pg 100000] [--workers 2]
     [--web 20000] [--backups 3000] [--backups-pg 500] [--max-minutes M] [--log /tmp/fuzz-backups.log]
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

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


# --- the public board ------------------------------------------------------------------

BASE_URL = "https://board.example.org"
# A Host header no generated input writes (evil.example is among the words).
VISITOR_HOST = "visitor-host.invalid"
PAGES = ["/", "/c/demo/", "/c/demo/board.json", "/c/demo/needs/{group}", "/c/demo/needs/{group}.json",
         "/c/demo/{ref}", "/c/demo/{ref}.json", "/c/demo/F1/chart.svg", "/c/demo/proposals",
         "/c/demo/proposals.json", "/c/demo/calls", "/c/demo/calls.json", "/c/demo/ledger",
         "/c/demo/ledger.json", "/c/demo/ledger/chart.svg", "/c/demo/log", "/c/demo/log.json",
         "/c/demo/books", "/c/demo/feed.atom", "/c/demo/skills/{skill}/feed.atom", "/c/demo/live",
         "/c/demo/log.csv", "/c/demo/ledger.jsonl", "/c/nowhere/", "/static/board.css"]
GROUPS = ["free", "full", "submitted", "done", "cancelled", "Free", "nope"]
PARAMS = ["after", "before", "open", "closed", "since", "skill", "object", "member", "kind", "x"]
CURSORS = ["1", "20", "0", "00", "20261201T120000.1", "99991231T235959.2147483647",
           "00010101T000000.0", str(2**31 - 1), str(2**31), str(2**63 - 1), str(2**63),
           "999999999999", "9" * 4400, "-1", "1.5", "20261301T000000.1", "20261201T120000",
           "20261201T120000.", ".1", "claim.", "need.offered", "@bob", "bob", "T1", "t1", "digest"]
# Sent as they are: escapes that decode to controls, invalid UTF-8, separators.
RAW = ["%00", "%ff", "%ed%a0%80", "%0d%0a", "%25", "%2F..%2F", "%", "%zz", "%C2%B2", "+", "&", "=",
       ";DROP", "%1b%5b2J", "%c0%80"]
SECURITY = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


class WebGenerator(Generator):
    """Requests to the board, from a seeded `random.Random`."""

    def value(self) -> str:
        r = self.r
        k = r.random()
        if k < 0.15:
            return r.choice(RAW)
        if k < 0.3:
            v = "".join(chr(r.randrange(0x20, 0x2FFF) if r.random() < 0.9 else r.randrange(0, 0x110000))
                        for _ in range(r.randrange(1, 300 if r.random() < 0.1 else 12)))
        else:
            v = r.choice(CURSORS + NUMBERS + REFS + WORDS + ODD)
        if r.random() < 0.2:
            v = self.odd(v)
        return quote(v.encode("utf-8", "surrogatepass"), safe="")

    def target(self) -> str:
        r = self.r
        path = r.choice(PAGES).format(group=r.choice(GROUPS), ref=quote(r.choice(REFS), safe=""),
                                      skill=r.choice(["python", "docs", "py%C2%B2", "%00", "a" * 80, "%ff"]))
        query = "&".join(f"{r.choice(PARAMS)}={self.value()}" for _ in range(r.randrange(0, 4)))
        return path + ("?" + query if query else "")


class _Counts(logging.Handler):
    """Records at ERROR and above, and records that carry a traceback, at any level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors = self.tracebacks = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        bad = False
        if record.levelno >= logging.ERROR:
            self.errors += 1
            bad = True
        if record.exc_info or record.exc_text:
            self.tracebacks += 1
            bad = True
        if bad and len(self.samples) < 5:
            self.samples.append(f"{record.levelname} {record.name}: {record.getMessage()[:200]}")


async def _raw(port: int, data: bytes) -> tuple[int, str]:
    """Send bytes as they are; the status and the head of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        answer = await reader.read()
    finally:
        writer.close()
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1")
    return int(head.split(" ", 2)[1]), head


async def _fuzz_board(port: int, count: int, seed: int, deadline: float,
                      change: Callable[[int], object]) -> dict[str, int | list[str]]:
    import aiohttp
    from yarl import URL

    gen = WebGenerator(seed)
    out: dict[str, int | list[str]] = {"requests": 0, "server_errors": 0, "unsecured": 0, "host_leaks": 0}
    samples: list[str] = []

    def bad(what: str, target: str) -> None:
        out[what] += 1  # type: ignore[operator]
        if len(samples) < 5:
            samples.append(f"{what}: {target[:200]}")

    async with aiohttp.ClientSession() as http:
        for n in range(count):
            if n % 256 == 0 and time.time() > deadline:
                break
            if n % 50 == 49:  # the log grows: open live pages are written to, dropped ones noticed
                await asyncio.to_thread(change, n)
            if n % 100 == 99:  # what aiohttp answers by itself, on a socket of its own
                probe = gen.r.choice([b"GET /c/demo/" + b"a" * 8200 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                                      b"\x16\x03\x01\x02 not HTTP\r\n\r\n",
                                      b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 9000 + b"\r\n\r\n"])
                status, head = await _raw(port, probe)
                out["requests"] += 1  # type: ignore[operator]
                if status >= 500:
                    bad("server_errors", repr(probe[:60]))
                if not all(f"\r\n{h}:" in head for h in SECURITY):
                    bad("unsecured", repr(probe[:60]))
                continue
            target = gen.target()
            evil = gen.r.random() < 0.1
            method = gen.r.choice(["GET"] * 8 + ["HEAD", "POST"])
            async with http.request(method, URL(f"http://127.0.0.1:{port}{target}", encoded=True),
                                    headers={"Host": VISITOR_HOST} if evil else None,
                                    allow_redirects=False) as resp:
                if resp.content_type == "text/event-stream":
                    body = b""
                    resp.close()  # a live page closed: the board must notice quietly
                else:
                    body = await resp.read()
            out["requests"] += 1  # type: ignore[operator]
            if resp.status >= 500:
                bad("server_errors", f"{method} {target}")
            if not all(h in resp.headers for h in SECURITY):
                bad("unsecured", f"{method} {target}")
            if evil and VISITOR_HOST.encode() in body:
                bad("host_leaks", target)
    out["samples"] = samples
    return out


def board_worker(url: str, count: int, seed: int, deadline: float) -> dict[str, int | list[str]]:
    """Fill a database through the core, serve it with the board, and fuzz the board."""
    from adapters.web.server import WebBoard

    clock = ManualClock(START)
    core = _core(url, clock)
    gen = Generator(seed)
    for n in range(3000):  # needs, claims, proposals, calls: every page has something
        core.handle(gen.message(n))
    settings = parse_settings({"database_url": url, "communities": [{"id": "demo"}],
                               "web": {"listen": "127.0.0.1:0", "base_url": BASE_URL}})
    def offer(n: int) -> object:
        return core.handle(InboundMessage(
            community=CommunityId("demo"), platform=Platform("matrix"), space="!r:x", sender="alice",
            sender_name="alice", text=f"!offer Fuzzed change {n}", message_id=None))

    counts = _Counts()
    root = logging.getLogger()
    root.addHandler(counts)
    levels = {name: logging.getLogger(name).level for name in ("adapters", "aiohttp", "bot")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)

    async def serve() -> dict[str, int | list[str]]:
        board = WebBoard(SimpleNamespace(core=core), settings)
        await board.start()
        try:
            assert board.port is not None
            return await _fuzz_board(board.port, count, seed, deadline, offer)
        finally:
            await board.stop()

    try:
        res = asyncio.run(serve())
    finally:
        root.removeHandler(counts)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        core.engine.dispose()
    res["log_errors"], res["tracebacks"] = counts.errors, counts.tracebacks
    res["samples"] = [*res["samples"], *counts.samples][:5]  # type: ignore[misc]
    return res


@contextmanager
def _databases(db: str, n: int) -> Iterator[list[str]]:
    """`n` empty databases (SQLite files or PostgreSQL schemas), dropped afterwards."""
    if db == "sqlite":
        tmp = tempfile.mkdtemp(prefix="fuzz-")
        try:
            yield [f"sqlite:///{tmp}/fuzz{i}.sqlite3" for i in range(n)]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    schemas = ["fuzz_" + uuid.uuid4().hex[:12] for _ in range(n)]
    eng = create_engine(PG_URL)
    with eng.begin() as c:
        for schema in schemas:
            c.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield [f"{PG_URL}{sep}options=-csearch_path%3D{schema}" for schema in schemas]
    finally:
        with eng.begin() as c:
            for schema in schemas:
                c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sqlite", type=int, default=1_000_000, help="inputs on SQLite")
    ap.add_argument("--pg", type=int, default=100_000, help="inputs on PostgreSQL")
    ap.add_argument("--workers", type=int, default=2, help="processes, each with its own database")
    ap.add_argument("--web", type=int, default=20_000, help="requests to the board, per database")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop each database's run after this long (0: no limit) and report what ran")
    ap.add_argument("--backups", type=int, default=3000, help="damaged backups restored into SQLite")
    ap.add_argument("--backups-pg", type=int, default=500, help="damaged backups restored into PostgreSQL")
    ap.add_argument("--seed-inputs", type=int, default=2000,
                    help="generated commands in the record the damaged backups are made from")
    ap.add_argument("--log", default=str(Path(tempfile.gettempdir()) / "fuzz-backups.log"),
                    help="where each restore, audit and export of the backup run is logged")
    a = ap.parse_args()
    figures: dict[str, object] = {}
    for db, total in (("sqlite", a.sqlite), ("pg", a.pg)):
        figures.update({f"inputs_{db}": 0, f"internal_errors_{db}": 0})
        if total > 0:
            t0 = time.time()
            deadline = t0 + a.max_minutes * 60 if a.max_minutes else float("inf")
            with _databases(db, a.workers) as urls:
                res = run(urls, total, a.seed, deadline)
            secs = time.time() - t0
            print(f"{db}: {res['inputs']:,} inputs in {secs:,.0f} s ({res['inputs'] / secs:,.0f}/s, "
                  f"{a.workers} workers), {res['answered']:,} replies of which {res['refused']:,} "
                  f"refusals; internal errors: {res['errors']}", flush=True)
            for s in res["samples"]:  # type: ignore[union-attr]
                print(f"  internal error on {s}", flush=True)
            figures.update({f"inputs_{db}": res["inputs"], f"internal_errors_{db}": res["errors"],
                            f"seconds_{db}": round(secs), f"per_second_{db}": round(res["inputs"] / secs)})
        figures.update({f"web_requests_{db}": 0, f"web_internal_errors_{db}": 0, f"web_tracebacks_{db}": 0})
        if a.web > 0:
            t0 = time.time()
            deadline = t0 + a.max_minutes * 60 if a.max_minutes else float("inf")
            with _databases(db, 1) as urls:
                web = board_worker(urls[0], a.web, a.seed, deadline)
            secs = time.time() - t0
            internal = int(web["server_errors"]) + int(web["log_errors"])  # type: ignore[call-overload]
            print(f"{db} board: {web['requests']:,} requests in {secs:,.0f} s; internal errors: "
                  f"{internal} ({web['server_errors']} 5xx answers, {web['log_errors']} logged at ERROR), "
                  f"tracebacks in the log: {web['tracebacks']}, answers without the security headers: "
                  f"{web['unsecured']}, answers echoing a visitor's Host: {web['host_leaks']}", flush=True)
            for s in web["samples"]:  # type: ignore[union-attr]
                print(f"  {s}", flush=True)
            figures.update({f"web_requests_{db}": web["requests"], f"web_internal_errors_{db}": internal,
                            f"web_tracebacks_{db}": web["tracebacks"],
                            f"web_unsecured_{db}": web["unsecured"],
                            f"web_host_leaks_{db}": web["host_leaks"], f"web_seconds_{db}": round(secs)})
    if a.backups > 0 or a.backups_pg > 0:
        from fuzz_backups import fuzz_backups

        figures.update(fuzz_backups(a, Generator, _core, START, PG_URL))
    print(json.dumps({k: figures[k] for k in ("inputs_sqlite", "internal_errors_sqlite",
                                              "inputs_pg", "internal_errors_pg")}
                     | {k: v for k, v in figures.items() if k.startswith(("web_", "backup"))}
                     | {k: v for k, v in figures.items() if k.startswith(("seconds", "per_second"))}))


if __name__ == "__main__":
    main()
