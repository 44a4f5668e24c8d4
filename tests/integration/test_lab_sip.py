"""The lab's videoconference endpoint: SIPp answering OPTIONS over UDP and TCP on loopback."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.lab.process import LabProcessError, ensure_free, free_tcp_port
from agent.lab.sip import SipResponder, SipTransport, send_options, sip_options
from tests.integration.test_lab_web import bound_sockets
from tests.peers import require_binary

pytestmark = pytest.mark.sipp

ADDRESS = "127.77.51.1"
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
def responders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SipResponder]]:
    require_binary("sipp")
    state_dir = tmp_path_factory.mktemp("sip")
    port = _free_sip_port(ADDRESS)
    with (
        SipResponder(state_dir, ADDRESS, port, "udp") as udp,
        SipResponder(state_dir, ADDRESS, port, "tcp") as tcp,
    ):
        yield {"udp": udp, "tcp": tcp}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_options_is_answered_200_echoing_the_request(
    responders: dict[str, SipResponder], transport: SipTransport
) -> None:
    responder = responders[transport]
    call_id = f"test-{transport}-{os.getpid()}@netmon"

    response = send_options(ADDRESS, responder.port, transport, 5.0, call_id=call_id)

    assert (response.status, response.reason) == (200, "OK")
    assert response.header("Call-ID") == call_id
    assert response.header("i") == call_id  # the compact form reads the same header
    assert response.header("CSeq") == "1 OPTIONS"
    via = response.header("Via")
    assert via is not None
    assert via.startswith(f"SIP/2.0/{transport.upper()} ")
    assert ";branch=z9hG4bK" in via
    to = response.header("To")
    assert to is not None
    assert to.startswith(f"<sip:{ADDRESS}:{responder.port}>;tag=")
    assert response.header("Contact") == f"<sip:{ADDRESS}:{responder.port};transport={transport}>"
    assert response.header("Allow") == "OPTIONS"
    assert response.header("Accept") == "application/sdp"
    assert response.rtt_s > 0
    # sipp writes its message log on its own schedule: wait (bounded) for both lines.
    deadline = time.monotonic() + 5.0
    while True:
        received = [
            line.split("\t")
            for line in responder.messages_path.read_text().splitlines()
            if f"\t{call_id}\t" in line
        ]
        if len(received) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [(fields[3], fields[6]) for fields in received] == [
        ("R", f"OPTIONS sip:{ADDRESS}:{responder.port};transport={transport} SIP/2.0"),
        ("S", "SIP/2.0 200 OK"),
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sip_options_gives_status_and_round_trip(
    responders: dict[str, SipResponder], transport: SipTransport
) -> None:
    status, rtt_s = sip_options(ADDRESS, responders[transport].port, transport, 5.0)

    assert status == 200
    assert 0 < rtt_s < 5.0


def test_a_repeated_call_id_is_not_answered_again(responders: dict[str, SipResponder]) -> None:
    # SIPp keeps a finished call's Call-ID and discards what comes for it: why every probe
    # must have its own.
    port = responders["udp"].port
    call_id = f"repeated-{os.getpid()}@netmon"
    assert send_options(ADDRESS, port, "udp", 5.0, call_id=call_id).status == 200

    with pytest.raises(TimeoutError):
        send_options(ADDRESS, port, "udp", 0.5, call_id=call_id)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sipp_binds_only_the_responders_address(
    responders: dict[str, SipResponder], transport: SipTransport
) -> None:
    responder = responders[transport]
    assert responder.pid is not None

    bound = bound_sockets(responder.pid)

    assert (transport, ADDRESS, responder.port) in bound
    # Besides the SIP port: its remote-control and RTP echo sockets, all on the same address.
    assert {address for _, address, _ in bound} == {ADDRESS}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stop_ends_sipp_and_the_endpoint_stops_answering(
    tmp_path: Path, transport: SipTransport
) -> None:
    require_binary("sipp")
    address = "127.77.51.2"
    responder = SipResponder(tmp_path, address, _free_sip_port(address), transport)
    responder.start()
    pid = responder.pid
    assert pid is not None
    assert (tmp_path / f"options-{transport}.xml").is_file()

    responder.stop()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError):
        sip_options(address, responder.port, transport, 2.0)
