"""The SSH collector against real SSH peers: FakeNOS devices and OpenSSH's sshd.

Each simulated device answers the platform's commands with the recordings of
``agent/lab/cli`` (as the lab's do), so what the collector wrote must equal what parsing
those outputs gives; the linux device is this machine itself behind a real sshd, so its
counters are compared with the same command run locally.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.collector import CollectorContext, Target
from agent.lab.sshd import OpenSshServer
from agent.lab.sshdevices import (
    RECORDINGS,
    recorded_commands,
    running_config,
    simulated_commands,
)
from agent.results import Result
from agent.samples import Sample
from agent.schema import base_schema
from agent.settings import SshSettings
from collectors.ssh.collector import SshCollector, poll_commands
from collectors.ssh.config import SshConfig
from collectors.ssh.parse import parse
from collectors.ssh.platforms import Platform
from tests.fixtures_ssh import RunningSimulator, SimulatorFactory, openssh_server, ssh_simulator

__all__ = ["openssh_server", "ssh_simulator"]
pytestmark = pytest.mark.ssh

NETWORK_PLATFORMS: tuple[Platform, ...] = (
    "cisco_ios",
    "huawei_vrp",
    "juniper_junos",
    "mikrotik_routeros",
)


def sfp_ports(platform: Platform) -> list[str]:
    """The interfaces RouterOS's per-interface recordings are named after."""
    return sorted(p.stem for p in RECORDINGS.glob(f"{platform}/*name_once/*.raw"))


def device_dict(platform: Platform, name: str, config_file: Path, **extra: Any) -> dict[str, Any]:
    """A simulated device as the lab makes one: its recordings and its configuration file."""
    config_file.write_text(running_config(platform, name))
    commands = simulated_commands(platform, config_file)
    return {"name": name, "platform": platform, "commands": commands, **extra}


def target_of(lab: RunningSimulator, name: str, timeout_s: float = 20.0, **config: Any) -> Target:
    device = lab.device(name)
    credential: dict[str, Any] = {
        "name": "lab",
        "username": device["username"],
        "password": device["password"],
    }
    if device.get("enable_password"):
        credential["enable_secret"] = device["enable_password"]
    ssh = SshConfig.model_validate(
        {
            "platform": device["platform"],
            "port": device["port"],
            "credential": credential,
            "optical_interfaces": sfp_ports(device["platform"]),
            **config,
        }
    )
    return Target(name, device["address"], "ssh", ssh, timeout_s=timeout_s)


def make_collector(tmp_path: Path, **ssh: Any) -> SshCollector:
    context = CollectorContext(
        base_schema(),
        ssh=SshSettings(**ssh),
        known_hosts_file=tmp_path / "known_hosts",
        backup_dir=tmp_path / "configs",
        agent_name="test-agent",
    )
    return SshCollector(context)


def expected_samples(target: Target) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """What parsing the recordings the device serves gives, command by command."""
    config: SshConfig = target.config
    answers = recorded_commands(config.platform)
    found = []
    for command in poll_commands(config):
        interfaces = config.optical_interfaces if command.per_interface else [None]
        for interface in interfaces:
            text = answers[command.render(interface)]
            for sample in parse(
                config.platform, command, text, target.host, 0, interface=interface
            ):
                found.append((sample.measurement, sample.tags, sample.fields))
    return found


def data_of(samples: list[Sample]) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    return [
        (s.measurement, s.tags, s.fields)
        for s in samples
        if s.measurement not in {"ssh", "config_backup", "config_change"}
    ]


def run(collector: SshCollector, *targets: Target) -> list[list[Sample]]:
    async def poll() -> list[list[Sample]]:
        try:
            return list(await asyncio.gather(*(collector.collect(t) for t in targets)))
        finally:
            await collector.close()

    return asyncio.run(poll())


@pytest.mark.parametrize("platform", NETWORK_PLATFORMS)
def test_parsed_values_equal_what_the_device_returned(
    platform: Platform, ssh_simulator: SimulatorFactory, tmp_path: Path
) -> None:
    lab = ssh_simulator([device_dict(platform, "rt-1", tmp_path / "rt-1.cfg")])
    target = target_of(lab, "rt-1")
    [samples] = run(make_collector(tmp_path), target)
    result = samples[0]
    assert result.measurement == "ssh", result
    assert result.tags["result"] == "success", result.fields.get("error")
    assert result.fields["commands_failed"] == 0
    expected = expected_samples(target)
    assert expected, "the recordings of this platform parse to nothing"
    assert data_of(samples) == expected
    kinds = {measurement for measurement, _, _ in expected}
    assert {"optics", "bgp_peer", "ospf_neighbor"} <= kinds


