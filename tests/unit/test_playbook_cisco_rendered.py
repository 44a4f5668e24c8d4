"""snmp.yml's Cisco IOS play renders the SNMPv3 authPriv configuration we expect, offline.

ansible-runner runs playbooks/snmp.yml against one IOS host with the role's
``snmp_cisco_ios_state: rendered`` (cisco.ios.ios_snmp_server computes the commands and touches
no device). The expected commands are written by hand from Cisco IOS's syntax:
``snmp-server view NAME FAMILY included``, ``snmp-server group NAME v3 priv read VIEW
[access ACL]``, ``snmp-server user USER GROUP v3 auth sha PASS priv aes 128 PASS [access ACL]``.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.playbookrun import BIN, run_snmp_playbook

pytestmark = pytest.mark.ansible

MASK = "********"  # how Ansible shows a module's no_log option values


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # ansible-runner finds ansible-playbook (and Ansible ansible-connection) on PATH.
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def render(tmp_path: Path, host_vars: dict[str, Any], credential: dict[str, str]) -> list[str]:
    rendered_dir = tmp_path / "rendered"
    rendered_dir.mkdir()
    inventory = {
        "all": {
            "children": {
                "cisco_ios": {
                    "hosts": {
                        "h-tdm-ubnd-rt": {
                            # An address nothing listens on: rendering must not connect.
                            "ansible_host": "127.0.0.1",
                            "ansible_port": 9,
                            "ansible_python_interpreter": sys.executable,
                            "netmon_site": "H-TDM-UBND",
                            "netmon_snmp_credential": "ios_v3",
                            "snmp_cisco_ios_state": "rendered",
                            "snmp_cisco_ios_rendered_dir": str(rendered_dir),
                            **host_vars,
                        }
                    }
                }
            },
            "vars": {"netmon_credentials": {"ios_v3": credential}},
        }
    }
    secrets = (credential["auth_password"], credential["priv_password"])
    run = run_snmp_playbook(tmp_path, inventory, secrets)
    assert "h-tdm-ubnd-rt" in run.stats["ok"]
    return (rendered_dir / "h-tdm-ubnd-rt.cfg").read_text().splitlines()


def credential(priv_protocol: str = "aes128") -> dict[str, str]:
    return {
        "version": "3",
        "user": "netmon",
        "auth_protocol": "sha",
        "auth_password": "A" + secrets.token_hex(12),
        "priv_protocol": priv_protocol,
        "priv_password": "P" + secrets.token_hex(12),
    }


def test_v3_authpriv_view_group_user_with_an_access_list(tmp_path: Path) -> None:
    commands = render(tmp_path, {"snmp_cisco_ios_acl": "NETMON-POLLERS"}, credential())
    assert sorted(commands) == sorted(
        [
            "snmp-server view NETMON iso included",
            "snmp-server group NETMON v3 priv read NETMON access NETMON-POLLERS",
            f"snmp-server user netmon NETMON v3 auth sha {MASK} priv aes 128 {MASK}"
            " access NETMON-POLLERS",
            "snmp-server location H-TDM-UBND",
        ]
    )
    assert not any("community" in command for command in commands)


def test_aes256_two_view_families_and_no_access_list(tmp_path: Path) -> None:
    commands = render(
        tmp_path,
        {
            "snmp_cisco_ios_view_families": ["system", "interfaces"],
            "snmp_cisco_ios_contact": "noc.cds",
            "snmp_cisco_ios_group": "NMS",
        },
        credential("aes256"),
    )
    assert sorted(commands) == sorted(
        [
            "snmp-server view NETMON system included",
            "snmp-server view NETMON interfaces included",
            "snmp-server group NMS v3 priv read NETMON",
            f"snmp-server user netmon NMS v3 auth sha {MASK} priv aes 256 {MASK}",
            "snmp-server location H-TDM-UBND",
            "snmp-server contact noc.cds",
        ]
    )


def test_sha2_credentials_are_refused_not_downgraded(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="ios_snmp_server cannot configure SHA-2"):
        render(tmp_path, {}, {**credential(), "auth_protocol": "sha256"})
