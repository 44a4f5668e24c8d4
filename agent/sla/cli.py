"""``netmon sla``: availability reports for departments, and the month so far.

Exit codes: 0 done · 1 InfluxDB could not be read or written · 2 wrong usage (an unknown
department, period or format) · 3 invalid settings or inventory (nothing was read).
"""

from __future__ import annotations

import json
import math
import sys
import time
import unicodedata
from collections.abc import Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import Any, get_args

import click

from agent.cli import EXIT_FAILED, EXIT_INVALID, EXIT_USAGE, CliState, inventory_option, pass_state
from agent.inventory.model import Inventory
from agent.settings import SettingsError
from agent.sla.build import (
    Selection,
    build_engine,
    build_report,
    calendar_of,
    departments,
    lookback_s,
    slug,
)
from agent.sla.influx import SETTLE_DAYS, InfluxClient, InfluxHistory, InfluxQueryError
from agent.sla.model import Language, Subject
from agent.sla.period import Period, PeriodError, parse_period
from agent.sla.writeback import sla_samples

FORMATS = ("pdf", "html", "xlsx", "csv")


def _fail(message: str, code: int) -> None:
    click.echo(f"netmon sla: {message}", err=True)
    sys.exit(code)


@click.group("sla")
def sla() -> None:
    """Availability against the SLO per department, service and level.

    No data is unknown, never down; maintenance and time outside the service calendar are
    left out; a site is not charged while its uplink is down (README: "Availability and SLA
    reports")."""


def _period(text: str, inventory: Inventory) -> Period:
    try:
        return parse_period(text, now=int(time.time()), tz=calendar_of(inventory).tz)
    except PeriodError as exc:
        _fail(str(exc), EXIT_USAGE)
        raise AssertionError("unreachable") from exc


def _compute(state: CliState, inventory: Inventory, period: Period) -> list[Subject]:
    span = period.span(calendar_of(inventory).tz)
    settings = state.settings
    # A day's digest is kept only once no spooled sample can still arrive for it.
    settle_days = max(SETTLE_DAYS, math.ceil(settings.spool.max_age_s / 86_400) + 1)
    try:
        with InfluxClient(settings.influxdb) as client:
            history = InfluxHistory(client, lookback_s(inventory), settle_days=settle_days)
            return build_engine(inventory, history).compute(span)
    except SettingsError as exc:
        _fail(str(exc), EXIT_INVALID)
    except InfluxQueryError as exc:
        _fail(str(exc), EXIT_FAILED)
    raise AssertionError("unreachable")


