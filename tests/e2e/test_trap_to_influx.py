"""Acceptance: traps sent by net-snmp's snmptrap → the agent (Agent.build/run) → InfluxDB 1.x.

The inventory is made in code (two monitored hosts on 127.9.4.x whose SNMP ports answer
nothing: only their traps matter here); the rows are read back with InfluxQL. Waits are
bounded, never measured.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from agent.collector import CollectorRegistry
from agent.inventory.model import Host, HostSettings, Inventory
from agent.lab.influxdb import InfluxServer
from agent.lab.process import free_udp_port
from agent.runner import Agent
from agent.settings import load_settings
from collectors.snmp.config import CommunityCredential, SnmpConfig, UsmCredential
from tests.peers import require_binary

pytestmark = [pytest.mark.e2e, pytest.mark.influxdb, pytest.mark.snmpd]

COMMUNITY = "e2e-trap-Community"
V3 = ("netmon-e2e", "SHA-256", "e2e-auth-Pass", "AES", "e2e-priv-Pass")
ENGINE = "0x80001f8880dd0000000000000e"
DEPARTMENT = "Sở Thông tin và Truyền thông"
BOUND_S = 30.0


def host(name: str, address: str, credential: CommunityCredential | UsmCredential) -> Host:
    # Nothing answers SNMP there: one quick, failed poll per host, then an hour's wait.
    snmp = SnmpConfig(credential=credential, port=free_udp_port(address), timeout_s=0.3, retries=0)
    settings = HostSettings(
        netmon_checks=["snmp"],
        netmon_site="LAB-DC",
        netmon_level="dc",
        netmon_department=DEPARTMENT,
        netmon_interval=3600,
    )
    return Host(name, address, ("routers",), settings, {"snmp": snmp})


def inventory() -> Inventory:
    v2c = CommunityCredential(name="lab_v2c", version="2c", community=COMMUNITY)
    v3 = UsmCredential(
        name="core_v3",
        version="3",
        user=V3[0],
        auth_protocol="sha256",
        auth_password=V3[2],
        priv_protocol="aes128",
        priv_password=V3[4],
    )
    hosts = {
        "cpe-21": host("cpe-21", "127.9.4.21", v2c),
        "core-22": host("core-22", "127.9.4.22", v3),
    }
    return Inventory(source="test", hosts=hosts)


def test_traps_land_in_influxdb_as_snmp_trap_rows(
    influx_server: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    snmptrap = require_binary("snmptrap")
    listen = f"127.9.4.1:{free_udp_port('127.9.4.1')}"
    settings = load_settings(
        None,
        {
            "NETMON_INFLUXDB_URL": influx_server.url,
            "NETMON_INFLUXDB_DATABASE": influx_db,
            "NETMON_AGENT_NAME": "trap-agent",
            "NETMON_STATE_DIR": str(tmp_path / "state"),
            "NETMON_METRICS_ENABLED": "false",
            "NETMON_TRAPS_ENABLED": "true",
            "NETMON_TRAPS_LISTEN": listen,
        },
    )
    agent = Agent.build(settings, inventory(), CollectorRegistry.from_entry_points())
    assert agent.traps is not None
    v3 = ["-u", V3[0], "-l", "authPriv", "-a", V3[1], "-A", V3[2], "-x", V3[3], "-X", V3[4]]
    sends = [
        ["--clientaddr=127.9.4.21", "-v2c", "-c", COMMUNITY, listen, "", "1.3.6.1.6.3.1.1.5.3",
         "1.3.6.1.2.1.2.2.1.1.5", "i", "5", "1.3.6.1.2.1.2.2.1.8.5", "i", "2"],
        ["--clientaddr=127.9.4.22", "-v3", "-e", ENGINE, *v3, listen, "", "1.3.6.1.6.3.1.1.5.1"],
        ["--clientaddr=127.9.4.21", "-v1", "-c", COMMUNITY, listen, "1.3.6.1.4.1.14988",
         "127.9.4.21", "3", "0", "", "1.3.6.1.2.1.2.2.1.1.5", "i", "5"],
    ]  # fmt: skip

    def trap_rows() -> list[dict[str, Any]]:
        return influx_server.rows('SELECT * FROM "snmp_trap" GROUP BY *', influx_db)

    async def scenario() -> list[dict[str, Any]]:
        stop = asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BOUND_S
        try:
            while not agent.traps.running:  # type: ignore[union-attr]
                assert not running.done() and loop.time() < deadline, "the agent did not start"
                await asyncio.sleep(0.01)
            for argv in sends:
                process = await asyncio.create_subprocess_exec(snmptrap, *argv)
                assert await asyncio.wait_for(process.wait(), BOUND_S) == 0
            while len(rows := await asyncio.to_thread(trap_rows)) < len(sends):
                assert loop.time() < deadline, f"only {len(rows)} trap rows in InfluxDB"
                await asyncio.sleep(0.05)
            return rows
        finally:
            stop.set()
            await asyncio.wait_for(running, BOUND_S)

    rows = asyncio.run(scenario())
    by_trap = {row["trap"]: row for row in rows}
    assert set(by_trap) == {"linkDown", "coldStart", "linkUp"}
    down, cold, up = by_trap["linkDown"], by_trap["coldStart"], by_trap["linkUp"]
    for row in rows:
        assert row["received"] == 1
        assert (row["site"], row["level"], row["department"]) == ("LAB-DC", "dc", DEPARTMENT)
        assert row["agent"] == "trap-agent"
    assert (down["source"], down["version"], down["ifOperStatus"]) == ("cpe-21", "2c", 2)
    assert json.loads(down["varbinds"])["1.3.6.1.2.1.2.2.1.8.5"] == "2"
    assert (cold["source"], cold["version"], cold["trap_oid"]) == (
        "core-22",
        "3",
        "1.3.6.1.6.3.1.1.5.1",
    )
    assert (up["source"], up["version"], up["ifIndex"]) == ("cpe-21", "1", 5)
    interface = influx_server.rows(
        'SELECT "ifOperStatus" FROM "interface" WHERE "source" = \'cpe-21\' GROUP BY *',
        influx_db,
    )
    assert sorted(row["ifOperStatus"] for row in interface) == [1, 2]  # down, then up
    assert {row["ifIndex"] for row in interface} == {"5"}
    assert sum(agent.pipeline.stats.dropped.values()) == 0, agent.pipeline.stats.dropped
    exposition = generate_latest(agent.metrics.registry).decode()
    assert "netmon_traps_received_total 3.0" in exposition
    assert "netmon_traps_malformed_total 0.0" in exposition
    assert "netmon_traps_refused_total 0.0" in exposition
    assert agent.pipeline.counters is not None
    assert agent.pipeline.counters.stats.device_restarts == 1  # core-22's coldStart
