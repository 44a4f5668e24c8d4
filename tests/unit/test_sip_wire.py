"""The SIP wire code: the OPTIONS we send, and reading whatever comes back."""

from __future__ import annotations

import contextlib
import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.sip.wire import (
    MAX_MESSAGE,
    SipProbeError,
    options_request,
    parse_response,
    parse_sip_uri,
    split_message,
)

#: SIPp's 200 to our OPTIONS (agent.lab.sip's scenario), captured byte for byte.
SIPP_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:48156;branch=z9hG4bK615ffd1290b4cfb2;rport\r\n"
    b"From: <sip:netmon@127.0.0.1>;tag=8869c18c\r\n"
    b"To: <sip:127.78.9.1:25062>;tag=lab19777x2\r\n"
    b"Call-ID: capture-1@netmon\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Contact: <sip:127.78.9.1:25062;transport=udp>\r\n"
    b"Allow: OPTIONS\r\n"
    b"Accept: application/sdp\r\n"
    b"Server: TSLCD lab videoconference endpoint (SIPp)\r\n"
    b"Content-Length:     0\r\n"
    b"\r\n"
)

#: An MCU's answer in the compact forms, with a folded header and an SDP body.
MCU_200_COMPACT = (
    b"SIP/2.0 200 OK\r\n"
    b"v: SIP/2.0/TCP 10.1.2.3:5060;branch=z9hG4bKabc;received=10.1.2.3\r\n"
    b"f: <sip:netmon@10.1.2.3>;tag=1\r\n"
    b"t: <sip:10.9.9.9>;tag=2\r\n"
    b"i: mcu-call@netmon\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Allow: INVITE, ACK, CANCEL,\r\n"
    b"  OPTIONS, BYE\r\n"
    b"c: application/sdp\r\n"
    b"l: 29\r\n"
    b"\r\n"
    b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"
)


def test_a_real_sipp_response_reads_completely() -> None:
    response = parse_response(SIPP_200, 0.25)

    assert (response.status, response.reason, response.rtt_s) == (200, "OK", 0.25)
    assert response.header("Call-ID") == "capture-1@netmon"
    assert response.cseq == (1, "OPTIONS")
    assert response.header("content-length") == "0"
    assert response.header("Server") == "TSLCD lab videoconference endpoint (SIPp)"
    assert response.header("X-Absent") is None


def test_compact_forms_and_folded_lines_read_as_their_long_headers() -> None:
    response = parse_response(MCU_200_COMPACT, 0.0)

    assert response.header("Call-ID") == response.header("i") == "mcu-call@netmon"
    assert response.header("Via") == "SIP/2.0/TCP 10.1.2.3:5060;branch=z9hG4bKabc;received=10.1.2.3"
    assert response.header("Allow") == "INVITE, ACK, CANCEL, OPTIONS, BYE"
    assert response.header("Content-Type") == "application/sdp"


def test_a_datagram_without_the_final_empty_line_still_reads() -> None:
    # A datagram delimits its message; only streams need the empty line to frame one.
    response = parse_response(SIPP_200.removesuffix(b"\r\n\r\n"), 0.0)
    assert response.header("content-length") == "0"


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (b"", "not a SIP response"),
        (b"garbage\r\n\r\n", "not a SIP response"),
        (b"HTTP/1.1 200 OK\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n", "not a SIP response"),
        (b"SIP/2.0 20", "not a SIP response"),  # a truncated status line
        (b"SIP/2.0", "not a SIP response"),
        (b"SIP/2.0 2000 OK\r\n", "not a SIP response"),
        (b"SIP/2.0 099 Too Low\r\n", "not a SIP response"),
        (b"SIP/2.0 700 Too High\r\n", "not a SIP response"),
        # str.isdigit() accepts these, and int() then raises ValueError, not SipProbeError.
        ("SIP/2.0 2²0 OK\r\n".encode(), "not a SIP response"),
        ("SIP/2.0 ２００ OK\r\n".encode(), "not a SIP response"),
        (b"SIP/2.0 200 OK\nCall-ID: x\nCSeq: 1 OPTIONS\n\n", "not a SIP response"),
        (b"SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n", "without a Call-ID"),
        (b"SIP/2.0 200 OK\r\nCall-ID:\r\nCSeq: 1 OPTIONS\r\n\r\n", "without a Call-ID"),
        (b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", "CSeq"),
        (b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: one OPTIONS\r\n\r\n", "CSeq"),
        (b"SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nno colon\r\n\r\n", "header line"),
        (b"SIP/2.0 200 OK\r\n folded first\r\nCall-ID: x\r\n\r\n", "continuation"),
        (b"SIP/2.0 200 OK\r\nBad Name: 1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n", "header"),
    ],
)
def test_what_is_not_a_usable_response_is_a_sip_probe_error(message: bytes, why: str) -> None:
    with pytest.raises(SipProbeError, match=why):
        parse_response(message, 0.0)


