"""The simulated province end to end: `netmon lab up|status|down` and the main job.

The main job runs the whole lab (every snmpsim, snmpd, influxd, the HTTPS services and the SIP
responder) with the agent for two poll cycles, under a fault plan made for the test: one
district dark from the start, one commune's link down for its first poll only. Then it reads
InfluxDB: every connection point answered within two cycles except those the plan broke, and
the broken ones show exactly the outage the plan scheduled.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.inventory.model import Inventory
from agent.lab import faultplan
from agent.lab.influxdb import InfluxServer
from agent.lab.process import free_tcp_port
from agent.lab.session import STATUS_FILE
from agent.scheduler import first_offset
from tests.e2e.dashboards_checks import dashboards_show_the_run
from tests.peers import require_binary

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.snmpsim,
    pytest.mark.snmpd,
    pytest.mark.influxdb,
    pytest.mark.sipp,
]

LAB = Path("inventory/lab")
LAB_SETTINGS = Path("agent/lab/netmon-lab.toml")
VAULT = LAB / "vault-password.txt"
PORTAL = "svc-dichvucong"
#: The test stops the agent after two poll cycles of the lab's 60 s interval, plus margin.
RUN_S = 135.0


@pytest.fixture(scope="module")
def lab_inventory() -> Inventory:
    return load_inventory(LAB, CollectorRegistry.from_entry_points(), vault_password_file=VAULT)


@pytest.fixture
def lab_env(tmp_path: Path) -> dict[str, str]:
    """The lab with its own state dir and ports, so it cannot meet a lab already running."""
    for peer in ("snmpsim-command-responder", "snmpd", "influxd", "sipp"):
        require_binary(peer)
    return {
        **os.environ,
        "NETMON_STATE_DIR": str(tmp_path / "state"),
        "NETMON_INFLUXDB_URL": f"http://127.0.0.1:{free_tcp_port()}",
        "NETMON_METRICS_LISTEN": f"127.0.0.1:{free_tcp_port()}",
    }


def _netmon(
    env: dict[str, str], *args: str, timeout: float = 400
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "-c", str(LAB_SETTINGS), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _lab_processes(state_dir: Path) -> list[str]:
    """Every live process whose command line names the lab's state dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(state_dir) in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline[:120]}")
    return found