def test_a_session_is_reused_by_the_next_poll(
    ssh_simulator: SimulatorFactory, tmp_path: Path
) -> None:
    lab = ssh_simulator([device_dict("cisco_ios", "rt-1", tmp_path / "rt-1.cfg")])
    collector = make_collector(tmp_path)
    target = target_of(lab, "rt-1", backup=False)

    async def twice() -> list[list[Sample]]:
        try:
            return [await collector.collect(target), await collector.collect(target)]
        finally:
            await collector.close()

    first, second = asyncio.run(twice())
    assert first[0].fields["session_reused"] == 0
    assert second[0].fields["session_reused"] == 1
    assert data_of(second) == data_of(first)
    assert collector.sessions.stats.logins == 1


def test_a_device_stuck_at_a_prompt_is_cut_off_and_others_carry_on(
    ssh_simulator: SimulatorFactory, tmp_path: Path
) -> None:
    stuck = device_dict("cisco_ios", "rt-stuck", tmp_path / "a.cfg")
    stuck["commands"]["show ip bgp summary"] = {"hang": True}
    lab = ssh_simulator([stuck, device_dict("cisco_ios", "rt-ok", tmp_path / "b.cfg")])
    # One worker: the healthy device can only be polled once the stuck one's worker is free.
    collector = make_collector(tmp_path, workers=1)
    stuck_samples, ok_samples = run(
        collector,
        target_of(lab, "rt-stuck", timeout_s=5.0, backup=False),
        target_of(lab, "rt-ok", timeout_s=20.0, backup=False),
    )
    assert stuck_samples[0].tags["result"] == "timeout"
    assert "cut off" in str(stuck_samples[0].fields["error"])
    assert ok_samples[0].tags["result"] == "success"
    assert collector.sessions.stats.cut_offs == 1


def test_wrong_password_is_an_auth_error_that_names_no_secret(
    ssh_simulator: SimulatorFactory, tmp_path: Path
) -> None:
    lab = ssh_simulator([device_dict("huawei_vrp", "vrp-1", tmp_path / "v.cfg")])
    target = target_of(lab, "vrp-1", backup=True)
    wrong = target.config.model_copy(
        update={
            "credential": target.config.credential.model_copy(
                update={"password": type(target.config.credential.password)("Wrong-Pass-771")}
            )
        }
    )
    [samples] = run(make_collector(tmp_path), Target("vrp-1", target.address, "ssh", wrong))
    assert samples[0].fields["result_code"] == Result.AUTH_ERROR
    backup = samples[1]
    assert backup.measurement == "config_backup" and backup.tags["result"] == "auth_error"
    assert "Wrong-Pass-771" not in repr(samples)


def rsa_key(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f", str(path)],
        check=True,
    )
    return path


def test_a_changed_host_key_is_refused(ssh_simulator: SimulatorFactory, tmp_path: Path) -> None:
    first = ssh_simulator([device_dict("cisco_ios", "rt-1", tmp_path / "rt.cfg")])
    target = target_of(first, "rt-1", backup=False)
    [samples] = run(make_collector(tmp_path), target)
    assert samples[0].tags["result"] == "success"
    known = (tmp_path / "known_hosts").read_text()
    assert known.startswith(f"[127.0.0.1]:{target.config.port} ssh-rsa ")
    first.process.stop()
    # The same address and port, another key: a replaced device, or someone in between.
    again = dict(first.device("rt-1"))
    ssh_simulator([again], host_key_file=rsa_key(tmp_path / "other_rsa"))
    [refused] = run(make_collector(tmp_path), target)
    assert refused[0].fields["result_code"] == Result.HOST_KEY_ERROR
    assert "host key changed" in str(refused[0].fields["error"])
    assert (tmp_path / "known_hosts").read_text() == known


def test_strict_host_keys_refuse_an_unknown_device(
    ssh_simulator: SimulatorFactory, tmp_path: Path
) -> None:
    lab = ssh_simulator([device_dict("juniper_junos", "mx-1", tmp_path / "j.cfg")])
    collector = make_collector(tmp_path, host_keys="strict")
    [samples] = run(collector, target_of(lab, "mx-1", backup=False))
    assert samples[0].fields["result_code"] == Result.HOST_KEY_ERROR
    assert not (tmp_path / "known_hosts").exists()


def _local(command: list[str]) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_linux_over_openssh_with_a_key(openssh_server: OpenSshServer, tmp_path: Path) -> None:
    frr = tmp_path / "frr.conf"
    frr.write_text(running_config("linux", "lnx-1"))
    config = SshConfig.model_validate(
        {
            "platform": "linux",
            "port": openssh_server.port,
            "credential": {
                "name": "servers",
                "username": openssh_server.username,
                "key_file": str(openssh_server.client_key_file),
            },
            "backup_command": f"cat {frr}",
        }
    )
    target = Target("lnx-1", "127.0.0.1", "ssh", config)
    [samples] = run(make_collector(tmp_path), target)
    assert samples[0].tags["result"] == "success", samples[0].fields.get("error")
    [command] = poll_commands(config)
    local = parse("linux", command, _local(command.command.split()), "lnx-1", 0)
    errors = [s for s in samples if s.measurement == "interface_errors"]
    assert {s.tags["interface"] for s in errors} == {s.tags["interface"] for s in local}
    assert "lo" in {s.tags["interface"] for s in errors}
    # error counters do not move on an idle machine: the values must be the same
    by_name = {s.tags["interface"]: s.fields for s in local}
    for sample in errors:
        assert sample.fields == by_name[sample.tags["interface"]]
    # host key recorded as OpenSSH itself would write it
    assert openssh_server.host_public_key in (tmp_path / "known_hosts").read_text()
    change = next(s for s in samples if s.measurement == "config_change")
    assert change.fields["lines_added"] > 50


