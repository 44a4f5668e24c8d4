"""A running agent writes its own health (agent.selfreport) into a real InfluxDB 1.x.

One host with a TCP check against a loopback listener (127.78.4.x, clear of the lab's); the
agent runs until a report counting two polls is stored (so earlier reports are stored too),
then is stopped as an operator would stop it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent.collector import CollectorRegistry
from agent.inventory.model import Host, HostSettings, Inventory
from agent.lab.influxdb import InfluxServer
from agent.runner import Agent
from agent.settings import load_settings
from collectors.tcp import TcpConfig

pytestmark = pytest.mark.influxdb

ADDRESS = "127.78.4.1"
AGENT_NAME = "selfreport-agent"
WAIT_S = 60.0  # a guard against hanging, not a timing assertion


def tcp_inventory(port: int) -> Inventory:
    settings = HostSettings(
        netmon_checks=["tcp"], netmon_site="S1", netmon_level="commune", netmon_interval=1.0
    )
    host = Host("web-a", ADDRESS, (), settings, {"tcp": TcpConfig(port=port, timeout_s=0.5)})
    return Inventory(source="integration", hosts={"web-a": host})


def field_types(influx: InfluxServer, db: str, measurement: str) -> dict[str, str]:
    rows = influx.rows(f'SHOW FIELD KEYS FROM "{measurement}"', db)
    return {row["fieldKey"]: row["fieldType"] for row in rows}


def run_agent_until_reported(influx: InfluxServer, db: str, state_dir: Path) -> Agent:
    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def stored_two_polls() -> bool:
        rows = await asyncio.to_thread(
            influx.rows, """SELECT max("polls") FROM "netmon_checks" WHERE "check" = 'tcp'""", db
        )
        return bool(rows) and rows[0]["max"] >= 2

    async def scenario() -> Agent:
        server = await asyncio.start_server(accept, ADDRESS, 0)
        port = server.sockets[0].getsockname()[1]
        settings = load_settings(
            None,
            {
                "NETMON_INFLUXDB_URL": influx.url,
                "NETMON_INFLUXDB_DATABASE": db,
                "NETMON_AGENT_NAME": AGENT_NAME,
                "NETMON_STATE_DIR": str(state_dir),
                "NETMON_SELF_REPORT_INTERVAL_S": "0.2",
            },
        )
        agent = Agent.build(
            settings, tcp_inventory(port), CollectorRegistry.from_entry_points(), spread=False
        )
        stop = asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        try:
            async with asyncio.timeout(WAIT_S):
                # InfluxDB is polled: nothing in it can be awaited.
                while True:
                    if await stored_two_polls():
                        break
                    await asyncio.sleep(0.2)
        finally:
            stop.set()
            await running
            server.close()
        return agent

    return asyncio.run(scenario())


def test_the_running_agent_writes_its_health_to_influxdb(
    influx_server: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    agent = run_agent_until_reported(influx_server, influx_db, tmp_path / "state")

    assert sum(agent.pipeline.stats.dropped.values()) == 0, agent.pipeline.stats.dropped
    assert agent.writer.stats.lines_quarantined == 0
    # Stored with the declared types; what this agent has not (SNMP, traps) is left out.
    assert field_types(influx_server, influx_db, "netmon_agent") == {
        "polls": "integer",
        "poll_errors": "integer",
        "poll_timeouts": "integer",
        "polls_skipped": "integer",
        "targets": "integer",
        "samples_written": "integer",
        "samples_spooled": "integer",
        "samples_dropped": "integer",
        "samples_quarantined": "integer",
        "write_retries": "integer",
        "spool_samples": "integer",
        "spool_bytes": "integer",
        "uptime_s": "float",
    }
    assert field_types(influx_server, influx_db, "netmon_checks") == {
        "polls": "integer",
        "poll_errors": "integer",
        "poll_timeouts": "integer",
        "polls_skipped": "integer",
        "targets": "integer",
        "poll_duration_s_sum": "float",
        "poll_duration_count": "integer",
    }
    tags = influx_server.rows(
        'SHOW TAG VALUES FROM "netmon_checks" WITH KEY IN ("agent", "check")', influx_db
    )
    assert {(row["key"], row["value"]) for row in tags} == {("agent", AGENT_NAME), ("check", "tcp")}
    agents = influx_server.rows('SHOW TAG VALUES FROM "netmon_agent" WITH KEY = "agent"', influx_db)
    assert [row["value"] for row in agents] == [AGENT_NAME]

    reports: list[dict[str, Any]] = influx_server.rows(
        'SELECT * FROM "netmon_checks" ORDER BY time', influx_db
    )
    last = reports[-1]
    assert (last["targets"], last["poll_errors"]) == (1, 0)  # the listener accepted every poll
    assert last["poll_duration_count"] == last["polls"] >= 1
    polls = [row["polls"] for row in reports]
    assert polls == sorted(polls)  # cumulative since the agent started
    agent_rows = influx_server.rows('SELECT * FROM "netmon_agent" ORDER BY time', influx_db)
    assert all(row["targets"] == 1 for row in agent_rows)
    assert agent_rows[-1]["uptime_s"] > agent_rows[0]["uptime_s"]
