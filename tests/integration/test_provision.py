"""`netmon provision` against real ansible-playbook runs: a tiny playbook project on
localhost (connection local), a host on a closed SSH port, and a vaulted secret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from agent.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, CliState
from agent.lab.process import free_tcp_port
from agent.provision.cli import provision
from tests.peers import require_binary

pytestmark = pytest.mark.ansible

VAULT_PASSWORD = "vault-pw-Hq7x2"
SECRET = "plain-secret-Zt93k"
ENV_SECRET = "influx-pw-Mv55q"

SITE = [
    {
        "name": "Configure the agent host",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Install the unit file",
                "ansible.builtin.copy": {"content": "unit\n", "dest": "{{ out_dir }}/unit.txt"},
                "tags": ["files"],
            },
            {
                "name": "Check the unit",
                "ansible.builtin.command": "cat {{ out_dir }}/unit.txt",
                "changed_when": False,
            },
        ],
    }
]
FAILING = [
    {
        "name": "Break on purpose",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [
            {"name": "Refuse", "ansible.builtin.fail": {"msg": "refused-Kx81"}},
            {"name": "Never reached", "ansible.builtin.debug": {"msg": "no"}},
        ],
    }
]
SECRETS = [
    {
        "name": "Use the vaulted password",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Remember the password",
                "ansible.builtin.set_fact": {"device_password": "{{ vaulted_password }}",
                                             "cacheable": True},
                "no_log": True,
            },
            {
                "name": "Write the password",
                "ansible.builtin.copy": {"content": "{{ device_password }}",
                                         "dest": "{{ out_dir }}/password.txt", "mode": "0600"},
                "no_log": True,
            },
            {
                "name": "Show it, hidden",
                "ansible.builtin.debug": {"msg": "{{ device_password }}"},
                "no_log": True,
            },
        ],
    }
]  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Settings file of a tiny project: playbooks, an inventory with a vaulted variable."""
    require_binary("ansible-playbook")
    vault_file = tmp_path / "vault-password"
    vault_file.write_text(VAULT_PASSWORD + "\n")
    encrypted = subprocess.run(
        [require_binary("ansible-vault"), "encrypt_string", "--vault-password-file",
         str(vault_file), "--name", "vaulted_password", SECRET],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "!vault" in encrypted
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    hosts = {
        "all": {
            "vars": {"out_dir": str(out_dir)},
            "children": {
                "agents": {
                    "hosts": {
                        "local": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                },
                "gone": {
                    "hosts": {
                        "dead": {
                            "ansible_connection": "ssh",
                            "ansible_host": "127.0.0.1",
                            "ansible_port": free_tcp_port(),
                            "ansible_ssh_timeout": 5,
                        }
                    }
                },
            },
        }
    }
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (inventory / "group_vars" / "all.yml").write_text(encrypted)
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    for name, plays in (("site", SITE), ("failing", FAILING), ("secrets", SECRETS)):
        (playbooks / f"{name}.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    (playbooks / "broken.yml").write_text(
        "- hosts: all\n  tasks:\n    - ansible.builtin.no_such_module: {}\n"
    )
    settings = tmp_path / "netmon.toml"
    settings.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[inventory]\npath = "{inventory}"\n'
        f'vault_password_file = "{vault_file}"\n'
    )
    return settings


def netmon_provision(settings: Path, *args: str) -> Result:
    playbooks = settings.parent / "playbooks"
    return CliRunner().invoke(
        provision, [*args, "--playbook-dir", str(playbooks)], obj=CliState(settings)
    )


def runs(settings: Path) -> list[Path]:
    return sorted((settings.parent / "state" / "provision").iterdir())


def recap(run_dir: Path) -> dict[str, dict[str, int]]:
    """The playbook_on_stats event ansible-runner stored for the run."""
    for path in (run_dir / "job_events").glob("*.json"):
        event = json.loads(path.read_text())
        if event["event"] == "playbook_on_stats":
            data: dict[str, dict[str, int]] = event["event_data"]
            return data
    raise AssertionError(f"no playbook_on_stats event in {run_dir}")


def table(output: str) -> dict[str, dict[str, int]]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("host "))
    header = lines[start].split()
    rows = {}
    for line in lines[start + 1 :]:
        cells = line.split()
        if len(cells) != len(header) or not all(c.isdigit() for c in cells[1:]):
            break
        rows[cells[0]] = dict(zip(header[1:], map(int, cells[1:]), strict=True))
    return rows


def test_progress_in_order_and_the_summary_is_runner_stats(project: Path) -> None:
    result = netmon_provision(project, "site", "--limit", "agents")
    assert result.exit_code == EXIT_OK, result.output
    progress = [
        line for line in result.stdout.splitlines() if line.startswith(("PLAY", "TASK", " "))
    ]
    assert progress[:5] == [
        "PLAY [Configure the agent host]",
        "TASK [Install the unit file]",
        "  changed: local",
        "TASK [Check the unit]",
        "  ok: local",
    ]
    assert (project.parent / "out" / "unit.txt").read_text() == "unit\n"
    [run_dir] = runs(project)
    stats = recap(run_dir)
    rows = table(result.stdout)
    assert rows == {"local": {"ok": 2, "changed": 1, "unreachable": 0, "failed": 0,
                              "skipped": 0, "rescued": 0, "ignored": 0}}  # fmt: skip
    for column, key in (("ok", "ok"), ("changed", "changed"), ("unreachable", "dark"),
                        ("failed", "failures"), ("skipped", "skipped")):  # fmt: skip
        assert rows["local"][column] == stats[key].get("local", 0)

    again = netmon_provision(project, "site.yml", "--limit", "local")
    assert again.exit_code == EXIT_OK, again.output
    assert "  changed: local" not in again.stdout
    assert table(again.stdout)["local"]["changed"] == 0


