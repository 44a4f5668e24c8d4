"""``netmon lab``: the simulated province on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import time
from pathlib import Path

import click

from agent.cli import CliState, setup_logging
from agent.collector import CollectorRegistry
from agent.inventory.model import Inventory
from agent.lab.influxdb import InfluxServer
from agent.lab.process import LabProcessError
from agent.lab.province import LabPlanError, plan_lab, running
from agent.settings import Settings, SettingsError

LAB_SETTINGS = Path(__file__).with_name("netmon-lab.toml")
log = logging.getLogger("netmon.lab")


def _setup(config: Path | None, inventory_path: Path | None) -> tuple[Settings, Inventory]:
    """Settings and inventory as `netmon` reads them, with the lab's settings file as the
    default: `lab ... -c FILE`, else `netmon -c FILE` / NETMON_CONFIG, else netmon-lab.toml."""
    state = click.get_current_context().find_root().obj
    if not isinstance(state, CliState):  # the lab group used on its own, outside `netmon`
        state = CliState(None)
    state.config = config or state.config or LAB_SETTINGS
    setup_logging(state.settings.log_level)
    return state.settings, state.inventory(inventory_path)


@click.group()
def lab() -> None:
    """The simulated province: real peers (snmpsim, snmpd, influxd) on loopback.

    Uses the lab settings (agent/lab/netmon-lab.toml: inventory/lab, InfluxDB on
    127.0.0.1:18086, state under .state/lab) unless --config is given.
    """


_config = click.option(
    "-c",
    "--config",
    type=click.Path(exists=True, path_type=Path),
    help="Lab settings (TOML); default: agent/lab/netmon-lab.toml.",
)
_inventory = click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    help="Lab inventory; default: the settings' [inventory] path.",
)


@lab.command("run")
@_config
@_inventory
@click.option(
    "--duration", type=float, help="Stop after this many seconds (default: until Ctrl-C / SIGTERM)."
)
def lab_run(config: Path | None, inventory_path: Path | None, duration: float | None) -> None:
    """Start the lab and run the agent against it; Ctrl-C stops both."""
    from agent.runner import Agent, run_until_stopped

    settings, inventory = _setup(config, inventory_path)
    try:
        plan = plan_lab(inventory, settings, settings.state_dir.resolve())
        with running(plan, settings.influxdb.database):
            for line in plan.describe():
                log.info("lab: %s", line)
            agent = Agent.build(settings, inventory, CollectorRegistry.from_entry_points())
            if not agent.scheduler.targets:
                raise LabPlanError("the lab inventory has no targets to poll")
            log.info(
                "lab: agent polling %d targets every %gs; Grafana/InfluxQL: %s db=%s",
                len(agent.scheduler.targets),
                min(t.interval_s for t in agent.scheduler.targets),
                settings.influxdb.url,
                settings.influxdb.database,
            )
            started_ns = time.time_ns()
            asyncio.run(run_until_stopped(agent, duration))
            assert plan.influx is not None
            _summary(plan.influx, settings, started_ns)
            stats = agent.writer.stats
            click.echo(f"lab: {stats.lines_written} samples written, {stats.lines_failed} failed")
    except (SettingsError, ValueError) as exc:
        click.echo(f"netmon: {exc}", err=True)
        sys.exit(3)
    except (LabProcessError, OSError) as exc:
        click.echo(f"netmon: the lab could not start: {exc}", err=True)
        sys.exit(4)


def _summary(influx: InfluxServer, settings: Settings, since_ns: int) -> None:
    """What this run stored, read back from InfluxDB: the proof that data arrived."""
    database = settings.influxdb.database
    # since_ns is an int: nothing user-given reaches these queries.
    polls = influx.rows(
        f'SELECT count("result_code") FROM "snmp" WHERE time >= {since_ns} '
        'GROUP BY "source", "result"',
        database,
    )
    rows = influx.rows(
        f'SELECT count("ifOperStatus") FROM "interface" WHERE time >= {since_ns} GROUP BY "source"',
        database,
    )
    interface_rows = {row["source"]: row["count"] for row in rows}
    click.echo(f"{'host':<18} {'result':<12} {'polls':>5} {'interface rows':>15}")
    for row in sorted(polls, key=lambda r: (r["source"], r["result"])):
        click.echo(
            f"{row['source']:<18} {row['result']:<12} {row['count']:>5} "
            f"{interface_rows.get(row['source'], 0):>15}"
        )


@lab.command("up")
@_config
@_inventory
def lab_up(config: Path | None, inventory_path: Path | None) -> None:
    """Start the lab's peers and wait (for `netmon poll` from another shell); Ctrl-C stops."""
    settings, inventory = _setup(config, inventory_path)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        plan = plan_lab(inventory, settings, settings.state_dir.resolve())
        with running(plan, settings.influxdb.database):
            for line in plan.describe():
                click.echo(f"lab: {line}")
            click.echo("lab: up; Ctrl-C stops it")
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    except (LabProcessError, LabPlanError, OSError) as exc:
        click.echo(f"netmon: the lab could not start: {exc}", err=True)
        sys.exit(4)
