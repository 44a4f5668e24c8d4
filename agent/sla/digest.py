"""Day digests: each series' exact timeline of one UTC day, kept in InfluxDB.

A year of one-minute verdicts for 184 sites is ~100 million points; InfluxDB 1.x scans them
at a few million a second, so no report over a year can read them and be quick. But a day's
timeline is small (its state changes), and it never changes once the day is settled. So the
SLA engine keeps one ``availability_day`` point per series and UTC day: the day's segments
as JSON, computed from the day's samples (with the look-back before midnight) by the same
rule as everything else. Days computed independently join exactly: a sample's cover ends at
the next sample or its max age, and cutting at midnight changes neither.

A day is written once it is settled: ended more than ``settle_days`` ago (longer than the
agent's spool keeps data, so no late sample can still arrive for it). Newer days are
computed from the samples each time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from agent.samples import Sample
from agent.schema import FieldType, Measurement
from agent.sla.history import SeriesKey
from agent.sla.timeline import Segment, SlaState, Span, Timeline, coalesce

DAY = 86_400
MEASUREMENT = "availability_day"

DIGEST = Measurement(
    name=MEASUREMENT,
    tags=frozenset({"check", "target", "service", "agent"}),
    fields={
        # JSON [[offset_s, state, cause], ...]: the day's segments from UTC midnight.
        "segments": FieldType.STR,
        "version": FieldType.INT,
    },
    description="The SLA engine's digest of one series' availability over one UTC day.",
)

#: Bumped when the rule that makes a timeline changes: older digests are then recomputed.
VERSION = 1
_CODES = {
    SlaState.UP: "u",
    SlaState.DEGRADED: "g",
    SlaState.DOWN: "d",
    SlaState.UNKNOWN: "n",
}
_STATES = {code: state for state, code in _CODES.items()}


def encode(timeline: Timeline, day: int) -> str:
    """A day's timeline (covering exactly [day, day + 1 d)) as compact JSON."""
    return json.dumps(
        [[s.start - day, _CODES[s.state], s.cause] for s in timeline],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode(text: str, day: int) -> Timeline:
    raw = json.loads(text)
    starts = [day + int(offset) for offset, _, _ in raw]
    ends = [*starts[1:], day + DAY]
    return [
        Segment(start, end, _STATES[code], str(cause))
        for start, end, (_, code, cause) in zip(starts, ends, raw, strict=True)
    ]


def samples_of(digests: Mapping[tuple[SeriesKey, int], Timeline]) -> list[Sample]:
    out = []
    for (key, day), timeline in digests.items():
        tags = {"check": key.check, "target": key.target, "agent": key.agent}
        if key.service:
            tags["service"] = key.service
        fields: dict[str, bool | int | float | str] = {
            "segments": encode(timeline, day),
            "version": VERSION,
        }
        out.append(Sample(MEASUREMENT, tags, fields, day * 1_000_000_000))
    return out


#: The `check` tag of the point that marks a day as completely stored.
DAY_MARKER = "_day_complete"


def day_markers(days: Iterable[int]) -> list[Sample]:
    return [
        Sample(
            MEASUREMENT,
            {"check": DAY_MARKER, "target": DAY_MARKER, "agent": DAY_MARKER},
            {"segments": "[]", "version": VERSION},
            day * 1_000_000_000,
        )
        for day in sorted(days)
    ]


def join(pieces: Iterable[Timeline], span: Span) -> Timeline:
    """Day timelines and partial ones, in any order, as one timeline over `span`; time none
    of them covers is unknown."""
    out: list[Segment] = []
    cursor = span.start
    for seg in sorted((s for piece in pieces for s in piece), key=lambda s: s.start):
        start, end = max(seg.start, cursor), min(seg.end, span.end)
        if end <= start:
            continue
        if start > cursor:
            out.append(Segment(cursor, start, SlaState.UNKNOWN))
        out.append(Segment(start, end, seg.state, seg.cause))
        cursor = end
    if cursor < span.end:
        out.append(Segment(cursor, span.end, SlaState.UNKNOWN))
    return coalesce(out)
