"""Values per SNMP request when the agent polls the lab province with its real profiles.

Starts the lab's SNMP responders (as bench/province.py does), then runs the agent's poller
(bench/_agent_poller.py) with each host's own profiles — chosen by sysObjectID, the agent's
default — for a first-contact pass and ``--passes`` steady passes:

- first contact: identification GET, every table with its label columns;
- steady: counters only, label columns from the cache (label_refresh_s, 900 s by default);
- label cycle: what a 15-minute cycle averages at a 60 s interval, one first-contact-like pass
  (pessimistic: it includes the identification GET) and 14 steady ones.

The goal (issue 6) is at least 25 values per request. Results: bench/results/snmp_requests.json
and a section of bench/RESULTS.md.

    .venv/bin/python bench/snmp_requests.py [--passes 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import _agent_poller
from _common import PassFigures, lab_devices
from _report import checkout, machine, write_results
from province import LAB_SETTINGS, ROOT, responders

from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.lab.province import plan_lab
from agent.settings import load_settings

GOAL = 25.0
#: Polls per label cycle at the lab's 60 s interval and the default 900 s label refresh.
POLLS_PER_LABEL_CYCLE = 15


def _per_request(values: float, requests: float) -> float:
    return round(values / requests, 2) if requests else float("nan")


def summary(first: PassFigures, steady: list[PassFigures]) -> dict[str, Any]:
    steady_values = statistics.median(p.values for p in steady)
    steady_requests = statistics.median(p.requests for p in steady)
    cycle_values = first.values + (POLLS_PER_LABEL_CYCLE - 1) * steady_values
    cycle_requests = first.requests + (POLLS_PER_LABEL_CYCLE - 1) * steady_requests
    cycle = _per_request(cycle_values, cycle_requests)
    return {
        "devices_answered": first.devices_answered,
        "first_contact": {
            "values": first.values,
            "requests": first.requests,
            "values_per_request": _per_request(first.values, first.requests),
        },
        "steady": {
            "values": steady_values,
            "requests": steady_requests,
            "values_per_request": _per_request(steady_values, steady_requests),
            "agent_cpu_s": round(statistics.median(p.cpu_s for p in steady), 3),
        },
        "label_cycle_values_per_request": cycle,
        "goal_values_per_request": GOAL,
        "goal_met": cycle >= GOAL,
        "unanswered": sorted(set(first.unanswered).union(*(p.unanswered for p in steady))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--config", type=Path, default=LAB_SETTINGS)
    parser.add_argument("--output", type=Path, default=Path("bench/results/snmp_requests.json"))
    args = parser.parse_args()
    os.chdir(ROOT)
    settings = load_settings(args.config)
    inventory = load_inventory(
        settings.inventory.path,
        CollectorRegistry.from_entry_points(),
        vault_password_file=settings.inventory.vault_password_file,
    )
    devices = lab_devices(inventory)
    host = machine()
    with tempfile.TemporaryDirectory(prefix="netmon-bench-") as scratch:
        plan = plan_lab(inventory, settings, Path(scratch) / "lab")
        print(f"bench: starting the lab's SNMP responders for {len(devices)} devices", flush=True)
        with responders(plan) as pids:
            first, steady = _agent_poller.measure(
                args.config, None, args.passes, pids, profiles="inventory"
            )
    doc = {
        "benchmark": "snmp_requests",
        "machine": host,
        "checkout": checkout(),
        "command": "python bench/snmp_requests.py " + " ".join(sys.argv[1:]),
        "passes": [first.as_dict(), *(p.as_dict() for p in steady)],
        "result": summary(first, steady),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    write_results(Path("bench/RESULTS.md"))
    print(json.dumps(doc["result"], indent=2))


if __name__ == "__main__":
    main()
