"""playbooks/agents.yml and the netmon_agent role, run through ansible-runner on localhost.

The play runs in check mode with every path the role writes (/etc/netmon, /opt/netmon, the
unit directory) moved under tmp_path and a user name no machine has, so nothing changes even
if check mode were broken. Results are read from runner events and stats, never stdout. The
unit and the settings are then rendered for real (tasks_from, into tmp_path): systemd must
accept the unit and the agent must accept the TOML.
"""

from __future__ import annotations

import json
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.secret import Secret
from agent.settings import load_settings
from tests.peers import require_binary

pytestmark = pytest.mark.ansible

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
WRITER_PASSWORD = "writer-pw-7f3a9c-never-in-the-toml"


def _unused_user() -> str:
    for n in range(100):
        name = f"netmon-t{n}"
        try:
            pwd.getpwnam(name)
        except KeyError:
            return name
    raise AssertionError("no free user name")


def _layout(tmp_path: Path) -> dict[str, Any]:
    """Role variables placing everything under tmp_path; the unit directory exists (systemd)."""
    unit_dir = tmp_path / "etc/systemd/system"
    unit_dir.mkdir(parents=True)
    user = _unused_user()
    return {
        "netmon_agent_prefix": str(tmp_path / "opt/netmon"),
        "netmon_agent_config_dir": str(tmp_path / "etc/netmon"),
        "netmon_agent_unit_dir": str(unit_dir),
        "netmon_agent_user": user,
        "netmon_agent_group": user,
        "netmon_agent_system_packages": [],
        "netmon_agent_sla_reports": True,
    }


def _inventory(tmp_path: Path, layout: dict[str, Any]) -> Path:
    inventory = tmp_path / "inventory" / "province"
    inventory.mkdir(parents=True)
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "vault_netmon_influxdb_writer_password": WRITER_PASSWORD,
        **layout,
    }
    (inventory / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"netmon_agents": {"hosts": {"localhost": host}}}}}),
        encoding="utf-8",
    )
    return inventory


def _run(tmp_path: Path, playbook: Path, inventory: Path, *, check: bool) -> Any:
    ansible_runner = pytest.importorskip("ansible_runner")
    bin_dir = str(Path(sys.executable).parent)
    private = tmp_path / "runner"
    private.mkdir(parents=True, exist_ok=True)
    runner = ansible_runner.run(
        private_data_dir=str(private),
        playbook=str(playbook),
        inventory=str(inventory),
        cmdline="--check" if check else None,
        envvars={
            "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin",
            "ANSIBLE_ROLES_PATH": str(PLAYBOOKS / "roles"),
            "ANSIBLE_LOCAL_TMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_REMOTE_TMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
        },
        quiet=True,
        timeout=600,
    )
    return runner


def _results(runner: Any) -> tuple[set[str], set[str], dict[str, str]]:
    """Names of the changed and skipped tasks, and failed tasks with their messages."""
    changed: set[str] = set()
    skipped: set[str] = set()
    failed: dict[str, str] = {}
    for event in runner.events:
        data = event.get("event_data", {})
        task = data.get("task", "")
        if event["event"] == "runner_on_ok" and data["res"].get("changed"):
            changed.add(task)
        elif event["event"] == "runner_on_skipped":
            skipped.add(task)
        elif event["event"] in {"runner_on_failed", "runner_on_unreachable"} and not data.get(
            "ignore_errors"
        ):
            failed[task] = str(data.get("res", {}).get("msg", data.get("res")))
    return changed, skipped, failed


def _assert_clean(runner: Any, failed: dict[str, str]) -> None:
    assert failed == {}
    assert runner.status == "successful", runner.stats
    assert not runner.stats["failures"] and not runner.stats["dark"]
    # no_log and the password file: the writer's password is in no event at all.
    assert WRITER_PASSWORD not in json.dumps(list(runner.events), default=str)


INSTALL = {
    "Create the agent's group",
    "Create the agent's system user (no login shell, no home)",
    "Install the agent into its virtual environment",
    "Install the agent's systemd unit",
    "Install the monthly SLA report units",
}


