"""The report as one standalone HTML page: inline CSS and SVG, no script, no external file.

Every subject gets its compact card (a daily bar chart and a state strip, ~200 px high), in
the report's order, linked from its row in the summary table: with 200+ subjects the summary
stays the page's first screen and any subject is one click away. The print layout
(``pdf.py``) shares the figures computed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from agent.sla.model import Incident, Report, Subject, Tally
from agent.sla.render import charts
from agent.sla.render.i18n import Words
from agent.sla.timeline import SlaState

TEMPLATES = Path(__file__).parent / "templates"
SCREEN_CHARTS = charts.ChartStyle()


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    subject_name: str
    #: "upstream: HOST", "began before the period", "still open", as they apply.
    flags: tuple[Markup, ...]


@dataclass(frozen=True)
class SubjectView:
    subject: Subject
    name: str
    anchor: str
    #: met | missed | no-data: the row's and card's CSS class.
    verdict: str
    incidents: tuple[IncidentView, ...]
    bars: Markup
    strip: Markup


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def subject_name(subject: Subject, words: Words) -> str:
    return subject.name_en or subject.name if words.language == "en" else subject.name


def host(name: str) -> Markup:
    """A host name that never breaks at its hyphens (a cut "bc-bencat-" reads as another)."""
    return Markup('<span class="host">%s</span>') % name


def incident_flags(incident: Incident, words: Words) -> tuple[Markup, ...]:
    flags = []
    if incident.upstream:
        # Markup.format escapes the host, then keeps host()'s span as it is.
        flags.append(escape(words("upstream_host")).format(host=host(incident.upstream)))
    if incident.open_start:
        flags.append(escape(words("open_start")))
    if incident.open_end:
        flags.append(escape(words("open_end")))
    return tuple(flags)


def subject_view(
    report: Report, index: int, subject: Subject, words: Words, style: charts.ChartStyle | None
) -> SubjectView:
    name = subject_name(subject, words)
    met = subject.met
    bars = strip = Markup()
    if style is not None:  # None: a layout without the subjects' own charts
        bars = charts.daily_bars(subject.daily, subject.slo_target, words, style)
        strip = charts.timeline_strip(subject.timeline, report.start, report.end, words, style)
    return SubjectView(
        subject=subject,
        name=name,
        anchor=f"subject-{index + 1}",
        verdict="no-data" if met is None else "met" if met else "missed",
        incidents=tuple(
            IncidentView(incident, name, incident_flags(incident, words))
            for incident in subject.incidents
        ),
        bars=bars,
        strip=strip,
    )


def context(
    report: Report, style: charts.ChartStyle, subject_charts: bool = True
) -> dict[str, Any]:
    """What both layouts show: the report, its words, and each subject's figures and charts
    (the print layout has only the pooled chart: it leaves out the subjects' own)."""
    words = Words(report.language, report.timezone)
    chart_style = style if subject_charts else None
    views = [subject_view(report, i, s, words, chart_style) for i, s in enumerate(report.subjects)]
    total = sum((s.tally for s in report.subjects), Tally())
    verdicts = [v.verdict for v in views]
    return {
        "report": report,
        "w": words,
        "views": views,
        "title": f"{words('report')} {words.period(report.period, report.start, report.end)}",
        "period_words": words.period(report.period, report.start, report.end),
        # The range is [start, end): its last second is the one a reader calls the end.
        "end_text": words.time_text(report.end - 1),
        "department": report.department or words("all_departments"),
        "assessment": words(
            "assessment",
            met=words.number(verdicts.count("met")),
            missed=words.number(verdicts.count("missed")),
            no_data=words.number(verdicts.count("no-data")),
        ),
        "downtime_words": words(
            "total_downtime",
            downtime=words.words(total.down_s),
            upstream=words.words(total.upstream_s),
            maintenance=words.words(total.maintenance_s),
            unknown=words.words(total.unknown_s),
        ),
        "missed": [v.name for v in views if v.verdict == "missed"],
        "no_data": [v.name for v in views if v.verdict == "no-data"],
        "all_incidents": [row for v in views for row in v.incidents],
        "pooled_chart": charts.daily_bars(
            charts.pooled_daily(report.subjects),
            charts.common_target(report.subjects),
            words,
            style,
        ),
        "states": list(SlaState),
        "colours": charts.COLOURS,
        "host": host,
    }


def render_html(report: Report) -> bytes:
    page = environment().get_template("report.html.j2").render(context(report, SCREEN_CHARTS))
    return page.encode("utf-8")
