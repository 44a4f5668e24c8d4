"""The same real net-snmp agent polled over SNMPv1, v2c and v3 authPriv: the same rows.

SNMPv1 has no GETBULK and no Counter64: the agent walks with GETNEXT, survives noSuchName at
the end of the MIB, and writes the 32-bit fallback counters where v2c/v3 write the 64-bit ones.
Values of a live system move between polls, so rows and labels are compared, not counters.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.collector import CollectorContext, Target
from agent.samples import Sample
from agent.schema import base_schema
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.config import SnmpConfig
from tests.fixtures_snmp import SnmpdPeer, snmpd_agent  # noqa: F401

pytestmark = pytest.mark.snmpd


def _poll(peer: SnmpdPeer, credential: dict[str, Any]) -> tuple[SnmpCollector, list[Sample]]:
    config = SnmpConfig.model_validate(
        {"credential": {"name": "t", **credential}, "port": peer.port, "timeout_s": 5.0}
    )
    target = Target("server", peer.address, "snmp", config, {}, 60.0, 60.0, 0.0)
    collector = SnmpCollector(CollectorContext(base_schema()))

    async def poll() -> list[Sample]:
        try:
            return await collector.collect(target)
        finally:
            await collector.close()

    return collector, asyncio.run(poll())


def _rows(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], set[str]]:
    return {
        (s.measurement, tuple(sorted(s.tags.items()))): set(s.fields)
        for s in samples
        if s.measurement != "snmp"
    }


def test_v1_v2c_and_v3_polls_of_net_snmp_give_the_same_rows(
    snmpd_agent: SnmpdPeer,  # noqa: F811
) -> None:
    community = snmpd_agent.community.reveal()
    v3 = snmpd_agent.v3
    v2c_collector, v2c = _poll(snmpd_agent, {"version": "2c", "community": community})
    _, v1 = _poll(snmpd_agent, {"version": "1", "community": community})
    _, v3_samples = _poll(
        snmpd_agent,
        {
            "version": "3",
            "user": v3.user,
            "auth_protocol": "sha256",
            "auth_password": v3.auth_password.reveal(),
            "priv_protocol": "aes128",
            "priv_password": v3.priv_password.reveal(),
        },
    )
    for samples in (v2c, v1, v3_samples):
        assert samples[0].tags["result"] == "success", samples[0]
    device = v2c_collector.device("server")
    assert device is not None and device.profile is not None
    # net-snmp on Linux: its profile composes the host and UCD MIBs beside the interfaces.
    assert {"host-resources", "ucd-snmp", "generic"} <= set(device.profile.chain)
    assert {"interface", "storage", "memory", "cpu_raw"} <= {s.measurement for s in v2c}

    rows_v2c, rows_v1, rows_v3 = _rows(v2c), _rows(v1), _rows(v3_samples)
    assert rows_v3 == rows_v2c
    assert set(rows_v1) == set(rows_v2c)  # the same rows, with the same labels
    interfaces = [key for key in rows_v2c if key[0] == "interface"]
    assert interfaces
    for key in interfaces:
        assert "ifHCInOctets" in rows_v2c[key] and "ifInOctets" not in rows_v2c[key]
        # SNMPv1 cannot carry Counter64: the 32-bit fallback is walked instead.
        assert "ifInOctets" in rows_v1[key] and "ifHCInOctets" not in rows_v1[key]
