"""The trap receiver's contract and its place in the agent, without any SNMP sender.

The datagrams here are built with pysnmp's own message API (v2c); the runner's wiring is
checked on an `Agent.build` with the memory buffer and an inventory made in code.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from prometheus_client import generate_latest
from pyasn1.codec.ber import encoder
from pysnmp.proto import errind
from pysnmp.proto.api import v2c

from agent.collector import CollectorRegistry, Listener
from agent.inventory.model import Host, HostSettings, Inventory
from agent.lab.process import free_udp_port
from agent.runner import Agent
from agent.samples import Sample
from agent.settings import load_settings
from collectors.snmp.config import CommunityCredential, SnmpConfig, UsmCredential
from collectors.traps import (
    Refusal,
    TrapListenError,
    TrapReceiver,
    trap_credentials,
    trap_senders,
)
from collectors.traps.receiver import refusal_of

RECEIVER = "127.9.4.1"
V2C = CommunityCredential(name="lab_v2c", version="2c", community="unit-Community")
V3 = UsmCredential(
    name="core_v3",
    version="3",
    user="unit",
    auth_protocol="sha",
    auth_password="unit-auth-Pass",
    priv_protocol="des",
    priv_password="unit-priv-Pass",
)


def host(name: str, address: str, credential: Any, department: str = "") -> Host:
    settings = HostSettings(
        netmon_checks=["snmp"],
        netmon_site="S1",
        netmon_level="commune",
        netmon_department=department,
    )
    return Host(name, address, (), settings, {"snmp": SnmpConfig(credential=credential)})


INVENTORY = Inventory(
    source="unit",
    hosts={
        "cpe-b": host("cpe-b", "127.9.4.41", V2C, "Văn phòng"),
        "cpe-a": host("cpe-a", "127.9.4.41", V3),  # same address: the first by name wins
        "cpe-c": host("cpe-c", "127.9.4.43", V2C),
    },
)


def v2c_trap(community: str, trap_oid: str, *var_binds: tuple[str, Any]) -> bytes:
    pdu = v2c.TrapPDU()
    v2c.apiTrapPDU.set_defaults(pdu)
    v2c.apiTrapPDU.set_varbinds(
        pdu,
        [
            (v2c.ObjectIdentifier("1.3.6.1.2.1.1.3.0"), v2c.TimeTicks(100)),
            (v2c.ObjectIdentifier("1.3.6.1.6.3.1.1.4.1.0"), v2c.ObjectIdentifier(trap_oid)),
            *((v2c.ObjectIdentifier(oid), value) for oid, value in var_binds),
        ],
    )
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    v2c.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


def test_the_receiver_is_a_listener_and_building_it_touches_no_network() -> None:
    receiver = TrapReceiver((RECEIVER, 162), [V2C, V3], {})
    assert isinstance(receiver, Listener)
    assert receiver.name == "traps"
    assert not receiver.running


def test_credentials_and_senders_come_from_the_snmp_checks() -> None:
    assert trap_credentials(INVENTORY) == [V3, V2C]  # each set once, by name
    assert trap_senders(INVENTORY) == {"127.9.4.41": "cpe-a", "127.9.4.43": "cpe-c"}


def test_pysnmp_failures_map_to_refusal_kinds() -> None:
    assert refusal_of(errind.unknownCommunityName) is Refusal.UNKNOWN_COMMUNITY
    assert refusal_of(errind.unknownSecurityName) is Refusal.UNKNOWN_USER
    assert refusal_of(errind.wrongDigest) is Refusal.AUTH_FAILURE
    assert refusal_of(errind.decryptionError) is Refusal.AUTH_FAILURE
    assert refusal_of(errind.unsupportedSecurityLevel) is Refusal.SECURITY_LEVEL
    assert refusal_of(errind.unknownEngineID) == "discovery"
    assert refusal_of(errind.parseError) is None
    assert refusal_of(None) is None


def test_datagrams_are_counted_and_a_raising_sink_does_not_stop_the_receiver() -> None:
    taken: list[Sample] = []

    def sink(samples: list[Sample]) -> None:
        if not taken:
            taken.append(samples[0])
            raise RuntimeError("a bug in the agent's sink")
        taken.extend(samples)

    async def scenario() -> TrapReceiver:
        receiver = TrapReceiver(
            (RECEIVER, free_udp_port(RECEIVER)),
            [V2C],
            {"127.9.4.43": "cpe-c"},
            interface_tags=lambda host, index: 1 / 0,  # type: ignore[arg-type,return-value]
        )
        await receiver.start(sink)
        sender = ("127.9.4.43", 40000)
        good = v2c_trap(
            "unit-Community", "1.3.6.1.6.3.1.1.5.3", ("1.3.6.1.2.1.2.2.1.1.3", v2c.Integer(3))
        )
        receiver.datagram_received(good, sender)
        receiver.datagram_received(v2c_trap("nope", "1.3.6.1.6.3.1.1.5.3"), sender)
        receiver.datagram_received(b"\x30\x03\x02\x01", sender)
        receiver.datagram_received(good, sender)
        await receiver.stop()
        receiver.datagram_received(good, sender)  # after stop: counted, dropped
        return receiver

    receiver = asyncio.run(scenario())
    stats = receiver.stats
    assert (stats.datagrams, stats.received, stats.malformed) == (5, 2, 2)
    assert stats.refused == {Refusal.UNKNOWN_COMMUNITY: 1}
    assert stats.callback_errors == 3  # the sink once, the label lookup twice
    assert [s.measurement for s in taken] == ["snmp_trap", "snmp_trap", "interface"]
    assert taken[-1].tags == {"source": "cpe-c", "ifIndex": "3"}  # no labels, still written


def test_the_runner_builds_the_receiver_and_takes_its_samples_with_inventory_tags(
    tmp_path: Any,
) -> None:
    settings = load_settings(
        None,
        {
            "NETMON_STATE_DIR": str(tmp_path),
            "NETMON_SPOOL_ENABLED": "false",
            "NETMON_AGENT_NAME": "unit-agent",
            "NETMON_TRAPS_ENABLED": "true",
            "NETMON_TRAPS_LISTEN": f"{RECEIVER}:16162",
        },
    )
    agent = Agent.build(settings, INVENTORY, CollectorRegistry.from_entry_points())
    assert agent.traps is not None
    assert (agent.traps.listen, agent.traps.credentials) == ((RECEIVER, 16162), [V3, V2C])
    assert agent.schema.get("snmp_trap") is not None
    agent.take_traps(
        [
            Sample("snmp_trap", {"source": "cpe-b", "trap": "coldStart", "version": "2c"},
                   {"received": 1, "trap_oid": "1.3.6.1.6.3.1.1.5.1", "varbinds": "{}"}),
            Sample("snmp_trap", {"source": "10.9.9.9", "trap": "coldStart", "version": "2c"},
                   {"received": 1, "trap_oid": "1.3.6.1.6.3.1.1.5.1", "varbinds": "{}"}),
        ]
    )  # fmt: skip
    assert agent.pipeline.stats.samples_out == 2
    lines = asyncio.run(agent.buffer.get_batch(10, 0.0)).lines
    known, unknown = sorted(lines, key=lambda line: "cpe-b" not in line)
    assert "department=Văn\\ phòng" in known and "site=S1" in known
    assert "agent=unit-agent" in unknown and "site=" not in unknown
    exposition = generate_latest(agent.metrics.registry).decode()
    for name in ("received", "malformed", "refused"):
        assert f"netmon_traps_{name}_total 0.0" in exposition
    agent.release()


def test_traps_are_off_unless_enabled(tmp_path: Any) -> None:
    settings = load_settings(
        None, {"NETMON_STATE_DIR": str(tmp_path), "NETMON_SPOOL_ENABLED": "false"}
    )
    agent = Agent.build(settings, INVENTORY, CollectorRegistry.from_entry_points())
    assert agent.traps is None
    assert "netmon_traps" not in generate_latest(agent.metrics.registry).decode()


def test_a_taken_trap_address_fails_the_run_clearly_and_the_agent_winds_down(
    tmp_path: Any,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((RECEIVER, 0))
        port = holder.getsockname()[1]
        settings = load_settings(
            None,
            {
                "NETMON_STATE_DIR": str(tmp_path),
                "NETMON_TRAPS_ENABLED": "true",
                "NETMON_TRAPS_LISTEN": f"{RECEIVER}:{port}",
            },
        )
        agent = Agent.build(settings, INVENTORY, CollectorRegistry.from_entry_points())
        with pytest.raises(TrapListenError, match=rf"UDP {RECEIVER}:{port}"):
            asyncio.run(agent.run(asyncio.Event()))
    assert not agent.traps.running  # type: ignore[union-attr]
    agent.release()  # idempotent: run() released the spool already
