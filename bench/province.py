"""The simulated province polled by three pollers in one run: agent, snmpbulkwalk, exporter.

Starts the lab's SNMP responders (snmpsim per recording, net-snmp snmpd for the SNMPv3 hosts;
no influxd) from the lab inventory and settings, then lets each poller in turn read ifTable and
ifXTable of every SNMP device once per pass, with the agent's ``max_polls_in_flight`` as the
concurrency of all three:

1. the agent, in a child process (bench/_agent_poller.py): its own collectors and scheduler;
2. net-snmp ``snmpbulkwalk``, two walks per device (bench/_netsnmp.py);
3. Debian's ``prometheus-snmp-exporter``, our own instance on 127.0.0.1 (bench/_exporter.py).

Each poller's CPU is its own (the responders' CPU is measured apart, per pass); every poller
gets one warm-up pass, then ``--passes`` measured ones, reported as medians in
bench/RESULTS.md and bench/results/province.json. Everything stays on loopback.

    bench/run [--passes 3]        # or: .venv/bin/python bench/province.py [--passes 3]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import _agent_poller
import _exporter
import _netsnmp
from _common import (
    AGENT_PROFILES,
    IF_TABLE,
    IF_X_TABLE,
    Device,
    PassFigures,
    lab_devices,
)
from _report import (
    AGENT,
    BULKWALK,
    EXPORTER,
    PollerRun,
    checkout,
    document,
    machine,
    markdown,
)

import agent
from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.inventory.problems import InventoryError
from agent.lab.process import LabProcessError
from agent.lab.procfs import descendants
from agent.lab.province import LabPlan, LabPlanError, plan_lab
from agent.lab.snmpsim import simulators
from agent.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
LAB_SETTINGS = Path("agent/lab/netmon-lab.toml")


@contextlib.contextmanager
def responders(plan: LabPlan) -> Iterator[list[int]]:
    """The lab's SNMP responders running (influxd is not needed); yields their PIDs."""
    before = set(descendants(os.getpid()))
    with contextlib.ExitStack() as stack:
        for snmpd in plan.agents:
            stack.enter_context(snmpd)
        stack.enter_context(simulators(plan.simulators))
        yield [pid for pid in descendants(os.getpid()) if pid not in before]


def _show(name: str, label: str, figures: PassFigures) -> None:
    print(
        f"{name:>14} {label:>8}: {figures.devices_answered} devices, {figures.values:>7} values, "
        f"CPU {figures.cpu_s:7.3f} s, wall {figures.wall_s:6.2f} s, "
        f"responders CPU {figures.responders_cpu_s:6.2f} s",
        flush=True,
    )
    if figures.unanswered:
        shown = ", ".join(figures.unanswered[:6]) + (" ..." if len(figures.unanswered) > 6 else "")
        print(f"{'':>25}no values from: {shown}", flush=True)


def _passes(
    name: str, passes: int, one_pass: Callable[[], PassFigures]
) -> tuple[PassFigures, list[PassFigures]]:
    warmup = one_pass()
    _show(name, "warm-up", warmup)
    measured = []
    for number in range(1, passes + 1):
        measured.append(one_pass())
        _show(name, f"pass {number}", measured[-1])
    return warmup, measured


def run_agent(
    settings_path: Path, inventory_path: Path | None, passes: int, pids: Sequence[int]
) -> PollerRun:
    warmup, measured = _agent_poller.measure(settings_path, inventory_path, passes, pids)
    _show(AGENT, "warm-up", warmup)
    for number, figures in enumerate(measured, start=1):
        _show(AGENT, f"pass {number}", figures)
    version = (
        f"tslcd-netmon {agent.__version__}, pysnmp {importlib.metadata.version('pysnmp')}, "
        f"Python {sys.version.split()[0]}"
    )
    what = (
        f"its SNMP collector, profile {'+'.join(AGENT_PROFILES)} (~25 columns of ifTable + "
        "ifXTable), in a child process; Scheduler.run_once per target. After the warm-up it "
        "walks the label columns (ifDescr, ifName, ifAlias, ifSpeed, ...) only every "
        "label_refresh_s (900 s), as a running agent does: fewer values per pass, and less "
        "work for the responders"
    )
    return PollerRun(AGENT, version, what, warmup, measured)


def run_bulkwalk(
    devices: Sequence[Device], limit: int, state: Path, pids: Sequence[int], passes: int
) -> PollerRun:
    confs = _netsnmp.write_client_confs(devices, state)
    warmup, measured = _passes(
        BULKWALK, passes, lambda: _netsnmp.one_pass(devices, limit, confs, pids)
    )
    what = (
        f"`snmpbulkwalk -On -Ox -Oe` of {IF_TABLE} and {IF_X_TABLE}, one process per walk; "
        "values = value lines; CPU = sum of the walks' rusage (wait4); peak RSS = the largest "
        "VmHWM of one walk process, read while it writes"
    )
    return PollerRun(BULKWALK, _netsnmp.version(), what, warmup, measured)


