"""The SSH peers work with netmiko: FakeNOS simulated devices and a real OpenSSH sshd."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from netmiko import BaseConnection, ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException, ReadTimeout

from agent.lab.sshd import OpenSshServer
from tests.fixtures_ssh import SimulatorFactory, openssh_server, ssh_simulator

__all__ = ["openssh_server", "ssh_simulator"]  # fixtures, used by name

pytestmark = pytest.mark.ssh

BGP_SUMMARY = """\
BGP router identifier 10.0.0.1, local AS number 65001
BGP table version is 7, main routing table version 7

Neighbor        V           AS MsgRcvd MsgSent   TblVer  InQ OutQ Up/Down  State/PfxRcd
10.0.0.2        4        65002     120     118        7    0    0 01:52:10        3
10.0.0.3        4        65003       0       0        1    0    0 never    Idle"""
# {base_prompt} is FakeNOS's placeholder in its own outputs; a spec's text is served verbatim.
VERBATIM = BGP_SUMMARY + "\n  trailing spaces and a {base_prompt} stay  "


def _connect(args: dict[str, Any]) -> BaseConnection:
    return ConnectHandler(**args)


def _drop(connection: BaseConnection) -> None:
    """Close a session that was cut off: netmiko's disconnect() would wait for a prompt."""
    connection.remote_conn_pre.close()


def _alive(connection: BaseConnection) -> bool:
    transport = connection.remote_conn_pre.get_transport()
    return transport is not None and transport.is_active()


@pytest.mark.parametrize(
    "platform", ["cisco_ios", "huawei_vrp", "juniper_junos", "mikrotik_routeros"]
)
def test_custom_text_command_answers_verbatim(
    ssh_simulator: SimulatorFactory, platform: str
) -> None:
    lab = ssh_simulator(
        [{"name": "rt-01", "platform": platform, "commands": {"show bgp x": {"text": VERBATIM}}}]
    )
    connection = _connect(lab.connection("rt-01"))
    try:
        assert "rt-01" in connection.find_prompt()
        output = connection.send_command("show bgp x", read_timeout=10)
        assert output.strip() == VERBATIM.strip()
    finally:
        connection.disconnect()


def test_custom_command_in_enable_mode_with_enable_password(
    ssh_simulator: SimulatorFactory,
) -> None:
    lab = ssh_simulator(
        [
            {
                "name": "rt-tdm-01",
                "enable_password": "en-secret",
                "commands": {"show ip bgp summary": {"text": BGP_SUMMARY}},
            }
        ]
    )
    connection = _connect(lab.connection("rt-tdm-01"))
    try:
        assert connection.find_prompt() == "rt-tdm-01>"
        connection.enable()
        assert connection.find_prompt() == "rt-tdm-01#"
        output = connection.send_command("show ip bgp summary", read_timeout=10)
        assert output.strip() == BGP_SUMMARY
    finally:
        connection.disconnect()
    wrong = _connect(lab.connection("rt-tdm-01", secret="wrong"))
    try:
        with pytest.raises(ValueError, match="enable mode"):
            wrong.enable()
        assert wrong.find_prompt() == "rt-tdm-01>"
    finally:
        wrong.disconnect()


def test_file_command_is_read_again_for_every_execution(
    ssh_simulator: SimulatorFactory, tmp_path: Path
) -> None:
    config = tmp_path / "rt-cfg-01.cfg"
    config.write_text("!\nhostname rt-cfg-01\n!\ninterface Gi0/1\n description uplink\n!\nend\n")
    lab = ssh_simulator(
        [{"name": "rt-cfg-01", "commands": {"show running-config": {"file": str(config)}}}]
    )

    def backup() -> str:
        connection = _connect(lab.connection("rt-cfg-01"))
        try:
            connection.enable()  # as a backup does: the custom command answers in any mode
            return str(connection.send_command("show running-config", read_timeout=10))
        finally:
            connection.disconnect()

    assert backup().strip() == config.read_text().strip()
    changed = config.read_text().replace("uplink", "uplink to core-02")
    config.write_text(changed)
    assert backup().strip() == changed.strip()


