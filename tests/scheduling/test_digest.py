"""The digest: on its cron, once per instant across processes, what it says, how long it
gets, and `commons-bot digest`."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import yaml

from bot.__main__ import main
from bot.chat.render import MAX_REPLY, TRUNCATED
from bot.clock import ManualClock
from bot.config import ConfigError, load_settings, parse_settings
from bot.domain import cron
from bot.service.core import Core
from bot.service.deadlines import Due
from bot.store.db import make_engine
from tests.conftest import START

D = timedelta(days=1)
MONDAY = datetime(2026, 12, 7, 9, 0)


def announcements(out):  # type: ignore[no-untyped-def]
    return [o for o in out if o.kind == "announce"]


async def test_weekly_digest_is_posted_once_per_cron_instant(make_h, db_url):
    h = make_h()
    await h.say("alice", "!offer Write the guide #docs due:20d")
    await h.say("carol", "!propose Adopt a code of conduct closes:20d")
    h.outbox()
    await h.start(horizon=7 * D)
    assert h.jobs()[("digest", 0)] == MONDAY
    await h.advance(MONDAY - START)
    [digest] = h.outbox()
    assert digest.kind == "announce" and digest.ref is None and not digest.late
    assert digest.text.startswith("**Digest of Demo commons** — 2026-12-07")
    # Another process on the same database, at the same moment, posts nothing more.
    other = Core(h.core.settings, make_engine(db_url), ManualClock(MONDAY))
    assert other.process_due() == 0
    assert other.fire(Due(MONDAY, "digest", 0, "demo")) is False
    other.engine.dispose()
    assert h.events("digest.posted") == 1 and len(h.rows("announce")) == 3  # T1, P1, digest
    # The next Monday's is armed by the next window and posted at its time.
    await h.advance(7 * D)
    [second] = h.outbox()
    assert second.text.startswith("**Digest of Demo commons** — 2026-12-14") and not second.late
    assert h.events("digest.posted") == 2


async def test_digest_lists_free_needs_by_skill_most_urgent_first_then_proposals_and_calls(h):
    await h.say("alice", "!offer Redesign the site #web")
    await h.say("alice", "!offer Write the guide #docs due:10d")
    await h.say("alice", "!offer Fix a typo #docs due:3d")
    await h.say("alice", "!offer Sort the mail due:4d")
    await h.say("alice", "!offer Taken already #web")
    await h.say("bob", "!claim T5")
    await h.say("carol", "!propose Adopt a code of conduct closes:48h")
    await h.say("fundco", "!fund Docs sprint budget:1000EUR closes:30d")
    await h.say("dave", "!pitch F1 Tutorial ask:500EUR")
    h.outbox()
    h.core.post_digest("demo")
    [digest] = h.outbox()
    lines = digest.text.splitlines()
    assert lines[1] == "**Open needs with free slots** (4) — claim one with `!claim T…`"
    assert lines[2:9] == [
        "\\#docs",
        "- **T3** Fix a typo · \\#docs · 1 of 1 free · due 2026-12-04 12:00 UTC",
        "- **T2** Write the guide · \\#docs · 1 of 1 free · due 2026-12-11 12:00 UTC",
        "\\#web",
        "- **T1** Redesign the site · \\#web · 1 of 1 free",
        "other needs",
        "- **T4** Sort the mail · 1 of 1 free · due 2026-12-05 12:00 UTC",
    ]
    assert lines[9] == "**Being worked on** (1, no free slot): T5"
    assert lines[10].startswith("**Open proposals** (1)")
    assert lines[11].startswith("- **P1** Adopt a code of conduct — 0 agree") and "2d 0h left" in lines[11]
    assert lines[12].startswith("**Open funding calls** (1)")
    assert lines[13] == "- **F1** Docs sprint — budget 1000 EUR, 1 pitch — closes 2026-12-31 12:00 UTC"
    assert h.events("digest.posted") == 1


async def test_a_long_digest_is_cut_under_the_limit_with_a_marker(h):
    for i in range(40):
        await h.say("alice", f"!offer Need number {i} " + "with a long title " * 9 + f"#skill{i % 4}")
    h.outbox()
    h.core.post_digest("demo")
    [digest] = h.outbox()
    assert len(digest.text) <= MAX_REPLY
    last = digest.text.splitlines()[-1]
    assert last.startswith(TRUNCATED) and "more open needs" in last and "`!needs`" in last


async def test_an_empty_digest_says_how_to_start(h):
    h.core.post_digest("demo")
    [digest] = h.outbox()
    assert "Nothing is open right now" in digest.text and "`!offer <title> #skill`" in digest.text


def test_cron_lines_count_weekdays_as_cron_does():
    after = datetime(2026, 12, 1, 12, 0)  # a Tuesday
    assert cron.next_after("0 9 * * 1", after) == MONDAY  # 1 is Monday, not APScheduler's Tuesday
    assert cron.next_after("0 9 * * mon", after) == MONDAY
    assert cron.next_after("0 9 * * 0", after) == datetime(2026, 12, 6, 9, 0)
    assert cron.next_after("0 9 * * 7", after) == datetime(2026, 12, 6, 9, 0)
    assert cron.next_after("0 9 * * 5-7", after) == datetime(2026, 12, 4, 9, 0)
    assert cron.next_after("30 8 1 * *", after) == datetime(2027, 1, 1, 8, 30)
    assert cron.latest_between("0 9 * * mon", after, after + 20 * D) == datetime(2026, 12, 21, 9, 0)
    assert cron.latest_between("* * * * *", after, after + 400 * D + timedelta(seconds=90)) == \
        after + 400 * D + timedelta(minutes=1)
    assert cron.latest_between("0 9 * * mon", after, after + D) is None


@pytest.mark.parametrize("line", ["0 9 * * funday", "61 9 * * mon", "0 9 * mon"])
def test_a_bad_digest_cron_is_refused_with_its_key(line):
    cfg = {"communities": [{"id": "demo", "policies": {"digest_cron": line}}]}
    with pytest.raises(ConfigError) as exc:
        parse_settings(cfg, "bot.yaml")
    assert str(exc.value).startswith("bot.yaml: communities[0].policies.digest_cron: expected")


def _write_config(tmp_path, **extra) -> str:  # type: ignore[no-untyped-def]
    cfg = {"database_url": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
           "communities": [{"id": "demo", "name": "Demo commons",
                            "console": {"members": {"alice": []}}, **extra.pop("community", {})}],
           **extra}
    path = tmp_path / "bot.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_digest_command_prints_it_when_only_the_console_is_set_up(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COMMONS_DATABASE_URL", raising=False)
    path = _write_config(tmp_path)
    assert main(["digest", "--config", path]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Digest of Demo commons") and "Nothing is open right now" in out
    # The console's next session does not print it a second time.
    settings = load_settings(path)
    core = Core(settings, make_engine(settings.database_url), ManualClock())
    assert [o for o in core.take_outbox("console") if o.kind == "announce"] == []
    core.engine.dispose()


def test_digest_command_queues_it_for_a_running_bot(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COMMONS_DATABASE_URL", raising=False)
    path = _write_config(tmp_path, matrix={"homeserver": "http://127.0.0.1:1", "user_id": "@bot:example.org"},
                         community={"matrix": {"rooms": ["!room:example.org"]}})
    assert main(["digest", "--config", path]) == 0
    assert "digest of demo queued" in capsys.readouterr().out
    settings = load_settings(path)
    core = Core(settings, make_engine(settings.database_url), ManualClock())
    [digest] = core.take_outbox("matrix")
    assert digest.kind == "announce" and digest.text.startswith("**Digest of Demo commons**")
    assert core.take_outbox("matrix") == []
    core.engine.dispose()
