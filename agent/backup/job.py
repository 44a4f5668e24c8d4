"""Backing up one device: fetch the running configuration, strip it, commit it, report it.

This runs in an SSH worker thread on an open session (collectors.ssh.session); the SSH collector
calls it when a device's backup is due, and ``netmon backup`` calls it for the devices asked
for. What is stored is the configuration after :func:`agent.backup.scrub.scrub`; before the
commit, every secret the agent itself knows for the device (its login password, enable
secret, key passphrase) is searched for in the stripped text, and a configuration that still
holds one is refused, not stored.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from netmiko import BaseConnection

from agent.backup.recipes import RECIPES
from agent.backup.repo import Commit, ConfigRepo
from agent.backup.scrub import leaked, scrub
from agent.results import Result
from agent.samples import FieldValue, Sample
from collectors.ssh.schema import CONFIG_BACKUP, CONFIG_CHANGE
from collectors.ssh.session import Device, SshError

log = logging.getLogger(__name__)

#: A device that refuses a command answers with one of these, in a few lines.
_DEVICE_ERROR = re.compile(
    r"^\s*(% ?(Invalid|Incomplete|Ambiguous|Unknown|Unrecognized)|Error: |syntax error|"
    r"bad command name|unknown command|-bash: |.*: command not found|.*Permission denied)",
    re.IGNORECASE | re.MULTILINE,
)
#: A running configuration is never this short; a shorter answer is an error message.
_MIN_LINES = 3


@dataclass(frozen=True)
class BackupOutcome:
    result: Result
    elapsed_s: float
    lines: int = 0
    commit: Commit | None = None
    error: str = ""


def backup_command(device: Device) -> tuple[str, bool]:
    """The command that prints the device's configuration, and whether it needs `enable`."""
    config = device.config
    recipe = RECIPES[device.platform]
    if config.backup_command is not None:
        return config.backup_command, recipe.needs_enable
    if recipe.command is None:  # linux: validated away by SshConfig
        raise SshError(Result.INTERNAL_ERROR, "no backup command for this platform")
    return recipe.command, recipe.needs_enable


def _fetch(connection: BaseConnection, device: Device) -> tuple[str, str]:
    """(the command sent, the configuration it printed)."""
    command, needs_enable = backup_command(device)
    enable = needs_enable and device.config.credential.enable_secret is not None
    if enable and not connection.check_enable_mode():
        connection.enable()
    read_timeout = max(60.0, device.config.command_timeout_s)
    output = connection.send_command(command, read_timeout=read_timeout)
    text = output if isinstance(output, str) else str(output)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) < _MIN_LINES or (len(lines) < 10 and _DEVICE_ERROR.search(text)):
        hint = " (needs enable? set enable_secret)" if needs_enable else ""
        raise SshError(
            Result.BAD_RESPONSE, f"the device did not print a configuration for {command!r}{hint}"
        )
    return command, text


def run_backup(
    connection: BaseConnection, device: Device, repo: ConfigRepo, agent_name: str
) -> BackupOutcome:
    """Fetch, strip, check and commit one device's configuration (blocking; in a worker).

    Session errors (timeouts, a closed channel) propagate as exceptions for the session
    layer to classify; everything about the configuration itself is an outcome.
    """
    started = time.monotonic()
    command, raw = _fetch(connection, device)
    text = scrub(device.platform, raw)
    elapsed = time.monotonic() - started
    lines = text.count("\n")
    found = leaked(text, device.config.secrets())
    if found:
        where = ", ".join(str(n) for n in found[:5])
        log.error(
            "%s: a known secret is still in the stripped configuration (line %s): not stored; "
            "the secret-stripping rules for %s miss a form",
            device.host,
            where,
            device.platform,
        )
        return BackupOutcome(
            Result.BAD_RESPONSE,
            elapsed,
            lines,
            error=f"a known secret survived secret stripping (line {where}): not stored",
        )
    commit = repo.commit_device(
        device.host,
        text,
        message=f"{device.host}: configuration changed\n\n"
        f"Fetched by netmon agent {agent_name} with {command!r} ({device.platform}).",
    )
    return BackupOutcome(Result.SUCCESS, elapsed, lines, commit)


def backup_samples(device: Device, outcome: BackupOutcome, timestamp_ns: int) -> list[Sample]:
    """``config_backup`` for every attempt, and ``config_change`` when a commit was made."""
    fields: dict[str, FieldValue] = {
        "result_code": int(outcome.result),
        "response_time": round(outcome.elapsed_s, 6),
        "changed": int(outcome.commit is not None),
    }
    if outcome.result is Result.SUCCESS or outcome.lines:
        fields["lines"] = outcome.lines
    if outcome.error:
        fields["error"] = outcome.error
    tags = {"source": device.host, "platform": device.platform, "result": outcome.result.tag}
    samples = [Sample(CONFIG_BACKUP.name, tags, fields, timestamp_ns)]
    if outcome.commit is not None:
        samples.append(
            Sample(
                CONFIG_CHANGE.name,
                {"source": device.host},
                {
                    "lines_added": outcome.commit.lines_added,
                    "lines_removed": outcome.commit.lines_removed,
                    "commit": outcome.commit.sha,
                    "summary": (
                        f"Cấu hình thay đổi: +{outcome.commit.lines_added} "
                        f"−{outcome.commit.lines_removed} dòng"
                    ),
                },
                timestamp_ns,
            )
        )
    return samples
