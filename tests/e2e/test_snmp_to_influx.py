"""Acceptance: real devices (snmpsim recordings, net-snmp snmpd) → agent → InfluxDB 1.x.

For every interface, ifName, ifOperStatus, ifHCInOctets and ifHCOutOctets read back from
InfluxDB with InfluxQL equal what net-snmp's snmpbulkwalk returns from the same agent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.lab import oracle
from agent.lab.influxdb import InfluxServer
from agent.output.lineprotocol import unwrap_uint
from agent.runner import Agent
from agent.settings import load_settings
from tests.agentpoll import poll_every_target_once
from tests.e2e.labinv import InventoryWriter
from tests.fixtures_snmp import SimulatedDevice, SnmpdPeer

pytestmark = [pytest.mark.e2e, pytest.mark.snmpsim, pytest.mark.snmpd, pytest.mark.influxdb]

IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT = "1.3.6.1.2.1.31.1.1.1.10"


def run_agent_once(
    inv: InventoryWriter, influx: InfluxServer, database: str, monkeypatch: pytest.MonkeyPatch
) -> Agent:
    for name, value in inv.env.items():
        monkeypatch.setenv(name, value)
    inventory = load_inventory(inv.write(), CollectorRegistry.from_entry_points())
    settings = load_settings(
        None,
        {
            "NETMON_INFLUXDB_URL": influx.url,
            "NETMON_INFLUXDB_DATABASE": database,
            "NETMON_AGENT_NAME": "test-agent",
            # Each run its own spool, beside its inventory.
            "NETMON_STATE_DIR": str(inv.root.parent / f"state-{inv.root.name}"),
        },
    )
    agent = Agent.build(settings, inventory, CollectorRegistry.from_entry_points())
    asyncio.run(poll_every_target_once(agent))
    assert agent.writer.stats.lines_quarantined == 0
    assert agent.buffer.lines_buffered == 0
    assert sum(agent.pipeline.stats.dropped.values()) == 0, agent.pipeline.stats.dropped
    return agent


def oracle_interfaces(endpoint: tuple[str, int], **credentials: Any) -> dict[str, dict[str, Any]]:
    """{ifIndex: {ifName, ifOperStatus, ifHCInOctets, ifHCOutOctets}} from snmpbulkwalk."""
    table: dict[str, dict[str, Any]] = {}
    columns = {
        "ifName": IF_NAME,
        "ifOperStatus": IF_OPER_STATUS,
        "ifHCInOctets": IF_HC_IN,
        "ifHCOutOctets": IF_HC_OUT,
    }
    for field, column in columns.items():
        for oid, (kind, value) in oracle.bulkwalk(endpoint, column, **credentials).items():
            index = oid[len(column) + 1 :]
            if kind == oracle.OCTET_STRING:
                converted: Any = bytes.fromhex(value).rstrip(b"\0").decode("utf-8")
            else:
                converted = int(value)
            table.setdefault(index, {})[field] = converted
    return table


def influx_interfaces(
    influx: InfluxServer, database: str, source: str
) -> dict[str, dict[str, Any]]:
    rows = influx.rows(
        'SELECT "ifOperStatus", "ifHCInOctets", "ifHCOutOctets", "ifName", "ifIndex" '
        'FROM "interface" '
        f"WHERE \"source\" = '{source}'",
        database,
    )
    table = {}
    for row in rows:
        found: dict[str, Any] = {"ifName": row.get("ifName") or ""}
        for field in ("ifOperStatus", "ifHCInOctets", "ifHCOutOctets"):
            if row.get(field) is not None:
                value = int(row[field])
                found[field] = unwrap_uint(value) if field.startswith("ifHC") else value
        table[str(row["ifIndex"])] = found
    return table


def compare(expected: dict[str, dict[str, Any]], stored: dict[str, dict[str, Any]]) -> None:
    assert expected, "the oracle found no interfaces"
    # Every interface the device has (it may lack ifXTable rows for some) is stored...
    assert set(stored) == set(expected)
    for index, want in expected.items():
        got = stored[index]
        for field, value in want.items():
            assert got.get(field) == value, f"ifIndex {index} {field}"


def test_simulated_fleet_values_reach_influxdb_exactly(
    snmpsim_lab: list[SimulatedDevice],
    influx_server: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inv = InventoryWriter(tmp_path / "inv")
    for device in snmpsim_lab:
        inv.host(device.name, device.address, device.port, inv.v2c(device.name, device.community))
    agent = run_agent_once(inv, influx_server, influx_db, monkeypatch)
    recordings = {device.recording for device in snmpsim_lab}
    assert {"cisco-catalyst-2960x", "huawei-ne40e-m2k"} <= recordings and len(recordings) >= 5

    for device in snmpsim_lab:
        expected = oracle_interfaces(device.endpoint, community=device.community)
        compare(expected, influx_interfaces(influx_server, influx_db, device.name))
    catalyst = next(d for d in snmpsim_lab if d.recording == "cisco-catalyst-2960x")
    assert len(influx_interfaces(influx_server, influx_db, catalyst.name)) == 146
    status = influx_server.rows(
        'SELECT "result_code", "agent", "site", "level", "department" FROM "snmp"', influx_db
    )
    assert len(status) == len(snmpsim_lab)
    assert {row["result_code"] for row in status} == {0}
    assert {row["department"] for row in status} == {"Sở Thông tin và Truyền thông"}
    assert {row["agent"] for row in status} == {"test-agent"}
    assert agent.writer.stats.lines_written == agent.pipeline.stats.samples_out


def compare_live(
    before: dict[str, dict[str, Any]],
    stored: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
) -> None:
    """A live agent's counters move while we look: the stored value must lie between the
    oracle's reading before the poll and its reading after; everything else must be equal."""
    assert before and set(stored) == set(before) == set(after)
    for index, want in before.items():
        got = stored[index]
        for field, value in want.items():
            if field.startswith("ifHC"):
                assert value <= got[field] <= after[index][field], f"ifIndex {index} {field}"
            else:
                assert got.get(field) == value == after[index][field], f"ifIndex {index} {field}"


def test_net_snmp_agent_over_v2c_and_v3_authpriv_reaches_influxdb_exactly(
    snmpd_agent: SnmpdPeer,
    influx_server: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v3 = snmpd_agent.v3
    # The same snmpd polled twice, as two inventories (one device, one address each).
    inv_v3 = InventoryWriter(tmp_path / "v3")
    credential = inv_v3.v3("srv_v3", v3.user, v3.auth_password.reveal(), v3.priv_password.reveal())
    inv_v3.host("dc1-srv-v3", snmpd_agent.address, snmpd_agent.port, credential)
    before = oracle_interfaces(snmpd_agent.endpoint, v3=v3)
    run_agent_once(inv_v3, influx_server, influx_db, monkeypatch)
    after = oracle_interfaces(snmpd_agent.endpoint, v3=v3)
    compare_live(before, influx_interfaces(influx_server, influx_db, "dc1-srv-v3"), after)

    inv_v2c = InventoryWriter(tmp_path / "v2c")
    credential = inv_v2c.v2c("srv_v2c", snmpd_agent.community.reveal())
    inv_v2c.host("dc1-srv-v2c", snmpd_agent.address, snmpd_agent.port, credential)
    before = oracle_interfaces(snmpd_agent.endpoint, community=snmpd_agent.community)
    run_agent_once(inv_v2c, influx_server, influx_db, monkeypatch)
    after = oracle_interfaces(snmpd_agent.endpoint, community=snmpd_agent.community)
    compare_live(before, influx_interfaces(influx_server, influx_db, "dc1-srv-v2c"), after)
