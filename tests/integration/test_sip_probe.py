"""The SIP OPTIONS probe against real peers: SIPp as the endpoint, and in-test servers that
answer what a broken endpoint would (garbage, a cut status line, another call's answer).

SIPp tests are marked ``sipp`` (tests/peers.py: skipped locally without it, failed under CI);
the in-test servers need nothing. Addresses 127.78.x.y keep clear of the lab's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import pytest

from agent.collector import CollectorContext, Target
from agent.lab.process import LabProcessError, ensure_free, free_tcp_port, free_udp_port
from agent.lab.sip import SipResponder, SipTransport
from agent.results import Result
from agent.schema import base_schema
from collectors.sip import SipCollector, SipConfig, SipOutcome, options
from tests.peers import require_binary

SIPP_ADDRESS = "127.78.0.1"  # the responders every SIPp test shares
PAUSED_ADDRESS = "127.78.0.2"  # responders a test pauses, its own
NOBODY_ADDRESS = "127.78.0.3"  # nothing listens here
PEER_ADDRESS = "127.78.1.1"  # the in-test servers
TRANSPORTS: tuple[SipTransport, ...] = ("udp", "tcp")


def _free_sip_port(address: str) -> int:
    """A port free for both TCP and UDP, as a SIP endpoint listens on both."""
    for _ in range(20):
        port = free_tcp_port(address)
        try:
            ensure_free((address, port), socket.SOCK_DGRAM)
        except LabProcessError:
            continue
        return port
    raise AssertionError(f"no port free for both TCP and UDP on {address}")


@pytest.fixture(scope="module")
def sipp_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One SIPp per transport on SIPP_ADDRESS and the same port, as an MCU listens."""
    require_binary("sipp")
    state_dir = tmp_path_factory.mktemp("sip-probe")
    port = _free_sip_port(SIPP_ADDRESS)
    with (
        SipResponder(state_dir, SIPP_ADDRESS, port, "udp"),
        SipResponder(state_dir, SIPP_ADDRESS, port, "tcp"),
    ):
        yield port


# --- against SIPp ---------------------------------------------------------------------------


@pytest.mark.sipp
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_answers_200_and_the_round_trip_is_measured(
    sipp_port: int, transport: SipTransport
) -> None:
    outcome = asyncio.run(options(SIPP_ADDRESS, sipp_port, transport, 5.0))

    assert outcome == SipOutcome(Result.SUCCESS, 200, outcome.response_time_s, "", 0)
    assert outcome.response_time_s is not None
    assert outcome.response_time_s > 0


@pytest.mark.sipp
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_probe_is_a_new_call_that_sipp_answers(
    sipp_port: int, transport: SipTransport
) -> None:
    # SIPp discards a request whose Call-ID it has answered: a reused one would time out.
    async def probes() -> list[SipOutcome]:
        return [await options(SIPP_ADDRESS, sipp_port, transport, 5.0) for _ in range(3)]

    assert [o.result for o in asyncio.run(probes())] == [Result.SUCCESS] * 3


@pytest.mark.sipp
def test_probes_run_concurrently_match_their_own_answers(sipp_port: int) -> None:
    async def probes() -> list[SipOutcome]:
        return await asyncio.gather(
            *(options(SIPP_ADDRESS, sipp_port, t, 5.0) for t in TRANSPORTS * 5)
        )

    outcomes = asyncio.run(probes())

    assert [(o.result, o.status_code, o.ignored) for o in outcomes] == [
        (Result.SUCCESS, 200, 0)
    ] * 10


@pytest.mark.sipp
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_collector_polls_a_sip_uri(sipp_port: int, transport: SipTransport) -> None:
    collector = SipCollector(CollectorContext(base_schema()))
    url = f"sip:{SIPP_ADDRESS}:{sipp_port};transport={transport}"
    # The target's own address is unused: the URI says where the endpoint is.
    target = Target("vc-mcu-lab", "127.78.0.99", "sip", SipConfig(url=url, timeout_s=5))

    [sample] = asyncio.run(collector.collect(target))

    assert sample.tags == {
        "server": f"{SIPP_ADDRESS}:{sipp_port}",
        "method": "OPTIONS",
        "transport": transport,
        "result": "success",
    }
    assert sample.fields["status_code"] == 200
    assert isinstance(sample.fields["response_time"], float)
    assert base_schema().problems(sample) == []


@pytest.mark.sipp
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_paused_endpoint_times_out_then_answers_once_resumed(
    tmp_path: Path, transport: SipTransport
) -> None:
    require_binary("sipp")
    # SIGSTOPped, its socket still exists: UDP datagrams queue unread (no ICMP error) and
    # the kernel completes TCP handshakes by itself, so the request is taken, never answered.
    with SipResponder(tmp_path, PAUSED_ADDRESS, _free_sip_port(PAUSED_ADDRESS), transport) as sipp:
        sipp.pause()
        try:
            paused = asyncio.run(options(PAUSED_ADDRESS, sipp.port, transport, 0.5))
        finally:
            sipp.resume()
        resumed = asyncio.run(options(PAUSED_ADDRESS, sipp.port, transport, 5.0))

    assert paused == SipOutcome(Result.TIMEOUT, error="no final response in 0.5 s")
    assert resumed.result is Result.SUCCESS  # it was the pause, not a broken responder


