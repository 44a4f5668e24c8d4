"""Acceptance (issue 5, item 4): InfluxQL rates stay right across a 32-bit wrap and a reboot.

A simulated edge router (snmpsim serving ``tests/data/snmprec/counter-edge-router.snmprec``)
is polled by the agent's real SNMP collector. Between polls the test moves the device's
sysUpTime and octet counters with SNMP SETs, as its clock and traffic would: wan0's 32-bit
ifInOctets wraps at 2**32; then the device reboots (snmpsim is restarted: sysUpTime back to
15 s, wan0's counter restored *above* where it was, wan1's ifHCInOctets back near zero); later
the agent itself restarts (a new guard reads the state file). Each poll goes through two
pipelines, one with the counter guard and one without, into a real influxd 1.x, and InfluxQL's
``non_negative_derivative`` is asked for the rates.

The polls are stamped on a virtual 10-second clock rather than the instant they ran, so the
expected rates follow exactly from the scripted traffic and nothing depends on how long a poll
takes.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    set_cmd,
)
from pysnmp.proto.rfc1902 import Counter32, Counter64, TimeTicks

from agent.collector import CollectorContext, Target
from agent.counters import CounterGuard
from agent.lab.influxdb import InfluxServer
from agent.lab.process import Endpoint, free_udp_port
from agent.lab.snmpsim import SnmpSimulator
from agent.output.buffer import MemoryBuffer
from agent.pipeline import Pipeline
from agent.samples import Sample
from agent.schema import base_schema
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.config import SnmpConfig
from tests.peers import require_binary

pytestmark = [pytest.mark.snmpsim, pytest.mark.influxdb]

RECORDING = Path(__file__).parents[1] / "data" / "snmprec" / "counter-edge-router.snmprec"
COMMUNITY = "counter-edge-router"
ADDRESS = "127.9.0.1"
HOST = "edge-router"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
WAN0_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10.1"  # ifInOctets.1, Counter32
WAN1_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6.2"  # ifHCInOctets.2, Counter64

STEP_S = 10
TICKS_PER_STEP = STEP_S * 100
#: The device before the test: up for a day, wan0 250 MB short of the 32-bit wrap.
UPTIME_START = 8_640_000
WAN0_START = 2**32 - 250_000_000
WAN1_START = 5 * 10**12
#: Octets each interface carries per step: (wan0, wan1). Before the reboot, then after it.
BEFORE_REBOOT = [(100_000_000, 500_000_000), (120_000_000, 700_000_000),
                 (90_000_000, 600_000_000), (110_000_000, 650_000_000)]  # fmt: skip
AFTER_REBOOT = [(80_000_000, 400_000_000), (100_000_000, 450_000_000),
                (60_000_000, 500_000_000)]  # fmt: skip
#: The values snmpsim serves again after its restart (the recording's `writecache` values).
REBOOT_UPTIME, WAN0_REBOOT, WAN1_REBOOT = 1_500, 3_000_000_000, 1_000_000


class ScriptedDevice(SnmpSimulator):
    """snmpsim serving the test recording (SnmpSimulator itself serves the shipped ones)."""

    def __init__(self, state_dir: Path, endpoint: Endpoint) -> None:
        # Any shipped stem satisfies the constructor; what is served is `source`.
        super().__init__(state_dir, "linux-el8-netsnmp", [endpoint], COMMUNITY)
        self.recording = RECORDING.stem
        self.source = RECORDING


@pytest.fixture(scope="module")
def edge_router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedDevice]:
    require_binary("snmpsim-command-responder")
    state = tmp_path_factory.mktemp("edge-router")
    device = ScriptedDevice(state, (ADDRESS, free_udp_port(ADDRESS)))
    with device:
        yield device
    assert not device.running


async def set_device(endpoint: Endpoint, uptime: int, wan0: int, wan1: int) -> None:
    """Move the device's clock and counters, as time and traffic would."""
    engine = SnmpEngine()
    try:
        error, status, _, _ = await set_cmd(
            engine,
            CommunityData(COMMUNITY),
            await UdpTransportTarget.create(endpoint, timeout=2, retries=2),
            ContextData(),
            ObjectType(ObjectIdentity(SYS_UPTIME), TimeTicks(uptime)),
            ObjectType(ObjectIdentity(WAN0_IN_OCTETS), Counter32(wan0 % 2**32)),
            ObjectType(ObjectIdentity(WAN1_HC_IN_OCTETS), Counter64(wan1)),
        )
    finally:
        engine.close_dispatcher()
    assert error is None and int(status) == 0, f"SET refused: {error or status.prettyPrint()}"


