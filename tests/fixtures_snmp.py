"""Session-wide SNMP peers: snmpsim serving recorded devices, and a real net-snmp snmpd.

Use them by importing the fixtures into a test module (or a conftest)::

    from tests.fixtures_snmp import snmpsim_lab, snmpd_agent  # noqa: F401

Every process started here is stopped when the session ends. Credentials are random per
session and travel as :class:`agent.secret.Secret`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.lab.oracle import V3Credentials
from agent.lab.process import free_udp_port
from agent.lab.snmpd import NetSnmpAgent
from agent.lab.snmpsim import SnmpSimulator, recording_path, simulators
from agent.secret import Secret
from tests.peers import require_binary

#: (device name, recording stem): one simulated device of each class the province runs.
LAB_DEVICES = (
    ("access-switch", "cisco-catalyst-2960x"),
    ("core-router", "huawei-ne40e-m2k"),
    ("border-router", "juniper-mx5-t"),
    ("distribution-switch", "mikrotik-crs317"),
    ("branch-router", "cisco-isr4321"),
    ("linux-server", "linux-el8-netsnmp"),
)
V3_USER = "netmon-lab"


@dataclass(frozen=True)
class SimulatedDevice:
    """One device of the lab: snmpsim serves `recording` at `address:port`.

    v2c: community `community`. v3: `v3` (authPriv SHA-256/AES-128, context = community).
    """

    name: str
    recording: str
    address: str
    port: int
    community: str
    v3: V3Credentials

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port

    @property
    def recording_file(self) -> Path:
        return recording_path(self.recording)


@dataclass(frozen=True)
class SnmpdPeer:
    """The running snmpd: v2c `community` (from 127.0.0.1) and one v3 authPriv user."""

    address: str
    port: int
    community: Secret
    v3: V3Credentials

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port


def _password() -> Secret:
    # Hex: nothing that snmpd.conf, snmp.conf or snmpsim's args file would split or read as an
    # option (a leading "-" is an option to rocommunity).
    return Secret(secrets.token_hex(12))


def _require_snmp_tools() -> None:
    require_binary("snmpget")
    require_binary("snmpbulkwalk")


@pytest.fixture(scope="session")
def snmpsim_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[SimulatedDevice]]:
    """The devices of :data:`LAB_DEVICES`, each on its own loopback address, all answering."""
    require_binary("snmpsim-command-responder")
    _require_snmp_tools()
    state = tmp_path_factory.mktemp("snmpsim")
    auth, priv = _password(), _password()
    devices: list[SimulatedDevice] = []
    sims: list[SnmpSimulator] = []
    for number, (name, stem) in enumerate(LAB_DEVICES, start=1):
        # All of 127/8 is local on Linux: no address needs configuring.
        address = f"127.77.{number}.1"
        v3 = V3Credentials(V3_USER, auth, priv, "SHA-256", "AES", context=stem)
        device = SimulatedDevice(name, stem, address, free_udp_port(address), stem, v3)
        devices.append(device)
        sims.append(SnmpSimulator(state / name, stem, [device.endpoint], device.community, v3=v3))
    with simulators(sims):
        yield devices


@pytest.fixture(scope="session")
def snmpd_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdPeer]:
    """net-snmp's snmpd on 127.0.0.1 with a random community and v3 authPriv passphrases."""
    require_binary("snmpd")
    _require_snmp_tools()
    address = "127.0.0.1"
    agent = NetSnmpAgent(
        tmp_path_factory.mktemp("snmpd"),
        free_udp_port(address),
        v2c_community=_password(),
        v3_user=V3_USER,
        v3_auth_password=_password(),
        v3_priv_password=_password(),
        address=address,
    )
    with agent:
        yield SnmpdPeer(address, agent.port, agent.community, agent.v3)
