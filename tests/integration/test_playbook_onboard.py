"""`netmon provision onboard_site` on a new site of a lab inventory, end to end.

The site's one device is this machine (ansible_connection local): the playbook configures a
separate net-snmp instance on a free loopback port with the site's SNMPv3 authPriv user from
the vaulted inventory, polls it once with the agent's own `netmon poll`, and reports. Then the
agent polls the site into a real InfluxDB, and `netmon dashboards build` shows it: the
gazetteer places it, and the province overview's variables and status grid list it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from agent.collector import CollectorRegistry
from agent.dashboards.validate import run_dashboard, variable_values
from agent.inventory.loader import load_inventory
from agent.lab.influxdb import InfluxServer
from agent.lab.process import free_tcp_port, free_udp_port
from agent.runner import Agent
from agent.settings import load_settings
from agent.sla.influx import InfluxClient
from tests.agentpoll import poll_every_target_once
from tests.fixtures_influx import influx_db, influx_server
from tests.peers import require_binary

pytestmark = [pytest.mark.ansible, pytest.mark.snmpd, pytest.mark.influxdb]
__all__ = ["influx_db", "influx_server"]

SITE = "X-TDM-MOI"
HOST = "x-tdm-moi-srv"
VAULT_PASSWORD = "onboard-test-vault-Pw1"
AUTH = "Auth-onboard-7f3a"
PRIV = "Priv-onboard-91c2"


def _vaulted(text: str) -> str:
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    return vault.encrypt(text.encode()).decode()


class _Vault(str):
    """A YAML `!vault |` scalar."""


def _vault_representer(dumper: yaml.SafeDumper, data: _Vault) -> yaml.Node:
    return dumper.represent_scalar("!vault", str(data), style="|")


yaml.SafeDumper.add_representer(_Vault, _vault_representer)


@pytest.fixture
def site(tmp_path: Path, influx_server: InfluxServer, influx_db: str) -> Iterator[Path]:
    """A lab inventory holding only the new site, its settings, and the snmpd it gets."""
    require_binary("snmpd")
    require_binary("snmpget")
    port = free_udp_port()
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    instance = tmp_path / "snmpd"
    host = {
        "ansible_connection": "local",
        "ansible_host": "127.0.0.1",
        "ansible_python_interpreter": sys.executable,
        "ansible_become": False,
        "netmon_snmp_port": port,
        "netmon_snmp_credential": "site_v3",
        "snmp_linux_run_mode": "instance",
        "snmp_linux_listen_address": "127.0.0.1",
        "snmp_linux_config_dir": str(instance / "etc"),
        "snmp_linux_persistent_dir": str(instance / "var"),
        "snmp_linux_pid_file": str(instance / "snmpd.pid"),
    }
    hosts = {"all": {"children": {"linux_servers": {"hosts": {HOST: host}}}}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    variables = {
        "netmon_checks": ["snmp"],
        "netmon_site": SITE,
        "netmon_site_name": "UBND xã Mới",
        "netmon_level": "commune",
        "netmon_district": "TDM",
        "netmon_department": "UBND xã Mới",
        "netmon_location": {"lat": 10.98, "lon": 106.65},
        "netmon_interval": 5,
        "netmon_credentials": {
            "site_v3": {
                "version": "3",
                "user": "netmon_moi",
                "auth_protocol": "sha256",
                "auth_password": _Vault(_vaulted(AUTH)),
                "priv_protocol": "aes128",
                "priv_password": _Vault(_vaulted(PRIV)),
            }
        },
    }
    (inventory / "group_vars" / "all" / "netmon.yml").write_text(
        yaml.safe_dump(variables, allow_unicode=True)
    )
    vault_file = tmp_path / "vault-password.txt"
    vault_file.write_text(VAULT_PASSWORD + "\n")
    settings = tmp_path / "netmon.toml"
    settings.write_text(
        f'agent_name = "onboard-test"\nstate_dir = "{tmp_path / "state"}"\n'
        f'[inventory]\npath = "{inventory}"\nvault_password_file = "{vault_file}"\n'
        f'[influxdb]\nurl = "{influx_server.url}"\ndatabase = "{influx_db}"\n'
        f'[metrics]\nlisten = "127.0.0.1:{free_tcp_port()}"\n'
    )
    yield settings
    pid_file = instance / "snmpd.pid"
    if pid_file.exists():  # the instance the playbook started
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)


def _netmon(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "-c", str(settings), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_an_onboarded_site_is_polled_and_shows_in_the_dashboards(
    site: Path, tmp_path: Path, influx_server: InfluxServer, influx_db: str
) -> None:
    extra = tmp_path / "onboard.yml"
    cli = f"{sys.executable} -m agent -c {site}"
    extra.write_text(yaml.safe_dump({"netmon_onboard_site": SITE, "netmon_onboard_cli": cli}))
    done = _netmon(site, "provision", "onboard_site", "--extra-vars-file", str(extra))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert HOST in done.stdout
    for secret in (AUTH, PRIV, VAULT_PASSWORD):
        assert secret not in done.stdout + done.stderr
        for path in (tmp_path / "state" / "provision").rglob("*"):
            assert not path.is_file() or secret not in path.read_text(errors="replace"), path

    # The agent polls the site with the same inventory and credentials.
    settings = load_settings(site, environ={})
    inventory = load_inventory(
        settings.inventory.path,
        CollectorRegistry.from_entry_points(),
        vault_password_file=settings.inventory.vault_password_file,
    )
    agent = Agent.build(settings, inventory, CollectorRegistry.from_entry_points())
    asyncio.run(poll_every_target_once(agent))
    rows = influx_server.rows(
        f'SELECT "result_code", "result", "site" FROM "snmp" WHERE "source" = \'{HOST}\'',
        influx_db,
    )
    assert rows and {row["result"] for row in rows} == {"success"}
    assert {row["site"] for row in rows} == {SITE}

    # ... and `netmon dashboards build` shows it.
    out = tmp_path / "dashboards"
    done = _netmon(site, "dashboards", "build", "-o", str(out))
    assert done.returncode == 0, done.stderr
    places = json.loads((out / "gazetteer" / "tslcd-sites.json").read_text())
    assert [p["key"] for p in places] == [SITE]
    board = json.loads((out / "network" / "tslcd-province-overview.json").read_text())
    with InfluxClient(settings.influxdb) as client:
        assert SITE in variable_values(client, board, {})["site"]
        [grid] = [p for p in board["panels"] if p["type"] == "stat"]
        [outcome] = run_dashboard(client, {**board, "panels": [grid]})
        assert outcome.ok, outcome
