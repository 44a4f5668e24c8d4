"""agent.provision without Ansible: playbook names, the environment ansible-playbook gets,
progress lines from events, the summary from stats, pruning and the exit code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from agent.provision.cli import exit_code
from agent.provision.runner import (
    HostSummary,
    PlaybookNotFound,
    Progress,
    ProvisionRequest,
    RunResult,
    inherited,
    new_run_dir_name,
    progress_line,
    prune_runs,
    resolve_playbook,
    runner_environment,
    summarize,
    summary_table,
)


@pytest.fixture
def playbooks(tmp_path: Path) -> Path:
    for name in ("site.yml", "snmp.yaml", "_shared.yml", "notes.txt"):
        (tmp_path / name).write_text("- hosts: all\n")
    (tmp_path / "files").mkdir()
    return tmp_path


@pytest.mark.parametrize(("name", "found"), [("site", "site.yml"), ("site.yml", "site.yml"),
                                             ("snmp", "snmp.yaml")])  # fmt: skip
def test_a_playbook_is_named_with_or_without_suffix(playbooks: Path, name: str, found: str) -> None:
    assert resolve_playbook(playbooks, name) == (playbooks / found).resolve()


@pytest.mark.parametrize("name", ["nope", "notes.txt", "files", "../site", "/etc/passwd", ""])
def test_an_unknown_playbook_names_the_available(playbooks: Path, name: str) -> None:
    with pytest.raises(PlaybookNotFound) as raised:
        resolve_playbook(playbooks, name)
    assert raised.value.available == ["site", "snmp"]
    assert "available: site, snmp" in str(raised.value)


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("PATH", True),
        ("LC_ALL", True),
        ("SSH_AUTH_SOCK", True),
        ("ANSIBLE_CONFIG", True),
        ("ANSIBLE_HOST_KEY_CHECKING", True),
        ("ANSIBLE_VAULT_PASSWORD_FILE", True),
        ("ANSIBLE_PRIVATE_KEY_FILE", True),
        ("ANSIBLE_NET_PASSWORD", False),
        ("ANSIBLE_BECOME_PASS", False),
        ("ANSIBLE_GALAXY_TOKEN", False),
        ("NETMON_INFLUXDB_PASSWORD", False),
        ("NETMON_CONFIG", False),
        ("AWS_SECRET_ACCESS_KEY", False),
        ("SOMETHING_ELSE", False),
    ],
)
def test_only_an_allow_list_of_the_environment_is_inherited(name: str, kept: bool) -> None:
    assert inherited(name) is kept


def test_runner_environment_keeps_runners_and_ours_drops_the_agents() -> None:
    parent = {"PATH": "/usr/bin", "NETMON_INFLUXDB_PASSWORD": "pw", "HOME": "/root"}
    ours = {"PATH": "/venv/bin:/usr/bin", "ANSIBLE_VAULT_PASSWORD_FILE": "/etc/netmon/vault"}
    prepared = {**parent, **ours, "ANSIBLE_STDOUT_CALLBACK": "awx_display",
                "ANSIBLE_HOST_KEY_CHECKING": "False", "RUNNER_OMIT_EVENTS": "False"}  # fmt: skip
    assert runner_environment(prepared, parent, ours) == {
        "PATH": "/venv/bin:/usr/bin",
        "HOME": "/root",
        "ANSIBLE_VAULT_PASSWORD_FILE": "/etc/netmon/vault",
        "ANSIBLE_STDOUT_CALLBACK": "awx_display",
        "RUNNER_OMIT_EVENTS": "False",
    }
    operator = {**parent, "ANSIBLE_HOST_KEY_CHECKING": "False"}
    assert "ANSIBLE_HOST_KEY_CHECKING" in runner_environment(prepared, operator, ours)


def test_the_vault_password_is_a_path_and_extra_vars_a_file(tmp_path: Path) -> None:
    request = ProvisionRequest(
        playbook=tmp_path / "site.yml",
        inventory=tmp_path,
        artifacts_root=tmp_path,
        check=True,
        diff=True,
        extra_vars_file=tmp_path / "extra vars.yml",
        vault_password_file=tmp_path / "vault",
    )
    assert request.cmdline() == f"--check --diff -e '@{tmp_path / 'extra vars.yml'}'"
    env = request.envvars({"PATH": "/usr/bin"})
    assert env["ANSIBLE_VAULT_PASSWORD_FILE"] == str(tmp_path / "vault")
    assert ProvisionRequest(tmp_path, tmp_path, tmp_path).cmdline() is None


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": data, "stdout": ""}


def test_progress_lines_name_play_task_host_and_never_the_result() -> None:
    events = [
        event("playbook_on_start"),
        event("playbook_on_play_start", play="Configure"),
        event("playbook_on_task_start", task="Write", role="agent"),
        event("runner_on_start", host="r1"),
        event("runner_on_ok", host="r1", res={"changed": True, "msg": "pw=hunter2"}),
        event("runner_on_ok", host="r2", res={"changed": False}),
        event("runner_on_ok", host="r3", res={"censored": "the output has been hidden"}),
        event("runner_on_failed", host="r4", res={"msg": "hunter2"}, ignore_errors=None),
        event("runner_on_failed", host="r5", res={}, ignore_errors=True),
        event("runner_on_unreachable", host="r6", res={"msg": "refused"}),
        event("runner_on_skipped", host="r7"),
        event("playbook_on_handler_task_start", task="restart"),
        event("playbook_on_no_hosts_matched"),
        event("playbook_on_stats", ok={"r1": 1}),
    ]
    lines: list[str] = []
    progress = Progress(lines.append)
    assert all(progress(e) for e in events)  # every event is kept in job_events/
    assert lines == [
        "PLAY [Configure]",
        "TASK [agent : Write]",
        "  changed: r1",
        "  ok: r2",
        "  done (no_log): r3",
        "  failed: r4",
        "  failed (ignored): r5",
        "  unreachable: r6",
        "  skipped: r7",
        "HANDLER [restart]",
        "  no hosts matched",
    ]
    assert progress.plays_started == 1
    assert not any("hunter2" in line for line in lines)


def test_ansibles_own_errors_are_kept_without_colour() -> None:
    progress = Progress(lambda _: None)
    progress({"event": "verbose", "stdout": "\x1b[0;31m[ERROR]: couldn't resolve module\x1b[0m"})
    progress({"event": "verbose", "stdout": "Origin: /p/site.yml:4:7"})
    progress({"event": "verbose", "stdout": "4     - name: bad"})
    assert progress.errors == ["[ERROR]: couldn't resolve module", "Origin: /p/site.yml:4:7"]
    assert progress_line({"event": "verbose", "stdout": "[ERROR]: x"}) is None


STATS = {
    "ok": {"r1": 4, "r2": 1},
    "changed": {"r1": 2},
    "dark": {"r3": 1},
    "failures": {"r2": 1},
    "skipped": {"r1": 1},
    "rescued": {},
    "ignored": {"r2": 1},
    "processed": {"r1": 1, "r2": 1, "r3": 1},
}


def test_the_summary_has_a_row_per_host_of_runner_stats() -> None:
    rows = summarize(STATS)
    assert rows == [
        HostSummary("r1", ok=4, changed=2, skipped=1),
        HostSummary("r2", ok=1, failed=1, ignored=1),
        HostSummary("r3", unreachable=1),
    ]
    assert summary_table(rows).splitlines() == [
        "host  ok  changed  unreachable  failed  skipped  rescued  ignored",
        "r1     4        2            0       0        1        0        0",
        "r2     1        0            0       1        0        0        1",
        "r3     0        0            1       0        0        0        0",
    ]
    assert summarize(None) == []


def result(status: str = "successful", rc: int = 0, ran: bool = True, **counts: int) -> RunResult:
    hosts = [HostSummary("r1", ok=1, **counts)] if ran else []
    return RunResult(status, rc, hosts, ran, [], Path("/x"))


@pytest.mark.parametrize(
    ("run", "code"),
    [
        (result(), EXIT_OK),
        (result(status="failed", rc=2, failed=1), EXIT_FAILED),
        (result(status="failed", rc=4, unreachable=1), EXIT_FAILED),
        (result(status="failed", rc=4, ran=False), EXIT_INVALID),
        (result(status="failed", rc=1, ran=False), EXIT_INVALID),
        (result(status="timeout", rc=254, ran=False), EXIT_FAILED),
        (result(status="canceled", rc=99), EXIT_FAILED),
    ],
)
def test_exit_codes(run: RunResult, code: int) -> None:
    assert exit_code(run) == code


def test_only_the_newest_runs_are_kept(tmp_path: Path) -> None:
    start = datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
    names = [new_run_dir_name(f"pb{i}", start + timedelta(seconds=i)) for i in range(5)]
    for name in reversed(names):
        (tmp_path / name).mkdir()
    (tmp_path / "keep-me").mkdir()
    removed = prune_runs(tmp_path, 2)
    assert sorted(p.name for p in removed) == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names[3:], "keep-me"])
    assert new_run_dir_name("a b/c", start) == "20260131T235959.000000Z-a_b_c"
