"""``netmon backup``: back up device configurations now, and read their history.

``netmon backup [--limit PATTERN]`` backs up every host whose ``ssh`` check has ``backup``
on (the running agent does the same on its own schedule: ``netmon_ssh_backup_interval_s``),
prints one line per device, and writes the ``config_backup`` and ``config_change`` samples to
InfluxDB (the commits are kept whether or not InfluxDB answers).
``netmon backup diff HOST [--since WHEN]`` and ``netmon backup history HOST`` read the
repository (settings ``[ssh] backup_dir``; default ``<state_dir>/configs``), which is a plain
git repository: ``git -C <dir> log -p devices/HOST.cfg`` shows the same.

Exit codes: 0 every device backed up · 1 a device failed, or the samples were not written ·
2 wrong usage (unknown host, bad --since) · 3 invalid settings or inventory, nothing to do.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from agent.backup.job import BackupOutcome, backup_samples, run_backup
from agent.backup.repo import ConfigRepo, RepoError
from agent.cli import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    CliState,
    fail,
    inventory_option,
    pass_state,
    setup_logging,
)
from agent.inventory.model import Host, Inventory
from agent.pipeline import add_inventory_tags
from agent.results import Result
from agent.samples import Sample
from agent.settings import Settings
from collectors.ssh.config import SshConfig
from collectors.ssh.session import Device, SshError, SshSessions


def select_hosts(inventory: Inventory, limit: str | None) -> list[Host]:
    """Hosts with SSH backup on, narrowed by an Ansible-like pattern.

    `limit` is a comma- or colon-separated list of host or group names (globs allowed);
    ``!name`` excludes.
    """
    hosts = [
        host
        for host in inventory.hosts.values()
        if isinstance(host.checks.get("ssh"), SshConfig) and host.checks["ssh"].backup
    ]
    if not limit:
        return sorted(hosts, key=lambda h: h.name)
    include = [p for p in re.split(r"[,:]", limit) if p and not p.startswith("!")]
    exclude = [p[1:] for p in re.split(r"[,:]", limit) if p.startswith("!")]

    def matches(host: Host, patterns: Sequence[str]) -> bool:
        names = (host.name, *host.groups)
        return any(fnmatch.fnmatchcase(name, p) for p in patterns for name in names)

    chosen = [h for h in hosts if (not include or matches(h, include)) and not matches(h, exclude)]
    return sorted(chosen, key=lambda h: h.name)


def _device(host: Host) -> Device:
    config = host.checks["ssh"]
    assert isinstance(config, SshConfig)
    return Device(host.name, host.address, config)


async def _backup_all(
    settings: Settings, hosts: list[Host], workers: int
) -> list[tuple[Host, BackupOutcome]]:
    sessions = SshSessions(
        workers=workers,
        known_hosts=settings.known_hosts_file,
        host_keys=settings.ssh.host_keys,
        max_sessions=0,  # each device once: log out when its backup is done
    )
    repo = ConfigRepo(settings.backup_dir)

    async def one(host: Host) -> tuple[Host, BackupOutcome]:
        device = _device(host)
        started = time.monotonic()
        try:
            outcome, _ = await sessions.run(
                device,
                lambda connection: run_backup(connection, device, repo, settings.agent_name),
                host.timeout_s * 2,  # a backup alone; no poll interval to keep to here
            )
        except SshError as exc:
            outcome = BackupOutcome(exc.result, time.monotonic() - started, error=str(exc))
        return host, outcome

    try:
        return list(await asyncio.gather(*(one(host) for host in hosts)))
    finally:
        await sessions.close()


def _line(host: Host, outcome: BackupOutcome) -> str:
    if outcome.result is not Result.SUCCESS:
        return f"{host.name:<24} FAILED     {outcome.result.tag}: {outcome.error}"
    if outcome.commit is None:
        return f"{host.name:<24} unchanged  {outcome.lines} lines"
    commit = outcome.commit
    return (
        f"{host.name:<24} changed    +{commit.lines_added} -{commit.lines_removed}  "
        f"commit {commit.sha[:10]}  ({outcome.lines} lines)"
    )


def _write_samples(state: CliState, samples: list[Sample]) -> bool:
    from agent.sla.influx import InfluxClient, InfluxQueryError

    try:
        with InfluxClient(state.settings.influxdb) as client:
            client.write_samples(samples)
    except InfluxQueryError as exc:
        click.echo(
            f"netmon: the backups are committed, but their samples were not written: {exc}",
            err=True,
        )
        return False
    return True


@click.group(invoke_without_command=True)
@inventory_option
@click.option(
    "-l", "--limit", help="Only these hosts or groups: names or globs, ',' separated; !x excludes."
)
@click.option(
    "--workers", type=click.IntRange(1, 256), help="SSH sessions at once (default: [ssh] workers)."
)
@click.option("--no-write", is_flag=True, help="Do not write the samples to InfluxDB.")
@click.pass_context
def backup(
    ctx: click.Context,
    inventory_path: Path | None,
    limit: str | None,
    workers: int | None,
    no_write: bool,
) -> None:
    """Back up the running configuration of devices now (see also: diff, history)."""
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(CliState)
    assert state is not None
    settings = state.settings
    setup_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    inventory = state.inventory(inventory_path)
    hosts = select_hosts(inventory, limit)
    if not hosts:
        what = f" matching {limit!r}" if limit else ""
        fail(f"no host with ssh backup{what} in {inventory.source}", EXIT_INVALID)
    results = asyncio.run(_backup_all(settings, hosts, workers or settings.ssh.workers))
    samples: list[Sample] = []
    for host, outcome in results:
        click.echo(_line(host, outcome))
        device_samples = backup_samples(_device(host), outcome, time.time_ns())
        add_inventory_tags(device_samples, host.tags, settings.agent_name)
        samples += device_samples
    failed = sum(outcome.result is not Result.SUCCESS for _, outcome in results)
    changed = sum(outcome.commit is not None for _, outcome in results)
    click.echo(
        f"{len(results)} devices: {changed} changed, {len(results) - changed - failed} "
        f"unchanged, {failed} failed; repository {settings.backup_dir}",
        err=True,
    )
    written = no_write or _write_samples(state, samples)
    sys.exit(EXIT_FAILED if failed or not written else EXIT_OK)


_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2d``, ``12h``, ``30m``, ``1w`` ago, or an ISO date/time (local time if no zone)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give a time ago (30m, 12h, 2d, 1w) or an ISO date (2026-11-01)"
        ) from None
    return when if when.tzinfo else when.astimezone()


def _repo(state: CliState) -> ConfigRepo:
    directory = state.settings.backup_dir
    if not (directory / ".git").is_dir():
        fail(f"no backup repository at {directory} (run `netmon backup` first)", EXIT_USAGE)
    return ConfigRepo(directory)


@backup.command("diff")
@click.argument("host")
@click.option(
    "--since",
    help="Changes since then (30m, 12h, 2d, 1w, or an ISO date); default: the last change.",
)
@pass_state
def diff(state: CliState, host: str, since: str | None) -> None:
    """Show what changed in HOST's configuration (a unified diff)."""
    when = parse_since(since) if since else None
    try:
        text = _repo(state).diff(host, when)
    except (RepoError, KeyError) as exc:
        fail(str(exc).strip("'\""), EXIT_USAGE)
    if not text:
        scope = f"since {when.isoformat(timespec='minutes')}" if when else "(one backup only)"
        click.echo(f"{host}: no change {scope}", err=True)
        return
    click.echo(text, nl=not text.endswith("\n"))


@backup.command("history")
@click.argument("host")
@click.option("--since", help="Only changes since then (30m, 12h, 2d, 1w, or an ISO date).")
@pass_state
def history(state: CliState, host: str, since: str | None) -> None:
    """List HOST's configuration changes, newest first."""
    when = parse_since(since) if since else None
    try:
        entries = _repo(state).history(host, when)
    except (RepoError, KeyError) as exc:
        fail(str(exc).strip("'\""), EXIT_USAGE)
    for entry in entries:
        click.echo(
            f"{entry.when.astimezone().isoformat(timespec='seconds')}  {entry.sha[:10]}  "
            f"+{entry.lines_added} -{entry.lines_removed}"
        )
