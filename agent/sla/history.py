"""Where the SLA engine reads the past from: per-series availability timelines.

A series is one check of one target as one agent saw it, for one service (the agent debounces
per service) or for none (the site itself). The engine asks for timelines, not samples, so a
reader may build long clean stretches without fetching every sample (agent.sla.influx).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from agent.sla.combine import from_samples
from agent.sla.timeline import AGENT_STATES, SlaState, Span, Timeline


@dataclass(frozen=True, slots=True, order=True)
class SeriesKey:
    check: str
    target: str
    service: str  # "" for the site's own verdicts
    agent: str


MaxAge = Callable[[str], int]
"""Seconds a target's sample holds (two of its poll intervals)."""


class History(Protocol):
    def timelines(self, span: Span, max_age: MaxAge) -> Mapping[SeriesKey, Timeline]:
        """Every series with data in `span` (or within its max age before it)."""
        ...

    def neighbours(self, span: Span) -> Mapping[str, frozenset[str]]:
        """LLDP: each host → the inventory hosts it saw as neighbours during `span`."""
        ...


@dataclass(frozen=True, slots=True)
class Observation:
    time: int
    check: str
    target: str
    state: int  # agent.availability.State
    service: str = ""
    agent: str = ""
    reason: str = ""

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.check, self.target, self.service, self.agent)


def to_state(value: int) -> SlaState:
    """The agent's integer state; anything else is a bad sample, taken as unknown."""
    return AGENT_STATES.get(value, SlaState.UNKNOWN)


Grouped = dict[SeriesKey, list[tuple[int, SlaState, str]]]
"""Each series' (time, state, reason) samples, sorted by time."""


def timelines_of(
    observations: Iterable[Observation], span: Span, max_age: MaxAge
) -> dict[SeriesKey, Timeline]:
    grouped: Grouped = {}
    for obs in observations:
        grouped.setdefault(obs.key, []).append((obs.time, to_state(obs.state), obs.reason))
    for samples in grouped.values():
        samples.sort(key=lambda s: s[0])
    return series_timelines(grouped, span, max_age)


def series_timelines(grouped: Grouped, span: Span, max_age: MaxAge) -> dict[SeriesKey, Timeline]:
    """The timeline over `span` of every series with a sample that covers part of it."""
    out = {}
    for key, samples in grouped.items():
        age = max_age(key.target)
        kept = [s for s in samples if span.start - age < s[0] < span.end]
        if kept:
            out[key] = from_samples(kept, span, age)
    return out


@dataclass
class MemoryHistory:
    """History from samples in memory: the tests' seam, and `netmon sla` on exported data."""

    observations: list[Observation] = field(default_factory=list)
    lldp: dict[str, frozenset[str]] = field(default_factory=dict)

    def timelines(self, span: Span, max_age: MaxAge) -> dict[SeriesKey, Timeline]:
        return timelines_of(self.observations, span, max_age)

    def neighbours(self, span: Span) -> dict[str, frozenset[str]]:
        return dict(self.lldp)
