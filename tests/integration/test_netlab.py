"""The ICMP lab (tests/netlab.py) gives real paths: a live host, a dead one, and shaped ones.

Checked with a raw-socket echo sender of our own: it validates every reply's IPv4 and ICMP
checksums and echoed payload, and timestamps replies in the kernel. Timing is asserted only
through statistical tolerances derived from the configured distribution (4 sigma) plus a fixed
allowance of PATH_OVERHEAD_MS for what the path itself adds.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import math
import os
import random
import selectors
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.netlab import (
    NamespaceLink,
    ShapedPath,
    Shaper,
    lab_links,
    lab_namespaces,
    namespace_link,
    netem_supported,
    require_netlab,
    run,
    shaper_process,
)

pytestmark = pytest.mark.netns

REPOSITORY = Path(__file__).resolve().parents[2]
PATH_OVERHEAD_MS = 3.0  # veth, forwarding, TUN and a Python shaper's wake-up, with room to spare
SIGMAS = 4.0
SO_TIMESTAMPNS = 35  # Linux; the socket module does not name it
ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_ECHO_REQUEST = 0, 3, 8
MAX_PAYLOAD = 1400  # under the 1500-byte veth MTU with headers


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum, written independently of the shaper's."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass
class Echoes:
    """What one run of the echo sender saw."""

    sent: int = 0
    rtt_ms: dict[int, float] = field(default_factory=dict)  # sequence number -> round trip
    duplicates: int = 0
    damaged: list[str] = field(default_factory=list)  # replies with our identifier but wrong
    unreachable: list[tuple[str, int, int]] = field(default_factory=list)  # (from, code, seq)
    send_errors: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.sent - len(self.rtt_ms)


class EchoSender:
    """Sends numbered echo requests to one address from a raw socket and matches the replies."""

    def __init__(self, address: str, payload_sizes: Callable[[int], int]) -> None:
        self.address = address
        self.identifier = random.getrandbits(16)
        self.token = os.urandom(8)  # other processes' pings share the identifier space
        self.payload_sizes = payload_sizes
        self.payloads: dict[int, bytes] = {}
        self.sent_ns: dict[int, int] = {}
        self.echoes = Echoes()

    def request(self, sequence: int) -> bytes:
        size = max(self.payload_sizes(sequence), len(self.token) + 2)
        payload = self.token + struct.pack("!H", sequence) + os.urandom(size - len(self.token) - 2)
        self.payloads[sequence] = payload
        header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, self.identifier, sequence)
        summed = checksum(header + payload)
        return header[:2] + struct.pack("!H", summed) + header[4:] + payload

    def run(self, count: int, spacing_s: float, linger_s: float) -> Echoes:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock,
            selectors.DefaultSelector() as selector,
        ):
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            start = time.monotonic()
            for sequence in range(count):
                self._receive_until(sock, selector, start + sequence * spacing_s)
                packet = self.request(sequence)
                self.sent_ns[sequence] = time.time_ns()  # the kernel stamps replies in real time
                try:
                    sock.sendto(packet, (self.address, 0))
                except OSError as error:
                    self.echoes.send_errors.append(errno.errorcode.get(error.errno or 0, "?"))
                self.echoes.sent += 1
            self._receive_until(sock, selector, time.monotonic() + linger_s)
        return self.echoes

    def _receive_until(
        self, sock: socket.socket, selector: selectors.BaseSelector, deadline: float
    ) -> None:
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=remaining):
                continue
            with contextlib.suppress(BlockingIOError):
                while True:
                    data, ancillary, _, (source, _) = sock.recvmsg(65535, socket.CMSG_SPACE(16))
                    self._received(data, source, _kernel_time_ns(ancillary))

    def _received(self, data: bytes, source: str, received_ns: int) -> None:
        header_length = (data[0] & 0x0F) * 4
        icmp = data[header_length:]
        if icmp[0] == ICMP_UNREACHABLE and len(icmp) >= 36:
            self._unreachable(icmp, source)
            return
        if icmp[0] != ICMP_ECHO_REPLY or icmp[4:6] != struct.pack("!H", self.identifier):
            return
        if icmp[8 : 8 + len(self.token)] != self.token:
            return
        (sequence,) = struct.unpack_from("!H", icmp, 6)
        problems = [
            what
            for what, wrong in (
                (f"source {source}", source != self.address),
                ("IPv4 checksum", checksum(data[:header_length]) != 0),
                ("ICMP checksum", checksum(icmp) != 0),
                ("code", icmp[1] != 0),
                ("payload", icmp[8:] != self.payloads.get(sequence)),
            )
            if wrong
        ]
        if problems:
            self.echoes.damaged.append(f"seq {sequence}: {', '.join(problems)}")
        elif sequence in self.echoes.rtt_ms:
            self.echoes.duplicates += 1
        else:
            self.echoes.rtt_ms[sequence] = (received_ns - self.sent_ns[sequence]) / 1e6

    def _unreachable(self, icmp: bytes, source: str) -> None:
        quoted = icmp[8:]  # the request's IPv4 header and its first 8 ICMP bytes
        inner = quoted[(quoted[0] & 0x0F) * 4 :]
        if inner[0] == ICMP_ECHO_REQUEST and inner[4:6] == struct.pack("!H", self.identifier):
            (sequence,) = struct.unpack_from("!H", inner, 6)
            self.echoes.unreachable.append((source, icmp[1], sequence))


def _kernel_time_ns(ancillary: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = struct.unpack("@qq", data[:16])
            return int(seconds) * 1_000_000_000 + int(nanoseconds)
    return time.time_ns()


def ping(
    address: str,
    count: int,
    spacing_s: float,
    linger_s: float = 0.5,
    payload_sizes: Callable[[int], int] = lambda sequence: 56,
) -> Echoes:
    return EchoSender(address, payload_sizes).run(count, spacing_s, linger_s)


def varied_sizes(sequence: int) -> int:
    """Payload sizes up to MAX_PAYLOAD, odd for odd `sequence`: checksums need padding then."""
    return (sequence * 97) % MAX_PAYLOAD


def _binomial_bounds(count: int, probability: float) -> tuple[float, float]:
    spread = SIGMAS * math.sqrt(count * probability * (1 - probability))
    return count * probability - spread, count * probability + spread


def _gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _routes_into(subnet: ipaddress.IPv4Network) -> list[str]:
    output = run("ip", "-j", "-4", "route", "show", "table", "all").stdout
    destinations = [route.get("dst", "default") for route in json.loads(output or "[]")]
    return [
        destination
        for destination in destinations
        if destination != "default"
        and ipaddress.IPv4Network(destination, strict=False).overlaps(subnet)
    ]


@pytest.fixture
def link() -> Iterator[NamespaceLink]:
    with namespace_link() as created:
        yield created


# --- the three kinds of address ------------------------------------------------------------------


def test_live_address_is_answered_by_the_namespace_kernel(link: NamespaceLink) -> None:
    echoes = ping(link.live, count=50, spacing_s=0.005, payload_sizes=varied_sizes)

    assert echoes.damaged == []
    assert sorted(echoes.rtt_ms) == list(range(50))
    assert echoes.duplicates == 0


def test_unreachable_address_loses_everything_and_the_host_says_why(
    link: NamespaceLink,
) -> None:
    # ARP gives up after mcast_solicit (3) x retrans_time (1 s): send for 4 s to see it happen.
    echoes = ping(link.unreachable, count=80, spacing_s=0.05, linger_s=1.5)

    assert echoes.rtt_ms == {}
    assert echoes.damaged == []
    assert echoes.send_errors == [], "a raw socket's sendto() does not fail on ARP failure"
    assert echoes.unreachable, "the root kernel reports host unreachable once ARP fails"
    assert {(source, code) for source, code, _ in echoes.unreachable} == {
        (link.host_address, 1)  # host unreachable, from our end of the link
    }
    assert {sequence for _, _, sequence in echoes.unreachable} <= set(range(80))


# --- shaped paths --------------------------------------------------------------------------------


# "auto" is netem on a kernel that has it (else the TUN shaper again): never a skip.
@pytest.mark.parametrize("shaper", ["tun", "auto"])
def test_shaped_path_has_the_configured_delay_jitter_and_loss(
    shaper: Shaper, record_property: Callable[[str, object], None]
) -> None:
    count, delay_ms, jitter_ms, loss_pct = 400, 50.0, 10.0, 5.0
    with namespace_link(shaper=shaper) as link:
        path = link.shaped(delay_ms, jitter_ms, loss_pct)
        echoes = ping(path.address, count, spacing_s=0.010, linger_s=0.5)
    record_property("shaper", link.shaper)
    rtts = list(echoes.rtt_ms.values())
    sigma = jitter_ms / math.sqrt(3)  # uniform on [delay - jitter, delay + jitter]
    # The sample standard deviation of a uniform variable (kurtosis 9/5) has a standard error
    # of about sigma * sqrt((9/5 - 1) / (4 n)).
    stdev_error = sigma * math.sqrt(0.8 / (4 * len(rtts)))
    context = (
        f"{link.shaper} shaper: lost {echoes.lost}/{count}, mean {statistics.fmean(rtts):.2f} ms,"
        f" stdev {statistics.stdev(rtts):.2f} ms, min {min(rtts):.2f}, max {max(rtts):.2f}"
    )

    assert echoes.damaged == [], context
    assert echoes.duplicates == 0, context
    low, high = _binomial_bounds(count, loss_pct / 100)
    assert low <= echoes.lost <= high, context
    assert min(rtts) >= delay_ms - jitter_ms, context
    mean_error = SIGMAS * sigma / math.sqrt(len(rtts))
    assert abs(statistics.fmean(rtts) - delay_ms) <= mean_error + PATH_OVERHEAD_MS, context
    assert abs(statistics.stdev(rtts) - sigma) <= SIGMAS * stdev_error + 1.0, context


def test_shaped_paths_without_jitter_keep_their_own_delay_and_echo_intact(
    link: NamespaceLink,
) -> None:
    short, long = link.shaped(delay_ms=10), link.shaped(delay_ms=30)
    seen: dict[str, Echoes] = {}
    for path in (short, long):
        seen[path.address] = ping(path.address, 100, 0.005, payload_sizes=varied_sizes)

    for path in (short, long):
        echoes = seen[path.address]
        context = f"{path} {sorted(echoes.rtt_ms.values())[::10]}"
        assert echoes.damaged == [], context
        assert sorted(echoes.rtt_ms) == list(range(100)), context
        assert min(echoes.rtt_ms.values()) >= path.delay_ms, context
        mean = statistics.fmean(echoes.rtt_ms.values())
        assert mean <= path.delay_ms + PATH_OVERHEAD_MS, context


def test_fully_lossy_path_answers_nothing_while_the_link_lives(link: NamespaceLink) -> None:
    dead = link.shaped(delay_ms=1, loss_pct=100)

    assert ping(dead.address, 50, 0.005).rtt_ms == {}
    assert len(ping(link.live, 5, 0.005).rtt_ms) == 5


def test_auto_uses_netem_exactly_when_the_kernel_has_it(
    link: NamespaceLink, record_property: Callable[[str, object], None]
) -> None:
    record_property("shaper", link.shaper)
    expected = "netem" if netem_supported(link.namespace) else "tun"

    assert link.shaper == expected
    assert link.shaped(1).shaper == expected


def test_shaped_parameters_are_validated(link: NamespaceLink) -> None:
    with pytest.raises(ValueError, match="jitter"):
        link.shaped(delay_ms=5, jitter_ms=6)
    with pytest.raises(ValueError, match="percentage"):
        link.shaped(delay_ms=5, loss_pct=101)


# --- the userspace shaper's own lifetime ---------------------------------------------------------


def test_shaper_stops_when_its_parent_closes_the_pipe(link: NamespaceLink) -> None:
    with shaper_process(link.namespace, "shpx", delay_ms=1, lifetime_s=60) as shaper:
        assert shaper.stdin is not None
        shaper.stdin.close()

        assert shaper.wait(timeout=5) == 0


def test_shaper_stops_at_the_end_of_its_lifetime(link: NamespaceLink) -> None:
    with shaper_process(link.namespace, "shpx", delay_ms=1, lifetime_s=0.5) as shaper:
        assert shaper.wait(timeout=5) == 0  # stdin still open: the lifetime stopped it
        left = run("ip", "-n", link.namespace, "link", "show", "shpx", check=False)

        assert left.returncode != 0, "the TUN device goes with the shaper"


# --- clean-up ------------------------------------------------------------------------------------


def test_everything_is_removed_even_when_the_test_fails() -> None:
    links: list[NamespaceLink] = []
    paths: list[ShapedPath] = []
    existed: list[bool] = []

    def failing_test() -> None:
        with namespace_link() as link:
            links.append(link)
            paths.append(link.shaped(delay_ms=5))
            existed.append(link.namespace in lab_namespaces())
            raise RuntimeError("test failed")

    with pytest.raises(RuntimeError, match="test failed"):
        failing_test()

    (link,) = links
    assert existed == [True]
    assert link.namespace not in lab_namespaces()
    assert not {name for name in lab_links() if name.startswith(link.namespace)}
    assert _routes_into(link.subnet) == []
    for path in paths:
        assert path.pid is None or _gone(path.pid, timeout_s=5), f"shaper of {path} still runs"


def test_two_links_at_once_are_separate() -> None:
    with namespace_link() as first, namespace_link() as second:
        assert first.namespace != second.namespace
        assert not first.subnet.overlaps(second.subnet)
        assert len(ping(first.live, 5, 0.005).rtt_ms) == 5
        assert len(ping(second.live, 5, 0.005).rtt_ms) == 5


KILLED_RUN = """
import json, time
from tests.netlab import namespace_link

