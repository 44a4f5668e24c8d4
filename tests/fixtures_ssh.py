"""SSH peers: FakeNOS simulated network devices, and a real OpenSSH sshd as a ``linux`` device.

Use them by importing the fixtures into a test module (or a conftest)::

    from tests.fixtures_ssh import openssh_server, ssh_simulator  # noqa: F401

``ssh_simulator`` is a factory: call it with device dicts (the spec format of
:mod:`agent.lab.sshsim`; every key but ``commands`` has a default) and it starts one simulator
process serving all of them, stopped when the test ends::

    def test_bgp(ssh_simulator):
        lab = ssh_simulator([{"platform": "cisco_ios",
                              "commands": {"show ip bgp summary": {"text": "..."}}}])
        device = lab.devices[0]           # complete: name, address, port, username, password

Locally a missing FakeNOS or sshd skips the test; under CI it fails it (tests/peers.py).
"""

from __future__ import annotations

import copy
import secrets
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.lab.sshd import SSHD, OpenSshServer
from agent.lab.sshsim import SimulatedDevices
from tests.peers import missing_peer, require_binary

DeviceDict = dict[str, Any]


@dataclass(frozen=True)
class RunningSimulator:
    """One simulator process and the complete spec of each device it serves."""

    devices: list[DeviceDict]
    process: SimulatedDevices
    spec_path: Path

    def device(self, name: str) -> DeviceDict:
        return next(device for device in self.devices if device["name"] == name)

    def connection(self, name: str, **netmiko_args: Any) -> dict[str, Any]:
        """netmiko ``ConnectHandler`` arguments for device `name` (host keys not checked)."""
        device = self.device(name)
        return {
            "device_type": device["platform"],
            "host": device["address"],
            "port": device["port"],
            "username": device["username"],
            "password": device["password"],
            "secret": device.get("enable_password") or "",
            "ssh_strict": False,
            "allow_agent": False,
            "use_keys": False,
            "conn_timeout": 10,
            "auth_timeout": 10,
            "banner_timeout": 10,
            **netmiko_args,
        }


SimulatorFactory = Callable[..., RunningSimulator]


def free_tcp_ports(count: int, address: str = "127.0.0.1") -> list[int]:
    """`count` distinct TCP ports free on `address` now (held together while chosen)."""
    with ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((address, 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def complete_devices(devices: Sequence[DeviceDict]) -> list[DeviceDict]:
    """`devices` with defaults filled in: name, platform cisco_ios, 127.0.0.1, a free port,
    user ``netmon`` and a random password."""
    completed = [copy.deepcopy(dict(device)) for device in devices]
    ports = iter(free_tcp_ports(sum("port" not in device for device in completed)))
    for number, device in enumerate(completed, start=1):
        device.setdefault("name", f"sim-{number:03d}")
        device.setdefault("platform", "cisco_ios")
        device.setdefault("address", "127.0.0.1")
        if "port" not in device:
            device["port"] = next(ports)
        device.setdefault("username", "netmon")
        device.setdefault("password", secrets.token_hex(8))
        device.setdefault("commands", {})
    return completed


def _require_fakenos() -> None:
    try:
        import fakenos  # noqa: F401
    except ImportError as exc:
        missing_peer(f"PyPI fakenos ({exc}); .ci/bootstrap installs it with --no-deps")


@pytest.fixture
def ssh_simulator(tmp_path: Path) -> Iterator[SimulatorFactory]:
    """Factory: ``ssh_simulator(devices, host_key_file=None, start_timeout=30.0)`` starts one
    simulator process for `devices` and returns a :class:`RunningSimulator`."""
    _require_fakenos()
    running: list[SimulatedDevices] = []

    def start(
        devices: Sequence[DeviceDict],
        *,
        host_key_file: Path | None = None,
        start_timeout: float = 30.0,
    ) -> RunningSimulator:
        completed = complete_devices(devices)
        work_dir = tmp_path / f"sshsim-{len(running) + 1}"
        spec = {
            "host_key_file": str(host_key_file) if host_key_file else None,
            "devices": completed,
        }
        process = SimulatedDevices(work_dir=work_dir, start_timeout=start_timeout)
        running.append(process)
        process.start(spec)
        return RunningSimulator(completed, process, work_dir / "sshsim.json")

    try:
        yield start
    finally:
        for process in running:
            process.stop()


@pytest.fixture
def openssh_server(tmp_path: Path) -> Iterator[OpenSshServer]:
    """A real OpenSSH sshd on 127.0.0.1 (free port), key-only login for ``.username``."""
    if not SSHD.exists():
        missing_peer(f"OpenSSH server {SSHD} (Debian openssh-server)")
    require_binary("ssh-keygen")
    with OpenSshServer(state_dir=tmp_path / "sshd") as server:
        yield server