def test_lab_up_status_down_leaves_no_process(lab_env: dict[str, str], tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    up = _netmon(lab_env, "lab", "up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status = json.loads((state_dir / STATUS_FILE).read_text())
        kinds = {peer["kind"] for peer in status["peers"]}
        assert {"influxd", "snmpd", "snmpsim", "web", "sip"} <= kinds
        running = _netmon(lab_env, "lab", "status")
        assert running.returncode == 0, running.stdout + running.stderr
        assert "GONE" not in running.stdout
        assert len(_lab_processes(state_dir)) >= len(status["peers"])
    finally:
        down = _netmon(lab_env, "lab", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "killed" not in down.stderr  # the owner stopped every peer itself
    assert _lab_processes(state_dir) == []
    after = _netmon(lab_env, "lab", "status")
    assert after.returncode == 1
    assert "not running" in after.stdout


def test_lab_down_cleans_up_after_an_owner_killed_with_sigkill(
    lab_env: dict[str, str], tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    up = _netmon(lab_env, "lab", "up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        owner = json.loads((state_dir / STATUS_FILE).read_text())["pid"]
        os.kill(owner, signal.SIGKILL)  # no chance to stop its peers
        deadline = time.monotonic() + 10
        while Path(f"/proc/{owner}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        orphans = _lab_processes(state_dir)
        assert orphans, "the peers outlive their owner (their own sessions)"
        status = _netmon(lab_env, "lab", "status")
        assert status.returncode == 1
    finally:
        down = _netmon(lab_env, "lab", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "killed" in down.stderr
    assert _lab_processes(state_dir) == []


def _district_router(inventory: Inventory, district: str) -> str:
    """The district's router: the point the district's other connection points hang off."""
    points = set(inventory.groups["connection_points"])
    hubs = {inventory.described[p].settings.netmon_uplink for p in points}
    [router] = sorted(set(inventory.groups[district]) & hubs & points)
    return router


@pytest.fixture
def test_plan(lab_inventory: Inventory, tmp_path: Path) -> tuple[Path, str, str]:
    """A fault plan for two cycles: a district dark throughout; a commune down at its first
    poll only (the window is placed around that poll's stable offset)."""
    districts = sorted(g for g in lab_inventory.groups if g.startswith("dist_"))
    dark_router = _district_router(lab_inventory, districts[-1])
    flapping = sorted(
        set(lab_inventory.groups[districts[0]])
        & set(lab_inventory.groups["commune"])
        & set(lab_inventory.groups["connection_points"])
    )[0]
    [target] = [t for t in lab_inventory.hosts[flapping].targets() if t.check == "snmp"]
    offset = first_offset(target)
    plan = [
        {"name": "district-dark", "what": "unreachable", "behind": dark_router,
         "start_s": 0, "duration_s": 3600},
        # The agent starts within seconds of the lab; its first poll of `flapping` comes
        # `offset` s later, its second 60 s after that: down for the first (with up to 35 s
        # of start-up slack), up for the second.
        {"name": "commune-flap", "what": "unreachable", "hosts": [flapping],
         "start_s": max(0.0, offset - 10), "duration_s": 45},
        # The portal answers 503 throughout: the "service down" alert rule must fire.
        {"name": "portal-unavailable", "what": "http_status", "status": 503,
         "hosts": [PORTAL], "start_s": 0, "duration_s": 3600},
    ]  # fmt: skip
    path = tmp_path / "faults.yml"
    path.write_text(yaml.safe_dump(plan))
    return path, dark_router, flapping


def test_main_job_stores_every_point_within_two_cycles_and_shows_the_faults(
    lab_env: dict[str, str],
    lab_inventory: Inventory,
    test_plan: tuple[Path, str, str],
    tmp_path: Path,
) -> None:
    faults_file, dark_router, flapping = test_plan
    state_dir = tmp_path / "state"
    run = _netmon(
        lab_env, "lab", "run", "--faults", str(faults_file), "--duration", str(RUN_S), timeout=900
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "connection points with data" in run.stdout
    assert _lab_processes(state_dir) == []

    port = int(lab_env["NETMON_INFLUXDB_URL"].rsplit(":", 1)[1])
    with InfluxServer(state_dir / "influxdb", port) as influx:  # the run's data, reopened
        rows = influx.rows('SELECT "result_code", "source", "result" FROM "snmp"', "netmon")
        probes = {
            measurement: influx.rows(f'SELECT * FROM "{measurement}"', "netmon")
            for measurement in ("ping", "http_response", "sip", "net_response", "availability")
        }
        # The SLA report of the run, from the same data (the database must be up for it).
        _sla_report_shows_the_district_outage(
            lab_env, lab_inventory, dark_router, probes["availability"], tmp_path
        )
        # Grafana's dashboards and alert rules, run on the same data (issue 8).
        dashboards_show_the_run(
            lambda *args: _netmon(lab_env, *args, timeout=300),
            lab_env["NETMON_INFLUXDB_URL"],
            lab_inventory,
            dark_router,
            PORTAL,
            tmp_path,
        )
    polls: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        polls.setdefault(row["source"], []).append((row["time"], row["result"]))
    dark = faultplan.behind(dark_router, lab_inventory.described)
    points = set(lab_inventory.groups["connection_points"])
    monitored = {h.name for h in lab_inventory.hosts.values() if "snmp" in h.checks}

    # Every monitored host was polled, and every one the plan did not break answered.
    assert monitored - set(polls) == set()
    answered = {host for host, seen in polls.items() if any(r == "success" for _, r in seen)}
    assert points - dark - answered == set(), "connection points without data"
    assert len(points) == 184

    # The dark district: its router and every point behind it, never a success.
    assert dark & points, "the dark district has connection points"
    for host in dark & monitored:
        assert {result for _, result in polls[host]} == {"timeout"}, host

    # The flapping commune: its first poll timed out, the next one answered.
    results = [result for _, result in sorted(polls[flapping])]
    assert results[0] == "timeout"
    assert "success" in results[1:]

    _probes_landed(lab_inventory, probes, dark)


def _probes_landed(
    inventory: Inventory, probes: dict[str, list[dict[str, Any]]], dark: frozenset[str]
) -> None:
    """Every probe ran against the lab's services and bridge points, and its data is stored."""

    def hosts_with(check: str) -> set[str]:
        return {h.name for h in inventory.hosts.values() if check in h.checks}

    verdicts: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in probes["availability"]:
        verdicts.setdefault((row["check"], row["target"]), []).append(row)
    for check in ("snmp", "ping", "http", "sip", "vc"):
        assert hosts_with(check), check
        missing = {h for h in hosts_with(check) if (check, h) not in verdicts}
        assert missing == set(), f"{check}: no availability for {sorted(missing)[:5]}"

    # ICMP to loopback: every pinged host answered (the lab's faults stop SNMP, not ICMP).
    pinged = {row["site"] for row in probes["ping"] if row["result"] == "success"}
    sites = {inventory.hosts[h].settings.netmon_site for h in hosts_with("ping")}
    assert sites - pinged == set()

    # The front ends over HTTPS, verified against the lab CA; the near-expiry certificate
    # (svc-opendata, 10 days) is reported and makes its service degraded.
    http = {row["server"]: row for row in probes["http_response"]}
    assert set(http) == {inventory.hosts[h].settings.netmon_url for h in hosts_with("http")}
    assert all(row["tls_verified"] == 1 for row in http.values())
    opendata = inventory.hosts["svc-opendata"].settings.netmon_url
    assert 9.0 < http[opendata]["tls_expiry_days"] < 10.01
    assert any(
        "certificate" in row["reason"] and row["state"] == 1
        for row in verdicts[("http", "svc-opendata")]
    )

    # The MCU answers SIP OPTIONS (SIPp).
    assert {row["result"] for row in probes["sip"]} == {"success"}

    # Bridge points: ready, except those behind the dark district (signalling refused).
    bridge = hosts_with("vc")
    assert len(bridge) == 120
    for host in bridge:
        rows = sorted(verdicts[("vc", host)], key=lambda row: row["time"])
        states = [row["state"] for row in rows]
        if host not in dark:
            assert set(states) == {0}, (host, states)
            continue
        # The service's down_after is 2: the first failed poll is degraded, then down.
        assert len(states) >= 2 and states[0] == 1 and set(states[1:]) == {2}, (host, states)
        assert all("H.323 port" in row["reason"] for row in rows), rows[0]["reason"]
    assert dark & bridge, "the dark district has bridge points"


def _first_and_last(rows: list[dict[str, Any]], host: str) -> tuple[int, int]:
    """The first and last second a site's own SNMP verdict covers (epoch seconds, floored as
    InfluxDB's epoch=s does)."""
    times = [
        row["time"] // 1_000_000_000
        for row in rows
        if row["target"] == host and row["check"] == "snmp" and not row.get("service")
    ]
    return min(times), max(times)


def _sla_report_shows_the_district_outage(
    env: dict[str, str],
    inventory: Inventory,
    dark_router: str,
    availability: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    """`netmon sla report` on the run: the dark district's router is charged exactly from its
    first failed poll until its last verdict runs out (two intervals later: then the agent
    had stopped, and no data is unknown, not down); the points behind it are charged only
    for the time the router had no verdict; the PDF, HTML and CSV say so."""
    from agent.sla.render.i18n import Words
    from tests.sla_render_checks import (
        chromium_render,
        pdf_page_png,
        pdf_text,
        png_is_not_blank,
    )

    for tool in ("pdftotext", "pdftoppm", "chromium"):
        require_binary(tool)
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    # A period that has not ended stops at "now": wait until the router's last verdict has
    # run out (two intervals after it), so the outage is whole in the report.
    max_age = round(2 * inventory.described[dark_router].settings.netmon_interval)
    first, last = _first_and_last(availability, dark_router)
    time.sleep(max(0.0, min(float(max_age), last + max_age + 2 - time.time())))
    first_day = datetime.fromtimestamp(min(r["time"] for r in availability) // 10**9, tz).date()
    period = f"{first_day}..{datetime.now(tz).date()}"
    csv_path = tmp_path / "sla.csv"
    done = _netmon(env, "sla", "report", "--period", period, "--format", "csv", "--write-back",
                   "--language", "en", "-o", str(csv_path), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = {
        row["Id"]: row
        for row in csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig")))
    }

    outage_s = last + max_age - first
    router = table[dark_router]
    assert int(router["Downtime (s)"]) == outage_s, (router, first, last)
    assert float(router["Availability (%)"]) == 0.0
    assert int(router["Upstream (s)"]) == 0

    behind = faultplan.behind(dark_router, inventory.described) - {dark_router}
    points = behind & set(inventory.groups["connection_points"])
    assert points
    attributed = 0
    for point in points:
        p_first, p_last = _first_and_last(availability, point)
        uncovered = max(0, first - p_first) + max(0, p_last - last)
        assert int(table[point]["Downtime (s)"]) <= uncovered, (point, table[point])
        attributed += int(table[point]["Upstream (s)"])
    assert attributed > 0

    department = inventory.described[dark_router].settings.netmon_department
    pdf = tmp_path / "district.pdf"
    html = tmp_path / "district.html"
    for path in (pdf, html):
        done = _netmon(env, "sla", "report", "--period", period, "--department", department,
                       "-o", str(path), timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
    words = Words("vi", "Asia/Ho_Chi_Minh")
    text = pdf_text(pdf)
    for heading in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "BÁO CÁO"):
        assert heading in text
    assert words.clock(outage_s) in text
    assert words.pct(0.0) in text
    assert png_is_not_blank(pdf_page_png(pdf))
    dom, shot = chromium_render(html, tmp_path)
    assert words.clock(outage_s) in dom
    assert department in dom
    assert png_is_not_blank(shot)