with namespace_link(shaper="tun", lifetime_s=30) as link:
    path = link.shaped(delay_ms=5)
    print(json.dumps({"namespace": link.namespace, "shaper_pid": path.pid}), flush=True)
    time.sleep(30)
"""


def _killed_run() -> dict[str, object]:
    """What a process that built a link with a TUN shaper left when SIGKILL ended it."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN], cwd=REPOSITORY, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=10), "the child did not build its link"
        line = child.stdout.readline()
        assert line, f"the child exited with {child.poll()} before building its link"
        state: dict[str, object] = json.loads(line)
    finally:
        child.kill()
        child.wait(timeout=5)
        if child.stdout is not None:
            child.stdout.close()
    return state


def test_leftovers_of_a_killed_run_are_swept_by_the_next_link() -> None:
    require_netlab()
    leftover = _killed_run()
    namespace, shaper_pid = str(leftover["namespace"]), leftover["shaper_pid"]
    assert isinstance(shaper_pid, int)
    try:
        assert _gone(shaper_pid, timeout_s=5), "the orphaned shaper exits by itself"
        assert namespace in lab_namespaces(), "SIGKILL left the namespace behind"
        with namespace_link() as link:
            assert namespace not in lab_namespaces()
            assert not {name for name in lab_links() if name.startswith(namespace)}
            assert len(ping(link.live, 5, 0.005).rtt_ms) == 5
    finally:  # should the sweep have failed
        if not _gone(shaper_pid, timeout_s=0.1):
            os.kill(shaper_pid, signal.SIGKILL)
        run("ip", "netns", "del", namespace, check=False)
