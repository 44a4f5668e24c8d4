"""Writer: batching, retries with back-off, refused lines set aside, splitting, graceful stop.

The transport is the one I/O seam; `ScriptedTransport` fails or succeeds as its script says
and records what it was sent. Sleeping is injected, so back-off costs no time.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
from collections.abc import Iterable, Sequence

import pytest

from agent.output.buffer import MemoryBuffer
from agent.output.transports import WriteError
from agent.output.writer import MAX_BATCH_LINES, Writer


class ScriptedTransport:
    def __init__(self, *script: WriteError | Exception | None) -> None:
        self.script = list(script)
        self.attempts: list[list[str]] = []
        self.delivered: list[list[str]] = []
        self.gzipped: list[bool] = []
        self.closed = False
        self.attempted = asyncio.Event()

    async def write(self, body: bytes, *, gzipped: bool) -> None:
        await asyncio.sleep(0)
        self.gzipped.append(gzipped)
        text = (gzip.decompress(body) if gzipped else body).decode()
        assert text.endswith("\n")
        lines = text.split("\n")[:-1]
        self.attempts.append(lines)
        self.attempted.set()
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.delivered.append(lines)

    async def close(self) -> None:
        self.closed = True

    @property
    def delivered_lines(self) -> list[str]:
        return [line for batch in self.delivered for line in batch]


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


class CeilingRandom(random.Random):
    """Full jitter always drawing its upper bound, so back-off ceilings are visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


def lines(start: int, stop: int) -> list[str]:
    return [f"m v={i}i {i}" for i in range(start, stop)]


def unavailable(retry_after: float | None = None) -> WriteError:
    return WriteError(503, "service unavailable", retryable=True, retry_after_s=retry_after)


async def run_until_drained(writer: Writer, timeout_s: float = 30.0) -> None:
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)
    await writer.stop(timeout_s)
    assert task.done()


def test_retryable_failures_are_retried_until_delivered_in_order() -> None:
    transport = ScriptedTransport(
        unavailable(),
        WriteError(429, "too many requests", retryable=True, retry_after_s=12.0),
        WriteError(None, "ConnectError: [Errno 111] Connection refused", retryable=True),
        None,
    )
    buffer = MemoryBuffer(1000)
    sleep = RecordingSleep()
    writer = Writer(transport, buffer, batch_size=100, rng=random.Random(7), sleep=sleep)
    buffer.put(lines(0, 10))

    asyncio.run(run_until_drained(writer))

    assert transport.delivered_lines == lines(0, 10)
    assert transport.attempts == [lines(0, 10)] * 4  # the same batch each time, same order
    assert writer.stats.retries == 3
    assert writer.stats.lines_written == 10
    assert writer.stats.batches_written == 1
    assert writer.stats.lines_quarantined == 0
    assert "Connection refused" in writer.stats.last_error
    assert len(sleep.delays) == 3
    assert 0 <= sleep.delays[0] <= 0.5  # full jitter under the first ceiling
    assert sleep.delays[1] >= 12.0  # Retry-After is honoured when larger
    assert 0 <= sleep.delays[2] <= 2.0  # third failure: ceiling 0.5 * 2**2
    assert buffer.lines_buffered == 0
    assert transport.closed


def test_lines_arriving_during_an_outage_follow_the_retried_batch() -> None:
    transport = ScriptedTransport(unavailable(), unavailable())
    buffer = MemoryBuffer(1000)
    writer = Writer(transport, buffer, batch_size=4, sleep=RecordingSleep())
    buffer.put(lines(0, 6))

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        await transport.attempted.wait()
        buffer.put(lines(6, 9))
        await writer.stop(30)
        assert task.done()

    asyncio.run(scenario())
    assert transport.delivered_lines == lines(0, 9)
    assert writer.stats.lines_written == 9


def test_backoff_grows_exponentially_to_its_cap() -> None:
    transport = ScriptedTransport(*[unavailable() for _ in range(9)])
    sleep = RecordingSleep()
    buffer = MemoryBuffer(100)
    writer = Writer(
        transport,
        buffer,
        initial_backoff_s=0.5,
        max_backoff_s=30.0,
        rng=CeilingRandom(),
        sleep=sleep,
    )
    buffer.put(lines(0, 1))
    asyncio.run(run_until_drained(writer))
    assert sleep.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert transport.delivered_lines == lines(0, 1)


