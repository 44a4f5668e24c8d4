"""Userspace stand-in for ``tc netem`` on kernels without sch_netem: a shaped ICMP echo responder.

Run inside a network namespace (``ip netns exec NS python netlab_shaper.py --tun shp1 ...``).
It creates the TUN device ``--tun``, prints ``ready`` on stdout, and then answers every IPv4
ICMP echo request the kernel routes into the device:

* each request is dropped with probability ``--loss-pct``/100;
* otherwise its echo reply (same identifier, sequence number and payload; fresh IPv4 and ICMP
  checksums; TTL 64) is written back after a delay drawn uniformly from
  [``--delay-ms`` - ``--jitter-ms``, ``--delay-ms`` + ``--jitter-ms``]. Replies may overtake each
  other, as with netem's jitter.

Everything else read from the device (IPv6 router solicitations, fragments, packets with a bad
ICMP checksum) is ignored. The process exits by itself when ``--lifetime-s`` has passed or when
its stdin reaches end of file, i.e. when the parent that holds the pipe's other end goes away;
the TUN device disappears with it. On exit it writes one summary line to stderr.

Standard library only: it runs under ``sys.executable -I``.
"""

from __future__ import annotations

import argparse
import fcntl
import heapq
import itertools
import os
import random
import select
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
IPPROTO_ICMP = 1
REPLY_TTL = 64


@dataclass(frozen=True)
class Shaping:
    """Delay `delay_ms` ± `jitter_ms` (uniform) and loss `loss_pct` percent per request."""

    delay_ms: float
    jitter_ms: float
    loss_pct: float

    def __post_init__(self) -> None:
        if not 0 <= self.jitter_ms <= self.delay_ms:
            raise ValueError(f"need 0 <= jitter <= delay, got {self.jitter_ms} and {self.delay_ms}")
        if not 0 <= self.loss_pct <= 100:
            raise ValueError(f"loss must be a percentage, got {self.loss_pct}")


@dataclass
class Counts:
    requests: int = 0
    dropped: int = 0
    replied: int = 0
    ignored: int = 0


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones' complement sum of `data`, padded to an even length."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total >> 16) + (total & 0xFFFF)
    return ~total & 0xFFFF


def echo_reply(packet: bytes) -> bytes | None:
    """The IPv4 echo reply answering `packet`, or None when `packet` is no echo request."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    header_length = (packet[0] & 0x0F) * 4
    (total_length,) = struct.unpack_from("!H", packet, 2)
    (flags_fragment,) = struct.unpack_from("!H", packet, 6)
    if (
        header_length < 20
        or total_length > len(packet)
        or total_length < header_length + 8
        or packet[9] != IPPROTO_ICMP
        or flags_fragment & 0x3FFF  # more-fragments flag or an offset: not reassembled here
    ):
        return None
    icmp = packet[header_length:total_length]
    if icmp[0] != ICMP_ECHO_REQUEST or icmp[1] != 0 or internet_checksum(icmp) != 0:
        return None
    source, destination = packet[12:16], packet[16:20]
    body = icmp[4:]  # identifier, sequence number, payload
    reply_icmp = struct.pack("!BBH", ICMP_ECHO_REPLY, 0, 0) + body
    reply_icmp = reply_icmp[:2] + struct.pack("!H", internet_checksum(reply_icmp)) + body
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        packet[1],  # type of service
        20 + len(reply_icmp),
        0,  # identification: never fragmented
        0x4000,  # don't fragment
        REPLY_TTL,
        IPPROTO_ICMP,
        0,
        destination,
        source,
    )
    header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
    return header + reply_icmp


def open_tun(name: str) -> int:
    """File descriptor of a new non-persistent, non-blocking TUN device `name` (no packet info)."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def _drain(fd: int) -> Iterator[bytes]:
    while True:
        try:
            yield os.read(fd, 65535)
        except BlockingIOError:
            return


def serve(
    tun_fd: int,
    control_fd: int,
    shaping: Shaping,
    lifetime_s: float,
    rng: random.Random,
    counts: Counts,
) -> str:
    """Answer echo requests on `tun_fd` until the lifetime ends or `control_fd` reaches EOF.

    Returns why it stopped: ``"lifetime"`` or ``"parent gone"``.
    """
    deadline = time.monotonic() + lifetime_s
    # (due time, arrival order, reply): the order breaks ties so packets are never compared.
    pending: list[tuple[float, int, bytes]] = []
    arrival = itertools.count()
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            os.write(tun_fd, heapq.heappop(pending)[2])
            counts.replied += 1
        if now >= deadline:
            return "lifetime"
        wake = min(deadline, pending[0][0]) if pending else deadline
        readable, _, _ = select.select([tun_fd, control_fd], [], [], max(0.0, wake - now))
        if control_fd in readable and not os.read(control_fd, 4096):
            return "parent gone"
        if tun_fd not in readable:
            continue
        for packet in _drain(tun_fd):
            received = time.monotonic()
            reply = echo_reply(packet)
            if reply is None:
                counts.ignored += 1
                continue
            counts.requests += 1
            if rng.random() * 100 < shaping.loss_pct:
                counts.dropped += 1
                continue
            delay_ms = rng.uniform(
                shaping.delay_ms - shaping.jitter_ms, shaping.delay_ms + shaping.jitter_ms
            )
            heapq.heappush(pending, (received + delay_ms / 1000, next(arrival), reply))


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tun", required=True, help="name of the TUN device to create")
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--loss-pct", type=float, default=0.0)
    parser.add_argument("--lifetime-s", type=float, required=True, help="exit after this long")
    parser.add_argument("--seed", type=int, default=None, help="seed for loss and delay draws")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    shaping = Shaping(arguments.delay_ms, arguments.jitter_ms, arguments.loss_pct)
    tun_fd = open_tun(arguments.tun)
    print("ready", flush=True)
    counts = Counts()
    reason = serve(
        tun_fd,
        sys.stdin.fileno(),
        shaping,
        arguments.lifetime_s,
        random.Random(arguments.seed),
        counts,
    )
    print(
        f"netlab_shaper {arguments.tun}: stopped ({reason}); requests={counts.requests}"
        f" dropped={counts.dropped} replied={counts.replied} ignored={counts.ignored}",
        file=sys.stderr,
    )
    os.close(tun_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