def _loose(text: str) -> str:
    """For matching what an operator typed: no case, no accents ('Dau Tieng' = 'Dầu Tiếng')."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(
        c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c)
    ).strip()


def _resolve(kind: str, typed: str, known: Sequence[str]) -> str:
    """`typed` as one of `known`: exactly, or loosely when that names just one; otherwise
    exit 2 with the closest names."""
    if not typed or typed in known:
        return typed
    loose = [k for k in known if _loose(k) == _loose(typed)]
    if len(loose) == 1:
        return loose[0]
    close = get_close_matches(_loose(typed), [_loose(k) for k in known], n=3, cutoff=0.6)
    by_loose = {_loose(k): k for k in known}
    if close:
        hint = "did you mean: " + "; ".join(by_loose[c] for c in close)
    elif len(known) <= 12:
        hint = "known: " + ", ".join(known)
    else:
        hint = f"{len(known)} known: `netmon sla status --all` lists them"
    _fail(f"no {kind} {typed!r} ({hint})", EXIT_USAGE)
    raise AssertionError("unreachable")


def _check_selection(selection: Selection, subjects: Sequence[Subject]) -> Selection:
    """The selection with names resolved; refuse one that names something unknown or keeps
    nothing: a scheduled job must not mail an empty report."""
    districts = sorted({s.district for s in subjects if s.district})
    selection = Selection(
        department=_resolve("department", selection.department, departments(subjects)),
        service=selection.service,
        level=selection.level,
        district=_resolve("district", selection.district, districts),
    )
    if selection.service and not any(
        s.kind == "service" and s.id == selection.service for s in subjects
    ):
        known = ", ".join(s.id for s in subjects if s.kind == "service")
        _fail(f"no service {selection.service!r} (known: {known})", EXIT_USAGE)
    if not any(selection.keeps(s) for s in subjects):
        _fail("the selection keeps no subject (do the filters contradict each other?)", 2)
    return selection


@sla.command("report")
@inventory_option
@click.option(
    "--period",
    required=True,
    help="2026-10, 2026-Q4, 2026, 2026-10-01..2026-10-15, "
    "last-month or this-month (days in the SLA time zone).",
)
@click.option("--department", default="", help="Only this department's sites and services.")
@click.option("--service", default="", help="Only this service (its id in netmon_services).")
@click.option(
    "--level",
    type=click.Choice(["province", "district", "commune"]),
    default=None,
    help="Only the connection points of this level.",
)
@click.option("--district", default="", help="Only this district (netmon_district).")
@click.option(
    "--all-departments",
    is_flag=True,
    help="One report per department, written into the directory -o names.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Default: the -o file's suffix; pdf with --all-departments or without -o.",
)
@click.option(
    "--language",
    type=click.Choice(get_args(Language)),
    default="vi",
    help="vi (Decree 30/2020 layout in PDF) or en.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="File to write (a directory with --all-departments); {period} in it becomes "
    "the period (2026-10). html and csv may go to standard output.",
)
@click.option(
    "--write-back/--no-write-back",
    default=False,
    help="Also write the figures to InfluxDB as `sla` samples (for Grafana).",
)
@pass_state
def report(
    state: CliState,
    inventory_path: Path | None,
    period: str,
    department: str,
    service: str,
    level: str | None,
    district: str,
    all_departments: bool,
    fmt: str | None,
    language: Language,
    output: Path | None,
    write_back: bool,
) -> None:
    """Write an availability report: PDF, HTML, XLSX or CSV."""
    from agent.sla.render import render, render_many

    suffix = output.suffix.lstrip(".").lower() if output and not all_departments else ""
    if fmt and suffix in FORMATS and suffix != fmt:
        _fail(f"-o {output} says {suffix}, --format says {fmt}: which one?", EXIT_USAGE)
    fmt = fmt or suffix or ("pdf" if output is None or all_departments else "")
    if fmt not in FORMATS:
        _fail(f"cannot tell the format from {output}: give --format ({', '.join(FORMATS)})", 2)
    if all_departments and (department or service or level or district):
        _fail("--all-departments makes every department's report: drop the filters", 2)
    if output is not None and not all_departments and not output.parent.is_dir():
        _fail(f"no directory {output.parent} to write {output.name} into", EXIT_USAGE)
    if all_departments and (output is None or (output.exists() and not output.is_dir())):
        _fail("--all-departments writes one file per department: give -o DIRECTORY", EXIT_USAGE)
    if output is None and fmt in ("pdf", "xlsx") and sys.stdout.isatty():
        _fail(f"the {fmt.upper()} report is binary: give -o FILE", EXIT_USAGE)
    inventory = state.inventory(inventory_path)
    chosen = _period(period, inventory)
    if output is not None and "{period}" in str(output):
        output = Path(str(output).replace("{period}", chosen.label))
    selection = Selection(department, service, level or "", district)
    subjects = _compute(state, inventory, chosen)
    selection = _check_selection(selection, subjects)
    span = chosen.span(calendar_of(inventory).tz)
    common: dict[str, Any] = {
        "inventory": inventory,
        "span": span,
        "period": chosen.label,
        "language": language,
    }
    if all_departments:
        assert output is not None
        output.mkdir(parents=True, exist_ok=True)
        names = departments(subjects)
        docs = [build_report(subjects, Selection(department=n), **common) for n in names]
        for name, doc, body in zip(names, docs, render_many(docs, fmt), strict=True):  # type: ignore[arg-type]
            path = output / f"sla-{chosen.label}-{slug(name)}.{fmt}"
            path.write_bytes(body)
            click.echo(f"{path}: {_count(len(doc.subjects))}", err=True)
    else:
        doc = build_report(subjects, selection, **common)
        body = render(doc, fmt)  # type: ignore[arg-type]
        if output is None:
            sys.stdout.buffer.write(body)
        else:
            output.write_bytes(body)
            click.echo(f"{output}: {_count(len(doc.subjects))}, {chosen.label}", err=True)
    if write_back:
        _write_back(state, inventory, subjects, chosen, span.start)
    # (the write-back's own errors exit 1 there; nothing else can fail after the files)


def _count(subjects: int) -> str:
    return f"{subjects} subject{'s' * (subjects != 1)}"


def _write_back(
    state: CliState, inventory: Inventory, subjects: list[Subject], period: Period, start: int
) -> None:
    try:
        with InfluxClient(state.settings.influxdb) as client:
            written = client.write_samples(sla_samples(subjects, period.label, start, inventory))
    except InfluxQueryError as exc:
        _fail(str(exc), EXIT_FAILED)
    click.echo(f"wrote {written} sla samples for {period.label}", err=True)


@sla.command("status")
@inventory_option
@click.option("--department", default="", help="Only this department's sites and services.")
@click.option("--all", "show_all", is_flag=True, help="Every subject, not only those at risk.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
@pass_state
def status(
    state: CliState,
    inventory_path: Path | None,
    department: str,
    show_all: bool,
    output_format: str,
) -> None:
    """Month to date: each subject's availability against its target, and open incidents."""
    inventory = state.inventory(inventory_path)
    chosen = _period("this-month", inventory)
    subjects = _compute(state, inventory, chosen)
    selection = _check_selection(Selection(department=department), subjects)
    chosen_subjects = [s for s in subjects if selection.keeps(s)]
    rows = [_status_row(s) for s in chosen_subjects]
    if output_format == "json":
        click.echo(
            json.dumps({"period": chosen.label, "subjects": rows}, ensure_ascii=False, indent=2)
        )
        return
    missed = [r for r in rows if r["met"] is False]
    open_now = [r for r in rows if r["open_incident"]]
    click.echo(
        f"{chosen.label} to date: {len(rows)} subjects, {len(missed)} below target, "
        f"{len(open_now)} down now"
    )
    shown = rows if show_all else [r for r in rows if r["met"] is not True or r["open_incident"]]
    if shown:
        click.echo(
            f"  {'subject':<28} {'availability':>12} {'target':>8} {'result':<7} "
            f"{'down s':>8} {'no data s':>10}"
        )
    for row in shown:
        pct = "no data" if row["availability_pct"] is None else f"{row['availability_pct']:.3f} %"
        flag = {True: "ok", False: "BELOW", None: "-"}[row["met"]]
        down = "  DOWN NOW" if row["open_incident"] else ""
        click.echo(
            f"  {row['id']:<28} {pct:>12} {row['slo_target']:>6g} % {flag:<7} "
            f"{row['downtime_s']:>8} {row['unknown_s']:>10}{down}"
        )


def _status_row(subject: Subject) -> dict[str, Any]:
    last = subject.incidents[-1] if subject.incidents else None
    return {
        "id": subject.id,
        "kind": subject.kind,
        "name": subject.name,
        "department": subject.department,
        "availability_pct": subject.availability_pct,
        "slo_target": subject.slo_target,
        "met": subject.met,
        "downtime_s": subject.tally.down_s,
        "unknown_s": subject.tally.unknown_s,
        "incidents": len(subject.incidents),
        "open_incident": bool(last and last.open_end and not last.upstream),
    }
