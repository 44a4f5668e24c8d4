"""The agent's own health on /metrics (prometheus-client, prefix ``netmon_``).

A registry per agent (never the library's global one), so tests and several agents in one
process stay apart. Labels are bounded: check names and result words, never host names.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from agent import __version__
from agent.collector import Target

_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


@dataclass(frozen=True)
class StatsReading:
    """One counter or gauge read from plain stats objects at scrape time."""

    name: str
    help: str
    kind: str  # "counter" | "gauge"
    read: Callable[[], float]


class _StatsCollector(Collector):
    def __init__(self, readings: Iterable[StatsReading]) -> None:
        self.readings = list(readings)

    def collect(self) -> Iterable[Any]:
        for reading in self.readings:
            family = CounterMetricFamily if reading.kind == "counter" else GaugeMetricFamily
            yield family(reading.name, reading.help, value=reading.read())


class SelfMetrics:
    """Poll observer for the scheduler, and the registry /metrics serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter(
            "netmon_polls",
            "Polls finished, by check and result",
            ["check", "result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "netmon_poll_errors", "Polls that did not succeed", ["check"], registry=self.registry
        )
        self.timeouts = Counter(
            "netmon_poll_timeouts", "Polls that timed out", ["check"], registry=self.registry
        )
        self.skipped_total = Counter(
            "netmon_polls_skipped",
            "Poll slots skipped because a poll overran its interval",
            ["check"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "netmon_poll_duration_seconds",
            "Time a poll took",
            ["check"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.targets = Gauge(
            "netmon_targets", "Targets scheduled, by check", ["check"], registry=self.registry
        )
        info = Info("netmon_build", "Version of the agent", registry=self.registry)
        info.info({"version": __version__, "python": platform.python_version()})

    def polled(self, target: Target, result: str, duration_s: float) -> None:
        self.polls.labels(target.check, result).inc()
        self.duration.labels(target.check).observe(duration_s)
        if result != "success":
            self.errors.labels(target.check).inc()
        if result == "timeout":
            self.timeouts.labels(target.check).inc()

    def skipped(self, target: Target, slots: int) -> None:
        self.skipped_total.labels(target.check).inc(slots)

    def add_readings(self, readings: Iterable[StatsReading]) -> None:
        self.registry.register(_StatsCollector(readings))
