"""The province inventory and its lab twin: Ansible reads both, netmon accepts both, and the
province has the shape the network has (184 connection points, 2 data centres, ~120
videoconference bridge points, every service owned by a department)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.inventory.model import Inventory
from agent.lab import mapping
from collectors.snmp.config import UsmCredential

pytestmark = pytest.mark.ansible

PROVINCE = Path("inventory/binhduong")
LAB = Path("inventory/lab")
VAULTS = {
    PROVINCE: PROVINCE / "vault-password.PLACEHOLDER.txt",
    LAB: LAB / "vault-password.txt",
}
LEVELS = ("province", "district", "commune")
#: Documentation and benchmarking ranges: addresses that can never be a real device.
PLACEHOLDER_NETS = [
    ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15")
]


@pytest.fixture(scope="module", params=[PROVINCE, LAB], ids=["binhduong", "lab"])
def inventory(request: pytest.FixtureRequest) -> Inventory:
    path: Path = request.param
    return load_inventory(
        path, CollectorRegistry.from_entry_points(), vault_password_file=VAULTS[path]
    )


@pytest.mark.parametrize("path", [PROVINCE, LAB], ids=["binhduong", "lab"])
def test_ansible_inventory_lists_it_without_a_warning(path: Path) -> None:
    listed = subprocess.run(  # the venv's ansible-inventory, as automation engineers run it
        [
            str(Path(sys.executable).with_name("ansible-inventory")),
            "-i",
            str(path),
            "--list",
            "--vault-password-file",
            str(VAULTS[path]),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr
    assert "WARNING" not in listed.stderr.upper(), listed.stderr
    assert len(json.loads(listed.stdout)["_meta"]["hostvars"]) > 300


def _members(inventory: Inventory, *groups: str) -> set[str]:
    found = set(inventory.groups.get(groups[0], ()))
    for group in groups[1:]:
        found &= set(inventory.groups.get(group, ()))
    return found


def test_184_connection_points_by_level(inventory: Inventory) -> None:
    points = _members(inventory, "connection_points")
    assert len(points) == 184
    by_level = {level: len(points & _members(inventory, level)) for level in LEVELS}
    assert by_level == {"province": 66, "district": 27, "commune": 91}
    districts = sorted(g for g in inventory.groups if g.startswith("dist_"))
    assert len(districts) == 9
    for district in districts:
        district_points = points & _members(inventory, district, "district")
        assert len(district_points) == 3, district
    # Every point is a described site with its own site code, name, location and owner.
    sites = [inventory.described[p].settings for p in points]
    assert len({s.netmon_site for s in sites}) == 184
    assert all(s.netmon_site_name and s.netmon_department and s.netmon_location for s in sites)


def test_two_data_centres_and_the_videoconference_system(inventory: Inventory) -> None:
    dc_sites = {inventory.described[h].settings.netmon_site for h in _members(inventory, "dc")}
    assert dc_sites == {"DC1", "DC2"}
    for dc in ("dc1", "dc2"):
        roles = {r for r in ("routers", "switches", "firewalls", "servers", "ups")}
        assert all(_members(inventory, dc, role) for role in roles), dc
    bridges = _members(inventory, "vc_endpoints")
    assert 110 <= len(bridges) <= 130
    by_level = Counter(inventory.described[b].settings.netmon_level for b in bridges)
    assert set(by_level) == set(LEVELS)  # with the central level outside: four levels
    assert len(_members(inventory, "vc_mcu")) >= 1


def test_every_service_has_an_owning_department_and_components(inventory: Inventory) -> None:
    services = inventory.services
    assert len(services) >= 12
    departments = {h.settings.netmon_department for h in inventory.described.values()}
    for service_id, service in services.items():
        assert service.department in departments, service_id
        assert service.components(dict(inventory.groups)), service_id
    kinds = Counter(s.kind for s in services.values())
    assert kinds["egov"] >= 11 and kinds["videoconference"] >= 1


def test_every_uplink_chain_ends_at_the_data_centre(inventory: Inventory) -> None:
    for name in _members(inventory, "connection_points"):
        seen = [name]
        while uplink := inventory.described[seen[-1]].settings.netmon_uplink:
            assert uplink not in seen, f"uplink loop {seen}"
            seen.append(uplink)
        assert inventory.described[seen[-1]].settings.netmon_level == "dc", seen


def test_province_addresses_are_placeholders_and_credentials_are_v3_from_the_vault() -> None:
    province = load_inventory(
        PROVINCE, CollectorRegistry.from_entry_points(), vault_password_file=VAULTS[PROVINCE]
    )
    for host in province.described.values():
        address = ip_address(host.address)
        assert any(address in net for net in PLACEHOLDER_NETS), host.name
    for host in province.hosts.values():
        if "snmp" in host.checks:
            credential = host.checks["snmp"].credential
            assert isinstance(credential, UsmCredential) and credential.priv_password is not None


def test_every_point_service_and_bridge_point_has_its_probes(inventory: Inventory) -> None:
    checks = {name: set(host.checks) for name, host in inventory.hosts.items()}
    for name in _members(inventory, "connection_points"):
        assert {"snmp", "ping"} <= checks[name], name
    for name in _members(inventory, "vc_endpoints"):
        assert checks[name] == {"vc"}, name
    for name in _members(inventory, "egov_frontends"):
        assert checks[name] == {"ping", "http"}, name
        # The HTTP probe asks the front end's own URL, described once as netmon_url.
        host = inventory.hosts[name]
        assert host.checks["http"].url == host.settings.netmon_url
    for name in _members(inventory, "vc_mcu"):
        assert checks[name] == {"ping", "sip"}, name


def test_lab_is_the_province_host_for_host_on_loopback() -> None:
    assert mapping.stale(PROVINCE, LAB) == []  # `netmon lab map --check`
    province = load_inventory(
        PROVINCE, CollectorRegistry.from_entry_points(), vault_password_file=VAULTS[PROVINCE]
    )
    lab = load_inventory(
        LAB, CollectorRegistry.from_entry_points(), vault_password_file=VAULTS[LAB]
    )
    assert set(lab.described) == set(province.described)
    assert dict(lab.groups) == dict(province.groups)
    for name, host in lab.described.items():
        assert ip_address(host.address).is_loopback, name
        assert host.settings.netmon_site == province.described[name].settings.netmon_site
    served = Counter(str(h.lab.get("recording") or h.lab.get("peer")) for h in lab.hosts.values())
    # The fleet's diversity: every shipped device class answers for some lab host.
    assert set(served) >= {
        "mikrotik-crs317",
        "cisco-isr4321",
        "huawei-ne40e-m2k",
        "juniper-mx5-t",
        "cisco-catalyst-2960x",
        "fortinet-fortigate-500d",
        "vmware-esxi-7",
        "microsoft-windows-server-2019",
        "apc-smart-ups-smtl1000",
        "snmpd",
    }
