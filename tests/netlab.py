"""Real ICMP paths for tests: a network namespace on a veth pair, with live, dead and shaped hosts.

An ICMP prober in the root namespace pings three kinds of address that :func:`namespace_link`
provides, all inside a private /24 of 10.250.0.0/16 that is routed into the namespace and nowhere
else (test traffic never leaves the machine)::

    with namespace_link() as link:
        link.live              # "10.250.7.2": the namespace's kernel answers
        link.unreachable       # "10.250.7.3": on the link, owned by nobody: no ARP answer
        path = link.shaped(delay_ms=50, jitter_ms=10, loss_pct=5)
        path.address           # "10.250.7.129": answers after 40-60 ms (uniform), loses 5 %
        link.shaper            # "netem" or "tun": which mechanism shapes

or the ``netns_link`` fixture (add ``"tests.netlab"`` to ``pytest_plugins`` in tests/conftest.py;
importing it into a test module trips ruff's F811).

Shaping. The delay is added once per round trip (to the request), so a shaped round-trip time
is the drawn delay plus what the path adds (with the TUN shaper: 0.1-0.3 ms, rarely a few ms
when the Python process wakes late). Under 100 % loss nothing answers. When the kernel has sch_netem
(probed once per link, in the link's namespace), each shaped path is its own veth pair with
``tc qdisc add ... netem delay Dms Jms loss L%`` on the root end (netem draws jitter uniformly
when no distribution is named) and permanent neighbour entries, so that ARP is not shaped. Without
netem the namespace forwards 10.250.X.128/25 and each shaped address is routed into a TUN device
served by ``tests/netlab_shaper.py`` (see there): a process with a bounded lifetime that also
exits when this process goes away.

Unreachable (observed on Linux 6.18). ``link.unreachable`` is on the link, so the root kernel
tries ARP for ~3 s (``mcast_solicit`` 3 x ``retrans_time_ms`` 1000) while queueing the requests,
then gives up and itself sends ICMP destination unreachable / host unreachable (type 3, code 1),
from ``link.host_address``, quoting each queued request, as far as the ICMP rate limits allow
(about 45 of 60 queued, from ``icmp_msgs_burst`` 50). The next request starts a new
resolution, so the cycle repeats every ~3 s; no echo reply ever comes. A raw ICMP socket sees
those errors as packets, and its sendto() never fails (with IP_RECVERR or connect() neither;
with IP_RECVERR its next recv() raises EHOSTUNREACH once per failed resolution). Only an ICMP
datagram ("ping") socket with IP_RECVERR fails sendto() with EHOSTUNREACH, once after each
failed resolution, and that request is not sent.

Names and clean-up. Namespaces are ``nmt-<pid>-<n>``, root-side devices ``nmt-<pid>-<n>h``
(the link) and ``nmt-<pid>-<n>s<k>`` (netem paths); the namespace side names them ``veth0``,
``shp<k>``. Everything is removed on exit, also after a failure. Resources whose owning process
no longer exists (a run that was killed) are removed when the next link is made, and the /24 is
chosen among those no route or address of the root namespace overlaps.

Needs root and ``ip`` (``tc`` for netem, ``/dev/net/tun`` without it): missing, the test skips
locally and fails under ``CI=true`` (see :mod:`tests.peers`).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import pytest

from tests.peers import missing_peer, require_binary

Shaper = Literal["netem", "tun"]
ShaperChoice = Literal["auto", "netem", "tun"]

SUPERNET = ipaddress.IPv4Network("10.250.0.0/16")
SHAPER_PROGRAM = Path(__file__).with_name("netlab_shaper.py")
NAME_PATTERN = re.compile(r"^nmt-(?P<pid>\d+)-(?P<n>\d+)(?:[a-z]\d*)?$")
IFNAMSIZ = 15
COMMAND_TIMEOUT_S = 10.0
SHAPER_READY_TIMEOUT_S = 10.0
SHAPER_STOP_TIMEOUT_S = 3.0
ALLOCATION_LOCK = Path(tempfile.gettempdir()) / "nmt-netlab.lock"
NAMESPACE_VETH = "veth0"
MAX_SHAPED_PATHS = {"netem": 31, "tun": 126}  # /30 blocks, host addresses of 10.250.X.128/25


class NetlabError(RuntimeError):
    """Setting up the lab failed; the message carries the failing command and its stderr."""


@dataclass(frozen=True)
class ShapedPath:
    """An address that answers echo requests after `delay_ms` ± `jitter_ms`, losing `loss_pct` %.

    The delay is uniform on [delay - jitter, delay + jitter] milliseconds and is added once per
    round trip; each request is lost independently. `shaper` names the mechanism; `pid` is the
    userspace shaper's process (None under netem).
    """

    address: str
    delay_ms: float
    jitter_ms: float
    loss_pct: float
    shaper: Shaper
    pid: int | None = None


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `command` with a timeout; raise :class:`NetlabError` naming it when it fails."""
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if check and completed.returncode != 0:
        failure = completed.stderr.strip() or f"exit status {completed.returncode}"
        raise NetlabError(f"{' '.join(command)}: {failure}")
    return completed