def read_known_secrets() -> list[str]:
    path = Path("agent/lab/configs/known-secrets.txt")
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def test_backup_two_runs_with_a_change_give_one_commit_with_that_diff(
    ssh_simulator: SimulatorFactory, tmp_path: Path
) -> None:
    devices = [
        device_dict(
            platform,
            f"{platform}-1",
            tmp_path / f"{platform}.cfg",
            enable_password="Lab-Enable-5512",
        )
        if platform == "cisco_ios"
        else device_dict(platform, f"{platform}-1", tmp_path / f"{platform}.cfg")
        for platform in NETWORK_PLATFORMS
    ]
    lab = ssh_simulator(devices)
    targets = [target_of(lab, d["name"], datasets=[]) for d in devices]
    repo = tmp_path / "configs"

    def backup_all() -> list[list[Sample]]:
        return run(make_collector(tmp_path), *targets)

    first = backup_all()
    for samples in first:
        backup = next(s for s in samples if s.measurement == "config_backup")
        assert backup.tags["result"] == "success", (backup.tags, backup.fields)
        assert backup.fields["changed"] == 1
    head = git(repo, "rev-parse", "HEAD").strip()
    commits_before = int(git(repo, "rev-list", "--count", "HEAD"))
    # Between the runs, an operator changes one line on the Huawei router.
    config_file = tmp_path / "huawei_vrp.cfg"
    text = config_file.read_text()
    changed = text.replace(
        "\nreturn", "\nsnmp-agent sys-info location TTCNTT-DC1-rack-7\nreturn", 1
    )
    assert changed != text
    config_file.write_text(changed)
    second = backup_all()
    assert int(git(repo, "rev-list", "--count", "HEAD")) == commits_before + 1
    changes = [s for samples in second for s in samples if s.measurement == "config_change"]
    assert [c.tags["source"] for c in changes] == ["huawei_vrp-1"]
    assert changes[0].fields["lines_added"] == 1 and changes[0].fields["lines_removed"] == 0
    sha = str(changes[0].fields["commit"])
    assert git(repo, "rev-parse", "HEAD").strip() == sha != head
    shown = git(repo, "show", "--format=", sha)
    assert "+snmp-agent sys-info location TTCNTT-DC1-rack-7" in shown
    assert git(repo, "show", "--name-only", "--format=", sha).split() == [
        "devices/huawei_vrp-1.cfg"
    ]
    # No known secret anywhere: the files, and every version in the history.
    history = git(repo, "log", "-p", "--all") + "".join(
        path.read_text() for path in (repo / "devices").iterdir()
    )
    secrets = read_known_secrets() + [d["password"] for d in lab.devices] + ["Lab-Enable-5512"]
    assert len(secrets) > 50
    leaked = [secret for secret in secrets if secret in history]
    assert leaked == []
    grep = subprocess.run(
        ["grep", "-r", "-l", "-F", *(f"-e{s}" for s in secrets), str(repo)],
        capture_output=True,
        text=True,
    )
    assert grep.stdout == ""


def test_the_labs_ssh_peer_serves_its_hosts_and_a_fault_pauses_them(tmp_path: Path) -> None:
    from agent.inventory.model import Host, HostSettings
    from agent.lab.sshdevices import LabSshDevices
    from tests.fixtures_ssh import _require_fakenos, free_tcp_ports

    _require_fakenos()
    settings = HostSettings(netmon_site="DC1", netmon_level="dc")
    hosts = []
    for platform, port in zip(("cisco_ios", "juniper_junos"), free_tcp_ports(2), strict=True):
        config = SshConfig.model_validate(
            {
                "platform": platform,
                "port": port,
                "credential": {"name": "lab", "username": "netmon", "password": "Lab-Pw-4471"},
                "backup": False,
            }
        )
        hosts.append(Host(f"{platform}-1", "127.0.0.1", ("dc",), settings, {"ssh": config}))
    with LabSshDevices(tmp_path / "sim", hosts) as peer:
        targets = [t for host in hosts for t in host.targets()]
        polled = run(make_collector(tmp_path), *targets)
        assert [samples[0].tags["result"] for samples in polled] == ["success", "success"]
        assert all(data_of(samples) for samples in polled)
        assert peer.config_dir.joinpath("cisco_ios-1.cfg").is_file()
        peer.pause()  # an `unreachable` fault: the devices answer nothing
        paused = run(make_collector(tmp_path / "b"), *(replace(t, timeout_s=4.0) for t in targets))
        assert [samples[0].tags["result"] for samples in paused] == ["timeout", "timeout"]
        peer.resume()
    assert not peer.running
