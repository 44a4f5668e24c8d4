"""Decoding and naming traps from pysnmp-built PDUs (collectors.traps.decode and .samples).

The varbinds are what pysnmp hands the receiver: SNMPv2 PDUs as built by pysnmp's v2c API, and
SNMPv1 trap PDUs translated by pysnmp's own RFC 3584 proxy (rfc2576.v1_to_v2), as the
NotificationReceiver does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pysnmp.proto import rfc1902
from pysnmp.proto.api import v1, v2c
from pysnmp.proto.proxy import rfc2576

from agent.schema import SchemaRegistry, base_schema
from collectors.snmp.profiles import shipped_profiles
from collectors.traps.decode import MAX_VALUE_CHARS, NotATrapError, notification
from collectors.traps.samples import TRAP_MEASUREMENTS, interface_sample, trap_sample

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
T0 = 1_700_000_000_000_000_000


def v2_pdu(trap_oid: str, *var_binds: tuple[str, Any], uptime: int = 4200) -> list[Any]:
    pdu = v2c.TrapPDU()
    v2c.apiTrapPDU.set_defaults(pdu)
    v2c.apiTrapPDU.set_varbinds(
        pdu,
        [
            (v2c.ObjectIdentifier("1.3.6.1.2.1.1.3.0"), v2c.TimeTicks(uptime)),
            (v2c.ObjectIdentifier("1.3.6.1.6.3.1.1.4.1.0"), v2c.ObjectIdentifier(trap_oid)),
            *((v2c.ObjectIdentifier(oid), value) for oid, value in var_binds),
        ],
    )
    return list(v2c.apiTrapPDU.get_varbinds(pdu))


def v1_pdu(generic: int, specific: int = 0, *var_binds: tuple[str, Any]) -> list[Any]:
    pdu = v1.TrapPDU()
    v1.apiTrapPDU.set_defaults(pdu)
    v1.apiTrapPDU.set_enterprise(pdu, (1, 3, 6, 1, 4, 1, 8072))
    v1.apiTrapPDU.set_agent_address(pdu, "127.9.4.11")
    v1.apiTrapPDU.set_generic_trap(pdu, generic)
    v1.apiTrapPDU.set_specific_trap(pdu, specific)
    v1.apiTrapPDU.set_timestamp(pdu, 77)
    v1.apiTrapPDU.set_varbinds(pdu, [(v1.ObjectIdentifier(oid), value) for oid, value in var_binds])
    translated = rfc2576.v1_to_v2(pdu, snmpTrapCommunity="s3cret-community")
    return list(v2c.apiTrapPDU.get_varbinds(translated))


def test_link_down_carries_the_interface_as_typed_fields_and_names_the_trap() -> None:
    trap = notification(
        "2c",
        v2_pdu(
            LINK_DOWN,
            ("1.3.6.1.2.1.2.2.1.1.7", v2c.Integer(7)),
            ("1.3.6.1.2.1.2.2.1.7.7", v2c.Integer(1)),
            ("1.3.6.1.2.1.2.2.1.8.7", v2c.Integer(2)),
            ("1.3.6.1.2.1.31.1.1.1.1.7", v2c.OctetString("Gi0/7")),
        ),
    )
    assert (trap.name, trap.trap_oid, trap.version) == ("linkDown", LINK_DOWN, "2c")
    assert trap.numbers == {"sysUpTime": 4200, "ifIndex": 7, "ifAdminStatus": 1, "ifOperStatus": 2}
    assert json.loads(trap.varbinds_json()) == {
        "1.3.6.1.2.1.1.3.0": "4200",
        "1.3.6.1.6.3.1.1.4.1.0": LINK_DOWN,
        "1.3.6.1.2.1.2.2.1.1.7": "7",
        "1.3.6.1.2.1.2.2.1.7.7": "1",
        "1.3.6.1.2.1.2.2.1.8.7": "2",
        "1.3.6.1.2.1.31.1.1.1.1.7": "Gi0/7",
    }
    row = trap_sample(trap, "cpe-11", T0)
    assert row.measurement == "snmp_trap"
    assert row.tags == {"source": "cpe-11", "trap": "linkDown", "version": "2c"}
    assert row.fields["received"] == 1
    assert row.fields["ifOperStatus"] == 2
    labels = {"sysName": "cpe11", "ifName": "Gi0/7", "ifDescr": "GigabitEthernet0/7", "x": "y"}
    link = interface_sample(trap, "cpe-11", labels, T0)
    assert link is not None
    assert link.tags == {
        "source": "cpe-11",
        "ifIndex": "7",
        "sysName": "cpe11",
        "ifName": "Gi0/7",
        "ifDescr": "GigabitEthernet0/7",
    }
    assert link.fields == {"ifOperStatus": 2, "ifAdminStatus": 1}


def test_link_up_without_a_status_varbind_implies_up_from_the_index_alone() -> None:
    trap = notification(
        "3", v2_pdu("1.3.6.1.6.3.1.1.5.4", ("1.3.6.1.2.1.2.2.1.1.3", v2c.Integer(3)))
    )
    link = interface_sample(trap, "sw-1", {}, T0)
    assert link is not None
    assert link.tags == {"source": "sw-1", "ifIndex": "3"}
    assert link.fields == {"ifOperStatus": 1}


def test_the_index_is_read_from_a_status_column_when_ifindex_is_absent() -> None:
    trap = notification("2c", v2_pdu(LINK_DOWN, ("1.3.6.1.2.1.2.2.1.8.12", v2c.Integer(7))))
    assert trap.numbers["ifIndex"] == 12
    link = interface_sample(trap, "r", {}, T0)
    assert link is not None
    assert link.fields == {"ifOperStatus": 7}


def test_a_link_trap_naming_no_interface_makes_no_interface_row() -> None:
    trap = notification("2c", v2_pdu(LINK_DOWN))
    assert interface_sample(trap, "r", {}, T0) is None


def test_other_traps_make_no_interface_row_and_unknown_ones_are_named_by_oid() -> None:
    trap = notification(
        "2c", v2_pdu("1.3.6.1.4.1.99999.0.5", ("1.3.6.1.2.1.2.2.1.8.1", v2c.Integer(2)))
    )
    assert trap.name == "1.3.6.1.4.1.99999.0.5"
    assert interface_sample(trap, "r", {}, T0) is None


@pytest.mark.parametrize(
    ("oid", "name"),
    [
        ("1.3.6.1.6.3.1.1.5.1", "coldStart"),
        ("1.3.6.1.6.3.1.1.5.2", "warmStart"),
        ("1.3.6.1.6.3.1.1.5.5", "authenticationFailure"),
        ("1.3.6.1.2.1.15.0.2", "bgpBackwardTransNotification"),
        ("1.3.6.1.4.1.9.9.43.2.0.1", "ciscoConfigManEvent"),
    ],
)
def test_well_known_traps_are_named(oid: str, name: str) -> None:
    assert notification("2c", v2_pdu(oid)).name == name


def test_a_v1_trap_keeps_its_agent_address_and_never_its_community() -> None:
    var_binds = v1_pdu(2, 0, ("1.3.6.1.2.1.2.2.1.1.4", v1.Integer(4)))
    trap = notification("1", var_binds)
    assert (trap.name, trap.agent_address) == ("linkDown", "127.9.4.11")
    assert trap.numbers == {"sysUpTime": 77, "ifIndex": 4}
    text = trap.varbinds_json()
    assert "s3cret-community" not in text
    assert "1.3.6.1.6.3.18.1.4.0" not in json.loads(text)
    assert json.loads(text)["1.3.6.1.6.3.18.1.3.0"] == "127.9.4.11"


def test_a_v1_enterprise_specific_trap_is_enterprise_zero_specific() -> None:
    trap = notification("1", v1_pdu(6, 42))
    assert trap.trap_oid == "1.3.6.1.4.1.8072.0.42"
    assert trap.name == trap.trap_oid


def test_the_agent_address_varbind_of_a_v2_trap_is_not_an_agent_address() -> None:
    trap = notification(
        "2c", v2_pdu(LINK_DOWN, ("1.3.6.1.6.3.18.1.3.0", rfc1902.IpAddress("10.0.0.1")))
    )
    assert trap.agent_address is None


@pytest.mark.parametrize(
    "var_binds",
    [
        [(v2c.ObjectIdentifier("1.3.6.1.2.1.1.3.0"), v2c.TimeTicks(1))],
        [(v2c.ObjectIdentifier("1.3.6.1.6.3.1.1.4.1.0"), v2c.OctetString("1.3.6.1"))],
    ],
    ids=["no snmpTrapOID", "snmpTrapOID not an OID"],
)
def test_varbinds_without_a_trap_oid_are_no_trap(var_binds: list[Any]) -> None:
    with pytest.raises(NotATrapError):
        notification("2c", var_binds)


def test_values_become_text_without_loss_and_within_bounds() -> None:
    trap = notification(
        "2c",
        v2_pdu(
            "1.3.6.1.4.1.9.9.41.2.0.1",
            ("1.3.6.1.4.1.9.1", v2c.OctetString(b"\x00\x1b\x21\xff")),
            ("1.3.6.1.4.1.9.2", v2c.Counter64(2**64 - 1)),
            ("1.3.6.1.4.1.9.3", v2c.OctetString(("Xin chào " * 400).encode())),
            ("1.3.6.1.4.1.9.4", v2c.IpAddress("192.0.2.7")),
        ),
    )
    values = json.loads(trap.varbinds_json())
    assert values["1.3.6.1.4.1.9.1"] == "00:1b:21:ff"
    assert values["1.3.6.1.4.1.9.2"] == str(2**64 - 1)
    assert values["1.3.6.1.4.1.9.3"].startswith("Xin chào")
    assert len(values["1.3.6.1.4.1.9.3"]) < MAX_VALUE_CHARS + 40
    assert values["1.3.6.1.4.1.9.4"] == "192.0.2.7"


def test_a_huge_trap_keeps_its_first_varbinds_and_says_how_many_it_left_out() -> None:
    many = [(f"1.3.6.1.4.1.9.{i}", v2c.OctetString("x" * 500)) for i in range(200)]
    trap = notification("2c", v2_pdu("1.3.6.1.4.1.9.0.1", *many))
    text = trap.varbinds_json()
    assert len(text) < 64 * 1024  # what an InfluxDB string field holds
    assert "more varbinds left out" in json.loads(text)["truncated"]


def test_trap_samples_conform_to_the_schema_beside_the_pollers_interface() -> None:
    schema = base_schema()
    for profile in shipped_profiles().values():
        profile.declare(schema)
    for measurement in TRAP_MEASUREMENTS:
        schema.declare(measurement)  # no type conflict with the if-mib profile
    trap = notification(
        "1",
        v1_pdu(
            2,
            0,
            ("1.3.6.1.2.1.2.2.1.1.4", v1.Integer(4)),
            ("1.3.6.1.2.1.2.2.1.7.4", v1.Integer(1)),
            ("1.3.6.1.2.1.2.2.1.8.4", v1.Integer(2)),
        ),
    )
    link = interface_sample(trap, "r", {"sysName": "r1", "ifName": "e4"}, T0)
    assert link is not None
    samples = [trap_sample(trap, "r", T0), link]
    for sample in samples:
        assert schema.problems(sample) == []
    alone = SchemaRegistry()
    for measurement in TRAP_MEASUREMENTS:
        alone.declare(measurement)  # traps without the SNMP poller
    assert [alone.problems(sample) for sample in samples] == [[], []]