def test_backoff_restarts_after_a_success() -> None:
    transport = ScriptedTransport(unavailable(), unavailable(), None, unavailable(), None)
    sleep = RecordingSleep()
    buffer = MemoryBuffer(100)
    writer = Writer(transport, buffer, batch_size=1, rng=CeilingRandom(), sleep=sleep)
    buffer.put(lines(0, 2))
    asyncio.run(run_until_drained(writer))
    assert sleep.delays == [0.5, 1.0, 0.5]
    assert transport.delivered_lines == lines(0, 2)


def test_retry_after_is_capped() -> None:
    transport = ScriptedTransport(unavailable(retry_after=86_400.0))
    sleep = RecordingSleep()
    buffer = MemoryBuffer(100)
    writer = Writer(transport, buffer, max_retry_after_s=60.0, sleep=sleep)
    buffer.put(lines(0, 1))
    asyncio.run(run_until_drained(writer))
    assert sleep.delays == [60.0]


class RefusingTransport:
    """Like InfluxDB 1.x: stores the good lines of a body, refuses (400) if any is bad.

    `names_lines`: whether the 400 names the refused lines (as InfluxDB does for a parse
    error) or only says something vague.
    """

    def __init__(self, names_lines: bool, status: int = 400) -> None:
        self.names_lines = names_lines
        self.status = status
        self.stored: list[str] = []
        self.requests = 0

    async def write(self, body: bytes, *, gzipped: bool) -> None:
        await asyncio.sleep(0)
        self.requests += 1
        lines = body.decode().split("\n")[:-1]
        bad = [line for line in lines if "bad" in line]
        self.stored.extend(line for line in lines if "bad" not in line)
        if bad:
            message = (
                "partial write: " + "; ".join(f"unable to parse '{line}': invalid" for line in bad)
                if self.names_lines
                else "something went wrong"
            )
            raise WriteError(self.status, message, retryable=False)

    async def close(self) -> None: ...


class ListQuarantine:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, int | None]] = []

    def add(self, refused: Iterable[tuple[str, str]], *, status: int | None = None) -> int:
        before = len(self.entries)
        self.entries.extend((line, reason, status) for line, reason in refused)
        return len(self.entries) - before


def find_quoted(part: Sequence[str], message: str) -> dict[int, str]:
    """A stand-in for agent.output.rejects: the lines quoted in "unable to parse '...'"."""
    return {i: "invalid" for i, line in enumerate(part) if f"'{line}'" in message}


MIXED = [*lines(0, 5), "bad v=x 5", *lines(6, 12), "bad v=y 12", *lines(13, 16)]


def test_named_refused_lines_are_set_aside_and_the_rest_delivered() -> None:
    transport = RefusingTransport(names_lines=True)
    quarantine = ListQuarantine()
    buffer = MemoryBuffer(100)
    writer = Writer(
        transport, buffer, quarantine=quarantine, find_rejected=find_quoted, sleep=RecordingSleep()
    )
    buffer.put(MIXED)
    asyncio.run(run_until_drained(writer))
    good = [line for line in MIXED if "bad" not in line]
    assert sorted(set(transport.stored)) == sorted(good)
    assert [entry[0] for entry in quarantine.entries] == ["bad v=x 5", "bad v=y 12"]
    assert {entry[1:] for entry in quarantine.entries} == {("invalid", 400)}
    assert writer.stats.lines_quarantined == 2
    assert writer.stats.lines_written == len(good)
    assert writer.stats.retries == 0
    assert transport.requests == 2  # the batch, then its good lines once more
    assert buffer.lines_buffered == 0


def test_a_vague_refusal_is_halved_until_the_bad_lines_are_alone() -> None:
    transport = RefusingTransport(names_lines=False)
    quarantine = ListQuarantine()
    buffer = MemoryBuffer(100)
    writer = Writer(transport, buffer, quarantine=quarantine, sleep=RecordingSleep())
    buffer.put(MIXED)
    asyncio.run(run_until_drained(writer))
    assert sorted(entry[0] for entry in quarantine.entries) == ["bad v=x 5", "bad v=y 12"]
    assert quarantine.entries[0][1] == "something went wrong"
    assert sorted(set(transport.stored)) == sorted(line for line in MIXED if "bad" not in line)
    assert writer.stats.lines_quarantined == 2
    assert writer.stats.batches_written == 1


