"""The benchmarks' results: the province's JSON document, and the human RESULTS.md made from
every benchmark's last run (bench/results/*.json; the ICMP section in _icmp_report.py)."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import PassFigures, median_figures
from _icmp_report import icmp_markdown
from _sla_report import sla_markdown
from _ssh_report import ssh_markdown
from _traps_report import traps_markdown

#: Poller names, in the order they run and are reported.
AGENT, BULKWALK, EXPORTER = "agent", "snmpbulkwalk", "snmp_exporter"
#: (numerator, denominator) of the CPU-per-1,000-values ratios reported.
RATIOS = ((AGENT, BULKWALK), (AGENT, EXPORTER), (EXPORTER, BULKWALK))
#: Each benchmark's last run, from which RESULTS.md is made: one benchmark's run rewrites
#: RESULTS.md with its own new section and the others' sections from these files.
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PROVINCE_JSON, ICMP_JSON = RESULTS_DIR / "province.json", RESULTS_DIR / "icmp.json"
OUTAGE_JSON = RESULTS_DIR / "outage.json"
REQUESTS_JSON = RESULTS_DIR / "snmp_requests.json"
TRAPS_JSON = RESULTS_DIR / "traps.json"
SLA_JSON = RESULTS_DIR / "sla.json"
SSH_JSON = RESULTS_DIR / "ssh_backup.json"


@dataclass(frozen=True)
class PollerRun:
    name: str
    version: str
    what: str  # what this poller does per device, in a few words
    warmup: PassFigures
    passes: Sequence[PassFigures]

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "what": self.what,
            "median": _rounded(median_figures(self.passes)),
            "warmup": _rounded(self.warmup.as_dict()),
            "passes": [_rounded(p.as_dict()) for p in self.passes],
        }


def _rounded(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Figures for JSON: 4 decimals, and null for "not a number" (no values, no ratio)."""
    return {
        key: (round(value, 4) if math.isfinite(value) else None)
        if isinstance(value, float)
        else value
        for key, value in figures.items()
    }


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        # Other work on the machine inflates every figure: judge a run by this.
        "load_average_1min_before": round(os.getloadavg()[0], 2),
    }


def checkout() -> str:
    """The commit benchmarked, "+ changes" if the work tree differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} + changes" if changed else commit


def ratios(runs: Sequence[PollerRun]) -> dict[str, float]:
    per_k = {run.name: median_figures(run.passes)["cpu_s_per_1000_values"] for run in runs}
    return {
        f"{top}/{bottom}": round(per_k[top] / per_k[bottom], 2)
        for top, bottom in RATIOS
        if top in per_k
        and bottom in per_k
        and math.isfinite(per_k[top])
        and math.isfinite(per_k[bottom])
        and per_k[bottom] > 0
    }


def document(header: Mapping[str, Any], runs: Sequence[PollerRun]) -> dict[str, Any]:
    versions = {run.name: run.version for run in runs} | dict(header.get("versions", {}))
    return {
        **header,
        "versions": versions,
        "pollers": {run.name: run.as_dict() for run in runs},
        "ratios_cpu_per_1000_values": ratios(runs),
    }


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


_COLUMNS = (
    ("devices answered", "devices_answered", 0),
    ("values", "values", 0),
    ("wall s", "wall_s", 2),
    ("CPU-s", "cpu_s", 3),
    ("CPU-s / 1,000 values", "cpu_s_per_1000_values", 4),
    ("values / s (wall)", "values_per_s", 0),
    ("peak RSS MiB", "peak_rss_mib", 1),
    ("responders CPU-s", "responders_cpu_s", 2),
)


def _table(doc: Mapping[str, Any]) -> list[str]:
    lines = [
        "| poller | " + " | ".join(title for title, _, _ in _COLUMNS) + " |",
        "|---|" + "---:|" * len(_COLUMNS),
    ]
    for name, run in doc["pollers"].items():
        median = run["median"]
        cells = [_number(median[key], digits) for _, key, digits in _COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _unanswered(doc: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, run in doc["pollers"].items():
        hosts = sorted({host for figures in run["passes"] for host in figures["unanswered"]})
        if hosts:
            lines.append(f"- {name} got no values from {len(hosts)} device(s) in some measured "
                         f"pass: {', '.join(hosts)}")  # fmt: skip
    return lines


def markdown(doc: Mapping[str, Any]) -> str:
    """RESULTS.md after a province run `doc`: its section, then the other benchmarks' last."""
    return results_markdown(province=doc, icmp=_last_run(ICMP_JSON), outage=_last_run(OUTAGE_JSON))


