"""The issue's console session, end to end through the real `commons-bot console` with piped stdin."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SESSION = """\
/as alice
!offer Fix the login crash #python #web reward:50EUR
/as bob
!claim T1
!submit T1 https://example.org/pr/12
!approve T1
/as alice
!approve T1 thanks!
!ledger
!propose Adopt a code of conduct closes:2d quorum:2
/as bob
!vote P1 agree
/as carol
!vote P1 disagree
!vote P1 disagree too strict for us
/time +3d
/as bob
!venture Acme Coop pledge:10%
!revenue V1 24000EUR
/as fundco
!receive 2400EUR from:V1 pledge for the year
!fund Translation sprint budget:1000EUR closes:7d
/as carol
!pitch F1 Spanish docs ask:600EUR
/as bob
!back B1 60
/as fundco
!closecall F1
/as carol
!submit T2 https://example.org/docs/es
/as alice
!approve T2
/as fundco
!paid T2
!books
!log
"""


def run_console(tmp_path: Path, stdin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI in `tmp_path` (where it creates commons.sqlite3)."""
    exe = Path(sys.executable).with_name("commons-bot")
    env = {k: v for k, v in os.environ.items() if k != "COMMONS_DATABASE_URL"}
    return subprocess.run([str(exe), "console", "--config", str(ROOT / "config/example.yaml"), *extra],
                          input=stdin, capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env=env)


def test_the_whole_loop_in_a_terminal(tmp_path):
    proc = run_console(tmp_path, SESSION)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert proc.stderr == ""
    expected_in_order = [
        "T1 is offered and announced: Fix the login crash",
        "📣 New need T1 Fix the login crash · #python #web · 50 EUR",
        "You claimed T1.",
        "Your work on T1 is submitted",
        "✗ approve work needs the maintainer role",
        "Approved bob's work on T1 — 50 EUR enters the ledger.",
        "- bob 50 EUR (1 contribution)",
        "P1 is open until",
        "Your vote on P1 is agree.",
        "✗ a reason is required to disagree",
        "Your vote on P1 is disagree.",
        "📣 P1 closed: not passed (1 agree, 1 disagree)",
        "V1 Acme Coop is registered with you as its member; it pledges 10% of revenue",
        "pledged amount due: 2400 EUR.",
        "R1 recorded: 2400 EUR from V1 Acme Coop — operations fund now 1200 EUR, commons fund 1200 EUR.",
        "F1 is open until",
        "B1 is pitched to F1.",
        "You back B1 with 60 points",
        "B1 Spanish docs (60 points): funded 600 EUR → need T2, claimed by carol",
        "Unallocated: 400 EUR",
        "Approved carol's work on T2 — 600 EUR enters the ledger.",
        "Recorded: carol was paid 600 EUR for T2 by the foundation.",
        "Operations fund 1200 EUR · commons fund 600 EUR (reserved by open calls 0 EUR, "
        "available 600 EUR) · held in all 1800 EUR",
        "gives back 10% of declared revenue (pledged 10%)",
        "Payables owed: none",
        "Log, newest first",
    ]
    pos = 0
    for line in expected_in_order:
        found = out.find(line, pos)
        assert found >= 0, f"missing (in order) {line!r} in:\n{out}"
        pos = found
    # The state is in the SQLite file: a second run sees the ledger.
    again = run_console(tmp_path, "!ledger\n!task T1\n")
    assert "- bob 50 EUR (1 contribution)" in again.stdout
    assert "T1 Fix the login crash · #python #web · 50 EUR · done" in again.stdout


def test_console_commands_explain_themselves(tmp_path):
    out = run_console(tmp_path, "/as nobody\n/time soon\n/who\nhello\n/frob\n").stdout
    assert "✗ nobody is not a console member — members: alice, bob, carol, fundco" in out
    assert "✗ give a step forward like /time +3d" in out
    assert "alice (maintainer)" in out
    assert "(not a command — commands start with !" in out
    assert "✗ unknown console command /frob" in out
