"""ICMP echo messages (RFC 792): building requests and reading replies.

Two socket kinds deliver replies differently (Linux):

- an unprivileged ICMP datagram socket (``SOCK_DGRAM, IPPROTO_ICMP``) hands over the ICMP
  message alone, and the kernel has replaced our identifier with the socket's own (it also
  routes replies to the socket by that identifier);
- a raw socket (``SOCK_RAW``) hands over every ICMP message the host receives, IPv4 header
  included: our requests to local addresses, other programs' replies, errors. We keep only
  echo replies with our identifier and our cookie.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ECHO_REPLY = 0
ECHO_REQUEST = 8
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence
COOKIE_BYTES = 8


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(identifier: int, sequence: int, cookie: bytes, size: int) -> bytes:
    """An echo request whose data is `size` bytes starting with `cookie` (at least the cookie)."""
    payload = cookie + bytes(max(0, size - len(cookie)))
    header = _HEADER.pack(ECHO_REQUEST, 0, 0, identifier, sequence)
    return _HEADER.pack(ECHO_REQUEST, 0, checksum(header + payload), identifier, sequence) + payload


@dataclass(frozen=True, slots=True)
class EchoReply:
    identifier: int
    sequence: int
    cookie: bytes


def parse_reply(data: bytes, *, with_ip_header: bool) -> EchoReply | None:
    """The echo reply in `data`, or None when it is anything else (or too short to be one)."""
    if with_ip_header:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        data = data[(data[0] & 0x0F) * 4 :]
    if len(data) < _HEADER.size + COOKIE_BYTES:
        return None
    kind, code, _sum, identifier, sequence = _HEADER.unpack_from(data)
    if kind != ECHO_REPLY or code != 0:
        return None
    start = _HEADER.size
    return EchoReply(identifier, sequence, bytes(data[start : start + COOKIE_BYTES]))
