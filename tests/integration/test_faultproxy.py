"""FaultProxy: its faults against a plain echo server, then V1Transport through it to influxd.

What a transport must see: latency still delivers; a dropped, cut or refused connection is a
WriteError without status (retryable); a black hole times out; back to normal delivers again.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from agent.lab.influxdb import InfluxServer
from agent.output.transports import V1Transport, WriteError
from tests.faultproxy import FaultProxy

PAYLOAD = bytes(range(256)) * 400  # 100 kB: several chunks


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with self.request as sock:
            try:
                while data := sock.recv(65536):
                    sock.sendall(data)
            except OSError:
                pass  # the proxy reset us: expected in these tests


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), int(port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def round_trip(address: tuple[str, int], payload: bytes = PAYLOAD, timeout: float = 5.0) -> bytes:
    """Send `payload`, half-close, return all that came back (raises on reset or timeout)."""
    received = bytearray()
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(payload)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            # The proxy's reset can arrive before the half-close: the socket is then no longer
            # connected (ENOTCONN), which is that reset, seen one call earlier.
            if exc.errno != errno.ENOTCONN:
                raise
            raise ConnectionResetError(errno.ECONNRESET, "reset before the half-close") from exc
        while data := sock.recv(65536):
            received += data
    return bytes(received)


def received_before_error(
    address: tuple[str, int], payload: bytes = PAYLOAD
) -> tuple[int, type[OSError] | None]:
    received = 0
    try:
        with socket.create_connection(address, timeout=5.0) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            while data := sock.recv(65536):
                received += len(data)
    except OSError as error:
        return received, type(error)
    return received, None


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- the proxy itself ----------------------------------------------------------------------


def test_relays_intact_with_and_without_latency(echo: tuple[str, int]) -> None:
    with FaultProxy(echo, seed=1) as proxy:
        assert round_trip(proxy.address) == PAYLOAD
        proxy.set_latency(30, jitter_ms=20)
        assert round_trip(proxy.address) == PAYLOAD  # jitter never reorders bytes
        proxy.set_latency(upstream_ms=0, downstream_ms=10)
        assert round_trip(proxy.address) == PAYLOAD
        assert proxy.stats.forwarded == 3
        assert proxy.stats.cut == 0


def test_cut_after_n_bytes_delivers_exactly_n_then_resets(echo: tuple[str, int]) -> None:
    with FaultProxy(echo, seed=1) as proxy:
        proxy.cut_after(1000, direction="downstream")
        assert received_before_error(proxy.address) == (1000, ConnectionResetError)
        proxy.cut_after(0, direction="upstream")  # nothing reaches the server
        assert received_before_error(proxy.address) == (0, ConnectionResetError)
        assert proxy.stats.cut == 2
        proxy.normal()
        assert round_trip(proxy.address) == PAYLOAD


def test_random_cuts_are_reproducible_with_a_seed(echo: tuple[str, int]) -> None:
    def outcomes(seed: int) -> list[bool]:
        with FaultProxy(echo, seed=seed) as proxy:
            proxy.cut_randomly(0.5)
            # 100 bytes: one chunk each way, so a connection survives with p = 0.25.
            results = [
                received_before_error(proxy.address, b"x" * 100)[1] is None for _ in range(12)
            ]
            assert proxy.stats.cut == results.count(False)
            return results

    first = outcomes(2)
    assert first == outcomes(2)
    assert any(first)  # some survive...
    assert not all(first)  # ...and some do not (fixed by the seed)


def test_dropped_connections_by_reset_and_by_close(echo: tuple[str, int]) -> None:
    with FaultProxy(echo, seed=3) as proxy:
        proxy.drop(1.0)
        with pytest.raises(ConnectionResetError):
            round_trip(proxy.address)
        proxy.drop(1.0, mode="close")
        assert round_trip(proxy.address) == b""  # a clean end of file, no answer
        assert proxy.stats.dropped == 2
        assert proxy.stats.forwarded == 0


def test_a_fraction_of_connections_is_dropped_reproducibly(echo: tuple[str, int]) -> None:
    def pattern(seed: int) -> list[bool]:
        with FaultProxy(echo, seed=seed) as proxy:
            proxy.drop(0.5)
            survived = [received_before_error(proxy.address)[1] is None for _ in range(12)]
            assert proxy.stats.dropped == survived.count(False)
            assert proxy.stats.accepted == 12
            return survived

    assert pattern(11) == pattern(11)
    assert 0 < sum(pattern(11)) < 12


def test_refuse_then_listen_again_on_the_same_port(echo: tuple[str, int]) -> None:
    with FaultProxy(echo) as proxy:
        port = proxy.port
        proxy.refuse()
        with pytest.raises(ConnectionRefusedError):
            round_trip(proxy.address)
        proxy.normal()
        assert proxy.port == port
        assert round_trip(proxy.address) == PAYLOAD


def test_black_hole_never_answers(echo: tuple[str, int]) -> None:
    with FaultProxy(echo) as proxy:
        proxy.stall()
        with pytest.raises(TimeoutError):
            round_trip(proxy.address, timeout=0.3)
        assert proxy.stats.stalled == 1
        proxy.normal()
        assert round_trip(proxy.address) == PAYLOAD


def test_stop_leaves_no_thread_socket_or_port_behind(echo: tuple[str, int]) -> None:
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    proxy = FaultProxy(echo).start()
    port = proxy.port
    held = socket.create_connection(proxy.address)  # an open relayed connection
    proxy.set_latency(10)
    assert round_trip(proxy.address) == PAYLOAD
    proxy.stall()
    stalled = socket.create_connection(proxy.address)  # and one in the black hole
    proxy.stop()
    proxy.stop()  # twice is harmless

    assert not [t for t in threading.enumerate() if t.name.startswith("FaultProxy")]
    held.close()
    stalled.close()
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(5.0)  # the echo server's handlers end once the proxy reset them
    assert open_fds() <= fds_before
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(("192.0.2.1", 80))
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(("localhost", 80))
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultProxy(("127.0.0.1", 80)).drop(1.5)


# --- V1Transport through the proxy to the real influxd --------------------------------------

T0 = 1_700_000_000_000_000_000


def stored_times(server: InfluxServer, db: str) -> list[int]:
    return [row["time"] for row in server.rows('SELECT * FROM "m" ORDER BY time', db)]


async def attempt(transport: V1Transport, time_ns: int) -> WriteError | None:
    try:
        await transport.write(f"m v={time_ns - T0}i {time_ns}\n".encode(), gzipped=False)
    except WriteError as error:
        return error
    return None


def assert_retryable_without_status(error: WriteError | None) -> WriteError:
    assert error is not None
    assert error.status is None
    assert error.retryable is True
    return error


@pytest.fixture
def influx_proxy(influx_server: InfluxServer) -> Iterator[FaultProxy]:
    with FaultProxy(("127.0.0.1", influx_server.port), seed=5) as proxy:
        yield proxy


@pytest.mark.influxdb
def test_latency_still_delivers(
    influx_server: InfluxServer, influx_db: str, influx_proxy: FaultProxy
) -> None:
    influx_proxy.set_latency(50, jitter_ms=20)

    async def scenario() -> list[WriteError | None]:
        transport = V1Transport(influx_proxy.url, influx_db, timeout_s=10.0)
        try:
            return [await attempt(transport, T0 + i) for i in range(3)]
        finally:
            await transport.close()

    assert asyncio.run(scenario()) == [None, None, None]
    assert stored_times(influx_server, influx_db) == [T0, T0 + 1, T0 + 2]


@pytest.mark.influxdb
@pytest.mark.parametrize("mode", ["reset", "close"])
def test_dropped_connections_are_retryable(
    influx_server: InfluxServer, influx_db: str, influx_proxy: FaultProxy, mode: str
) -> None:
    influx_proxy.drop(1.0, mode="reset" if mode == "reset" else "close")

    async def scenario() -> WriteError | None:
        transport = V1Transport(influx_proxy.url, influx_db, timeout_s=5.0)
        try:
            return await attempt(transport, T0)
        finally:
            await transport.close()

    assert_retryable_without_status(asyncio.run(scenario()))
    assert stored_times(influx_server, influx_db) == []
    assert influx_proxy.stats.dropped == 1


@pytest.mark.influxdb
def test_cuts_and_recovery_on_one_client(
    influx_server: InfluxServer, influx_db: str, influx_proxy: FaultProxy
) -> None:
    async def scenario() -> list[WriteError | None]:
        transport = V1Transport(influx_proxy.url, influx_db, timeout_s=5.0)
        try:
            results = [await attempt(transport, T0)]
            # The request reaches influxd whole; its answer is cut: stored, yet an error.
            influx_proxy.cut_after(0, direction="downstream")
            results.append(await attempt(transport, T0 + 1))
            influx_proxy.normal()
            results.append(await attempt(transport, T0 + 2))
            # The request is cut in its headers: influxd stores nothing.
            influx_proxy.cut_after(40, direction="upstream")
            results.append(await attempt(transport, T0 + 3))
            influx_proxy.normal()
            results.append(await attempt(transport, T0 + 4))
            return results
        finally:
            await transport.close()

    ok, cut_answer, again, cut_request, recovered = asyncio.run(scenario())
    assert ok is None
    assert_retryable_without_status(cut_answer)
    assert again is None
    assert_retryable_without_status(cut_request)
    assert recovered is None
    # At least once: the write whose answer was lost is in InfluxDB; resending it is harmless.
    assert stored_times(influx_server, influx_db) == [T0, T0 + 1, T0 + 2, T0 + 4]
    assert influx_proxy.stats.cut == 2


@pytest.mark.influxdb
def test_black_hole_times_out_and_refusal_fails_fast(
    influx_server: InfluxServer, influx_db: str, influx_proxy: FaultProxy
) -> None:
    async def through_new_client(time_ns: int) -> WriteError | None:
        transport = V1Transport(influx_proxy.url, influx_db, timeout_s=0.5)
        try:
            return await attempt(transport, time_ns)
        finally:
            await transport.close()

    influx_proxy.stall()
    stalled = assert_retryable_without_status(asyncio.run(through_new_client(T0)))
    assert "timed out" in stalled.message
    influx_proxy.refuse()
    refused = assert_retryable_without_status(asyncio.run(through_new_client(T0 + 1)))
    assert "ConnectError" in refused.message
    influx_proxy.normal()
    assert asyncio.run(through_new_client(T0 + 2)) is None
    assert stored_times(influx_server, influx_db) == [T0 + 2]
