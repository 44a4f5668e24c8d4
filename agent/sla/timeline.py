"""Timelines: what state a check, a component or a service was in, second by second.

A timeline is a list of contiguous segments ``[start, end)`` in whole Unix seconds that covers
its range exactly. Everything the SLA engine does is an overlay of timelines, evaluated on the
union of their breakpoints, so every figure is a sum of exact segment lengths: there is no
sampling, no rounding and no averaging of percentages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum


class SlaState(Enum):
    """The state of one second of a timeline (the report's vocabulary)."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    #: No data: never charged as down, and left out of the availability.
    UNKNOWN = "unknown"
    #: Inside a maintenance window: left out of the availability.
    MAINTENANCE = "maintenance"
    #: Down because the upstream link it hangs off was down: charged to that link instead.
    UPSTREAM = "upstream"
    #: Outside the service calendar (nights, weekends, holidays of a business-hours service).
    EXCLUDED = "excluded"


#: The agent's availability.state integers (agent.availability.State).
AGENT_STATES = {0: SlaState.UP, 1: SlaState.DEGRADED, 2: SlaState.DOWN}


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"span ends before it starts: {self.start}..{self.end}")

    @property
    def seconds(self) -> int:
        return self.end - self.start

    def overlap(self, other: Span) -> int:
        return max(0, min(self.end, other.end) - max(self.start, other.start))


@dataclass(frozen=True, slots=True)
class Segment:
    start: int
    end: int
    state: SlaState
    #: Why: the failed poll's reason, the upstream host, the maintenance window's name.
    cause: str = ""

    @property
    def seconds(self) -> int:
        return self.end - self.start


Timeline = list[Segment]


def constant(span: Span, state: SlaState, cause: str = "") -> Timeline:
    return [Segment(span.start, span.end, state, cause)] if span.seconds else []


def coalesce(segments: Iterable[Segment]) -> Timeline:
    """Adjacent segments with the same state and cause merged; empty ones dropped."""
    out: Timeline = []
    for seg in segments:
        if seg.end <= seg.start:
            continue
        last = out[-1] if out else None
        if last and last.end == seg.start and last.state == seg.state and last.cause == seg.cause:
            out[-1] = Segment(last.start, seg.end, seg.state, seg.cause)
        else:
            out.append(seg)
    return out


Choose = Callable[[Sequence[Segment]], tuple[SlaState, str]]


def overlay(timelines: Sequence[Timeline], span: Span, choose: Choose) -> Timeline:
    """One timeline from several over `span`: `choose` decides each elementary segment from
    the segments of every input that cover it. Inputs must each cover `span` exactly."""
    if not timelines:
        return []
    cuts = sorted({span.start, span.end, *(s.start for t in timelines for s in t)})
    cuts = [c for c in cuts if span.start <= c <= span.end]
    positions = [0] * len(timelines)
    covering = [t[0] for t in timelines]
    out: list[Segment] = []
    run_start, run_state, run_cause = span.start, None, ""
    for start in cuts[:-1]:
        for i, timeline in enumerate(timelines):
            if covering[i].end <= start:
                while timeline[positions[i]].end <= start:
                    positions[i] += 1
                covering[i] = timeline[positions[i]]
        state, cause = choose(covering)
        if state is not run_state or cause != run_cause:
            if run_state is not None:
                out.append(Segment(run_start, start, run_state, run_cause))
            run_start, run_state, run_cause = start, state, cause
    if run_state is not None:
        out.append(Segment(run_start, span.end, run_state, run_cause))
    return out


def clip(timeline: Timeline, span: Span) -> Timeline:
    return coalesce(
        Segment(max(s.start, span.start), min(s.end, span.end), s.state, s.cause)
        for s in timeline
        if s.end > span.start and s.start < span.end
    )


def spans_timeline(
    spans: Iterable[Span], span: Span, inside: SlaState, outside: SlaState, cause: str = ""
) -> Timeline:
    """A timeline that is `inside` during `spans` (merged, clipped) and `outside` elsewhere."""
    out: list[Segment] = []
    cursor = span.start
    for s in merge_spans(spans):
        start, end = max(s.start, span.start), min(s.end, span.end)
        if end <= start:
            continue
        out.append(Segment(cursor, start, outside))
        out.append(Segment(start, end, inside, cause))
        cursor = end
    out.append(Segment(cursor, span.end, outside))
    return coalesce(out)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, s.end)):
        if merged and s.start <= merged[-1].end:
            if s.end > merged[-1].end:
                merged[-1] = Span(merged[-1].start, s.end)
        else:
            merged.append(s)
    return merged
