"""The InfluxDB writer: takes batches out of the buffer and delivers them through a transport.

Delivery is at least once. A batch is acked only when the server accepted it; on a retryable
failure (429, 5xx, no response) it is nacked, so its lines go back to the head of the buffer in
their order, and the writer backs off exponentially with full jitter (a random delay between 0
and min(max_backoff_s, initial_backoff_s · 2^failures)), so that the agents of a whole province
do not hammer a recovering InfluxDB in step. A larger Retry-After from the server wins. A
non-retryable failure (any other 4xx: bad line, type conflict, wrong credentials, missing
database) cannot succeed by repetition: the batch is dropped, its lines counted as failed and
the server's explanation logged. While InfluxDB is down, the bounded buffer keeps the newest
lines and counts what it evicts.

Outputs start first and stop last: `stop` is called after the collectors have stopped, and
drains the buffer (bounded by its timeout) before closing the transport.
"""

from __future__ import annotations

import asyncio
import gzip as gzip_module
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from agent.output.buffer import Batch, LineBuffer
from agent.output.transports import Transport, WriteError

logger = logging.getLogger(__name__)

#: InfluxDB's recommended batch size (its docs, and what Telegraf sends); larger bodies gain
#: nothing and risk the server's request-size and time-out limits.
MAX_BATCH_LINES = 5000

# Level 1 compresses line protocol about 8.6 : 1 for 40 % of the CPU of the default level 6
# (10 : 1), measured on 5,000 interface lines.
_GZIP_LEVEL = 1

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class WriterStats:
    """Counters since start, for the agent's own /metrics.

    lines_written: lines InfluxDB accepted (including the accepted part of a partial write).
    lines_failed: lines InfluxDB refused for good (non-retryable errors); they are not retried.
    batches_written / batches_failed: requests accepted / refused for good.
    retries: retryable failures, each followed by a back-off and a new attempt.
    last_error: the latest failure, server's message included (never a secret); "" if none.
    """

    lines_written: int = 0
    lines_failed: int = 0
    batches_written: int = 0
    batches_failed: int = 0
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
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self._failures = 0  # consecutive retryable failures: the back-off exponent
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.stats = WriterStats()

    async def run(self) -> None:
        """Deliver batches until `stop`; returns once the buffer is drained after `stop`."""
        if self._task is not None and not self._task.done():
            if self._stopping:
                return  # stop() came first and is draining the buffer itself
            raise RuntimeError("the writer is already running")
        self._task = asyncio.current_task()
        await self._deliver_until_stopped()

    async def _deliver_until_stopped(self) -> None:
        while True:
            batch = await self._buffer.get_batch(self._batch_size, self._flush_interval_s)
            if not batch.lines:
                if self._stopping:
                    return
                continue
            delay = await self._deliver(batch)
            if delay is not None:
                await self._sleep(delay)

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
            logger.warning(
                "InfluxDB writer stopped after %.1f s with %d lines undelivered (last error: %s)",
                timeout_s,
                self._buffer.lines_buffered,
                self.stats.last_error or "none",
            )
        except BaseException:
            task.cancel()  # stop() itself was cancelled: the drain must not outlive the transport
            raise
        finally:
            await self._transport.close()

    async def _deliver(self, batch: Batch) -> float | None:
        """Send one batch; the back-off delay before the next attempt, or None."""
        try:
            body = await self._encode(batch.lines)
            await self._transport.write(body, gzipped=self._gzip)
        except WriteError as error:
            return self._on_error(batch, error)
        except Exception as error:
            # A transport bug must not end the output for good; its text may hold anything, so
            # only its type is reported.
            logger.error("InfluxDB transport raised %s instead of WriteError", type(error).__name__)
            unexpected = WriteError(None, f"unexpected {type(error).__name__}", retryable=True)
            return self._on_error(batch, unexpected)
        except BaseException:
            self._buffer.nack(batch)  # cancelled mid-flight: the lines stay buffered
            raise
        self._buffer.ack(batch)
        self.stats.lines_written += len(batch.lines)
        self.stats.batches_written += 1
        if self._failures:
            logger.info("InfluxDB writes recovered after %d failed attempts", self._failures)
            self._failures = 0
        return None

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

    def _on_error(self, batch: Batch, error: WriteError) -> float | None:
        self.stats.last_error = str(error)
        count = len(batch.lines)
        if error.retryable:
            self._buffer.nack(batch)
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
            return delay
        self._buffer.ack(batch)
        rejected = error.rejected_lines
        if rejected is None or not 0 <= rejected <= count:
            rejected = count
        self.stats.lines_failed += rejected
        self.stats.lines_written += count - rejected
        self.stats.batches_failed += 1
        logger.error(
            "InfluxDB refused %d of %d lines; they are dropped, not retried: %s",
            rejected,
            count,
            error,
        )
        return None

    def _backoff(self, retry_after_s: float | None) -> float:
        exponent = min(self._failures - 1, 32)  # past this the ceiling is max_backoff_s anyway
        ceiling = min(self._max_backoff_s, self._initial_backoff_s * 2.0**exponent)
        delay = self._rng.uniform(0.0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self._max_retry_after_s))
        return delay
