"""Charts as inline SVG, so the HTML stays one file and WeasyPrint draws them into the PDF.

Every text inserted is escaped here; the result is ``Markup`` for the templates. Sizes are in
the viewBox's units; the width and height attributes are in px, which CSS may scale.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from agent.sla.model import DailyTally, Subject, Tally
from agent.sla.render.i18n import Words
from agent.sla.timeline import Segment, SlaState

COLOURS: dict[SlaState, str] = {
    SlaState.UP: "#2e7d32",
    SlaState.DEGRADED: "#f9a825",
    SlaState.DOWN: "#c62828",
    SlaState.UNKNOWN: "#9e9e9e",
    SlaState.MAINTENANCE: "#1565c0",
    SlaState.UPSTREAM: "#7b1fa2",
    SlaState.EXCLUDED: "#e8e8e8",
}
NO_DATA = "#d0d0d0"
TARGET = "#37474f"

#: Lower ends the availability axis may start at: the highest one below every bar and the
#: target is used, so a 99.4 % day against a 99.5 % target is visibly short, not a full bar.
_AXIS_FLOORS = (99.9, 99.5, 99.0, 98.0, 95.0, 90.0, 80.0, 50.0, 0.0)
#: A problem seen anywhere in a timeline column colours the whole column, so a 30-second
#: outage in a month still shows; otherwise the column takes its longest state.
_PROBLEMS = (SlaState.DOWN, SlaState.UPSTREAM, SlaState.DEGRADED)
_COLUMNS = 600


@dataclass(frozen=True)
class ChartStyle:
    """What differs between the screen and the print charts."""

    font_family: str = "Liberation Serif, Times New Roman, serif"
    width: int = 640
    bars_height: int = 120
    strip_height: int = 16


def _svg(width: int, height: int, body: Iterable[str], label: str, style: ChartStyle) -> Markup:
    # Safe: every text in `body` went through escape() (_text, the tooltips), numbers are ours.
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" font-family="{escape(style.font_family)}" '
        f'font-size="10">' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 10) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="#333">{escape(text)}</text>'
    )


def axis_floor(values: Iterable[float], target: float | None) -> float:
    lowest = min([*values, *([target] if target is not None else [])], default=100.0)
    return next((floor for floor in _AXIS_FLOORS if floor < lowest), 0.0)


def unmeasured_state(tally: Tally) -> SlaState:
    """Why a day has no availability: its longest unmeasured state (a weekend of a
    business-hours service is outside the calendar, not missing data)."""
    seconds = {
        SlaState.UNKNOWN: tally.unknown_s,
        SlaState.MAINTENANCE: tally.maintenance_s,
        SlaState.UPSTREAM: tally.upstream_s,
        SlaState.EXCLUDED: tally.excluded_s,
    }
    return max(seconds, key=lambda state: seconds[state])


def daily_bars(
    daily: Sequence[DailyTally], target: float | None, words: Words, style: ChartStyle
) -> Markup:
    """One bar per day, its height the day's availability, against the SLO target line.

    A day with nothing measured is a pale column over the whole height (class ``nodata``),
    never a bar of 0: an unknown day is not a day down. Its colour says why (grey: no data;
    light: outside the calendar; blue: maintenance; purple: upstream). Every day is one
    ``<g class="day">`` with a tooltip, so the bars can be counted.
    """
    # The SLO label sits right of the plot, where it cannot collide with the axis labels.
    left, right, top, bottom = 40, 58, 8, 16
    plot_w, plot_h = style.width - left - right, style.bars_height - top - bottom
    values = [d.tally.availability_pct for d in daily]
    floor = axis_floor((v for v in values if v is not None), target)
    pitch = plot_w / max(len(daily), 1)

    def y_of(pct: float) -> float:
        return top + plot_h * (100.0 - pct) / (100.0 - floor)

    body = [
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#bbb" stroke-width="0.5"/>',
        _text(left - 4, top + 4, f"{words.decimal(100.0, 0)}%", "end"),
        _text(
            left - 4,
            top + plot_h,
            f"{words.decimal(floor, 0 if floor.is_integer() else 1)}%",
            "end",
        ),
    ]
    for i, (day, pct) in enumerate(zip(daily, values, strict=True)):
        x = left + i * pitch + pitch * 0.125
        tip = f"{words.date_text(day.day)}: {words.pct(pct)}"
        if pct is None:
            why = unmeasured_state(day.tally)
            tip = f"{tip} ({words.state(why)})"
            shape = (
                f'<rect class="nodata" x="{x:.2f}" y="{top}" width="{pitch * 0.75:.2f}" '
                f'height="{plot_h}" fill="{COLOURS[why]}" fill-opacity="0.45"/>'
            )
        else:
            met = target is None or pct >= target
            colour = COLOURS[SlaState.UP] if met else COLOURS[SlaState.DOWN]
            # A measured 0 % day keeps a sliver of bar, so it never looks like "no data".
            y = min(y_of(pct), top + plot_h - 1.5)
            shape = (
                f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{pitch * 0.75:.2f}" '
                f'height="{top + plot_h - y:.2f}" fill="{colour}"/>'
            )
        body.append(f'<g class="day"><title>{escape(tip)}</title>{shape}</g>')
        if len(daily) <= 31 or day.day.day in (1, 15):
            body.append(_text(x + pitch * 0.375, top + plot_h + 11, str(day.day.day), "middle", 8))
    if target is not None:
        y = y_of(target)
        body.append(
            f'<line class="target" x1="{left}" x2="{left + plot_w}" y1="{y:.2f}" y2="{y:.2f}" '
            f'stroke="{TARGET}" stroke-width="1" stroke-dasharray="4 2"/>'
        )
        body.append(_text(left + plot_w + 3, y + 3, f"SLO {words.decimal(target, 2)}%", "start", 8))
    label = f"{words('daily_chart')} ({len(daily)})"
    return _svg(style.width, style.bars_height, body, label, style)


def _columns(timeline: Sequence[Segment], start: int, end: int) -> list[dict[SlaState, int]]:
    """Seconds of each state in each of the strip's columns."""
    span = max(end - start, 1)
    columns: list[dict[SlaState, int]] = [defaultdict(int) for _ in range(_COLUMNS)]
    for seg in timeline:
        a, b = max(seg.start, start), min(seg.end, end)
        first = (a - start) * _COLUMNS // span
        while a < b and first < _COLUMNS:
            column_end = start + (first + 1) * span // _COLUMNS
            taken = min(b, column_end) - a
            columns[first][seg.state] += taken
            a += taken
            first += 1
    return columns


