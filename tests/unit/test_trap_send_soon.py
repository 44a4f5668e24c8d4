"""Writer.send_soon: what a trap needs from the writer (sent now, not at the flush interval).

The flush interval is an hour here, so anything delivered was sent because it was asked for;
waits are bounded by asyncio.wait_for, never measured.
"""

from __future__ import annotations

import asyncio

from agent.output.buffer import MemoryBuffer
from agent.output.writer import Writer
from tests.unit.test_writer import RecordingSleep, ScriptedTransport, lines

HOUR = 3600.0
BOUND_S = 10.0  # far above any honest wait; reaching it fails the test instead of hanging


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_send_soon_ends_the_wait_for_the_flush_interval() -> None:
    transport = ScriptedTransport()
    buffer = MemoryBuffer(1000)
    writer = Writer(transport, buffer, flush_interval_s=HOUR, sleep=RecordingSleep())

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        buffer.put(lines(0, 3))
        await settle()
        assert transport.attempts == []  # waiting for the batch to fill or the hour to pass
        writer.send_soon()
        await asyncio.wait_for(transport.attempted.wait(), BOUND_S)
        assert transport.delivered_lines == lines(0, 3)
        await writer.stop(BOUND_S)
        assert task.done()

    asyncio.run(scenario())


def test_send_soon_before_the_writer_waits_is_not_lost() -> None:
    transport = ScriptedTransport()
    buffer = MemoryBuffer(1000)
    writer = Writer(transport, buffer, flush_interval_s=HOUR, sleep=RecordingSleep())
    buffer.put(lines(0, 2))
    writer.send_soon()

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        await asyncio.wait_for(transport.attempted.wait(), BOUND_S)
        assert transport.delivered_lines == lines(0, 2)
        await writer.stop(BOUND_S)
        await task

    asyncio.run(scenario())


def test_many_calls_interleaved_with_puts_lose_and_repeat_nothing() -> None:
    transport = ScriptedTransport()
    buffer = MemoryBuffer(10_000)
    writer = Writer(transport, buffer, flush_interval_s=HOUR, sleep=RecordingSleep())

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        for start in range(0, 300, 3):
            buffer.put(lines(start, start + 3))
            writer.send_soon()
            if start % 9 == 0:
                await asyncio.sleep(0)
        await writer.stop(BOUND_S)
        await task

    asyncio.run(scenario())
    assert transport.delivered_lines == lines(0, 300)  # each once, in order
    assert writer.stats.lines_written == 300
    assert buffer.lines_buffered == 0
