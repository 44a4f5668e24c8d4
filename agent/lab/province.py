"""The lab, read from its inventory: which real peers serve which host.

A lab host names what answers for it:

- ``netmon_lab_recording: <stem>``: snmpsim serves that recording (agent/lab/snmprec) on the
  host's address and SNMP port, with the community of the host's credential set. One snmpsim
  process per recording, over all hosts that use it (DESIGN §9).
- ``netmon_lab_peer: snmpd``: a real net-snmp agent on the host's address and port, with the
  host's SNMPv3 credential set (authPriv SHA-256 + AES-128).

InfluxDB 1.x is started on the address and port of the settings' ``[influxdb] url``.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from agent.inventory.model import Inventory
from agent.lab.influxdb import InfluxServer
from agent.lab.snmpd import NetSnmpAgent
from agent.lab.snmpsim import SnmpSimulator, simulators
from agent.settings import Settings
from collectors.snmp.config import CommunityCredential, UsmCredential

_NET_SNMP_AUTH = {"sha256": "SHA-256", "sha": "SHA", "md5": "MD5", "sha512": "SHA-512"}
_NET_SNMP_PRIV = {"aes128": "AES", "des": "DES"}


class LabPlanError(ValueError):
    pass


@dataclass
class LabPlan:
    simulators: list[SnmpSimulator] = field(default_factory=list)
    agents: list[NetSnmpAgent] = field(default_factory=list)
    influx: InfluxServer | None = None

    def describe(self) -> list[str]:
        lines = [
            f"snmpsim {sim.recording}: " + ", ".join(f"{a}:{p}" for a, p in sim.endpoints)
            for sim in self.simulators
        ]
        lines += [f"snmpd (v3 authPriv): {a.address}:{a.port}" for a in self.agents]
        if self.influx is not None:
            lines.append(f"influxd: {self.influx.url}")
        return lines


def plan_lab(inventory: Inventory, settings: Settings, state_dir: Path) -> LabPlan:
    by_recording: dict[tuple[str, str], list[tuple[str, int]]] = {}
    plan = LabPlan()
    for host in inventory.hosts.values():
        snmp = host.checks.get("snmp")
        recording = host.lab.get("recording")
        peer = host.lab.get("peer")
        if snmp is None or (recording is None and peer is None):
            continue
        credential = snmp.credential
        if recording is not None:
            if not isinstance(credential, CommunityCredential):
                raise LabPlanError(f"{host.name}: the lab serves recordings over v1/v2c only")
            key = (str(recording), credential.community.reveal())
            by_recording.setdefault(key, []).append((host.address, snmp.port))
        elif peer == "snmpd":
            if not isinstance(credential, UsmCredential) or credential.priv_password is None:
                raise LabPlanError(f"{host.name}: the lab snmpd needs an SNMPv3 authPriv set")
            assert credential.auth_password is not None and credential.auth_protocol is not None
            auth = _NET_SNMP_AUTH.get(credential.auth_protocol)
            priv = _NET_SNMP_PRIV.get(credential.priv_protocol or "")
            if auth is None or priv is None:
                raise LabPlanError(f"{host.name}: the lab snmpd cannot serve these protocols")
            plan.agents.append(
                NetSnmpAgent(
                    state_dir / "snmpd" / host.name,
                    snmp.port,
                    secrets.token_hex(8),  # v2c is not used by the lab's snmpd host
                    credential.user,
                    credential.auth_password,
                    credential.priv_password,
                    auth,  # type: ignore[arg-type]
                    priv,  # type: ignore[arg-type]
                    address=host.address,
                )
            )
        else:
            raise LabPlanError(f"{host.name}: unknown netmon_lab_peer {peer!r} (known: snmpd)")
    for (recording, community), endpoints in sorted(by_recording.items()):
        plan.simulators.append(
            SnmpSimulator(
                state_dir / "snmpsim" / recording,
                recording,
                endpoints,
                community,
                growing_counters=True,
            )
        )
    url = urlsplit(settings.influxdb.url)
    plan.influx = InfluxServer(
        state_dir / "influxdb", url.port or 8086, url.hostname or "127.0.0.1"
    )
    return plan


@contextlib.contextmanager
def running(plan: LabPlan, database: str) -> Iterator[LabPlan]:
    """Start every lab process; stop them all on exit (or when one fails to start)."""
    with contextlib.ExitStack() as stack:
        if plan.influx is not None:
            stack.enter_context(plan.influx)
            plan.influx.create_database(database)
        for agent in plan.agents:
            stack.enter_context(agent)
        stack.enter_context(simulators(plan.simulators))
        yield plan