def _ip_json(*arguments: str) -> list[dict[str, Any]]:
    output = run("ip", "-j", *arguments).stdout.strip()
    return list(json.loads(output)) if output else []


def _process_exists(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has gone away too


def lab_namespaces() -> set[str]:
    """Names of this module's namespaces (of any process) that exist now."""
    return {n["name"] for n in _ip_json("netns", "list") if NAME_PATTERN.match(n["name"])}


def lab_links() -> set[str]:
    """Names of this module's devices in the root namespace that exist now."""
    return {
        link["ifname"] for link in _ip_json("link", "show") if NAME_PATTERN.match(link["ifname"])
    }


def sweep_leftovers() -> set[str]:
    """Remove namespaces and devices whose owning process no longer exists; return their names."""
    removed = set()
    for name in sorted(lab_links()) + sorted(lab_namespaces()):
        match = NAME_PATTERN.match(name)
        if match is None or _process_exists(int(match["pid"])):
            continue
        if name in lab_namespaces():
            run("ip", "netns", "del", name, check=False)
        else:
            run("ip", "link", "del", name, check=False)
        removed.add(name)
    return removed


def _free_index(pid: int) -> int:
    taken = {
        int(match["n"])
        for name in lab_namespaces() | lab_links()
        if (match := NAME_PATTERN.match(name)) and int(match["pid"]) == pid
    }
    return next(n for n in range(len(taken) + 1) if n not in taken)


def _free_subnet() -> ipaddress.IPv4Network:
    used = []
    for route in _ip_json("-4", "route", "show", "table", "all"):
        if route.get("dst", "default") != "default":
            used.append(ipaddress.IPv4Network(route["dst"], strict=False))
    for interface in _ip_json("-4", "address", "show"):
        for address in interface.get("addr_info", []):
            used.append(ipaddress.IPv4Network(f"{address['local']}/{address['prefixlen']}", False))
    subnets = list(SUPERNET.subnets(new_prefix=24))
    start = os.getpid() % len(subnets)  # concurrent users without the lock rarely collide
    for subnet in subnets[start:] + subnets[:start]:
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise NetlabError(f"no free /24 left in {SUPERNET}")


@contextlib.contextmanager
def _allocation_lock(timeout_s: float = 30.0) -> Iterator[None]:
    with ALLOCATION_LOCK.open("a") as lock:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NetlabError(f"{ALLOCATION_LOCK} held for over {timeout_s} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _host(subnet: ipaddress.IPv4Network, offset: int) -> str:
    return str(subnet.network_address + offset)


def _mac(device: str, namespace: str | None = None) -> str:
    where = ("-n", namespace) if namespace else ()
    return str(_ip_json(*where, "link", "show", "dev", device)[0]["address"])


def netem_supported(namespace: str) -> bool:
    """Whether the kernel has sch_netem, tried on `namespace`'s loopback (left as it was)."""
    if shutil.which("tc") is None:
        return False
    added = run("tc", "-n", namespace, "qdisc", "add", "dev", "lo", "root", "netem", check=False)
    if added.returncode != 0:
        return False
    run("tc", "-n", namespace, "qdisc", "del", "dev", "lo", "root", check=False)
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()  # the shaper's signal to go
    try:
        process.wait(timeout=SHAPER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SHAPER_STOP_TIMEOUT_S)
    if process.stdout is not None:
        process.stdout.close()


def _await_ready(process: subprocess.Popen[bytes], stdout: IO[bytes], device: str) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        if selector.select(timeout=SHAPER_READY_TIMEOUT_S):
            line = stdout.readline()
            if line.strip() == b"ready":
                return
    raise NetlabError(f"shaper for {device} not ready (exit status {process.poll()})")


@contextlib.contextmanager
def shaper_process(
    namespace: str,
    device: str,
    *,
    delay_ms: float,
    jitter_ms: float = 0.0,
    loss_pct: float = 0.0,
    lifetime_s: float,
    seed: int | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``netlab_shaper.py`` in `namespace` serving the new TUN `device`, until exit.

    Yields once the device exists (down, without routes). On exit the shaper's stdin is closed,
    which stops it; it is killed if it has not stopped within a few seconds.
    """
    command = [
        "ip", "netns", "exec", namespace, sys.executable, "-I", str(SHAPER_PROGRAM),
        "--tun", device, "--delay-ms", str(delay_ms), "--jitter-ms", str(jitter_ms),
        "--loss-pct", str(loss_pct), "--lifetime-s", str(lifetime_s),
    ]  # fmt: skip
    if seed is not None:
        command += ["--seed", str(seed)]
    # stderr is inherited: the shaper's summary and any traceback reach pytest's capture.
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        _await_ready(process, process.stdout, device)
        yield process
    finally:
        _stop(process)


@dataclass
class NamespaceLink:
    """A namespace on a veth pair from the root namespace, and the addresses tests ping.

    All addresses are dotted-quad strings in `subnet` (a /24 of 10.250.0.0/16). Probes leave from
    `host_address` on `host_device`. `shaper` is the mechanism :meth:`shaped` uses.
    """

    namespace: str
    host_device: str
    subnet: ipaddress.IPv4Network
    shaper: Shaper
    lifetime_s: float
    _resources: contextlib.ExitStack = field(repr=False)
    _paths: list[ShapedPath] = field(default_factory=list, repr=False)

    @property
    def host_address(self) -> str:
        """The root namespace's end of the link: the source address of probes."""
        return _host(self.subnet, 1)

    @property
    def live(self) -> str:
        """The namespace's end of the link: its kernel answers echo requests."""
        return _host(self.subnet, 2)

    @property
    def unreachable(self) -> str:
        """On the link but owned by nobody: no ARP answer, every request lost."""
        return _host(self.subnet, 3)

    def shaped(
        self,
        delay_ms: float,
        jitter_ms: float = 0.0,
        loss_pct: float = 0.0,
        *,
        seed: int | None = None,
    ) -> ShapedPath:
        """A new address answering after `delay_ms` ± `jitter_ms` (uniform), losing `loss_pct` %.

        `seed` makes the userspace shaper's draws repeatable (netem cannot be seeded). The path
        lives as long as the link.
        """
        if not 0 <= jitter_ms <= delay_ms:
            raise ValueError(f"need 0 <= jitter_ms <= delay_ms, got {jitter_ms}, {delay_ms}")
        if not 0 <= loss_pct <= 100:
            raise ValueError(f"loss_pct must be a percentage, got {loss_pct}")
        index = len(self._paths) + 1
        if index > MAX_SHAPED_PATHS[self.shaper]:
            raise NetlabError(f"at most {MAX_SHAPED_PATHS[self.shaper]} shaped paths per link")
        pid = None
        if self.shaper == "netem":
            address = self._netem_path(index, delay_ms, jitter_ms, loss_pct)
        else:
            address, pid = self._tun_path(index, delay_ms, jitter_ms, loss_pct, seed)
        path = ShapedPath(address, delay_ms, jitter_ms, loss_pct, self.shaper, pid)
        self._paths.append(path)
        return path

    def _tun_path(
        self, index: int, delay_ms: float, jitter_ms: float, loss_pct: float, seed: int | None
    ) -> tuple[str, int]:
        address, device = _host(self.subnet, 128 + index), f"shp{index}"
        process = self._resources.enter_context(
            shaper_process(
                self.namespace,
                device,
                delay_ms=delay_ms,
                jitter_ms=jitter_ms,
                loss_pct=loss_pct,
                lifetime_s=self.lifetime_s,
                seed=seed,
            )
        )
        run("ip", "-n", self.namespace, "link", "set", "dev", device, "up")
        run("ip", "-n", self.namespace, "route", "add", f"{address}/32", "dev", device)
        return address, process.pid

    def _netem_path(self, index: int, delay_ms: float, jitter_ms: float, loss_pct: float) -> str:
        host_device, device = f"{self.namespace}s{index}", f"shp{index}"
        if len(host_device) > IFNAMSIZ:
            raise NetlabError(f"device name {host_device!r} longer than {IFNAMSIZ} characters")
        block = 128 + 4 * (index - 1)
        host_address, address = _host(self.subnet, block + 1), _host(self.subnet, block + 2)
        _veth_pair(self._resources, host_device, self.namespace, device)
        run("ip", "address", "add", f"{host_address}/30", "dev", host_device)
        run("ip", "link", "set", "dev", host_device, "up")
        run("ip", "-n", self.namespace, "address", "add", f"{address}/30", "dev", device)
        run("ip", "-n", self.namespace, "link", "set", "dev", device, "up")
        # netem shapes ARP as well: fixed neighbours keep it off the path.
        run("ip", "neigh", "replace", address, "lladdr", _mac(device, self.namespace),
            "dev", host_device, "nud", "permanent")  # fmt: skip
        run("ip", "-n", self.namespace, "neigh", "replace", host_address,
            "lladdr", _mac(host_device), "dev", device, "nud", "permanent")  # fmt: skip
        run("tc", "qdisc", "add", "dev", host_device, "root", "netem",
            "delay", f"{delay_ms}ms", f"{jitter_ms}ms",
            "loss", "random", f"{loss_pct}%")  # fmt: skip
        return address


def _veth_pair(
    resources: contextlib.ExitStack, host_device: str, namespace: str, namespace_device: str
) -> None:
    run("ip", "link", "add", host_device, "type", "veth",
        "peer", "name", namespace_device, "netns", namespace)  # fmt: skip
    resources.callback(run, "ip", "link", "del", host_device, check=False)


def require_netlab() -> None:
    """Skip (locally) or fail (under CI) unless this process may build namespaces."""
    require_binary("ip")
    if os.geteuid() != 0:
        missing_peer("root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces")


def _choose_shaper(choice: ShaperChoice, namespace: str) -> Shaper:
    has_netem = netem_supported(namespace)
    if choice == "netem" and not has_netem:
        # Not a peer to install: a kernel feature. Tests ask for "auto", which takes netem
        # where the kernel has it and the TUN shaper otherwise.
        raise NetlabError("the kernel has no sch_netem (tc: qdisc kind unknown)")
    if choice == "tun" or not has_netem:
        if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
            missing_peer("/dev/net/tun for the userspace shaper (the kernel has no netem)")
        return "tun"
    return "netem"


@contextlib.contextmanager
def namespace_link(
    *, shaper: ShaperChoice = "auto", lifetime_s: float = 120.0
) -> Iterator[NamespaceLink]:
    """A fresh :class:`NamespaceLink`, removed with everything on it when the block exits.

    `shaper`: ``"auto"`` uses netem when the kernel has it, the TUN shaper otherwise;
    ``"netem"`` skips the test without netem; ``"tun"`` forces the userspace shaper.
    `lifetime_s` bounds each userspace shaper's life, should this process hang.
    """
    require_netlab()
    with contextlib.ExitStack() as resources:
        with _allocation_lock():
            sweep_leftovers()
            namespace = f"nmt-{os.getpid()}-{_free_index(os.getpid())}"
            host_device = f"{namespace}h"
            if len(host_device) > IFNAMSIZ:
                raise NetlabError(f"device name {host_device!r} longer than {IFNAMSIZ} characters")
            subnet = _free_subnet()
            run("ip", "netns", "add", namespace)
            resources.callback(run, "ip", "netns", "del", namespace, check=False)
            _veth_pair(resources, host_device, namespace, NAMESPACE_VETH)
            run("ip", "address", "add", f"{_host(subnet, 1)}/24", "dev", host_device)
        run("ip", "link", "set", "dev", host_device, "up")
        run("ip", "-n", namespace, "address", "add", f"{_host(subnet, 2)}/24",
            "dev", NAMESPACE_VETH)  # fmt: skip
        run("ip", "-n", namespace, "link", "set", "dev", NAMESPACE_VETH, "up")
        run("ip", "-n", namespace, "link", "set", "dev", "lo", "up")
        chosen = _choose_shaper(shaper, namespace)
        if chosen == "tun":
            shaped_block = f"{_host(subnet, 128)}/25"
            run("ip", "netns", "exec", namespace, sys.executable, "-I", "-c",
                "open('/proc/sys/net/ipv4/ip_forward', 'w').write('1')")  # fmt: skip
            run("ip", "route", "add", shaped_block, "via", _host(subnet, 2), "dev", host_device)
            # Unassigned shaped addresses answer "unreachable" instead of bouncing back.
            run("ip", "-n", namespace, "route", "add", "unreachable", shaped_block)
        yield NamespaceLink(namespace, host_device, subnet, chosen, lifetime_s, resources)


@pytest.fixture
def netns_link() -> Iterator[NamespaceLink]:
    """A :class:`NamespaceLink` for one test, shaped by netem when the kernel has it."""
    with namespace_link() as link:
        yield link
