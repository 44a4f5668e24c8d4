"""Availability: the verdict of every poll of every check, debounced per service.

Each poll of a target (host × check) yields one ``availability`` sample per service the host
belongs to (or one without a service): ``up`` says whether this poll succeeded; ``state`` is
the debounced verdict the dashboards and the SLA engine use:

- **ok**: the check succeeded and nothing is degraded;
- **degraded**: the check succeeded but a quality threshold was crossed (slow, certificate
  close to expiry, a videoconference path too lossy), or it failed fewer times in a row than
  the service's ``down_after`` — a single lost poll is not an outage;
- **down**: it failed ``down_after`` times in a row, and stays down until ``up_after``
  successes in a row.

How a poll is judged is the collector's business: a collector may define
``assess(target, samples) -> Assessment``; otherwise the poll is up when its result sample
(the one with ``result_code``) says success, and its latency is that sample's
``response_time``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from agent.collector import Target
from agent.results import Result
from agent.samples import Sample


class State(IntEnum):
    OK = 0
    DEGRADED = 1
    DOWN = 2

    @property
    def word(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Assessment:
    """One poll judged: did it succeed, how fast, and what is wrong (if anything).

    ``problems`` says why the poll failed when ``up`` is false, and what is degraded when
    ``up`` is true (an empty tuple then means ok).
    """

    up: bool
    latency_s: float | None = None
    problems: tuple[str, ...] = ()


Assess = Callable[[Target, Sequence[Sample]], Assessment]


def result_sample(samples: Sequence[Sample]) -> Sample | None:
    """The poll's result sample: the first one carrying ``result_code``."""
    return next((s for s in samples if "result_code" in s.fields), None)


def default_assessment(target: Target, samples: Sequence[Sample]) -> Assessment:
    sample = result_sample(samples)
    if sample is None:
        return Assessment(False, None, ("no result from the collector",))
    code = Result(int(sample.fields["result_code"]))
    latency = sample.fields.get("response_time")
    latency_s = float(latency) if isinstance(latency, int | float) else None
    if code is Result.SUCCESS:
        return Assessment(True, latency_s)
    return Assessment(False, latency_s, (code.tag,))


@dataclass(frozen=True)
class Thresholds:
    """How many polls in a row make a change of state (per service, from the catalogue)."""

    down_after: int = 1
    up_after: int = 1


@dataclass
class _Track:
    state: State = State.OK
    failures: int = 0
    successes: int = 0


@dataclass
class AvailabilityTracker:
    """Turns each poll into ``availability`` samples; one state machine per target × service.

    ``services`` maps a host to the services it is a component of, with their thresholds;
    a host in no service gets one sample without the ``service`` tag, judged by
    ``default_thresholds``.
    """

    services: Mapping[str, Sequence[tuple[str, Thresholds]]] = field(default_factory=dict)
    assessors: Mapping[str, Assess] = field(default_factory=dict)
    default_thresholds: Thresholds = Thresholds()
    _tracks: dict[tuple[str, str], _Track] = field(default_factory=dict)

    def judge(self, target: Target, samples: Sequence[Sample]) -> list[Sample]:
        assess = self.assessors.get(target.check, default_assessment)
        assessment = assess(target, samples)
        first = result_sample(samples)
        timestamp = first.timestamp_ns if first is not None else None
        out = []
        for service, thresholds in self.services.get(target.host) or [
            ("", self.default_thresholds)
        ]:
            track = self._tracks.setdefault((target.key, service), _Track())
            reason = self._step(track, assessment, thresholds)
            tags = {"check": target.check, "target": target.host}
            if service:
                tags["service"] = service
            fields: dict[str, bool | int | float | str] = {
                "up": int(assessment.up),
                "state": int(track.state),
                "consecutive_failures": track.failures,
                "reason": reason,
            }
            if assessment.latency_s is not None:
                fields["latency_s"] = float(assessment.latency_s)
            sample = Sample("availability", tags, fields)
            if timestamp is not None:
                sample.timestamp_ns = timestamp
            out.append(sample)
        return out

    @staticmethod
    def _step(track: _Track, assessment: Assessment, thresholds: Thresholds) -> str:
        problems = "; ".join(assessment.problems)
        if not assessment.up:
            track.failures += 1
            track.successes = 0
            if track.state is State.DOWN or track.failures >= thresholds.down_after:
                track.state = State.DOWN
                return problems
            track.state = State.DEGRADED
            return f"{problems} ({track.failures} of {thresholds.down_after} failures before down)"
        track.successes += 1
        track.failures = 0
        if track.state is State.DOWN and track.successes < thresholds.up_after:
            return f"recovering ({track.successes} of {thresholds.up_after} successes before up)"
        track.state = State.DEGRADED if assessment.problems else State.OK
        return problems
