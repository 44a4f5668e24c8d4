"""The agent's own health, written to InfluxDB (like Telegraf's ``inputs.internal``).

Every ``self_report_interval_s`` the agent reads its own Prometheus registry
(`agent.selfmetrics`) and writes what it finds as two measurements, through the same pipeline
and spool as collected samples (so a report taken during an outage is delivered after it).
Values are read by metric name from ``registry.collect()``, so InfluxDB and /metrics always
agree. Each sample carries the ``agent`` tag (added by the pipeline).

``netmon_agent``: one sample per report, no tags of its own.

==========================  =====  ================================================  =======
field                       type   read from (/metrics)                              kind
==========================  =====  ================================================  =======
polls                       int    netmon_polls_total (all checks and results)       counter
poll_errors                 int    netmon_poll_errors_total                          counter
poll_timeouts               int    netmon_poll_timeouts_total                        counter
polls_skipped               int    netmon_polls_skipped_total                        counter
targets                     int    netmon_targets (all checks)                       gauge
samples_written             int    netmon_samples_written_total                      counter
samples_spooled             int    netmon_samples_spooled_total                      counter
samples_dropped             int    netmon_samples_dropped_total                      counter
samples_quarantined         int    netmon_samples_quarantined_total                  counter
write_retries               int    netmon_write_retries_total                        counter
spool_samples               int    netmon_spool_samples                              gauge
spool_bytes                 int    netmon_spool_bytes (only with the disk spool)     gauge
snmp_requests               int    netmon_snmp_requests_total (only with SNMP)       counter
snmp_bad_values             int    netmon_snmp_bad_values_total (only with SNMP)     counter
traps_received              int    netmon_traps_received_total (only with traps)     counter
uptime_s                    float  seconds since the agent's process started         gauge
==========================  =====  ================================================  =======

``netmon_checks``: one sample per check type, tag ``check`` (snmp, ping, http, tcp, sip, vc):
``polls``, ``poll_errors``, ``poll_timeouts``, ``polls_skipped``, ``targets`` (int, as above
but for that check), ``poll_duration_s_sum`` (float, s; netmon_poll_duration_seconds_sum)
and ``poll_duration_count`` (int; netmon_poll_duration_seconds_count).

Counters are cumulative since the agent started, as on /metrics: query them with
``non_negative_derivative`` (they restart from 0 with the agent). A metric the agent does not
have (no SNMP check, traps off, memory buffer) leaves its field out; it is never written as 0.
The types are fixed for good (InfluxDB refuses a field whose type changes).

Example line::

    netmon_agent,agent=dc1-agent polls=5120i,poll_errors=12i,...,uptime_s=3600.2 1767225600000000000
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from agent.samples import FieldValue, Sample
from agent.schema import FieldType, Measurement

log = logging.getLogger(__name__)

INT, FLOAT = FieldType.INT, FieldType.FLOAT


@dataclass(frozen=True)
class Source:
    """Where a field is read: a metric family of the registry and which of its samples
    (``family + suffix``: ``netmon_polls`` + ``_total``); series are summed."""

    family: str
    suffix: str = ""
    kind: FieldType = INT

    @property
    def sample_name(self) -> str:
        return self.family + self.suffix


def _counter(family: str) -> Source:
    return Source(family, "_total")


#: Per-check fields: read from series labelled ``check``, summed over the other labels.
CHECK_SOURCES: Mapping[str, Source] = {
    "polls": _counter("netmon_polls"),
    "poll_errors": _counter("netmon_poll_errors"),
    "poll_timeouts": _counter("netmon_poll_timeouts"),
    "polls_skipped": _counter("netmon_polls_skipped"),
    "targets": Source("netmon_targets"),
    "poll_duration_s_sum": Source("netmon_poll_duration_seconds", "_sum", FLOAT),
    "poll_duration_count": Source("netmon_poll_duration_seconds", "_count"),
}

#: Agent-wide fields: every series of the metric summed.
AGENT_SOURCES: Mapping[str, Source] = {
    "polls": CHECK_SOURCES["polls"],
    "poll_errors": CHECK_SOURCES["poll_errors"],
    "poll_timeouts": CHECK_SOURCES["poll_timeouts"],
    "polls_skipped": CHECK_SOURCES["polls_skipped"],
    "targets": CHECK_SOURCES["targets"],
    "samples_written": _counter("netmon_samples_written"),
    "samples_spooled": _counter("netmon_samples_spooled"),
    "samples_dropped": _counter("netmon_samples_dropped"),
    "samples_quarantined": _counter("netmon_samples_quarantined"),
    "write_retries": _counter("netmon_write_retries"),
    "spool_samples": Source("netmon_spool_samples"),
    "spool_bytes": Source("netmon_spool_bytes"),
    "snmp_requests": _counter("netmon_snmp_requests"),
    "snmp_bad_values": _counter("netmon_snmp_bad_values"),
    "traps_received": _counter("netmon_traps_received"),
}

UPTIME = "uptime_s"

AGENT = Measurement(
    name="netmon_agent",
    tags=frozenset(),
    fields={**{name: source.kind for name, source in AGENT_SOURCES.items()}, UPTIME: FLOAT},
    description="The agent's own health, every self_report_interval_s (agent.selfreport).",
    units={"spool_bytes": "bytes", UPTIME: "seconds"},
)

CHECKS = Measurement(
    name="netmon_checks",
    tags=frozenset({"check"}),
    fields={name: source.kind for name, source in CHECK_SOURCES.items()},
    description="The agent's polls per check type, every self_report_interval_s.",
    units={"poll_duration_s_sum": "seconds"},
)

SELF_MEASUREMENTS = (AGENT, CHECKS)


@dataclass(frozen=True)
class _Series:
    name: str
    labels: Mapping[str, str]
    value: float


def _read(registry: CollectorRegistry) -> dict[str, list[_Series]]:
    """Every metric family of the registry (even one without series yet) → its series."""
    return {
        family.name: [_Series(s.name, s.labels, s.value) for s in family.samples]
        for family in registry.collect()
    }


def _fields(
    families: Mapping[str, Sequence[_Series]],
    sources: Mapping[str, Source],
    check: str | None = None,
) -> dict[str, FieldValue]:
    """The fields whose metric is registered: the sum of its series (of `check` if given)."""
    fields: dict[str, FieldValue] = {}
    for name, source in sources.items():
        series = families.get(source.family)
        if series is None:
            continue
        total = math.fsum(
            s.value
            for s in series
            if s.name == source.sample_name and (check is None or s.labels.get("check") == check)
        )
        if not math.isfinite(total):
            continue
        fields[name] = float(total) if source.kind is FLOAT else round(total)
    return fields


def _checks(families: Mapping[str, Sequence[_Series]]) -> list[str]:
    found = {
        s.labels["check"]
        for source in CHECK_SOURCES.values()
        for s in families.get(source.family, ())
        if "check" in s.labels
    }
    return sorted(found)


def build_samples(
    registry: CollectorRegistry, timestamp_ns: int, *, started_s: float | None = None
) -> list[Sample]:
    """One report: a ``netmon_agent`` sample, then a ``netmon_checks`` sample per check.

    `started_s` is when the agent's process started (seconds since the epoch); without it
    ``uptime_s`` is left out.
    """
    families = _read(registry)
    agent_fields = _fields(families, AGENT_SOURCES)
    if started_s is not None:
        agent_fields[UPTIME] = max(0.0, timestamp_ns / 1e9 - started_s)
    samples = [Sample(AGENT.name, {}, agent_fields, timestamp_ns)] if agent_fields else []
    samples.extend(
        Sample(CHECKS.name, {"check": check}, _fields(families, CHECK_SOURCES, check), timestamp_ns)
        for check in _checks(families)
    )
    return samples


def process_start_s() -> float | None:
    """When this process started (seconds since the epoch), from /proc; None without it."""
    for family in ProcessCollector(registry=None).collect():
        if family.name == "process_start_time_seconds" and family.samples:
            return float(family.samples[0].value)
    return None


async def report_periodically(
    registry: CollectorRegistry,
    sink: Callable[[Sequence[Sample]], None],
    interval_s: float,
) -> None:
    """Every `interval_s`, hand a report to `sink` (the pipeline); runs until cancelled.

    A report that fails is logged and the next one is still taken.
    """
    started_s = process_start_s()
    if started_s is None:
        started_s = time.time()
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        due += interval_s
        # A late wake-up (a stalled loop) skips to the next slot instead of catching up.
        while due <= loop.time():
            due += interval_s
        await asyncio.sleep(due - loop.time())
        try:
            sink(build_samples(registry, time.time_ns(), started_s=started_s))
        except Exception:
            log.exception("self-report failed; the next one is in %g s", interval_s)