def test_without_a_quarantine_refused_lines_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    buffer = MemoryBuffer(100)
    writer = Writer(RefusingTransport(names_lines=True), buffer, find_rejected=find_quoted)
    buffer.put(MIXED)
    with caplog.at_level(logging.ERROR, logger="agent.output.writer"):
        asyncio.run(run_until_drained(writer))
    assert writer.stats.lines_quarantined == 2
    assert "refused 2 lines for good: invalid" in caplog.text


def test_too_large_is_split_not_refused() -> None:
    class SizeLimited:
        def __init__(self) -> None:
            self.sizes: list[int] = []

        async def write(self, body: bytes, *, gzipped: bool) -> None:
            count = body.count(b"\n")
            self.sizes.append(count)
            if count > 3:
                raise WriteError(413, "request entity too large", retryable=False)

        async def close(self) -> None: ...

    transport = SizeLimited()
    buffer = MemoryBuffer(100)
    writer = Writer(transport, buffer, sleep=RecordingSleep())
    buffer.put(lines(0, 10))
    asyncio.run(run_until_drained(writer))
    assert writer.stats.lines_written == 10
    assert writer.stats.lines_quarantined == 0
    assert max(size for size in transport.sizes if size <= 3) <= 3
    assert sum(size for size in transport.sizes if size <= 3) == 10


def test_wrong_credentials_keep_the_lines_and_retry() -> None:
    transport = ScriptedTransport(
        WriteError(401, "authorization failed", retryable=True),
        WriteError(403, "forbidden", retryable=True),
        None,
    )
    buffer = MemoryBuffer(100)
    writer = Writer(transport, buffer, sleep=RecordingSleep())
    buffer.put(lines(0, 3))
    asyncio.run(run_until_drained(writer))
    assert transport.delivered_lines == lines(0, 3)
    assert writer.stats.retries == 2
    assert writer.stats.lines_quarantined == 0


def test_a_retry_after_a_refusal_resends_only_what_is_left() -> None:
    class Flaky(RefusingTransport):
        def __init__(self) -> None:
            super().__init__(names_lines=True)
            self.failed_once = False

        async def write(self, body: bytes, *, gzipped: bool) -> None:
            if self.requests == 1 and not self.failed_once:
                self.failed_once = True  # InfluxDB goes away right after refusing a line
                raise WriteError(None, "connection reset", retryable=True)
            await super().write(body, gzipped=gzipped)

    transport = Flaky()
    quarantine = ListQuarantine()
    buffer = MemoryBuffer(100)
    writer = Writer(
        transport, buffer, quarantine=quarantine, find_rejected=find_quoted, sleep=RecordingSleep()
    )
    buffer.put(MIXED)
    asyncio.run(run_until_drained(writer))
    assert len(quarantine.entries) == 2  # not set aside twice
    assert writer.stats.retries == 1
    assert buffer.lines_buffered == 0


def test_batches_never_exceed_the_batch_size() -> None:
    transport = ScriptedTransport()
    buffer = MemoryBuffer(20_000)
    writer = Writer(transport, buffer, sleep=RecordingSleep())
    buffer.put(lines(0, 12_001))
    asyncio.run(run_until_drained(writer))
    assert [len(batch) for batch in transport.delivered] == [5000, 5000, 2001]
    assert transport.delivered_lines == lines(0, 12_001)
    assert writer.stats.batches_written == 3


