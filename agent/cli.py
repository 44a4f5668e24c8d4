"""``netmon``: the agent's command line.

Exit codes: 0 success · 1 a poll or delivery failed · 2 wrong usage · 3 invalid settings or
inventory (nothing was started) · 4 a lab process could not be started.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from agent import __version__
from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.inventory.model import Host, Inventory
from agent.inventory.problems import InventoryError
from agent.output.lineprotocol import serialize
from agent.output.spool import SpoolError
from agent.pipeline import add_inventory_tags
from agent.results import Result
from agent.samples import Sample
from agent.schema import SchemaRegistry
from agent.settings import Settings, SettingsError, env_names, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INVALID, EXIT_LAB = 0, 1, 2, 3, 4

log = logging.getLogger("netmon")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # pysnmp and asyncio are chatty at INFO; their warnings still show.
    for noisy in ("pysnmp", "asyncio", "httpx", "ansible_runner"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # paramiko logs an ERROR for every peer that resets the connection as it logs out (many
    # network CLIs do); the SSH collector reports each real failure itself, as a sample.
    logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)


def fail(message: str, code: int) -> None:
    """Print `message` as netmon's one-line error and exit with `code` (the sub-commands too)."""
    click.echo(f"netmon: {message}", err=True)
    sys.exit(code)


_fail = fail


class CliState:
    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config)
            except SettingsError as exc:
                _fail(str(exc), EXIT_INVALID)
        assert self._settings is not None
        return self._settings

    def inventory(self, path: Path | None) -> Inventory:
        settings = self.settings
        try:
            return load_inventory(
                path or settings.inventory.path,
                CollectorRegistry.from_entry_points(),
                vault_password_file=settings.inventory.vault_password_file,
            )
        except InventoryError as exc:
            count = len(exc.problems)
            _fail(
                f"inventory is invalid ({count} problem{'s' * (count != 1)}):\n{exc}", EXIT_INVALID
            )
            raise AssertionError("unreachable") from exc


pass_state = click.make_pass_decorator(CliState)
inventory_option = click.option(
    "-i",
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path),
    help="Ansible inventory (directory or file); default: settings [inventory] path.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="NETMON_CONFIG",
    help="Settings file (TOML). Env: NETMON_CONFIG.",
)
@click.version_option(__version__, prog_name="netmon")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """tslcd-netmon: monitoring agent of the province's dedicated data network.

    Polls the devices of an Ansible inventory and writes to InfluxDB. Settings come from a
    TOML file (--config) and NETMON_* environment variables (see `netmon config env`).
    """
    ctx.obj = CliState(config)


@cli.command()
@inventory_option
@click.option(
    "--duration",
    type=float,
    help="Stop after this many seconds (default: run until SIGINT/SIGTERM).",
)
@pass_state
def run(state: CliState, inventory_path: Path | None, duration: float | None) -> None:
    """Run the agent: poll every target of the inventory and write to InfluxDB."""
    from agent.runner import Agent, run_until_stopped

    settings = state.settings
    setup_logging(settings.log_level)
    inventory = state.inventory(inventory_path)
    try:
        agent = Agent.build(settings, inventory, CollectorRegistry.from_entry_points())
    except (SettingsError, ValueError, SpoolError) as exc:
        _fail(str(exc), EXIT_INVALID)
    targets = agent.scheduler.targets
    log.info(
        "agent %s: %d hosts, %d targets → %s (%s)",
        settings.agent_name,
        len(inventory.hosts),
        len(targets),
        settings.influxdb.url,
        settings.influxdb.transport,
    )
    try:
        asyncio.run(run_until_stopped(agent, duration))
    except OSError as exc:  # e.g. the /metrics port is taken
        _fail(str(exc), EXIT_FAILED)
    stats = agent.writer.stats
    waiting = agent.buffer.lines_buffered
    durable = settings.spool.enabled
    log.info(
        "stopped: %d samples written, %d quarantined, %d evicted from the spool, %d %s",
        stats.lines_written,
        stats.lines_quarantined,
        agent.buffer.lines_evicted,
        waiting,
        "wait in the spool for the next start" if durable else "lost with the memory buffer",
    )
    if stats.lines_quarantined or (waiting and not durable):
        sys.exit(EXIT_FAILED)


def _find_host(inventory: Inventory, name: str) -> Host:
    if name in inventory.hosts:
        return inventory.hosts[name]
    for host in inventory.hosts.values():
        if host.address == name:
            return host
    hint = (
        " (it is in the inventory but has no netmon_checks)"
        if name in inventory.unmonitored
        else ""
    )
    _fail(f"host {name!r} is not a monitored host of {inventory.source}{hint}", EXIT_USAGE)
    raise AssertionError("unreachable")


def _table(samples: list[Sample]) -> str:
    out = []
    for sample in samples:
        tags = " ".join(f"{k}={v}" for k, v in sorted(sample.tags.items()))
        out.append(f"{sample.measurement}  {tags}")
        width = max((len(k) for k in sample.fields), default=0)
        out.extend(f"    {k:<{width}}  {v!r}" for k, v in sample.fields.items())
    return "\n".join(out)


