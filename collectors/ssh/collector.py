"""The SSH collector (``ssh``): device CLIs over netmiko, parsed with TextFSM, and backups.

Per poll of a device, on its reused session (collectors.ssh.session):

1. every command of the platform's datasets (collectors.ssh.commands) is sent and parsed
   (collectors.ssh.parse) into ``optics``, ``bgp_peer``, ``ospf_neighbor`` and
   ``interface_errors`` rows; a command that fails or does not parse is counted in
   ``commands_failed`` and logged, and the other commands still run;
2. when the device's backup is due (``backup_interval_s`` since the last good one; the first
   poll after a start), its configuration is backed up (agent.backup.job): a
   ``config_backup`` sample, and ``config_change`` when the configuration changed;
3. one ``ssh`` sample is the poll's result: success when the session worked, whatever the
   datasets held.

The poll's deadline is the target's timeout less a margin, so the collector reports a stuck
device itself (``timeout``, the session cut off) before the scheduler has to abandon the poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import ClassVar

from netmiko import BaseConnection

from agent.backup.job import BackupOutcome, backup_samples, run_backup
from agent.backup.repo import ConfigRepo
from agent.collector import CollectorContext, Target
from agent.failurelog import FailureLog
from agent.results import Result
from agent.samples import FieldValue, Sample
from agent.selfmetrics import StatsReading
from collectors.ssh.commands import CliCommand, commands_for
from collectors.ssh.config import SshConfig
from collectors.ssh.parse import ParseError, parse
from collectors.ssh.platforms import DATASETS
from collectors.ssh.schema import BACKUP_MEASUREMENTS, SSH, SSH_MEASUREMENTS
from collectors.ssh.session import Device, SshError, SshSessions, classify

log = logging.getLogger(__name__)

#: Seconds kept back from the target's timeout so the collector, not the scheduler, ends a
#: stuck poll (and can say so).
_MARGIN_S = 1.0
#: How often idle sessions are looked for (on the next poll after this many seconds).
_SWEEP_EVERY_S = 30.0


@dataclass
class SshStats:
    """Plain counters the agent exposes on /metrics."""

    polls: int = 0
    commands_failed: int = 0
    backups: int = 0
    backups_failed: int = 0
    config_changes: int = 0


@dataclass
class _PollResult:
    samples: list[Sample] = field(default_factory=list)
    commands: int = 0
    failed: int = 0
    backup: BackupOutcome | None = None


def device_of(target: Target) -> Device:
    config: SshConfig = target.config
    return Device(target.host, target.address, config)


def poll_commands(config: SshConfig) -> tuple[CliCommand, ...]:
    datasets = tuple(config.datasets) if config.datasets is not None else DATASETS
    return commands_for(config.platform, datasets)


class SshCollector:
    name: ClassVar[str] = "ssh"
    config_model: ClassVar[type[SshConfig]] = SshConfig

    def __init__(self, context: CollectorContext) -> None:
        for measurement in (*SSH_MEASUREMENTS, *BACKUP_MEASUREMENTS):
            context.schema.declare(measurement)
        ssh = context.ssh
        self.sessions = SshSessions(
            workers=ssh.workers,
            known_hosts=context.known_hosts_file,
            host_keys=ssh.host_keys,
            max_sessions=ssh.max_sessions,
            idle_close_s=ssh.idle_close_s,
        )
        self.repo = ConfigRepo(context.backup_dir)
        self._agent_name = context.agent_name
        self._read_only = context.read_only
        self._last_backup: dict[str, float] = {}
        self._last_sweep = time.monotonic()
        self._sweep: asyncio.Task[int] | None = None  # kept: a task nobody holds may vanish
        self._failures = FailureLog(log)
        self.stats = SshStats()

    @classmethod
    def validate(cls, config: SshConfig) -> list[tuple[str, str]]:
        problems = []
        if config.datasets is not None and not config.datasets and not config.backup:
            problems.append(("datasets", "no datasets and backup: false leaves nothing to do"))
        return problems

    def backup_due(self, target: Target) -> bool:
        config: SshConfig = target.config
        last = self._last_backup.get(target.host)
        if self._read_only or not config.backup:
            return False
        return last is None or time.monotonic() - last >= config.backup_interval_s

    async def collect(self, target: Target) -> list[Sample]:
        device = device_of(target)
        timestamp = time.time_ns()
        started = time.monotonic()
        due = self.backup_due(target)
        self.stats.polls += 1
        if started - self._last_sweep >= _SWEEP_EVERY_S:
            # In the background: with every worker busy, a sweep must not delay this poll.
            self._last_sweep = started
            self._sweep = asyncio.create_task(self.sessions.close_idle(), name="ssh-sweep")
        deadline = max(target.timeout_s - _MARGIN_S, target.timeout_s / 2)

        def job(connection: BaseConnection) -> _PollResult:
            return self._poll_blocking(connection, device, timestamp, due)

        try:
            polled, reused = await self.sessions.run(device, job, deadline)
        except SshError as exc:
            return self._failed(target, device, exc, time.monotonic() - started, due, timestamp)
        elapsed = time.monotonic() - started
        self._failures.recovered(target.host, "%s: SSH works again", target.host)
        fields: dict[str, FieldValue] = {
            "result_code": int(Result.SUCCESS),
            "response_time": round(elapsed, 6),
            "commands": polled.commands,
            "commands_failed": polled.failed,
            "session_reused": int(reused),
        }
        result = self._ssh_sample(device, Result.SUCCESS, fields, timestamp)
        samples = [result, *polled.samples]
        if polled.backup is not None:
            self._backed_up(device, polled.backup)
            samples += backup_samples(device, polled.backup, timestamp)
        return samples

    def _poll_blocking(
        self, connection: BaseConnection, device: Device, timestamp: int, due: bool
    ) -> _PollResult:
        polled = _PollResult()
        for command, interface in self._commands(device.config):
            polled.commands += 1
            output = connection.send_command(
                command.render(interface), read_timeout=device.config.command_timeout_s
            )
            text = output if isinstance(output, str) else str(output)
            try:
                polled.samples += parse(
                    device.platform, command, text, device.host, timestamp, interface=interface
                )
            except ParseError as exc:
                polled.failed += 1
                self.stats.commands_failed += 1
                log.warning("%s: %s", device.host, exc)
        if due:
            polled.backup = run_backup(connection, device, self.repo, self._agent_name)
        return polled

    @staticmethod
    def _commands(config: SshConfig) -> list[tuple[CliCommand, str | None]]:
        """Each command as sent: a per-interface one once per configured port."""
        sent: list[tuple[CliCommand, str | None]] = []
        for command in poll_commands(config):
            if command.per_interface:
                sent += [(command, name) for name in config.optical_interfaces]
            else:
                sent.append((command, None))
        return sent

    def _backed_up(self, device: Device, outcome: BackupOutcome) -> None:
        self.stats.backups += 1
        if outcome.result is Result.SUCCESS:
            self._last_backup[device.host] = time.monotonic()
        else:
            self.stats.backups_failed += 1
        if outcome.commit is not None:
            self.stats.config_changes += 1
            log.info(
                "%s: configuration changed (+%d -%d, commit %s)",
                device.host,
                outcome.commit.lines_added,
                outcome.commit.lines_removed,
                outcome.commit.sha[:10],
            )

    def _failed(
        self,
        target: Target,
        device: Device,
        error: SshError,
        elapsed_s: float,
        due: bool,
        timestamp: int,
    ) -> list[Sample]:
        self._failures.failed(
            target.host,
            "%s: SSH %s:%d: %s: %s",
            target.host,
            target.address,
            device.config.port,
            error.result.tag,
            error,
        )
        fields: dict[str, FieldValue] = {
            "result_code": int(error.result),
            "response_time": round(elapsed_s, 6),
            "error": str(error),
        }
        samples = [self._ssh_sample(device, error.result, fields, timestamp)]
        if due:
            # A backup that could not run is a failed backup: its dashboard shows it.
            outcome = BackupOutcome(error.result, elapsed_s, error=str(error))
            self._backed_up(device, outcome)
            samples += backup_samples(device, outcome, timestamp)
        return samples

    def failure_samples(self, target: Target, result: Result, elapsed_s: float) -> list[Sample]:
        device = device_of(target)
        error = classify(SshError(result, "poll abandoned by the scheduler"))
        return self._failed(target, device, error, elapsed_s, False, time.time_ns())

    @staticmethod
    def _ssh_sample(
        device: Device, result: Result, fields: dict[str, FieldValue], timestamp: int
    ) -> Sample:
        tags = {"source": device.host, "platform": device.platform, "result": result.tag}
        return Sample(SSH.name, tags, fields, timestamp)

    def readings(self) -> list[StatsReading]:
        """Counters for /metrics (the agent reads them at scrape time)."""
        stats, sessions = self.stats, self.sessions.stats
        return [
            StatsReading(
                "netmon_ssh_commands_failed",
                "CLI commands a device refused or whose output did not parse (counted, logged)",
                "counter",
                lambda: stats.commands_failed,
            ),
            StatsReading(
                "netmon_ssh_logins", "SSH logins (new sessions)", "counter", lambda: sessions.logins
            ),
            StatsReading(
                "netmon_ssh_session_reuses",
                "Polls that ran on an open session instead of logging in",
                "counter",
                lambda: sessions.reuses,
            ),
            StatsReading(
                "netmon_ssh_cut_offs",
                "Sessions cut off at their deadline (a device stuck at a prompt)",
                "counter",
                lambda: sessions.cut_offs,
            ),
            StatsReading(
                "netmon_ssh_open_sessions",
                "SSH sessions kept open for the next poll",
                "gauge",
                lambda: self.sessions.open_sessions,
            ),
            StatsReading(
                "netmon_config_backups",
                "Configuration backups attempted",
                "counter",
                lambda: stats.backups,
            ),
            StatsReading(
                "netmon_config_backups_failed",
                "Configuration backups that failed (device, stripping check or repository)",
                "counter",
                lambda: stats.backups_failed,
            ),
            StatsReading(
                "netmon_config_changes",
                "Configuration changes committed to the backup repository",
                "counter",
                lambda: stats.config_changes,
            ),
        ]

    async def close(self) -> None:
        if self._sweep is not None and not self._sweep.done():
            await asyncio.wait({self._sweep}, timeout=5.0)
        await self.sessions.close()