def write_results(
    path: Path,
    *,
    province: Mapping[str, Any] | None = None,
    icmp: Mapping[str, Any] | None = None,
) -> None:
    """Write RESULTS.md; a benchmark not given is taken from its last run's JSON."""
    path.write_text(
        results_markdown(
            province=province if province is not None else _last_run(PROVINCE_JSON),
            icmp=icmp if icmp is not None else _last_run(ICMP_JSON),
            outage=_last_run(OUTAGE_JSON),
            requests=_last_run(REQUESTS_JSON),
            traps=_last_run(TRAPS_JSON),
            sla=_last_run(SLA_JSON),
            ssh=_last_run(SSH_JSON),
        )
    )


def results_markdown(
    *,
    province: Mapping[str, Any] | None,
    icmp: Mapping[str, Any] | None,
    outage: Mapping[str, Any] | None = None,
    requests: Mapping[str, Any] | None = None,
    traps: dict[str, Any] | None = None,
    sla: dict[str, Any] | None = None,
    ssh: dict[str, Any] | None = None,
) -> str:
    """RESULTS.md: one section per benchmark that has a last run."""
    sections = []
    if province is not None:
        sections.append(province_markdown(province))
    if icmp is not None:
        sections.append("\n".join(icmp_markdown(icmp)))
    if outage is not None:
        sections.append(outage_markdown(outage))
    if requests is not None:
        sections.append(requests_markdown(requests))
    if traps is not None:
        sections.append(traps_markdown(traps))
    if sla is not None:
        sections.append(sla_markdown(sla))
    if ssh is not None:
        sections.append(ssh_markdown(ssh))
    return "\n".join(sections)


def requests_markdown(doc: Mapping[str, Any]) -> str:
    """Values per SNMP request with the real profiles (bench/snmp_requests.py)."""
    result, host = doc["result"], doc["machine"]
    first, steady = result["first_contact"], result["steady"]
    return "\n".join(
        [
            "# SNMP values per request: last run",
            "",
            "Written by `bench/snmp_requests.py`; machine-readable: "
            "`bench/results/snmp_requests.json`. Every SNMP host of the lab polled with its own "
            "profiles (chosen by sysObjectID, the agent's default); snmpsim cuts a GETBULK "
            "answer at about 56 values (its message size), as real agents do.",
            "",
            f"- **Checkout** {doc['checkout']}; {host['nproc']} CPUs, load average "
            f"{host['load_average_1min_before']} before; {result['devices_answered']} devices "
            "answered.",
            "",
            "| pass | values | requests | values per request |",
            "|---|---:|---:|---:|",
            f"| first contact (identification GET, label columns) | {first['values']} | "
            f"{first['requests']} | {first['values_per_request']} |",
            f"| steady (counters; label columns from the cache) | {steady['values']:g} | "
            f"{steady['requests']:g} | {steady['values_per_request']} |",
            f"| **15-minute label cycle** (1 first-contact-like + 14 steady polls) | | | "
            f"**{result['label_cycle_values_per_request']}** |",
            "",
            f"Goal: at least {result['goal_values_per_request']:g} values per request: "
            f"**{'met' if result['goal_met'] else 'NOT met'}**.",
            "",
            "Not answered in this burst: "
            + (", ".join(result["unanswered"]) or "none")
            + ". The bench polls every device at once (the worst case, where the agent's "
            "scheduler spreads them over the interval); on 2 cores shared with every "
            "responder, a 146-port Catalyst's 50–80 requests then outlast the 30 s poll "
            "timeout. In `netmon lab run` (spread polls) every device answers.",
            "",
        ]
    )


