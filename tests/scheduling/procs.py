"""Bot processes for tests: `python -m bot scheduler` as a real OS process, read line by line.

The process logs to stderr; a reader thread puts each line on a queue, so a test waits for
the line that says something happened (with a timeout) instead of sleeping or polling.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
STARTED = re.compile(r"scheduler started: caught up (\d+) deadlines, (\d+) jobs armed")
OUTCOME = re.compile(r"deadline (\S+): (applied|done|later|failed)")


def write_config(path: Path, db_url: str, **policies) -> Path:  # type: ignore[no-untyped-def]
    """A config with the demo community only (no chat platform) and DEBUG logs."""
    path.write_text(yaml.safe_dump({
        "database_url": db_url, "log_level": "DEBUG",
        "communities": [{"id": "demo", "name": "Demo commons", "policies": policies,
                         "console": {"members": {"alice": []}}}],
    }))
    return path


class BotProcess:
    """`python -m bot scheduler --config …` with its clock shifted by `offset` seconds."""

    def __init__(self, config: Path, offset: float = 0.0) -> None:
        # PYTHONFAULTHANDLER: on a timeout the test sends SIGABRT and the failure shows
        # where every thread of the bot was.
        env = {**os.environ, "COMMONS_CLOCK_OFFSET": str(offset), "PYTHONUNBUFFERED": "1",
               "PYTHONFAULTHANDLER": "1"}
        env.pop("COMMONS_DATABASE_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "scheduler", "--config", str(config)],
                                     cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 30.0) -> re.Match[str]:
        """The first line matching `pattern` from now on; fails on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern.pattern!r} within {timeout}s:\n"
                                     + "\n".join(self.log[-30:]) + self._dump()) from None
            if line is None:
                raise AssertionError(f"the bot exited ({self.proc.wait()}) before "
                                     f"{pattern.pattern!r}:\n" + "\n".join(self.log[-30:]))
            self.log.append(line)
            m = pattern.search(line)
            if m:
                return m

    def _dump(self) -> str:
        """Make a stuck bot print its threads' stacks, and return them."""
        if self.proc.poll() is not None:
            return ""
        self.proc.send_signal(signal.SIGABRT)
        self.proc.wait(timeout=10)
        rest = []
        while (line := self.lines.get(timeout=10)) is not None:
            rest.append(line)
        return "\n--- the bot's threads ---\n" + "\n".join(rest[-150:])

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM: the bot's own clean shutdown; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)
