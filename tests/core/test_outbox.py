"""The outbox delivers at least once (issue 9, item 6): an entry counts as delivered only
once the platform accepted it; failed sends are retried with backoff, then given up; what
a killed process had taken is taken again by another, and the platform's idempotency key
(the outbox id) makes every announcement arrive exactly once."""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.ports import Outbound
from bot.runtime import Runtime
from bot.service.outbox import OUTBOX_ATTEMPTS
from bot.store.models import OutboxDelivery, OutboxEntry

ROOT = Path(__file__).resolve().parents[2]


def test_an_entry_not_reported_sent_comes_back_after_its_lease(chat):
    chat.core.outbox_begin("rec")
    chat.say("alice", "!offer Lease")
    first = [o.outbox_id for o in chat.core.take_outbox("rec")]
    assert first and chat.core.take_outbox("rec") == []  # leased to the taker
    chat.clock.advance(chat.core.outbox.lease)
    again = chat.core.take_outbox("rec")
    assert [o.outbox_id for o in again] == first and "**T1**" in again[0].text
    chat.core.outbox_sent("rec", first)
    chat.clock.advance(timedelta(days=1))
    assert chat.core.take_outbox("rec") == []


class FlakyPlatform:
    """Refuses the first `fail` sends, then accepts; remembers what it accepted."""

    platform = "rec"

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.accepted: list[Outbound] = []

    async def send(self, message: Outbound) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("platform unavailable")
        self.accepted.append(message)


async def test_a_failed_send_is_retried_with_backoff_then_given_up(db_url, caplog):
    from tests.conftest import Chat, build

    core, clock = build(db_url)
    chat = Chat(core, clock)
    runtime = Runtime(core)
    flaky = FlakyPlatform(fail=2)
    runtime.attach(flaky)
    chat.say("alice", "!offer Retry me")
    assert await runtime.flush("rec") == 0 and flaky.accepted == []
    assert await runtime.flush("rec") == 0  # not due again before its backoff
    clock.advance(timedelta(seconds=5))
    assert await runtime.flush("rec") == 0  # second failure; the next wait is 10 s
    clock.advance(timedelta(seconds=9))
    assert await runtime.flush("rec") == 0
    clock.advance(timedelta(seconds=1))
    assert await runtime.flush("rec") >= 1
    [ann] = [o for o in flaky.accepted if o.kind == "announce"]
    assert "**T1**" in ann.text
    with core.unit() as tx:
        s = tx.session
        row = s.scalars(select(OutboxDelivery).where(OutboxDelivery.outbox_id == ann.outbox_id)).one()
        assert (row.state, row.attempts) == ("sent", 3)

    # A platform that never accepts: tried OUTBOX_ATTEMPTS times, then given up and logged.
    caplog.set_level(logging.WARNING)
    flaky.fail = 10**6
    chat.say("alice", "!offer Never delivered")
    for _ in range(OUTBOX_ATTEMPTS):
        assert await runtime.flush("rec") == 0
        clock.advance(timedelta(hours=1))
    assert await runtime.flush("rec") == 0
    with core.unit() as tx:
        s = tx.session
        ids = s.scalars(select(OutboxEntry.id).where(OutboxEntry.text.contains("Never delivered"))).all()
        rows = s.scalars(select(OutboxDelivery).where(OutboxDelivery.outbox_id.in_(ids))).all()
    assert [(r.state, r.attempts) for r in rows] == [("failed", OUTBOX_ATTEMPTS)]
    assert f"gave up outbox entry {ids[0]} after {OUTBOX_ATTEMPTS} attempts" in caplog.text
    assert "ConnectionError: platform unavailable" in caplog.text
    await runtime.close()
    core.engine.dispose()


class Child:
    """`python -m tests.core.outbox_child …`, its stdout lines on a queue."""

    def __init__(self, url: str, record: Path, die_at: int, offset: float, lines: queue.Queue) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.core.outbox_child", url, str(record), str(die_at), str(offset)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()

    def _read(self, lines: queue.Queue) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            lines.put(line.strip())


def _wait_accepted(lines: queue.Queue, want: set[str], timeout: float = 90) -> None:
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not want <= seen:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"not accepted within {timeout}s: {sorted(want - seen)}") from None
        if line.startswith("accepted "):
            seen.add(line.split()[1])


@pytest.mark.timeout(240)
def test_sigkill_between_take_and_send_loses_nothing_and_shows_nothing_twice(db_url, tmp_path):
    from tests.conftest import Chat, build

    core, clock = build(db_url)
    core.outbox_begin("rec")
    chat = Chat(core, clock)
    for i in range(8):
        chat.say("alice", f"!offer Crash need {i}")
    with core.unit() as tx:
        s = tx.session
        entries = [str(i) for i in s.scalars(select(OutboxEntry.id).order_by(OutboxEntry.id))]
    assert len(entries) == 8  # one announcement per need
    record = tmp_path / "platform.txt"
    lines: queue.Queue[str] = queue.Queue()
    # The first process takes every entry, the platform accepts three, and the process is
    # SIGKILLed right after the third was accepted, before it could record it sent.
    first = Child(db_url, record, 3, 0, lines)
    assert first.proc.wait(timeout=90) == -signal.SIGKILL
    # Two processes started after its lease ran out take the rest again.
    later = [Child(db_url, record, 0, core.outbox.lease.total_seconds() + 60, lines) for _ in range(2)]
    try:
        _wait_accepted(lines, set(entries))
    finally:
        for c in later:
            c.proc.send_signal(signal.SIGTERM)
    assert [c.proc.wait(timeout=30) for c in later] == [0, 0]
    verdicts = [line.split() for line in record.read_text().splitlines()]
    accepted = Counter(i for v, i in verdicts if v == "accepted")
    dropped = [i for v, i in verdicts if v == "dropped"]
    # Every announcement arrived exactly once; the one accepted just before the
    # kill was sent again (its lease ran out) and the platform dropped that repeat.
    assert sorted(accepted) == sorted(entries) and set(accepted.values()) == {1}
    assert dropped == [entries[2]]
    with core.unit() as tx:
        s = tx.session
        states = Counter(s.scalars(select(OutboxDelivery.state).where(OutboxDelivery.platform == "rec")))
    assert states == {"sent": len(entries)}
    core.engine.dispose()
