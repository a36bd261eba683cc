"""The README's tour, as a new user types it: every change shows in `!log` in plain words and
in time order, `commons-bot audit` on that database exits 0, a figure changed by hand makes
it exit 1, and `commons-bot export` streams the same phrases."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.core.test_console_session import ROOT, run_console

CONFIG = str(ROOT / "config/example.yaml")

# Every change of the tour, newest first, as `!log` words it (pages 1 to 3).
LOG = [
    '[console] bob voted on P3 (hidden until it closes)',
    '[console] bob proposed P3 (hidden vote): Choose the new logo',
    '[bot] the bot cancelled T4: P2 did not pass (not passed)',
    '[bot] P2 closed: not passed as a significant decision (1 agree, 1 abstain)',
    '[bot] the members who had not voted on P2 were reminded it closes soon',
    '[console] bob voted abstain on P2',
    '[console] alice proposed need T4: Move the issues to the new forge — 80 EUR, held until P2 passes',
    '[console] alice voted agree on P2',
    '[console] alice proposed P2 (significant decision): Move to a new forge',
    '[console] alice stated the outcome of P1: We rewrite it with the objections in mind (review on …)',
    '[console] fundco recorded that the foundation paid carol 600 EUR for T2',
    '[console] T2 is done: every slot is approved',
    "[console] alice approved carol's work on T2 — 600 EUR",
    '[console] carol submitted work on T2: https://example.org/docs/es',
    '[console] F1 took 1000 EUR from the commons fund; 0 EUR of its reservation is available again',
    '[console] bob holds the claim on T3 as the pitcher of B2',
    "[console] F1's funded pitch B2 became need T3: German docs — 400 EUR, offered by fundco",
    '[console] carol holds the claim on T2 as the pitcher of B1',
    "[console] F1's funded pitch B1 became need T2: Spanish docs — 600 EUR, offered by fundco",
    '[console] F1 closed early by fundco: funded B1 600 EUR, B2 400 EUR; unallocated 0 EUR',
    '[console] alice backed B2 with 35 points',
    '[console] alice withdrew their points from B2',
    '[console] alice backed B2 with 20 points',
    '[console] bob backed B1 with 60 points',
    '[console] bob pitched B2 to F1: German docs — asks 450 EUR',
    '[console] carol pitched B1 to F1: Spanish docs — asks 600 EUR',
    '[console] fundco opened funding call F1: Translation sprint — budget 1000 EUR',
    '[console] F1 reserved 1000 EUR of the commons fund until it closes',
    '[console] fundco recorded receipt R1: 2400 EUR from V1 — 1200 EUR to operations, '
    '1200 EUR to the commons fund',
    '[console] bob declared 24000 EUR of revenue of V1 for 2026-12; 2400 EUR due by its pledge',
    '[console] bob registered venture V1: Acme Coop, pledging 10% of revenue',
    '[bot] P1 closed: not passed (1 agree, 1 disagree; quorum 2)',
    '[bot] the members who had not voted on P1 were reminded it closes soon',
    '[console] carol voted disagree on P1: too strict for us',
    '[console] bob voted agree on P1',
    '[console] alice proposed P1: Adopt a code of conduct',
    '[console] T1 is done: every slot is approved',
    "[console] alice approved bob's work on T1 — 50 EUR: thanks!",
    '[console] bob submitted work on T1: https://example.org/pr/12',
    '[console] bob claimed T1',
    '[console] alice offered T1: Fix the login crash — 50 EUR',
]
_REVIEW = re.compile(r"\(review on [^)]*\)")
_LOG_LINE = re.compile(r"^- (\d{4}-\d\d-\d\d \d\d:\d\d) UTC (\[.*)$")


def readme_tour() -> str:
    """The commands of the README's tour (what follows two spaces on a line is a comment)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## A short tour", 1)[1].split("```", 2)[1]
    return "".join(re.split(r"\s{2,}", line)[0] + "\n" for line in block.strip().splitlines())


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("commons-bot")
    return subprocess.run([str(exe), *args, "--config", CONFIG], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)


