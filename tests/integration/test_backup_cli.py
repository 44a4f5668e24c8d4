"""`netmon backup`, `backup diff` and `backup history` against FakeNOS devices and a real influxd.

The inventory is an ordinary Ansible inventory naming the simulated devices, with the SSH
password in an environment variable, as operators are told to keep it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from agent.backup.cli import backup, parse_since
from agent.cli import EXIT_FAILED, EXIT_INVALID, EXIT_USAGE, cli
from agent.lab.influxdb import InfluxServer
from tests.fixtures_influx import influx_db, influx_server
from tests.fixtures_ssh import RunningSimulator, SimulatorFactory, ssh_simulator
from tests.integration.test_ssh_devices import device_dict, read_known_secrets

__all__ = ["influx_db", "influx_server", "ssh_simulator"]
pytestmark = [pytest.mark.ssh, pytest.mark.influxdb]

PASSWORD = "Cli-Test-Ssh-5519"


def write_inventory(root: Path, lab: RunningSimulator) -> Path:
    hosts: dict[str, Any] = {}
    for device in lab.devices:
        hosts[device["name"]] = {
            "ansible_host": device["address"],
            "netmon_ssh_port": device["port"],
            "netmon_ssh_platform": device["platform"],
        }
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"routers": {"hosts": hosts}}}})
    )
    variables = {
        "netmon_checks": ["ssh"],
        "netmon_site": "DC1",
        "netmon_level": "dc",
        "netmon_ssh_credential": "routers",
        "netmon_ssh_datasets": [],
        "netmon_credentials": {
            "routers": {"username": "netmon", "password": {"env": "NETMON_TEST_SSH_PASSWORD"}}
        },
    }
    (root / "group_vars" / "all" / "netmon.yml").write_text(yaml.safe_dump(variables))
    return root


@pytest.fixture
def world(
    ssh_simulator: SimulatorFactory,
    influx_server: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[RunningSimulator, Path, Path]:
    devices = [
        device_dict(platform, name, tmp_path / f"{name}.cfg", password=PASSWORD)
        for platform, name in (
            ("cisco_ios", "dc1-dist-01"),
            ("juniper_junos", "dc1-core-01"),
            ("huawei_vrp", "h-tdm-ubnd-rt"),
        )
    ]
    lab = ssh_simulator(devices)
    inventory = write_inventory(tmp_path / "inventory", lab)
    state = tmp_path / "state"
    monkeypatch.setenv("NETMON_TEST_SSH_PASSWORD", PASSWORD)
    monkeypatch.setenv("NETMON_STATE_DIR", str(state))
    monkeypatch.setenv("NETMON_INFLUXDB_URL", influx_server.url)
    monkeypatch.setenv("NETMON_INFLUXDB_DATABASE", influx_db)
    monkeypatch.delenv("NETMON_CONFIG", raising=False)
    cli.add_command(backup)
    return lab, inventory, state


def netmon(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_backup_twice_with_a_change_commits_once_and_diff_shows_it(
    world: tuple[RunningSimulator, Path, Path],
    influx_server: InfluxServer,
    influx_db: str,
    tmp_path: Path,
) -> None:
    _lab, inventory, state = world
    first = netmon("backup", "-i", str(inventory))
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert len([line for line in lines if " changed " in line]) == 3, first.output

    config = tmp_path / "dc1-dist-01.cfg"
    config.write_text(config.read_text().replace("\nend", "\nlogging host 10.10.0.50\nend", 1))
    second = netmon("backup", "-i", str(inventory))
    assert second.exit_code == 0, second.output
    changed = [line for line in second.output.splitlines() if " changed " in line]
    assert len(changed) == 1 and changed[0].startswith("dc1-dist-01 ")
    assert "+1 -0" in changed[0]
    assert sum(" unchanged " in line for line in second.output.splitlines()) == 2

    diff = netmon("backup", "diff", "dc1-dist-01")
    assert diff.exit_code == 0, diff.output
    added = [
        line
        for line in diff.output.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    assert added == ["+logging host 10.10.0.50"]
    history = netmon("backup", "history", "dc1-dist-01")
    assert len(history.output.splitlines()) == 2
    assert netmon("backup", "diff", "dc1-core-01").output.count("\n+") > 100  # first backup

    rows = influx_server.rows(
        'SELECT "lines_added", "lines_removed", "commit", "summary" FROM "config_change" '
        "WHERE \"source\" = 'dc1-dist-01'",
        influx_db,
    )
    assert [(r["lines_added"], r["lines_removed"]) for r in rows][-1] == (1, 0)
    assert rows[-1]["summary"] == "Cấu hình thay đổi: +1 −0 dòng"
    backups = influx_server.rows('SELECT count("result_code") FROM "config_backup"', influx_db)
    assert backups[0]["count"] == 6
    # Nothing the devices or the operator consider secret is in the repository.
    secrets = [*read_known_secrets(), PASSWORD]
    for stored in (state / "configs" / "devices").iterdir():
        text = stored.read_text()
        assert [s for s in secrets if s in text] == []


def test_limit_unknown_host_and_a_failing_device(
    world: tuple[RunningSimulator, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab, inventory, _state = world
    only = netmon("backup", "-i", str(inventory), "--limit", "dc1-*,!dc1-core-01", "--no-write")
    assert only.exit_code == 0, only.output
    assert [line.split()[0] for line in only.output.splitlines() if " changed " in line] == [
        "dc1-dist-01"
    ]
    nothing = netmon("backup", "-i", str(inventory), "--limit", "nope")
    assert nothing.exit_code == EXIT_INVALID
    assert "no host with ssh backup matching 'nope'" in nothing.output
    unknown = netmon("backup", "diff", "nope")
    assert unknown.exit_code == EXIT_USAGE
    assert "nope" in unknown.output
    bad_since = netmon("backup", "diff", "dc1-dist-01", "--since", "yesterday")
    assert bad_since.exit_code == EXIT_USAGE
    assert "30m, 12h, 2d, 1w" in bad_since.output

    lab.process.stop()  # every device gone: each is a failure, and the run says so
    gone = netmon("backup", "-i", str(inventory), "--no-write")
    assert gone.exit_code == EXIT_FAILED
    failed = [line for line in gone.output.splitlines() if " FAILED " in line]
    assert len(failed) == 3
    assert all("connection_error" in line for line in failed)
    assert PASSWORD not in gone.output


def test_since_reads_relative_and_iso_times() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_since("2d", now) == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    assert parse_since("2026-11-01T08:00+07:00", now).utcoffset() is not None
    assert parse_since("2026-11-01", now).tzinfo is not None