@dataclass
class Truth:
    """What the device really carried in each step (the script), for the expected rates."""

    wan0: dict[int, int]  # step → octets carried in the step before it
    wan1: dict[int, int]
    reboot_step: int
    wrap_step: int

    def bps(self, octets: int) -> float:
        return octets * 8 / STEP_S

    @property
    def steps(self) -> set[int]:
        """Every step after the first: each has a rate."""
        return {*self.wan0, self.reboot_step}

    @property
    def max_bps(self) -> float:
        return self.bps(max(*self.wan0.values(), *self.wan1.values()))


def rates(influx: InfluxServer, db: str, agent: str, field: str, if_name: str) -> dict[int, float]:
    """InfluxQL's bit rate per 10-second bucket, the way an operator's dashboard asks."""
    rows = influx.rows(
        f'SELECT non_negative_derivative(max("{field}"), 1s) * 8 AS bps FROM "interface" '
        f"WHERE \"agent\" = '{agent}' AND \"ifName\" = '{if_name}' "
        f"AND time >= 0 GROUP BY time({STEP_S}s) fill(none)",
        db,
    )
    return {row["time"]: row["bps"] for row in rows}


class Poller:
    """The agent's collector and two pipelines (guarded and not), on a virtual clock."""

    def __init__(self, device: ScriptedDevice, influx: InfluxServer, db: str, state: Path):
        self.device = device
        self.influx = influx
        self.db = db
        self.state = state
        self.schema = base_schema()
        self.collector = SnmpCollector(CollectorContext(schema=self.schema))
        host, port = device.endpoints[0]
        config = SnmpConfig.model_validate(
            {
                "credential": {"name": "lab", "version": "2c", "community": COMMUNITY},
                "port": port,
                "timeout_s": 2.0,
                "retries": 2,
            }
        )
        self.target = Target(HOST, host, "snmp", config, tags={"site": "DC1"})
        self.guards = [CounterGuard(state_file=state)]
        self.guarded = self._pipeline("guarded", self.guards[0])
        self.unguarded = self._pipeline("unguarded", None)
        self.start_ns = 1_700_000_000 * 10**9  # a virtual clock; any 10-s-aligned instant

    def _pipeline(self, name: str, guard: CounterGuard | None) -> Pipeline:
        return Pipeline(self.schema, MemoryBuffer(10_000), agent_name=name, counters=guard)

    def step_ns(self, step: int) -> int:
        return self.start_ns + step * STEP_S * 10**9

    async def poll(self, step: int) -> None:
        samples = await self.collector.collect(self.target)
        status = next(s for s in samples if s.measurement == "snmp")
        assert status.tags["result"] == "success", status
        for sample in samples:
            sample.timestamp_ns = self.step_ns(step)
        raw: list[Sample] = copy.deepcopy(samples)
        self.guarded.accept_poll(self.target, samples)
        self.unguarded.accept_poll(self.target, raw)
        for pipeline in (self.guarded, self.unguarded):
            batch = await pipeline.buffer.get_batch(10_000, 0)
            pipeline.buffer.ack(batch)
            await asyncio.to_thread(self._write, batch.lines)

    def _write(self, lines: tuple[str, ...]) -> None:
        response = httpx.post(
            f"{self.influx.url}/write",
            params={"db": self.db, "precision": "ns"},
            content="\n".join(lines).encode(),
            timeout=30,
        )
        assert response.status_code == 204, response.text

    def restart_agent(self) -> None:
        """As a restarted agent: a new guard (from the state file) in the guarded pipeline."""
        self.guarded.close()
        self.guards.append(CounterGuard(state_file=self.state))
        self.guarded.counters = self.guards[-1]

    async def run(self) -> Truth:
        endpoint = self.device.endpoints[0]
        uptime, wan0, wan1 = UPTIME_START, WAN0_START, WAN1_START
        carried0: dict[int, int] = {}
        carried1: dict[int, int] = {}
        wrap_step = -1
        step = 0
        await set_device(endpoint, uptime, wan0, wan1)
        await self.poll(step)
        for octets0, octets1 in BEFORE_REBOOT:
            step += 1
            if (wan0 + octets0) // 2**32 > wan0 // 2**32:
                wrap_step = step
            uptime, wan0, wan1 = uptime + TICKS_PER_STEP, wan0 + octets0, wan1 + octets1
            carried0[step], carried1[step] = octets0, octets1
            await set_device(endpoint, uptime, wan0, wan1)
            await self.poll(step)
        # The reboot: what the device carried in this step is unknown (it restarted).
        step += 1
        reboot_step = step
        await asyncio.to_thread(self.device.stop)
        await asyncio.to_thread(self.device.start)
        await self.poll(step)
        uptime, wan0, wan1 = REBOOT_UPTIME, WAN0_REBOOT, WAN1_REBOOT
        for number, (octets0, octets1) in enumerate(AFTER_REBOOT):
            step += 1
            uptime, wan0, wan1 = uptime + TICKS_PER_STEP, wan0 + octets0, wan1 + octets1
            carried0[step], carried1[step] = octets0, octets1
            await set_device(endpoint, uptime, wan0, wan1)
            if number == 1:
                self.restart_agent()
            await self.poll(step)
        self.guarded.close()
        await self.collector.close()
        assert wrap_step > 0, "the script must wrap wan0 before the reboot"
        return Truth(carried0, carried1, reboot_step, wrap_step)


