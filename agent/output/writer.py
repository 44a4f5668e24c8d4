"""The InfluxDB writer: takes batches out of the buffer and delivers them through a transport.

Delivery is at least once, and a batch is settled only when every line of it is either stored
by InfluxDB or quarantined:

- **Retryable failures** (429, 5xx, no answer, and also 401/403/404: wrong credentials or a
  missing database are mistakes an operator fixes, and the lines wait in the bounded spool
  meanwhile rather than being thrown away) are retried with exponential back-off and full
  jitter (a random delay between 0 and min(max_backoff_s, initial_backoff_s · 2^failures)), so
  the agents of a whole province do not hammer a recovering InfluxDB in step. A larger
  Retry-After from the server wins, up to max_retry_after_s. The batch stays with the writer
  across retries, so the parts of it already stored are not sent again.
- **413** (body too large for a proxy or server limit): the batch is split in halves.
- **Refused lines** (400/422: a field type conflict, a line InfluxDB cannot parse). InfluxDB
  stores the good lines of a batch and names the bad ones (`agent.output.rejects`). Those go
  to the quarantine file with the server's reason (`agent.output.quarantine`), counted; the
  rest of the batch is sent again, which stores nothing twice because InfluxDB keeps one point
  per series and timestamp. When the answer names no line, the batch is halved until the bad
  lines are alone.

A backlog drains as fast as InfluxDB takes it: a full batch is sent as soon as the previous one
is stored, without waiting for the flush interval (the spool interleaves the newest lines with
the backlog, so current values reach Grafana during the drain).

Outputs start first and stop last: `stop` is called after the collectors have stopped and
drains the buffer (bounded by its timeout; with the durable spool, what is left waits on disk
for the next start) before closing the transport.
"""

from __future__ import annotations

import asyncio
import gzip as gzip_module
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.output.buffer import Batch, LineBuffer
from agent.output.rejects import rejected_lines
from agent.output.transports import Transport, WriteError

logger = logging.getLogger(__name__)

#: InfluxDB's recommended batch size (its docs, and what Telegraf sends); larger bodies gain
#: nothing and risk the server's request-size and time-out limits.
MAX_BATCH_LINES = 5000

# Level 1 compresses line protocol about 8.6 : 1 for 40 % of the CPU of the default level 6
# (10 : 1), measured on 5,000 interface lines.
_GZIP_LEVEL = 1

Sleep = Callable[[float], Awaitable[None]]


class QuarantineSink(Protocol):
    """Where refused lines go (agent.output.quarantine.Quarantine): (line, reason) pairs."""

    def add(self, refused: Iterable[tuple[str, str]], *, status: int | None = None) -> int: ...


#: Which lines of a refused part the server's answer names, each with its own reason.
FindRejected = Callable[[Sequence[str], str], Mapping[int, str]]


def named_in_answer(lines: Sequence[str], message: str) -> Mapping[int, str]:
    """The lines InfluxDB's answer names as refused (agent.output.rejects), with reasons."""
    return {refused.index: refused.reason for refused in rejected_lines(lines, message).refused}


@dataclass
class WriterStats:
    """Counters since start, for the agent's own /metrics.

    lines_written: lines InfluxDB accepted.
    lines_quarantined: lines InfluxDB refused for good; in the quarantine file, not retried.
    batches_written: batches settled (every line stored or quarantined).
    requests: write requests sent (a refused batch takes several).
    retries: retryable failures, each followed by a back-off and a new attempt.
    last_error: the latest failure, server's message included (never a secret); "" if none.
    """

    lines_written: int = 0
    lines_quarantined: int = 0
    batches_written: int = 0
    requests: int = 0
    retries: int = 0
    last_error: str = ""


