"""The SLA rules, as pure functions on timelines (agent.sla.timeline).

1. **Samples → timeline.** Each availability sample's state holds from its time until the next
   sample of the same series, but at most ``max_age`` seconds (two poll intervals: one lost
   poll is tolerated, a longer silence is not). Time no sample covers is **unknown**: no data
   is never down.
2. **Vantage points → check.** The agents that poll the same target are combined best-first:
   a target is down only when every agent that saw it says down; it is unknown only when none
   saw it.
3. **Checks → component.** A component is judged by all its checks (worst first): down if any
   is down, else unknown if any is unknown, else degraded if any is degraded, else up.
4. **Components → service.** The service's own hosts are required (worst first, as checks);
   the members of its groups form a pool: down only when every member that is judged is
   down, degraded when some are.
5. **Upstream.** A component that is down while the uplink it hangs off is down (or itself
   down because of its own uplink) is *upstream*: charged to the uplink, not to it. A
   component down while its uplink is in maintenance is in maintenance.
6. **Maintenance and calendar.** Inside a maintenance window the time is *maintenance*;
   outside the service calendar it is *excluded*. Neither counts for or against the SLO.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from agent.sla.model import DailyTally, Incident, Tally
from agent.sla.timeline import (
    Segment,
    SlaState,
    Span,
    Timeline,
    coalesce,
    constant,
    overlay,
    spans_timeline,
)

S = SlaState


def from_samples(
    samples: Iterable[tuple[int, SlaState, str]], span: Span, max_age: int
) -> Timeline:
    """The timeline of one series from its (time, state, reason) samples, sorted by time.

    Samples before `span` count for the time they cover inside it (the caller fetches a
    look-back of `max_age`). Written as one pass that only makes a segment when the state,
    the cause or the coverage changes: a year of one-minute samples goes through here."""
    lo, hi = span.start, span.end
    out: list[Segment] = []
    run_start = run_end = lo
    run_state: SlaState | None = None
    run_cause = ""
    prev_t: int | None = None
    prev_state, prev_reason = S.UNKNOWN, ""
    for t, state, reason in [*samples, (hi + max_age + 1, S.UNKNOWN, "")]:
        if prev_t is not None:
            if t <= prev_t:
                continue  # the same poll written twice: the first stands
            start, end = max(prev_t, lo), min(t, prev_t + max_age, hi)
            if end > start:
                cause = "" if prev_state is S.UP else prev_reason
                if start == run_end and prev_state is run_state and cause == run_cause:
                    run_end = end
                else:
                    if run_state is not None:
                        out.append(Segment(run_start, run_end, run_state, run_cause))
                    if start > run_end:
                        out.append(Segment(run_end, start, S.UNKNOWN))
                    run_start, run_end, run_state, run_cause = start, end, prev_state, cause
            if prev_t >= hi:
                break
        prev_t, prev_state, prev_reason = t, state, reason
    if run_state is not None:
        out.append(Segment(run_start, run_end, run_state, run_cause))
    if run_end < hi:
        out.append(Segment(run_end, hi, S.UNKNOWN))
    return coalesce(out)


_BEST = {S.UP: 0, S.DEGRADED: 1, S.DOWN: 2, S.UNKNOWN: 3}
_WORST = {
    S.DOWN: 0,
    S.UPSTREAM: 1,
    S.MAINTENANCE: 2,
    S.UNKNOWN: 3,
    S.DEGRADED: 4,
    S.UP: 5,
    S.EXCLUDED: 6,
}


def best_of(timelines: Sequence[Timeline], span: Span) -> Timeline:
    """Vantage points: the best verdict any agent had (down only when all saw it down)."""
    if not timelines:
        return constant(span, S.UNKNOWN)
    if len(timelines) == 1:
        return timelines[0]

    def choose(segments: Sequence[Segment]) -> tuple[SlaState, str]:
        best = min(segments, key=lambda s: _BEST[s.state])
        return best.state, best.cause

    return overlay(timelines, span, choose)


def worst_of(timelines: Sequence[Timeline], span: Span, names: Sequence[str] = ()) -> Timeline:
    """Checks of a component, or required components of a service: the worst one counts.

    With `names` (one per timeline), the cause says which one: "svc-email: timeout"."""
    if not timelines:
        return constant(span, S.UNKNOWN)
    if len(timelines) == 1 and not names:
        return timelines[0]

    def choose(segments: Sequence[Segment]) -> tuple[SlaState, str]:
        index = min(range(len(segments)), key=lambda i: _WORST[segments[i].state])
        worst = segments[index]
        if names and worst.state is not S.UP:
            return worst.state, _named(names[index], worst.cause)
        return worst.state, worst.cause

    return overlay(timelines, span, choose)


def _named(name: str, cause: str) -> str:
    return f"{name}: {cause}" if cause else name


_EXCUSED = {S.MAINTENANCE, S.UPSTREAM, S.UNKNOWN, S.EXCLUDED}


def pool_of(timelines: Sequence[Timeline], span: Span, names: Sequence[str]) -> Timeline:
    """Members of a service's groups (e.g. every videoconference bridge point): the pool is
    down when every member that is judged is down, degraded when some are. Members that are
    unknown, in maintenance or cut off upstream are not judged."""
    if not timelines:
        return constant(span, S.UNKNOWN)

    def choose(segments: Sequence[Segment]) -> tuple[SlaState, str]:
        judged = [s for s in segments if s.state not in _EXCUSED]
        if not judged:
            for state in (S.UNKNOWN, S.MAINTENANCE, S.UPSTREAM):
                excused = next((s for s in segments if s.state is state), None)
                if excused is not None:
                    return state, excused.cause  # e.g. the upstream link that failed
            return S.UNKNOWN, ""
        down = [i for i, s in enumerate(segments) if s.state is S.DOWN]
        if len(down) == len(judged):
            return S.DOWN, f"all {len(judged)} judged members down"
        if down:
            first = ", ".join(names[i] for i in down[:3]) + (" …" if len(down) > 3 else "")
            return S.DEGRADED, f"{len(down)} of {len(judged)} members down ({first})"
        if any(s.state is S.DEGRADED for s in judged):
            return S.DEGRADED, ""
        return S.UP, ""

    return overlay(timelines, span, choose)


def attribute_upstream(
    own: Timeline, uplink_unplanned: Timeline, uplink_planned: Timeline, uplink: str, span: Span
) -> Timeline:
    """Down time while the uplink is down becomes upstream (cause: the failed link highest up
    the chain). Down time while the uplink is down inside its maintenance window becomes
    maintenance; an uplink in a window but up excuses nothing."""

    def choose(segments: Sequence[Segment]) -> tuple[SlaState, str]:
        mine, was, excused = segments
        if mine.state is S.DOWN and was.state in (S.DOWN, S.UPSTREAM):
            if excused.state is S.MAINTENANCE:
                return S.MAINTENANCE, excused.cause or f"maintenance of {uplink}"
            if excused.state is S.UPSTREAM:
                return S.UPSTREAM, excused.cause
            if was.state is S.UPSTREAM:
                return S.UPSTREAM, was.cause
            return S.UPSTREAM, uplink
        return mine.state, mine.cause

    return overlay([own, uplink_unplanned, uplink_planned], span, choose)


def apply_maintenance(
    timeline: Timeline, windows: Sequence[tuple[str, Span]], span: Span
) -> Timeline:
    """Time inside any maintenance window is maintenance (cause: the window's name)."""
    if not windows:
        return timeline
    layers = [spans_timeline([window], span, S.MAINTENANCE, S.UP, name) for name, window in windows]

    def choose(segments: Sequence[Segment]) -> tuple[SlaState, str]:
        for seg in segments[1:]:
            if seg.state is S.MAINTENANCE:
                return S.MAINTENANCE, seg.cause
        return segments[0].state, segments[0].cause

    return overlay([timeline, *layers], span, choose)


def apply_calendar(timeline: Timeline, due: Sequence[Span], span: Span) -> Timeline:
    """Time outside the calendar's due spans is excluded."""
    if len(due) == 1 and due[0] == span:
        return timeline
    calendar = spans_timeline(due, span, S.UP, S.EXCLUDED)

    def choose(segments: Sequence[Segment]) -> tuple[SlaState, str]:
        mine, due_now = segments
        if due_now.state is S.EXCLUDED:
            return S.EXCLUDED, ""
        return mine.state, mine.cause

    return overlay([timeline, calendar], span, choose)


def incidents(
    attributed: Timeline, final: Timeline, span: Span, subject: str, service: bool
) -> list[Incident]:
    """Every maximal run of down (or upstream) time before maintenance and the calendar
    are applied, with the seconds of it the SLO is charged (down in the final timeline).

    The timelines may reach past `span` by a second on each side: a run that does began
    before the period or outlasts it (a run that stops at the span's end, where the data
    stops, is still open). Runs are reported clipped to `span`."""
    found: list[Incident] = []
    run: list[Segment] = []
    after = {seg.start: seg.state for seg in attributed}
    down = [s for s in final if s.state is S.DOWN]
    down_ends = [s.end for s in down]

    def flush() -> None:
        if not run:
            return
        first = run[0]
        start, end = max(first.start, span.start), min(run[-1].end, span.end)
        if end <= start:
            run.clear()
            return
        charged = 0
        for s in down[bisect_right(down_ends, start) :]:
            if s.start >= end:
                break
            charged += min(end, s.end) - max(start, s.start)
        component, cause = subject, first.cause
        if service and ": " in cause:
            component, cause = cause.split(": ", 1)
        following = after.get(run[-1].end, S.UNKNOWN)
        found.append(
            Incident(
                start=start,
                end=end,
                component=component,
                cause=cause,
                upstream=cause if first.state is S.UPSTREAM else "",
                charged_s=charged,
                open_start=first.start < span.start,
                open_end=run[-1].end > span.end
                or (run[-1].end == span.end and following is S.UNKNOWN),
            )
        )
        run.clear()

    for seg in attributed:
        if seg.state in (S.DOWN, S.UPSTREAM):
            if run and (run[-1].state is not seg.state or run[-1].end != seg.start):
                flush()
            run.append(seg)
        else:
            flush()
    flush()
    return found


def daily(timeline: Timeline, span: Span, tz: ZoneInfo) -> list[DailyTally]:
    """The tally of each local day the span touches (partial days at its ends), in one walk
    over the timeline."""
    bounds: list[tuple[date, int, int]] = []
    day = datetime.fromtimestamp(span.start, tz).date()
    while (lo := max(span.start, _midnight(day, tz))) < span.end:
        bounds.append((day, lo, min(span.end, _midnight(day + timedelta(days=1), tz))))
        day += timedelta(days=1)
    # Seconds per day in Tally's field order (plain lists: this runs for every day of
    # every subject of a year).
    seconds = [[0] * len(_TALLY_ORDER) for _ in bounds]
    index = 0
    for seg in timeline:
        while index < len(bounds) and bounds[index][2] <= seg.start:
            index += 1
        at, slot = index, _TALLY_ORDER[seg.state]
        while at < len(bounds) and bounds[at][1] < seg.end:
            _, lo, hi = bounds[at]
            seconds[at][slot] += min(hi, seg.end) - max(lo, seg.start)
            at += 1
    return [
        DailyTally(d, Tally(*counted)) for (d, _, _), counted in zip(bounds, seconds, strict=True)
    ]


#: SlaState → the position of its field in Tally(up, degraded, down, unknown, maintenance,
#: upstream, excluded).
_TALLY_ORDER = {
    S.UP: 0,
    S.DEGRADED: 1,
    S.DOWN: 2,
    S.UNKNOWN: 3,
    S.MAINTENANCE: 4,
    S.UPSTREAM: 5,
    S.EXCLUDED: 6,
}


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())