@given(st.binary(max_size=2048))
def test_parsing_any_bytes_raises_nothing_but_sip_probe_error(message: bytes) -> None:
    with contextlib.suppress(SipProbeError):
        parse_response(message, 0.0)


# Pieces a SIP response is made of: garbage assembled from them reaches deeper than bytes.
_SIP_PIECES = st.sampled_from(
    [
        "SIP/2.0 ",
        "sip/2.0 ",
        "200",
        "100",
        "486",
        " OK",
        "\r\n",
        "\r\n\r\n",
        "\n",
        ":",
        " ",
        "\t",
        "Call-ID",
        "i",
        "CSeq",
        "1 OPTIONS",
        "Content-Length",
        "l",
        "²",
        "\x00",
        "é",
        "x",
    ]
)


@given(st.lists(_SIP_PIECES, max_size=40).map("".join))
def test_parsing_sip_like_text_raises_nothing_but_sip_probe_error(text: str) -> None:
    with contextlib.suppress(SipProbeError):
        parse_response(text.encode(), 0.0)


@st.composite
def _mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with a few bytes replaced, deleted or inserted, or cut short."""
    message = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(message)))
        action = draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
        if action == "truncate":
            del message[at:]
        elif action == "delete":
            del message[at : at + draw(st.integers(1, 8))]
        elif action == "insert":
            message[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif at < len(message):
            message[at] = draw(st.integers(0, 255))
    return bytes(message)


@settings(max_examples=300)
@given(st.one_of(_mutated(SIPP_200), _mutated(MCU_200_COMPACT)))
def test_mutated_real_responses_parse_or_raise_sip_probe_error(message: bytes) -> None:
    try:
        response = parse_response(message, 0.0)
    except SipProbeError:
        return
    assert 100 <= response.status <= 699
    assert response.header("call-id")


@settings(max_examples=300)
@given(st.one_of(_mutated(SIPP_200), _mutated(MCU_200_COMPACT), st.binary(max_size=512)))
def test_stream_framing_of_anything_raises_nothing_but_sip_probe_error(buffer: bytes) -> None:
    try:
        framed = split_message(buffer)
    except SipProbeError:
        return
    if framed is not None:
        message, rest = framed
        assert message + rest in buffer


def test_a_stream_message_is_framed_by_its_content_length() -> None:
    second = SIPP_200.replace(b"capture-1", b"capture-2")
    stream = b"\r\n\r\n" + MCU_200_COMPACT + second  # CRLF keep-alives before the first

    framed = split_message(stream)
    assert framed is not None
    first, rest = framed
    assert first == MCU_200_COMPACT  # its body (29 bytes) included, the next message not
    assert parse_response(first, 0.0).header("i") == "mcu-call@netmon"
    assert split_message(rest) == (second, b"")


@given(st.lists(st.integers(1, len(MCU_200_COMPACT) + len(SIPP_200) - 1), max_size=6))
def test_a_stream_cut_anywhere_yields_the_same_messages(cuts: list[int]) -> None:
    stream = MCU_200_COMPACT + SIPP_200
    bounds = [0, *sorted(set(cuts)), len(stream)]
    messages, buffer = [], b""
    for start, end in itertools.pairwise(bounds):
        buffer += stream[start:end]
        while (framed := split_message(buffer)) is not None:
            message, buffer = framed
            messages.append(message)
    assert messages == [MCU_200_COMPACT, SIPP_200]
    assert buffer == b""


@pytest.mark.parametrize(
    ("buffer", "why"),
    [
        (b"HTTP", "not a SIP response"),  # recognised before any line ends
        (b"garbage that never ends a line", "not a SIP response"),
        (b"SIP/2.0 2OO OK\r\n", "not a SIP response"),
        (b"SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"SIP/2.0 200 OK\r\nContent-Length: 99999999\r\n\r\n", "Content-Length"),
        (b"SIP/2.0 200 OK\r\nX: " + b"a" * MAX_MESSAGE, "no end of the SIP headers"),
    ],
)
def test_a_stream_that_cannot_hold_a_sip_response_is_refused_early(buffer: bytes, why: str) -> None:
    with pytest.raises(SipProbeError, match=why):
        split_message(buffer)


def test_an_incomplete_stream_message_waits_for_more() -> None:
    assert split_message(b"") is None
    assert split_message(b"SI") is None
    assert split_message(SIPP_200[:40]) is None
    assert split_message(MCU_200_COMPACT[:-1]) is None  # one byte of the body missing


def test_the_options_request_carries_what_the_answer_must_echo() -> None:
    request = options_request(("mcu.example.vn", 5061), ("10.0.0.7", 40000), "tcp", "c1@netmon")
    text = request.decode()

    assert text.startswith("OPTIONS sip:mcu.example.vn:5061;transport=tcp SIP/2.0\r\n")
    assert text.endswith("\r\n\r\n")
    assert "\r\nVia: SIP/2.0/TCP 10.0.0.7:40000;branch=z9hG4bK" in text
    assert "\r\nCall-ID: c1@netmon\r\n" in text
    assert "\r\nCSeq: 1 OPTIONS\r\n" in text
    assert "\r\nContent-Length: 0\r\n" in text


def test_every_request_is_a_new_transaction_and_ipv6_is_bracketed() -> None:
    def branch(request: bytes) -> str:
        found = re.search(rb";branch=(z9hG4bK[0-9a-f]+)", request)
        assert found is not None
        return found[1].decode()

    one = options_request(("2001:db8::1", 5060), ("2001:db8::2", 40000), "udp", "c@netmon")
    two = options_request(("2001:db8::1", 5060), ("2001:db8::2", 40000), "udp", "c@netmon")

    assert branch(one) != branch(two)
    assert one.startswith(b"OPTIONS sip:[2001:db8::1]:5060;transport=udp SIP/2.0\r\n")
    assert b"Via: SIP/2.0/UDP [2001:db8::2]:40000;" in one


@pytest.mark.parametrize(
    ("uri", "host", "port", "transport"),
    [
        ("sip:127.6.0.1:15060;transport=tcp", "127.6.0.1", 15060, "tcp"),
        ("sip:mcu.example.vn", "mcu.example.vn", None, None),
        ("SIP:room1@mcu.example.vn;transport=UDP;lr", "mcu.example.vn", None, "udp"),
        ("sip:[2001:db8::5]:5070", "2001:db8::5", 5070, None),
        ("sip:[2001:db8::5]", "2001:db8::5", None, None),
    ],
)
def test_sip_uris_give_host_port_and_transport(
    uri: str, host: str, port: int | None, transport: str | None
) -> None:
    parsed = parse_sip_uri(uri)
    assert (parsed.host, parsed.port, parsed.transport) == (host, port, transport)


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("https://mcu.example.vn/", "must be a sip: URI"),
        ("mcu.example.vn", "must be a sip: URI"),
        ("sips:mcu.example.vn", "not supported"),
        ("sip:", "no host"),
        ("sip:mcu.example.vn:0", "port '0'"),
        ("sip:mcu.example.vn:65536", "port '65536'"),
        ("sip:mcu.example.vn:５０６０", "port"),
        ("sip:mcu.example.vn;transport=tls", "transport 'tls'"),
        ("sip:mcu.example.vn?subject=x", "headers"),
        ("sip:mcu_01.example.vn", "not a host name"),
        ("sip:300.1.1.1", "not an IPv4 address"),
        ("sip:[fe80::zz]", "not an IPv6 address"),
        ("sip:[2001:db8::5]x", "IPv6 address is written"),
    ],
)
def test_bad_sip_uris_are_refused_saying_why(uri: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_sip_uri(uri)


def test_a_uri_password_is_refused_and_never_repeated() -> None:
    with pytest.raises(ValueError, match="password") as refused:
        parse_sip_uri("sip:alice:hunter2@mcu.example.vn")
    assert "hunter2" not in str(refused.value)