class Writer:
    """Moves lines from a `LineBuffer` to a `Transport`: batching, gzip, retry, drain on stop.

    batch_size: lines per request, 1 ..= 5000.
    flush_interval_s: longest time a line waits for its batch to fill before being sent.
    gzip: compress request bodies (worth it on slow links; on loopback it costs more CPU than
      it saves).
    initial_backoff_s, max_backoff_s: bounds of the exponential back-off.
    max_retry_after_s: a server's Retry-After is honoured up to this, so a misconfigured proxy
      cannot park the writer for days.
    quarantine, find_rejected: where refused lines go, and how the server's answer is read to
      find them (without a quarantine, refused lines are only counted and logged).
    rng, sleep: injectable so that tests of the back-off are deterministic and instant.
    """

    def __init__(
        self,
        transport: Transport,
        buffer: LineBuffer,
        *,
        batch_size: int = MAX_BATCH_LINES,
        flush_interval_s: float = 1.0,
        gzip: bool = False,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_retry_after_s: float = 300.0,
        quarantine: QuarantineSink | None = None,
        find_rejected: FindRejected = named_in_answer,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_LINES:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_LINES}")
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be positive")
        if not 0 < initial_backoff_s <= max_backoff_s:
            raise ValueError("backoff bounds must satisfy 0 < initial_backoff_s <= max_backoff_s")
        self._transport = transport
        self._buffer = buffer
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._gzip = gzip
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._quarantine = quarantine
        self._find_rejected = find_rejected
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self._failures = 0  # consecutive retryable failures: the back-off exponent
        self._stopping = False
        self._soon = asyncio.Event()  # send_soon() was called: end the current wait
        self._task: asyncio.Task[None] | None = None
        self.stats = WriterStats()

    @property
    def quarantine(self) -> QuarantineSink | None:
        return self._quarantine

    async def run(self) -> None:
        """Deliver batches until `stop`; returns once the buffer is drained after `stop`."""
        if self._task is not None and not self._task.done():
            if self._stopping:
                return  # stop() came first and is draining the buffer itself
            raise RuntimeError("the writer is already running")
        self._task = asyncio.current_task()
        await self._deliver_until_stopped()

    def send_soon(self) -> None:
        """Send what is buffered now rather than at the end of the flush interval.

        For data someone waits for (a trap: an operator watching a link go down); the lines put
        meanwhile go in the same request. Cheap to call often: a burst of calls while a batch is
        in flight ends one wait.
        """
        self._soon.set()

    async def _deliver_until_stopped(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch.lines:
                if self._stopping:
                    return
                continue
            await self._deliver(batch)

    async def _next_batch(self) -> Batch:
        """The buffer's next batch, waiting at most the flush interval or until send_soon()."""
        if not self._soon.is_set():
            taking = asyncio.ensure_future(
                self._buffer.get_batch(self._batch_size, self._flush_interval_s)
            )
            hurry = asyncio.ensure_future(self._soon.wait())
            try:
                await asyncio.wait({taking, hurry}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                hurry.cancel()
                waiting = not taking.done()
                if waiting:
                    # Lines leave the buffer only when get_batch returns, so ending its wait
                    # loses nothing: they are taken below, without waiting.
                    taking.cancel()
            if not waiting:
                return taking.result()
        self._soon.clear()
        return await self._buffer.get_batch(self._batch_size, 0.0)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Flush what is buffered, within `timeout_s`, then close the transport.

        Lines still buffered at the time-out stay in the buffer (a durable spool keeps them for
        the next start; the memory buffer loses them with the process) and are logged.
        """
        self._stopping = True
        self._buffer.close()
        task = self._task
        if task is None or task.done():
            # Never started (or already ended): drain here, registered so that a run() that
            # was scheduled but has not begun yet stands aside instead of competing.
            task = self._task = asyncio.create_task(self._deliver_until_stopped())
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except BaseException:
            task.cancel()  # stop() itself was cancelled: the drain must not outlive the transport
            raise
        finally:
            await self._transport.close()
        if self._buffer.lines_buffered:
            logger.warning(
                "InfluxDB writer stopped with %d lines undelivered (last error: %s)",
                self._buffer.lines_buffered,
                self.stats.last_error or "none",
            )

    async def _deliver(self, batch: Batch) -> None:
        """Settle one batch: every line stored or quarantined; retry until then."""
        parts = [list(batch.lines)]  # still to send; a refused part comes back smaller
        try:
            while parts:
                part = parts.pop()
                try:
                    await self._send(part)
                except WriteError as error:
                    self.stats.last_error = str(error)
                    if error.retryable:
                        parts.append(part)
                        await self._back_off(len(part), error)
                    else:
                        parts.extend(self._refused(part, error))
                    continue
                self.stats.lines_written += len(part)
                if self._failures:
                    logger.info(
                        "InfluxDB writes recovered after %d failed attempts", self._failures
                    )
                    self._failures = 0
        except BaseException:
            self._buffer.nack(batch)  # cancelled (stop's time-out): the lines stay buffered
            raise
        self._buffer.ack(batch)
        self.stats.batches_written += 1

    async def _send(self, part: Sequence[str]) -> None:
        self.stats.requests += 1
        try:
            body = await self._encode(part)
            await self._transport.write(body, gzipped=self._gzip)
        except WriteError:
            raise
        except Exception as error:
            # A transport bug must not end the output for good; its text may hold anything, so
            # only its type is reported.
            logger.error("InfluxDB transport raised %s instead of WriteError", type(error).__name__)
            raise WriteError(None, f"unexpected {type(error).__name__}", retryable=True) from None

    async def _encode(self, lines: Sequence[str]) -> bytes:
        # "replace": a lone surrogate from a badly decoded device string must cost one
        # character, not a batch that fails to encode forever.
        body = ("\n".join(lines) + "\n").encode("utf-8", "replace")
        if not self._gzip:
            return body
        # zlib releases the GIL, so compressing in a thread keeps the loop responsive.
        return await asyncio.to_thread(
            gzip_module.compress, body, compresslevel=_GZIP_LEVEL, mtime=0
        )

    async def _back_off(self, count: int, error: WriteError) -> None:
        self.stats.retries += 1
        self._failures += 1
        delay = self._backoff(error.retry_after_s)
        logger.warning(
            "InfluxDB write of %d lines failed (attempt %d), retrying in %.1f s: %s",
            count,
            self._failures,
            delay,
            error,
        )
        await self._sleep(delay)

    def _refused(self, part: list[str], error: WriteError) -> list[list[str]]:
        """What to send again after InfluxDB refused `part` for good; quarantines the rest."""
        if error.status == 413 and len(part) > 1:
            middle = len(part) // 2
            return [part[middle:], part[:middle]]
        named = {
            index: reason
            for index, reason in self._find_rejected(part, error.message).items()
            if 0 <= index < len(part)
        }
        if named:
            self._put_aside(
                [(part[i], reason) for i, reason in sorted(named.items())], error.status
            )
            rest = [line for index, line in enumerate(part) if index not in named]
            return [rest] if rest else []
        if len(part) == 1:
            self._put_aside([(part[0], error.message)], error.status)
            return []
        # The answer names no line: halve until the refused lines are alone (a batch with
        # k bad lines costs about 2·k·log2(n) requests, and only when InfluxDB is vague).
        middle = len(part) // 2
        return [part[middle:], part[:middle]]

    def _put_aside(self, refused: list[tuple[str, str]], status: int | None) -> None:
        self.stats.lines_quarantined += len(refused)
        if self._quarantine is not None:
            self._quarantine.add(refused, status=status)  # it logs each reason once
            return
        for reason, count in Counter(reason for _line, reason in refused).items():
            logger.error("InfluxDB refused %d lines for good: %s", count, reason)

    def _backoff(self, retry_after_s: float | None) -> float:
        exponent = min(self._failures - 1, 32)  # past this the ceiling is max_backoff_s anyway
        ceiling = min(self._max_backoff_s, self._initial_backoff_s * 2.0**exponent)
        delay = self._rng.uniform(0.0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self._max_retry_after_s))
        return delay
