"""The trap and inform receiver: one UDP socket, one pysnmp engine, samples to a sink.

A `Listener` (agent.collector): ``start(sink)`` binds the socket and starts receiving,
``stop()`` closes it. Every datagram takes one path, `TrapReceiver.datagram_received`, and ends
as exactly one of (`TrapStats`):

- **received**: a trap or inform of a configured community or user; informs are acknowledged
  by pysnmp's NotificationReceiver before the samples are made;
- **refused**, by `Refusal`: unknown community or user, failed authentication or decryption,
  a security level below the user's, an engine ID that is none;
- **discovery**: an SNMPv3 engine-ID discovery probe, answered with a Report (the first step
  of every SNMPv3 inform);
- **malformed**: anything else (not BER, not SNMP, not a notification, a PDU pysnmp chokes on).

A refused or malformed datagram is logged once per sender and kind (agent.failurelog) and never
ends the receiver. Community strings and keys are never logged: only the kind of failure, and
the sender's address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config as engine_config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto import errind

from agent.collector import SampleSink
from agent.failurelog import FailureLog
from collectors.snmp.config import CommunityCredential, UsmCredential
from collectors.traps.decode import NotATrapError, Notification, notification
from collectors.traps.names import RESTART_TRAPS
from collectors.traps.samples import interface_sample, trap_sample
from collectors.traps.security import Refusal, SecurityTable

log = logging.getLogger(__name__)

#: (host, ifIndex) → the labels the SNMP poller knows for that interface (sysName, ifName,
#: ifDescr), or {} (collectors.snmp.SnmpCollector.interface_tags).
InterfaceTagsLookup = Callable[[str, str], Mapping[str, str]]
#: Called with the inventory host that announced a restart (coldStart, warmStart).
RestartHook = Callable[[str], None]

_VERSIONS = {0: "1", 1: "2c", 3: "3"}  # pysnmp's messageProcessingModel
_SM_FAILURES = ("rfc3412.prepareDataElements:sm-failure", "rfc2576.prepareDataElements:sm-failure")
_REQUEST = "rfc3412.receiveMessage:request"
_DISCOVERY = "discovery"
#: Distinct senders whose failures are logged by address; past this many (a flood of spoofed
#: sources) the rest share one key, so the log-once memory stays bounded.
_MAX_LOGGED_SENDERS = 1024


def refusal_of(indication: Any) -> Refusal | str | None:
    """The kind of an SNMP security failure pysnmp reported; None when it is no refusal."""
    if isinstance(indication, errind.UnknownCommunityName):
        return Refusal.UNKNOWN_COMMUNITY
    if isinstance(indication, errind.UnknownSecurityName | errind.UnknownUserName):
        return Refusal.UNKNOWN_USER
    if isinstance(indication, errind.UnknownEngineID):
        return _DISCOVERY
    if isinstance(indication, errind.UnsupportedSecurityLevel):
        return Refusal.SECURITY_LEVEL
    if isinstance(
        indication,
        errind.AuthenticationFailure
        | errind.AuthenticationError
        | errind.WrongDigest
        | errind.DecryptionError
        | errind.NotInTimeWindow,
    ):
        return Refusal.AUTH_FAILURE
    return None


class TrapListenError(OSError):
    """The trap address is taken or not ours."""


@dataclass
class TrapStats:
    """Counters since start, for /metrics. Every datagram is counted once:
    ``datagrams == received + malformed + sum(refused.values()) + discovery``."""

    datagrams: int = 0
    received: int = 0  # traps and informs taken (each one an snmp_trap sample)
    malformed: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # Refusal → count
    discovery: int = 0  # SNMPv3 engine-ID discovery probes answered
    unknown_senders: int = 0  # traps received from an address no inventory host has
    engines_learned: int = 0  # SNMPv3 engine IDs learned from authenticated traps
    callback_errors: int = 0  # the agent's sink, restart hook or label lookup raised (logged)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())


@dataclass
class _Delivered:
    version: str
    var_binds: list[tuple[Any, Any]]


class _Socket(udp.UdpAsyncioTransport):  # type: ignore[misc]  # pysnmp is untyped
    """pysnmp's UDP transport, handing each datagram to the receiver at once, in order."""

    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        super().__init__()
        self._on_datagram = on_datagram

    def datagram_received(self, datagram: bytes, address: tuple[str, int]) -> None:
        self._on_datagram(datagram, address[:2])


class _Socket6(udp6.Udp6AsyncioTransport):  # type: ignore[misc]
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        super().__init__()
        self._on_datagram = on_datagram

    def datagram_received(self, datagram: bytes, address: tuple[str, int]) -> None:
        self._on_datagram(datagram, address[:2])


def _no_labels(host: str, if_index: str) -> Mapping[str, str]:
    return {}


