"""``netmon lab``: the simulated province on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from agent.cli import CliState, setup_logging
from agent.collector import CollectorRegistry
from agent.inventory.model import Inventory
from agent.inventory.problems import InventoryError
from agent.lab import faultplan, mapping
from agent.lab.faultplan import FaultPlanError
from agent.lab.process import LabProcessError, log_tail, open_private
from agent.lab.procfs import alive
from agent.lab.progress import Progress, Ticker, where_the_data_is
from agent.lab.province import LabPlan, LabPlanError, plan_lab
from agent.lab.session import (
    lab_session,
    owner_alive,
    read_status,
    status_path,
    stop_lab,
)
from agent.settings import Settings, SettingsError

LAB_SETTINGS = Path(__file__).with_name("netmon-lab.toml")
PROVINCE = Path("inventory/binhduong")
#: How long `lab up` waits for the background lab to report "up".
UP_TIMEOUT_S = 300.0
log = logging.getLogger("netmon.lab")


def _state(config: Path | None = None) -> CliState:
    """netmon's CliState, with the lab's settings file as the default: `lab ... -c FILE`,
    else `netmon -c FILE` / NETMON_CONFIG, else netmon-lab.toml."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, CliState):  # the lab group used on its own, outside `netmon`
        root.obj = CliState(None)
    state: CliState = root.obj
    state.config = config or state.config or LAB_SETTINGS
    return state


def _setup(config: Path | None, inventory_path: Path | None) -> tuple[Settings, Inventory]:
    """Settings and inventory as `netmon` reads them (see _state for the settings file)."""
    state = _state(config)
    setup_logging(state.settings.log_level)
    return state.settings, state.inventory(inventory_path)


def _plan(settings: Settings, inventory: Inventory, faults_file: Path | None) -> LabPlan:
    specs = (
        faultplan.load_file(faults_file)
        if faults_file is not None
        else faultplan.from_inventory(inventory.described)
    )
    faults = faultplan.resolve(specs, inventory.described)
    return plan_lab(inventory, settings, settings.state_dir.resolve(), faults)


def _fail(exc: Exception) -> None:
    if isinstance(exc, (SettingsError, LabPlanError, FaultPlanError)):
        click.echo(f"netmon: {exc}", err=True)
        sys.exit(3)
    click.echo(f"netmon: the lab could not start: {exc}", err=True)
    sys.exit(4)


_LAB_ERRORS = (SettingsError, LabPlanError, FaultPlanError, LabProcessError, OSError, RuntimeError)


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM while the lab starts: unwind like Ctrl-C, so every started peer is stopped."""
    raise KeyboardInterrupt(f"signal {signum}")


@click.group()
def lab() -> None:
    """The simulated province: real peers (snmpsim, snmpd, influxd, HTTPS, SIP) on loopback.

    Uses the lab settings (agent/lab/netmon-lab.toml: inventory/lab, InfluxDB on
    127.0.0.1:18086, state under .state/lab) unless --config is given.
    """


_config = click.option(
    "-c",
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Lab settings (TOML); default: agent/lab/netmon-lab.toml.",
)
_inventory = click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    help="Lab inventory; default: the settings' [inventory] path.",
)
_faults = click.option(
    "--faults",
    "faults_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fault plan (YAML list) instead of the inventory's netmon_lab_faults.",
)


def _announce(plan: LabPlan) -> None:
    for line in plan.describe():
        click.echo(f"lab: {line}")
    for fault in plan.faults:
        click.echo(f"lab: fault plan: {fault.describe()}")


@lab.command("run")
@_config
@_inventory
@_faults
@click.option(
    "--duration", type=float, help="Stop after this many seconds (default: until Ctrl-C / SIGTERM)."
)
def lab_run(
    config: Path | None,
    inventory_path: Path | None,
    faults_file: Path | None,
    duration: float | None,
) -> None:
    """Start the lab and run the agent against it, with progress; Ctrl-C stops both."""
    from agent.runner import Agent, run_until_stopped

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        settings, inventory = _setup(config, inventory_path)
        plan = _plan(settings, inventory, faults_file)
        if plan.ca_file is not None:
            # The HTTPS probes verify the lab's services against the CA that issued them
            # (under this run's state directory, wherever that is).
            probes = settings.probes.model_copy(update={"ca_file": plan.ca_file})
            settings = settings.model_copy(update={"probes": probes})
        agent = Agent.build(settings, inventory, CollectorRegistry.from_entry_points())
        if not agent.scheduler.targets:
            raise LabPlanError("the lab inventory has no targets to poll")
        click.echo(f"lab: starting {len(plan.describe())} processes (about 15 s on 2 cores)")
        with lab_session(plan, settings.state_dir.resolve(), settings.influxdb.database) as session:
            _announce(plan)
            interval = min(t.interval_s for t in agent.scheduler.targets)
            points = inventory.groups.get("connection_points", ())
            progress = Progress(agent.scheduler.observer, points)
            agent.scheduler.observer = progress
            hosts = len({t.host for t in agent.scheduler.targets})
            click.echo(
                f"lab: the agent polls {len(agent.scheduler.targets)} targets every {interval:g}s; "
                f"a progress line follows every {interval:g}s"
            )
            started_ns = time.time_ns()

            def report(elapsed: float) -> None:
                written = agent.writer.stats.lines_written
                click.echo(f"[{elapsed:5.0f}s] {progress.line(hosts, written)}")

            agent_cpu, peers_cpu = time.process_time(), session.cpu_by_kind()
            with Ticker(interval, report):
                asyncio.run(run_until_stopped(agent, duration))
            used = {k: v - peers_cpu.get(k, 0.0) for k, v in session.cpu_by_kind().items()}
            _cost(used, time.process_time() - agent_cpu, started_ns)
            if plan.influx is not None:
                _summary(plan, settings, started_ns, set(points))
            stats = agent.writer.stats
            click.echo(
                f"lab: {stats.lines_written} samples written, "
                f"{stats.lines_quarantined} quarantined, "
                f"{agent.buffer.lines_buffered} waiting in the spool"
            )
            metrics = settings.metrics.listen if settings.metrics.enabled else None
            click.echo(
                where_the_data_is(settings.influxdb.url, settings.influxdb.database, metrics)
            )
    except _LAB_ERRORS as exc:
        _fail(exc)


def _cost(peers: dict[str, float], agent_s: float, started_ns: int) -> None:
    """What the lab cost this machine: CPU-seconds per peer kind and the agent's, as cores."""
    wall = max(1e-9, (time.time_ns() - started_ns) / 1e9)
    parts = [f"{kind} {used:.0f}" for kind, used in sorted(peers.items())]
    parts.append(f"agent {agent_s:.0f}")
    total = sum(peers.values()) + agent_s
    click.echo(
        f"lab: CPU-seconds used in {wall:.0f}s of polling: "
        f"{', '.join(parts)}; about {total / wall:.2f} cores"
    )


