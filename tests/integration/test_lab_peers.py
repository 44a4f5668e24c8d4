"""The lab's real peers answer as their recordings and configurations say, through the oracle."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from agent.lab import oracle
from agent.lab.process import free_udp_port
from agent.lab.snmpsim import (
    SnmpSimulator,
    growing_record,
    recording_path,
    servable_record,
)
from agent.secret import Secret
from tests.fixtures_snmp import (
    LAB_DEVICES,
    SimulatedDevice,
    SnmpdPeer,
)
from tests.peers import require_binary

SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
NET_SNMP_AGENT_OIDS = "1.3.6.1.4.1.8072.3.2."  # NET-SNMP-TC netSnmpAgentOIDs


def _device(lab: list[SimulatedDevice], name: str) -> SimulatedDevice:
    return next(device for device in lab if device.name == name)


def _recorded(recording: Path, prefix: str) -> dict[str, oracle.Value]:
    return {
        oid: value
        for oid, value in oracle.read_snmprec(recording).items()
        if oid.startswith(prefix + ".")
    }


# --- snmpsim -------------------------------------------------------------------------------------


@pytest.mark.snmpsim
@pytest.mark.parametrize("name", [name for name, _ in LAB_DEVICES])
def test_simulated_device_answers_with_its_recorded_sys_object_id(
    snmpsim_lab: list[SimulatedDevice],
    name: str,
) -> None:
    device = _device(snmpsim_lab, name)
    recorded = oracle.read_snmprec(device.recording_file)[SYS_OBJECT_ID]

    answered = oracle.get(device.endpoint, [SYS_OBJECT_ID], community=device.community)

    assert recorded[0] == oracle.OBJECT_IDENTIFIER
    assert answered == {SYS_OBJECT_ID: recorded}


@pytest.mark.snmpsim
def test_catalyst_walk_of_if_hc_in_octets_returns_every_recorded_row(
    snmpsim_lab: list[SimulatedDevice],
) -> None:
    catalyst = _device(snmpsim_lab, "access-switch")
    recorded = _recorded(catalyst.recording_file, IF_HC_IN_OCTETS)

    walked = oracle.bulkwalk(catalyst.endpoint, IF_HC_IN_OCTETS, community=catalyst.community)

    assert len(recorded) == 136  # SOURCES.md: 136 of the 146 interfaces have HC counters
    assert len(walked) == len(recorded)
    assert walked == recorded
    assert {kind for kind, _ in walked.values()} == {oracle.COUNTER64}


@pytest.mark.snmpsim
def test_whole_device_walk_equals_its_recording(
    snmpsim_lab: list[SimulatedDevice],
) -> None:
    mikrotik = _device(snmpsim_lab, "distribution-switch")

    walked = oracle.bulkwalk(mikrotik.endpoint, "1", community=mikrotik.community)

    assert walked == oracle.read_snmprec(mikrotik.recording_file)


@pytest.mark.snmpsim
def test_simulated_device_answers_snmpv3_auth_priv_in_its_context(
    snmpsim_lab: list[SimulatedDevice],
) -> None:
    router = _device(snmpsim_lab, "branch-router")
    recorded = oracle.read_snmprec(router.recording_file)[SYS_OBJECT_ID]

    answered = oracle.get(router.endpoint, [SYS_OBJECT_ID], v3=router.v3)

    assert router.v3.context == router.community
    assert answered == {SYS_OBJECT_ID: recorded}


@pytest.mark.snmpsim
def test_simulated_device_rejects_a_wrong_v3_password(
    snmpsim_lab: list[SimulatedDevice],
) -> None:
    router = _device(snmpsim_lab, "branch-router")
    wrong = dataclasses.replace(router.v3, auth_password=Secret("not-the-password"))

    with pytest.raises(oracle.OracleError, match="Authentication failure"):
        oracle.get(router.endpoint, [SYS_OBJECT_ID], v3=wrong, timeout=1, retries=0)


@pytest.mark.snmpsim
def test_growing_counters_advance_and_unused_counters_stay_zero(tmp_path: Path) -> None:
    require_binary("snmpsim-command-responder")
    require_binary("snmpbulkwalk")
    stem = "mikrotik-crs317"
    address = "127.77.200.1"
    recorded = _recorded(recording_path(stem), IF_HC_IN_OCTETS)
    busy = max(recorded, key=lambda oid: int(recorded[oid][1]))
    idle = [oid for oid, (_, value) in recorded.items() if value == "0"]
    simulator = SnmpSimulator(
        tmp_path, stem, [(address, free_udp_port(address))], growing_counters=True
    )

    with simulator:
        endpoint = simulator.endpoints[0]
        first = oracle.bulkwalk(endpoint, IF_HC_IN_OCTETS, community=stem)
        first_uptime = oracle.get(endpoint, [SYS_UPTIME], community=stem)[SYS_UPTIME]
        time.sleep(0.3)  # octet counters grow by >= 1000/s and sysUpTime by 100/s
        second = oracle.bulkwalk(endpoint, IF_HC_IN_OCTETS, community=stem)
        second_uptime = oracle.get(endpoint, [SYS_UPTIME], community=stem)[SYS_UPTIME]

    assert set(first) == set(recorded)
    assert int(recorded[busy][1]) <= int(first[busy][1]) < int(second[busy][1])
    assert second[busy][0] == oracle.COUNTER64
    assert all(first[oid] == second[oid] == recorded[oid] for oid in idle)
    assert int(first_uptime[1]) < int(second_uptime[1])
    assert not simulator.running


# --- snmpd ---------------------------------------------------------------------------------------


@pytest.mark.snmpd
def test_snmpd_answers_v2c(snmpd_agent: SnmpdPeer) -> None:
    answered = oracle.get(snmpd_agent.endpoint, [SYS_OBJECT_ID], community=snmpd_agent.community)

    kind, value = answered[SYS_OBJECT_ID]
    assert kind == oracle.OBJECT_IDENTIFIER
    assert value.startswith(NET_SNMP_AGENT_OIDS)


@pytest.mark.snmpd
def test_snmpd_answers_v3_auth_priv_sha256_aes128(snmpd_agent: SnmpdPeer) -> None:
    assert (snmpd_agent.v3.auth_protocol, snmpd_agent.v3.priv_protocol) == ("SHA-256", "AES")

    walked = oracle.bulkwalk(snmpd_agent.endpoint, "1.3.6.1.2.1.1", v3=snmpd_agent.v3)

    assert walked[SYS_OBJECT_ID][1].startswith(NET_SNMP_AGENT_OIDS)
    assert walked[SYS_UPTIME][0] == oracle.TIMETICKS


@pytest.mark.snmpd
@pytest.mark.parametrize(
    ("which", "failure"),
    [
        ("auth_password", "Authentication failure"),
        # A wrong privacy key garbles the scoped PDU: snmpd drops it and never answers.
        ("priv_password", "Timeout: No Response"),
    ],
)
def test_snmpd_rejects_a_wrong_v3_password(
    snmpd_agent: SnmpdPeer,
    which: str,
    failure: str,
) -> None:
    bad = Secret("wrong-password-1")
    wrong = (
        dataclasses.replace(snmpd_agent.v3, auth_password=bad)
        if which == "auth_password"
        else dataclasses.replace(snmpd_agent.v3, priv_password=bad)
    )

    with pytest.raises(oracle.OracleError, match=failure):
        oracle.get(snmpd_agent.endpoint, [SYS_OBJECT_ID], v3=wrong, timeout=1, retries=0)


@pytest.mark.snmpd
def test_snmpd_refuses_v3_without_privacy(snmpd_agent: SnmpdPeer) -> None:
    # rouser ... authPriv: an authNoPriv request must not read anything.
    no_privacy = dataclasses.replace(snmpd_agent.v3, security_level="authNoPriv")

    with pytest.raises(oracle.OracleError, match="authorizationError"):
        oracle.get(snmpd_agent.endpoint, [SYS_OBJECT_ID], v3=no_privacy, timeout=1, retries=0)


# --- the prepared recording (no peer needed) -----------------------------------------------------


def test_growing_record_rewrites_nonzero_counters_and_uptime_only() -> None:
    grown = growing_record("1.3.6.1.2.1.31.1.1.1.6.3|70|5637850281\n")
    assert grown.startswith("1.3.6.1.2.1.31.1.1.1.6.3|70:numeric|initial=5637850281,rate=")
    assert grown.endswith(",wrap=1\n")
    assert growing_record("1.3.6.1.2.1.1.3.0|67|3491483764\n") == (
        "1.3.6.1.2.1.1.3.0|67:numeric|initial=3491483764,rate=100.0,wrap=1\n"
    )
    for unchanged in (
        "1.3.6.1.2.1.31.1.1.1.6.4|70|0\n",
        "1.3.6.1.2.1.2.2.1.9.1|67|100\n",
        "1.3.6.1.2.1.1.5.0|4|core\n",
        "1.3.6.1.2.1.2.2.1.5.1|66|1000000000\n",
    ):
        assert growing_record(unchanged) == unchanged


def test_records_with_anonymised_oids_are_not_served() -> None:
    assert not servable_record("1.3.6.1.2.1.4.20.1.2.10.xx.xx.100|2|13\n")
    assert servable_record("1.3.6.1.2.1.4.20.1.2.10.1.1.100|2|13\n")
    windows = oracle.read_snmprec(recording_path("microsoft-windows-server-2019"))
    assert not any("xx" in oid for oid in windows)
