"""Putting the agent together: inventory → scheduler → pipeline → buffer → writer.

Outputs start first and stop last (STYLE: Telegraf agent.go), so no poll's samples arrive at a
writer that is not running, and a shutdown flushes what was collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import start_http_server

from agent.availability import Assess, AvailabilityTracker, Thresholds
from agent.collector import CollectorContext, CollectorRegistry, PolledCollector
from agent.counters import CounterGuard
from agent.inventory.model import Inventory
from agent.output.buffer import LineBuffer, MemoryBuffer
from agent.output.quarantine import Quarantine
from agent.output.spool import Spool
from agent.output.transport_v2 import V2Transport
from agent.output.transports import Transport, V1Transport
from agent.output.writer import Writer
from agent.pipeline import Pipeline
from agent.samples import Sample
from agent.scheduler import Scheduler
from agent.schema import SchemaRegistry, base_schema
from agent.selfmetrics import SelfMetrics, StatsReading
from agent.selfreport import report_periodically
from agent.settings import InfluxSettings, Settings, SettingsError
from collectors.traps import (
    TRAP_MEASUREMENTS,
    InterfaceTagsLookup,
    TrapReceiver,
    trap_credentials,
    trap_senders,
)

log = logging.getLogger(__name__)


def make_transport(influx: InfluxSettings) -> Transport:
    if influx.transport == "v2":
        token = influx.resolved_token()
        if token is None:
            raise SettingsError("influxdb: the v2 transport needs a token (token or token_file)")
        if not influx.org or not influx.bucket:
            raise SettingsError("influxdb: the v2 transport needs org and bucket")
        return V2Transport(
            influx.url,
            influx.org,
            influx.bucket,
            token,
            verify_tls=influx.verify_tls,
            ca_bundle=influx.ca_file,
            timeout_s=influx.timeout_s,
        )
    password = influx.resolved_password()
    token = influx.resolved_token()
    if password is not None and not influx.username:
        raise SettingsError("influxdb: a password needs a username")
    return V1Transport(
        influx.url,
        influx.database,
        retention_policy=influx.retention_policy,
        username=influx.username if password is not None else None,
        password=password,
        token=token if password is None else None,
        verify_tls=influx.verify_tls,
        ca_bundle=influx.ca_file,
        timeout_s=influx.timeout_s,
    )


def make_buffer(settings: Settings) -> LineBuffer:
    """The durable spool (the default), or a memory buffer when [spool] enabled = false.

    Raises SpoolError when the spool directory is taken by another agent or not writable.
    """
    spool = settings.spool
    if not spool.enabled:
        return MemoryBuffer(settings.influxdb.buffer_max_lines)
    return Spool.open(
        settings.spool_dir,
        max_bytes=spool.max_bytes,
        max_age_s=spool.max_age_s,
        segment_bytes=spool.segment_bytes,
        fsync_interval_s=spool.fsync_interval_s,
    )


def make_collectors(
    settings: Settings,
    registry: CollectorRegistry,
    inventory: Inventory,
    schema: SchemaRegistry,
    *,
    read_only: bool = False,
) -> dict[str, PolledCollector]:
    context = CollectorContext(
        schema=schema,
        receive_buffer_bytes=settings.snmp.receive_buffer_bytes,
        icmp_mode=settings.probes.icmp_mode,
        ca_file=settings.probes.ca_file,
        ssh=settings.ssh,
        known_hosts_file=settings.known_hosts_file,
        backup_dir=settings.backup_dir,
        agent_name=settings.agent_name,
        read_only=read_only,
    )
    needed = sorted({target.check for target in inventory.targets()})
    return {name: registry.create(name, context) for name in needed}


def availability_tracker(
    inventory: Inventory, collectors: Mapping[str, PolledCollector]
) -> AvailabilityTracker:
    """Judges every poll; each host's services (and their thresholds) from the catalogue."""
    services: dict[str, list[tuple[str, Thresholds]]] = {}
    for name, service in sorted(inventory.services.items()):
        thresholds = Thresholds(service.down_after, service.up_after)
        for host in service.components(dict(inventory.groups)):
            services.setdefault(host, []).append((name, thresholds))
    # assess is optional in the collector contract (agent.availability); getattr finds it.
    assessors: dict[str, Assess] = {}
    for check, collector in collectors.items():
        assess = getattr(collector, "assess", None)
        if callable(assess):
            assessors[check] = assess
    return AvailabilityTracker(services=services, assessors=assessors)