def test_udp_to_a_port_nobody_holds_is_refused() -> None:
    # Observed on Linux: the loopback answers a datagram for a port no socket holds with an
    # ICMP port unreachable at once, never rate-limited there, and the probe's connected UDP
    # socket reports it as ECONNREFUSED, so the probe need not wait for its timeout. (Across
    # a firewall that drops instead, the same probe would end in a timeout.)
    port = free_udp_port(NOBODY_ADDRESS)

    outcome = asyncio.run(options(NOBODY_ADDRESS, port, "udp", 5.0))

    assert outcome == SipOutcome(Result.CONNECTION_ERROR, error="Connection refused")


def test_tcp_to_a_port_nobody_listens_on_is_refused() -> None:
    port = free_tcp_port(NOBODY_ADDRESS)

    outcome = asyncio.run(options(NOBODY_ADDRESS, port, "tcp", 5.0))

    assert outcome == SipOutcome(Result.CONNECTION_ERROR, error="Connection refused")


# --- against broken endpoints ---------------------------------------------------------------

Answer = Callable[[bytes], list[bytes]]


def _header(request: bytes, name: str) -> str:
    found = re.search(rf"\r\n{name}: ([^\r]*)\r\n".encode(), request)
    assert found is not None, f"no {name} in the request"
    return found[1].decode()


