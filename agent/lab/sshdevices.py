"""The lab's SSH devices: every lab host with the ``ssh`` check, served by the FakeNOS simulator.

Each device answers its platform's dataset commands (collectors.ssh.commands) with the
recordings in ``agent/lab/cli/`` and its backup command with a running configuration rendered
from ``agent/lab/configs/`` for its host name, kept as a file under the lab's state directory:
``netmon lab`` (or a test) can change a device's configuration by rewriting that file, and
the next backup commits the change. The configurations hold the known test secrets of
``agent/lab/configs/known-secrets.txt``, which must never reach the backup repository.

Devices broken by the same faults share one simulator process, so an ``unreachable`` fault
pauses exactly its devices (as agent.lab.province does for snmpsim).
"""

from __future__ import annotations

from pathlib import Path
from string import Template
from typing import Any

from agent.backup.recipes import RECIPES
from agent.inventory.model import Host
from agent.lab.process import LabProcessError
from agent.lab.sshsim import SimulatedDevices
from collectors.ssh.commands import PLATFORM_COMMANDS
from collectors.ssh.config import PasswordLogin, SshConfig
from collectors.ssh.platforms import Platform

LAB_DIR = Path(__file__).resolve().parent
RECORDINGS = LAB_DIR / "cli"
CONFIGS = LAB_DIR / "configs"
CONFIG_FILES: dict[Platform, str] = {
    "cisco_ios": "cisco_ios.cfg",
    "huawei_vrp": "huawei_vrp.cfg",
    "juniper_junos": "juniper_junos.cfg",
    "mikrotik_routeros": "mikrotik_routeros.rsc",
    "linux": "linux-frr.conf",
}
START_TIMEOUT_S = 60.0


def recorded_commands(platform: Platform) -> dict[str, str]:
    """Command line → recorded output, for every dataset command of the platform."""
    answers = {}
    for command in PLATFORM_COMMANDS[platform]:
        folder = RECORDINGS / platform / command.recording_dir
        recordings = sorted(folder.glob("*.raw"))
        if not recordings:
            raise LabProcessError(f"no recording in {folder} for {command.command!r}")
        if command.per_interface:  # one recording per interface, named after it
            for raw in recordings:
                answers[command.render(raw.stem)] = raw.read_text(encoding="utf-8")
        else:
            answers[command.command] = recordings[0].read_text(encoding="utf-8")
    return answers


def running_config(platform: Platform, hostname: str) -> str:
    """The lab configuration of a device (Template: `$hostname`; `$9$…` hashes stay)."""
    template = Template((CONFIGS / CONFIG_FILES[platform]).read_text(encoding="utf-8"))
    return template.safe_substitute(hostname=hostname)


def simulated_commands(
    platform: Platform, config_file: Path, backup_command: str | None = None
) -> dict[str, dict[str, Any]]:
    """A device's commands for the simulator (agent.lab.sshsim): the recordings, and its backup
    command answered from `config_file` (re-read at every run, so rewriting it is a change)."""
    commands: dict[str, dict[str, Any]] = {
        line: {"text": text} for line, text in recorded_commands(platform).items()
    }
    backup = backup_command or RECIPES[platform].command
    if backup is not None:
        commands[backup] = {"file": str(config_file)}
    return commands


def device_spec(host: Host, config_dir: Path) -> dict[str, Any]:
    """The simulator's spec of one lab host, its configuration file written if missing (a
    change made during the lab's run survives a restart)."""
    config = host.checks["ssh"]
    assert isinstance(config, SshConfig)
    credential = config.credential
    if not isinstance(credential, PasswordLogin):
        raise LabProcessError(f"{host.name}: the lab's SSH devices take password logins only")
    path = config_dir / f"{host.name}.cfg"
    if not path.exists():
        path.write_text(running_config(config.platform, host.name), encoding="utf-8")
    return {
        "name": host.name,
        "platform": config.platform,
        "address": host.address,
        "port": config.port,
        "username": credential.username,
        "password": credential.password.reveal(),
        "enable_password": (
            credential.enable_secret.reveal() if credential.enable_secret is not None else None
        ),
        "commands": simulated_commands(config.platform, path, config.backup_command),
    }


class LabSshDevices(SimulatedDevices):
    """One simulator process serving `hosts` (all with the ssh check, on loopback); their
    configurations live in ``<state_dir>/configs/HOST.cfg``."""

    def __init__(self, state_dir: Path, hosts: list[Host]) -> None:
        super().__init__(work_dir=state_dir, start_timeout=START_TIMEOUT_S)
        self.hosts = sorted(hosts, key=lambda h: h.name)
        self.config_dir = state_dir / "configs"

    def launch(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        devices = [device_spec(host, self.config_dir) for host in self.hosts]
        self.spec = {"host_key_file": None, "devices": devices}
        super().launch()