def run_exporter(
    devices: Sequence[Device], limit: int, state: Path, pids: Sequence[int], passes: int
) -> tuple[PollerRun, str]:
    module, source = _exporter.if_mib_module()
    config, modules = _exporter.exporter_config(devices, module)
    with _exporter.SnmpExporter(state / "snmp_exporter", config) as exporter:
        warmup, measured = _passes(
            EXPORTER,
            passes,
            lambda: _exporter.one_pass(exporter, devices, modules, limit, pids),
        )
    what = (
        "one /snmp scrape of module if_mib per device (walks interfaces and ifXTable, gets "
        "sysUpTime); values = sample lines less snmp_scrape_*; CPU from /proc/PID/stat, "
        "peak RSS = VmHWM"
    )
    return PollerRun(EXPORTER, _exporter.version(), what, warmup, measured), source


def _spread(values: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in sorted(set(values)))


def _header(
    host: dict[str, Any],
    settings: Settings,
    inventory_path: Path,
    devices: Sequence[Device],
    passes: int,
    exporter_module: str,
) -> dict[str, Any]:
    now = time.gmtime()
    return {
        "benchmark": "province",
        "date": time.strftime("%Y-%m-%d", now),
        "time_utc": time.strftime("%H:%M", now),
        "checkout": checkout(),
        "machine": host,
        "versions": {
            "snmpsim": importlib.metadata.version("snmpsim"),
            "snmpd": _netsnmp.version(),
        },
        "lab": {
            "inventory": str(inventory_path),
            "devices": len(devices),
            "by_recording": dict(sorted(Counter(d.served_by for d in devices).items())),
        },
        "settings": {
            "passes": passes,
            "max_in_flight": settings.max_polls_in_flight,
            "timeout_s": _spread([d.timeout_s for d in devices]),
            "retries": _spread([d.retries for d in devices]),
            "max_repetitions": _spread([d.max_repetitions for d in devices]),
            "agent_profiles": list(AGENT_PROFILES),
            "exporter_module": exporter_module,
        },
    }


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # As for Ctrl-C: unwind through every finally, which stops what we started.
    raise SystemExit(128 + signum)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3, help="measured passes (default 3)")
    parser.add_argument("--config", type=Path, default=LAB_SETTINGS, help="lab settings (TOML)")
    parser.add_argument("--inventory", type=Path, help="default: the settings' inventory")
    parser.add_argument("--output", type=Path, default=Path("bench/results/province.json"))
    parser.add_argument("--results", type=Path, default=Path("bench/RESULTS.md"))
    args = parser.parse_args()
    if args.passes < 1:
        parser.error("--passes must be at least 1")
    return args


def main() -> None:
    args = _arguments()
    os.chdir(ROOT)  # the lab settings' paths are relative to the checkout
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    for tool, ok in (
        ("snmpbulkwalk", _netsnmp.available()),
        (_exporter.EXPORTER, _exporter.available()),
    ):
        if not ok:
            sys.exit(f"bench: {tool} not found (apt-get install snmp prometheus-snmp-exporter)")
    settings = load_settings(args.config)
    inventory_path = args.inventory or settings.inventory.path
    inventory = load_inventory(
        inventory_path,
        CollectorRegistry.from_entry_points(),
        vault_password_file=settings.inventory.vault_password_file,
    )
    devices = lab_devices(inventory)
    limit = settings.max_polls_in_flight
    host = machine()  # before the run: its load average is what else the machine was doing
    with tempfile.TemporaryDirectory(prefix="netmon-bench-") as scratch:
        state = Path(scratch)
        plan = plan_lab(inventory, settings, state / "lab")
        print(f"bench: starting the lab's SNMP responders for {len(devices)} devices", flush=True)
        with responders(plan) as pids:
            print(f"bench: {len(pids)} responder processes up; {args.passes} passes each")
            runs = [run_agent(args.config, args.inventory, args.passes, pids)]
            runs.append(run_bulkwalk(devices, limit, state, pids, args.passes))
            exporter_run, module_source = run_exporter(devices, limit, state, pids, args.passes)
            runs.append(exporter_run)
    header = _header(host, settings, inventory_path, devices, args.passes, module_source)
    doc = document(header, runs)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    args.results.write_text(markdown(doc))
    print(f"bench: wrote {args.output} and {args.results}")
    print(json.dumps(doc["ratios_cpu_per_1000_values"]))


if __name__ == "__main__":
    try:
        main()
    except (SettingsError, InventoryError, LabPlanError, LabProcessError) as exc:
        # e.g. a `netmon lab` already holds the lab's addresses: say so, without a traceback.
        sys.exit(f"bench: {exc}")
    except KeyboardInterrupt:
        # Every process the run started was stopped on the way out (try/finally throughout).
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
