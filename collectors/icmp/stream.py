"""Echo requests spread evenly over time: a continuous stream per target, or a short burst.

A stream sends one request every ``spacing_s`` (the interval divided by the count, e.g. 20
per 60 s: one every 3 s), anchored to its start so that a late event loop does not drift it;
a poll takes the outcomes that are known so far and leaves those still in flight for the
next poll, so no request is counted twice or dropped at a poll boundary. This is how a
SmokePing-grade probe can spread its requests over the whole interval while a poll itself
takes no time (and holds no device slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from collectors.icmp.engine import EchoEngine
from collectors.icmp.stats import Outcome


class EchoStream:
    def __init__(
        self,
        engine: EchoEngine,
        address: str,
        spacing_s: float,
        timeout_s: float,
        *,
        idle_limit_s: float,
        size: int | None = None,
    ) -> None:
        self.engine = engine
        self.size = size
        self.address = address
        self.spacing_s = spacing_s
        self.timeout_s = timeout_s
        #: A stream nobody takes from for this long stops itself (its target went away).
        self.idle_limit_s = idle_limit_s
        self._done: list[Outcome] = []
        self._arrived = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._anchor = self._loop.time()
        self._index = 0
        self._last_take = self._anchor
        self._timer: asyncio.TimerHandle | None = None
        self.stopped = False

    def start(self) -> None:
        self._send()

    def stop(self) -> None:
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()

    def take(self) -> list[Outcome]:
        """The outcomes known since the last take, oldest first."""
        self._last_take = self._loop.time()
        done, self._done = self._done, []
        self._arrived.clear()
        return sorted(done, key=lambda o: o.sent_ns)

    async def wait_for_outcome(self, timeout_s: float) -> None:
        """Return when at least one outcome is known, or after `timeout_s`."""
        if self._done:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout_s)

    def _record(self, sent_ns: int, rtt_s: float | None, error: str | None) -> None:
        self._done.append(Outcome(sent_ns, rtt_s, error))
        self._arrived.set()

    def _send(self) -> None:
        now = self._loop.time()
        if self.stopped or now - self._last_take > self.idle_limit_s:
            self.stopped = True
            return
        sent_ns = time.time_ns()

        def record(rtt_s: float | None, error: str | None) -> None:
            self._record(sent_ns, rtt_s, error)

        self.engine.send(self.address, self.timeout_s, record, self.size)
        self._index += 1
        due = self._anchor + self._index * self.spacing_s
        if due < now:  # the loop was late by more than a spacing: skip, never burst
            self._index = int((now - self._anchor) / self.spacing_s) + 1
            due = self._anchor + self._index * self.spacing_s
        self._timer = self._loop.call_at(due, self._send)


async def burst(
    engine: EchoEngine, address: str, count: int, spacing_s: float, timeout_s: float
) -> list[Outcome]:
    """Send `count` requests `spacing_s` apart and wait for all their outcomes."""
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[Outcome]] = []
    for index in range(count):
        if index:
            await asyncio.sleep(spacing_s)
        future: asyncio.Future[Outcome] = loop.create_future()
        sent_ns = time.time_ns()

        def record(
            rtt_s: float | None,
            error: str | None,
            future: asyncio.Future[Outcome] = future,
            sent_ns: int = sent_ns,
        ) -> None:
            if not future.done():
                future.set_result(Outcome(sent_ns, rtt_s, error))

        engine.send(address, timeout_s, record)
        futures.append(future)
    return list(await asyncio.gather(*futures))


class Streams:
    """One engine's streams, one per target: what the ``ping`` and ``vc`` checks keep."""

    def __init__(self, engine: EchoEngine) -> None:
        self.engine = engine
        self._streams: dict[str, EchoStream] = {}

    def stream_for(
        self,
        key: str,
        address: str,
        interval_s: float,
        count: int,
        packet_timeout_s: float,
        size: int | None = None,
    ) -> EchoStream:
        """The target's running stream, started now if it has none (or it stopped idle).

        Raises IcmpUnavailableError when no ICMP socket may be opened.
        """
        stream = self._streams.get(key)
        if stream is None or stream.stopped:
            stream = EchoStream(
                self.engine,
                address,
                interval_s / count,
                packet_timeout_s,
                # A target nobody polls for three intervals went away: its stream stops.
                idle_limit_s=3 * interval_s + packet_timeout_s,
                size=size,
            )
            stream.start()
            self._streams[key] = stream
        return stream

    def close(self) -> None:
        for stream in self._streams.values():
            stream.stop()
        self._streams.clear()
        self.engine.close()
