"""InfluxDB away for 10 minutes while the agent polls the whole lab: is every point stored?

1. Starts the lab (every snmpsim, snmpd, the HTTPS and SIP services, the lab's influxd) and the
   agent as its own process (`netmon run` with the lab's settings and a fresh state dir).
2. After `--warmup-s` of normal work, stops influxd for `--outage-s` (default 600 s). The
   agent keeps polling; its spool grows. /metrics is read every few seconds: polls go on,
   none is skipped.
3. Restarts influxd on the same data and watches the drain every 0.25 s: how fast the backlog
   goes (against the agent's normal production rate) and how fresh the newest stored point
   stays meanwhile (the spool interleaves the newest lines with the backlog).
4. Stops the agent (SIGTERM) and counts: every point the agent ever spooled must be in
   InfluxDB, exactly once (stored == spooled).

Writes bench/results/outage.json and the outage section of bench/RESULTS.md.

    bench/outage [--outage-s 600] [--warmup-s 130]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _report import checkout, machine, write_results

from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.lab.influxdb import InfluxServerError
from agent.lab.process import free_tcp_port
from agent.lab.province import plan_lab
from agent.lab.session import lab_session
from agent.output.spool import inspect
from agent.settings import load_settings
from agent.status import AgentReading, read_metrics

ROOT = Path(__file__).resolve().parent.parent
LAB_SETTINGS = ROOT / "agent" / "lab" / "netmon-lab.toml"
RESULTS_JSON = ROOT / "bench" / "results" / "outage.json"
DATABASE = "netmon"
#: A stored point younger than this is "current" on a dashboard (a poll takes up to ~10 s).
FRESH_S = 15.0


def newest_point_ns(influx: Any) -> int | None:
    """Time of the newest `snmp` point InfluxDB holds (what Grafana's "now" would show)."""
    try:
        rows = influx.rows('SELECT last("result_code") FROM "snmp"', DATABASE)
    except (InfluxServerError, httpx.HTTPError):
        return None  # busy or restarting: no reading this time
    return int(rows[0]["time"]) if rows else None


def wait_metrics(url: str, test: Any, timeout_s: float, what: str) -> AgentReading:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reading = read_metrics(url, timeout_s=2.0)
        if reading.reachable and test(reading):
            return reading
        time.sleep(0.5)
    raise SystemExit(f"outage bench: timed out waiting for {what}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="netmon-outage-"))
    influx_port, metrics_port = free_tcp_port(), free_tcp_port()
    env = {
        "NETMON_STATE_DIR": str(work / "state"),
        "NETMON_INFLUXDB_URL": f"http://127.0.0.1:{influx_port}",
        "NETMON_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
    }
    settings = load_settings(LAB_SETTINGS, {**os.environ, **env})
    inventory = load_inventory(
        ROOT / settings.inventory.path,
        CollectorRegistry.from_entry_points(),
        vault_password_file=ROOT / settings.inventory.vault_password_file
        if settings.inventory.vault_password_file
        else None,
    )
    lab_dir = work / "lab"
    plan = plan_lab(inventory, settings, lab_dir, [])
    assert plan.influx is not None and plan.ca_file is not None
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    figures: dict[str, Any] = {"outage_s": args.outage_s, "warmup_s": args.warmup_s}
    with lab_session(plan, lab_dir, DATABASE):
        influx = plan.influx
        agent_env = {
            **os.environ,
            **env,
            "NETMON_CONFIG": str(LAB_SETTINGS),
            "NETMON_PROBES_CA_FILE": str(plan.ca_file),
        }
        log = (work / "agent.log").open("wb")
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "run"],
            cwd=ROOT,
            env=agent_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            started = time.monotonic()
            wait_metrics(
                metrics,
                lambda r: r.value("netmon_samples_written_total") > 0,
                120,
                "the first deliveries",
            )
            time.sleep(max(0.0, args.warmup_s - (time.monotonic() - started)))
            before = read_metrics(metrics)
            normal_rate = before.value("netmon_samples_spooled_total") / (
                time.monotonic() - started
            )
            print(
                f"outage bench: normal production {normal_rate:.1f} samples/s; "
                f"stopping influxd for {args.outage_s:g} s",
                flush=True,
            )
            influx.stop()
            outage_started = time.monotonic()
            peak_bytes = 0.0
            while time.monotonic() - outage_started < args.outage_s:
                reading = read_metrics(metrics)
                peak_bytes = max(peak_bytes, reading.value("netmon_spool_bytes"))
                time.sleep(5)
            at_restart = read_metrics(metrics)
            influx.start()
            restarted = time.monotonic()
            backlog = at_restart.value("netmon_spool_samples")
            written_at_restart = at_restart.value("netmon_samples_written_total")
            print(f"outage bench: influxd back; {backlog:.0f} samples to drain", flush=True)
            first_delivery: float | None = None
            fresh_at: float | None = None  # when the newest stored point was recent again
            lags: list[float] = []
            while True:
                reading = read_metrics(metrics)
                now = time.monotonic()
                if first_delivery is None and (
                    reading.value("netmon_samples_written_total") > written_at_restart
                ):
                    first_delivery = now
                if first_delivery is not None:
                    newest = newest_point_ns(influx)
                    if newest is not None:
                        lags.append(time.time() - newest / 1e9)
                        if fresh_at is None and lags[-1] < FRESH_S:
                            fresh_at = now
                if first_delivery is not None and reading.value("netmon_spool_samples") == 0:
                    drained = now
                    break
                if now - restarted > 1800:
                    raise SystemExit("outage bench: the backlog did not drain in 30 minutes")
                time.sleep(0.25)
            assert first_delivery is not None
            after = read_metrics(metrics)
            time.sleep(args.after_s)
            agent.send_signal(signal.SIGTERM)
            exit_status = agent.wait(timeout=120)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            log.close()
        spool = inspect(work / "state" / "spool")
        assert spool is not None
        stored = influx.point_counts(DATABASE)
    drain_s = drained - first_delivery
    drain_rate = backlog / drain_s if drain_s > 0 else float("inf")
    skipped = sum(at_restart.skipped.values())
    figures.update(
        {
            "normal_samples_per_s": round(normal_rate, 2),
            "backlog_samples": int(backlog),
            "peak_spool_bytes": int(peak_bytes),
            "polls_skipped_during_outage": int(skipped - sum(before.skipped.values())),
            "polls_during_outage": int(
                sum(sum(c.values()) for c in at_restart.polls.values())
                - sum(sum(c.values()) for c in before.polls.values())
            ),
            "seconds_to_first_delivery_after_restart": round(first_delivery - restarted, 2),
            "drain_s": round(drain_s, 2),
            "drain_samples_per_s": round(drain_rate, 1),
            "drain_vs_normal_rate": round(drain_rate / normal_rate, 1) if normal_rate else None,
            "fresh_data_after_first_delivery_s": (
                round(fresh_at - first_delivery, 2) if fresh_at is not None else None
            ),
            "write_retries": int(after.value("netmon_write_retries_total")),
            "samples_spooled": spool.end_position,
            "samples_stored": sum(stored.values()),
            "samples_undelivered_after_stop": spool.undelivered,
            "evicted": int(after.value("netmon_spool_evicted_total")),
            "quarantined": int(after.value("netmon_samples_quarantined_total")),
            "agent_exit_status": exit_status,
        }
    )
    figures["every_point_stored_once"] = (
        figures["samples_stored"] == figures["samples_spooled"] and spool.undelivered == 0
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage-s", type=float, default=600.0)
    parser.add_argument("--warmup-s", type=float, default=130.0)
    parser.add_argument("--after-s", type=float, default=5.0)
    args = parser.parse_args()
    figures = run(args)
    doc = {
        "date": time.strftime("%Y-%m-%d"),
        "time_utc": time.strftime("%H:%M:%S", time.gmtime()),
        "checkout": checkout(),
        "machine": machine(),
        "figures": figures,
    }
    RESULTS_JSON.parent.mkdir(exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(doc, indent=2) + "\n")
    write_results(ROOT / "bench" / "RESULTS.md")
    print(json.dumps(figures, indent=2))
    if not figures["every_point_stored_once"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