def _summary(plan: LabPlan, settings: Settings, since_ns: int, points: set[str]) -> None:
    """What this run stored, read back from InfluxDB: the proof that data arrived."""
    assert plan.influx is not None
    # since_ns is an int: nothing user-given reaches this query.
    rows = plan.influx.rows(
        f'SELECT count("result_code") FROM "snmp" WHERE time >= {since_ns} '
        'GROUP BY "source", "level", "result"',
        settings.influxdb.database,
    )
    by_level: dict[str, dict[str, set[str]]] = {}
    for row in rows:
        level = by_level.setdefault(row["level"], {"success": set(), "failed": set()})
        level["success" if row["result"] == "success" else "failed"].add(row["source"])
    click.echo(f"{'level':<10} {'devices with data':>18} {'answered':>9} {'had failures':>13}")
    for name, level in sorted(by_level.items()):
        seen = level["success"] | level["failed"]
        click.echo(
            f"{name:<10} {len(seen):>18} {len(level['success']):>9} {len(level['failed']):>13}"
        )
    stored = {row["source"] for row in rows if row["result"] == "success"}
    click.echo(f"connection points with data: {len(points & stored)}/{len(points)}")
    verdicts = plan.influx.rows(
        f'SELECT last("state") FROM "availability" WHERE time >= {since_ns} '
        'GROUP BY "check", "target"',
        settings.influxdb.database,
    )
    states: dict[str, list[int]] = {}
    for row in verdicts:
        states.setdefault(row["check"], []).append(int(row["last"]))
    click.echo(f"{'check':<10} {'targets':>8} {'ok':>6} {'degraded':>9} {'down':>6}  (last state)")
    for check, found in sorted(states.items()):
        counts = [sum(1 for state in found if state == n) for n in (0, 1, 2)]
        click.echo(f"{check:<10} {len(found):>8} {counts[0]:>6} {counts[1]:>9} {counts[2]:>6}")


@lab.command("up")
@_config
@_inventory
@_faults
@click.option("--foreground", is_flag=True, help="Stay in the foreground (Ctrl-C stops the lab).")
def lab_up(
    config: Path | None, inventory_path: Path | None, faults_file: Path | None, foreground: bool
) -> None:
    """Start the lab's peers in the background and return once they serve."""
    try:
        settings, inventory = _setup(config, inventory_path)
        plan = _plan(settings, inventory, faults_file)
        state_dir = settings.state_dir.resolve()
        if foreground:
            _serve(plan, settings)
            return
        _start_background(state_dir, config, inventory_path, faults_file)
        status = read_status(status_path(state_dir)) or {}
        _print_status(status)
        click.echo("lab: up; `netmon lab down` stops it")
    except _LAB_ERRORS as exc:
        _fail(exc)


