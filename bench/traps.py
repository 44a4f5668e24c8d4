"""Trap → visible in InfluxDB: how long a trap takes to reach the dashboards.

The issue's goal: a trap's sample is in InfluxDB within 1 s.

1. Starts a private influxd (Debian's, agent.lab.influxdb) on a free port.
2. Starts the agent as its own process (this script with ``--agent``): ``Agent.build`` and
   ``run_until_stopped`` with the durable spool, the InfluxDB writer as configured by default
   (flush interval 1 s), /metrics, and the trap receiver on 127.9.4.1; a one-host inventory
   made in code (its SNMP port answers nothing: one failed poll, then an hour's wait).
3. Sends N traps (default 200) with net-snmp's ``snmptrap -v2c`` from the host's address,
   each carrying its sequence number as sysUpTime, in two phases:
   - **one at a time**: each trap is waited for in InfluxDB before the next is sent;
   - **burst**: N traps from 8 concurrent senders, as fast as snmptrap goes.
   A poller reads ``SELECT "sysUpTime" FROM "snmp_trap"`` every 10 ms and notes when each
   sequence number first shows.
4. Latency per trap = first seen in InfluxDB − the start of its snmptrap process (an upper
   bound: snmptrap's own start-up is in it), and − the row's own timestamp (the agent's
   receipt: its own path); p50, p95, max. The 10 ms poll (plus one query, a few ms) is the
   figures' resolution: they are upper bounds.

Writes bench/results/traps.json and the traps section of bench/RESULTS.md.

    .venv/bin/python bench/traps.py [--traps 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _report import checkout, machine, write_results  # noqa: E402
from _traps_report import GOAL_S  # noqa: E402

from agent.lab.influxdb import InfluxServer, find_influxd  # noqa: E402
from agent.lab.process import find_executable, free_tcp_port, free_udp_port  # noqa: E402
from agent.status import read_metrics  # noqa: E402

RESULTS_JSON = ROOT / "bench" / "results" / "traps.json"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
DATABASE = "netmon"
RECEIVER, SENDER = "127.9.4.1", "127.9.4.31"
COMMUNITY = "bench-trap-community"  # the bench's own, on loopback

POLL_S = 0.01
BURST_SENDERS = 8
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"


# -- the agent (child process) --------------------------------------------------------------------


def run_agent(config: dict[str, Any]) -> None:
    """The agent process: built and run as `netmon run` does, with an inventory made here."""
    from agent.collector import CollectorRegistry
    from agent.inventory.model import Host, HostSettings, Inventory
    from agent.runner import Agent, run_until_stopped
    from agent.settings import load_settings
    from collectors.snmp.config import CommunityCredential, SnmpConfig

    credential = CommunityCredential(name="bench", version="2c", community=COMMUNITY)
    snmp = SnmpConfig(credential=credential, port=config["dead_port"], timeout_s=0.3, retries=0)
    settings = HostSettings(
        netmon_checks=["snmp"], netmon_site="BENCH", netmon_level="dc", netmon_interval=3600
    )
    host = Host("bench-router", SENDER, ("routers",), settings, {"snmp": snmp})
    inventory = Inventory(source="bench/traps.py", hosts={host.name: host})
    agent = Agent.build(
        load_settings(None, config["env"]), inventory, CollectorRegistry.from_entry_points()
    )
    asyncio.run(run_until_stopped(agent))


# -- the measurement ------------------------------------------------------------------------------


class Seen:
    """First time each sequence number showed in InfluxDB, read by a polling thread."""

    def __init__(self, influx: InfluxServer) -> None:
        self.influx = influx
        self.first_seen: dict[int, float] = {}  # sequence → wall time first seen
        self.receipt: dict[int, float] = {}  # sequence → the row's timestamp (agent receipt)
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Seen:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _poll(self) -> None:
        while not self._stop.is_set():
            rows = self.influx.rows('SELECT "sysUpTime" FROM "snmp_trap"', DATABASE)
            now = time.time()
            self.queries += 1
            for row in rows:
                sequence = int(row["sysUpTime"])
                if sequence not in self.first_seen:
                    self.first_seen[sequence] = now
                    self.receipt[sequence] = int(row["time"]) / 1e9
            self._stop.wait(POLL_S)

    def wait_for(self, sequence: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while sequence not in self.first_seen:
            if time.monotonic() > deadline:
                raise SystemExit(f"traps bench: trap {sequence} never reached InfluxDB")
            time.sleep(POLL_S / 4)


def send(snmptrap: str, target: str, sequence: int) -> float:
    """Send trap `sequence` (as its sysUpTime); the wall time snmptrap was started."""
    started = time.time()
    subprocess.run(
        [snmptrap, f"--clientaddr={SENDER}", "-v2c", "-c", COMMUNITY, target, str(sequence),
         LINK_DOWN, "1.3.6.1.2.1.2.2.1.1.1", "i", "1", "1.3.6.1.2.1.2.2.1.8.1", "i", "2"],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return started


def figures(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_s": round(statistics.median(ordered), 4),
        "p95_s": round(p95, 4),
        "max_s": round(ordered[-1], 4),
        "mean_s": round(statistics.fmean(ordered), 4),
    }


def phase(seen: Seen, sent: dict[int, float]) -> dict[str, Any]:
    end_to_end = [seen.first_seen[s] - sent[s] for s in sent]
    from_receipt = [seen.first_seen[s] - seen.receipt[s] for s in sent]
    return {
        "traps": len(sent),
        "from_snmptrap_start": figures(end_to_end),
        "from_agent_receipt": figures(from_receipt),
        "within_goal": sum(latency <= GOAL_S for latency in end_to_end),
    }


def measure(traps: int) -> dict[str, Any]:
    snmptrap = find_executable("snmptrap")
    influxd = find_influxd()
    if influxd is None:
        raise SystemExit("traps bench: influxd not found (Debian package influxdb)")
    work = Path(tempfile.mkdtemp(prefix="netmon-traps-"))
    listen = f"{RECEIVER}:{free_udp_port(RECEIVER)}"
    metrics = f"127.0.0.1:{free_tcp_port()}"
    with InfluxServer(work / "influxd", free_tcp_port(), influxd=influxd) as influx:
        influx.create_database(DATABASE)
        config = {
            "dead_port": free_udp_port(SENDER),
            "env": {
                "NETMON_INFLUXDB_URL": influx.url,
                "NETMON_INFLUXDB_DATABASE": DATABASE,
                "NETMON_STATE_DIR": str(work / "state"),
                "NETMON_AGENT_NAME": "bench-agent",
                "NETMON_METRICS_LISTEN": metrics,
                "NETMON_TRAPS_ENABLED": "true",
                "NETMON_TRAPS_LISTEN": listen,
                "NETMON_LOG_LEVEL": "WARNING",
            },
        }
        log = (work / "agent.log").open("wb")
        agent = subprocess.Popen(
            [sys.executable, __file__, "--agent", json.dumps(config)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            with Seen(influx) as seen:
                warm_up(seen, snmptrap, listen, agent)
                one_by_one: dict[int, float] = {}
                for sequence in range(1, traps + 1):
                    one_by_one[sequence] = send(snmptrap, listen, sequence)
                    seen.wait_for(sequence)
                burst = list(range(traps + 1, 2 * traps + 1))
                with ThreadPoolExecutor(BURST_SENDERS) as pool:
                    starts = pool.map(lambda s: send(snmptrap, listen, s), burst)
                    burst_sent = dict(zip(burst, starts, strict=True))
                for sequence in burst:
                    seen.wait_for(sequence)
                queries = seen.queries
            reading = read_metrics(f"http://{metrics}/metrics")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
            log.close()
    received = reading.value("netmon_traps_received_total")
    return {
        "one_at_a_time": phase(seen, one_by_one),
        "burst": {**phase(seen, burst_sent), "senders": BURST_SENDERS},
        "agent_traps_received": received,
        "agent_traps_malformed": reading.value("netmon_traps_malformed_total"),
        "agent_traps_refused": reading.value("netmon_traps_refused_total"),
        "influx_queries": queries,
        "poll_interval_s": POLL_S,
    }


def warm_up(seen: Seen, snmptrap: str, listen: str, agent: subprocess.Popen[bytes]) -> None:
    """Send trap 0 until it shows: the agent is up, imports done, the database exists."""
    deadline = time.monotonic() + 60
    while 0 not in seen.first_seen:
        if agent.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("traps bench: the agent did not start (see its log)")
        send(snmptrap, listen, 0)
        time.sleep(0.5)


# -- reporting ------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    snmptrap = subprocess.run(
        [find_executable("snmptrap"), "--version"], capture_output=True, text=True, check=False
    )
    return {"net-snmp": (snmptrap.stdout + snmptrap.stderr).strip().split(": ")[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traps", type=int, default=200, help="traps per phase")
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.agent:
        run_agent(json.loads(args.agent))
        return
    host = machine()
    started = time.gmtime()
    result = measure(args.traps)
    doc = {
        "date": time.strftime("%Y-%m-%d", started),
        "time_utc": time.strftime("%H:%M", started),
        "checkout": checkout(),
        "machine": host,
        "versions": versions(),
        "goal_s": GOAL_S,
        "result": result,
    }
    RESULTS_JSON.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    write_results(RESULTS_MD)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