def test_hang_is_cut_off_by_read_timeout_and_the_simulator_survives(
    ssh_simulator: SimulatorFactory,
) -> None:
    lab = ssh_simulator(
        [
            {
                "name": "rt-hang",
                "commands": {
                    "show ip ospf neighbor": {"hang": True},
                    "show clock": {"text": "*10:00:00.000 ICT Mon Jan 5 2026"},
                },
            }
        ]
    )
    connection = _connect(lab.connection("rt-hang"))
    started = time.monotonic()
    with pytest.raises(ReadTimeout):
        connection.send_command("show ip ospf neighbor", read_timeout=2)
    assert time.monotonic() - started < 5
    _drop(connection)

    again = _connect(lab.connection("rt-hang"))
    try:
        assert again.send_command("show clock", read_timeout=10).strip().startswith("*10:00")
    finally:
        again.disconnect()
    assert lab.process.running


def test_simulator_stops_promptly_with_open_sessions(ssh_simulator: SimulatorFactory) -> None:
    lab = ssh_simulator(
        [{"name": f"rt-{n}", "commands": {"show hang": {"hang": True}}} for n in range(3)]
    )
    sessions = [_connect(lab.connection(device["name"])) for device in lab.devices]
    failures: list[BaseException] = []

    def hang() -> None:
        try:
            sessions[0].send_command("show hang", read_timeout=3)
        except Exception as exc:
            failures.append(exc)

    waiting = threading.Thread(target=hang, daemon=True)
    waiting.start()
    time.sleep(1.0)  # the command is on its way and the device hangs

    started = time.monotonic()
    lab.process.stop()
    assert time.monotonic() - started < 4
    deadline = time.monotonic() + 3
    while any(_alive(session) for session in sessions) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(session) for session in sessions)
    waiting.join(10)
    assert failures  # the hanging command ended with an error, not an answer
    for session in sessions:
        _drop(session)


def test_two_hundred_devices_start_in_one_simulator(ssh_simulator: SimulatorFactory) -> None:
    devices = [
        {"name": f"rt-{n:03d}", "commands": {"show version brief": {"text": f"device {n:03d}"}}}
        for n in range(200)
    ]
    started = time.monotonic()
    lab = ssh_simulator(devices)
    elapsed = time.monotonic() - started
    assert elapsed < 15, f"200 devices took {elapsed:.1f} s to start"
    for device in random.Random(10).sample(lab.devices, 5):
        connection = _connect(lab.connection(device["name"]))
        try:
            output = connection.send_command("show version brief", read_timeout=10)
            assert output.strip() == device["name"].replace("rt-", "device ")
        finally:
            connection.disconnect()


def _linux(server: OpenSshServer, **overrides: Any) -> dict[str, Any]:
    return {
        "device_type": "linux",
        "host": "127.0.0.1",
        "port": server.port,
        "username": server.username,
        "use_keys": True,
        "key_file": str(server.client_key_file),
        "allow_agent": False,
        "ssh_strict": False,
        "conn_timeout": 10,
        "auth_timeout": 10,
        "banner_timeout": 10,
        **overrides,
    }


def test_openssh_linux_device_runs_commands(openssh_server: OpenSshServer) -> None:
    connection = _connect(_linux(openssh_server))
    try:
        assert connection.send_command("uname -n").strip() == os.uname().nodename
        links = connection.send_command("ip -s -j link show", read_timeout=10).strip()
        assert links.startswith("[{") and '"ifname":"lo"' in links and '"stats64"' in links
    finally:
        connection.disconnect()
    assert openssh_server.known_hosts_line.startswith(f"[127.0.0.1]:{openssh_server.port} ")
    assert openssh_server.host_public_key.startswith("ssh-ed25519 ")


def test_openssh_refuses_a_password_login(openssh_server: OpenSshServer) -> None:
    with pytest.raises(NetmikoAuthenticationException):
        _connect(_linux(openssh_server, use_keys=False, key_file=None, password="not-a-key-login"))
