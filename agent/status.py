"""``netmon status``: is the agent delivering, and what waits in its spool?

Two sources, so that the command answers also when the agent is down:
- the running agent's own /metrics (settings [metrics] listen): polls, deliveries, retries,
  quarantined and evicted samples, the spool's gauges;
- the spool directory itself, read without locking it: what waits there for delivery, and
  since when — exactly what an operator needs to know after a crash, before restarting.

Exit status: 0 the agent answers and nothing waits longer than a minute; 1 the agent does not
answer, or data has been waiting longer (an InfluxDB outage); 3 invalid settings.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

import click
from prometheus_client.parser import text_string_to_metric_families

from agent.output.spool import SpoolSummary, inspect
from agent.settings import Settings

#: Data waiting longer than this means deliveries are not keeping up (or InfluxDB is down).
STALE_AFTER_S = 60.0


@dataclass
class AgentReading:
    """The figures `netmon status` reads from /metrics (totals since the agent started)."""

    reachable: bool
    url: str
    error: str = ""
    values: dict[str, float] = field(default_factory=dict)
    polls: dict[str, dict[str, float]] = field(default_factory=dict)  # check → result → count
    targets: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, float] = field(default_factory=dict)  # check → poll slots skipped

    def value(self, name: str) -> float:
        """An unlabelled series (0 when the agent did not expose it)."""
        return self.values.get(name, 0.0)


def read_metrics(url: str, timeout_s: float = 3.0) -> AgentReading:
    """Scrape the agent's /metrics; never raises for an agent that is down."""
    try:
        # The URL is built from our own settings' listen address (loopback by default).
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            text = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return AgentReading(False, url, error=str(reason))
    reading = AgentReading(True, url)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "netmon_polls_total":
                check = sample.labels.get("check", "")
                result = sample.labels.get("result", "")
                reading.polls.setdefault(check, {})[result] = sample.value
            elif sample.name == "netmon_targets":
                reading.targets[sample.labels.get("check", "")] = sample.value
            elif sample.name == "netmon_polls_skipped_total":
                reading.skipped[sample.labels.get("check", "")] = sample.value
            elif sample.name.startswith("netmon_") and not sample.labels:
                reading.values[sample.name] = sample.value
    return reading


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def render(reading: AgentReading, summary: SpoolSummary | None, now_ns: int) -> list[str]:
    lines: list[str] = []
    if reading.reachable:
        values = reading.values
        lines.append(f"agent: running ({reading.url})")
        for check in sorted(reading.polls):
            results = reading.polls[check]
            failed = sum(v for k, v in results.items() if k != "success")
            lines.append(
                f"  {check:<6} {reading.targets.get(check, 0):>5.0f} targets   "
                f"{results.get('success', 0):>9.0f} polls ok   {failed:>7.0f} failed   "
                f"{reading.skipped.get(check, 0):>5.0f} skipped (overran)"
            )
        lines.append(
            f"  delivered to InfluxDB: {values.get('netmon_samples_written_total', 0):.0f} samples"
            f"   retried writes: {values.get('netmon_write_retries_total', 0):.0f}"
        )
        lines.append(
            f"  quarantined: {values.get('netmon_samples_quarantined_total', 0):.0f}"
            f"   evicted from the spool: {values.get('netmon_spool_evicted_total', 0):.0f}"
            f"   lost: {values.get('netmon_spool_lost_total', 0):.0f}"
            f"   dropped by the pipeline: {values.get('netmon_samples_dropped_total', 0):.0f}"
        )
        if values.get("netmon_samples_quarantined_total", 0):
            lines.append(
                "  refused samples and InfluxDB's reasons: <state_dir>/quarantine/quarantine.jsonl"
                " (python -m agent.output.quarantine prints them for re-sending)"
            )
    else:
        lines.append(f"agent: not answering at {reading.url} ({reading.error})")
    if summary is None:
        lines.append("spool: none (the agent has not run with this state_dir, or it is off)")
        return lines
    waiting = f"{summary.undelivered} samples waiting"
    if summary.oldest_undelivered_ns is not None:
        waiting += f", the oldest for {_age((now_ns - summary.oldest_undelivered_ns) / 1e9)}"
    lines.append(
        f"spool {summary.directory}: {waiting}; {summary.segments} segment files, "
        f"{_size(summary.size_bytes)}; {summary.end_position} samples spooled since it was made"
    )
    return lines


def healthy(reading: AgentReading, summary: SpoolSummary | None, now_ns: int) -> bool:
    if not reading.reachable:
        return False
    if summary is None or summary.oldest_undelivered_ns is None:
        return True
    return (now_ns - summary.oldest_undelivered_ns) / 1e9 <= STALE_AFTER_S


def as_json(reading: AgentReading, summary: SpoolSummary | None, now_ns: int) -> str:
    data: dict[str, Any] = {"agent": asdict(reading), "spool": None}
    if summary is not None:
        spool = asdict(summary)
        spool["directory"] = str(summary.directory)
        oldest = summary.oldest_undelivered_ns
        spool["oldest_age_s"] = None if oldest is None else round((now_ns - oldest) / 1e9, 3)
        data["spool"] = spool
    data["healthy"] = healthy(reading, summary, now_ns)
    return json.dumps(data, indent=2)


@click.command("status")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.pass_context
def status(ctx: click.Context, output_format: str) -> None:
    """Is the agent running and delivering? What waits in its spool, and since when?

    Reads the agent's /metrics and its spool directory (works while the agent is down).
    Exit status: 0 healthy, 1 not answering or data waiting longer than a minute.
    """
    settings: Settings = ctx.obj.settings
    metrics = settings.metrics
    if metrics.enabled:
        reading = read_metrics(f"http://{metrics.listen}/metrics")
    else:
        reading = AgentReading(False, "(none)", error="[metrics] enabled = false")
    summary = inspect(settings.spool_dir)
    now = time.time_ns()
    if output_format == "json":
        click.echo(as_json(reading, summary, now))
    else:
        for line in render(reading, summary, now):
            click.echo(line)
    ctx.exit(0 if healthy(reading, summary, now) else 1)