# The tour starts on a Saturday at noon, so the same deadlines fall on the way whatever day
# the test runs: two Monday digests (config/example.yaml) within its ten days, a revenue month
# of 2026-12.
TOUR_START = "2026-12-05T12:00"


def test_the_readme_tour_logs_every_change_in_plain_words_and_audits_clean(tmp_path):
    proc = run_console(tmp_path, readme_tour(), "--fresh", "--clock", TOUR_START)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "How it was divided" in out
    assert ("- Round 1: 1000 EUR over 95 points — B1 1000 EUR × 60/95 = 631.578947… EUR, more "
            "than its ask: capped at 600 EUR; B2 1000 EUR × 35/95 = 368.421052… EUR") in out
    assert "- Round 2: 400 EUR over 35 points — B2 400 EUR × 35/35 = 400 EUR" in out
    assert "- Rounded down to the cent: B1 600 EUR, B2 400 EUR; unallocated 0 EUR" in out

    logged = [m for line in out.splitlines() if (m := _LOG_LINE.match(line))]
    # The review date of an outcome follows the console's clock.
    assert [_REVIEW.sub("(review on …)", m.group(2)) for m in logged] == LOG
    times = [m.group(1) for m in logged]
    assert times == sorted(times, reverse=True)
    assert "digest" not in "\n".join(m.group(2) for m in logged)

    audited = cli(tmp_path, "audit")
    assert audited.returncode == 0, audited.stdout + audited.stderr
    # 41 changes and the two digests the bot posted on the way (kept in the record, not in !log).
    assert re.fullmatch(r"audit: 43 events replayed, \d+ figures match\n", audited.stdout)

    exported = cli(tmp_path, "export", "--what", "events", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    phrases = [_REVIEW.sub("(review on …)", r["phrase"]) for r in rows if r["kind"] != "digest.posted"]
    assert phrases == [line.split("] ", 1)[1] for line in reversed(LOG)]
    ledger = cli(tmp_path, "export", "--what", "ledger", "--format", "json")
    assert [json.loads(line)["amount"] for line in ledger.stdout.splitlines()] == ["50.00", "600.00"]
    books = cli(tmp_path, "export", "--what", "books", "--format", "json")
    [receipt] = [json.loads(line) for line in books.stdout.splitlines()]
    assert (receipt["record"], receipt["amount"], receipt["operations"], receipt["commons"],
            receipt["source"], receipt["state"]) == ("R1", "2400.00", "1200.00", "1200.00", "V1",
                                                     "recorded")

    # One contribution changed by hand: the audit names it and fails.
    with sqlite3.connect(tmp_path / "commons.sqlite3") as db:
        db.execute("UPDATE contributions SET reward_minor = 6000 WHERE need_id = 1")
    tampered = cli(tmp_path, "audit")
    assert tampered.returncode == 1
    assert ("ledger of bob (member 2) in EUR (total): the log gives 50 EUR, the database "
            "holds 60 EUR") in tampered.stdout


def test_export_to_a_file_and_bad_input_on_the_command_line(tmp_path):
    assert run_console(tmp_path, "/as alice\n!offer Fix the login crash reward:50EUR\n").returncode == 0
    out = tmp_path / "events.jsonl"
    proc = cli(tmp_path, "export", "--what", "events", "--format", "json", "--out", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert proc.stderr == f"1 events written to {out}\n"
    record = json.loads(out.read_text())
    assert record["phrase"] == "alice offered T1: Fix the login crash — 50 EUR"
    assert record["details"]["amount_minor"] == 5000

    bad = cli(tmp_path, "export", "--what", "events", "--since", "yesterday")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == ("--since 'yesterday' is not a date — write it like 2026-12-01 or "
                          "2026-12-01T18:00 (UTC)\n")
    unknown = cli(tmp_path, "audit", "--community", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr == f"{CONFIG}: no community 'nope' — communities: demo\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = cli(empty, "audit")
    assert missing.returncode == 2 and "run commons-bot db upgrade" in missing.stderr