def test_check_mode_on_a_fresh_host(tmp_path: Path) -> None:
    """Nothing installed yet: check mode reports the installation and fails nowhere."""
    layout = _layout(tmp_path)
    runner = _run(tmp_path, PLAYBOOKS / "agents.yml", _inventory(tmp_path, layout), check=True)
    changed, skipped, failed = _results(runner)
    _assert_clean(runner, failed)
    assert INSTALL | {"Create the agent's directories"} <= changed
    # Files in directories that only "would be created" cannot be previewed (Ansible's copy).
    assert "Render the agent's settings" in skipped
    assert not (tmp_path / "opt").exists() and not (tmp_path / "etc/netmon").exists()
    assert list((tmp_path / "etc/systemd/system").iterdir()) == []


def test_check_mode_where_the_directories_exist(tmp_path: Path) -> None:
    """The role's directories exist (a previous run): every file the role writes is reported."""
    layout = _layout(tmp_path)
    for key in ("netmon_agent_prefix", "netmon_agent_config_dir"):
        Path(layout[key]).mkdir(parents=True)
    (Path(layout["netmon_agent_prefix"]) / "dist").mkdir()
    (Path(layout["netmon_agent_config_dir"]) / "inventory").mkdir()
    runner = _run(tmp_path, PLAYBOOKS / "agents.yml", _inventory(tmp_path, layout), check=True)
    changed, skipped, failed = _results(runner)
    _assert_clean(runner, failed)
    assert (
        INSTALL
        | {
            "Copy the agent's package to the host",
            "Copy the inventory the agent polls",
            "Render the agent's settings",
        }
        <= changed
    )
    # no_log hides even its "changed"; it ran, and the password is in no event (above).
    assert "Write the InfluxDB password file" not in skipped
    assert list(Path(layout["netmon_agent_config_dir"]).iterdir()) == [
        Path(layout["netmon_agent_config_dir"]) / "inventory"
    ]
    assert list((tmp_path / "etc/systemd/system").iterdir()) == []


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, Any]:
    """The role's settings and unit tasks run for real into tmp_path (no service managed).

    The unit's ExecStart is this project's venv, so systemd-analyze finds a real binary."""
    layout = _layout(tmp_path) | {
        "netmon_agent_venv": str(Path(sys.executable).parent.parent),
        "netmon_agent_user": "root",
        "netmon_agent_group": "root",
        "netmon_agent_service_manage": False,
    }
    Path(layout["netmon_agent_config_dir"], "inventory").mkdir(parents=True)
    inventory = _inventory(tmp_path, layout)
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Render the agent's files",
                    "hosts": "netmon_agents",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": f"Run the role's {part}",
                            "ansible.builtin.include_role": {
                                "name": "netmon_agent",
                                "tasks_from": f"{part}.yml",
                            },
                        }
                        for part in ("settings", "units")
                    ],
                }
            ]
        ),
        encoding="utf-8",
    )
    runner = _run(tmp_path, playbook, inventory, check=False)
    _changed, _skipped, failed = _results(runner)
    _assert_clean(runner, failed)
    return layout


