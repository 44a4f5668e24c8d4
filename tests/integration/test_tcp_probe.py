"""The TCP connect probe against real sockets on loopback (127.78.2.x, clear of the lab's)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from agent.collector import CollectorContext, Target
from agent.results import Result
from agent.schema import base_schema
from collectors.tcp import TcpCollector, TcpConfig, TcpOutcome, connect

ADDRESS = "127.78.2.1"

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def listener(serve: Serve) -> AsyncIterator[int]:
    """A TCP server on ADDRESS running `serve` per connection; yields its port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, ADDRESS, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # says nothing, until the probe leaves


def _probe(serve: Serve, timeout_s: float = 2.0, **exchange: str) -> TcpOutcome:
    async def scenario() -> TcpOutcome:
        async with listener(serve) as port:
            return await connect(ADDRESS, port, timeout_s, **exchange)

    return asyncio.run(scenario())


def test_a_listening_port_is_a_success_with_its_connect_time() -> None:
    outcome = _probe(silent)

    assert (outcome.result, outcome.error) == (Result.SUCCESS, "")
    assert outcome.response_time_s is not None
    assert outcome.response_time_s > 0


def test_a_closed_port_is_refused() -> None:
    # Bound but not listening: the kernel answers SYNs with RST, and nobody else can take
    # the port while the test runs.
    with socket.socket() as bound:
        bound.bind((ADDRESS, 0))
        port = bound.getsockname()[1]

        outcome = asyncio.run(connect(ADDRESS, port, 2.0))

    assert outcome == TcpOutcome(Result.CONNECTION_ERROR, None, "Connection refused")


@contextmanager
def full_accept_queue() -> Iterator[int]:
    """A port whose listener never accepts and whose accept queue is full: Linux drops further
    SYNs (it does not refuse them), so a connect waits as across a silent firewall."""
    with socket.socket() as server:
        server.bind((ADDRESS, 0))
        server.listen(0)
        clients: list[socket.socket] = []
        try:
            while True:
                client = socket.socket()
                clients.append(client)
                client.settimeout(1.0)
                try:
                    client.connect(server.getsockname())
                except TimeoutError:
                    break  # this SYN was dropped: the queue is full
                assert len(clients) < 10, "the accept queue never filled"
            yield server.getsockname()[1]
        finally:
            for client in clients:
                client.close()


def test_a_connect_nobody_answers_times_out() -> None:
    with full_accept_queue() as port:
        outcome = asyncio.run(connect(ADDRESS, port, 0.5))

    assert outcome == TcpOutcome(Result.TIMEOUT, None, "no connection in 0.5 s")


def test_an_expected_banner_is_a_success() -> None:
    async def ssh(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        await writer.drain()
        await reader.read()

    outcome = _probe(ssh, expect="SSH-2.0")

    assert (outcome.result, outcome.error) == (Result.SUCCESS, "")
    assert outcome.response_time_s is not None


def test_send_then_expect_the_answer() -> None:
    received: list[bytes] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        received.append(line)
        writer.write(b"+PONG\r\n" if line == b"PING\r\n" else b"-ERR unknown command\r\n")
        await writer.drain()
        await reader.read()

    assert _probe(echo, send="PING\r\n", expect="+PONG").result is Result.SUCCESS
    assert received == [b"PING\r\n"]
    assert _probe(echo, send="PING\r\n", expect="-ERR").result is Result.CONTENT_MISMATCH


def test_the_expected_text_may_arrive_in_pieces() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in (b"220 mail.example.vn ", b"ES", b"MTP ready\r\n"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.05)  # so that the pieces are separate reads
        await reader.read()

    assert _probe(slow, expect="ESMTP").result is Result.SUCCESS


def test_other_text_then_a_hang_up_is_a_mismatch() -> None:
    async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.example.vn ESMTP\r\n")
        await writer.drain()

    outcome = _probe(smtp, expect="SSH-")

    assert outcome.result is Result.CONTENT_MISMATCH
    assert (
        outcome.error
        == "the connection closed before 'SSH-' arrived (got b'220 mail.example.vn ESMTP\\r\\n')"
    )
    assert outcome.response_time_s is not None  # it did connect


def test_silence_until_the_deadline_is_a_mismatch() -> None:
    outcome = _probe(silent, 0.5, send="HELLO\r\n", expect="WELCOME")

    assert outcome.result is Result.CONTENT_MISMATCH
    assert outcome.error == "'WELCOME' did not arrive in 0.5 s"
    assert outcome.response_time_s is not None


def test_the_collector_emits_a_net_response_sample() -> None:
    collector = TcpCollector(CollectorContext(base_schema()))

    async def poll() -> list[str]:
        async with listener(silent) as port:
            target = Target("h323-gw", ADDRESS, "tcp", TcpConfig(port=port, timeout_s=2))
            [sample] = await collector.collect(target)
            assert sample.tags == {
                "server": ADDRESS,
                "port": str(port),
                "protocol": "tcp",
                "result": "success",
            }
            assert base_schema().problems(sample) == []
            return list(sample.fields)

    assert asyncio.run(poll()) == ["result_code", "response_time"]