def make_trap_receiver(
    settings: Settings,
    inventory: Inventory,
    collectors: Mapping[str, PolledCollector],
    pipeline: Pipeline,
) -> TrapReceiver:
    """The trap listener: the inventory's SNMP credentials, the poller's interface labels,
    and the counter guard told of restarts (coldStart/warmStart)."""
    lookup: InterfaceTagsLookup | None = getattr(collectors.get("snmp"), "interface_tags", None)
    counters = pipeline.counters
    return TrapReceiver(
        (settings.traps.host, settings.traps.port),
        trap_credentials(inventory),
        trap_senders(inventory),
        interface_tags=lookup if lookup is not None else (lambda host, if_index: {}),
        on_restart=counters.discontinuity if counters is not None else None,
        receive_buffer_bytes=settings.snmp.receive_buffer_bytes,
    )


@dataclass
class Agent:
    """A running agent's parts, exposed for status and tests."""

    settings: Settings
    inventory: Inventory
    schema: SchemaRegistry
    collectors: dict[str, PolledCollector]
    buffer: LineBuffer
    writer: Writer
    pipeline: Pipeline
    scheduler: Scheduler
    metrics: SelfMetrics
    traps: TrapReceiver | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        inventory: Inventory,
        registry: CollectorRegistry,
        *,
        spread: bool = True,
    ) -> Agent:
        schema = base_schema()
        collectors = make_collectors(settings, registry, inventory, schema)
        if settings.traps.enabled:
            for measurement in TRAP_MEASUREMENTS:
                schema.declare(measurement)
        transport = make_transport(settings.influxdb)
        buffer = make_buffer(settings)  # last: it locks the spool, nothing may fail after
        writer = Writer(
            transport,
            buffer,
            batch_size=settings.influxdb.batch_size,
            flush_interval_s=settings.influxdb.flush_interval_s,
            gzip=settings.influxdb.gzip,
            quarantine=Quarantine(
                settings.quarantine_dir,
                max_bytes=settings.influxdb.quarantine_max_bytes,
            ),
        )
        pipeline = Pipeline(
            schema,
            buffer,
            agent_name=settings.agent_name,
            uint_mode=settings.influxdb.uint_mode,
            availability=availability_tracker(inventory, collectors),
            counters=CounterGuard(state_file=settings.state_dir / "counters.json"),
        )
        metrics = SelfMetrics()
        scheduler = Scheduler(
            inventory.targets(),
            collectors,
            pipeline.accept_poll,
            metrics,
            spread=spread,
            max_in_flight=settings.max_polls_in_flight,
        )
        traps = None
        if settings.traps.enabled:
            traps = make_trap_receiver(settings, inventory, collectors, pipeline)
        agent = cls(
            settings,
            inventory,
            schema,
            collectors,
            buffer,
            writer,
            pipeline,
            scheduler,
            metrics,
            traps,
        )
        agent._register_readings()
        return agent

    def _register_readings(self) -> None:
        stats = self.writer.stats
        buffer = self.buffer
        readings = [
            StatsReading(
                "netmon_samples_written",
                "Samples delivered to InfluxDB",
                "counter",
                lambda: stats.lines_written,
            ),
            StatsReading(
                "netmon_samples_spooled",
                "Samples handed to the spool (or memory buffer) for delivery",
                "counter",
                lambda: self.pipeline.stats.samples_out,
            ),
            StatsReading(
                "netmon_samples_quarantined",
                "Samples InfluxDB refused for good, kept in the quarantine file with the reason",
                "counter",
                lambda: stats.lines_quarantined,
            ),
            StatsReading(
                "netmon_write_retries",
                "Writes retried after a retryable error (429, 5xx, auth, no answer)",
                "counter",
                lambda: stats.retries,
            ),
            StatsReading(
                "netmon_spool_samples",
                "Samples waiting for delivery (in the spool, or the memory buffer without one)",
                "gauge",
                lambda: buffer.lines_buffered,
            ),
            StatsReading(
                "netmon_spool_evicted",
                "Samples evicted, oldest first, because the spool reached its size or age bound",
                "counter",
                lambda: buffer.lines_evicted,
            ),
            StatsReading(
                "netmon_samples_dropped",
                "Samples dropped by the pipeline (undeclared in the schema, or nothing writable)",
                "counter",
                lambda: sum(self.pipeline.stats.dropped.values()),
            ),
        ]
        quarantine = self.writer.quarantine
        if isinstance(quarantine, Quarantine):
            readings.append(
                StatsReading(
                    "netmon_quarantine_lost",
                    "Refused samples the quarantine could not keep (disk error, or rotated out)",
                    "counter",
                    lambda: quarantine.stats.lost + quarantine.stats.discarded,
                )
            )
        if isinstance(buffer, Spool):
            readings.extend(spool_readings(buffer))
        if self.pipeline.counters is not None:
            readings.extend(counter_readings(self.pipeline.counters))
        if self.traps is not None:
            readings.extend(trap_readings(self.traps))
        snmp = self.collectors.get("snmp")
        snmp_stats: Any = getattr(snmp, "stats", None)
        if snmp_stats is not None:
            readings.extend(snmp_readings(snmp_stats))
        for collector in self.collectors.values():
            # Optional in the collector contract: a collector's own counters for /metrics.
            own = getattr(collector, "readings", None)
            if callable(own):
                readings.extend(own())
        self.metrics.add_readings(readings)
        for check in self.collectors:
            count = sum(1 for t in self.scheduler.targets if t.check == check)
            self.metrics.targets.labels(check).set(count)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; then stop polling, close collectors, flush the writer.

        Whatever fails on the way down, the writer is still asked to flush what is buffered.
        """
        writer_task = asyncio.create_task(self.writer.run(), name="writer")
        stop_task = asyncio.create_task(stop.wait())
        scheduler_task: asyncio.Task[None] | None = None
        report_task: asyncio.Task[None] | None = None
        try:
            if self.traps is not None:
                await self.traps.start(self.take_traps)  # TrapListenError names the address
            scheduler_task = asyncio.create_task(self.scheduler.run(), name="scheduler")
            report_task = self._start_self_report()
            await asyncio.wait(
                {scheduler_task, writer_task, stop_task}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self.scheduler.stop()
            stop_task.cancel()
            try:
                if report_task is not None:
                    report_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await report_task
                if scheduler_task is not None:
                    await scheduler_task
                if self.traps is not None:
                    await self.traps.stop()
                for collector in self.collectors.values():
                    await collector.close()
            finally:
                self.pipeline.close()  # the counter guard's offsets, for the next start
                try:
                    await self.writer.stop(timeout_s=10.0)
                    writer_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await writer_task
                finally:
                    self.release()

    def _start_self_report(self) -> asyncio.Task[None] | None:
        """The agent's health into InfluxDB (agent.selfreport), unless the interval is 0."""
        interval_s = self.settings.self_report_interval_s
        if interval_s <= 0:
            return None
        report = report_periodically(self.metrics.registry, self.pipeline.accept, interval_s)
        return asyncio.create_task(report, name="self-report")

    def take_traps(self, samples: Sequence[Sample]) -> None:
        """The trap listener's sink: each sender's samples with its inventory tags, sent to
        InfluxDB without waiting for the flush interval (a trap is news)."""
        by_source: defaultdict[str, list[Sample]] = defaultdict(list)
        for sample in samples:
            by_source[sample.tags.get("source", "")].append(sample)
        for source, group in by_source.items():
            host = self.inventory.hosts.get(source)
            self.pipeline.accept(group, host.tags if host is not None else {})
        self.writer.send_soon()

    def release(self) -> None:
        """Let go of the spool (sync, save what was delivered, unlock). Idempotent."""
        if isinstance(self.buffer, Spool):
            self.buffer.release()


