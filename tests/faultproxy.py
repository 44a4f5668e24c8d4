"""A flaky network between a client and a TCP server, for tests and bench scripts.

`FaultProxy` listens on 127.0.0.1 (a free port, or the one given) and relays each connection to
a loopback `target`. While it runs, any thread may change what the network does:

=====================  ==========================================================================
``set_latency``        delay each chunk by ``ms`` (per direction) ± ``jitter_ms``, order kept
``drop(fraction)``     reset (RST) or close (FIN) that fraction of new connections at once
``cut_after(n)``       reset a connection once n bytes went through (in a direction or both)
``cut_randomly(p)``    reset a connection before each forwarded chunk with probability p
``stall()``            black hole: accept new connections, read and discard, never answer
``refuse()``           stop listening: new connections are refused by the kernel
``normal()``           all of the above off; listening again on the same port
=====================  ==========================================================================

Faults apply to connections made after the change, and latency and cuts also to chunks relayed
after it. Decisions come from a `random.Random(seed)`, so a run is reproducible for a given
sequence of connections. `stats` counts connections accepted, forwarded, dropped, cut and
stalled.

The proxy runs its own asyncio loop in its own thread, so sync and async tests use it alike::

    with FaultProxy(("127.0.0.1", influx.port), seed=1) as proxy:
        transport = V1Transport(proxy.url, "db")
        proxy.drop(1.0)          # every new connection is reset
        ...
        proxy.normal()

`stop` (or leaving the ``with``) resets every connection, closes every socket and joins the
thread. Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any, Literal

Direction = Literal["upstream", "downstream", "both"]
DropMode = Literal["reset", "close"]
# How a relayed direction ends: the source's end of file is passed on; a cut is not.
_End = Literal["eof", "cut"]
_Item = tuple[float, bytes] | _End

LISTEN_HOST = "127.0.0.1"
#: Longest wait for the proxy's loop to do something asked from another thread.
CONTROL_TIMEOUT_S = 10.0
#: Bytes read per chunk; latency and random cuts apply per chunk.
CHUNK_BYTES = 64 * 1024
#: Chunks queued per direction behind a latency, before reading pauses (back-pressure).
QUEUED_CHUNKS = 64
#: Connections taken per readiness of the listening socket (the rest on the next turn).
ACCEPT_BURST = 64
#: How long a connection dropped with "close" waits for the client to close its side.
CLOSE_LINGER_S = 2.0


@dataclass(frozen=True)
class ProxyStats:
    """Connections since start.

    accepted: taken from the listening socket. forwarded: relayed to the target.
    dropped: reset or closed right after accept. cut: reset while relaying.
    stalled: swallowed by the black hole. upstream_failed: the target could not be reached.
    """

    accepted: int = 0
    forwarded: int = 0
    dropped: int = 0
    cut: int = 0
    stalled: int = 0
    upstream_failed: int = 0


@dataclass(frozen=True)
class _Faults:
    upstream_delay_s: float = 0.0
    downstream_delay_s: float = 0.0
    jitter_s: float = 0.0
    drop_fraction: float = 0.0
    drop_mode: DropMode = "reset"
    cut_after_bytes: int | None = None
    cut_direction: Direction = "both"
    cut_probability: float = 0.0
    stall: bool = False


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1")


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN: what a crashed peer or a stateful firewall does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Connection:
    """One relayed connection: its two sockets and the bytes that went each way."""

    def __init__(
        self,
        client: asyncio.StreamWriter,
        target: asyncio.StreamWriter,
    ) -> None:
        self.client = client
        self.target = target
        self.sent = {"upstream": 0, "downstream": 0}
        self.is_cut = False

    def cut(self) -> None:
        self.is_cut = True
        _reset(self.client)
        _reset(self.target)

    def counted(self, direction: Direction) -> int:
        if direction == "both":
            return self.sent["upstream"] + self.sent["downstream"]
        return self.sent[direction]


class FaultProxy:
    """A TCP relay from 127.0.0.1:`port` to the loopback `target`, with faults on demand."""

    def __init__(
        self,
        target: tuple[str, int],
        *,
        seed: int = 0,
        port: int = 0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        host, target_port = target
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError("the fault proxy only relays to a loopback IP address")
        self.target = (host, target_port)
        self.port = port
        self._connect_timeout_s = connect_timeout_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults = _Faults()
        self._stats = ProxyStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: set[socket.socket] = set()  # every socket open on the proxy's side
        self._released = asyncio.Event()  # set: stalled connections are let go

    def __repr__(self) -> str:
        return f"FaultProxy({LISTEN_HOST}:{self.port} -> {self.target[0]}:{self.target[1]})"

    # --- life cycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{LISTEN_HOST}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        return LISTEN_HOST, self.port

    def start(self) -> FaultProxy:
        if self._thread is not None:
            raise RuntimeError("the fault proxy is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=f"{self!r}", daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        try:
            self._call(self._listen())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Reset every connection, close every socket, end the loop and join its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if thread.is_alive():
                self._call(self._shutdown())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CONTROL_TIMEOUT_S)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stats(self) -> ProxyStats:
        with self._lock:
            return self._stats

    # --- faults, callable from any thread ----------------------------------------------------

    def set_latency(
        self,
        ms: float = 0.0,
        *,
        upstream_ms: float | None = None,
        downstream_ms: float | None = None,
        jitter_ms: float = 0.0,
    ) -> None:
        """Delay every chunk: `ms` each way unless a direction is given, ± `jitter_ms`."""
        up = ms if upstream_ms is None else upstream_ms
        down = ms if downstream_ms is None else downstream_ms
        if min(up, down, jitter_ms) < 0:
            raise ValueError("latency and jitter must not be negative")
        self._change(
            upstream_delay_s=up / 1000, downstream_delay_s=down / 1000, jitter_s=jitter_ms / 1000
        )

    def drop(self, fraction: float = 1.0, *, mode: DropMode = "reset") -> None:
        """End `fraction` of new connections right after accept, by RST or by FIN."""
        _check_fraction("fraction", fraction)
        self._change(drop_fraction=fraction, drop_mode=mode)

    def cut_after(self, nbytes: int | None, *, direction: Direction = "downstream") -> None:
        """Reset each connection once `nbytes` went through `direction`; None: never."""
        if nbytes is not None and nbytes < 0:
            raise ValueError("nbytes must not be negative")
        self._change(cut_after_bytes=nbytes, cut_direction=direction)

    def cut_randomly(self, probability: float) -> None:
        """Before each chunk relayed, reset the connection with `probability`."""
        _check_fraction("probability", probability)
        self._change(cut_probability=probability)

    def stall(self) -> None:
        """Black hole: new connections are accepted, read and never answered."""
        self._change(stall=True)

    def refuse(self) -> None:
        """Stop listening; established connections go on."""
        self._call(self._stop_listening())

    def normal(self) -> None:
        """No fault any more; listening again (on the same port) if refusing.

        Connections held by the black hole are reset.
        """
        with self._lock:
            self._faults = _Faults()
        self._call(self._release_stalled())
        self._call(self._listen())

    def _change(self, **changes: Any) -> None:
        with self._lock:
            self._faults = replace(self._faults, **changes)

    def _count(self, **increments: int) -> None:
        with self._lock:
            values = {key: getattr(self._stats, key) + n for key, n in increments.items()}
            self._stats = replace(self._stats, **values)

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the fault proxy is not running")
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CONTROL_TIMEOUT_S)

    # --- on the proxy's loop -----------------------------------------------------------------

    async def _listen(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # The same port again after refuse(), though its old connections are in TIME_WAIT.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((LISTEN_HOST, self.port))
            listener.listen(128)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self.port = listener.getsockname()[1]
        self._listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._accept, listener)

    def _accept(self, listener: socket.socket) -> None:
        """Take the waiting connections (a bounded burst); each is tracked before anything."""
        loop = asyncio.get_running_loop()
        for _ in range(ACCEPT_BURST):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. too many open files: the next readiness event tries again
            conn.setblocking(False)
            self._sockets.add(conn)
            task = loop.create_task(self._serve(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _release_stalled(self) -> None:
        self._released.set()
        await asyncio.sleep(0)  # let the held connections see it before the next stall()
        self._released = asyncio.Event()

    async def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            asyncio.get_running_loop().remove_reader(listener.fileno())
            listener.close()

    async def _shutdown(self) -> None:
        await self._stop_listening()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in list(self._sockets):  # normally none is left: each task closes its own
            sock.close()
        self._sockets.clear()

    def _closing(self, sock: socket.socket) -> None:
        self._sockets.discard(sock)
        sock.close()

    async def _serve(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn)
            try:
                await self._handle(reader, writer)
            finally:
                writer.transport.abort()
        except (OSError, asyncio.IncompleteReadError):
            pass  # a peer went away: that is what this proxy is for
        finally:
            # The transport closes its socket a turn later; closing it here is certain (and
            # closing a socket twice is harmless).
            self._closing(conn)

    async def _connect_target(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in self.target[0] else socket.AF_INET)
        self._sockets.add(sock)
        try:
            sock.setblocking(False)
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, self.target),
                self._connect_timeout_s,
            )
        except BaseException:
            self._closing(sock)
            raise
        return sock

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            faults = self._faults
        self._count(accepted=1)
        if faults.stall:
            # Never read, never answer: the client's data sits in the kernel's buffers, as with
            # a peer that stopped. Held until normal() or stop().
            self._count(stalled=1)
            await self._released.wait()
            _reset(writer)
            return
        if faults.drop_fraction and self._rng.random() < faults.drop_fraction:
            self._count(dropped=1)
            if faults.drop_mode == "reset":
                _reset(writer)
            else:
                await self._close_cleanly(reader, writer)
            return
        try:
            target = await self._connect_target()
        except (OSError, TimeoutError):
            self._count(upstream_failed=1)
            _reset(writer)
            return
        try:
            target_reader, target_writer = await asyncio.open_connection(sock=target)
            self._count(forwarded=1)
            connection = _Connection(writer, target_writer)
            try:
                await asyncio.gather(
                    self._direction(reader, target_writer, "upstream", connection),
                    self._direction(target_reader, writer, "downstream", connection),
                )
            finally:
                target_writer.transport.abort()
        finally:
            self._closing(target)

    @staticmethod
    async def _close_cleanly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """FIN, then read until the client closes too: unread data would make the kernel RST."""
        writer.write_eof()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_LINGER_S):
                while await reader.read(CHUNK_BYTES):
                    pass

    async def _direction(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        direction: Literal["upstream", "downstream"],
        connection: _Connection,
    ) -> None:
        """Relay one way: read chunks, apply faults, deliver each when its delay is over."""
        queue: asyncio.Queue[_Item] = asyncio.Queue(QUEUED_CHUNKS)
        reading = asyncio.ensure_future(self._read_chunks(source, direction, connection, queue))
        delivering = asyncio.ensure_future(self._deliver(queue, sink))
        try:
            await asyncio.wait({reading, delivering}, return_when=asyncio.FIRST_EXCEPTION)
            failed = any(
                t.done() and not t.cancelled() and t.exception() for t in (reading, delivering)
            )
            if failed:
                # One peer reset or vanished: the other learns it the same way.
                if not connection.is_cut:
                    connection.cut()
            elif reading.result() and not connection.is_cut:
                self._count(cut=1)
                connection.cut()
        finally:
            for task in (reading, delivering):
                task.cancel()
            await asyncio.gather(reading, delivering, return_exceptions=True)

    async def _read_chunks(
        self,
        source: asyncio.StreamReader,
        direction: Literal["upstream", "downstream"],
        connection: _Connection,
        queue: asyncio.Queue[_Item],
    ) -> bool:
        """Queue the chunks read from `source` and how it ended; True when a cut is due."""
        loop = asyncio.get_running_loop()
        last_due = 0.0
        cut_now = False
        while not connection.is_cut and not cut_now:
            chunk = await source.read(CHUNK_BYTES)
            if not chunk:
                break
            with self._lock:
                faults = self._faults
            chunk, cut_now = self._apply_cuts(faults, direction, connection, chunk)
            if chunk:
                delay = (
                    faults.upstream_delay_s
                    if direction == "upstream"
                    else faults.downstream_delay_s
                )
                if faults.jitter_s:
                    delay = max(0.0, delay + self._rng.uniform(-faults.jitter_s, faults.jitter_s))
                # A byte stream cannot overtake itself: jitter never reorders chunks.
                last_due = max(last_due, loop.time() + delay)
                connection.sent[direction] += len(chunk)
                await queue.put((last_due, chunk))
        await queue.put("cut" if cut_now else "eof")
        return cut_now

    def _apply_cuts(
        self,
        faults: _Faults,
        direction: Literal["upstream", "downstream"],
        connection: _Connection,
        chunk: bytes,
    ) -> tuple[bytes, bool]:
        """The part of `chunk` to forward, and whether to cut the connection after it."""
        if faults.cut_probability and self._rng.random() < faults.cut_probability:
            return b"", True
        limit = faults.cut_after_bytes
        if limit is not None and faults.cut_direction in (direction, "both"):
            room = max(0, limit - connection.counted(faults.cut_direction))
            if len(chunk) >= room:
                return chunk[:room], True
        return chunk, False

    @staticmethod
    async def _deliver(queue: asyncio.Queue[_Item], sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while not isinstance(item := await queue.get(), str):
            due, chunk = item
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            sink.write(chunk)
            await sink.drain()
        # A cut must reach the peer as a reset, not after a clean end of file.
        if item == "eof" and sink.can_write_eof() and not sink.is_closing():
            sink.write_eof()  # pass a half-close on
