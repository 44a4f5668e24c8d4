"""The SLA section of RESULTS.md, from bench/results/sla.json (bench/sla.py)."""

from __future__ import annotations

from typing import Any


def sla_markdown(doc: dict[str, Any]) -> str:
    data, warm, reports = doc["dataset"], doc["warm"], doc["reports"]
    cold = doc.get("cold")
    exact = doc["exactness"]
    lines = [
        "## SLA reports: a year of 1-minute data, 184 sites (`bench/sla.py`)",
        "",
        f"Last run {doc['checkout']}, {doc['machine'].get('nproc', '?')} cores. Data set "
        f"(bench/sla_data.py, seed {data['seed']}): {data['days']} days × {data['points']} "
        f"connection points × one verdict every {data['interval_s']} s = "
        f"{data['expected_points']:,} points in Debian's influxd 1.6.7 (loaded in "
        f"{doc['load']['wall_s']:.0f} s, {doc['load']['points_per_s']:,.0f} points/s).",
        "",
        "| step | time |",
        "|---|---|",
    ]
    if cold:
        lines.append(
            f"| cold: the year from every sample, {cold['days_computed']} day digests stored "
            f"(once per range, the first time){' (an earlier run)' if 'from_run' in cold else ''}"
            f" | {cold['compute_s']:.1f} s |"
        )
    lines += [
        f"| warm: the year from the day digests ({warm['days_from_digests']} days) | "
        f"{warm['compute_s']:.2f} s |",
        f'| peer: influxd\'s cheapest pass over the year (`SELECT count("state")`, no '
        f"grouping) | {doc['influxd_year_scan_s']:.2f} s |",
        f"| {reports['departments']} department reports built (figures, calendar notes) | "
        f"{reports['build_s']:.2f} s |",
    ]
    for fmt in ("html", "xlsx", "csv", "pdf"):
        if f"{fmt}_s" in reports:
            how = "one process" if fmt == "csv" else "both cores"
            if fmt == "pdf" and "previous_pdf" in doc:
                how += ", an earlier run"
            lines.append(
                f"| {reports['departments']} department reports rendered as {fmt.upper()} "
                f"({how}) | {reports[f'{fmt}_s']:.2f} s |"
            )
    lines.append(
        f"| the whole province in one PDF ({reports['province_subjects']} subjects, the 40 "
        f"heaviest incidents) | {reports['province_pdf_s']:.2f} s |"
    )
    lines += [
        "",
        f"**All departments as HTML, warm: {doc['all_departments_s']:.2f} s** (goal: under "
        "10 s; computing, building and rendering); "
        f"the warm computation takes {doc['warm_over_scan']:.2f}× the time influxd needs "
        "just to count the year's verdicts. "
        f"Exactness: {exact['series_checked']} series compared second by second with the "
        f"generator's ground truth (up, degraded, down, unknown): "
        f"{exact['series_differing']} differ.",
        "",
    ]
    return "\n".join(lines)