def test_check_reports_what_would_change_and_changes_nothing(project: Path) -> None:
    result = netmon_provision(project, "site", "--limit", "local", "--check", "--diff")
    assert result.exit_code == EXIT_OK, result.output
    assert "TASK [Install the unit file]\n  changed: local" in result.stdout
    assert table(result.stdout)["local"]["changed"] == 1
    assert "check mode" in result.stdout
    assert not (project.parent / "out" / "unit.txt").exists()


def test_tags_select_tasks(project: Path) -> None:
    result = netmon_provision(project, "site", "--limit", "local", "--tags", "files")
    assert result.exit_code == EXIT_OK, result.output
    assert "TASK [Install the unit file]" in result.stdout
    assert "TASK [Check the unit]" not in result.stdout


def test_a_failed_task_exits_1(project: Path) -> None:
    result = netmon_provision(project, "failing", "--limit", "local")
    assert result.exit_code == EXIT_FAILED, result.output
    assert "TASK [Refuse]\n  failed: local" in result.stdout
    assert "Never reached" not in result.stdout
    assert table(result.stdout)["local"]["failed"] == 1
    assert "refused-Kx81" not in result.stdout  # the result's payload is never printed
    assert "failed or unreachable: local" in result.stderr


def test_an_unreachable_host_exits_1(project: Path) -> None:
    require_binary("ssh")
    result = netmon_provision(project, "site", "--limit", "dead")
    assert result.exit_code == EXIT_FAILED, result.output
    assert "TASK [Install the unit file]\n  unreachable: dead" in result.stdout
    assert table(result.stdout)["dead"]["unreachable"] == 1


def test_a_playbook_ansible_refuses_exits_3_with_its_error(project: Path) -> None:
    result = netmon_provision(project, "broken")
    assert result.exit_code == EXIT_INVALID, result.output
    assert "no_such_module" in result.stderr
    assert "PLAY [" not in result.stdout


def test_an_unknown_playbook_exits_2_listing_the_available(project: Path) -> None:
    result = netmon_provision(project, "sitee")
    assert result.exit_code == EXIT_USAGE
    assert "no playbook 'sitee'" in result.stderr
    assert "available: broken, failing, secrets, site" in result.stderr
    assert not (project.parent / "state" / "provision").exists()
    assert netmon_provision(project, "../netmon.toml").exit_code == EXIT_USAGE


def test_a_missing_inventory_exits_3(project: Path, tmp_path: Path) -> None:
    result = netmon_provision(project, "site", "-i", str(tmp_path / "nowhere"))
    assert result.exit_code == EXIT_INVALID
    assert "not found" in result.stderr


def test_artifacts_stay_under_the_state_dir_pruned_to_keep(project: Path) -> None:
    root = project.parent / "state" / "provision"
    old = ["20200101T000000.000001Z-site", "20200102T000000.000001Z-site",
           "20200103T000000.000001Z-failing"]  # fmt: skip
    for name in old:
        (root / name).mkdir(parents=True)
    (root / "notes").mkdir()  # not a run: left alone
    result = netmon_provision(project, "site", "--limit", "local", "--keep", "2")
    assert result.exit_code == EXIT_OK, result.output
    names = sorted(p.name for p in root.iterdir())
    new = [n for n in names if n not in old and n != "notes"]
    assert len(new) == 1 and new[0].endswith("Z-site")
    assert names == sorted([old[2], "notes", new[0]])
    assert (root / new[0] / "job_events").is_dir()
    assert (root / new[0] / "stdout").is_file()
    assert f"artifacts: {root / new[0]}" in result.stdout


def test_secrets_reach_neither_output_nor_artifacts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETMON_INFLUXDB_PASSWORD", ENV_SECRET)
    result = netmon_provision(project, "secrets", "--limit", "local", "--diff")
    assert result.exit_code == EXIT_OK, result.output
    # The vault was opened and the secret used: the test is not vacuous.
    assert (project.parent / "out" / "password.txt").read_text() == SECRET
    assert "TASK [Write the password]\n  done (no_log): local" in result.stdout
    [run_dir] = runs(project)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(files) > 5
    for text, where in [(result.stdout, "stdout"), (result.stderr, "stderr")] + [
        (p.read_text(errors="replace"), str(p)) for p in files
    ]:
        for secret in (SECRET, VAULT_PASSWORD, ENV_SECRET):
            assert secret not in text, f"{secret!r} in {where}"
    command = json.loads((run_dir / "command").read_text())
    assert command["env"]["ANSIBLE_VAULT_PASSWORD_FILE"].endswith("vault-password")
    assert not any(name.startswith("NETMON_") for name in command["env"])
    assert not (run_dir / "fact_cache").exists()
