"""The scheduler on a ManualClock: every reminder, expiry and closing fires once, at its time,
and renew / release / submit / cancel / close-early move or drop the jobs at once.

START (tests.conftest) is Tuesday 2026-12-01 12:00 UTC.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.scheduling import REARM, run_deadline
from tests.conftest import START

D = timedelta(days=1)
H = timedelta(hours=1)


def notices(out):  # type: ignore[no-untyped-def]
    return [o for o in out if o.kind == "notice"]


def announcements(out):  # type: ignore[no-untyped-def]
    return [o for o in out if o.kind == "announce"]


async def test_start_arms_the_window_and_a_job_that_arms_the_next(h):
    await h.say("alice", "!offer Write docs #docs due:5d")
    await h.say("bob", "!claim T1")
    await h.say("carol", "!propose Adopt a code of conduct closes:48h")
    await h.say("fundco", "!fund Docs sprint budget:1000EUR closes:30h")
    sched = await h.start(horizon=3 * D)
    assert h.kinds() == {"proposal_nudge": START + D, "call_close": START + 30 * H,
                         "proposal_close": START + 2 * D, "need_due": START + 3 * D}
    # The claim's reminder (day 12) and expiry (day 14) wait for a later window.
    assert sched.window_end == START + 3 * D
    assert sched.armed()[REARM] == START + 3 * D


async def test_a_full_window_stops_at_its_last_deadline_and_the_next_one_follows(h):
    for i in range(6):
        await h.say("alice", f"!propose Proposal {i} closes:{25 + i}h")
    sched = await h.start(max_jobs=3)
    assert sorted(h.jobs().values()) == [START + H, START + 2 * H, START + 3 * H]  # the nudges
    assert sched.armed()[REARM] == START + 3 * H
    await h.advance(3 * H)
    assert h.events("proposal.nudged") == 3
    assert sorted(h.jobs().values()) == [START + 4 * H, START + 5 * H, START + 6 * H]
    await h.advance(4 * H)
    assert h.events("proposal.nudged") == 6
    assert not [o for o in h.rows("announce") if o.late]


async def test_claim_reminder_then_expiry_each_once_to_the_member_and_the_rooms(h):
    await h.say("alice", "!offer Fix the login crash #python")
    await h.say("bob", "!claim T1")
    h.outbox()
    await h.start()
    assert h.kinds() == {"claim_reminder": START + 12 * D, "claim_expiry": START + 14 * D}

    await h.advance(12 * D)
    [reminder] = h.outbox()
    assert reminder.kind == "notice" and reminder.member == h.member("bob")
    assert "expires on 2026-12-15 12:00 UTC" in reminder.text
    assert "`!renew T1`" in reminder.text and "`!release T1`" in reminder.text
    assert h.kinds() == {"claim_expiry": START + 14 * D}

    await h.advance(2 * D)
    out = h.outbox()
    [room] = announcements(out)
    assert room.text.startswith("bob's claim on T1 expired; the slot is free") and not room.late
    [dm] = notices(out)
    assert dm.member == h.member("bob") and "expired and was released" in dm.text
    assert h.jobs() == {}
    # The same job again (a retry, another process) changes nothing and says nothing.
    claim_id = 1
    assert await h.sched.run_deadline("demo", "claim_expiry", claim_id) == "done"
    assert await h.sched.run_deadline("demo", "claim_reminder", claim_id) == "done"
    assert h.outbox() == []
    assert (h.events("claim.reminded"), h.events("claim.expired")) == (1, 1)
    assert "1 of 1 free" in await h.say("carol", "!needs")


async def test_renew_moves_the_reminder_and_the_expiry(h):
    await h.say("alice", "!offer Fix the login crash")
    await h.say("bob", "!claim T1")
    await h.start()
    await h.advance(5 * D)
    await h.say("bob", "!renew T1")
    assert h.kinds() == {"claim_reminder": START + 17 * D, "claim_expiry": START + 19 * D}
    # A job armed before the renew (in another process, say) finds it is not due yet.
    assert await run_deadline(h.sched.id, "demo", "claim_reminder", 1) is None
    assert h.kinds() == {"claim_reminder": START + 17 * D, "claim_expiry": START + 19 * D}
    h.outbox()
    await h.advance(9 * D)  # past the old reminder (day 12) and expiry (day 14)
    assert h.outbox() == [] and h.events("claim.expired") == 0
    await h.advance(3 * D)
    [reminder] = h.outbox()
    assert "expires on 2026-12-20 12:00 UTC" in reminder.text


async def test_submit_release_and_cancel_drop_the_jobs(h):
    await h.say("alice", "!offer Write the guide due:10d slots:2")
    await h.say("bob", "!claim T1")
    await h.say("carol", "!claim T1")
    await h.start()
    assert sorted(k for k, _ in h.jobs()) == ["claim_expiry", "claim_expiry", "claim_reminder",
                                             "claim_reminder", "need_due"]
    await h.say("bob", "!submit T1 https://example.org/guide")  # submitted work does not expire
    assert sorted(k for k, _ in h.jobs()) == ["claim_expiry", "claim_reminder", "need_due"]
    await h.say("carol", "!release T1")
    assert h.kinds() == {"need_due": START + 8 * D}
    await h.say("alice", "!cancel T1 no longer needed")
    assert h.jobs() == {}
    h.outbox()
    await h.advance(20 * D)
    assert h.outbox() == []
    assert (h.events("claim.reminded"), h.events("claim.expired"), h.events("need.due_soon")) == (0, 0, 0)


async def test_proposal_nudges_members_who_have_not_voted_once_then_closes(h):
    await h.say("alice", "!propose Move the meeting to Thursdays closes:72h")
    await h.say("bob", "!vote P1 agree")
    await h.say("carol", "!needs")  # carol is a member, has not voted
    h.outbox()
    await h.start()
    assert h.kinds() == {"proposal_nudge": START + 2 * D, "proposal_close": START + 3 * D}
    await h.advance(2 * D)
    out = h.outbox()
    assert {o.member for o in out} == {h.member("alice"), h.member("carol")}
    assert all(o.kind == "notice" and "P1 closes on 2026-12-04 12:00 UTC and you have not voted" in o.text
               for o in out)
    await h.advance(H)
    assert h.outbox() == []
    await h.advance(23 * H)
    [closed] = h.outbox()
    assert closed.kind == "announce" and closed.text.startswith("P1 closed: passed (1 agree)")
    assert not closed.late and h.jobs() == {}
    assert (h.events("proposal.nudged"), h.events("proposal.closed")) == (1, 1)


async def test_closing_a_proposal_early_drops_its_jobs(h):
    await h.say("alice", "!propose Adopt the logo closes:72h")
    await h.start()
    assert set(h.kinds()) == {"proposal_nudge", "proposal_close"}
    await h.say("bob", "!vote P1 agree")
    assert set(h.kinds()) == {"proposal_nudge", "proposal_close"}
    await h.say("alice", "!close P1")
    assert h.jobs() == {}
    assert await h.sched.run_deadline("demo", "proposal_close", 1) == "done"
    h.outbox()
    await h.advance(4 * D)
    assert h.outbox() == [] and h.events("proposal.closed") == 1


async def test_funding_call_closes_with_allocation_and_funded_claims_never_expire(h):
    await h.say("fundco", "!fund Docs sprint budget:1000EUR closes:3d")
    await h.say("carol", "!pitch F1 Tutorial ask:600EUR")
    await h.say("dave", "!pitch F1 Website ask:600EUR")
    await h.say("bob", "!back B1 60")
    await h.say("alice", "!back B2 40")
    h.outbox()
    await h.start()
    assert h.kinds() == {"call_close": START + 3 * D}
    await h.advance(3 * D)
    [closed] = announcements(h.outbox())
    assert closed.text.startswith("F1 closed: Docs sprint")
    assert "funded 600 EUR → need T1, claimed by carol" in closed.text
    assert "funded 400 EUR → need T2, claimed by dave" in closed.text
    # The funded needs' claims are their pitchers' until released: no reminder, no expiry.
    assert h.jobs() == {}
    await h.advance(30 * D)
    assert h.events("claim.expired") == 0 and h.events("claim.reminded") == 0


async def test_closing_a_call_early_drops_its_job(h):
    await h.say("fundco", "!fund Docs sprint budget:1000EUR closes:3d")
    await h.start()
    assert set(h.kinds()) == {"call_close"}
    await h.say("fundco", "!closecall F1")
    assert h.jobs() == {}
    await h.advance(4 * D)
    assert h.events("call.closed") == 1


async def test_need_due_date_reminds_offerer_and_claimants_once(h):
    await h.say("alice", "!offer Translate the site due:5d slots:3")
    await h.say("bob", "!claim T1")
    await h.say("carol", "!claim T1")
    await h.say("dave", "!needs")
    h.outbox()
    await h.start()
    assert h.jobs()[("need_due", 1)] == START + 3 * D
    await h.advance(3 * D)
    out = h.outbox()
    assert sorted(o.member for o in out) == sorted(h.member(n) for n in ("alice", "bob", "carol"))
    assert all(o.kind == "notice" and "T1 (Translate the site) is due on 2026-12-06 12:00 UTC" in o.text
               for o in out)
    await h.advance(D)
    assert h.outbox() == [] and h.events("need.due_soon") == 1


async def test_deadlines_set_too_close_for_a_reminder_remind_nobody(h):
    await h.start()
    await h.say("alice", "!offer Quick fix due:1d")
    await h.say("alice", "!propose Quick decision closes:12h")
    h.outbox()
    await h.advance(H)
    assert h.outbox() == []
    assert (h.events("need.due_soon"), h.events("proposal.nudged")) == (0, 0)
    assert h.kinds() == {"proposal_close": START + 12 * H}


async def test_the_next_window_is_armed_when_the_current_one_ends(h):
    await h.say("alice", "!propose Longer one closes:50h")
    sched = await h.start(horizon=D)
    assert h.jobs() == {} and sched.armed()[REARM] == START + D
    await h.advance(26 * H)
    assert h.events("proposal.nudged") == 1
    assert h.kinds() == {} and sched.armed()[REARM] == START + 2 * D
    await h.advance(D)
    assert h.events("proposal.closed") == 1
    assert not [o for o in h.rows("announce") if o.late]


async def test_start_catches_up_once_in_deadline_order_marked_late(make_h):
    h = make_h()  # the weekly digest
    await h.say("alice", "!offer Write docs due:3d")
    await h.say("bob", "!claim T1")
    await h.say("carol", "!propose Adopt a code of conduct closes:48h")
    await h.say("fundco", "!fund Docs sprint budget:1000EUR closes:30h")
    h.outbox()
    h.clock.set(START + 20 * D)  # the bot was down for twenty days
    await h.start()
    report = h.report
    # F1 closes (day 1¼), P1 closes (day 2), bob's claim expires (day 14), and one digest
    # stands for the three Mondays missed (the latest, 2026-12-21 09:00). Reminders whose
    # deadline passed meanwhile (the nudge, the due date, the claim reminder) are not sent.
    assert report.caught_up == 4
    out = h.outbox()
    rooms = announcements(out)
    assert [o.text.split(") ", 1)[1].split()[0] for o in rooms] == ["F1", "P1", "bob's", "**Digest"]
    assert all(o.late and o.text.startswith("(late: was due ") for o in rooms)
    assert rooms[3].text.startswith("(late: was due 2026-12-21 09:00 UTC) **Digest of Demo commons**")
    assert [o.member for o in notices(out)] == [h.member("bob")]  # the expiry notice
    assert (h.events("claim.reminded"), h.events("need.due_soon"), h.events("proposal.nudged")) == (0, 0, 0)
    # A second start finds nothing left to do.
    await h.sched.shutdown()
    await h.start()
    assert h.report.caught_up == 0
    assert h.outbox() == []


async def test_apscheduler_fires_a_job_on_the_wall_clock(h):
    """Not paused: APScheduler itself runs the job when the wall clock gets there."""
    closes = (START + timedelta(seconds=1)).isoformat()
    await h.say("alice", f"!propose Decide now closes:{closes}")
    h.outbox()
    sched = await h.start(paused=False)
    assert h.kinds()["proposal_close"] == START + timedelta(seconds=1)
    done = asyncio.Event()
    outcomes = []

    def seen(jid: str, outcome: str) -> None:
        outcomes.append((jid, outcome))
        if jid == "demo:proposal_close:1":
            done.set()

    sched.fired_listeners.append(seen)
    # The manual clock does not flow: put it where the wall clock will be when the job runs.
    h.clock.set(START + timedelta(seconds=1))
    async with asyncio.timeout(15):
        await done.wait()
    assert ("demo:proposal_close:1", "applied") in outcomes
    assert h.events("proposal.closed") == 1
    [closed] = announcements(h.outbox())
    assert closed.text.startswith("P1 closed: not passed (no votes)") and not closed.late
