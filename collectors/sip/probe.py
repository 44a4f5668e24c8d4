"""One SIP OPTIONS probe over asyncio: send, wait for the final answer, time it.

:func:`options` is public: the SIP collector and the videoconference readiness collector
call it. It never raises for what the network or the endpoint does; every outcome is a
:class:`SipOutcome` with a result code:

============================  ==============================================================
SUCCESS                       a final 2xx, or a final status listed in `accept_status`
PROTOCOL_ERROR                any other final status (3xx-6xx); `status_code` says which
BAD_RESPONSE                  the endpoint answered something that is not a SIP response
TIMEOUT                       no final response for our Call-ID and CSeq in `timeout_s`
CONNECTION_ERROR              refused (TCP RST, or ICMP port unreachable for UDP), or the
                              connection closed before a final response
DNS_ERROR                     the address is a name that did not resolve
============================  ==============================================================

Responses are matched to the request by Call-ID and CSeq; well-formed responses to anything
else (a late answer to an earlier probe) are skipped and counted in ``ignored``.
Provisional 1xx responses are skipped too: the probe waits for the final one.

``response_time_s`` runs from sending the request to receiving the final response: it leaves
out name resolution and, over TCP, the connection set-up, so UDP and TCP compare alike.
`timeout_s` bounds the whole probe, those included.

Over UDP the request is sent once: RFC 3261's retransmissions (Timer E) are left out, a lost
datagram fails that poll and the availability engine's ``down_after`` absorbs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Collection
from dataclasses import dataclass

from agent.results import Result
from collectors.sip.wire import (
    MAX_MESSAGE,
    SipProbeError,
    SipTransport,
    new_call_id,
    options_request,
    parse_response,
    split_message,
)

_CSEQ = 1  # one request per Call-ID, so always the first sequence number


@dataclass(frozen=True)
class SipOutcome:
    """What one OPTIONS probe found.

    ``status_code`` is the final response's status (None when none came); ``error`` says
    what went wrong in words (empty on success); ``ignored`` counts well-formed responses
    that belonged to another request.
    """

    result: Result
    status_code: int | None = None
    response_time_s: float | None = None
    error: str = ""
    ignored: int = 0


@dataclass
class _Transaction:
    """The request in flight, and what arrived for it so far."""

    call_id: str
    accept_status: Collection[int]
    sent_at: float = 0.0
    ignored: int = 0

    def judge(self, message: bytes, received_at: float) -> SipOutcome | None:
        """The outcome `message` decides, or None to keep waiting; SipProbeError if bad."""
        response = parse_response(message, received_at - self.sent_at)
        if response.header("call-id") != self.call_id or response.cseq != (_CSEQ, "OPTIONS"):
            self.ignored += 1
            return None
        if response.status < 200:
            return None  # provisional: the final answer is still to come
        if 200 <= response.status < 300 or response.status in self.accept_status:
            return SipOutcome(Result.SUCCESS, response.status, response.rtt_s, "", self.ignored)
        return SipOutcome(
            Result.PROTOCOL_ERROR,
            response.status,
            response.rtt_s,
            f"{response.status} {response.reason}".strip(),
            self.ignored,
        )


class _Datagrams(asyncio.DatagramProtocol):
    """Queues each datagram with its arrival time, and errors (ICMP) as they come."""

    def __init__(self) -> None:
        self.arrivals: asyncio.Queue[tuple[float, bytes] | OSError] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        # Timed here, not when the waiting coroutine wakes: the loop may be busy.
        self.arrivals.put_nowait((time.perf_counter(), data))

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self.arrivals.put_nowait(exc)


async def _over_udp(
    address: str, port: int, uri_host: str, transaction: _Transaction
) -> SipOutcome:
    loop = asyncio.get_running_loop()
    # Connected: the kernel filters datagrams from anyone but the endpoint, picks our source
    # address for the Via, and reports the endpoint's ICMP port unreachable as an error.
    transport, protocol = await loop.create_datagram_endpoint(
        _Datagrams, remote_addr=(address, port)
    )
    try:
        source = transport.get_extra_info("sockname")
        request = options_request((uri_host, port), source[:2], "udp", transaction.call_id, _CSEQ)
        transaction.sent_at = time.perf_counter()
        transport.sendto(request)
        while True:
            arrival = await protocol.arrivals.get()
            if isinstance(arrival, OSError):
                raise arrival
            received_at, datagram = arrival
            outcome = transaction.judge(datagram, received_at)
            if outcome is not None:
                return outcome
    finally:
        transport.close()


async def _over_tcp(
    address: str, port: int, uri_host: str, transaction: _Transaction
) -> SipOutcome:
    reader, writer = await asyncio.open_connection(address, port)
    try:
        source = writer.get_extra_info("sockname")
        request = options_request((uri_host, port), source[:2], "tcp", transaction.call_id, _CSEQ)
        transaction.sent_at = time.perf_counter()
        writer.write(request)
        await writer.drain()
        buffer = b""
        received_at = transaction.sent_at
        while True:
            framed = split_message(buffer)
            if framed is not None:
                message, buffer = framed
                outcome = transaction.judge(message, received_at)
                if outcome is not None:
                    return outcome
                continue
            chunk = await reader.read(MAX_MESSAGE)
            received_at = time.perf_counter()
            if not chunk:
                if buffer.strip(b"\r\n"):
                    raise SipProbeError("the connection closed in the middle of a response")
                raise ConnectionResetError("the connection closed before a final response")
            buffer += chunk
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def options(
    address: str,
    port: int,
    transport: SipTransport,
    timeout_s: float,
    *,
    uri_host: str | None = None,
    accept_status: Collection[int] = (),
) -> SipOutcome:
    """Send one OPTIONS to `address`:`port` over `transport` and judge the answer.

    `uri_host` is the Request-URI's host when the endpoint expects a name there (some MCUs
    answer 404 to a request for an address they do not consider theirs); the address by
    default. `accept_status` lists final statuses besides 2xx that mean "alive" (403 or 405
    from an MCU that does not allow OPTIONS to strangers). A fresh Call-ID and branch per
    call. Never raises for what the network or the endpoint does (see the module's table).
    """
    transaction = _Transaction(new_call_id(), frozenset(accept_status))
    exchange = _over_udp if transport == "udp" else _over_tcp
    try:
        async with asyncio.timeout(timeout_s):
            return await exchange(address, port, uri_host or address, transaction)
    except TimeoutError:
        # Also a kernel's ETIMEDOUT (a TCP connect nobody answered): the same verdict.
        error = f"no final response in {timeout_s:g} s"
        if transaction.ignored:
            error += f" (answers to other requests ignored: {transaction.ignored})"
        return SipOutcome(Result.TIMEOUT, error=error, ignored=transaction.ignored)
    except SipProbeError as exc:
        return SipOutcome(Result.BAD_RESPONSE, error=str(exc), ignored=transaction.ignored)
    except socket.gaierror as exc:
        return SipOutcome(Result.DNS_ERROR, error=f"{address}: {exc.strerror}")
    except OSError as exc:
        # asyncio's connect errors read "Connect call failed (...)"; the errno says more.
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        return SipOutcome(Result.CONNECTION_ERROR, error=reason, ignored=transaction.ignored)