class TrapReceiver:
    """Receives SNMPv1/v2c/v3 traps and informs on one UDP address.

    listen: (host, port) to bind; port 0 picks a free one (see `address`).
    credentials: every credential set whose community or user may send traps.
    senders: sender address (IP text) → inventory host name.
    interface_tags, on_restart: the SNMP poller's interface labels, the counter guard's
      restart hook (see the module docstring of collectors.traps).
    """

    name: ClassVar[str] = "traps"

    def __init__(
        self,
        listen: tuple[str, int],
        credentials: Iterable[CommunityCredential | UsmCredential],
        senders: Mapping[str, str],
        *,
        interface_tags: InterfaceTagsLookup = _no_labels,
        on_restart: RestartHook | None = None,
        receive_buffer_bytes: int = 4 * 1024 * 1024,
        max_learned_engines: int = 10_000,
    ) -> None:
        self.listen = listen
        self.credentials = list(credentials)
        self.senders = {_canonical(address): host for address, host in senders.items()}
        self.interface_tags = interface_tags
        self.on_restart = on_restart
        self.receive_buffer_bytes = receive_buffer_bytes
        self.max_learned_engines = max_learned_engines
        self.stats = TrapStats()
        self._failures = FailureLog(log)
        self._logged_senders: set[str] = set()
        self._sink: SampleSink | None = None
        self._engine: Any = None
        self._security: SecurityTable | None = None
        self._receiver: Any = None
        self._socket: Any = None
        self._domain: tuple[int, ...] = udp.DOMAIN_NAME
        self._delivered: _Delivered | None = None
        self._indication: Any = None

    @property
    def running(self) -> bool:
        """Started and not stopped: datagrams sent now are received."""
        return self._engine is not None

    @property
    def address(self) -> tuple[str, int]:
        """The address bound (with the real port when `listen` asked for port 0)."""
        if self._socket is None or self._socket.transport is None:
            return self.listen
        host, port = self._socket.transport.get_extra_info("sockname")[:2]
        return host, port

    async def start(self, sink: SampleSink) -> None:
        """Bind the socket and receive; raise TrapListenError naming the address."""
        if self._engine is not None:
            raise RuntimeError("the trap receiver is already running")
        sock = self._bind()
        try:
            await self._resolve_senders()
            engine = SnmpEngine()
            # Master keys are derived here (a 1 MB hash per pass phrase): once, not per trap.
            self._security = SecurityTable(
                engine, self.credentials, max_learned=self.max_learned_engines
            )
            family = sock.family
            protocol = (_Socket6 if family == socket.AF_INET6 else _Socket)(self.datagram_received)
            domain = udp6.DOMAIN_NAME if family == socket.AF_INET6 else udp.DOMAIN_NAME
            loop = asyncio.get_running_loop()
            await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
        except BaseException:
            sock.close()
            raise
        engine_config.add_transport(engine, domain, protocol)
        engine.observer.register_observer(self._security_failure, *_SM_FAILURES)
        self._receiver = ntfrcv.NotificationReceiver(engine, self._notified)
        self._sink = sink
        self._engine, self._socket, self._domain = engine, protocol, domain
        log.info(
            "receiving SNMP traps and informs on %s:%d (%d communities, %d SNMPv3 users)",
            *self.address,
            self._security.communities,
            self._security.users,
        )

    async def _resolve_senders(self) -> None:
        """Add the addresses of senders the inventory names by DNS name (ansible_host)."""
        names = sorted(name for name in self.senders if not _is_ip(name))
        if not names:
            return
        loop = asyncio.get_running_loop()
        answers = await asyncio.gather(
            *(
                asyncio.wait_for(loop.getaddrinfo(name, None, type=socket.SOCK_DGRAM), 5.0)
                for name in names
            ),
            return_exceptions=True,
        )
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException):
                log.warning(
                    "traps: cannot resolve %s (host %s): its traps are tagged with their address",
                    name,
                    self.senders[name],
                )
                continue
            for info in answer:
                self.senders.setdefault(_canonical(str(info[4][0])), self.senders[name])

    def _bind(self) -> socket.socket:
        host, port = self.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except (OSError, UnicodeError) as exc:  # taken, not ours, or no such host name
            sock.close()
            reason = getattr(exc, "strerror", None) or exc
            raise TrapListenError(f"traps cannot listen on UDP {where}: {reason}") from None
        # A burst of traps (a whole district's links flapping) must not overflow the default
        # receive buffer while the loop is busy elsewhere (DESIGN §9).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer_bytes)
        sock.setblocking(False)
        return sock

    async def stop(self) -> None:
        """Close the socket; traps sent afterwards are lost (UDP has no back-pressure)."""
        engine, self._engine = self._engine, None
        if engine is None:
            return
        if self._receiver is not None:
            self._receiver.close(engine)
        engine.observer.unregister_observer(self._security_failure)
        engine.close_dispatcher()  # closes the socket and pysnmp's timer task
        self._socket = self._receiver = None
        self._sink = None

    # -- the datagram path ------------------------------------------------------------------------

    def datagram_received(self, datagram: bytes, address: tuple[str, int]) -> None:
        """Take one datagram: count it, and turn a trap into samples. Never raises."""
        self.stats.datagrams += 1
        received_ns = time.time_ns()
        engine, security = self._engine, self._security
        if engine is None or security is None:
            self._malformed(address, "the receiver is stopped")
            return
        self._delivered = self._indication = None
        try:
            refusal, learned = security.admit(datagram)
            if refusal is not None:
                self._refused(address, refusal)
                return
            engine.message_dispatcher.receive_message(engine, self._domain, address, datagram)
        except Exception as exc:  # whatever pysnmp or pyasn1 raise on garbage
            # The type only: an exception's text may quote the packet, community included.
            self._malformed(address, f"undecodable ({type(exc).__name__})")
            return
        delivered, self._delivered = self._delivered, None
        if delivered is None:
            self._not_delivered(address)
            return
        if learned is not None:
            self.stats.engines_learned += 1
            log.info(
                "traps: learned SNMPv3 engine ID 0x%s from %s (%d known)",
                learned.hex(),
                address[0],
                security.learned,
            )
        self._take(delivered, address, received_ns)

    def _notified(
        self,
        engine: Any,
        state_reference: Any,
        context_engine_id: Any,
        context_name: Any,
        var_binds: Any,
        context: Any,
    ) -> None:
        # pysnmp calls this inside receive_message, after acknowledging an inform; the
        # samples are made once it returns, so that nothing of ours runs inside pysnmp.
        request = engine.observer.get_execution_context(_REQUEST)
        version = _VERSIONS.get(int(request["messageProcessingModel"]), "?")
        self._delivered = _Delivered(version, list(var_binds))

    def _security_failure(
        self, engine: Any, execpoint: str, variables: Mapping[str, Any], context: Any
    ) -> None:
        # Only the indication is read: `variables` also holds the community.
        self._indication = variables.get("statusInformation", {}).get("errorIndication")

    def _not_delivered(self, address: tuple[str, int]) -> None:
        kind = refusal_of(self._indication)
        self._indication = None
        if kind == _DISCOVERY:
            self.stats.discovery += 1
        elif isinstance(kind, Refusal):
            self._refused(address, kind)
        else:
            self._malformed(address, "not an SNMP trap or inform this receiver can read")

    def _take(self, delivered: _Delivered, address: tuple[str, int], received_ns: int) -> None:
        try:
            trap = notification(delivered.version, delivered.var_binds)
        except NotATrapError as exc:
            self._malformed(address, str(exc))
            return
        self.stats.received += 1
        source, known = self._source(trap, address)
        samples = [trap_sample(trap, source, received_ns)]
        labels: Mapping[str, str] = {}
        if known and trap.if_index is not None:
            labels = (
                self._call("interface label lookup", self.interface_tags, source, trap.if_index)
                or {}
            )
        link = interface_sample(trap, source, labels, received_ns)
        if link is not None:
            samples.append(link)
        log.debug("trap %s (SNMP %s) from %s", trap.name, trap.version, source)
        if known and trap.name in RESTART_TRAPS and self.on_restart is not None:
            self._call("restart hook", self.on_restart, source)
        if self._sink is not None:
            self._call("sink", self._sink, samples)

    def _call(self, what: str, function: Callable[..., Any], *arguments: Any) -> Any:
        """`function(*arguments)`, or None when it raised: the agent's own bug, logged once;
        the receiver keeps receiving."""
        try:
            return function(*arguments)
        except Exception:
            self.stats.callback_errors += 1
            if not self._failures.is_failing(what):
                log.exception("traps: the %s failed", what)
            self._failures.mark_failing(what)
            return None

    def _source(self, trap: Notification, address: tuple[str, int]) -> tuple[str, bool]:
        """The inventory host that sent `trap` (SNMPv1: its agent-addr first), and whether
        it is one; an unknown sender is named by its address."""
        if trap.agent_address is not None:
            host = self.senders.get(_canonical(trap.agent_address))
            if host is not None:
                return host, True
        sender = _canonical(address[0])
        host = self.senders.get(sender)
        if host is not None:
            return host, True
        self.stats.unknown_senders += 1
        self._log_once(sender, "unknown_sender", "trap from an address no inventory host has")
        return sender, False

    def _refused(self, address: tuple[str, int], kind: Refusal) -> None:
        self.stats.refused[kind] += 1
        self._log_once(address[0], kind, f"trap refused: {kind.value.replace('_', ' ')}")

    def _malformed(self, address: tuple[str, int], why: str) -> None:
        self.stats.malformed += 1
        self._log_once(address[0], "malformed", f"malformed datagram dropped: {why}")

    def _log_once(self, sender: str, kind: str, message: str) -> None:
        if sender not in self._logged_senders:
            if len(self._logged_senders) >= _MAX_LOGGED_SENDERS:
                sender = "other senders"
            else:
                self._logged_senders.add(sender)
        self._failures.once(sender, kind, message)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _canonical(address: str) -> str:
    """One text per IP address (IPv4-mapped IPv6 as IPv4); other text as it is."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)
