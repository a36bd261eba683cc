"""Two bot processes on one PostgreSQL, 200 deadlines due at the same moment: both run a job
for every one of them, and each deadline's effect and announcement happens exactly once.

Real separate OS processes (`python -m bot scheduler`), sharing one timeline through
COMMONS_CLOCK_OFFSET, so APScheduler fires the same 200 jobs in both at the same instant.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import utcnow
from bot.store.models import Event, OutboxEntry
from tests.conftest import START, build, drop_pg_schema, migrated_pg_url, require_pg
from tests.scheduling.conftest import YEARLY
from tests.scheduling.procs import OUTCOME, STARTED, BotProcess, write_config
from tests.scheduling.seed import seed


def _lead() -> timedelta:
    """Time for both processes to start and arm before the moment: at least 5 s, and four
    times what starting the interpreter with the bot's imports takes on this machine now (a
    loaded machine starts them slower; the test needs both armed, not a fixed speed)."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "bot", "--version"], check=True, capture_output=True)
    return timedelta(seconds=max(5.0, 4 * (time.monotonic() - t0)))


@pytest.mark.postgres
def test_two_processes_fire_200_simultaneous_deadlines_exactly_once(tmp_path):
    require_pg()
    url, schema = migrated_pg_url()
    procs: list[BotProcess] = []
    try:
        core, _ = build(url, digest_cron=YEARLY)
        lead = _lead()
        moment = START + lead
        seed(core.engine, now=START - timedelta(days=30), at=lambda i: moment,
             claims=60, proposals=100, calls=40)
        core.engine.dispose()
        config = write_config(tmp_path / "bot.yaml", url, digest_cron=YEARLY)
        offset = (START - utcnow()).total_seconds()
        procs = [BotProcess(config, offset), BotProcess(config, offset)]
        for p in procs:
            caught, armed = p.wait_for(STARTED).groups()
            assert (caught, armed) == ("0", "200"), f"a process started after the moment ({lead} ahead)"
        outcomes: list[Counter[str]] = []
        for p in procs:
            seen: dict[str, str] = {}
            while len(seen) < 200:
                m = p.wait_for(OUTCOME)
                seen[m.group(1)] = m.group(2)
            outcomes.append(Counter(seen.values()))
        # Every job ran in both processes; between them, each deadline applied once.
        assert [sum(c.values()) for c in outcomes] == [200, 200]
        assert outcomes[0]["applied"] + outcomes[1]["applied"] == 200, outcomes
        assert all(set(c) <= {"applied", "done"} for c in outcomes), outcomes
        assert [p.stop() for p in procs] == [0, 0]

        core, _ = build(url, digest_cron=YEARLY)
        with core.unit() as tx:
            s = tx.session
            events = dict(s.execute(select(Event.kind, func.count()).group_by(Event.kind)).all())
            per_ref = Counter(s.scalars(select(OutboxEntry.ref).where(OutboxEntry.kind == "announce")))
            notices = s.scalar(select(func.count()).select_from(OutboxEntry)
                               .where(OutboxEntry.kind == "notice"))
        core.engine.dispose()
        assert events == {"proposal.closed": 100, "claim.expired": 60, "call.closed": 40,
                          "need.offered": 40, "claim.made": 40}  # a funded need per call, claimed
        assert len(per_ref) == 200 and set(per_ref.values()) == {1}
        assert notices == 60  # each expired claimant told once
        print(f"applied per process: {outcomes[0]['applied']} + {outcomes[1]['applied']}")
    finally:
        for p in procs:
            if p.proc.poll() is None:
                p.kill()
        drop_pg_schema(schema)
