"""The SSH collector without a network: config, what a poll sends and makes, failures, backups.

The seam faked here is the session layer (`SshSessions.run`): it hands the poll's job a fake
netmiko connection that answers each command from a table. Real sessions meet FakeNOS and
OpenSSH in tests/integration/test_ssh_devices.py.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent.collector import CollectorContext, PolledCollector, Target
from agent.lab.sshdevices import recorded_commands
from agent.results import Result
from agent.schema import base_schema
from collectors.ssh.collector import SshCollector, poll_commands
from collectors.ssh.config import SshConfig
from collectors.ssh.session import Device, SshError

PASSWORD = "Lab-Ssh-Pass-8841"
ENABLE = "Lab-Enable-5512"


@dataclass
class FakeConnection:
    answers: dict[str, str]
    sent: list[str] = field(default_factory=list)
    enabled: bool = True

    def send_command(self, command: str, **_: Any) -> str:
        self.sent.append(command)
        if command not in self.answers:
            return f"% Invalid input detected at '^' marker.\n{command}"
        return self.answers[command]

    def check_enable_mode(self) -> bool:
        return self.enabled

    def enable(self) -> None:
        self.enabled = True


@dataclass
class FakeSessions:
    connection: FakeConnection
    failure: SshError | None = None
    deadlines: list[float] = field(default_factory=list)

    async def run(self, device: Device, job: Callable[[Any], Any], deadline_s: float) -> Any:
        self.deadlines.append(deadline_s)
        if self.failure is not None:
            raise self.failure
        return job(self.connection), False

    async def close_idle(self) -> int:
        return 0

    async def close(self) -> None:
        return None


def _config(**overrides: Any) -> SshConfig:
    raw: dict[str, Any] = {
        "platform": "cisco_ios",
        "credential": {"name": "lab", "username": "netmon", "password": PASSWORD},
        **overrides,
    }
    return SshConfig.model_validate(raw)


def _target(config: SshConfig, timeout_s: float = 20.0) -> Target:
    return Target("rt-tdm-01", "127.0.0.1", "ssh", config, timeout_s=timeout_s)


def _collector(tmp_path: Path, connection: FakeConnection) -> tuple[SshCollector, FakeSessions]:
    context = CollectorContext(
        base_schema(),
        known_hosts_file=tmp_path / "known_hosts",
        backup_dir=tmp_path / "configs",
        agent_name="test-agent",
    )
    collector = SshCollector(context)
    sessions = FakeSessions(connection)
    collector.sessions = sessions  # type: ignore[assignment]
    return collector, sessions


def _cisco_answers(config_text: str) -> dict[str, str]:
    answers = recorded_commands("cisco_ios")
    answers["show running-config"] = config_text
    return answers


CISCO_CONFIG = f"""Building configuration...

Current configuration : 1234 bytes
!
! Last configuration change at 10:01:02 ICT Mon Nov 2 2026 by netmon
!
hostname rt-tdm-01
enable secret 5 {ENABLE}
username netmon privilege 15 secret 0 {PASSWORD}
interface GigabitEthernet0/0/0
 description uplink dc1-core-01
 ip address 10.10.1.2 255.255.255.252
