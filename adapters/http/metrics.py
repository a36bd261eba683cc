"""Prometheus metrics of one bot process, through `prometheus-client`.

Commands are counted as they run (the core's `command_observer` hook) in plain integers
under the GIL — no lock, no I/O, about a microsecond — and handed to `prometheus-client`
as counter and histogram families when Prometheus scrapes. Everything read from the
database — outbox backlog, deadlines, the commons' figures — is queried only then too.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from bot.ports import FAR, CommandRun, CorePort

# Latency buckets for a command: a SQLite command takes about 1 ms, a slow one a second.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The metrics of one core, in their own registry (so tests can make several).

    Args:
        core: the core whose commands and database are measured.
        connected: platform → a function telling whether it is connected now.
    """

    def __init__(self, core: CorePort, connected: dict[str, Callable[[], bool]]) -> None:
        self.core = core
        self.connected = connected
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_CommandCollector(self))
        self.registry.register(_DatabaseCollector(self))
        # (command, outcome) → count; command → [count per bucket (+Inf last), total seconds].
        # A command's first use adds its keys; a scrape reads copies.
        self.counts: dict[tuple[str, str], int] = {}
        self.latency: dict[str, list[float]] = {}

    def install(self) -> None:
        """Start counting the core's commands."""
        self.core.command_observer = self.observe

    def uninstall(self) -> None:
        """Stop counting."""
        if self.core.command_observer == self.observe:
            self.core.command_observer = None

    def observe(self, run: CommandRun) -> None:
        """Count one handled command (called by the core after each command)."""
        if not run.replies:
            return  # not a command
        name, outcome, seconds = run.command, run.outcome, run.seconds
        key = (name, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1
        hist = self.latency.get(name)
        if hist is None:
            hist = self.latency[name] = [0.0] * (len(BUCKETS) + 2)
        hist[bisect_left(BUCKETS, seconds)] += 1
        hist[-1] += seconds

    def render(self) -> bytes:
        """The text exposition format (blocking: reads the database)."""
        return generate_latest(self.registry)


class _CommandCollector:
    """The command counts and latencies, as Prometheus families."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> list[object]:
        return []

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        counts = CounterMetricFamily("commons_commands", "Commands handled, by name and outcome",
                                     labels=["command", "outcome"])
        for (name, outcome), n in sorted(dict(self.m.counts).items()):
            counts.add_metric([name, outcome], n)
        yield counts
        latency = HistogramMetricFamily("commons_command_seconds", "Time to handle a command",
                                        labels=["command"])
        for name, hist in sorted(dict(self.m.latency).items()):
            hist = list(hist)
            cumulative, buckets = 0.0, []
            for bound, n in zip((*[str(b) for b in BUCKETS], "+Inf"), hist[:-1], strict=True):
                cumulative += n
                buckets.append((bound, cumulative))
            latency.add_metric([name], buckets, sum_value=hist[-1])
        yield latency


class _DatabaseCollector:
    """Gauges read from the database at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> list[object]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        core = self.m.core
        connected = GaugeMetricFamily("commons_platform_connected",
                                      "1 while the platform is connected", labels=["platform"])
        for platform, is_connected in sorted(self.m.connected.items()):
            connected.add_metric([platform], 1.0 if is_connected() else 0.0)
        yield connected
        backlog = GaugeMetricFamily("commons_outbox_backlog",
                                    "Announcements and notices not yet taken, per platform",
                                    labels=["platform"])
        figures = {name: GaugeMetricFamily(f"commons_{name}", text, labels=["community"]) for name, text in (
            ("open_needs", "Needs open"), ("active_claims", "Claims being worked on or in review"),
            ("open_proposals", "Proposals open for votes"), ("open_funding_calls", "Funding calls open"))}
        got = core.figures(sorted(self.m.connected))
        for platform, n in got.backlog.items():
            backlog.add_metric([platform], n)
        for name, family in figures.items():
            per_community = got.counts.get(name, {})
            for c in core.settings.communities:
                family.add_metric([c.id], per_community.get(c.id, 0))
        yield backlog
        yield from figures.values()
        now = core.clock.now()
        pending = core.due(until=FAR)
        due = GaugeMetricFamily("commons_deadlines_pending", "Deadlines not yet applied", labels=["state"])
        overdue = sum(1 for d in pending if d.at <= now)
        due.add_metric(["overdue"], overdue)
        due.add_metric(["upcoming"], len(pending) - overdue)
        yield due