def test_unit_passes_systemd_analyze_verify(rendered: dict[str, Any]) -> None:
    analyze = require_binary("systemd-analyze")
    unit_dir = Path(rendered["netmon_agent_unit_dir"])
    units = ["netmon-agent.service", "netmon-sla-report.service", "netmon-sla-report.timer"]
    verified = subprocess.run(
        [analyze, "verify", "--man=no", *(str(unit_dir / unit) for unit in units)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "", verified.stderr
    unit = (unit_dir / "netmon-agent.service").read_text(encoding="utf-8")
    assert f"ExecStart={rendered['netmon_agent_venv']}/bin/netmon -c " in unit
    for line in (
        "AmbientCapabilities=CAP_NET_RAW",
        "CapabilityBoundingSet=CAP_NET_RAW",
        "StateDirectory=netmon",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "SystemCallFilter=@system-service",
    ):
        assert line in unit.splitlines()
    # The SLA units run the same venv and settings as the agent.
    report = (unit_dir / "netmon-sla-report.service").read_text(encoding="utf-8")
    assert "/opt/netmon/venv" not in report
    assert f"{rendered['netmon_agent_config_dir']}/netmon.toml" in report


def test_settings_parse_and_hold_no_password(rendered: dict[str, Any]) -> None:
    config_dir = Path(rendered["netmon_agent_config_dir"])
    toml = config_dir / "netmon.toml"
    assert WRITER_PASSWORD not in toml.read_text(encoding="utf-8")
    settings = load_settings(toml, environ={})
    assert settings.agent_name == "localhost"
    assert settings.state_dir == Path("/var/lib/netmon")
    assert settings.inventory.path == config_dir / "inventory" / "province"
    assert (settings.inventory.path / "hosts.yml").is_file()
    assert settings.influxdb.password is None
    assert settings.influxdb.password_file == config_dir / "influx-pass"
    password = settings.influxdb.resolved_password()
    assert password is not None and password.reveal() == WRITER_PASSWORD
    assert (config_dir / "influx-pass").stat().st_mode & 0o777 == 0o640
    assert settings.metrics.listen == "127.0.0.1:9273"


@pytest.mark.influxdb
def test_influxdb_role_api_on_a_server_with_no_user(tmp_path: Path) -> None:
    """The influxdb role's API tasks, for real, against Debian's influxd with authentication on
    and no user yet (a fresh install): all is created once, a second run changes nothing, and
    each user can do what it is for and no more."""
    import httpx

    from agent.lab.influxdb import InfluxServer
    from agent.lab.process import free_tcp_port

    class FreshServer(InfluxServer):
        def _ensure_admin(self) -> None:
            """Left to the role: a fresh install has no user."""

    passwords = {  # quotes and backslashes: InfluxQL string escaping
        "admin": "adm'in\\pw-1",
        "netmon": "wr'iter-2",
        "grafana": "rea\\der-3",
    }
    influxd = require_binary("influxd")
    role_vars = {
        "vault_netmon_influxdb_admin_password": passwords["admin"],
        "vault_netmon_influxdb_writer_password": passwords["netmon"],
        "vault_netmon_influxdb_reader_password": passwords["grafana"],
    }
    with FreshServer(
        tmp_path / "influxd",
        free_tcp_port(),
        influxd=influxd,
        admin_user="admin",
        admin_password=Secret(passwords["admin"]),
    ) as server:
        role_vars["influxdb_api_url"] = server.url
        inventory = tmp_path / "hosts.yml"
        inventory.write_text(
            yaml.safe_dump(
                {
                    "all": {
                        "hosts": {
                            "localhost": {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": sys.executable,
                                **role_vars,
                            }
                        }
                    }
                }
            ),
            encoding="utf-8",
        )
        playbook = tmp_path / "influxdb-api.yml"
        playbook.write_text(
            yaml.safe_dump(
                [
                    {
                        "name": "InfluxDB API",
                        "hosts": "localhost",
                        "gather_facts": False,
                        "tasks": [
                            {
                                "name": "Run the role's API tasks",
                                "ansible.builtin.include_role": {
                                    "name": "influxdb",
                                    "tasks_from": "api.yml",
                                },
                            }
                        ],
                    }
                ]
            ),
            encoding="utf-8",
        )
        first = _run(tmp_path / "first", playbook, inventory, check=False)
        _changed, _skipped, failed = _results(first)
        _assert_clean(first, failed)
        # Tasks that changed: admin, database, policy, users (a loop), grants (a loop).
        assert first.stats["changed"]["localhost"] == 5
        second = _run(tmp_path / "second", playbook, inventory, check=False)
        _changed, _skipped, failed = _results(second)
        _assert_clean(second, failed)
        assert second.stats["changed"] == {}

        def query(user: str, q: str, db: str = "") -> httpx.Response:
            return httpx.post(
                f"{server.url}/query",
                data={"q": q, "db": db},
                auth=(user, passwords[user]),
                timeout=10,
            )

        def write(user: str) -> int:
            return httpx.post(
                f"{server.url}/write",
                params={"db": "netmon"},
                content=b"probe value=1",
                auth=(user, passwords[user]),
                timeout=10,
            ).status_code

        policies = query("admin", 'SHOW RETENTION POLICIES ON "netmon"').json()
        assert ["netmon", "9600h0m0s", "168h0m0s", 1, True] in policies["results"][0]["series"][0][
            "values"
        ]
        assert write("netmon") == 204
        assert write("grafana") == 403
        readable = query("grafana", 'SELECT * FROM "probe"', db="netmon").json()
        assert readable["results"][0]["series"][0]["values"][0][1] == 1
        refused = query("netmon", 'SELECT * FROM "probe"', db="netmon")
        assert refused.status_code == 403, refused.text