def _column_state(seconds: dict[SlaState, int]) -> SlaState | None:
    for problem in _PROBLEMS:
        if seconds.get(problem):
            return problem
    return max(seconds, key=lambda state: seconds[state]) if seconds else None


def timeline_strip(
    timeline: Sequence[Segment], start: int, end: int, words: Words, style: ChartStyle
) -> Markup:
    """The period as one horizontal strip, coloured by state (``COLOURS``), runs of the same
    colour drawn as one rectangle whose tooltip gives its local start and end."""
    width, height = style.width, style.strip_height + 12
    body: list[str] = []
    if not timeline:
        body.append(
            f'<rect x="0" y="0" width="{width}" height="{style.strip_height}" fill="{NO_DATA}"/>'
        )
        body.append(_text(width / 2, style.strip_height - 4, words("no_data"), "middle"))
        return _svg(width, height, body, words("timeline_chart"), style)
    states = [_column_state(column) for column in _columns(timeline, start, end)]
    span, unit = end - start, width / _COLUMNS
    ends = [seg.end for seg in timeline]
    run_start = 0
    for i in range(1, _COLUMNS + 1):
        if i < _COLUMNS and states[i] == states[run_start]:
            continue
        state = states[run_start]
        if state is not None:
            lo, hi = start + run_start * span // _COLUMNS, start + i * span // _COLUMNS
            first, last = _exact_times(timeline, ends, state, lo, hi)
            tip = f"{words.time_text(first)} – {words.time_text(last)}: {words.state(state)}"
            body.append(
                f'<rect class="state-{state.value}" x="{run_start * unit:.2f}" y="0" '
                f'width="{(i - run_start) * unit:.2f}" height="{style.strip_height}" '
                f'fill="{COLOURS[state]}"><title>{escape(tip)}</title></rect>'
            )
        run_start = i
    body.append(_text(0, height - 1, words.time_text(start)[:10], "start", 8))
    body.append(_text(width, height - 1, words.time_text(end - 1)[:10], "end", 8))
    return _svg(width, height, body, words("timeline_chart"), style)


def _exact_times(
    timeline: Sequence[Segment], ends: Sequence[int], state: SlaState, lo: int, hi: int
) -> tuple[int, int]:
    """The real first and last second of `state` behind a run of columns [lo, hi): the
    tooltip states facts, not the columns' rounded edges (a window 01:00–02:00 must not read
    00:52–01:44)."""
    hits = []
    for seg in timeline[bisect_right(ends, lo) :]:
        if seg.start >= hi:
            break
        if seg.state is state:
            hits.append(seg)
    if not hits:
        return lo, hi
    return hits[0].start, hits[-1].end


def pooled_daily(subjects: Sequence[Subject]) -> tuple[DailyTally, ...]:
    """Every subject's seconds added up per day: the department's day, never an average of
    percentages (a 5-minute site does not weigh as much as a month-long service)."""
    days: dict[date, Tally] = {}
    for subject in subjects:
        for daily in subject.daily:
            days[daily.day] = days.get(daily.day, Tally()) + daily.tally
    return tuple(DailyTally(day, tally) for day, tally in sorted(days.items()))


def common_target(subjects: Sequence[Subject]) -> float | None:
    """The target of a pooled chart: drawn only when every subject has the same one."""
    targets = {subject.slo_target for subject in subjects}
    return targets.pop() if len(targets) == 1 else None