def outage_markdown(doc: Mapping[str, Any]) -> str:
    """The outage section: InfluxDB away while the agent polls the lab; nothing may be lost."""
    f, host = doc["figures"], doc["machine"]
    return "\n".join(
        [
            "# InfluxDB outage: last run",
            "",
            "Written by `bench/outage` (bench/outage.py); machine-readable: "
            "`bench/results/outage.json`.",
            "",
            f"- **Date**: {doc['date']} (UTC {doc['time_utc']}), checkout {doc['checkout']}; "
            f"{host['nproc']} CPUs, load average {host['load_average_1min_before']} before",
            f"- The agent polled the whole lab for {f['warmup_s']:g} s, then the lab's influxd "
            f"was stopped for **{f['outage_s']:g} s** and restarted on its data.",
            f"- Normal production: {f['normal_samples_per_s']} samples/s. Backlog at the "
            f"restart: {f['backlog_samples']} samples (spool peak {f['peak_spool_bytes']} "
            f"bytes); {f['polls_during_outage']} polls during the outage, "
            f"{f['polls_skipped_during_outage']} skipped.",
            f"- Drain: first delivery {f['seconds_to_first_delivery_after_restart']} s after "
            f"the restart (the writer's back-off), backlog gone in {f['drain_s']} s: "
            f"**{f['drain_samples_per_s']} samples/s, {f['drain_vs_normal_rate']}× the normal "
            f"rate**; current data (a stored point under 15 s old) was back "
            f"{f['fresh_data_after_first_delivery_s']} s after the first delivery.",
            f"- **Spooled {f['samples_spooled']}, stored {f['samples_stored']}** "
            f"(InfluxDB rows, one per series and time): every point stored once: "
            f"**{'yes' if f['every_point_stored_once'] else 'NO'}**. Evicted {f['evicted']}, "
            f"quarantined {f['quarantined']}, write retries {f['write_retries']}.",
            "",
        ]
    )


def _last_run(path: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc


def province_markdown(doc: Mapping[str, Any]) -> str:
    """The province section: what ran, on what, and the medians."""
    lab, settings, versions, host = doc["lab"], doc["settings"], doc["versions"], doc["machine"]
    recordings = ", ".join(f"{name} × {count}" for name, count in lab["by_recording"].items())
    ratio_text = "; ".join(f"**{k}** {v:g}×" for k, v in doc["ratios_cpu_per_1000_values"].items())
    lines = [
        "# Province benchmark: last run",
        "",
        "Written by `bench/run` (bench/province.py); do not edit by hand. Machine-readable: "
        "`bench/results/province.json`.",
        "",
        f"- **Date**: {doc['date']} (UTC {doc['time_utc']}), checkout {doc['checkout']}",
        f"- **Machine**: {host['nproc']} CPUs ({host['cpu_model']}), Linux {host['kernel']}, "
        f"Python {host['python']}; load average {host['load_average_1min_before']} "
        "(1 min, before the run)",
        "- **Versions**: " + "; ".join(f"{k}: {v}" for k, v in versions.items()),
        f"- **Lab**: {lab['devices']} SNMP devices from `{lab['inventory']}` — {recordings}",
        f"- **Each pass** polls every device once (ifTable + ifXTable) with at most "
        f"{settings['max_in_flight']} in flight (the agent's `max_polls_in_flight`); "
        f"{settings['passes']} measured passes per poller after one warm-up pass; "
        "figures are medians (peak RSS: maximum).",
        f"- **SNMP settings** (the inventory's, for all three): timeout {settings['timeout_s']} s, "
        f"retries {settings['retries']}, max-repetitions {settings['max_repetitions']}",
        "",
        *_table(doc),
        "",
        f"CPU per 1,000 values, ratios: {ratio_text}.",
        "",
        "What each poller is:",
        "",
        *(f"- **{name}**: {run['what']}" for name, run in doc["pollers"].items()),
        "",
        "Notes:",
        "",
        "- *responders CPU-s* is what snmpsim and snmpd spent answering during that poller's "
        "pass; it is counted in no poller's CPU.",
        "- Values differ between pollers because each reads a different set of columns; "
        "compare CPU per 1,000 values, not CPU.",
        f"- Exporter module: {settings['exporter_module']}.",
        *_unanswered(doc),
        "",
    ]
    return "\n".join(lines)