@pytest.fixture(scope="module")
def counters_db(influx_server: InfluxServer) -> Iterator[str]:
    name = f"counters_{secrets.token_hex(6)}"
    influx_server.create_database(name)
    yield name
    influx_server.drop_database(name)


@pytest.fixture(scope="module")
def scenario(
    edge_router: ScriptedDevice,
    influx_server: InfluxServer,
    counters_db: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Poller, Truth]:
    """The whole script, run once for the module's tests (each asks InfluxQL something else)."""
    state = tmp_path_factory.mktemp("agent-state") / "counters.json"
    poller = Poller(edge_router, influx_server, counters_db, state)
    truth = asyncio.run(poller.run())
    for pipeline in (poller.guarded, poller.unguarded):
        assert pipeline.stats.dropped == {}, pipeline.stats.dropped
    return poller, truth


def by_step(poller: Poller, found: dict[int, float]) -> dict[int, float]:
    return {(t - poller.start_ns) // (STEP_S * 10**9): v for t, v in found.items()}


def test_rates_across_a_32_bit_wrap_and_a_reboot_are_exact_without_spikes(
    scenario: tuple[Poller, Truth], influx_server: InfluxServer, counters_db: str
) -> None:
    poller, truth = scenario
    wan0 = by_step(poller, rates(influx_server, counters_db, "guarded", "ifInOctets", "wan0"))
    wan1 = by_step(poller, rates(influx_server, counters_db, "guarded", "ifHCInOctets", "wan1"))

    for found in (wan0, wan1):
        assert all(0 <= bps <= truth.max_bps for bps in found.values()), found
        # A rate for every step: across the wrap, the reboot and the agent's restart.
        assert set(found) == truth.steps
        assert found[truth.reboot_step] == 0  # the interval holding the reboot: no traffic
    for step, octets in truth.wan0.items():
        assert wan0[step] == pytest.approx(truth.bps(octets), rel=1e-9), f"wan0 step {step}"
    for step, octets in truth.wan1.items():
        assert wan1[step] == pytest.approx(truth.bps(octets), rel=1e-9), f"wan1 step {step}"
    assert wan0[truth.wrap_step] == pytest.approx(truth.bps(truth.wan0[truth.wrap_step]))


def test_without_the_guard_the_same_polls_give_a_spike_and_gaps(
    scenario: tuple[Poller, Truth], influx_server: InfluxServer, counters_db: str
) -> None:
    poller, truth = scenario
    wan0 = by_step(poller, rates(influx_server, counters_db, "unguarded", "ifInOctets", "wan0"))
    wan1 = by_step(poller, rates(influx_server, counters_db, "unguarded", "ifHCInOctets", "wan1"))

    assert truth.wrap_step not in wan0  # the wrap's interval is missing
    assert wan0[truth.reboot_step] > truth.max_bps  # the restored counter reads as a burst
    assert truth.reboot_step not in wan1  # the HC counter went down: missing


def test_plain_derivative_of_guarded_counters_never_goes_negative(
    scenario: tuple[Poller, Truth], influx_server: InfluxServer, counters_db: str
) -> None:
    def derivatives(agent: str) -> list[Any]:
        rows = influx_server.rows(
            f'SELECT derivative("ifInOctets", 1s) AS d FROM "interface" '
            f"WHERE \"agent\" = '{agent}' AND \"ifName\" = 'wan0'",
            counters_db,
        )
        return [row["d"] for row in rows]

    guarded, unguarded = derivatives("guarded"), derivatives("unguarded")
    assert len(guarded) == len(scenario[1].steps)
    assert min(guarded) >= 0
    assert min(unguarded) < 0  # the raw counter's wrap


def test_only_the_sample_after_the_reboot_is_marked(
    scenario: tuple[Poller, Truth], influx_server: InfluxServer, counters_db: str
) -> None:
    poller, truth = scenario
    marked = influx_server.rows(
        'SELECT "counter_discontinuity", "ifName" FROM "interface" '
        'WHERE "agent" = \'guarded\' AND "counter_discontinuity" = true',
        counters_db,
    )
    assert sorted((row["ifName"], row["counter_discontinuity"]) for row in marked) == [
        ("wan0", True),
        ("wan1", True),
    ]
    assert {row["time"] for row in marked} == {poller.step_ns(truth.reboot_step)}
    stats = [guard.stats for guard in poller.guards]
    assert sum(s.wraps for s in stats) == 1
    assert sum(s.device_restarts for s in stats) == 1
    assert sum(s.state_errors for s in stats) == 0
