"""How fast the audit replays a log and the export streams one, and in how much memory.

    .venv/bin/python bench/record.py [--db postgresql://postgres@127.0.0.1:5432/test]

It writes a consistent history with bulk INSERTs — needs offered, claimed, submitted and
approved (some released and claimed again), proposals voted and closed with the consent
rule, funding calls backed and closed with the allocation rule, funded pitches becoming
claimed needs — as events *and* as the rows the commands would have left. Then, each in a
fresh process (so its peak RSS is its own):

- `audit` of a 100,000-event log, against the baseline of only reading those events;
- CSV export of 1,000,000 events, against the baseline of reading the same rows and
  writing them with `csv` without phrases.

Targets: `audit_s_100k` ≤ 10, `export_events_per_s` ≥ 50,000, `export_peak_rss_mb` ≤ 120.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CID = "demo"
MEMBERS = 300
CHUNK = 20000


class History:
    """A consistent history of one community, as event rows and table rows."""

    def __init__(self) -> None:
        from bot.domain.rules import PitchStake, Tally, allocate, consent_outcome

        self._stake, self._tally, self._allocate, self._outcome = (PitchStake, Tally, allocate,
                                                                   consent_outcome)
        self.t = datetime(2026, 1, 1)
        self.events: list[tuple] = []  # type: ignore[type-arg]
        self.rows: dict[str, list[dict]] = {k: [] for k in (  # type: ignore[type-arg]
            "needs", "claims", "contributions", "proposals", "votes", "funding_calls", "pitches",
            "backings")}
        self.n = {"need": 0, "claim": 0, "proposal": 0, "call": 0, "pitch": 0, "contribution": 0}

    def _tick(self) -> datetime:
        self.t += timedelta(seconds=7)
        return self.t

    def event(self, kind: str, obj: str, actor: int | None, **details) -> None:  # type: ignore[no-untyped-def]
        self.events.append((CID, self._tick(), actor, "console" if actor else "bot", kind, obj,
                            json.dumps(details)))

    def _next(self, what: str) -> int:
        self.n[what] += 1
        return self.n[what]

    def need(self, offerer: int, reward: int, *, call_id: int | None = None, pitch: str | None = None,
             claimant: int | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
        k = self._next("need")
        row = dict(id=k, community=CID, number=k, title=f"Need {k}", description="", skills="",
                   reward_minor=reward, reward_currency="EUR", slots=1, taken=0, is_full=False,
                   offered_by=offerer, call_id=call_id, state="open", created_at=self.t,
                   sort_due=datetime(9999, 12, 31), due_reminded=False, closed_at=None)
        self.rows["needs"].append(row)
        extra = {"pitch": pitch, "call": f"F{call_id}"} if pitch else {}
        self.event("need.offered", f"T{k}", None if pitch else offerer, title=row["title"],
                   amount_minor=reward, currency="EUR", slots=1, offered_by=offerer, **extra)
        return k, row

    def claim(self, need: dict, member: int, state: str, *, pitch: str | None = None) -> None:  # type: ignore[type-arg]
        cid = self._next("claim")
        self.rows["claims"].append(dict(id=cid, need_id=need["id"], member_id=member, state=state,
                                        claimed_at=self.t, expires_at=self.t + timedelta(days=14),
                                        reminded=False))
        extra = {"pitch": pitch} if pitch else {}
        self.event("claim.made", f"T{need['number']}", None if pitch else member, member=member,
                   expires=(self.t + timedelta(days=14)).isoformat(), **extra)

    def work(self, i: int) -> None:
        """A need worked through: offered, claimed, submitted, approved (or left active)."""
        offerer, worker, maintainer = 1 + i % 7, 10 + i % (MEMBERS - 10), 1 + (i + 1) % 7
        k, need = self.need(offerer, 5000 + i % 100)
        r = f"T{k}"
        if i % 5 == 4:
            quitter = 10 + (i + 3) % (MEMBERS - 10)
            self.claim(need, quitter, "released")
            self.event("claim.released", r, quitter, member=quitter)
            self.claim(need, worker, "active")
            need["taken"], need["is_full"] = 1, True
            return
        self.claim(need, worker, "approved")
        self.event("claim.submitted", r, worker, member=worker, submission="https://example.org/pr")
        self.event("claim.approved", r, maintainer, member=worker, amount_minor=need["reward_minor"],
                   currency="EUR", note=None)
        self.event("need.done", r, maintainer)
        self.rows["contributions"].append(dict(
            id=self._next("contribution"), community=CID, member_id=worker, need_id=k,
            reward_minor=need["reward_minor"], currency="EUR", approved_by=maintainer, at=self.t))
        need.update(taken=1, is_full=True, state="done", closed_at=self.t)

    def proposal(self, j: int) -> None:
        """A proposal with eight votes (one changed), closed by the consent rule."""
        pid = self._next("proposal")
        r = f"P{pid}"
        author = 1 + j % 20
        self.event("proposal.opened", r, author, text=f"Proposal {pid}", quorum=3)
        positions = ("agree", "agree", "abstain", "disagree", "agree", "block" if j % 9 == 0 else "agree",
                     "disagree", "agree")
        votes = {}
        for v, pos in enumerate(positions):
            m = 10 + (j * 3 + v) % (MEMBERS - 10)
            self.event("vote.cast", r, m, member=m, position=pos,
                       reason="because" if pos in ("disagree", "block") else None)
            votes[m] = pos
        tally = self._tally.of(list(votes.values()))
        outcome = self._outcome(tally, 3)
        self.event("proposal.closed", r, None, outcome=outcome, counts=tally.__dict__, quorum=3,
                   early=False)
        self.rows["proposals"].append(dict(id=pid, community=CID, number=pid, text=f"Proposal {pid}",
                                           author_id=author, closes_at=self.t, quorum=3,
                                           state="closed", outcome=outcome, nudged=True,
                                           created_at=self.t, closed_at=self.t))
        self.rows["votes"].extend(dict(proposal_id=pid, member_id=m, position=p, reason="",
                                       at=self.t) for m, p in votes.items())

    def call(self, f: int) -> None:
        """A call with four pitches, twenty backers (one withdraws), closed and allocated."""
        cid = self._next("call")
        r = f"F{cid}"
        budget = 100_000 + 7 * f
        self.event("call.opened", r, 5, title=f"Call {cid}", budget_minor=budget, currency="EUR",
                   closes=self.t.isoformat(), points=100)
        pitches = []
        for p in range(4):
            pid = self._next("pitch")
            ask = (30_000, 45_000, 25_000, 60_000)[p]
            by = 10 + (f + p) % (MEMBERS - 10)
            self.event("pitch.added", f"B{pid}", by, call=r, title=f"Pitch {pid}", ask_minor=ask,
                       currency="EUR", pitched_by=by)
            pitches.append(dict(id=pid, community=CID, number=pid, call_id=cid, title=f"Pitch {pid}",
                                description="", ask_minor=ask, pitched_by=by, state="open",
                                created_at=self.t, funded_minor=None, need_id=None))
        points: dict[int, int] = {p["id"]: 0 for p in pitches}
        for b in range(20):
            m = 10 + (f * 5 + b) % (MEMBERS - 10)
            p = pitches[b % 4] if b % 7 else pitches[0]
            pts = 10 + (b * 13 + f) % 80
            self.event("pitch.backed", f"B{p['id']}", m, call=r, member=m, points=pts)
            if b == 19:
                self.event("pitch.backed", f"B{p['id']}", m, call=r, member=m, points=0)
                continue
            points[p["id"]] += pts
            self.rows["backings"].append(dict(pitch_id=p["id"], member_id=m, call_id=cid, points=pts,
                                              at=self.t))
        shares, rest = self._allocate(budget, [self._stake(p["id"], p["ask_minor"], points[p["id"]])
                                               for p in pitches])
        self.event("call.closed", r, None, early=False, budget_minor=budget, currency="EUR",
                   points={f"B{p['id']}": points[p["id"]] for p in pitches},
                   allocation={f"B{p['id']}": shares[p["id"]] for p in pitches},
                   unallocated_minor=rest)
        self.rows["funding_calls"].append(dict(
            id=cid, community=CID, number=cid, title=f"Call {cid}", description="", budget_minor=budget,
            currency="EUR", points=100, closes_at=self.t, posted_by=5, state="closed",
            unallocated_minor=rest, created_at=self.t, closed_at=self.t))
        for p in pitches:
            share = shares[p["id"]]
            p.update(state="funded" if share else "unfunded", funded_minor=share)
            if share:
                k, need = self.need(5, share, call_id=cid, pitch=f"B{p['id']}")
                self.claim(need, p["pitched_by"], "active", pitch=f"B{p['id']}")
                need.update(taken=1, is_full=True)
                p["need_id"] = k
        self.rows["pitches"].extend(pitches)

    def build(self, events: int) -> History:
        """Add blocks of ten needs, two proposals and a call until `events` events."""
        i = 0
        while len(self.events) < events:
            for w in range(10):
                self.work(i * 10 + w)
            self.proposal(i * 2)
            self.proposal(i * 2 + 1)
            self.call(i)
            i += 1
        return self


def seed(url: str, events: int, *, tables: bool) -> int:
    """Migrate and fill a database; returns how many events it holds."""
    from sqlalchemy import insert

    from bot.store.db import make_engine, upgrade
    from bot.store.models import (
        Backing,
        Claim,
        CommunityRow,
        Contribution,
        FundingCall,
        Member,
        Need,
        Pitch,
        Proposal,
        Vote,
    )

    h = History().build(events)
    engine = make_engine(url)
    upgrade(engine)
    models = {"needs": Need, "claims": Claim, "contributions": Contribution, "proposals": Proposal,
              "votes": Vote, "funding_calls": FundingCall, "pitches": Pitch, "backings": Backing}
    with engine.begin() as conn:
        conn.execute(insert(CommunityRow), [dict(id=CID, name="Bench", next_need=h.n["need"] + 1,
                                                 next_proposal=h.n["proposal"] + 1,
                                                 next_call=h.n["call"] + 1, next_pitch=h.n["pitch"] + 1)])
        conn.execute(insert(Member), [dict(id=m, community=CID, display_name=f"member{m}",
                                           created_at=h.t) for m in range(1, MEMBERS + 1)])
        if tables:
            for name in ("funding_calls", "needs", "claims", "contributions", "proposals", "votes",
                         "pitches", "backings"):
                rows = h.rows[name]
                for i in range(0, len(rows), CHUNK):
                    conn.execute(insert(models[name]), rows[i:i + CHUNK])
        # The events through the driver: a million rows of prepared JSON text.
        mark = "?" if engine.dialect.name == "sqlite" else "%s"
        cur = conn.connection.cursor()
        sql = ("INSERT INTO events (community, at, actor_id, platform, kind, object, details) "
               f"VALUES ({', '.join([mark] * 7)})")
        for i in range(0, len(h.events), CHUNK):
            cur.executemany(sql, h.events[i:i + CHUNK])
        cur.close()
    engine.dispose()
    return len(h.events)


def _peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM; exec replaces the forked parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(task: str, url: str) -> None:
    from sqlalchemy import Text, cast, select

    from bot.store.models import Event
    from bot.store.reading import read_snapshot, reading_engine

    engine = reading_engine(url)
    e = Event.__table__
    out: dict = {}  # type: ignore[type-arg]
    if task == "audit":
        from bot.service.audit import audit

        t0, c0 = time.perf_counter(), time.process_time()
        report = audit(engine, CID)
        out = {"s": time.perf_counter() - t0, "events": report.events, "figures": report.figures,
               "differences": report.differences[:3]}
    elif task == "read":
        t0, c0 = time.perf_counter(), time.process_time()
        with read_snapshot(engine) as conn:
            n = sum(1 for _ in conn.execute(
                select(e.c.id, e.c.kind, e.c.object, e.c.actor_id, e.c.details).where(e.c.community == CID)
                .order_by(e.c.id).execution_options(stream_results=True, yield_per=5000)))
        out = {"s": time.perf_counter() - t0, "events": n}
    elif task == "export":
        from bot.views.export import write_export

        with open(os.devnull, "w", encoding="utf-8") as sink:
            t0, c0 = time.perf_counter(), time.process_time()
            n = write_export(engine, CID, "events", "csv", sink)
        out = {"s": time.perf_counter() - t0, "events": n}
    elif task == "plain_csv":
        with open(os.devnull, "w", encoding="utf-8") as sink, read_snapshot(engine) as conn:
            t0, c0 = time.perf_counter(), time.process_time()
            w = csv.writer(sink)
            n = 0
            for row in conn.execute(
                    select(e.c.id, e.c.at, e.c.platform, e.c.kind, e.c.object, e.c.actor_id,
                           cast(e.c.details, Text)).where(e.c.community == CID).order_by(e.c.id)
                    .execution_options(stream_results=True, yield_per=2000)):
                w.writerow(row)
                n += 1
        out = {"s": time.perf_counter() - t0, "events": n}
    out["cpu_s"] = time.process_time() - c0
    out["peak_rss_mb"] = _peak_rss_mb()
    engine.dispose()
    print(json.dumps(out))


def _run(task: str, url: str) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, __file__, "--child", task, url], check=True, env=env,
                          capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _database(pg: str | None, tmp: str) -> tuple[str, str | None]:
    if not pg:
        return f"sqlite:///{tmp}/{uuid.uuid4().hex[:8]}.sqlite3", None
    from sqlalchemy import create_engine, text

    from bot.store.db import normalise_url

    schema = "bench_" + uuid.uuid4().hex[:10]
    eng = create_engine(normalise_url(pg))
    with eng.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    eng.dispose()
    sep = "&" if "?" in pg else "?"
    return f"{normalise_url(pg)}{sep}options=-csearch_path%3D{schema}", schema


def _drop(pg: str | None, schema: str | None) -> None:
    if pg and schema:
        from sqlalchemy import create_engine, text

        from bot.store.db import normalise_url

        eng = create_engine(normalise_url(pg))
        with eng.begin() as c:
            c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        eng.dispose()


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--audit-events", type=int, default=100_000)
    parser.add_argument("--export-events", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
        url, schema = _database(args.db, tmp)
        try:
            t0 = time.perf_counter()
            n = seed(url, args.audit_events, tables=True)
            print(f"seeded {n} events and their rows in {time.perf_counter() - t0:.1f} s", flush=True)
            read = _run("read", url)
            aud = _run("audit", url)
            print(f"audit of {aud['events']} events: {aud['s']:.2f} s, {aud['figures']} figures match, "
                  f"differences {aud['differences']} (reading them only: {read['s']:.2f} s); "
                  f"peak RSS {aud['peak_rss_mb']:.0f} MB", flush=True)
        finally:
            _drop(args.db, schema)
        url, schema = _database(args.db, tmp)
        try:
            t0 = time.perf_counter()
            n = seed(url, args.export_events, tables=False)
            print(f"seeded {n} events in {time.perf_counter() - t0:.1f} s", flush=True)
            plain = _run("plain_csv", url)
            exp = _run("export", url)
            print(f"CSV export of {exp['events']} events: {exp['s']:.1f} s, "
                  f"{exp['events'] / exp['s']:,.0f} events/s, peak RSS {exp['peak_rss_mb']:.0f} MB "
                  f"(plain csv of the rows without phrases: {plain['events'] / plain['s']:,.0f} events/s, "
                  f"{plain['peak_rss_mb']:.0f} MB)", flush=True)
        finally:
            _drop(args.db, schema)
    scale = args.audit_events / 100_000
    print(json.dumps({
        "audit_s_100k": round(aud["s"] / scale, 2),
        "audit_ok": not aud["differences"],
        "read_s_100k": round(read["s"] / scale, 2),
        "export_events_per_s": round(exp["events"] / exp["s"]),
        # The machine is shared: per second of this process's own CPU, whatever the load.
        "export_events_per_cpu_s": round(exp["events"] / exp["cpu_s"]),
        "audit_cpu_s_100k": round(aud["cpu_s"] / scale, 2),
        "export_peak_rss_mb": round(exp["peak_rss_mb"], 1),
        "plain_csv_events_per_s": round(plain["events"] / plain["s"]),
        "db": "postgresql" if args.db else "sqlite",
    }))


if __name__ == "__main__":
    main()
