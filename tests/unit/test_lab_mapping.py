"""Deriving the lab from the province: addresses and who answers, by device class."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from agent.lab.mapping import MappingError, plan_addresses

GROUPS = {
    "dc1-core-01": ["dc", "dc1", "routers"],
    "dc1-lnx-01": ["dc", "dc1", "servers", "linux_servers"],
    "dc2-fw-01": ["dc", "dc2", "firewalls"],
    "h-a-ubnd-rt": ["district", "dist_a", "connection_points", "routers"],
    "h-a-hu-cpe": ["district", "dist_a", "connection_points", "routers"],
    "x-a-one-cpe": ["commune", "dist_a", "connection_points", "routers"],
    "x-a-two-cpe": ["commune", "dist_a", "connection_points", "routers"],
    "x-b-three-cpe": ["commune", "dist_b", "connection_points", "routers"],
    "h-b-ubnd-rt": ["district", "dist_b", "connection_points", "routers"],
    "t-stttt-cpe": ["province", "connection_points", "routers"],
    "vc-x-a-one": ["commune", "dist_a", "vc_endpoints"],
    "vc-h-a-hu": ["district", "dist_a", "vc_endpoints"],
    "svc-portal": ["dc", "dc1", "egov_frontends"],
    "dc1-vc-mcu-01": ["dc", "dc1", "vc_mcu"],
}
UPLINKS = {
    "h-a-hu-cpe": "h-a-ubnd-rt",
    "x-a-one-cpe": "h-a-ubnd-rt",
    "x-a-two-cpe": "h-a-ubnd-rt",
    "x-b-three-cpe": "h-b-ubnd-rt",
    "vc-x-a-one": "x-a-one-cpe",
    "vc-h-a-hu": "h-a-hu-cpe",  # a codec hangs off a district CPE: that makes it no hub
}
HOSTVARS = {name: {"netmon_uplink": UPLINKS[name]} if name in UPLINKS else {} for name in GROUPS}


@pytest.fixture(scope="module")
def lab() -> dict[str, dict[str, object]]:
    return {h.name: dict(h.variables) for h in plan_addresses(GROUPS, HOSTVARS)}


def test_every_host_gets_a_distinct_loopback_address(lab: dict[str, dict[str, object]]) -> None:
    addresses = [str(v["ansible_host"]) for v in lab.values()]
    assert len(set(addresses)) == len(GROUPS)
    assert all(ip_address(a).is_loopback for a in addresses)


def test_addresses_say_level_and_district(lab: dict[str, dict[str, object]]) -> None:
    assert str(lab["t-stttt-cpe"]["ansible_host"]).startswith("127.1.0.")
    # Districts are numbered in name order: dist_a is 1, dist_b is 2.
    assert str(lab["x-a-one-cpe"]["ansible_host"]).startswith("127.3.1.")
    assert str(lab["x-b-three-cpe"]["ansible_host"]).startswith("127.3.2.")
    assert str(lab["h-b-ubnd-rt"]["ansible_host"]).startswith("127.2.2.")
    assert str(lab["dc2-fw-01"]["ansible_host"]).startswith("127.4.2.")


def test_device_classes_follow_the_fleet(lab: dict[str, dict[str, object]]) -> None:
    assert lab["dc1-core-01"]["netmon_lab_recording"] == "juniper-mx5-t"
    assert lab["dc2-fw-01"]["netmon_lab_recording"] == "fortinet-fortigate-500d"
    assert lab["dc1-lnx-01"]["netmon_lab_peer"] == "snmpd"
    assert lab["dc1-lnx-01"]["netmon_snmp_credential"] == "lab_v3"
    routers = {lab[h]["netmon_lab_recording"] for h in ("h-a-ubnd-rt", "h-b-ubnd-rt")}
    assert routers == {"huawei-ne40e-m2k", "cisco-isr4321"}  # alternating
    communes = {lab[h]["netmon_lab_recording"] for h in ("x-a-one-cpe", "x-a-two-cpe")}
    assert communes == {"mikrotik-crs317", "cisco-isr4321"}
    # A CPE with a codec behind it is still a CPE, not a district router.
    assert lab["h-a-hu-cpe"]["netmon_lab_recording"] != "huawei-ne40e-m2k"


def test_services_get_lab_urls_and_the_mcu_a_sip_port(lab: dict[str, dict[str, object]]) -> None:
    assert lab["svc-portal"]["netmon_url"] == f"https://{lab['svc-portal']['ansible_host']}:18443/"
    assert lab["dc1-vc-mcu-01"]["netmon_lab_sip_port"] == 15060
    assert set(lab["vc-x-a-one"]) == {"ansible_host"}


def test_a_host_no_rule_knows_is_an_error() -> None:
    with pytest.raises(MappingError, match="mystery: no lab mapping for groups printers"):
        plan_addresses({"mystery": ["printers"]}, {})
