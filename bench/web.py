"""The public board under load: page latency at 100,000 needs and 1,000,000 events.

Seeds a SQLite file with bulk inserts, starts `commons-bot web` as its own process, and
measures over HTTP: the board's first page, the log's first page and a far log page
(keyset: it should cost the same), each served again (the page cache holds a page until
the community's next event) and computed afresh (a new address each time); a static file
from the same server, the floor of the HTTP stack (this run's baseline); and the time
from a core commit in this process (another process, as a chat bot would be) to the
`change` event an SSE client receives, then the same with the board in the committing
process, where the core's change hook wakes it. The server's resident memory is read
from /proc. The last line is one JSON object.

Run: .venv/bin/python bench/web.py [--needs 100000] [--events 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import queue
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import ManualClock
from bot.config import parse_settings
from bot.ports import CommunityId, InboundMessage, Platform
from bot.service.core import Core
from bot.store.db import make_engine, upgrade

START = datetime(2026, 12, 1, 12, 0)
SKILLS = ["python", "web", "docs", "design", "rust", "ops", "translation", "testing", "ux", "data"]
KINDS = ["claim.made", "claim.renewed", "vote.cast", "pitch.backed", "claim.submitted", "watch.added"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(core: Core, needs: int, events: int) -> None:
    """Bulk rows straight into the tables (the shape commands would leave)."""
    for name in ("alice", "bob", "carol", "dave"):
        say(core, name, "!whoami")
    rnd = random.Random(7)
    raw = core.engine.raw_connection()
    cur = raw.cursor()
    members = [r[0] for r in cur.execute("SELECT id FROM members").fetchall()]
    cur.execute("BEGIN")
    rows, skills, claims = [], [], []
    far = datetime(9999, 12, 31)
    for n in range(1, needs + 1):
        r = rnd.random()
        state = "open" if r < 0.8 else ("done" if r < 0.95 else "cancelled")
        full = state == "open" and rnd.random() < 0.1
        submitted = state == "open" and not full and rnd.random() < 0.01
        due = START + timedelta(days=rnd.randint(1, 400)) if rnd.random() < 0.5 else None
        sk = rnd.sample(SKILLS, rnd.randint(1, 2))
        rows.append((n, "demo", n, f"Need number {n}", "", " ".join(sk), 5000, "EUR", 1,
                     1 if (full or submitted) else 0, 1 if (full or submitted) else 0, due,
                     due or far, 0, rnd.choice(members), None, state,
                     START - timedelta(minutes=needs - n), None if state == "open" else START, None))
        skills.extend((n, s) for s in sk)
        if full or submitted:
            claims.append((n, rnd.choice(members), "submitted" if submitted else "active", START,
                           START + timedelta(days=14), 0))
    cur.executemany("INSERT INTO needs (id, community, number, title, description, skills, reward_minor,"
                    " reward_currency, slots, taken, is_full, due_at, sort_due, due_reminded, offered_by,"
                    " call_id, state, created_at, closed_at, close_reason)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    cur.executemany("INSERT INTO need_skills (need_id, skill) VALUES (?,?)", skills)
    cur.executemany("INSERT INTO claims (need_id, member_id, state, claimed_at, expires_at, reminded)"
                    " VALUES (?,?,?,?,?,?)", claims)
    cur.execute("UPDATE communities SET next_need = ? WHERE id = 'demo'", (needs + 1,))
    batch = []
    for i in range(events):
        n = rnd.randint(1, needs)
        kind = "need.offered" if i < needs else rnd.choice(KINDS)
        batch.append(("demo", START + timedelta(seconds=i), rnd.choice(members), "matrix", kind,
                      f"T{n}", '{"member": 1}'))
        if len(batch) == 100_000:
            cur.executemany("INSERT INTO events (community, at, actor_id, platform, kind, object, details)"
                            " VALUES (?,?,?,?,?,?,?)", batch)
            batch.clear()
    if batch:
        cur.executemany("INSERT INTO events (community, at, actor_id, platform, kind, object, details)"
                        " VALUES (?,?,?,?,?,?,?)", batch)
    cur.execute("COMMIT")
    cur.execute("ANALYZE")
    raw.close()


_n = 0


def say(core: Core, member: str, text: str) -> str:
    global _n
    _n += 1
    msg = InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"), space="!r:x",
                         sender=member, sender_name=member, text=text, message_id=f"$b{_n}")
    return core.handle(msg)[0].text


def timed_get(conn: http.client.HTTPConnection, path: str) -> float:
    t = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    ms = (time.perf_counter() - t) * 1000
    assert resp.status == 200, (path, resp.status, body[:300])
    return ms


def percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[max(int(len(samples) * 0.99) - 1, 0)]


class SseClient(threading.Thread):
    """Reads `change` events from the board and records when each arrived."""

    def __init__(self, port: int, since: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.since = since
        self.arrivals: queue.Queue[float] = queue.Queue()
        self.ready = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", f"/c/demo/live?since={self.since}")
        resp = conn.getresponse()
        self.ready.set()
        while True:
            line = resp.fp.readline()
            if not line:
                return
            if line.startswith(b"event: change"):
                self.arrivals.put(time.perf_counter())


def live_latency(core: Core, port: int, rounds: int) -> float:
    committed: list[float] = []
    core.change_listeners.append(lambda c, refs: committed.append(time.perf_counter()))
    with core.engine.connect() as c:
        since = c.exec_driver_sql("SELECT max(id) FROM events").scalar() or 0
    client = SseClient(port, since)
    client.start()
    client.ready.wait(10)
    time.sleep(0.5)  # the stream is open and the watcher has had its first look
    lat = []
    rnd = random.Random(3)
    for i in range(rounds):
        # Changes come at any moment, not in step with the board's poll.
        time.sleep(rnd.uniform(0, 0.25))
        while not client.arrivals.empty():
            client.arrivals.get_nowait()
        committed.clear()
        say(core, "alice", f"!offer Live change {i} #web")
        got = client.arrivals.get(timeout=10)
        lat.append((got - committed[0]) * 1000)
    core.change_listeners.pop()
    return statistics.median(lat)


def in_process_latency(core: Core, settings, rounds: int) -> float:  # type: ignore[no-untyped-def]
    """The board inside the committing process, woken by the core's change hook."""
    from adapters.web.server import WebBoard

    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()

    async def make() -> WebBoard:
        b = WebBoard(SimpleNamespace(core=core), settings)
        await b.start()
        return b

    board = asyncio.run_coroutine_threadsafe(make(), loop).result(30)
    try:
        return live_latency(core, board.port or 0, rounds)
    finally:
        asyncio.run_coroutine_threadsafe(board.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--needs", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    url = f"sqlite:///{tmp / 'commons.sqlite3'}"
    port = free_port()
    cfg = {"database_url": url, "log_level": "WARNING",
           "communities": [{"id": "demo", "name": "Bench commons"}],
           "web": {"listen": f"127.0.0.1:{port}"}}
    (tmp / "web.yaml").write_text(json.dumps(cfg))
    settings = parse_settings(cfg)
    engine = make_engine(url)
    upgrade(engine)
    core = Core(settings, engine, ManualClock(START))
    t = time.perf_counter()
    seed(core, args.needs, args.events)
    print(f"seeded {args.needs} needs and {args.events} events in {time.perf_counter() - t:.1f} s")

    exe = Path(sys.executable).with_name("commons-bot")
    server = subprocess.Popen([str(exe), "web", "--config", str(tmp / "web.yaml")], cwd=tmp,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline() if server.stderr else ""
        assert "public board on" in line, line
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for path in ("/c/demo/", "/c/demo/log", "/static/board.css"):  # warm up
            for _ in range(20):
                timed_get(conn, path)
        board_p50, board_p99 = percentiles([timed_get(conn, "/c/demo/") for _ in range(args.requests)])
        # A new address each time: computed from the database, not held by the page cache.
        fresh_p50, fresh_p99 = percentiles([timed_get(conn, f"/c/demo/?fresh={i}")
                                            for i in range(args.requests)])
        log_p50, log_p99 = percentiles([timed_get(conn, "/c/demo/log") for _ in range(args.requests)])
        log_fresh_p50, _ = percentiles([timed_get(conn, f"/c/demo/log?fresh={i}")
                                        for i in range(args.requests)])
        far = f"/c/demo/log?before={args.events // 10}"
        far_p50, _ = percentiles([timed_get(conn, far) for _ in range(args.requests // 3)])
        need_p50, _ = percentiles([timed_get(conn, f"/c/demo/T{args.needs // 2}")
                                   for _ in range(args.requests // 3)])
        floor_p50, _ = percentiles([timed_get(conn, "/static/board.css") for _ in range(args.requests)])
        live_cross = live_latency(core, port, 40)
        rss = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    live_same = in_process_latency(core, settings.model_copy(update={"web": settings.web.model_copy(
        update={"listen": "127.0.0.1:0"})}), 40)
    core.engine.dispose()
    print(f"board first page:   p50 {board_p50:.2f} ms  p99 {board_p99:.2f} ms")
    print(f"board, not cached:  p50 {fresh_p50:.2f} ms  p99 {fresh_p99:.2f} ms")
    print(f"log first page:     p50 {log_p50:.2f} ms  p99 {log_p99:.2f} ms "
          f"(not cached: p50 {log_fresh_p50:.2f} ms)")
    print(f"log far page:       p50 {far_p50:.2f} ms (keyset: same cost as the first)")
    print(f"need page:          p50 {need_p50:.2f} ms")
    print(f"static file (floor): p50 {floor_p50:.2f} ms")
    print(f"live update:        p50 {live_cross:.1f} ms from another process (poll), "
          f"{live_same:.1f} ms in the bot's process (change hook)")
    print(f"board process RSS:  {rss:.1f} MB")
    print(json.dumps({
        "board_p50_ms": round(board_p50, 2), "board_p99_ms": round(board_p99, 2),
        "board_uncached_p50_ms": round(fresh_p50, 2), "board_uncached_p99_ms": round(fresh_p99, 2),
        "log_page_p50_ms": round(log_p50, 2), "log_page_uncached_p50_ms": round(log_fresh_p50, 2),
        "log_page_p99_ms": round(log_p99, 2),
        "log_far_page_p50_ms": round(far_p50, 2), "need_page_p50_ms": round(need_p50, 2),
        "static_floor_p50_ms": round(floor_p50, 2),
        "live_update_p50_ms": round(live_cross, 1), "live_update_same_process_p50_ms": round(live_same, 1),
        "rss_mb": round(rss, 1), "needs": args.needs, "events": args.events,
    }))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
