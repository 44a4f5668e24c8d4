"""The summary as CSV: one row per subject, for spreadsheets and scripts.

UTF-8 with a byte-order mark, so Excel opens the Vietnamese names correctly; the header is in
the report's language, but the figures are machine-readable whatever the language: "." as the
decimal point, durations in whole seconds, availability as the float computed (shortest form
that reads back to the same value), an empty cell where nothing was measured; kind, level
and calendar as the model's codes (service, commune, 24x7), not translated.
"""

from __future__ import annotations

import csv
import io

from agent.sla.model import Report, Subject
from agent.sla.render.html import subject_name
from agent.sla.render.i18n import Words

BOM = "\ufeff"


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def header(words: Words) -> list[str]:
    seconds = words("seconds_suffix")
    return [
        words("subject_id"),
        words("subject"),
        words("kind"),
        words("department"),
        words("level"),
        words("district"),
        words("calendar"),
        f"{words('slo_target')} (%)",
        f"{words('availability')} (%)",
        words("result"),
        f"{words('downtime')} {seconds}",
        f"{words('unknown')} {seconds}",
        f"{words('maintenance')} {seconds}",
        f"{words('upstream')} {seconds}",
        f"{words('measured')} {seconds}",
        words("incident_count"),
        f"{words('coverage')} (%)",
    ]


def row(subject: Subject, words: Words) -> list[str]:
    tally = subject.tally
    return [
        subject.id,
        subject_name(subject, words),
        subject.kind,
        subject.department,
        subject.level,
        subject.district,
        subject.calendar,
        _number(subject.slo_target),
        _number(subject.availability_pct),
        words.met(subject.met),
        str(tally.down_s),
        str(tally.unknown_s),
        str(tally.maintenance_s),
        str(tally.upstream_s),
        str(tally.measured_s),
        str(len(subject.incidents)),
        _number(tally.coverage_pct),
    ]


def render_csv(report: Report) -> bytes:
    words = Words(report.language, report.timezone)
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=",", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(header(words))
    writer.writerows(row(subject, words) for subject in report.subjects)
    return (BOM + out.getvalue()).encode("utf-8")