def snmp_readings(stats: Any) -> list[StatsReading]:
    """The SNMP collector's work (collectors.snmp.collector.SnmpStats)."""
    return [
        StatsReading(
            "netmon_snmp_bad_values",
            "Device answers that could not be used (counted, logged, skipped)",
            "counter",
            lambda: stats.bad_values,
        ),
        StatsReading(
            "netmon_snmp_requests",
            "SNMP requests sent (GET, GETNEXT, GETBULK)",
            "counter",
            lambda: stats.requests,
        ),
        StatsReading(
            "netmon_snmp_values",
            "SNMP values received and used (values per request = this / netmon_snmp_requests)",
            "counter",
            lambda: stats.values_polled,
        ),
        StatsReading(
            "netmon_snmp_table_errors",
            "Tables a device refused (the rest of its poll kept)",
            "counter",
            lambda: stats.table_errors,
        ),
        StatsReading(
            "netmon_snmp_pacing_reductions",
            "GETBULK sizes halved for a device after tooBig or a timeout (kept for that device)",
            "counter",
            lambda: stats.pacing_reductions,
        ),
        StatsReading(
            "netmon_snmp_label_walks",
            "Walks of label columns (ifName, ifAlias, ...), every label_refresh_s per device",
            "counter",
            lambda: stats.label_walks,
        ),
    ]


