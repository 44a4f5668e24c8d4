"""The report as a workbook: the same figures as typed cells, for managers who sort and sum.

Availability and coverage are fractions formatted as percentages; every duration is there
twice, as whole seconds (for formulas) and as a day fraction formatted [h]:mm:ss (for
reading); datetimes are real Excel datetimes in the report's local time, without a zone (Excel
has none). An empty cell means nothing was measured: never 0.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from agent.sla.model import Report, Tally
from agent.sla.render.html import subject_name
from agent.sla.render.i18n import Words

PERCENT = "0.00%"
DURATION = "[h]:mm:ss"
DATETIME = "dd/mm/yyyy hh:mm:ss"
DATE = "dd/mm/yyyy"
SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Column:
    header: str
    number_format: str = "General"
    width: int = 14


def fraction(pct: float | None) -> float | None:
    return None if pct is None else pct / 100.0


def day_fraction(seconds: int) -> float:
    return seconds / SECONDS_PER_DAY


def naive_local(words: Words, timestamp: int) -> datetime:
    return words.local(timestamp).replace(tzinfo=None)


def _seconds_pair(words: Words, key: str) -> list[Column]:
    return [Column(f"{words(key)} {words('seconds_suffix')}", "0"), Column(words(key), DURATION)]


def _add_sheet(
    book: Any, title: str, columns: Sequence[Column], rows: Iterable[Sequence[object]]
) -> None:
    sheet = book.create_sheet(title)
    sheet.append([column.header for column in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for values in rows:
        sheet.append(list(values))
    for index, column in enumerate(columns, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = column.width
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.number_format = column.number_format
    sheet.freeze_panes = "A2"


def _tally_cells(tally: Tally) -> list[object]:
    return [
        tally.down_s,
        day_fraction(tally.down_s),
        tally.unknown_s,
        day_fraction(tally.unknown_s),
        tally.maintenance_s,
        day_fraction(tally.maintenance_s),
        tally.upstream_s,
        day_fraction(tally.upstream_s),
    ]


def _tally_columns(words: Words) -> list[Column]:
    keys = ("downtime", "unknown", "maintenance", "upstream")
    return [column for key in keys for column in _seconds_pair(words, key)]


def summary_sheet(book: Any, report: Report, words: Words) -> None:
    columns = [
        Column(words("subject_id"), width=22),
        Column(words("subject"), width=40),
        Column(words("kind")),
        Column(words("department"), width=22),
        Column(words("level")),
        Column(words("district"), width=18),
        Column(words("calendar")),
        Column(words("slo_target"), PERCENT),
        Column(words("availability"), PERCENT),
        Column(words("result")),
        *_tally_columns(words),
        *_seconds_pair(words, "measured"),
        Column(words("incident_count"), "0"),
        Column(words("coverage"), PERCENT),
    ]
    rows = (
        [
            s.id,
            subject_name(s, words),
            words.term(s.kind),
            s.department,
            words.term(s.level),
            s.district,
            words.term(s.calendar),
            fraction(s.slo_target),
            fraction(s.availability_pct),
            words.met(s.met),
            *_tally_cells(s.tally),
            s.tally.measured_s,
            day_fraction(s.tally.measured_s),
            len(s.incidents),
            fraction(s.tally.coverage_pct),
        ]
        for s in report.subjects
    )
    _add_sheet(book, words("sheet_summary"), columns, rows)


def daily_sheet(book: Any, report: Report, words: Words) -> None:
    columns = [
        Column(words("subject_id"), width=22),
        Column(words("subject"), width=40),
        Column(words("day"), DATE, 12),
        Column(words("availability"), PERCENT),
        *_tally_columns(words),
        Column(words("coverage"), PERCENT),
    ]
    rows = (
        [
            s.id,
            subject_name(s, words),
            d.day,
            fraction(d.tally.availability_pct),
            *_tally_cells(d.tally),
            fraction(d.tally.coverage_pct),
        ]
        for s in report.subjects
        for d in s.daily
    )
    _add_sheet(book, words("sheet_daily"), columns, rows)


def incidents_sheet(book: Any, report: Report, words: Words) -> None:
    columns = [
        Column(words("subject_id"), width=22),
        Column(words("subject"), width=40),
        Column(words("component"), width=22),
        Column(words("start"), DATETIME, 20),
        Column(words("end"), DATETIME, 20),
        *_seconds_pair(words, "duration"),
        *_seconds_pair(words, "charged"),
        Column(words("cause"), width=24),
        Column(words("upstream"), width=22),
        Column(words("began_before")),
        Column(words("still_open")),
    ]
    rows = (
        [
            s.id,
            subject_name(s, words),
            i.component,
            naive_local(words, i.start),
            naive_local(words, i.end),
            i.seconds,
            day_fraction(i.seconds),
            i.charged_s,
            day_fraction(i.charged_s),
            i.cause,
            i.upstream,
            i.open_start,
            i.open_end,
        ]
        for s in report.subjects
        for i in s.incidents
    )
    _add_sheet(book, words("sheet_incidents"), columns, rows)


def levels_sheet(book: Any, report: Report, words: Words) -> None:
    columns = [
        Column(words("level")),
        Column(words("district"), width=18),
        Column(words("sites"), "0"),
        Column(words("sites_met"), "0"),
        Column(words("sites_missed"), "0"),
        Column(words("availability"), PERCENT),
        *_tally_columns(words),
        Column(words("coverage"), PERCENT),
    ]
    rows = (
        [
            words.term(row.level),
            row.district,
            row.sites,
            row.sites_met,
            row.sites_missed,
            fraction(row.tally.availability_pct),
            *_tally_cells(row.tally),
            fraction(row.tally.coverage_pct),
        ]
        for row in report.levels
    )
    _add_sheet(book, words("sheet_levels"), columns, rows)


SHEETS: tuple[Callable[[Any, Report, Words], None], ...] = (
    summary_sheet,
    daily_sheet,
    incidents_sheet,
    levels_sheet,
)


def render_xlsx(report: Report) -> bytes:
    words = Words(report.language, report.timezone)
    book = Workbook()
    book.remove(book.active)  # the default empty "Sheet"
    for sheet in SHEETS:
        sheet(book, report, words)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
