"""`netmon status`: reads a live /metrics and a spool directory; says when data waits too long."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from agent.cli import cli
from agent.lab.process import free_tcp_port
from agent.output.spool import Spool, inspect
from agent.status import STALE_AFTER_S, healthy, read_metrics, render, status

NOW = 2_000_000_000 * 10**9


@pytest.fixture
def live_metrics() -> Iterator[str]:
    """A real /metrics endpoint on loopback with a few of the agent's series."""
    registry = CollectorRegistry()
    Counter("netmon_samples_written", "", registry=registry).inc(1234)
    Gauge("netmon_spool_samples", "", registry=registry).set(7)
    polls = Counter("netmon_polls", "", ["check", "result"], registry=registry)
    polls.labels("snmp", "success").inc(10)
    polls.labels("snmp", "timeout").inc(2)
    Counter("netmon_polls_skipped", "", ["check"], registry=registry).labels("snmp").inc(3)
    port = free_tcp_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{port}/metrics"
    server.shutdown()
    thread.join(5)


def spool_with(directory: Path, lines: int, written_ns: int) -> None:
    spool = Spool.open(directory, clock_ns=lambda: written_ns)
    spool.put([f"m v={i}i {i}" for i in range(lines)])
    spool.release()


def test_reads_the_agents_figures(live_metrics: str) -> None:
    reading = read_metrics(live_metrics)
    assert reading.reachable
    assert reading.values["netmon_samples_written_total"] == 1234
    assert reading.polls == {"snmp": {"success": 10, "timeout": 2}}
    assert reading.skipped == {"snmp": 3}
    text = "\n".join(render(reading, None, NOW))
    assert "delivered to InfluxDB: 1234 samples" in text
    assert "10 polls ok" in text and "2 failed" in text and "3 skipped" in text


def test_an_agent_that_is_down_is_said_so() -> None:
    reading = read_metrics(f"http://127.0.0.1:{free_tcp_port()}/metrics", timeout_s=1)
    assert not reading.reachable
    assert "not answering" in render(reading, None, NOW)[0]
    assert not healthy(reading, None, NOW)


def test_the_spool_is_read_without_the_agent(tmp_path: Path) -> None:
    spool_with(tmp_path / "spool", 5, NOW - 90 * 10**9)
    summary = inspect(tmp_path / "spool")
    assert summary is not None
    assert (summary.undelivered, summary.end_position) == (5, 5)
    text = render(read_metrics("http://127.0.0.1:1/metrics", timeout_s=1), summary, NOW)[-1]
    assert "5 samples waiting, the oldest for 90 s" in text


def test_data_waiting_longer_than_a_minute_is_unhealthy(live_metrics: str, tmp_path: Path) -> None:
    reading = read_metrics(live_metrics)
    spool_with(tmp_path / "fresh", 3, NOW - 5 * 10**9)
    spool_with(tmp_path / "stale", 3, NOW - int((STALE_AFTER_S + 1) * 1e9))
    assert healthy(reading, inspect(tmp_path / "fresh"), NOW)
    assert not healthy(reading, inspect(tmp_path / "stale"), NOW)


def test_the_command_exits_1_and_prints_json_when_the_agent_is_down(tmp_path: Path) -> None:
    spool_with(tmp_path / "state" / "spool", 4, NOW)
    cli.add_command(status)
    result = CliRunner().invoke(
        cli,
        ["status", "--format", "json"],
        env={
            "NETMON_STATE_DIR": str(tmp_path / "state"),
            "NETMON_METRICS_LISTEN": f"127.0.0.1:{free_tcp_port()}",
        },
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["agent"]["reachable"] is False
    assert data["spool"]["undelivered"] == 4
    assert data["healthy"] is False
