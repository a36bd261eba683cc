"""Console adapter: reads commands from a prompt or piped stdin, prints replies and
announcements to stdout.

`/as NAME` switches the acting member (members and roles come from the config),
`/time +3d` moves the console's clock and fires what fell due on the way, `/quit` leaves.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime
from typing import TextIO

from adapters.console.translate import MAX_STEP, parse_step, render
from bot.chat.render import clip
from bot.chat.text import clean
from bot.clock import ManualClock
from bot.config import Community, ConfigError, Settings
from bot.ports import CommunityId, CorePort, InboundMessage, Outbound, Platform
from bot.runtime import Runtime

PLATFORM = Platform("console")
# Where the console's clock stands (after `/time`, or from `--clock`), so a restart on the same
# database goes on from there instead of jumping back to the wall clock (deadlines would then
# seem not yet due).
CLOCK_KEY = "console:clock"
HELP = ("Console: /as NAME switches member, /time +3d moves the clock, /who lists members, "
        "/quit leaves. Commands start with {prefix} — try {prefix}help")


class ConsoleAdapter:
    """Drives the core from text lines; one line in, its replies and announcements out.

    The lifecycle of every adapter (`bot.ports.Adapter`): construct, `start`, then `run`
    reads the terminal until it ends, then `stop`. The terminal is the console's only
    source, so `run` calls the core directly, in the reading thread.

    Args:
        runtime: the runtime over the core; the core's clock must be a `ManualClock`
            (`/time` moves it).
        settings: the configuration; the first community with a `console:` section acts
            (the first community when none has one).
        community: the community whose console members act, instead of that one.
        out: where to print (stdout by default).

    Raises:
        ConfigError: the configuration has no community, or the core's clock cannot be moved.
    """

    platform = PLATFORM

    def __init__(self, runtime: Runtime, settings: Settings, *, community: Community | None = None,
                 out: TextIO | None = None) -> None:
        clock = runtime.core.clock
        if not isinstance(clock, ManualClock):
            raise ConfigError("console: the core's clock must be a manual one (commons-bot console "
                              "builds it so)")
        if community is None and not settings.communities:
            raise ConfigError("console: the configuration has no community")
        self.runtime = runtime
        self.core: CorePort = runtime.core
        self.clock = clock
        self.community = community or next((c for c in settings.communities if c.console),
                                           settings.communities[0])
        self.out = out or sys.stdout
        members = self.community.console.members if self.community.console else {}
        self.members = list(members)
        self.member = self.members[0] if self.members else "you"
        self._names: dict[int, str] = {}

    async def start(self) -> None:
        """Begin the console's outbox and go on from where its clock stood (see `CLOCK_KEY`)."""
        await self.runtime.call(self._open)

    def _open(self) -> None:
        self.core.outbox_begin(PLATFORM)
        moved = self.core.kv_get(CLOCK_KEY)
        if moved and datetime.fromisoformat(moved) > self.clock.now():
            self.clock.set(datetime.fromisoformat(moved))
        else:
            # Kept from the start, not only after `/time`: a clock started ahead of the wall
            # clock (`console --fresh --clock`) must not fall back to it on the next start.
            self.core.kv_set(CLOCK_KEY, self.clock.now().isoformat())

    async def stop(self) -> None:
        """Nothing to let go of: the terminal stays the user's."""

    async def send(self, message: Outbound) -> None:
        """Print one announcement or notice (the console prints its outbox itself, see
        `flush_outbox`; this is for a runtime that delivers it)."""
        self._show(message)

    def is_connected(self) -> bool:
        """A terminal is always there."""
        return True

    def print(self, text: str) -> None:
        """Write one block of output."""
        self.out.write(text + "\n")
        self.out.flush()

    def line(self, raw: str) -> bool:
        """Handle one input line; False when the console should stop."""
        text = clean(raw.rstrip("\n"))
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            return True
        if stripped.startswith("/"):
            return self._console_command(stripped)
        # One person's terminal: what is typed here is seen by nobody else.
        msg = InboundMessage(community=CommunityId(self.community.id), platform=PLATFORM,
                             space="console", sender=self.member, sender_name=self.member,
                             text=clip(text.replace("\\n", "\n"), 20000), private=True)
        replies = self.core.handle(msg)
        if not replies and not stripped.startswith(self.core.prefix):
            self.print(f"(not a command — commands start with {self.core.prefix}, "
                       f"try {self.core.prefix}help; /help for console commands)")
        for r in replies:
            self.print(render(r))
        self.flush_outbox()
        return True

    def flush_outbox(self) -> None:
        """Print announcements and notices the core queued."""
        # A terminal cannot refuse what is printed: taken and marked sent in one go.
        for o in self.core.drain_outbox(PLATFORM):
            self._show(o)

    def _show(self, o: Outbound) -> None:
        if o.kind == "update":
            return
        if o.kind == "notice" and o.member is not None and o.member not in self._names:
            ids = self.core.identities(o.member, PLATFORM)
            self._names[o.member] = ids[0] if ids else f"member {o.member}"
        self.print(render(o, self._names))

    def catch_up(self) -> int:
        """Fire what fell due since the last session (marked late), as a bot start does."""
        fired = self.core.process_due()
        self.flush_outbox()
        return fired

    def _console_command(self, text: str) -> bool:
        word, _, arg = text.partition(" ")
        arg = arg.strip()
        if word in ("/quit", "/exit"):
            return False
        if word == "/as":
            if not arg:
                self.print(f"✗ say who, like /as {self.members[0] if self.members else 'alice'}")
            elif self.members and arg not in self.members:
                self.print(f"✗ {arg} is not a console member — members: {', '.join(self.members)}")
            else:
                self.member = arg
                self.print(f"(you are now {arg})")
            return True
        if word == "/time":
            if not arg:
                self.print(f"(it is {self.clock.now():%Y-%m-%d %H:%M} UTC)")
                return True
            step = parse_step(arg)
            if step is None:
                self.print("✗ give a step forward like /time +3d, +12h or +30m")
                return True
            if step > MAX_STEP:
                self.print(f"✗ /time moves at most {MAX_STEP.days // 7}w (10 years) at a time "
                           "— give a shorter step like /time +52w")
                return True
            target = self.clock.now() + step
            # Print each deadline's announcements as it fires, in order.
            last = None
            while True:
                nxt = self.core.next_deadline()
                # The same deadline again means it could not fire (an error was logged):
                # move on rather than loop on it.
                if nxt is None or nxt > target or nxt == last:
                    break
                last = nxt
                before = self.clock.now()
                self.core.advance_to(max(nxt, before), self.clock.set)
                self.flush_outbox()
            self.core.advance_to(target, self.clock.set)
            self.core.kv_set(CLOCK_KEY, self.clock.now().isoformat())
            self.flush_outbox()
            self.print(f"(it is now {self.clock.now():%Y-%m-%d %H:%M} UTC)")
            return True
        if word == "/who":
            roles = self.community.console.members if self.community.console else {}
            self.print(", ".join(f"{m} ({', '.join(roles[m]) or 'contributor'})" for m in roles)
                       or "(no console members in the config)")
            return True
        if word == "/help":
            self.print(HELP.format(prefix=self.core.prefix))
            return True
        self.print(f"✗ unknown console command {text.split()[0][:30]} — "
                   + HELP.format(prefix=self.core.prefix))
        return True

    def run(self, stream: TextIO | None = None) -> int:
        """Read lines until end of input or `/quit` (after `start`). Interactive terminals
        get a prompt."""
        stream = stream or sys.stdin
        interactive = stream.isatty()
        if interactive:
            # Line editing and history at the prompt, where the platform has it.
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401
            self.print(f"commons-bot console — community {self.community.id}. "
                       + HELP.format(prefix=self.core.prefix))
        self.catch_up()
        while True:
            if interactive:
                try:
                    raw = input(f"{self.member}> ")
                except EOFError:
                    break
            else:
                raw = stream.readline()
                if not raw:
                    break
            if not self.line(raw):
                break
        return 0
