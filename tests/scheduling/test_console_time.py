"""The console's `/time`: what the scheduler would have done, in order, digests included."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

from adapters.console.adapter import ConsoleAdapter
from bot.runtime import Runtime
from tests.conftest import build


def _console(db_url):  # type: ignore[no-untyped-def]
    core, _clock = build(db_url)
    out = io.StringIO()
    console = ConsoleAdapter(Runtime(core), core.settings, community=core.settings.community("demo"),
                             out=out)
    asyncio.run(console.start())
    return console, out


def _positions(text: str, *needles: str) -> list[int]:
    found = [text.find(n) for n in needles]
    assert -1 not in found, [n for n, i in zip(needles, found, strict=True) if i == -1]
    return found


def test_time_fires_reminders_closings_and_digests_in_deadline_order(db_url):
    console, out = _console(db_url)
    for line in ["/as alice", "!offer Write the guide #docs due:5d", "/as bob", "!claim T1",
                 "/as carol", "!propose Adopt a code of conduct closes:48h",
                 "/as fundco", "!fund Docs sprint budget:1000EUR closes:3d"]:
        console.line(line)
    start = len(out.getvalue())
    console.line("/time +7d")
    week1 = out.getvalue()[start:]
    # nudge (day 1) < P1 closes (day 2) < F1 closes (day 3) = T1 due soon (day 3, after it)
    # < the digest (Monday 2026-12-07 09:00), then the clock stops at day 7.
    pos = _positions(week1, "✉ to alice: P1 closes on", "📣 P1 closed", "📣 F1 closed",
                     "✉ to alice: T1 (Write the guide) is due on", "📣 Digest of Demo commons — 2026-12-07",
                     "(it is now 2026-12-08 12:00 UTC)")
    assert pos == sorted(pos)
    assert week1.count("Digest of") == 1 and "late" not in week1
    start = len(out.getvalue())
    console.line("/time +7d")
    week2 = out.getvalue()[start:]
    # bob's reminder (day 12) < the digest (Monday 2026-12-14) < his claim expires (day 14,
    # the very instant the clock stops at).
    pos = _positions(week2, "✉ to bob: Your claim on T1 (Write the guide) expires on 2026-12-15",
                     "📣 Digest of Demo commons — 2026-12-14", "📣 bob's claim on T1 expired",
                     "(it is now 2026-12-15 12:00 UTC)")
    assert pos == sorted(pos)
    assert week2.count("Digest of") == 1 and week2.count("expired;") == 1
    console.core.engine.dispose()


def test_a_console_session_starts_by_catching_up(db_url):
    console, out = _console(db_url)
    console.line("/as alice")
    console.line("!propose Quick one closes:1h")
    console.clock.advance(timedelta(hours=2))  # a later session, as if the bot was off
    again = ConsoleAdapter(console.runtime, console.core.settings, community=console.community, out=out)
    asyncio.run(again.start())
    start = len(out.getvalue())
    again.run(io.StringIO(""))
    assert out.getvalue()[start:].startswith("📣 (late: was due 2026-12-01 13:00 UTC) P1 closed: not passed")
    console.core.engine.dispose()