def counter_readings(guard: CounterGuard) -> list[StatsReading]:
    """What the counter guard did (agent.counters): wraps extended, discontinuities held."""
    stats = guard.stats
    return [
        StatsReading(
            "netmon_counter_wraps",
            "32-bit counter wraps extended (the rate across them stays exact)",
            "counter",
            lambda: stats.wraps,
        ),
        StatsReading(
            "netmon_counter_discontinuities",
            "Counter rows held across a discontinuity (device restart, reset, long gap)",
            "counter",
            lambda: stats.discontinuities,
        ),
        StatsReading(
            "netmon_device_restarts",
            "Device restarts seen (sysUpTime went back, or a coldStart/warmStart)",
            "counter",
            lambda: stats.device_restarts,
        ),
        StatsReading(
            "netmon_counter_state_errors",
            "Failures to read or save the counter guard's state file (logged)",
            "counter",
            lambda: stats.state_errors,
        ),
    ]


def trap_readings(traps: TrapReceiver) -> list[StatsReading]:
    """What the trap listener received, and what it dropped (collectors.traps)."""
    stats = traps.stats
    return [
        StatsReading(
            "netmon_traps_received",
            "SNMP traps and informs received from a configured community or user",
            "counter",
            lambda: stats.received,
        ),
        StatsReading(
            "netmon_traps_malformed",
            "Datagrams on the trap port that were no readable trap or inform (dropped, logged)",
            "counter",
            lambda: stats.malformed,
        ),
        StatsReading(
            "netmon_traps_refused",
            "Traps refused: unknown community or user, failed authentication, too low a "
            "security level (dropped, logged once per sender and kind)",
            "counter",
            lambda: stats.refused_total,
        ),
        StatsReading(
            "netmon_traps_engine_discovery",
            "SNMPv3 engine-ID discovery probes answered (the first step of an SNMPv3 inform)",
            "counter",
            lambda: stats.discovery,
        ),
        StatsReading(
            "netmon_traps_unknown_sender",
            "Traps from an address no inventory host has (tagged with the address)",
            "counter",
            lambda: stats.unknown_senders,
        ),
        StatsReading(
            "netmon_traps_engines_learned",
            "SNMPv3 engine IDs learned from authenticated traps",
            "counter",
            lambda: stats.engines_learned,
        ),
    ]


def spool_readings(spool: Spool) -> list[StatsReading]:
    """The spool's own gauges and counters (DESIGN §3: visibility of what waits on disk)."""
    return [
        StatsReading(
            "netmon_spool_bytes", "Bytes of the spool's files", "gauge", lambda: spool.size_bytes
        ),
        StatsReading(
            "netmon_spool_segments",
            "Segment files in the spool",
            "gauge",
            lambda: spool.segment_count,
        ),
        StatsReading(
            "netmon_spool_oldest_age_seconds",
            "Age of the oldest sample not yet delivered (0 when all are delivered)",
            "gauge",
            spool.oldest_age_s,
        ),
        StatsReading(
            "netmon_spool_replayed",
            "Samples found undelivered in the spool when the agent started",
            "counter",
            lambda: spool.stats.lines_replayed,
        ),
        StatsReading(
            "netmon_spool_lost",
            "Samples lost to a damaged spool file or a failed disk write (logged)",
            "counter",
            lambda: spool.stats.lines_lost,
        ),
    ]


class MetricsListenError(OSError):
    """The /metrics address is taken or not ours."""


@contextlib.contextmanager
def metrics_server(agent: Agent) -> Iterator[None]:
    listen = agent.settings.metrics
    if not listen.enabled:
        yield
        return
    try:
        server, thread = start_http_server(
            listen.port, addr=listen.host, registry=agent.metrics.registry
        )
    except OSError as exc:
        raise MetricsListenError(
            f"/metrics cannot listen on {listen.listen}: {exc.strerror}"
        ) from None
    log.info("self-monitoring on http://%s/metrics", listen.listen)
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=5)


async def run_until_stopped(agent: Agent, duration_s: float | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if duration_s is not None:
        loop.call_later(duration_s, stop.set)
    try:
        with metrics_server(agent):
            await agent.run(stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