def response(
    request: bytes, status: str = "200 OK", *, call_id: str | None = None, cseq: str | None = None
) -> bytes:
    """A well-formed answer to `request`, with its Call-ID or CSeq replaced if asked."""
    lines = [
        f"SIP/2.0 {status}",
        f"Via: {_header(request, 'Via')}",
        f"From: {_header(request, 'From')}",
        f"To: {_header(request, 'To')};tag=peer",
        f"Call-ID: {call_id or _header(request, 'Call-ID')}",
        f"CSeq: {cseq or _header(request, 'CSeq')}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _UdpPeer(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport does not subclass DatagramTransport: no isinstance.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.requests.append(data)
        assert self.transport is not None
        for datagram in self.answer(data):
            self.transport.sendto(datagram, addr)


@asynccontextmanager
async def sip_peer(
    transport: SipTransport, answer: Answer, *, hang_up: bool = False
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A server on PEER_ADDRESS answering each request with `answer(request)`: (port, requests).

    Over TCP it keeps the connection open after answering, as an endpoint does, unless
    `hang_up`.
    """
    requests: list[bytes] = []
    if transport == "udp":
        endpoint, peer = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _UdpPeer(answer), local_addr=(PEER_ADDRESS, 0)
        )
        try:
            yield endpoint.get_extra_info("sockname")[1], peer.requests
        finally:
            endpoint.close()
        return

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        requests.append(request)
        writer.write(b"".join(answer(request)))
        await writer.drain()
        if not hang_up:
            await reader.read()  # until the probe closes
        writer.close()

    server = await asyncio.start_server(serve, PEER_ADDRESS, 0)
    try:
        yield server.sockets[0].getsockname()[1], requests
    finally:
        server.close()


def _probe(
    transport: SipTransport, answer: Answer, timeout_s: float = 2.0, *, hang_up: bool = False
) -> tuple[SipOutcome, list[bytes]]:
    async def scenario() -> tuple[SipOutcome, list[bytes]]:
        async with sip_peer(transport, answer, hang_up=hang_up) as (port, requests):
            return await options(PEER_ADDRESS, port, transport, timeout_s), requests

    return asyncio.run(scenario())


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (lambda request: [b"garbage\r\n\r\n"], "not a SIP response: 'garbage'"),
        (lambda request: [b"HTTP/1.1 400 Bad Request\r\n\r\n"], "not a SIP response"),
        (lambda request: [b"SIP/2.0 2OO OK\r\n\r\n"], "not a SIP response: 'SIP/2.0 2OO OK'"),
        (
            lambda request: [response(request).replace(b"\r\nCSeq: 1 OPTIONS", b"")],
            "no valid CSeq header",  # it cannot be matched to the request
        ),
    ],
    ids=["garbage", "http", "letter-o-status", "no-cseq"],
)
def test_an_answer_that_is_not_sip_is_a_bad_response(
    transport: SipTransport, answer: Answer, why: str
) -> None:
    outcome, requests = _probe(transport, answer)

    assert len(requests) == 1
    assert outcome.result is Result.BAD_RESPONSE
    assert why in outcome.error


def test_a_truncated_status_line_is_a_bad_response_over_udp() -> None:
    outcome, _ = _probe("udp", lambda request: [b"SIP/2.0 20"])
    assert outcome == SipOutcome(Result.BAD_RESPONSE, error="not a SIP response: 'SIP/2.0 20'")


def test_a_truncated_status_line_then_hang_up_is_a_bad_response_over_tcp() -> None:
    outcome, _ = _probe("tcp", lambda request: [b"SIP/2.0 20"], hang_up=True)
    assert outcome == SipOutcome(
        Result.BAD_RESPONSE, error="the connection closed in the middle of a response"
    )


def test_hanging_up_without_an_answer_is_a_connection_error() -> None:
    outcome, requests = _probe("tcp", lambda request: [], hang_up=True)
    assert len(requests) == 1
    assert outcome == SipOutcome(
        Result.CONNECTION_ERROR, error="the connection closed before a final response"
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_answer_for_another_call_is_ignored_and_the_probe_times_out(
    transport: SipTransport,
) -> None:
    outcome, requests = _probe(
        transport, lambda request: [response(request, call_id="someone-else@x")], 0.5
    )

    assert len(requests) == 1
    assert outcome == SipOutcome(
        Result.TIMEOUT,
        error="no final response in 0.5 s (answers to other requests ignored: 1)",
        ignored=1,
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_provisional_and_stray_answers_are_skipped_until_the_final_one(
    transport: SipTransport,
) -> None:
    def answer(request: bytes) -> list[bytes]:
        return [
            response(request, "100 Trying"),
            response(request, cseq="2 OPTIONS"),  # another transaction of this call
            response(request, "200 OK"),
        ]

    outcome, _ = _probe(transport, answer)

    assert (outcome.result, outcome.status_code, outcome.ignored) == (Result.SUCCESS, 200, 1)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_final_error_status_is_a_protocol_error_unless_accepted(
    transport: SipTransport,
) -> None:
    def forbidden(request: bytes) -> list[bytes]:
        return [response(request, "403 Forbidden")]

    async def scenario() -> tuple[SipOutcome, SipOutcome]:
        async with sip_peer(transport, forbidden) as (port, _):
            refused = await options(PEER_ADDRESS, port, transport, 2.0)
            accepted = await options(PEER_ADDRESS, port, transport, 2.0, accept_status=[403])
        return refused, accepted

    refused, accepted = asyncio.run(scenario())

    assert (refused.result, refused.status_code, refused.error) == (
        Result.PROTOCOL_ERROR,
        403,
        "403 Forbidden",
    )
    assert refused.response_time_s is not None
    assert (accepted.result, accepted.status_code, accepted.error) == (Result.SUCCESS, 403, "")


def test_the_request_uri_names_the_endpoint_when_asked() -> None:
    outcome, requests = _probe("udp", lambda request: [response(request)])
    assert outcome.result is Result.SUCCESS
    assert requests[0].startswith(f"OPTIONS sip:{PEER_ADDRESS}:".encode())

    async def named() -> list[bytes]:
        async with sip_peer("udp", lambda r: [response(r)]) as (port, requests):
            await options(PEER_ADDRESS, port, "udp", 2.0, uri_host="mcu.example.vn")
            return requests

    assert asyncio.run(named())[0].startswith(b"OPTIONS sip:mcu.example.vn:")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_collector_counts_bad_responses_and_warns_once(
    transport: SipTransport, caplog: pytest.LogCaptureFixture
) -> None:
    collector = SipCollector(CollectorContext(base_schema()))
    caplog.set_level(logging.WARNING, logger="collectors.sip")

    async def polls() -> list[str]:
        async with sip_peer(transport, lambda request: [b"garbage\r\n\r\n"]) as (port, _):
            config = SipConfig(port=port, transport=transport, timeout_s=2)
            target = Target("vc-broken", PEER_ADDRESS, "sip", config)
            return [(await collector.collect(target))[0].tags["result"] for _ in range(3)]

    assert asyncio.run(polls()) == ["bad_response"] * 3
    assert collector.stats.bad_responses == 3
    warned = [r.getMessage() for r in caplog.records if "malformed SIP answer" in r.getMessage()]
    assert warned == ["vc-broken: malformed SIP answer: not a SIP response: 'garbage'"]


def test_the_collector_counts_answers_for_other_calls_apart_from_bad_ones() -> None:
    collector = SipCollector(CollectorContext(base_schema()))

    def another_call(request: bytes) -> list[bytes]:
        return [response(request, call_id="someone-else@x")]

    async def poll() -> str:
        async with sip_peer("udp", another_call) as (port, _):
            target = Target("vc-confused", PEER_ADDRESS, "sip", SipConfig(port=port, timeout_s=0.5))
            return (await collector.collect(target))[0].tags["result"]

    assert asyncio.run(poll()) == "timeout"
    assert (collector.stats.stray_responses, collector.stats.bad_responses) == (1, 0)
