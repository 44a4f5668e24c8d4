"""Nothing lost: the real agent process, real influxd, real simulated devices.

- InfluxDB stopped while the agent polls: after its restart every point the agent produced is
  in InfluxDB, exactly once (the count equals the count the agent spooled).
- ``kill -9`` of the agent while it writes: the restart replays the spool with no manual
  step; every sample spooled before the kill is stored, none twice.
- A tiny spool bound: the oldest data is evicted, and the exact count shows in /metrics and
  in the log.
- A slow, lossy, then black-holed InfluxDB (a TCP proxy in between) never stalls polling.

The full-size version of the first one (the whole lab, 10 minutes without InfluxDB) is
``bench/outage``; its figures are in bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.lab.influxdb import InfluxServer
from agent.lab.process import free_tcp_port
from agent.output.spool import inspect
from agent.runner import Agent
from agent.settings import load_settings
from tests.e2e.agentproc import INTERVAL_S, AgentProcess, fleet_inventory
from tests.faultproxy import FaultProxy
from tests.fixtures_snmp import SimulatedDevice
from tests.peers import require_binary

pytestmark = [pytest.mark.e2e, pytest.mark.snmpsim, pytest.mark.influxdb]

#: Long enough for every device to be polled many times while InfluxDB is away.
OUTAGE_S = 40.0
#: The flaky-network run: 8 s of each fault, then 12 s healthy for the drain.
RUN_S = 36.0
DATABASE = "netmon"


@pytest.fixture
def own_influx(tmp_path: Path) -> Iterator[InfluxServer]:
    """An influxd of this test alone: the test stops and restarts it."""
    influxd = require_binary("influxd")
    with InfluxServer(tmp_path / "influxdb", free_tcp_port(), influxd=influxd) as server:
        server.create_database(DATABASE)
        yield server


def test_an_influxdb_outage_loses_nothing_and_duplicates_nothing(
    snmpsim_lab: list[SimulatedDevice], own_influx: InfluxServer, tmp_path: Path
) -> None:
    inventory = fleet_inventory(tmp_path / "inv", snmpsim_lab)
    agent = AgentProcess(inventory, tmp_path / "state", own_influx.url, DATABASE)
    try:
        agent.start()
        agent.wait_for(
            "the first deliveries", lambda r: r.value("netmon_samples_written_total") > 0, 60
        )
        own_influx.stop()
        outage_from = time.time_ns()
        time.sleep(OUTAGE_S)
        during = agent.metrics()
        outage_to = time.time_ns()
        own_influx.start()
        agent.wait_for(
            "the spool to drain after the outage",
            lambda r: (
                r.value("netmon_spool_samples") == 0
                and r.value("netmon_samples_written_total")
                >= during.value("netmon_samples_spooled_total")
            ),
            180,
        )
        assert agent.stop() == 0, agent.log()
    finally:
        agent.close()

    # While InfluxDB was away the data waited in the spool, and polling went on unhindered.
    assert during.value("netmon_spool_samples") > 0
    assert during.value("netmon_write_retries_total") > 0
    assert during.skipped.get("snmp", 0) == 0
    # Every sample the agent ever spooled is in InfluxDB, exactly once.
    spool = inspect(tmp_path / "state" / "spool")
    assert spool is not None
    assert spool.undelivered == 0
    stored = own_influx.point_counts(DATABASE)
    assert sum(stored.values()) == spool.end_position, stored
    # ...including every device's polls of the outage itself.
    rows = own_influx.rows(
        f'SELECT count("result_code") FROM "snmp" WHERE time > {outage_from} '
        f'AND time < {outage_to} GROUP BY "source"',
        DATABASE,
    )
    polls = {row["source"]: row["count"] for row in rows}
    assert set(polls) == {device.name for device in snmpsim_lab}
    assert min(polls.values()) >= OUTAGE_S / INTERVAL_S - 2


def test_kill_9_while_writing_replays_without_loss_or_duplicates(
    snmpsim_lab: list[SimulatedDevice], own_influx: InfluxServer, tmp_path: Path
) -> None:
    inventory = fleet_inventory(tmp_path / "inv", snmpsim_lab)
    agent = AgentProcess(inventory, tmp_path / "state", own_influx.url, DATABASE)
    try:
        agent.start()
        agent.wait_for(
            "a few hundred deliveries", lambda r: r.value("netmon_samples_written_total") > 300, 90
        )
        before_kill = agent.metrics()
        agent.kill()
        after_kill = inspect(tmp_path / "state" / "spool")
        assert after_kill is not None
        agent.start()
        agent.wait_for(
            "the replay and new deliveries",
            lambda r: (
                r.value("netmon_spool_samples") == 0
                and r.value("netmon_samples_written_total") > 100
            ),
            120,
        )
        after_restart = agent.metrics()
        assert agent.stop() == 0, agent.log()
    finally:
        agent.close()

    # Everything spooled before the kill was on disk (the spool's write happens before the
    # pipeline counts the samples as spooled); the restart needed no repair and lost nothing.
    assert after_kill.end_position >= before_kill.value("netmon_samples_spooled_total")
    assert after_restart.value("netmon_spool_lost_total") == 0
    assert "Traceback" not in agent.log()
    final = inspect(tmp_path / "state" / "spool")
    assert final is not None
    assert final.undelivered == 0
    stored = own_influx.point_counts(DATABASE)
    assert sum(stored.values()) == final.end_position, stored


def test_a_full_spool_evicts_the_oldest_and_counts_it_exactly(
    snmpsim_lab: list[SimulatedDevice],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inv = fleet_inventory(tmp_path / "inv", snmpsim_lab)
    for name, secret in inv.env.items():  # the inventory names its credentials by variable
        monkeypatch.setenv(name, secret)
    inventory = load_inventory(inv.root, CollectorRegistry.from_entry_points())
    settings = load_settings(
        None,
        {
            # Nothing listens there: every write fails, everything stays in the spool.
            "NETMON_INFLUXDB_URL": f"http://127.0.0.1:{free_tcp_port()}",
            "NETMON_STATE_DIR": str(tmp_path / "state"),
            # Several polls' worth: one poll of the 146-port Catalyst is ~60 KB, and the
            # newest record always stays, whatever the bound.
            "NETMON_SPOOL_MAX_BYTES": str(256 * 1024),
            "NETMON_METRICS_ENABLED": "false",
        },
    )
    agent = Agent.build(settings, inventory, CollectorRegistry.from_entry_points(), spread=False)
    started_ns = time.time_ns()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def check() -> None:
            # Bounded: stop once several segments were evicted, or after 60 s at most.
            if agent.buffer.lines_evicted > 0 and agent.pipeline.stats.samples_out > 2000:
                stop.set()
            else:
                loop.call_later(0.5, check)

        loop.call_later(0.5, check)
        loop.call_later(60, stop.set)
        await agent.run(stop)

    with caplog.at_level(logging.WARNING, logger="agent.output.spool"):
        asyncio.run(run())

    evicted = agent.buffer.lines_evicted
    assert evicted > 0
    exposed = generate_latest(agent.metrics.registry).decode()
    assert f"netmon_spool_evicted_total {float(evicted)}" in exposed
    logged = [
        int(match.group(1))
        for record in caplog.records
        if (match := re.search(r"evicted (\d+) undelivered lines", record.getMessage()))
    ]
    assert sum(logged) == evicted
    # What is left is what was put last: spooled = evicted + still waiting, and the oldest
    # waiting line is younger than the start of the run.
    summary = inspect(tmp_path / "state" / "spool")
    assert summary is not None
    assert summary.undelivered + evicted == agent.pipeline.stats.samples_out
    assert summary.oldest_undelivered_ns is not None
    assert summary.oldest_undelivered_ns > started_ns
    assert summary.size_bytes <= 256 * 1024


def test_a_slow_and_flaky_influxdb_never_stalls_polling(
    snmpsim_lab: list[SimulatedDevice],
    own_influx: InfluxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inv = fleet_inventory(tmp_path / "inv", snmpsim_lab)
    for name, secret in inv.env.items():
        monkeypatch.setenv(name, secret)
    inventory = load_inventory(inv.root, CollectorRegistry.from_entry_points())
    with FaultProxy(("127.0.0.1", own_influx.port), seed=5) as proxy:
        settings = load_settings(
            None,
            {
                "NETMON_INFLUXDB_URL": proxy.url,
                "NETMON_INFLUXDB_DATABASE": DATABASE,
                "NETMON_INFLUXDB_TIMEOUT_S": "2",
                "NETMON_STATE_DIR": str(tmp_path / "state"),
                "NETMON_METRICS_ENABLED": "false",
            },
        )
        agent = Agent.build(settings, inventory, CollectorRegistry.from_entry_points())
        # Retry at least every 3 s, so that each 8 s fault phase below sees attempts (the
        # default 30 s back-off ceiling with full jitter can sleep through one).
        agent.writer._max_backoff_s = 3.0
        # Slow, then lossy, then a black hole, then healthy again for the drain.
        timeline = [
            (0.0, lambda: proxy.set_latency(1500, jitter_ms=500)),
            (8.0, lambda: (proxy.set_latency(0), proxy.drop(0.5), proxy.cut_randomly(0.3))),
            (16.0, proxy.stall),
            (24.0, proxy.normal),
        ]

        async def run() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for at, change in timeline:
                loop.call_later(at, change)
            loop.call_later(RUN_S, stop.set)
            await agent.run(stop)

        asyncio.run(run())
        faults = proxy.stats

    exposed = generate_latest(agent.metrics.registry).decode()
    # Polling went on at its pace whatever InfluxDB did: no slot skipped, every device
    # polled in (nearly) every slot.
    skipped = [
        float(line.rsplit(" ", 1)[1])
        for line in exposed.splitlines()
        if line.startswith("netmon_polls_skipped_total{")
    ]
    assert sum(skipped) == 0
    stored = own_influx.point_counts(DATABASE)
    rows = own_influx.rows('SELECT count("result_code") FROM "snmp" GROUP BY "source"', DATABASE)
    polls = {row["source"]: row["count"] for row in rows}
    assert set(polls) == {device.name for device in snmpsim_lab}
    assert min(polls.values()) >= RUN_S / INTERVAL_S - 2
    # The network did misbehave, the writer did retry, and in the end everything arrived.
    assert faults.dropped > 0 and faults.stalled > 0
    assert agent.writer.stats.retries > 0
    summary = inspect(tmp_path / "state" / "spool")
    assert summary is not None
    assert summary.undelivered == 0
    assert sum(stored.values()) == summary.end_position
