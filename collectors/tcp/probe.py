"""One TCP connect probe over asyncio, optionally with a send/expect exchange.

:func:`connect` is public: the TCP collector and the videoconference readiness collector (the
H.323 port) call it. It never raises for what the network or the peer does:

=================  =========================================================================
SUCCESS            connected (and, with `expect`, the expected text arrived)
TIMEOUT            no connection in `timeout_s` (SYNs unanswered, or a full accept queue)
CONNECTION_ERROR   refused (RST), unreachable, or reset while sending or reading
CONTENT_MISMATCH   connected, but `expect` did not arrive before the peer closed, the
                   deadline passed, or 64 KiB came without it
DNS_ERROR          the address is a name that did not resolve
=================  =========================================================================

Like Telegraf's ``net_response``: connect, send `send` if given, then read until `expect`
shows up. Unlike it, `expect` is a plain substring searched in everything read (Telegraf
matches a regular expression against the first line only), and one deadline, `timeout_s`,
bounds the whole probe.

``response_time_s`` is the time to connect; with `expect`, the time until the expected text
arrived. It is None when no connection was made.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from dataclasses import dataclass

from agent.results import Result

#: How much is read looking for `expect` before giving up.
MAX_READ = 65536


@dataclass(frozen=True)
class TcpOutcome:
    """What one TCP probe found; ``error`` says what went wrong in words (empty on success)."""

    result: Result
    response_time_s: float | None = None
    error: str = ""


def _reason(exc: OSError) -> str:
    # asyncio's connect errors read "Connect call failed (...)"; the errno says more.
    return os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__


async def _read_until(reader: asyncio.StreamReader, expect: str) -> str:
    """Read until `expect` arrives: "" when it did, else why it did not."""
    wanted = expect.encode()
    received = b""
    while wanted not in received:
        if len(received) >= MAX_READ:
            return f"{expect!r} not in the first {MAX_READ} bytes"
        chunk = await reader.read(MAX_READ)
        if not chunk:
            return f"the connection closed before {expect!r} arrived (got {received[:80]!r})"
        received += chunk
    return ""


async def connect(
    address: str,
    port: int,
    timeout_s: float,
    *,
    send: str | None = None,
    expect: str | None = None,
) -> TcpOutcome:
    """Connect to `address`:`port` (and exchange `send`/`expect`, both UTF-8); see the module."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    started = time.perf_counter()
    try:
        async with asyncio.timeout_at(deadline):
            reader, writer = await asyncio.open_connection(address, port)
    except TimeoutError:  # also the kernel's own ETIMEDOUT
        return TcpOutcome(Result.TIMEOUT, error=f"no connection in {timeout_s:g} s")
    except socket.gaierror as exc:
        return TcpOutcome(Result.DNS_ERROR, error=f"{address}: {exc.strerror}")
    except OSError as exc:
        return TcpOutcome(Result.CONNECTION_ERROR, error=_reason(exc))
    connect_time = time.perf_counter() - started
    try:
        async with asyncio.timeout_at(deadline):
            if send:
                writer.write(send.encode())
                await writer.drain()
            if expect is None:
                return TcpOutcome(Result.SUCCESS, connect_time)
            missing = await _read_until(reader, expect)
        if missing:
            # Connected all the same: the response time is the connect's.
            return TcpOutcome(Result.CONTENT_MISMATCH, connect_time, missing)
        return TcpOutcome(Result.SUCCESS, time.perf_counter() - started)
    except TimeoutError:
        if expect is None:
            return TcpOutcome(Result.TIMEOUT, connect_time, f"could not send in {timeout_s:g} s")
        return TcpOutcome(
            Result.CONTENT_MISMATCH, connect_time, f"{expect!r} did not arrive in {timeout_s:g} s"
        )
    except OSError as exc:
        return TcpOutcome(
            Result.CONNECTION_ERROR, connect_time, f"after connecting: {_reason(exc)}"
        )
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