def _serve(plan: LabPlan, settings: Settings) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, _interrupt)
    with (
        contextlib.suppress(KeyboardInterrupt),
        lab_session(plan, settings.state_dir.resolve(), settings.influxdb.database),
    ):
        _announce(plan)
        click.echo("lab: up")
        # Up: a signal now ends the wait; the session then stops the peers in order.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()


def _start_background(
    state_dir: Path, config: Path | None, inventory_path: Path | None, faults_file: Path | None
) -> None:
    settings_file = Path(_state(config).config or LAB_SETTINGS)
    command = [sys.executable, "-m", "agent", "-c", str(settings_file.resolve())]
    command += ["lab", "up", "--foreground"]
    if inventory_path is not None:
        command += ["-i", str(inventory_path.resolve())]
    if faults_file is not None:
        command += ["--faults", str(faults_file.resolve())]
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "lab.log"
    with open_private(log_path, append=True) as out:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        status = read_status(status_path(state_dir))
        if status is not None and status.get("pid") == child.pid and status.get("state") == "up":
            return
        if child.poll() is not None:
            raise LabProcessError(
                f"the lab exited with status {child.returncode}; {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.2)
    child.terminate()  # it stops what it started; stop_lab then catches any leftover
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(60)
    stop_lab(state_dir)
    raise LabProcessError(f"the lab did not come up within {UP_TIMEOUT_S:g}s; see {log_path}")


def _print_status(status: dict[str, Any]) -> None:
    started = status.get("started_at")
    age = f", up {time.time() - started:.0f}s" if isinstance(started, (int, float)) else ""
    click.echo(f"lab: {status.get('state', '?')} (pid {status.get('pid')}{age})")
    if status.get("influxdb"):
        click.echo(f"  influxdb  {status['influxdb']}")
    for peer in status.get("peers", []):
        pid = peer.get("pid")
        state = "running" if isinstance(pid, int) and alive(pid) else "GONE"
        if pid is None:
            state = "starting"
        click.echo(f"  {peer.get('kind', '?'):<8} {state:<8} {peer.get('what', '')}")
    for fault in status.get("faults", []):
        state = "ACTIVE" if fault.get("active") else "idle"
        click.echo(f"  fault    {state:<8} {fault.get('plan', fault.get('name'))}")


def _state_dir(config: Path | None) -> Path:
    """The lab's state dir from the settings alone: status and down need no inventory."""
    state = _state(config)
    try:
        return state.settings.state_dir.resolve()
    except SettingsError as exc:
        click.echo(f"netmon: {exc}", err=True)
        sys.exit(3)


@lab.command("status")
@_config
def lab_status(config: Path | None) -> None:
    """Whether the lab runs: its peers, and which faults of the plan are active. Exit 1 if down."""
    state_dir = _state_dir(config)
    status = read_status(status_path(state_dir))
    if status is None or not owner_alive(status):
        click.echo(f"lab: not running (no live lab in {state_dir})")
        sys.exit(1)
    _print_status(status)
    if status.get("state") != "up":
        return  # starting or stopping: peers without a pid yet are not "gone"
    gone = [p for p in status.get("peers", []) if not alive(int(p.get("pid") or 0))]
    if gone:
        sys.exit(1)


@lab.command("down")
@_config
def lab_down(config: Path | None) -> None:
    """Stop the lab started by `netmon lab up`; no lab process is left behind."""
    state_dir = _state_dir(config)
    if read_status(status_path(state_dir)) is None:
        click.echo("lab: not running")
        return
    forced = stop_lab(state_dir)
    for what in forced:
        click.echo(f"lab: killed {what}, which outlived the lab", err=True)
    click.echo("lab: down")


@lab.command("map")
@click.option(
    "--province",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=PROVINCE,
    show_default=True,
)
@click.option(
    "--lab",
    "lab_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("inventory/lab"),
    show_default=True,
)
@click.option("--check", is_flag=True, help="Only report whether the lab is up to date (exit 1).")
def lab_map(province: Path, lab_dir: Path, check: bool) -> None:
    """Derive the lab inventory from the province's: links plus loopback addresses."""
    try:
        _map(province, lab_dir, check=check)
    except (mapping.MappingError, InventoryError) as exc:
        click.echo(f"netmon: {exc}", err=True)
        sys.exit(3)


def _map(province: Path, lab_dir: Path, *, check: bool) -> None:
    if check:
        stale = mapping.stale(province, lab_dir)
        for line in stale:
            click.echo(f"stale: {line}")
        sys.exit(1 if stale else 0)
    for line in mapping.write_lab(province, lab_dir) or ["the lab inventory is up to date"]:
        click.echo(line)