@cli.command()
@click.argument("host")
@inventory_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "line"]),
    default="table",
    show_default=True,
    help="A readable table, or InfluxDB line protocol.",
)
@pass_state
def poll(state: CliState, host: str, inventory_path: Path | None, output_format: str) -> None:
    """Poll HOST once with each of its checks and print the samples; writes nothing."""
    from agent.runner import make_collectors
    from agent.scheduler import Scheduler
    from agent.schema import base_schema

    settings = state.settings
    setup_logging(settings.log_level)
    inventory = state.inventory(inventory_path)
    found = _find_host(inventory, host)
    schema = base_schema()
    one_host = Inventory(inventory.source, {found.name: found})
    collectors = make_collectors(
        settings, CollectorRegistry.from_entry_points(), one_host, schema, read_only=True
    )
    collected: list[Sample] = []

    def keep(target: Any, samples: list[Sample]) -> None:
        collected.extend(samples)

    class _Quiet:
        def polled(self, *_: Any) -> None: ...

        def skipped(self, *_: Any) -> None: ...

    scheduler = Scheduler(one_host.targets(), collectors, keep, _Quiet())

    async def poll_all() -> None:
        for target in one_host.targets():
            await scheduler.run_once(target)
        for collector in collectors.values():
            await collector.close()

    asyncio.run(poll_all())
    add_inventory_tags(collected, found.tags, settings.agent_name)
    _print_samples(_declared(schema, collected), output_format, settings)
    if any(s.fields.get("result_code", 0) != Result.SUCCESS for s in collected):
        sys.exit(EXIT_FAILED)


def _declared(schema: SchemaRegistry, samples: list[Sample]) -> list[Sample]:
    kept, rejected = schema.conforming(samples)
    for problem in rejected:  # the agent would drop these too: say why, on stderr
        click.echo(f"# dropped, as the agent would: {problem}", err=True)
    return kept


def _print_samples(samples: list[Sample], output_format: str, settings: Settings) -> None:
    if output_format == "table":
        click.echo(_table(samples))
        return
    for sample in samples:
        line = serialize(sample, uint_mode=settings.influxdb.uint_mode)
        if line is not None:
            click.echo(line)


@cli.command()
@click.argument("host")
@inventory_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@pass_state
def discover(state: CliState, host: str, inventory_path: Path | None, output_format: str) -> None:
    """Show which SNMP profile HOST gets (by its sysObjectID) and what it will collect.

    Polls HOST once, as the agent would, and writes nothing. Exit status 1 when the device
    does not answer.
    """
    from collectors.snmp import discover as discovery

    settings = state.settings
    setup_logging(settings.log_level)
    found = _find_host(state.inventory(inventory_path), host)
    target = discovery.snmp_target(found.targets())
    if target is None:
        _fail(f"host {found.name!r} has no snmp check (netmon_checks)", EXIT_USAGE)
        raise AssertionError("unreachable")
    result = discovery.run(target, settings.snmp.receive_buffer_bytes)
    if output_format == "json":
        click.echo(discovery.as_json(result))
    else:
        click.echo("\n".join(discovery.render(result)))
    if not discovery.succeeded(result):
        sys.exit(EXIT_FAILED)


@cli.group()
def inventory() -> None:
    """Check the inventory, or show what the agent resolves for a host."""


@inventory.command("check")
@inventory_option
@pass_state
def inventory_check(state: CliState, inventory_path: Path | None) -> None:
    """Validate the inventory; report every problem with file, host and field."""
    found = state.inventory(inventory_path)
    targets = found.targets()
    checks = sorted({t.check for t in targets})
    click.echo(
        f"{found.source}: OK — {len(found.hosts)} monitored hosts, {len(targets)} targets "
        f"({', '.join(checks) or 'none'}); {len(found.unmonitored)} hosts without "
        "netmon_checks"
    )


@inventory.command("show")
@click.argument("host")
@inventory_option
@pass_state
def inventory_show(state: CliState, host: str, inventory_path: Path | None) -> None:
    """Print HOST's resolved monitoring settings (secrets masked) as JSON."""
    found = _find_host(state.inventory(inventory_path), host)
    data = {
        "host": found.name,
        "address": found.address,
        "groups": list(found.groups),
        "tags": found.tags,
        "interval_s": found.settings.netmon_interval,
        "timeout_s": found.timeout_s,
        "jitter_s": found.settings.netmon_jitter,
        "checks": {name: config.model_dump(mode="json") for name, config in found.checks.items()},
    }
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@cli.group()
def config() -> None:
    """Show the resolved settings, or the environment variables that override them."""


@config.command("show")
@pass_state
def config_show(state: CliState) -> None:
    """Print the resolved settings as JSON (secrets masked)."""
    click.echo(state.settings.model_dump_json(indent=2))


@config.command("env")
def config_env() -> None:
    """List every NETMON_* variable and the setting it overrides."""
    for env, path in env_names().items():
        click.echo(f"{env:<40} {'.'.join(path)}")


def main() -> None:
    from agent.backup.cli import backup
    from agent.dashboards.cli import dashboards
    from agent.lab.cli import lab
    from agent.provision.cli import provision
    from agent.readiness import vc
    from agent.sla.cli import sla
    from agent.status import status

    cli.add_command(backup)
    cli.add_command(dashboards)
    cli.add_command(lab)
    cli.add_command(provision)
    cli.add_command(sla)
    cli.add_command(vc)
    cli.add_command(status)
    cli()
