"""The agent's health report (agent.selfreport): from a real Prometheus registry to samples.

The registries are the agent's own kind (`SelfMetrics`, with `StatsReading`s), filled with
known values; one is the registry of an `Agent.build` (memory buffer or spool, no network), so
a metric renamed in the runner fails here rather than silently leaving a field out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry as PrometheusRegistry

from agent.collector import CollectorRegistry, Target
from agent.inventory.model import Host, HostSettings, Inventory
from agent.pipeline import add_inventory_tags
from agent.runner import Agent
from agent.samples import Sample
from agent.schema import FieldType, base_schema
from agent.selfmetrics import SelfMetrics, StatsReading
from agent.selfreport import AGENT_SOURCES, build_samples, report_periodically
from agent.settings import load_settings
from collectors.snmp.config import CommunityCredential, SnmpConfig

T = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
STARTED_S = 1_767_225_000.0  # ten minutes before T


def target(check: str) -> Target:
    return Target(host=f"{check}-host", address="127.0.0.1", check=check, config=None)


def filled_metrics() -> SelfMetrics:
    metrics = SelfMetrics()
    values = {
        "netmon_samples_written": ("counter", 1200),
        "netmon_samples_spooled": ("counter", 1250),
        "netmon_samples_dropped": ("counter", 3),
        "netmon_samples_quarantined": ("counter", 2),
        "netmon_write_retries": ("counter", 7),
        "netmon_spool_samples": ("gauge", 50),
        "netmon_spool_bytes": ("gauge", 25_600),
        "netmon_snmp_requests": ("counter", 900),
        "netmon_snmp_bad_values": ("counter", 4),
        "netmon_traps_received": ("counter", 11),
        "netmon_spool_segments": ("gauge", 3),  # not reported: must not appear
    }
    metrics.add_readings(
        StatsReading(name, "test", kind, lambda value=value: value)
        for name, (kind, value) in values.items()
    )
    for result, duration_s in [("success", 0.25), ("success", 0.5), ("timeout", 2.0)]:
        metrics.polled(target("snmp"), result, duration_s)
    metrics.polled(target("ping"), "connection_error", 1.25)
    metrics.skipped(target("snmp"), 2)
    metrics.targets.labels("snmp").set(3)
    metrics.targets.labels("ping").set(5)
    metrics.targets.labels("http").set(1)  # scheduled, not yet polled
    return metrics


def by_key(samples: list[Sample]) -> dict[str, Sample]:
    return {s.tags.get("check", s.measurement): s for s in samples}


def test_a_report_reads_every_field_from_the_registry_exactly() -> None:
    samples = build_samples(filled_metrics().registry, T, started_s=STARTED_S)

    assert [s.measurement for s in samples] == ["netmon_agent"] + ["netmon_checks"] * 3
    assert all(s.timestamp_ns == T for s in samples)
    found = by_key(samples)
    assert found["netmon_agent"].tags == {}
    assert found["netmon_agent"].fields == {
        "polls": 4,
        "poll_errors": 2,
        "poll_timeouts": 1,
        "polls_skipped": 2,
        "targets": 9,
        "samples_written": 1200,
        "samples_spooled": 1250,
        "samples_dropped": 3,
        "samples_quarantined": 2,
        "write_retries": 7,
        "spool_samples": 50,
        "spool_bytes": 25_600,
        "snmp_requests": 900,
        "snmp_bad_values": 4,
        "traps_received": 11,
        "uptime_s": 600.0,
    }
    assert found["snmp"].fields == {
        "polls": 3,
        "poll_errors": 1,
        "poll_timeouts": 1,
        "polls_skipped": 2,
        "targets": 3,
        "poll_duration_s_sum": 2.75,
        "poll_duration_count": 3,
    }
    assert found["ping"].fields == {
        "polls": 1,
        "poll_errors": 1,
        "poll_timeouts": 0,
        "polls_skipped": 0,
        "targets": 5,
        "poll_duration_s_sum": 1.25,
        "poll_duration_count": 1,
    }
    assert found["http"].fields["targets"] == 1
    assert found["http"].fields["polls"] == 0
    # The types are the declared ones, not Prometheus' floats.
    assert type(found["netmon_agent"].fields["polls"]) is int
    assert type(found["snmp"].fields["poll_duration_s_sum"]) is float


def test_a_metric_the_agent_does_not_have_leaves_its_field_out() -> None:
    metrics = SelfMetrics()  # no spool, no writer stats, no SNMP, no traps
    metrics.polled(target("tcp"), "success", 0.5)

    (agent, tcp) = build_samples(metrics.registry, T)

    assert agent.fields == {
        "polls": 1,
        "poll_errors": 0,
        "poll_timeouts": 0,
        "polls_skipped": 0,
        "targets": 0,
    }
    assert "uptime_s" not in agent.fields  # no start time given
    assert tcp.tags == {"check": "tcp"}
    assert "targets" in tcp.fields  # the gauge exists (0 for tcp): written, not left out


def test_an_empty_registry_reports_nothing() -> None:
    assert build_samples(PrometheusRegistry(), T) == []


def test_reports_conform_to_the_schema_with_the_agent_tag() -> None:
    schema = base_schema()
    samples = build_samples(filled_metrics().registry, T, started_s=STARTED_S)
    add_inventory_tags(samples, {}, "unit-agent")

    assert [schema.problems(s) for s in samples] == [[]] * len(samples)
    assert {s.tags["agent"] for s in samples} == {"unit-agent"}
    agent = schema.get("netmon_agent")
    assert agent is not None
    assert dict(agent.fields) == {
        **dict.fromkeys(AGENT_SOURCES, FieldType.INT),
        "uptime_s": FieldType.FLOAT,
    }
    assert agent.tags == frozenset()
    checks = schema.get("netmon_checks")
    assert checks is not None
    assert checks.tags == frozenset({"check"})
    assert checks.fields["poll_duration_s_sum"] is FieldType.FLOAT


def test_a_float_where_an_int_is_declared_would_not_conform() -> None:
    # The conformance check above can fail: a Prometheus float passed through unconverted.
    sample = Sample("netmon_agent", {"agent": "a"}, {"polls": 4.0}, T)
    assert base_schema().problems(sample) == ["netmon_agent.polls: float value, declared int"]


def snmp_inventory() -> Inventory:
    settings = HostSettings(netmon_checks=["snmp"], netmon_site="S1", netmon_level="commune")
    credential = CommunityCredential(name="lab_v2c", version="2c", community="unit-Community")
    host = Host("cpe-a", "127.9.5.41", (), settings, {"snmp": SnmpConfig(credential=credential)})
    return Inventory(source="unit", hosts={"cpe-a": host})


def test_the_agent_registers_every_metric_the_report_reads(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        {
            "NETMON_STATE_DIR": str(tmp_path),
            "NETMON_TRAPS_ENABLED": "true",
            "NETMON_TRAPS_LISTEN": "127.9.5.1:16162",
        },
    )
    agent = Agent.build(settings, snmp_inventory(), CollectorRegistry.from_entry_points())
    try:
        (report, snmp) = build_samples(agent.metrics.registry, T, started_s=STARTED_S)
    finally:
        agent.release()

    assert set(report.fields) == {*AGENT_SOURCES, "uptime_s"}
    assert report.fields["targets"] == 1
    assert snmp.tags == {"check": "snmp"}


def test_the_report_interval_setting() -> None:
    assert load_settings(None, {}).self_report_interval_s == 60.0
    lab = Path(__file__).parents[2] / "agent" / "lab" / "netmon-lab.toml"
    assert load_settings(lab, {}).self_report_interval_s == 10.0
    with pytest.raises(ValueError, match="NETMON_SELF_REPORT_INTERVAL_S"):
        load_settings(None, {"NETMON_SELF_REPORT_INTERVAL_S": "-1"})


def test_interval_zero_starts_no_report(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        {
            "NETMON_STATE_DIR": str(tmp_path),
            "NETMON_SPOOL_ENABLED": "false",
            "NETMON_SELF_REPORT_INTERVAL_S": "0",
        },
    )
    agent = Agent.build(settings, snmp_inventory(), CollectorRegistry.from_entry_points())
    assert agent._start_self_report() is None


def test_the_loop_reports_until_cancelled_and_survives_a_failing_sink() -> None:
    metrics = filled_metrics()
    taken: list[list[Sample]] = []

    async def scenario() -> bool:
        enough = asyncio.Event()
        calls = 0

        def sink(samples: Sequence[Sample]) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("the pipeline refused")  # logged; the loop goes on
            taken.append(list(samples))
            if len(taken) == 2:
                enough.set()

        task = asyncio.create_task(report_periodically(metrics.registry, sink, 0.01))
        await asyncio.wait_for(enough.wait(), timeout=30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return task.cancelled()

    assert asyncio.run(scenario())
    for samples in taken:
        assert samples[0].measurement == "netmon_agent"
        assert samples[0].fields["samples_written"] == 1200
        assert isinstance(samples[0].fields["uptime_s"], float)
