"""The videoconference endpoints' SIP side: SIPp answering OPTIONS on loopback.

A monitoring system checks a SIP endpoint (a videoconference MCU, a room system) by sending it
an OPTIONS request and timing the answer. One :class:`SipResponder` is one ``sipp`` (Debian
package ``sip-tester``) acting as a server with a scenario this module writes: every OPTIONS
is answered ``200 OK`` echoing its Via, From, To (with a tag added), Call-ID and CSeq. A
responder serves one transport; the lab runs one per transport on the same address and port,
as a SIP endpoint listens on both UDP and TCP 5060.

Facts about SIPp 3.6 that shaped this module:

- it stays in the foreground as our child (``-bg`` would fork it away from us) and, with no
  terminal, prints nothing while running and its final statistics screen at exit (to
  ``sipp-<transport>.out``); ``-nostdin`` keeps it from reading keyboard commands. SIGTERM
  ends it at once, with status 0.
- besides the SIP port it binds a UDP "remote control" port (8888, or the next free one) on
  every address unless ``-ci`` says which, and two RTP echo ports (6000 and 6002, or the next
  free pair) on the media address; ``-ci``/``-mi`` keep all of them on the responder's address.
- a Call-ID it has answered is remembered for a while as a finished call: a second request
  with it is discarded, so every probe needs a Call-ID of its own (:func:`send_options`).
- it ends itself ("Overload error") once its watchdog has seen its event loop late too often
  (10 delays over 3 s in 10 minutes): a paused (SIGSTOP) or starved responder would die, so
  the limits are raised out of reach.
- its ``[transport]`` keyword is upper case ("UDP"); the scenario spells the transport itself.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

from agent.lab.process import (
    LabPeer,
    LabProcessError,
    ensure_free,
    find_executable,
    log_tail,
)

# The SIP wire code is the probe's own; the lab's blocking client speaks it too, and the
# names stay importable from here for the lab's callers.
from collectors.sip.wire import (
    MAX_MESSAGE,
    SipProbeError,
    SipResponse,
    SipTransport,
    new_call_id,
    options_request,
    parse_response,
    split_message,
)

__all__ = [
    "SipProbeError",
    "SipResponder",
    "SipResponse",
    "SipTransport",
    "options_request",
    "parse_response",
    "scenario_xml",
    "send_options",
    "sip_options",
]

#: How long sipp may take to answer its first OPTIONS after its start.
START_TIMEOUT_S = 10.0
_SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}  # one socket for every call
_NEVER = 1_000_000_000  # a count SIPp's watchdog never reaches


def send_options(
    address: str,
    port: int,
    transport: SipTransport = "udp",
    timeout: float = 2.0,
    *,
    call_id: str | None = None,
) -> SipResponse:
    """Send one OPTIONS and return the final response with the same Call-ID.

    Provisional (1xx) responses and, over UDP, datagrams about other calls are skipped.
    Raises TimeoutError if no final response comes within `timeout` seconds, SipProbeError
    for an answer that is not one, and other OSErrors (connection refused) as they come.
    """
    call_id = call_id or new_call_id()
    deadline = time.monotonic() + timeout
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(timeout)
        # Connected, so that the kernel has chosen our source address and port for the Via.
        sock.connect((address, port))
        request = options_request((address, port), sock.getsockname(), transport, call_id)
        sent = time.monotonic()
        sock.sendall(request)
        messages = _datagrams(sock, deadline) if transport == "udp" else _stream(sock, deadline)
        for message in messages:
            response = parse_response(message, time.monotonic() - sent)
            if response.header("call-id") != call_id:
                if transport == "udp":
                    continue  # a late answer to an earlier probe from this port
                raise SipProbeError(f"answer for another Call-ID: {response.header('call-id')}")
            if response.status >= 200:
                return response
    raise SipProbeError("the connection closed before a final response")


def sip_options(
    address: str, port: int, transport: SipTransport = "udp", timeout: float = 2.0
) -> tuple[int, float]:
    """(status code, round-trip seconds) of one OPTIONS request; see :func:`send_options`."""
    response = send_options(address, port, transport, timeout)
    return response.status, response.rtt_s


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no SIP response in time")
    return left


def _datagrams(sock: socket.socket, deadline: float) -> Iterator[bytes]:
    while True:
        sock.settimeout(_remaining(deadline))
        yield sock.recv(MAX_MESSAGE)


def _stream(sock: socket.socket, deadline: float) -> Iterator[bytes]:
    buffer = b""
    while True:
        framed = split_message(buffer)
        if framed is not None:
            message, buffer = framed
            yield message
            continue
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(MAX_MESSAGE)
        if not chunk:
            return
        buffer += chunk


# --- the responder ----------------------------------------------------------------------------


def scenario_xml(address: str, port: int, transport: SipTransport) -> str:
    """The SIPp scenario: receive an OPTIONS, answer 200 OK, and that call is over."""
    # [last_X:] copies header X of the request; [pid] and [call_number] make the To tag unique.
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by agent.lab.sip at every start. -->
<scenario name="tslcd-lab-options-{transport}">
  <recv request="OPTIONS"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=lab[pid]x[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{address}:{port};transport={transport}>
Allow: OPTIONS
Accept: application/sdp
Server: TSLCD lab videoconference endpoint (SIPp)
Content-Length: [len]

    ]]>
  </send>
</scenario>
"""


