"""The lab, read from its inventory: which real peers serve which host.

A lab host names what answers for it:

- ``netmon_lab_recording: <stem>``: snmpsim serves that recording (agent/lab/snmprec) on the
  host's address and SNMP port, with the community of the host's credential set. One snmpsim
  process per recording, over all hosts that use it (DESIGN §9).
- ``netmon_lab_peer: snmpd``: a real net-snmp agent on the host's address and port, with the
  host's SNMPv3 credential set (authPriv SHA-256 + AES-128).

Hosts that share a recording and the same faults of the fault plan (agent.lab.faultplan) share
a simulator process, so a fault can pause exactly the devices it breaks.

InfluxDB 1.x is started on the address and port of the settings' ``[influxdb] url`` when that
is a loopback address; a database elsewhere is the operator's own, and the lab only uses it.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from agent.inventory.model import Host, Inventory
from agent.lab.codecs import CodecPort, LabCodecs
from agent.lab.faultplan import Fault, fault_groups
from agent.lab.influxdb import InfluxServer
from agent.lab.process import LabPeer
from agent.lab.sip import SipResponder
from agent.lab.snmpd import NetSnmpAgent
from agent.lab.snmpsim import SnmpSimulator, simulators
from agent.lab.sshdevices import LabSshDevices
from agent.lab.tls import LabCA
from agent.lab.web import LabWebServer, WebFault, WebSite
from agent.settings import Settings
from collectors.snmp.config import CommunityCredential, UsmCredential

_NET_SNMP_AUTH = {"sha256": "SHA-256", "sha": "SHA", "md5": "MD5", "sha512": "SHA-512"}
_NET_SNMP_PRIV = {"aes128": "AES", "des": "DES"}


_NONE: frozenset[str] = frozenset()


class LabPlanError(ValueError):
    pass


@dataclass
class LabPlan:
    simulators: list[SnmpSimulator] = field(default_factory=list)
    agents: list[NetSnmpAgent] = field(default_factory=list)
    influx: InfluxServer | None = None
    faults: list[Fault] = field(default_factory=list)
    #: fault name → the peers it pauses (their every host is broken by that fault)
    paused_by: dict[str, list[LabPeer]] = field(default_factory=dict)
    #: names of the hosts an SNMP peer (simulator or snmpd) answers for
    snmp_hosts: set[str] = field(default_factory=set)
    #: (kind, description, peer) of the service peers: web server, SIP responders
    services: list[tuple[str, str, LabPeer]] = field(default_factory=list)
    #: the CA that issued the lab's HTTPS certificates: the agent's probes must trust it
    ca_file: Path | None = None

    def describe(self) -> list[str]:
        """One line per lab process (a simulator serves many devices: the first few shown)."""
        lines = []
        for sim in self.simulators:
            shown = ", ".join(f"{a}:{p}" for a, p in sim.endpoints[:3])
            more = f" and {len(sim.endpoints) - 3} more" if len(sim.endpoints) > 3 else ""
            lines.append(
                f"snmpsim {sim.state_dir.name}: {len(sim.endpoints)} devices ({shown}{more})"
            )
        lines += [f"snmpd (v3 authPriv): {a.address}:{a.port}" for a in self.agents]
        lines += [f"{kind}: {what}" for kind, what, _peer in self.services]
        if self.influx is not None:
            lines.append(f"influxd: {self.influx.url}")
        return lines


def _sim_dir_name(recording: str, faults: frozenset[str]) -> str:
    return recording + "".join(f"+{name}" for name in sorted(faults))


def _is_loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.")


def plan_lab(
    inventory: Inventory, settings: Settings, state_dir: Path, faults: list[Fault] | None = None
) -> LabPlan:
    faults = faults or []
    broken_by = fault_groups(faults, "unreachable")
    by_recording: dict[tuple[str, str, frozenset[str]], list[tuple[str, int]]] = {}
    plan = LabPlan(faults=faults, paused_by={f.name: [] for f in faults})
    for host in inventory.hosts.values():
        snmp = host.checks.get("snmp")
        recording = host.lab.get("recording")
        peer = host.lab.get("peer")
        if snmp is None or (recording is None and peer is None):
            continue
        credential = snmp.credential
        plan.snmp_hosts.add(host.name)
        if recording is not None:
            if not isinstance(credential, CommunityCredential):
                raise LabPlanError(f"{host.name}: the lab serves recordings over v1/v2c only")
            key = (str(recording), credential.community.reveal(), broken_by.get(host.name, _NONE))
            by_recording.setdefault(key, []).append((host.address, snmp.port))
        elif peer == "snmpd":
            if not isinstance(credential, UsmCredential) or credential.priv_password is None:
                raise LabPlanError(f"{host.name}: the lab snmpd needs an SNMPv3 authPriv set")
            assert credential.auth_password is not None and credential.auth_protocol is not None
            auth = _NET_SNMP_AUTH.get(credential.auth_protocol)
            priv = _NET_SNMP_PRIV.get(credential.priv_protocol or "")
            if auth is None or priv is None:
                raise LabPlanError(f"{host.name}: the lab snmpd cannot serve these protocols")
            agent = NetSnmpAgent(
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
            plan.agents.append(agent)
            for name in broken_by.get(host.name, _NONE):
                plan.paused_by[name].append(agent)
        else:
            raise LabPlanError(f"{host.name}: unknown netmon_lab_peer {peer!r} (known: snmpd)")
    for (recording, community, broken), endpoints in sorted(
        by_recording.items(), key=lambda item: (item[0][0], sorted(item[0][2]))
    ):
        sim = SnmpSimulator(
            state_dir / "snmpsim" / _sim_dir_name(recording, broken),
            recording,
            endpoints,
            community,
            growing_counters=True,
        )
        plan.simulators.append(sim)
        for name in broken:
            plan.paused_by[name].append(sim)
    _plan_services(plan, inventory, state_dir)
    _plan_ssh_devices(plan, inventory, state_dir, broken_by)
    url = urlsplit(settings.influxdb.url)
    if _is_loopback(url.hostname or ""):
        plan.influx = InfluxServer(
            state_dir / "influxdb", url.port or 8086, url.hostname or "127.0.0.1"
        )
    return plan


def _plan_ssh_devices(
    plan: LabPlan, inventory: Inventory, state_dir: Path, broken_by: dict[str, frozenset[str]]
) -> None:
    """The FakeNOS simulators of every host with the ssh check on loopback: one process per
    set of faults that break its hosts (agent.lab.sshdevices)."""
    by_faults: dict[frozenset[str], list[Host]] = {}
    for host in inventory.hosts.values():
        if "ssh" in host.checks and _is_loopback(host.address):
            by_faults.setdefault(broken_by.get(host.name, _NONE), []).append(host)
    for broken, hosts in sorted(by_faults.items(), key=lambda item: sorted(item[0])):
        name = "devices" + "".join(f"+{fault}" for fault in sorted(broken))
        peer = LabSshDevices(state_dir / "sshsim" / name, hosts)
        plan.services.append(("sshsim", f"{len(hosts)} SSH devices ({name})", peer))
        for fault in broken:
            plan.paused_by[fault].append(peer)


def _site_title(host: Host, inventory: Inventory) -> str:
    for service in inventory.services.values():
        if host.name in service.hosts:
            return service.name
    return host.settings.netmon_site_name or host.name


def _web_faults(host: str, faults: list[Fault]) -> tuple[WebFault, ...]:
    found = []
    for fault in faults:
        if host in fault.hosts and fault.spec.what == "http_status":
            found.append(WebFault(fault.window, "status", status=fault.spec.status))
        elif host in fault.hosts and fault.spec.what == "http_delay":
            found.append(WebFault(fault.window, "delay", delay_s=fault.spec.delay_s))
    return tuple(found)


def _plan_services(plan: LabPlan, inventory: Inventory, state_dir: Path) -> None:
    """The lab's web server (every service front end whose URL is on loopback) and SIP
    responders (every host with ``netmon_lab_sip_port``, over UDP and TCP)."""
    sites = []
    for host in sorted(inventory.described.values(), key=lambda h: h.name):
        url = urlsplit(host.settings.netmon_url)
        if url.scheme in {"http", "https"} and _is_loopback(url.hostname or ""):
            days = host.lab.get("cert_days_left")
            try:
                site = WebSite(
                    host.name,
                    _site_title(host, inventory),
                    url.hostname or host.address,
                    url.port or (443 if url.scheme == "https" else 80),
                    tls=url.scheme == "https",
                    faults=_web_faults(host.name, plan.faults),
                    cert_days_left=float(days) if days is not None else None,
                )
            except ValueError as exc:
                message = f"{host.name}: netmon_url {host.settings.netmon_url}: {exc}"
                raise LabPlanError(message) from None
            sites.append(site)
        sip_port = host.lab.get("sip_port")
        if sip_port is not None:
            for transport in ("udp", "tcp"):
                responder = SipResponder(
                    state_dir / "sip" / host.name, host.address, int(sip_port), transport
                )
                plan.services.append(
                    ("sip", f"{host.name} {host.address}:{sip_port}/{transport}", responder)
                )
    _check_fault_targets(plan, {site.name for site in sites})
    codecs = _codec_ports(inventory, plan.faults)
    if codecs:
        plan.services.append(
            ("codecs", f"{len(codecs)} bridge points' H.323 ports", LabCodecs(state_dir, codecs))
        )
    if sites:
        ca = LabCA.create(state_dir / "ca")
        plan.ca_file = ca.cert_path
        web = LabWebServer(state_dir / "web", sites, ca)
        plan.services.append(("web", f"{len(sites)} HTTP(S) services, CA {ca.cert_path}", web))


def _codec_ports(inventory: Inventory, faults: list[Fault]) -> list[CodecPort]:
    """A signalling port for every monitored bridge point whose vc check connects to H.323
    on a loopback address; `unreachable` faults close it."""
    ports = []
    for host in sorted(inventory.hosts.values(), key=lambda h: h.name):
        vc = host.checks.get("vc")
        if vc is None or vc.signalling != "h323" or not _is_loopback(host.address):
            continue
        down = tuple(
            f.window for f in faults if f.spec.what == "unreachable" and host.name in f.hosts
        )
        ports.append(CodecPort(host.name, host.address, vc.signalling_port, down))
    return ports


def _check_fault_targets(plan: LabPlan, web_hosts: set[str]) -> None:
    """A fault must break something the lab serves: one that names a host no peer of its
    kind answers for would show as active and change nothing."""
    for fault in plan.faults:
        if fault.spec.what == "unreachable":
            unserved = sorted(set(fault.spec.hosts) - plan.snmp_hosts)
            if unserved or not plan.paused_by.get(fault.name):
                what = ", ".join(unserved) or "its hosts"
                raise LabPlanError(f"fault {fault.name}: no lab SNMP device answers for {what}")
        else:
            named = set(fault.spec.hosts) | ({fault.spec.behind} if fault.spec.behind else set())
            if not named <= web_hosts:
                others = ", ".join(sorted(named - web_hosts))
                raise LabPlanError(f"fault {fault.name}: {others} is no lab web service")


@contextlib.contextmanager
def running(plan: LabPlan, database: str) -> Iterator[float]:
    """Start every lab process; stop them all on exit (or when one fails to start).

    Yields the lab's epoch: the moment every device answers, from which the fault plan counts.
    The service peers start after it and are told it, so their faults keep the same clock.
    """
    with contextlib.ExitStack() as stack:
        if plan.influx is not None:
            stack.enter_context(plan.influx)
            plan.influx.create_database(database)
        for agent in plan.agents:
            stack.enter_context(agent)
        stack.enter_context(simulators(plan.simulators))
        started_at = time.time()
        for _kind, _what, peer in plan.services:
            if isinstance(peer, LabWebServer | LabCodecs):
                peer.started_at = started_at
            stack.enter_context(peer)
        yield started_at
