"""Acceptance: an unreachable device, a wrong community and a wrong SNMPv3 password each give
a counted, logged, secret-free failure and a failure sample, while the other devices' polls
complete on schedule."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.lab.influxdb import InfluxServer
from agent.runner import Agent
from agent.settings import load_settings
from tests.e2e.labinv import InventoryWriter
from tests.fixtures_snmp import SimulatedDevice, SnmpdPeer

pytestmark = [pytest.mark.e2e, pytest.mark.snmpsim, pytest.mark.snmpd, pytest.mark.influxdb]

INTERVAL_S = 3.0
RUN_S = 12.5
WRONG_PASSWORD = "xk9Qv-bad-phrase-4242"
WRONG_COMMUNITY = "zq7Rm-ghost-ring-4242"


class PollLog:
    """Wraps the agent's observer to keep each poll's start, end and result."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.polls: dict[str, list[tuple[float, str]]] = {}
        self.skips: dict[str, int] = {}

    def polled(self, target: object, result: str, duration_s: float) -> None:
        loop_time = asyncio.get_running_loop().time()
        self.polls.setdefault(target.host, []).append((loop_time, result))  # type: ignore[attr-defined]
        self.inner.polled(target, result, duration_s)  # type: ignore[attr-defined]

    def skipped(self, target: object, slots: int) -> None:
        self.skips[target.host] = self.skips.get(target.host, 0) + slots  # type: ignore[attr-defined]
        self.inner.skipped(target, slots)  # type: ignore[attr-defined]


def test_failures_are_counted_logged_secret_free_and_do_not_delay_others(
    snmpsim_lab: list[SimulatedDevice],
    snmpd_agent: SnmpdPeer,
    influx_server: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    healthy = [d for d in snmpsim_lab if d.recording != "cisco-catalyst-2960x"]
    inv = InventoryWriter(tmp_path / "inv")
    # snmpsim is slow (DESIGN §9): healthy devices get room; failing ones fail fast.
    inv.all_vars = {
        "netmon_interval": INTERVAL_S,
        "netmon_timeout": 2.8,
        "netmon_snmp_timeout_s": 2.5,
        "netmon_snmp_retries": 0,
    }
    fail_fast = {"netmon_snmp_timeout_s": 0.5}
    for device in healthy:
        inv.host(device.name, device.address, device.port, inv.v2c(device.name, device.community))
    # Nothing listens there: every request times out.
    inv.host(
        "unreachable", "127.77.250.1", 16199, inv.v2c("unreachable", "public-4242"), **fail_fast
    )
    # A real device, asked with a community it does not know: it stays silent (v2c).
    sim = healthy[0]
    inv.host(
        "wrong-community", sim.address, sim.port, inv.v2c("wrong_c", WRONG_COMMUNITY), **fail_fast
    )
    # The real snmpd, asked with a wrong v3 pass phrase: it answers with a USM report.
    v3 = snmpd_agent.v3
    inv.host(
        "wrong-v3-password",
        snmpd_agent.address,
        snmpd_agent.port,
        inv.v3("wrong_v3", v3.user, WRONG_PASSWORD, v3.priv_password.reveal()),
        **fail_fast,
    )
    # wrong-community shares an address and port with a healthy device on purpose.
    inv.hosts["wrong-community"]["ansible_host"] = sim.address
    for name, value in inv.env.items():
        monkeypatch.setenv(name, value)
    inventory_dir = inv.write()
    # Two hosts on one SNMP endpoint is what the duplicate check forbids; this test needs it
    # to show that a wrong community fails alone, so the checked inventory is patched after.
    inv.hosts["wrong-community"]["ansible_host"] = "127.77.251.1"
    inv.write()
    inventory = load_inventory(inventory_dir, CollectorRegistry.from_entry_points())
    wrong = inventory.hosts["wrong-community"]
    object.__setattr__(wrong, "address", sim.address)

    settings = load_settings(
        None,
        {
            "NETMON_INFLUXDB_URL": influx_server.url,
            "NETMON_INFLUXDB_DATABASE": influx_db,
            "NETMON_STATE_DIR": str(tmp_path / "state"),
        },
    )
    agent = Agent.build(settings, inventory, CollectorRegistry.from_entry_points(), spread=False)
    poll_log = PollLog(agent.metrics)
    agent.scheduler.observer = poll_log
    caplog.set_level(logging.DEBUG)

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(RUN_S, stop.set)
        await agent.run(stop)

    asyncio.run(run())

    expected_failures = {
        "unreachable": "timeout",
        "wrong-community": "timeout",
        "wrong-v3-password": "auth_error",
    }
    # The failing devices failed every time, with the right result.
    for host, result in expected_failures.items():
        results = {r for _, r in poll_log.polls[host]}
        assert results == {result}, host
    # The healthy ones succeeded on every slot: none skipped, and no gap between two polls
    # grew beyond a slot (a stalled scheduler would show a gap of several intervals).
    slots = int(RUN_S // INTERVAL_S)
    for device in healthy:
        polls = poll_log.polls[device.name]
        assert {r for _, r in polls} == {"success"}, device.name
        assert len(polls) >= slots, device.name
        assert poll_log.skips.get(device.name, 0) == 0
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(polls)]
        assert max(gaps) < 2 * INTERVAL_S, (device.name, gaps)

    # Counted on /metrics.
    metrics = generate_latest(agent.metrics.registry).decode()
    failures = sum(len(poll_log.polls[h]) for h in expected_failures)
    assert f'netmon_poll_errors_total{{check="snmp"}} {float(failures)}' in metrics
    assert 'netmon_polls_total{check="snmp",result="auth_error"}' in metrics
    # Logged, naming the host and what went wrong.
    assert "unreachable (127.77.250.1): SNMP timeout" in caplog.text
    assert "wrong-v3-password" in caplog.text and "auth_error" in caplog.text
    # Failure samples reached InfluxDB.
    rows = influx_server.rows(
        'SELECT "result_code", "source", "result" FROM "snmp" WHERE "result" != \'success\'',
        influx_db,
    )
    stored = {(row["source"], row["result"]) for row in rows}
    assert stored == set(expected_failures.items())
    # No secret, nor a prefix of one, anywhere: logs, metrics, stored data.
    dump = str(influx_server.query("SELECT * FROM /.*/", influx_db))
    for secret in {WRONG_PASSWORD, WRONG_COMMUNITY, v3.priv_password.reveal()}:
        prefix = secret[:8]
        for place, text in (("log", caplog.text), ("metrics", metrics), ("influx", dump)):
            assert prefix not in text, f"{place} shows a secret"
