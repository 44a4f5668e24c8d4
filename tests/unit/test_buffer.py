"""MemoryBuffer: bounded, evicts oldest and counts, batches in order, ack/nack, close."""

from __future__ import annotations

import asyncio

import pytest

from agent.output.buffer import Batch, LineBuffer, MemoryBuffer


def lines(start: int, stop: int) -> list[str]:
    return [f"m v={i}i {i}" for i in range(start, stop)]


def test_memory_buffer_is_a_line_buffer() -> None:
    buffer: LineBuffer = MemoryBuffer(10)
    assert buffer.lines_buffered == 0
    assert buffer.lines_evicted == 0


def test_rejects_nonsense_capacity() -> None:
    with pytest.raises(ValueError, match="max_lines"):
        MemoryBuffer(0)


def test_full_batch_returns_oldest_first() -> None:
    async def scenario() -> None:
        buffer = MemoryBuffer(100)
        buffer.put(lines(0, 7))
        batch = await buffer.get_batch(5, max_wait_s=60)
        assert batch.lines == tuple(lines(0, 5))
        assert buffer.lines_buffered == 7  # outstanding lines still belong to the buffer
        buffer.ack(batch)
        assert buffer.lines_buffered == 2
        rest = await buffer.get_batch(5, max_wait_s=0)
        assert rest.lines == tuple(lines(5, 7))

    asyncio.run(scenario())


def test_partial_batch_after_max_wait() -> None:
    async def scenario() -> None:
        buffer = MemoryBuffer(100)
        buffer.put(lines(0, 3))
        batch = await buffer.get_batch(1000, max_wait_s=0.01)
        assert batch.lines == tuple(lines(0, 3))

    asyncio.run(scenario())


def test_empty_batch_when_nothing_arrives() -> None:
    async def scenario() -> None:
        buffer = MemoryBuffer(100)
        batch = await buffer.get_batch(10, max_wait_s=0.01)
        assert batch.lines == ()
        buffer.ack(batch)  # acking an empty batch is harmless
        assert buffer.lines_buffered == 0

    asyncio.run(scenario())


def test_waiting_get_returns_when_the_batch_fills() -> None:
    async def scenario() -> None:
        buffer = MemoryBuffer(100)
        waiting = asyncio.create_task(buffer.get_batch(4, max_wait_s=60))
        await asyncio.sleep(0)
        buffer.put(lines(0, 2))
        await asyncio.sleep(0)
        assert not waiting.done()  # half a batch: keeps waiting for more
        buffer.put(lines(2, 6))
        batch = await asyncio.wait_for(waiting, 5)
        assert batch.lines == tuple(lines(0, 4))

    asyncio.run(scenario())


def test_close_wakes_a_waiting_get_with_what_is_queued() -> None:
    async def scenario() -> None:
        buffer = MemoryBuffer(100)
        buffer.put(lines(0, 2))
        waiting = asyncio.create_task(buffer.get_batch(10, max_wait_s=60))
        await asyncio.sleep(0)
        buffer.close()
        batch = await asyncio.wait_for(waiting, 5)
        assert batch.lines == tuple(lines(0, 2))
        buffer.ack(batch)
        assert (await buffer.get_batch(10, max_wait_s=60)).lines == ()

    asyncio.run(scenario())


def test_nack_puts_lines_back_at_the_head_in_order() -> None:
    async def scenario() -> None:
        buffer = MemoryBuffer(100)
        buffer.put(lines(0, 6))
        first = await buffer.get_batch(3, max_wait_s=0)
        buffer.put(lines(6, 8))  # arrives while the batch is out
        buffer.nack(first)
        again = await buffer.get_batch(100, max_wait_s=0)
        assert again.lines == tuple(lines(0, 8))
        assert again.id != first.id

    asyncio.run(scenario())


def test_settling_a_batch_twice_is_an_error() -> None:
    async def scenario() -> None:
        buffer = MemoryBuffer(10)
        buffer.put(lines(0, 2))
        batch = await buffer.get_batch(2, max_wait_s=0)
        buffer.ack(batch)
        with pytest.raises(ValueError, match="not outstanding"):
            buffer.nack(batch)
        with pytest.raises(ValueError, match="not outstanding"):
            buffer.ack(Batch(999, ("x",)))

    asyncio.run(scenario())


def test_full_buffer_evicts_oldest_and_counts() -> None:
    buffer = MemoryBuffer(5)
    buffer.put(lines(0, 3))
    buffer.put(lines(3, 7))
    assert buffer.lines_evicted == 2
    assert buffer.lines_buffered == 5

    async def drain() -> tuple[str, ...]:
        return (await buffer.get_batch(10, max_wait_s=0)).lines

    assert asyncio.run(drain()) == tuple(lines(2, 7))


def test_one_put_larger_than_the_buffer_keeps_its_newest_lines() -> None:
    buffer = MemoryBuffer(3)
    buffer.put(lines(0, 2))
    buffer.put(lines(2, 10))
    assert buffer.lines_evicted == 7
    assert buffer.lines_buffered == 3

    async def drain() -> tuple[str, ...]:
        return (await buffer.get_batch(10, max_wait_s=0)).lines

    assert asyncio.run(drain()) == tuple(lines(7, 10))


def test_outstanding_lines_count_against_the_bound() -> None:
    async def scenario() -> None:
        buffer = MemoryBuffer(4)
        buffer.put(lines(0, 3))
        batch = await buffer.get_batch(3, max_wait_s=0)
        buffer.put(lines(3, 6))  # room for one: 5 stays, 3 and 4 are evicted
        assert buffer.lines_evicted == 2
        assert buffer.lines_buffered == 4
        buffer.nack(batch)  # cannot overflow: the batch's room was kept for it
        assert buffer.lines_buffered == 4
        again = await buffer.get_batch(10, max_wait_s=0)
        assert again.lines == (*lines(0, 3), *lines(5, 6))

    asyncio.run(scenario())


def test_empty_put_changes_nothing() -> None:
    buffer = MemoryBuffer(2)
    buffer.put([])
    assert buffer.lines_buffered == 0
    assert buffer.lines_evicted == 0