!
end
"""


def test_it_is_a_polled_collector_and_declares_what_it_writes(tmp_path: Path) -> None:
    collector, _ = _collector(tmp_path, FakeConnection({}))
    assert isinstance(collector, PolledCollector)
    schema = base_schema()
    SshCollector(CollectorContext(schema, backup_dir=tmp_path / "c"))
    for name in ("ssh", "optics", "bgp_peer", "ospf_neighbor", "config_backup", "config_change"):
        assert schema.get(name) is not None


def test_config_needs_platform_and_a_credential_and_knows_its_secrets() -> None:
    with pytest.raises(ValidationError, match="platform"):
        SshConfig.model_validate({"credential": {"name": "x", "username": "u", "password": "p"}})
    with pytest.raises(ValidationError, match="juniper_junos"):
        _config(platform="junos")
    config = _config(
        credential={"name": "lab", "username": "u", "password": "p1234", "enable_secret": "e5678"}
    )
    assert sorted(config.secrets()) == ["e5678", "p1234"]
    assert "p1234" not in repr(config) and "p1234" not in str(config.model_dump())


def test_a_key_login_needs_no_password() -> None:
    config = _config(credential={"name": "k", "username": "root", "key_file": "/etc/netmon/id"})
    assert type(config.credential).__name__ == "KeyLogin"


def test_linux_needs_a_backup_command_or_no_backup() -> None:
    with pytest.raises(ValidationError, match="backup_command"):
        _config(platform="linux")
    assert _config(platform="linux", backup=False).backup is False
    assert _config(platform="linux", backup_command="cat /etc/frr/frr.conf").backup


def test_a_poll_sends_every_dataset_command_and_parses_the_rows(tmp_path: Path) -> None:
    connection = FakeConnection(_cisco_answers(CISCO_CONFIG))
    collector, sessions = _collector(tmp_path, connection)
    samples = asyncio.run(collector.collect(_target(_config(backup=False))))
    assert connection.sent == [c.command for c in poll_commands(_config())]
    result = samples[0]
    assert result.measurement == "ssh" and result.tags["result"] == "success"
    assert result.fields["commands"] == len(connection.sent)
    assert result.fields["commands_failed"] == 0
    measurements = {s.measurement for s in samples[1:]}
    assert measurements == {"optics", "bgp_peer", "ospf_neighbor", "interface_errors"}
    assert all(s.tags["source"] == "rt-tdm-01" for s in samples)
    # the collector ends a stuck poll itself, before the scheduler's timeout
    assert sessions.deadlines == [19.0]
    schema = base_schema()
    SshCollector(CollectorContext(schema, backup_dir=tmp_path / "c2"))
    kept, rejected = schema.conforming(samples)
    assert rejected == [] and len(kept) == len(samples)


def test_a_command_the_device_refuses_is_counted_and_the_others_still_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    answers = _cisco_answers(CISCO_CONFIG)
    del answers["show ip ospf neighbor"]  # an old IOS without OSPF: "% Invalid input"
    collector, _ = _collector(tmp_path, FakeConnection(answers))
    samples = asyncio.run(collector.collect(_target(_config(backup=False))))
    assert samples[0].fields["commands_failed"] == 1
    assert samples[0].tags["result"] == "success"
    assert "ospf_neighbor" not in {s.measurement for s in samples}
    assert "bgp_peer" in {s.measurement for s in samples}
    assert "show ip ospf neighbor" in caplog.text


def test_a_session_failure_is_a_sample_and_a_due_backup_fails_with_it(tmp_path: Path) -> None:
    collector, sessions = _collector(tmp_path, FakeConnection({}))
    sessions.failure = SshError(Result.AUTH_ERROR, "the device refused the credentials")
    samples = asyncio.run(collector.collect(_target(_config())))
    assert [s.measurement for s in samples] == ["ssh", "config_backup"]
    assert samples[0].fields["result_code"] == Result.AUTH_ERROR
    assert samples[1].tags["result"] == "auth_error" and samples[1].fields["changed"] == 0
    assert collector.stats.backups_failed == 1
    # still due: the next poll tries the backup again
    assert collector.backup_due(_target(_config()))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def test_the_first_poll_backs_up_then_not_again_until_the_interval(tmp_path: Path) -> None:
    connection = FakeConnection(_cisco_answers(CISCO_CONFIG))
    collector, _ = _collector(tmp_path, connection)
    target = _target(_config())
    first = asyncio.run(collector.collect(target))
    change = [s for s in first if s.measurement == "config_change"]
    assert len(change) == 1
    assert change[0].fields["lines_removed"] == 0
    sha = str(change[0].fields["commit"])
    assert _git(tmp_path / "configs", "rev-parse", "HEAD").strip() == sha
    stored = (tmp_path / "configs" / "devices" / "rt-tdm-01.cfg").read_text()
    assert PASSWORD not in stored and ENABLE not in stored
    assert "Last configuration change" not in stored
    assert "hostname rt-tdm-01" in stored
    second = asyncio.run(collector.collect(target))
    assert "config_backup" not in {s.measurement for s in second}
    assert connection.sent.count("show running-config") == 1


def test_a_config_that_still_holds_a_known_secret_is_refused(tmp_path: Path) -> None:
    # A form the stripping rules do not know: the login password in a banner.
    leaky = CISCO_CONFIG.replace(
        "hostname rt-tdm-01", f"hostname rt-tdm-01\nbanner motd ^{PASSWORD}^"
    )
    collector, _ = _collector(tmp_path, FakeConnection(_cisco_answers(leaky)))
    samples = asyncio.run(collector.collect(_target(_config())))
    backup = next(s for s in samples if s.measurement == "config_backup")
    assert backup.fields["result_code"] == Result.BAD_RESPONSE
    assert "known secret" in str(backup.fields["error"])
    assert PASSWORD not in str(backup.fields["error"])
    assert not (tmp_path / "configs" / "devices" / "rt-tdm-01.cfg").exists()


def test_a_device_that_prints_an_error_instead_of_its_config_is_a_bad_response(
    tmp_path: Path,
) -> None:
    answers = _cisco_answers(CISCO_CONFIG)
    del answers["show running-config"]
    collector, _ = _collector(tmp_path, FakeConnection(answers))
    samples = asyncio.run(collector.collect(_target(_config())))
    backup = next(s for s in samples if s.measurement == "config_backup")
    assert backup.tags["result"] == "bad_response"
    assert "enable" in str(backup.fields["error"])


def test_a_read_only_run_backs_nothing_up(tmp_path: Path) -> None:
    # `netmon poll` makes its collectors read-only: a poll must leave no commit behind.
    connection = FakeConnection(_cisco_answers(CISCO_CONFIG))
    context = CollectorContext(base_schema(), backup_dir=tmp_path / "configs", read_only=True)
    collector = SshCollector(context)
    collector.sessions = FakeSessions(connection)  # type: ignore[assignment]
    samples = asyncio.run(collector.collect(_target(_config())))
    assert samples[0].tags["result"] == "success"
    assert "config_backup" not in {s.measurement for s in samples}
    assert "show running-config" not in connection.sent
    assert not (tmp_path / "configs").exists()
