"""The agent as a poller, in a process of its own so that its CPU and memory are its own.

Run by bench/province.py as ``python bench/_agent_poller.py ...``; prints one JSON document:
``{"warmup": PassFigures, "passes": [PassFigures, ...]}``. It builds what the agent builds
(settings, inventory, ``make_collectors``, the ``Scheduler`` with ``max_polls_in_flight``)
and asks the scheduler to poll every SNMP target once per pass (``run_once``: the same slots,
per-device lock and timeout as a running agent). The samples go nowhere: the benchmark measures
polling, not the pipeline or the InfluxDB writer.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _common import AGENT_PROFILES, PassFigures, total_cpu_seconds

from agent.collector import CollectorRegistry, Target
from agent.inventory.loader import load_inventory
from agent.lab.process import stop_process
from agent.lab.procfs import peak_rss_mib
from agent.results import Result
from agent.runner import make_collectors
from agent.samples import Sample
from agent.scheduler import Scheduler, poll_result
from agent.schema import base_schema
from agent.settings import load_settings
from collectors.snmp import SnmpCollector

#: Loading the inventory (ansible-inventory) plus a warm-up and the passes must end by then.
CHILD_DEADLINE_S = 3600.0


class _Unobserved:
    """The scheduler's observer (the agent's self-metrics): not measured here."""

    def polled(self, target: Target, result: str, duration_s: float) -> None:
        pass

    def skipped(self, target: Target, slots: int) -> None:
        pass


def _discard(target: Target, samples: list[Sample]) -> None:
    pass


def _interfaces_only(target: Target) -> Target:
    config = target.config.model_copy(update={"profiles": list(AGENT_PROFILES)})
    return dataclasses.replace(target, config=config)


async def _one_pass(
    scheduler: Scheduler, snmp: SnmpCollector, responders: Sequence[int]
) -> PassFigures:
    values_before, requests_before = snmp.stats.values_polled, snmp.stats.requests
    responders_before = total_cpu_seconds(responders)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    polls = await asyncio.gather(*(scheduler.run_once(t) for t in scheduler.targets))
    cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
    answered = [poll_result(samples) == Result.SUCCESS.tag for samples in polls]
    return PassFigures(
        devices_answered=sum(answered),
        values=snmp.stats.values_polled - values_before,
        requests=snmp.stats.requests - requests_before,
        wall_s=wall,
        cpu_s=cpu,
        responders_cpu_s=total_cpu_seconds(responders) - responders_before,
        peak_rss_mib=peak_rss_mib(),
        unanswered=tuple(
            t.host for t, ok in zip(scheduler.targets, answered, strict=True) if not ok
        ),
    )


async def _poll(
    settings_path: Path,
    inventory_path: Path | None,
    passes: int,
    responders: Sequence[int],
    profiles: str = "interfaces",
) -> dict[str, object]:
    settings = load_settings(settings_path)
    registry = CollectorRegistry.from_entry_points()
    inventory = load_inventory(
        inventory_path or settings.inventory.path,
        registry,
        vault_password_file=settings.inventory.vault_password_file,
    )
    collectors = make_collectors(settings, registry, inventory, base_schema())
    snmp = collectors.get("snmp")
    if not isinstance(snmp, SnmpCollector):
        raise SystemExit("the inventory has no SNMP targets")
    targets = [t for t in inventory.targets() if t.check == "snmp"]
    if profiles == "interfaces":
        targets = [_interfaces_only(t) for t in targets]
    scheduler = Scheduler(
        targets,
        {"snmp": snmp},
        _discard,
        _Unobserved(),
        spread=False,
        max_in_flight=settings.max_polls_in_flight,
    )
    try:
        # Warm-up: imports, pysnmp engine, SNMPv3 engine discovery, first contact.
        warmup = await _one_pass(scheduler, snmp, responders)
        measured = [await _one_pass(scheduler, snmp, responders) for _ in range(passes)]
    finally:
        for collector in collectors.values():
            await collector.close()
    return {
        "warmup": warmup.as_dict(),
        "passes": [p.as_dict() for p in measured],
    }


def measure(
    settings_path: Path,
    inventory_path: Path | None,
    passes: int,
    responders: Sequence[int],
    profiles: str = "interfaces",
) -> tuple[PassFigures, list[PassFigures]]:
    """Run this module as a child process: (warm-up pass, measured passes).

    `profiles`: "interfaces" (if-mib only, like the other pollers of the province bench) or
    "inventory" (each host's own profiles: sysObjectID-matched, the agent's default).
    """
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--settings",
        str(settings_path),
        *(["--inventory", str(inventory_path)] if inventory_path else []),
        "--passes",
        str(passes),
        "--responders",
        ",".join(str(pid) for pid in responders),
        "--profiles",
        profiles,
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it in finally
    )
    try:
        out, err = process.communicate(timeout=CHILD_DEADLINE_S)
    finally:
        stop_process(process)
    if process.returncode != 0:
        tail = "\n".join(err.decode(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"the agent poller failed ({process.returncode}):\n{tail}")
    result = json.loads(out)
    return (
        PassFigures.from_dict(result["warmup"]),
        [PassFigures.from_dict(figures) for figures in result["passes"]],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="one agent poller run (see bench/province.py)")
    parser.add_argument("--settings", type=Path, required=True)
    parser.add_argument("--inventory", type=Path)
    parser.add_argument("--passes", type=int, required=True)
    parser.add_argument("--responders", default="", help="PIDs of snmpsim/snmpd, comma-separated")
    parser.add_argument("--profiles", choices=["interfaces", "inventory"], default="interfaces")
    args = parser.parse_args()
    responders = [int(pid) for pid in args.responders.split(",") if pid]
    result = asyncio.run(
        _poll(args.settings, args.inventory, args.passes, responders, args.profiles)
    )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
