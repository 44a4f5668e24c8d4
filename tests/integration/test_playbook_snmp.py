"""Acceptance: playbooks/snmp.yml configures net-snmp for SNMPv3 authPriv, and the agent polls it.

ansible-runner runs snmp.yml against localhost (ansible_connection=local, group linux_servers)
with the snmp_linux role in its ``instance`` mode: the role itself writes snmpd.conf under
tmp_path, starts a separate snmpd daemon (SNMPCONFPATH = that directory and its persistent
directory only, a free 127.0.0.1 UDP port, its own pid file) and creates the user the way
net-snmp-create-v3-user does (createUser in the persistent store, snmpd stopped). The system's
snmpd and /etc/snmp are never touched. The credentials come from the generated inventory's
``netmon_credentials``, as they come from the vaulted group_vars in production.

Then: net-snmp's snmpget answers as that user at authPriv; a v2c ``public`` request gets no
answer; the agent, given the same credentials, polls the instance once and InfluxDB holds a
``snmp`` row for the host with result=success; a second playbook run changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ansible_runner
import pytest

from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.lab import oracle
from agent.lab.influxdb import InfluxServer
from agent.lab.process import free_udp_port
from agent.runner import Agent
from agent.secret import Secret
from agent.settings import load_settings
from tests.agentpoll import poll_every_target_once
from tests.e2e.labinv import InventoryWriter
from tests.peers import require_binary
from tests.playbookrun import BIN, run_snmp_playbook

pytestmark = [pytest.mark.ansible, pytest.mark.snmpd, pytest.mark.influxdb]

HOST = "dc1-lnx-test"
USER = "netmon-ci"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"


class SnmpdInstance:
    """Where the role is told to put the instance, and the credentials it configures."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_udp_port()
        self.auth = Secret("a" + secrets.token_hex(12))
        self.priv = Secret("p" + secrets.token_hex(12))
        self.pid_file = root / "snmpd.pid"

    @property
    def endpoint(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    @property
    def v3(self) -> oracle.V3Credentials:
        return oracle.V3Credentials(USER, self.auth, self.priv, "SHA-256", "AES")

    def host_vars(self) -> dict[str, Any]:
        return {
            "ansible_connection": "local",
            "ansible_become": False,
            "ansible_python_interpreter": sys.executable,
            "netmon_site": "DC1",
            "netmon_snmp_credential": "ci_v3",
            "snmp_linux_run_mode": "instance",
            "snmp_linux_listen_address": "127.0.0.1",
            "snmp_linux_port": self.port,
            "snmp_linux_config_dir": str(self.root / "etc"),
            "snmp_linux_persistent_dir": str(self.root / "lib"),
            "snmp_linux_pid_file": str(self.pid_file),
            "snmp_linux_log_file": str(self.root / "snmpd.log"),
            "snmp_linux_snmpd": require_binary("snmpd"),
            "snmp_linux_snmpget": require_binary("snmpget"),
        }

    def credential(self) -> dict[str, str]:
        return {
            "version": "3",
            "user": USER,
            "auth_protocol": "sha256",
            "auth_password": self.auth.reveal(),
            "priv_protocol": "aes128",
            "priv_password": self.priv.reveal(),
        }

    def stop(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def snmpd_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SnmpdInstance]:
    # ansible-runner finds ansible-playbook on PATH: the venv's.
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    instance = SnmpdInstance(tmp_path / "snmpd")
    yield instance
    instance.stop()


def run_playbook(private_dir: Path, instance: SnmpdInstance) -> ansible_runner.Runner:
    inventory = {
        "all": {
            "children": {"linux_servers": {"hosts": {HOST: instance.host_vars()}}},
            "vars": {"netmon_credentials": {"ci_v3": instance.credential()}},
        }
    }
    secrets = (instance.auth.reveal(), instance.priv.reveal())
    return run_snmp_playbook(private_dir, inventory, secrets)


def poll_with_agent(
    instance: SnmpdInstance,
    influx: InfluxServer,
    database: str,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inv = InventoryWriter(root / "agent-inv")
    credential = inv.v3("ci_v3", USER, instance.auth.reveal(), instance.priv.reveal())
    inv.host(HOST, "127.0.0.1", instance.port, credential)
    for name, value in inv.env.items():
        monkeypatch.setenv(name, value)
    registry = CollectorRegistry.from_entry_points()
    settings = load_settings(
        None,
        {
            "NETMON_INFLUXDB_URL": influx.url,
            "NETMON_INFLUXDB_DATABASE": database,
            "NETMON_AGENT_NAME": "test-agent",
            "NETMON_STATE_DIR": str(root / "agent-state"),
        },
    )
    agent = Agent.build(settings, load_inventory(inv.write(), registry), registry)
    asyncio.run(poll_every_target_once(agent))
    assert agent.writer.stats.lines_quarantined == 0
    assert agent.buffer.lines_buffered == 0


def test_playbook_configures_snmpv3_that_the_agent_polls_into_influxdb(
    snmpd_instance: SnmpdInstance,
    influx_server: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snmpget = require_binary("snmpget")
    first = run_playbook(tmp_path / "runner-1", snmpd_instance)
    assert first.stats["changed"].get(HOST, 0) > 0
    assert snmpd_instance.pid_file.exists()

    answer = oracle.get(
        snmpd_instance.endpoint, [SYS_OBJECT_ID], v3=snmpd_instance.v3, tool=snmpget
    )
    assert answer[SYS_OBJECT_ID][0] == oracle.OBJECT_IDENTIFIER
    with pytest.raises(oracle.OracleError, match="Timeout"):
        oracle.get(
            snmpd_instance.endpoint,
            [SYS_OBJECT_ID],
            community="public",
            timeout=1,
            retries=0,
            tool=snmpget,
        )
    wrong = oracle.V3Credentials(USER, snmpd_instance.auth, Secret("wrong-" + secrets.token_hex(6)))
    with pytest.raises(oracle.OracleError):
        oracle.get(snmpd_instance.endpoint, [SYS_OBJECT_ID], v3=wrong, timeout=1, tool=snmpget)

    poll_with_agent(snmpd_instance, influx_server, influx_db, tmp_path, monkeypatch)
    rows = influx_server.rows(
        f'SELECT "result_code", "sysUpTime", "result" FROM "snmp" WHERE "source" = \'{HOST}\'',
        influx_db,
    )
    assert rows, "no snmp row for the host"
    assert {row["result"] for row in rows} == {"success"}
    assert {row["result_code"] for row in rows} == {0}

    second = run_playbook(tmp_path / "runner-2", snmpd_instance)
    assert second.stats["changed"].get(HOST, 0) == 0
    assert HOST in second.stats["ok"]
