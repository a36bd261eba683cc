"""Many members at once, each through its own connection: exactly one wins the last slot."""

import threading

from sqlalchemy import func, select

from bot.ports import CommunityId, InboundMessage, Platform
from bot.store.models import Backing, Claim
from tests.conftest import build

N = 50


def _race(core, texts_by_member: list[tuple[str, str]]) -> list[str]:
    """Send every (member, text) at the same instant from its own thread and connection."""
    barrier = threading.Barrier(len(texts_by_member))
    replies: list[str | None] = [None] * len(texts_by_member)

    def run(i: int, member: str, text: str) -> None:
        msg = InboundMessage(community=CommunityId("demo"), platform=Platform("matrix"),
                             space="room", sender=member, sender_name=member, text=text,
                             message_id=f"$race-{i}")
        barrier.wait()
        [out] = core.handle(msg)
        replies[i] = out.text

    threads = [threading.Thread(target=run, args=(i, m, t)) for i, (m, t) in enumerate(texts_by_member)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in replies)
    return replies  # type: ignore[return-value]


def test_fifty_members_claim_the_last_slot(db_url):
    core, _ = build(db_url)
    core.handle(InboundMessage(community=CommunityId("demo"), platform=Platform("console"),
                               space="c", sender="alice", sender_name="alice", text="!offer Last slot"))
    replies = _race(core, [(f"@m{i}:example.org", "!claim T1") for i in range(N)])
    winners = [r for r in replies if r.startswith("You claimed T1")]
    losers = [r for r in replies if r.startswith("✗ T1 is full (1 of 1 slots taken)")]
    assert len(winners) == 1, replies
    assert len(losers) == N - 1, [r for r in replies if r not in winners + losers]
    with core.unit() as tx:
        s = tx.session
        assert s.scalar(select(func.count()).select_from(Claim)) == 1
    core.engine.dispose()


def test_concurrent_backings_never_exceed_the_allowance(db_url):
    core, _ = build(db_url)

    def say(member: str, text: str) -> str:
        return core.handle(InboundMessage(community=CommunityId("demo"), platform=Platform("console"),
                                          space="c", sender=member, sender_name=member, text=text))[0].text

    say("fundco", "!fund Race budget:1000EUR closes:7d points:100")
    for i in range(N):
        assert say("carol", f"!pitch F1 Pitch {i} ask:10EUR").startswith(f"B{i + 1} is pitched")
    # One member backs 50 pitches with 10 points each, all at once: only 10 fit in 100 points.
    replies = _race(core, [("@bob:example.org", f"!back B{i + 1} 10") for i in range(N)])
    ok = [r for r in replies if r.startswith("You back")]
    refused = [r for r in replies if r.startswith("✗ you have 0 of 100 points left in F1")]
    assert len(ok) == 10 and len(refused) == N - 10, replies
    with core.unit() as tx:
        s = tx.session
        assert s.scalar(select(func.sum(Backing.points))) == 100
    core.engine.dispose()


def test_concurrent_votes_by_many_members_all_count(db_url):
    core, _ = build(db_url)
    core.handle(InboundMessage(community=CommunityId("demo"), platform=Platform("console"),
                               space="c", sender="alice", sender_name="alice", text="!propose Race"))
    replies = _race(core, [(f"@v{i}:example.org", "!vote P1 agree") for i in range(N)])
    assert all(r.startswith("Your vote on P1 is agree") for r in replies)
    [detail] = core.handle(InboundMessage(community=CommunityId("demo"), platform=Platform("console"),
                                          space="c", sender="alice", sender_name="alice",
                                          text="!proposal P1"))
    assert f"Counts: {N} agree" in detail.text
    core.engine.dispose()


def test_two_processes_share_the_outbox_and_each_announcement_is_taken_once(db_url):
    """Two bot processes (two cores, two engines) serving Matrix pump the same outbox."""
    first, _ = build(db_url)
    second, _ = build(db_url)
    for core in (first, second):
        core.outbox_begin("matrix")
    for i in range(40):
        first.handle(InboundMessage(community=CommunityId("demo"), platform=Platform("console"),
                                    space="c", sender="alice", sender_name="alice",
                                    text=f"!offer Need number {i}"))
    barrier = threading.Barrier(2)
    taken: list[list[str]] = [[], []]

    def pump(i: int, core) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        while batch := core.take_outbox("matrix", 3):
            taken[i].extend(o.text for o in batch if o.kind == "announce")

    threads = [threading.Thread(target=pump, args=(i, c)) for i, c in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    everything = taken[0] + taken[1]
    assert sorted(everything) == sorted({t for t in everything})  # nobody announced twice
    assert {t.split("**T", 1)[1].split("**")[0] for t in everything} == {str(n) for n in range(1, 41)}
    assert first.take_outbox("matrix") == [] and second.take_outbox("matrix") == []
    for core in (first, second):
        core.engine.dispose()
