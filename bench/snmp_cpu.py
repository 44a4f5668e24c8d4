"""CPU per 1,000 SNMP values: the agent's SNMP collector against net-snmp's snmpbulkwalk.

Both poll the same snmpsim devices in one run. The agent's cost is its own process CPU time
(time.process_time) over ROUNDS polls of every device with the default profiles; net-snmp's is
the CPU of its snmpbulkwalk child processes (RUSAGE_CHILDREN) walking ifTable and ifXTable of
the same devices ROUNDS times. snmpsim's CPU is counted for neither (DESIGN §9: measure the
agent's CPU, not wall time, when snmpsim is the responder).

    .venv/bin/python bench/snmp_cpu.py [--rounds 5] [--output bench/results/snmp_cpu.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

from agent.collector import CollectorContext, Target
from agent.lab import oracle
from agent.lab.process import free_udp_port
from agent.lab.snmpsim import SnmpSimulator, simulators
from agent.schema import base_schema
from collectors.snmp import SnmpCollector

RECORDINGS = (
    "cisco-catalyst-2960x",
    "huawei-ne40e-m2k",
    "juniper-mx5-t",
    "mikrotik-crs317",
    "cisco-isr4321",
    "fortinet-fortigate-500d",
)
WALKED = ("1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1")  # ifTable, ifXTable


async def agent_round(collector: SnmpCollector, targets: list[Target]) -> None:
    await asyncio.gather(*(collector.collect(target) for target in targets))


def measure_agent(devices: list[tuple[str, str, int]], rounds: int) -> tuple[float, int]:
    collector = SnmpCollector(CollectorContext(base_schema()))
    targets = [
        Target(
            name,
            address,
            "snmp",
            SnmpCollector.config_model.model_validate(
                {
                    "credential": {"name": name, "version": "2c", "community": name},
                    "port": port,
                    "timeout_s": 10,
                }
            ),
        )
        for name, address, port in devices
    ]

    async def run() -> tuple[float, int]:
        await agent_round(collector, targets)  # warm-up: imports, engine, first contact
        before_values = collector.stats.values_polled
        started = time.process_time()
        for _ in range(rounds):
            await agent_round(collector, targets)
        cpu = time.process_time() - started
        await collector.close()
        return cpu, collector.stats.values_polled - before_values

    return asyncio.run(run())


def measure_net_snmp(devices: list[tuple[str, str, int]], rounds: int) -> tuple[float, int]:
    values = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(rounds):
        for name, address, port in devices:
            for subtree in WALKED:
                values += len(oracle.bulkwalk((address, port), subtree, community=name))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path("bench/results/snmp_cpu.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netmon-bench-") as state:
        devices = []
        sims = []
        for number, stem in enumerate(RECORDINGS, start=1):
            address = f"127.88.{number}.1"
            port = free_udp_port(address)
            devices.append((stem, address, port))
            sims.append(SnmpSimulator(Path(state) / stem, stem, [(address, port)], stem))
        with simulators(sims):
            agent_cpu, agent_values = measure_agent(devices, args.rounds)
            net_snmp_cpu, net_snmp_values = measure_net_snmp(devices, args.rounds)
    agent_per_k = agent_cpu / agent_values * 1000
    net_snmp_per_k = net_snmp_cpu / net_snmp_values * 1000
    result = {
        "benchmark": "snmp_cpu",
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "devices": [stem for stem, _, _ in devices],
        "rounds": args.rounds,
        "agent": {
            "cpu_s": round(agent_cpu, 3),
            "values": agent_values,
            "cpu_s_per_1000_values": round(agent_per_k, 4),
        },
        "snmpbulkwalk": {
            "cpu_s": round(net_snmp_cpu, 3),
            "values": net_snmp_values,
            "cpu_s_per_1000_values": round(net_snmp_per_k, 4),
        },
        "ratio_agent_to_snmpbulkwalk": round(agent_per_k / net_snmp_per_k, 2),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
