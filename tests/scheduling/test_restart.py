"""A bot process with pending deadlines is killed (SIGKILL); time moves past several of them;
the next process fires each one — effect and announcement — exactly once, marked late.

Real OS processes (`python -m bot scheduler`), on SQLite and PostgreSQL. Their clocks live
on the tests' timeline through COMMONS_CLOCK_OFFSET: the first starts at START, the next
ones three and a half days later.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from bot.clock import utcnow
from bot.store.models import Event, OutboxEntry
from tests.conftest import START, Chat, build
from tests.scheduling.procs import STARTED, BotProcess, write_config

D = timedelta(days=1)


def test_after_sigkill_each_missed_deadline_fires_once_marked_late(db_url, tmp_path):
    digest_at = START + D  # a cron line that fires once in this test: 2 December 12:00
    policies = {"claim_days": 3, "digest_cron": f"{digest_at:%M %H %d %m} *"}
    core, clock = build(db_url, **policies)
    chat = Chat(core, clock)
    chat.say("alice", "!offer Write the guide due:4d")          # due-date reminder at +2d
    chat.say("bob", "!claim T1")                                 # reminder +1d, expiry +3d
    chat.say("carol", f"!propose Live one closes:{(START + timedelta(seconds=2)).isoformat()}")
    chat.say("carol", "!propose Adopt a code of conduct closes:36h")  # nudge +12h, close +36h
    chat.say("dave", "!propose Later one closes:4d")            # nudge +3d, close +4d
    chat.say("fundco", "!fund Docs sprint budget:1000EUR closes:2d")
    chat.say("erin", "!pitch F1 Tutorial ask:500EUR")
    chat.say("bob", "!back B1 10")
    core.engine.dispose()
    config = write_config(tmp_path / "bot.yaml", db_url, **policies)
    to_start = (START - utcnow()).total_seconds()

    first = BotProcess(config, offset=to_start)
    try:
        # P1 closes two seconds in: by its job, or at start-up on a machine slower than that.
        if first.wait_for(STARTED).group(1) == "0":
            first.wait_for(re.compile(r"deadline demo:proposal_close:1: applied"))
    finally:
        first.kill()

    later = to_start + 3.5 * 86400
    second = BotProcess(config, offset=later)
    try:
        # The digest (day 1), P2 closes (1.5), F1 closes (2), T1's due date is near (2),
        # bob's claim expires (3), P3's nudge (3). The claim reminder and P2's nudge are
        # not sent: their own deadlines have passed.
        assert second.wait_for(STARTED).group(1) == "6"
    finally:
        second.kill()
    third = BotProcess(config, offset=later)
    try:
        assert third.wait_for(STARTED).group(1) == "0"
    finally:
        assert third.stop() == 0

    core, _ = build(db_url, **policies)
    with core.unit() as tx:
        s = tx.session
        events = dict(s.execute(select(Event.kind, func.count()).group_by(Event.kind)).all())
        rows = s.scalars(select(OutboxEntry).where(OutboxEntry.kind.in_(("announce", "notice")))
                         .order_by(OutboxEntry.id)).all()
    core.engine.dispose()
    assert {k: events.get(k, 0) for k in ("proposal.closed", "proposal.nudged", "call.closed",
                                          "need.due_soon", "claim.expired", "claim.reminded",
                                          "digest.posted")} == {
        "proposal.closed": 2, "proposal.nudged": 1, "call.closed": 1, "need.due_soon": 1,
        "claim.expired": 1, "claim.reminded": 0, "digest.posted": 1}

    def announced(start: str) -> list[bool]:
        texts = [(r.late, r.text.split(") ", 1)[1] if r.text.startswith("(late: ") else r.text)
                 for r in rows if r.kind == "announce"]
        return [late for late, text in texts if text.startswith(start)]

    assert announced("P1 closed") == [False]  # fired on time by the first process
    assert announced("P2 closed") == [True]
    assert announced("F1 closed") == [True]
    assert announced("bob's claim on T1 expired") == [True]
    assert announced("**Digest of Demo commons**") == [True]
    notices = [(r.member_id, r.text.split(" ")[0]) for r in rows if r.kind == "notice"]
    assert len(notices) == len(set(notices))  # nobody is told the same thing twice
    assert sum("is due on" in r.text for r in rows if r.kind == "notice") == 2  # alice and bob
    assert sum(r.text.startswith("P3 closes on") for r in rows if r.kind == "notice") == 6  # no one voted
