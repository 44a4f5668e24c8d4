"""The buffer between the pipeline and the InfluxDB writer.

The pipeline `put`\\ s ready line-protocol lines and never waits; the writer takes them out in
batches, and says for each batch whether it was delivered (`ack`) or must be sent again
(`nack`). Until the ack, a batch's lines still belong to the buffer, so a durable spool can
implement the same protocol and lose nothing across a crash or a long InfluxDB outage.

A buffer is bounded: when full, `put` evicts the oldest lines and counts them, the way Telegraf's
output buffer does. The newest data is what operators look at during and after an outage.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Batch:
    """Lines handed to the writer, in the order they were put.

    `id` names the batch for `ack`/`nack`; it is unique within one buffer.
    An empty batch (no lines) means nothing arrived within the wait.
    """

    id: int
    lines: tuple[str, ...]


class LineBuffer(Protocol):
    """Where serialised lines wait for the writer.

    Contract:

    - `put` never blocks and never raises because the buffer is full: it evicts the oldest
      lines instead and adds them to `lines_evicted`.
    - `get_batch` returns at most `max_lines` of the oldest lines as soon as `max_lines` are
      available, or when `max_wait_s` has passed (then with whatever is there, possibly none),
      or at once after `close`. Lines of a batch stay in the buffer (and in `lines_buffered`)
      until the batch is acked.
    - `ack` forgets a delivered batch. `nack` puts its lines back at the head, in their order,
      so the next `get_batch` returns them first. The writer keeps one batch outstanding at a
      time; that is what makes "back at the head" keep the global order.
    - `close` stops all waiting: pending and later `get_batch` calls return at once with what is
      queued (an empty batch once drained), which is how the writer drains on shutdown. Lines
      already queued stay available; a durable implementation also syncs and releases its files.
    """

    @property
    def lines_buffered(self) -> int:
        """Lines put and not yet acked (queued or in an outstanding batch)."""
        ...

    @property
    def lines_evicted(self) -> int:
        """Lines thrown away, oldest first, because the buffer was full (since start)."""
        ...

    def put(self, lines: Sequence[str]) -> None: ...

    async def get_batch(self, max_lines: int, max_wait_s: float) -> Batch: ...

    def ack(self, batch: Batch) -> None: ...

    def nack(self, batch: Batch) -> None: ...

    def close(self) -> None: ...


async def wait_until(arrived: asyncio.Event, ready: Callable[[], bool], max_wait_s: float) -> None:
    """Wait until `ready()` holds or `max_wait_s` has passed.

    `arrived` is set by whoever may have made `ready()` true (a put, a nack, close); the waiter
    clears it before each wait, so no wake-up is lost between the test and the wait.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait_s
    while not ready():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        arrived.clear()
        try:
            await asyncio.wait_for(arrived.wait(), remaining)
        except TimeoutError:
            return


class MemoryBuffer:
    """A bounded in-memory `LineBuffer`: lost when the process exits, nothing else.

    `max_lines` bounds queued and outstanding lines together, so memory stays bounded while a
    batch is in flight to a slow server.
    """

    def __init__(self, max_lines: int) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self._max_lines = max_lines
        self._queue: deque[str] = deque()
        self._outstanding: dict[int, Batch] = {}
        self._outstanding_lines = 0
        self._evicted = 0
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._closed = False

    @property
    def max_lines(self) -> int:
        return self._max_lines

    @property
    def lines_buffered(self) -> int:
        return len(self._queue) + self._outstanding_lines

    @property
    def lines_evicted(self) -> int:
        return self._evicted

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        room = self._max_lines - self._outstanding_lines
        if len(lines) >= room:
            # Everything queued goes, and the oldest of the new lines too.
            self._evicted += len(self._queue) + len(lines) - room
            self._queue.clear()
            self._queue.extend(lines[len(lines) - room :])
        else:
            self._queue.extend(lines)
            for _ in range(len(self._queue) - room):
                self._queue.popleft()
                self._evicted += 1
        self._arrived.set()

    async def get_batch(self, max_lines: int, max_wait_s: float) -> Batch:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        await wait_until(
            self._arrived, lambda: len(self._queue) >= max_lines or self._closed, max_wait_s
        )
        return self._take(max_lines)

    def _take(self, max_lines: int) -> Batch:
        count = min(max_lines, len(self._queue))
        batch = Batch(next(self._ids), tuple(self._queue.popleft() for _ in range(count)))
        if count:
            self._outstanding[batch.id] = batch
            self._outstanding_lines += count
        return batch

    def _settle(self, batch: Batch) -> Batch:
        found = self._outstanding.pop(batch.id, None)
        if found is None:
            if not batch.lines:
                return batch  # an empty batch was never outstanding
            raise ValueError(f"batch {batch.id} is not outstanding (acked or nacked already?)")
        self._outstanding_lines -= len(found.lines)
        return found

    def ack(self, batch: Batch) -> None:
        self._settle(batch)

    def nack(self, batch: Batch) -> None:
        found = self._settle(batch)
        if found.lines:
            # Lines put while the batch was out were bounded by max_lines minus the batch, so
            # putting it back cannot overflow.
            self._queue.extendleft(reversed(found.lines))
            self._arrived.set()

    def close(self) -> None:
        self._closed = True
        self._arrived.set()
