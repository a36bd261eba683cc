"""A bot process that pumps the outbox of platform `rec` to a recording "platform" (used by
tests/core/test_outbox.py).

`python -m tests.core.outbox_child DB_URL RECORD_FILE DIE_AT OFFSET_SECONDS`

The recording platform behaves like Matrix and Discord with an idempotency key: it keeps
what it accepted in RECORD_FILE (one `accepted ID` line each) and drops a repeat of an
outbox id it accepted already (a `dropped ID` line). With DIE_AT > 0 the process SIGKILLs
itself right after the platform accepted its DIE_AT-th message, before the runtime can
record it as sent, with the rest of its batch taken and not sent.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sys
from datetime import timedelta

from bot.clock import OffsetClock
from bot.ports import Outbound
from bot.runtime import Runtime
from bot.service.core import Core
from bot.store.db import make_engine
from tests.conftest import make_settings


class RecordingPlatform:
    """Accepts each outbox id once, across processes (the file is the platform's memory)."""

    platform = "rec"

    def __init__(self, path: str, die_at: int) -> None:
        self.path = path
        self.die_at = die_at
        self.sends = 0

    async def send(self, message: Outbound) -> None:
        verdict = await asyncio.to_thread(self._record, message)
        self.sends += 1
        print(f"{verdict} {message.outbox_id}", flush=True)
        if self.sends == self.die_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def _record(self, message: Outbound) -> str:
        with open(self.path, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            accepted = {line.split()[1] for line in f if line.startswith("accepted ")}
            verdict = "dropped" if str(message.outbox_id) in accepted else "accepted"
            f.write(f"{verdict} {message.outbox_id}\n")
            f.flush()
            os.fsync(f.fileno())
        return verdict


async def main(url: str, path: str, die_at: int, offset: float) -> None:
    engine = make_engine(url)
    core = Core(make_settings(url), engine, OffsetClock(timedelta(seconds=offset)))
    runtime = Runtime(core)
    runtime.attach(RecordingPlatform(path, die_at))
    print("pumping", flush=True)
    # Runs until the test ends it with SIGTERM (or it kills itself).
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runtime.close()
    engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