class SipResponder(LabPeer):
    """One ``sipp`` answering SIP OPTIONS with 200 on `address`:`port` over `transport`.

    Files under `state_dir`, named by transport so that the UDP and the TCP responder of an
    endpoint can share it: ``options-<transport>.xml`` (the scenario), ``sipp-<transport>.out``
    (its stdout/stderr), ``sipp-<transport>-errors.log`` (unexpected messages) and
    ``sipp-<transport>-messages.log`` (one line per message received or sent).
    """

    def __init__(
        self,
        state_dir: Path,
        address: str,
        port: int,
        transport: SipTransport = "udp",
        *,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        if transport not in _SIPP_TRANSPORT:
            raise ValueError(f"SIP transport must be 'udp' or 'tcp', not {transport!r}")
        self.state_dir = state_dir
        self.address = address
        self.port = port
        self.transport: SipTransport = transport
        self.start_timeout_s = start_timeout_s
        self.scenario_path = state_dir / f"options-{transport}.xml"
        self.out_path = state_dir / f"sipp-{transport}.out"
        self.errors_path = state_dir / f"sipp-{transport}-errors.log"
        self.messages_path = state_dir / f"sipp-{transport}-messages.log"

    def __repr__(self) -> str:
        return f"SipResponder({self.transport} {self.address}:{self.port})"

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port

    @property
    def pid(self) -> int | None:
        """The sipp process id while it is ours (also after it died, until stop())."""
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        """The sipp command line this responder runs."""
        return [
            find_executable("sipp"),
            "-sf",
            str(self.scenario_path),
            "-t",
            _SIPP_TRANSPORT[self.transport],
            "-i",
            self.address,
            "-p",
            str(self.port),
            "-ci",  # its remote-control socket, on every address otherwise
            self.address,
            "-mi",  # its RTP echo sockets
            self.address,
            "-nostdin",
            # SIPp ends itself when its event loop is late too often (10 times over 3 s by
            # default): a lab fault that pauses it, or a loaded CI machine, would kill it.
            "-watchdog_major_maxtriggers",
            str(_NEVER),
            "-watchdog_minor_maxtriggers",
            str(_NEVER),
            "-trace_err",
            "-error_file",
            str(self.errors_path),
            "-trace_shortmsg",
            "-shortmessage_file",
            str(self.messages_path),
        ]

    def launch(self) -> None:
        """Write the scenario and start sipp without waiting (see :meth:`wait_ready`)."""
        if self.running:
            return
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        ensure_free(self.endpoint, kind)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.scenario_path.write_text(scenario_xml(self.address, self.port, self.transport))
        self._spawn(self.command(), self.out_path, self.state_dir)

    def wait_ready(self) -> None:
        """Return once an OPTIONS over the transport is answered 200; LabProcessError if not."""
        if self._process is None:
            raise LabProcessError(f"{self!r} was not launched")
        deadline = time.monotonic() + self.start_timeout_s
        try:
            while True:
                if self._process.poll() is not None:
                    raise LabProcessError(
                        f"sipp exited with status {self._process.returncode}; "
                        f"{self.out_path}:\n{log_tail(self.out_path)}"
                    )
                try:
                    status, _ = sip_options(self.address, self.port, self.transport, 0.5)
                except OSError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                else:
                    if status == 200:
                        return
                    outcome = f"status {status}"
                if time.monotonic() > deadline:
                    raise LabProcessError(
                        f"{self!r} did not answer OPTIONS with 200 within "
                        f"{self.start_timeout_s:g} s (last: {outcome}); "
                        f"{self.errors_path}:\n{log_tail(self.errors_path, 10)}"
                    )
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
