"""snmpsim serving one recorded device on a set of loopback endpoints.

One :class:`SnmpSimulator` is one ``snmpsim-command-responder`` process serving one recording
(a device class) on every endpoint given. snmpsim chooses the recording by the SNMP community
(v1/v2c) or the SNMPv3 context name, both equal to the recording's file name under its data
directory, so this module copies the recording there under the community's name.

Facts that shaped it (snmpsim 1.2.2, see DESIGN §9):

- snmpsim refuses to run as root unless told which user to become; it is told the current
  user and group, so it never drops to ``nobody`` (who cannot read a venv under /root).
- per-address recordings did not work for v2c, hence one process per recording.
- its variation module ``numeric`` (shipped inside the package, found without
  ``--variation-modules-dir``) turns a ``70|123`` record into a counter that grows with time;
  ``growing_counters=True`` rewrites the copy to use it. Its siblings ``redis`` and ``sql``
  fail to load for want of options: the two ERROR lines this leaves in every log are harmless.
- snmpsim binds a UDP port that another socket already holds without a word, and then never
  sees a request: a port clash shows only as a start-up timeout.

The start-up check speaks SNMP itself (a hand-encoded v2c GET of sysObjectID.0) so that the lab
needs neither net-snmp's tools nor the agent's SNMP stack to know that a device is up.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import math
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from agent.lab.process import (
    Endpoint,
    LabPeer,
    LabProcessError,
    ensure_free,
    find_executable,
    log_tail,
    open_private,
)

if TYPE_CHECKING:
    from agent.lab.oracle import V3Credentials

SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
RESPONDER = "snmpsim-command-responder"
#: How long a simulator or agent may take to answer its first GET before start() gives up.
START_TIMEOUT = 30.0
#: snmpsim registers a community as an SNMPv3 context name only up to this length.
MAX_COMMUNITY = 32


def recordings_dir() -> Path:
    """The folder of the shipped device recordings (``*.snmprec``, see its SOURCES.md)."""
    return Path(__file__).resolve().parent / "snmprec"


def recording_path(stem: str) -> Path:
    """The recording named `stem` (e.g. ``cisco-catalyst-2960x``); FileNotFoundError if none."""
    path = recordings_dir() / f"{stem}.snmprec"
    if "/" in stem or not path.is_file():
        known = ", ".join(sorted(p.stem for p in recordings_dir().glob("*.snmprec")))
        raise FileNotFoundError(f"no recording {stem!r}; known recordings: {known}")
    return path


# --- growing counters -------------------------------------------------------------------------

_IF_TABLE = "1.3.6.1.2.1.2.2.1."
_IF_X_TABLE = "1.3.6.1.2.1.31.1.1.1."
_OCTET_COLUMNS = frozenset(
    {_IF_TABLE + "10", _IF_TABLE + "16", _IF_X_TABLE + "6", _IF_X_TABLE + "10"}
)
_PACKET_COLUMNS = frozenset(
    [_IF_TABLE + str(c) for c in (11, 12, 17, 18)]
    + [_IF_X_TABLE + str(c) for c in (2, 3, 4, 5, 7, 8, 9, 11, 12, 13)]
)
#: sysUpTime.0 and hrSystemUptime.0 advance at 100 ticks a second, like a running device's.
_UPTIMES = frozenset({"1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.25.1.1.0"})
#: Per-second growth ranges: an interface of a provincial WAN carries 8 kbit/s .. 40 Mbit/s;
#: errors, discards and protocol counters creep.
_OCTETS_PER_SECOND = (1_000.0, 5_000_000.0)
_PACKETS_PER_SECOND = (2.0, 5_000.0)
_OTHER_PER_SECOND = (0.001, 0.5)


def _spread(key: str, low: float, high: float) -> float:
    """A rate between low and high, log-uniform, fixed for `key` so runs are reproducible."""
    unit = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64
    return round(math.exp(math.log(low) + unit * (math.log(high) - math.log(low))), 3)


def _growth_rate(oid: str) -> float:
    column = oid.rsplit(".", 1)[0]
    if column in _OCTET_COLUMNS:
        return _spread(oid, *_OCTETS_PER_SECOND)
    if column in _PACKET_COLUMNS:
        return _spread(oid, *_PACKETS_PER_SECOND)
    return _spread(oid, *_OTHER_PER_SECOND)


_NUMERIC_OID = re.compile(r"\d+(?:\.\d+)*")


def servable_record(line: str) -> bool:
    """Whether snmpsim can serve this .snmprec line (blank and comment lines count as servable).

    An anonymised OID such as ``1.3.6.1.2.1.4.20.1.2.10.xx.xx.100`` (Windows recording) makes
    snmpsim raise in the middle of a walk, so the prepared copy leaves such lines out.
    """
    if not line.strip() or line.lstrip().startswith("#"):
        return True
    return _NUMERIC_OID.fullmatch(line.strip().split("|", 1)[0]) is not None


def growing_record(line: str) -> str:
    """One .snmprec line rewritten so that snmpsim's ``numeric`` module makes it grow.

    Counter32 (65) and Counter64 (70) records that are not zero grow and wrap at their width;
    a zero counter (an unused port, an error that never happened) stays zero, as it would on
    the device. sysUpTime/hrSystemUptime (67) grow at 100 ticks/s. Other lines are unchanged.
    """
    parts = line.rstrip("\n").split("|", 2)
    if len(parts) != 3:
        return line
    oid, tag, value = parts
    if tag in ("65", "70") and value.isdigit() and int(value) > 0:
        rate = _growth_rate(oid)
    elif tag == "67" and oid in _UPTIMES and value.isdigit():
        rate = 100.0
    else:
        return line
    newline = "\n" if line.endswith("\n") else ""
    return f"{oid}|{tag}:numeric|initial={value},rate={rate},wrap=1{newline}"


# --- SNMP on the wire, just enough to ask "are you up?" ----------------------------------------


def _ber_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _ber_length(len(body)) + body


def _ber_integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _ber_oid(oid: str) -> bytes:
    arcs = [int(arc) for arc in oid.strip(".").split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        septets = [arc & 0x7F]
        arc >>= 7
        while arc:
            septets.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(septets))
    return _tlv(0x06, bytes(body))


def v2c_get_request(community: str, request_id: int, oid: str = SYS_OBJECT_ID) -> bytes:
    """A BER-encoded SNMPv2c GetRequest for one OID."""
    varbinds = _tlv(0x30, _tlv(0x30, _ber_oid(oid) + b"\x05\x00"))
    pdu = _tlv(0xA0, _ber_integer(request_id) + _ber_integer(0) + _ber_integer(0) + varbinds)
    return _tlv(0x30, _ber_integer(1) + _tlv(0x04, community.encode()) + pdu)


def _read_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        width = length & 0x7F
        length = int.from_bytes(data[pos : pos + width], "big")
        pos += width
    body = data[pos : pos + length]
    if len(body) != length:
        raise ValueError("truncated BER value")
    return tag, body, pos + length


def response_request_id(datagram: bytes) -> int | None:
    """The request-id of an SNMP v1/v2c Response PDU, or None if it is anything else."""
    try:
        _, message, _ = _read_tlv(datagram, 0)
        _, _, pos = _read_tlv(message, 0)  # version
        _, _, pos = _read_tlv(message, pos)  # community
        pdu_tag, pdu, _ = _read_tlv(message, pos)
        if pdu_tag != 0xA2:
            return None
        _, request_id, _ = _read_tlv(pdu, 0)
    except (IndexError, ValueError):
        return None
    return int.from_bytes(request_id, "big", signed=True)


def answers_v2c_get(endpoint: Endpoint, community: str, timeout: float = 0.5) -> bool:
    """Whether `endpoint` answers a v2c GET of sysObjectID.0 for `community` within `timeout`."""
    request_id = secrets.randbelow(2**31 - 1) + 1
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(endpoint)
            sock.send(v2c_get_request(community, request_id))
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                if response_request_id(sock.recv(65535)) == request_id:
                    return True
        except (TimeoutError, ConnectionRefusedError):
            # Refused: nothing bound yet (ICMP port unreachable on the connected socket).
            return False
    return False


def wait_until_answering(
    process: subprocess.Popen[bytes],
    endpoints: Sequence[Endpoint],
    community: str,
    *,
    what: str,
    log_path: Path,
    timeout: float,
) -> None:
    """Block until every endpoint answers; LabProcessError if `process` dies or time runs out."""
    deadline = time.monotonic() + timeout
    waiting = list(endpoints)
    while waiting:
        if process.poll() is not None:
            raise LabProcessError(
                f"{what} exited with status {process.returncode} before answering; "
                f"log {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise LabProcessError(
                f"{what} did not answer on {waiting} within {timeout:g} s; "
                f"log {log_path}:\n{log_tail(log_path)}"
            )
        if answers_v2c_get(waiting[0], community):
            waiting.pop(0)
        else:
            time.sleep(0.1)


# --- the simulator -------------------------------------------------------------------------------

#: snmpsim spells the protocols without net-snmp's hyphen.
_SNMPSIM_AUTH = {"MD5": "MD5", "SHA": "SHA", "SHA-224": "SHA224", "SHA-256": "SHA256",
                 "SHA-384": "SHA384", "SHA-512": "SHA512"}  # fmt: skip
_SNMPSIM_PRIV = {"DES": "DES", "AES": "AES", "AES-128": "AES", "AES-192": "AES192",
                 "AES-256": "AES256"}  # fmt: skip

LogLevel = Literal["debug", "info", "error"]
_COMMUNITY = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_COMMUNITY}}}")


class SnmpSimulator(LabPeer):
    """snmpsim serving `recording` on `endpoints`, answering to `community` (default: the stem).

    `state_dir` belongs to this simulator: it gets ``data/``, ``cache/``, ``snmpsim.args`` (0600,
    holds the v3 keys) and ``snmpsim.log`` (0600: snmpsim logs the v3 keys at start-up).

    SNMPv3 (`v3`): requests must name the community as their context (``snmpget -n``). Without
    `v3`, snmpsim serves its built-in user ``simulator`` (MD5/DES, published keys).
    `growing_counters`: counters grow at fixed per-OID rates (see :func:`growing_record`);
    off by default so that two reads of the same OID agree, as comparison tests need.
    `log_level` "info" logs every request: for debugging only, it costs CPU and disk.
    """

    def __init__(
        self,
        state_dir: Path,
        recording: str,
        endpoints: Sequence[Endpoint],
        community: str | None = None,
        *,
        v3: V3Credentials | None = None,
        growing_counters: bool = False,
        log_level: LogLevel = "error",
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        if not endpoints:
            raise ValueError("a simulator needs at least one endpoint")
        self.recording = recording
        self.source = recording_path(recording)
        self.community = community or recording
        if not _COMMUNITY.fullmatch(self.community):
            # The community is a file name in the data dir and an SNMPv3 context name.
            raise ValueError(f"community must be 1-{MAX_COMMUNITY} of [A-Za-z0-9._-]")
        if v3 is not None and (
            v3.auth_protocol not in _SNMPSIM_AUTH or v3.priv_protocol not in _SNMPSIM_PRIV
        ):
            raise ValueError(f"snmpsim cannot serve {v3.auth_protocol}/{v3.priv_protocol}")
        self.state_dir = state_dir
        self.endpoints = list(endpoints)
        self.v3 = v3
        self.growing_counters = growing_counters
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.log_path = state_dir / "snmpsim.log"
        #: Lines of the recording left out of the served copy (see :func:`servable_record`).
        self.dropped_records = 0

    def __repr__(self) -> str:
        return f"SnmpSimulator({self.recording!r}, endpoints={self.endpoints!r})"

    def _prepare(self) -> Path:
        data_dir = self.state_dir / "data"
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        target = data_dir / f"{self.community}.snmprec"
        self.dropped_records = 0
        # Binary-safe like snmpsim itself, which reads recordings as ISO-8859-1.
        with (
            self.source.open(encoding="iso-8859-1", newline="") as source,
            target.open("w", encoding="iso-8859-1", newline="") as copy,
        ):
            for line in source:
                if not servable_record(line):
                    self.dropped_records += 1
                    continue
                copy.write(growing_record(line) if self.growing_counters else line)
        return data_dir

    def _engine_args(self, data_dir: Path) -> list[str]:
        args = [f"--data-dir={data_dir}"]
        args += [f"--agent-udpv4-endpoint={host}:{port}" for host, port in self.endpoints]
        if self.v3 is not None:
            args += [
                f"--v3-user={self.v3.user}",
                f"--v3-auth-key={self.v3.auth_password.reveal()}",
                f"--v3-auth-proto={_SNMPSIM_AUTH[self.v3.auth_protocol]}",
                f"--v3-priv-key={self.v3.priv_password.reveal()}",
                f"--v3-priv-proto={_SNMPSIM_PRIV[self.v3.priv_protocol]}",
            ]
        if any(char.isspace() for arg in args for char in arg):
            raise ValueError("snmpsim's --args-from-file splits on white space: none allowed")
        return args

    def launch(self) -> None:
        """Start the snmpsim process without waiting for it (see :meth:`wait_ready`)."""
        if self.running:
            return
        for endpoint in self.endpoints:
            ensure_free(endpoint)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data_dir = self._prepare()
        cache_dir = self.state_dir / "cache"
        cache_dir.mkdir(exist_ok=True)
        # Engine options go through a 0600 file, so the v3 keys never show in `ps`.
        args_path = self.state_dir / "snmpsim.args"
        with open_private(args_path) as args_file:
            args_file.write("\n".join(self._engine_args(data_dir)).encode() + b"\n")
        command = [
            find_executable(RESPONDER),
            f"--process-user={pwd.getpwuid(os.getuid()).pw_name}",
            f"--process-group={grp.getgrgid(os.getgid()).gr_name}",
            f"--cache-dir={cache_dir}",
            "--logging-method=stderr",
            f"--log-level={self.log_level}",
            f"--args-from-file={args_path}",
        ]
        self._spawn(command, self.log_path, self.state_dir)

    def wait_ready(self) -> None:
        """Return once every endpoint answers; stop and raise LabProcessError if it does not."""
        if self._process is None:
            raise LabProcessError(f"{self!r} was not launched")
        try:
            wait_until_answering(
                self._process,
                self.endpoints,
                self.community,
                what=f"snmpsim ({self.recording})",
                log_path=self.log_path,
                timeout=self.start_timeout,
            )
        except BaseException:
            self.stop()
            raise


@contextlib.contextmanager
def simulators(sims: Sequence[SnmpSimulator]) -> Iterator[Sequence[SnmpSimulator]]:
    """Run all `sims`; stop every one on exit, or as soon as one fails to start.

    They are launched together and then awaited: start-up is mostly CPU (imports, indexing the
    recording), so on two cores this takes about half as long as starting them one by one.
    """
    with contextlib.ExitStack() as stack:
        for sim in sims:
            stack.callback(sim.stop)
            sim.launch()
        for sim in sims:
            sim.wait_ready()
        yield sims
