"""One HTTP(S) check: an HTTP/1.1 request (and its redirects) on asyncio, timed phase by phase.

The exchange is written out here rather than left to an HTTP client library because the
check's value is in the breakdown a library hides: name resolution, TCP connect, TLS
handshake and first byte are timed apart, and a certificate that fails verification is
still inspected for its expiry. Responses are parsed by h11.

:func:`probe` never raises for a failed check; it returns an :class:`Outcome` whose
``result`` says what happened. Each hop opens its own connection (``Connection: close``).
The timing fields describe the last hop, the one whose answer is judged; ``response_time``
covers them all; the TLS fields describe the last hop made over TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import h11

from agent.results import Result
from collectors.http.answer import Answer, ProbeFailure, judge, read_answer
from collectors.http.config import HttpConfig
from collectors.http.request import USER_AGENT, Location, basic_credentials, request_headers
from collectors.http.tls import TlsPolicy, expiry_days, handshake_message, verification_message

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: How long a finished connection may take to close politely before it is cut.
CLOSE_WAIT_S = 1.0
_ERROR_MAX = 200  # error texts are fields, but a server's garbage must not bloat them

Resolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass
class Outcome:
    """What one check found; None where the check never got that far."""

    result: Result | None = None
    error: str | None = None
    status: int | None = None
    redirects: int = 0
    response_time: float | None = None
    dns_time: float | None = None
    connect_time: float | None = None
    tls_handshake_time: float | None = None
    first_byte_time: float | None = None
    content_length: int | None = None
    string_match: bool | None = None
    tls_expiry_days: float | None = None
    tls_verified: bool | None = None
    tls_error: str | None = None

    def fail(self, result: Result, error: str) -> None:
        # The first verdict stands: a timeout that strikes while an expired certificate is
        # being inspected does not turn the TLS error into a timeout.
        if self.result is None:
            self.result, self.error = result, error[:_ERROR_MAX]


def classify(exc: BaseException, phase: str) -> tuple[Result, str] | None:
    """The result and error text of an exception; None for one that is a bug of ours."""
    if isinstance(exc, ProbeFailure):
        return exc.result, exc.message
    if isinstance(exc, socket.gaierror):
        return Result.DNS_ERROR, f"name not resolved: {exc.strerror or exc}"
    if isinstance(exc, ssl.SSLError):  # before OSError: SSLError is one
        return Result.TLS_ERROR, handshake_message(exc)
    if isinstance(exc, TimeoutError):  # the kernel gave up connecting (ETIMEDOUT)
        return Result.TIMEOUT, f"timeout {phase}"
    if isinstance(exc, asyncio.IncompleteReadError | asyncio.LimitOverrunError):
        return Result.BAD_RESPONSE, f"incomplete or oversized answer {phase}"
    if isinstance(exc, OSError):
        # asyncio words a refused connect "Connect call failed ('10.0.0.1', 443)": the
        # errno says it the way operators know it, "connection refused".
        reason = (os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__).lower()
        return Result.CONNECTION_ERROR, f"{reason} ({phase})" if "proxy" in phase else reason
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in infos))


@dataclass
class _Probe:
    config: HttpConfig
    tls_policy: Callable[[], TlsPolicy]
    resolve: Resolver
    clock: Callable[[], float] = time.perf_counter
    wall_clock: Callable[[], float] = time.time
    outcome: Outcome = field(default_factory=Outcome)
    phase: str = "starting"
    _finished: list[asyncio.StreamWriter] = field(default_factory=list)
    _tls: TlsPolicy | None = None

    def _policy(self) -> TlsPolicy:
        if self._tls is None:
            try:
                self._tls = self.tls_policy()
            except OSError as exc:  # ssl.SSLError too
                # The CA file went missing or bad after validation: nothing can be verified.
                raise ProbeFailure(Result.TLS_ERROR, f"cannot load the CA file: {exc}") from None
        return self._tls

    async def run(self) -> Outcome:
        if self.config.url.startswith("https:"):
            # Loading a trust store takes tens of milliseconds (once per agent: the
            # collector keeps it): not the server's time. A failure is reported on use.
            with contextlib.suppress(ProbeFailure):
                self._policy()
        started = self.clock()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                await self._follow(started)
        except TimeoutError:
            self.outcome.fail(
                Result.TIMEOUT, f"timeout after {self.config.timeout_s:g} s {self.phase}"
            )
        except Exception as exc:
            verdict = classify(exc, self.phase)
            if verdict is None:
                self._abort_finished()
                raise
            self.outcome.fail(*verdict)
        except BaseException:  # cancelled by the scheduler: no time left for politeness
            self._abort_finished()
            raise
        if self.outcome.response_time is None:
            self.outcome.response_time = self.clock() - started
        await self._close_finished()
        return self.outcome

    async def _follow(self, started: float) -> None:
        config, outcome = self.config, self.outcome
        url, method = config.url, config.method
        origin = Location.parse(url).origin
        while True:
            location = Location.parse(url)
            answer = await self._exchange(location, method, location.origin == origin)
            outcome.status = answer.status
            if answer.status == 407 and self.config.proxy and location.scheme == "http":
                # The proxy's answer, not the site's: a plain-HTTP request has no tunnel.
                raise ProbeFailure(Result.AUTH_ERROR, "the proxy requires (other) credentials")
            redirect = answer.headers.get("location")
            if config.follow_redirects and answer.status in REDIRECT_STATUSES and redirect:
                if outcome.redirects >= config.max_redirects:
                    raise ProbeFailure(
                        Result.PROTOCOL_ERROR, f"more than {config.max_redirects} redirects"
                    )
                try:
                    url = Location.parse(urljoin(url, redirect)).url
                except ValueError as exc:
                    raise ProbeFailure(Result.BAD_RESPONSE, f"unusable redirect: {exc}") from None
                outcome.redirects += 1
                continue
            outcome.response_time = self.clock() - started
            outcome.content_length = answer.content_length(method == "HEAD")
            result, error, outcome.string_match = judge(answer, config)
            if error is None:
                outcome.result = result
            else:
                outcome.fail(result, error)
            return

    async def _exchange(self, location: Location, method: str, same_origin: bool) -> Answer:
        outcome = self.outcome
        outcome.dns_time = outcome.connect_time = None
        outcome.tls_handshake_time = outcome.first_byte_time = None
        reader, writer = await self._connect(location)
        try:
            connection = h11.Connection(h11.CLIENT)
            proxied_http = self.config.proxy is not None and location.scheme == "http"
            target = f"http://{location.authority}{location.target}" if proxied_http else None
            request = h11.Request(
                method=method,
                target=target or location.target,
                headers=request_headers(self.config, location, same_origin, proxied_http),
            )
            self.phase = "sending the request"
            writer.write(_encode(connection, request, h11.EndOfMessage()))
            await writer.drain()
            self.phase = "waiting for the answer"
            sent = self.clock()

            def first_byte() -> None:
                outcome.first_byte_time = self.clock() - sent
                self.phase = "reading the answer"

            answer = await read_answer(reader, connection, self.config.max_body_bytes, first_byte)
        except BaseException:
            writer.transport.abort()
            raise
        writer.close()  # waited for after the check: closing is not the server's latency
        self._finished.append(writer)
        return answer

    async def _connect(
        self, location: Location, *, inspecting: bool = False
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to `location`, through the proxy and TLS as configured.

        `inspecting`: the extra connection that reads a rejected certificate; it is neither
        timed (the check's timings are the first attempt's) nor given a TLS handshake here.
        """
        timed = not inspecting
        proxy = Location.parse(self.config.proxy, ("http",)) if self.config.proxy else None
        hop = proxy or location
        where = f" to the proxy {hop.authority}" if proxy else ""
        self.phase = f"resolving {hop.host}"
        resolving = self.clock()
        try:
            addresses = [str(ipaddress.ip_address(hop.host))]
        except ValueError:
            try:
                addresses = await self.resolve(hop.host, hop.port)
            except socket.gaierror as exc:
                reason = exc.strerror or str(exc)
                raise ProbeFailure(
                    Result.DNS_ERROR, f"name not resolved: {hop.host} ({reason})"
                ) from None
            if timed:
                self.outcome.dns_time = self.clock() - resolving
        if not addresses:
            raise ProbeFailure(Result.DNS_ERROR, f"name not resolved: no address for {hop.host}")
        self.phase = f"connecting{where}"
        connecting = self.clock()
        reader, writer = await _open_first(addresses, hop.port)
        try:
            if proxy is not None and location.scheme == "https":
                self.phase = f"opening a tunnel through the proxy {proxy.authority}"
                await self._tunnel(reader, writer, location)
            if timed:
                self.outcome.connect_time = self.clock() - connecting
            if location.scheme == "https" and not inspecting:
                await self._handshake(writer, location)
        except BaseException:
            writer.transport.abort()
            raise
        return reader, writer

    async def _tunnel(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, location: Location
    ) -> None:
        assert self.config.proxy is not None
        connection = h11.Connection(h11.CLIENT)
        authority = f"{location.host}:{location.port}"
        if ":" in location.host:
            authority = f"[{location.host}]:{location.port}"
        headers = [("Host", authority), ("User-Agent", USER_AGENT)]
        credentials = basic_credentials(self.config.proxy)
        if credentials:
            headers.append(("Proxy-Authorization", credentials))
        request = h11.Request(method="CONNECT", target=authority, headers=headers)
        writer.write(_encode(connection, request, h11.EndOfMessage()))
        await writer.drain()
        # Up to the blank line only: what follows belongs to the TLS handshake.
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise ProbeFailure(
                Result.CONNECTION_ERROR, "the proxy closed the connection instead of a tunnel"
            ) from None
        connection.receive_data(head)
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            raise ProbeFailure(Result.BAD_RESPONSE, f"malformed proxy answer: {exc}") from None
        if not isinstance(event, h11.Response):
            raise ProbeFailure(Result.BAD_RESPONSE, "malformed proxy answer")
        if event.status_code == 407:
            raise ProbeFailure(Result.AUTH_ERROR, "the proxy requires (other) credentials")
        if not 200 <= event.status_code < 300:
            reason = event.reason.decode("latin-1")
            raise ProbeFailure(
                Result.CONNECTION_ERROR,
                f"the proxy refused the tunnel: {event.status_code} {reason}",
            )

    async def _handshake(self, writer: asyncio.StreamWriter, location: Location) -> None:
        policy = self._policy()
        server_name = self.config.server_name or location.host
        self.phase = "in the TLS handshake"
        started = self.clock()
        try:
            await writer.start_tls(
                policy.verifying or policy.inspecting, server_hostname=server_name
            )
        except ssl.SSLCertVerificationError as exc:
            message = verification_message(exc)
            self.outcome.tls_verified, self.outcome.tls_error = False, message
            self.outcome.fail(Result.TLS_ERROR, message)
            self.outcome.tls_expiry_days = await self._inspect(location, policy, server_name)
            raise ProbeFailure(Result.TLS_ERROR, message) from None
        except ssl.SSLError as exc:
            self.outcome.tls_verified = False if policy.verifying else None
            self.outcome.tls_error = handshake_message(exc)
            raise
        self.outcome.tls_handshake_time = self.clock() - started
        verified = policy.verifying is not None
        self.outcome.tls_verified = True if verified else None
        self.outcome.tls_error = None
        self.outcome.tls_expiry_days = expiry_days(
            writer.get_extra_info("ssl_object"), verified, self.wall_clock()
        )

    async def _inspect(
        self, location: Location, policy: TlsPolicy, server_name: str
    ) -> float | None:
        """Days left of the certificates a server presents, read without verifying them."""
        self.phase = "reading the unverified certificate"
        try:
            _, writer = await self._connect(location, inspecting=True)
        except (OSError, ProbeFailure):
            return None
        try:
            await writer.start_tls(policy.inspecting, server_hostname=server_name)
            return expiry_days(writer.get_extra_info("ssl_object"), False, self.wall_clock())
        except OSError:  # ssl.SSLError included: the expiry is a bonus, the verdict stands
            return None
        finally:
            writer.transport.abort()

    def _abort_finished(self) -> None:
        for writer in self._finished:
            writer.transport.abort()

    async def _close_finished(self) -> None:
        for writer in self._finished:
            try:
                async with asyncio.timeout(CLOSE_WAIT_S):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                writer.transport.abort()


def _encode(connection: h11.Connection, *events: h11.Request | h11.EndOfMessage) -> bytes:
    return b"".join(connection.send(event) or b"" for event in events)


async def _open_first(
    addresses: list[str], port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the first address that accepts, in the resolver's order."""
    error: OSError | None = None
    for address in addresses:
        try:
            return await asyncio.open_connection(address, port)
        except OSError as exc:
            error = exc
    assert error is not None
    raise error


async def probe(
    config: HttpConfig,
    tls_policy: Callable[[], TlsPolicy],
    *,
    resolve: Resolver = system_resolver,
    clock: Callable[[], float] = time.perf_counter,
    wall_clock: Callable[[], float] = time.time,
) -> Outcome:
    """Run the check `config` describes once. Raises only for a bug of the probe's own.

    `tls_policy` is called when a hop needs TLS (so an http URL never loads a trust store);
    `resolve` maps a host name to its addresses (``loop.getaddrinfo`` by default).
    """
    return await _Probe(config, tls_policy, resolve, clock, wall_clock).run()
