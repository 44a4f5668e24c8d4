"""ICMP echo messages: checksums, requests, and which replies are ours."""

from __future__ import annotations

import struct

import pytest

from collectors.icmp.packet import ECHO_REPLY, checksum, echo_request, parse_reply

COOKIE = b"\x01\x02\x03\x04\x05\x06\x07\x08"


def test_checksum_matches_rfc1071_example() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_a_request_checksums_to_zero_and_carries_id_sequence_cookie() -> None:
    packet = echo_request(0x1234, 0xBEEF, COOKIE, 56)
    assert len(packet) == 8 + 56
    assert checksum(packet) == 0  # a valid message sums to all ones
    kind, code, _sum, ident, seq = struct.unpack("!BBHHH", packet[:8])
    assert (kind, code, ident, seq) == (8, 0, 0x1234, 0xBEEF)
    assert packet[8:16] == COOKIE


def _reply(request: bytes) -> bytes:
    body = bytes([ECHO_REPLY, 0, 0, 0]) + request[4:]
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def test_a_reply_is_read_with_and_without_the_ip_header() -> None:
    reply = _reply(echo_request(7, 9, COOKIE, 56))
    ip_header = bytes([0x45]) + bytes(19)
    for data, with_ip in ((reply, False), (ip_header + reply, True)):
        parsed = parse_reply(data, with_ip_header=with_ip)
        assert parsed is not None
        assert (parsed.identifier, parsed.sequence, parsed.cookie) == (7, 9, COOKIE)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 7,
        echo_request(1, 1, COOKIE, 56),  # a request (raw sockets see our own on loopback)
        bytes([3, 1, 0, 0, 0, 0, 0, 0]) + bytes(28),  # destination unreachable
    ],
)
def test_anything_but_an_echo_reply_is_ignored(data: bytes) -> None:
    assert parse_reply(data, with_ip_header=False) is None


def test_a_raw_packet_that_is_not_ipv4_is_ignored() -> None:
    assert parse_reply(b"\x60" + bytes(60), with_ip_header=True) is None