@pytest.mark.parametrize("batch_size", [0, MAX_BATCH_LINES + 1])
def test_batch_size_is_bounded(batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Writer(ScriptedTransport(), MemoryBuffer(10), batch_size=batch_size)


def test_stop_flushes_without_waiting_for_the_flush_interval() -> None:
    transport = ScriptedTransport()
    buffer = MemoryBuffer(100)
    # An hour-long interval: only stop's drain can deliver these three lines.
    writer = Writer(transport, buffer, flush_interval_s=3600.0, sleep=RecordingSleep())

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        buffer.put(lines(0, 3))
        await asyncio.sleep(0)
        assert transport.attempts == []  # still waiting for a full batch
        await writer.stop(30)
        assert task.done()

    asyncio.run(scenario())
    assert transport.delivered_lines == lines(0, 3)
    assert transport.closed


def test_stop_without_run_still_drains() -> None:
    transport = ScriptedTransport()
    buffer = MemoryBuffer(100)
    writer = Writer(transport, buffer, sleep=RecordingSleep())
    buffer.put(lines(0, 4))
    asyncio.run(writer.stop(30))
    assert transport.delivered_lines == lines(0, 4)
    assert transport.closed


def test_stop_times_out_during_an_outage_and_keeps_the_lines_buffered() -> None:
    transport = ScriptedTransport(*[unavailable() for _ in range(100)])
    buffer = MemoryBuffer(100)
    never = asyncio.Event()

    async def long_backoff(delay: float) -> None:
        await never.wait()

    writer = Writer(transport, buffer, sleep=long_backoff)
    buffer.put(lines(0, 3))

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        await writer.stop(0.05)
        assert task.done()

    asyncio.run(scenario())
    assert transport.delivered == []
    assert buffer.lines_buffered == 3  # nacked, not lost: a spool would keep them
    assert writer.stats.lines_quarantined == 0
    assert transport.closed


def test_cancelled_write_nacks_its_batch() -> None:
    buffer = MemoryBuffer(100)
    started = asyncio.Event()

    class HangingTransport(ScriptedTransport):
        async def write(self, body: bytes, *, gzipped: bool) -> None:
            started.set()
            await asyncio.Event().wait()

    writer = Writer(HangingTransport(), buffer, sleep=RecordingSleep())
    buffer.put(lines(0, 2))

    async def scenario() -> tuple[str, ...]:
        task = asyncio.create_task(writer.run())
        await started.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return (await buffer.get_batch(10, max_wait_s=0)).lines

    assert asyncio.run(scenario()) == tuple(lines(0, 2))


def test_gzip_bodies() -> None:
    transport = ScriptedTransport()
    buffer = MemoryBuffer(100)
    writer = Writer(transport, buffer, gzip=True, sleep=RecordingSleep())
    buffer.put(['m,site=Sở\\ Thông\\ tin s="é" 1', *lines(0, 2)])
    asyncio.run(run_until_drained(writer))
    assert transport.gzipped == [True]
    assert transport.delivered_lines == ['m,site=Sở\\ Thông\\ tin s="é" 1', *lines(0, 2)]


def test_unexpected_transport_exception_is_retried_and_its_text_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = ScriptedTransport(RuntimeError("password=hunter2-secret"), None)
    buffer = MemoryBuffer(100)
    writer = Writer(transport, buffer, sleep=RecordingSleep())
    buffer.put(lines(0, 2))
    with caplog.at_level(logging.DEBUG):
        asyncio.run(run_until_drained(writer))
    assert transport.delivered_lines == lines(0, 2)
    assert writer.stats.retries == 1
    assert "RuntimeError" in writer.stats.last_error
    assert "hunter2" not in writer.stats.last_error
    assert "hunter2" not in caplog.text


def test_run_twice_at_once_is_refused() -> None:
    writer = Writer(ScriptedTransport(), MemoryBuffer(10), sleep=RecordingSleep())

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already running"):
            await writer.run()
        await writer.stop(30)
        assert task.done()

    asyncio.run(scenario())


def test_cancelling_stop_cancels_the_drain_too() -> None:
    transport = ScriptedTransport(*[unavailable() for _ in range(100)])
    buffer = MemoryBuffer(100)
    never = asyncio.Event()

    async def long_backoff(delay: float) -> None:
        await never.wait()

    writer = Writer(transport, buffer, sleep=long_backoff)
    buffer.put(lines(0, 2))

    async def scenario() -> bool:
        run = asyncio.create_task(writer.run())
        await transport.attempted.wait()
        stopping = asyncio.create_task(writer.stop(3600))
        await asyncio.sleep(0)
        stopping.cancel()
        await asyncio.gather(stopping, return_exceptions=True)
        await asyncio.wait([run], timeout=30)  # a guard against hanging, not a timing claim
        # Checked here: once scenario() returns, asyncio.run cancels whatever is left anyway.
        return run.cancelled()

    assert asyncio.run(scenario())
    assert transport.closed
    assert buffer.lines_buffered == 2
