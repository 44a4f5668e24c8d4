"""The durable spool: round trips, replay after a crash, damage, bounds, drain order, lock."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.output.buffer import Batch, LineBuffer
from agent.output.intervals import IntervalSet
from agent.output.segment import HEADER_BYTES
from agent.output.spool import CHECKPOINT, Spool, SpoolError, inspect


def lines(start: int, stop: int) -> list[str]:
    return [f"m v={i}i {i}" for i in range(start, stop)]


def crash(spool: Spool) -> None:
    """What kill -9 leaves: files as written, no checkpoint saved, no lock held."""
    spool._stop_syncer.set()
    for fd in [spool._write_fd, spool._lock_fd, *spool._retired_fds]:
        if fd is not None:
            os.close(fd)
    for segment in spool._segments:
        segment.close()
    spool._released = True


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def opened(spool_dir: Path) -> Iterator[Spool]:
    spool = Spool.open(spool_dir)
    yield spool
    spool.release()


def take(spool: Spool, max_lines: int = 10_000) -> Batch:
    return asyncio.run(spool.get_batch(max_lines, max_wait_s=0))


def drain(spool: Spool, max_lines: int = 10_000) -> list[str]:
    delivered: list[str] = []
    while True:
        batch = take(spool, max_lines)
        if not batch.lines:
            return delivered
        delivered.extend(batch.lines)
        spool.ack(batch)


def test_spool_is_a_line_buffer(opened: Spool) -> None:
    buffer: LineBuffer = opened
    buffer.put(lines(0, 3))
    assert buffer.lines_buffered == 3
    assert buffer.lines_evicted == 0


def test_lines_come_back_in_order_and_ack_forgets_them(opened: Spool) -> None:
    opened.put(lines(0, 4))
    opened.put(lines(4, 9))
    batch = take(opened, 6)
    assert list(batch.lines) == lines(0, 6)
    assert opened.lines_buffered == 9  # out with the writer, still the spool's
    opened.ack(batch)
    assert opened.lines_buffered == 3
    assert drain(opened) == lines(6, 9)


def test_nack_gives_the_same_lines_again_first(opened: Spool) -> None:
    opened.put(lines(0, 5))
    batch = take(opened, 3)
    opened.nack(batch)
    assert list(take(opened, 3).lines) == lines(0, 3)


def test_lines_survive_release_and_reopen(spool_dir: Path) -> None:
    spool = Spool.open(spool_dir)
    spool.put(lines(0, 10))
    spool.ack(take(spool, 4))
    spool.release()
    again = Spool.open(spool_dir)
    try:
        assert again.stats.lines_replayed == 6
        assert drain(again) == lines(4, 10)
    finally:
        again.release()


def test_a_crash_replays_everything_not_acknowledged(spool_dir: Path) -> None:
    spool = Spool.open(spool_dir)
    spool.put(lines(0, 10))
    batch = take(spool, 10)  # out with the writer when the agent dies
    assert batch.lines
    crash(spool)
    again = Spool.open(spool_dir)
    try:
        assert drain(again) == lines(0, 10)
        assert again.stats.lines_lost == 0
    finally:
        again.release()


def test_awkward_text_round_trips(opened: Spool, spool_dir: Path) -> None:
    text = [
        'm,host=a\\ b s="two\nlines, \\"quoted\\" = ok" 1',
        'm s="Trung tâm Hành chính công tỉnh" 2',
        'm s="lone \udc80 surrogate" 3',
    ]
    opened.put(text)
    opened.release()
    again = Spool.open(spool_dir)
    try:
        assert drain(again) == text
    finally:
        again.release()


def test_a_torn_record_is_cut_and_counted(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool.open(spool_dir)
    spool.put(lines(0, 3))
    spool.put(lines(3, 8))
    path = spool._segments[-1].path
    crash(spool)
    size = path.stat().st_size
    os.truncate(path, size - 7)  # the second record was half written when the machine died
    with caplog.at_level(logging.WARNING):
        again = Spool.open(spool_dir)
    try:
        assert again.stats.lines_lost == 5
        assert drain(again) == lines(0, 3)
        assert "5 lines lost" in caplog.text
        again.put(lines(100, 102))
        assert drain(again) == lines(100, 102)
    finally:
        again.release()
    third = Spool.open(spool_dir)  # the torn end was cut: the loss is not counted twice
    try:
        assert third.stats.lines_lost == 0
    finally:
        third.release()


def test_a_damaged_record_loses_only_itself(spool_dir: Path) -> None:
    spool = Spool.open(spool_dir)
    spool.put(lines(0, 2))
    spool.put(lines(2, 6))
    spool.put(lines(6, 7))
    record = spool._segments[-1].records[1]
    path = spool._segments[-1].path
    crash(spool)
    with path.open("r+b") as handle:
        handle.seek(record.offset + HEADER_BYTES + 3)
        byte = handle.read(1)
        handle.seek(record.offset + HEADER_BYTES + 3)
        handle.write(bytes([byte[0] ^ 0xFF]))
    again = Spool.open(spool_dir)
    try:
        assert drain(again) == lines(0, 2) + lines(6, 7)
        assert again.stats.lines_lost == 4
        assert again.end_position == 7
    finally:
        again.release()


def test_size_bound_evicts_oldest_and_counts_exactly(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool.open(spool_dir, max_bytes=64 * 1024)
    try:
        line = "m,host=h v=" + "x" * 200
        put = 0
        with caplog.at_level(logging.WARNING):
            for index in range(1000):
                spool.put([f"{line}{index} {index}"] * 5)
                put += 5
        assert spool.size_bytes <= 64 * 1024
        delivered = drain(spool)
        assert spool.lines_evicted > 0
        assert spool.lines_evicted + len(delivered) == put
        # Oldest first: what is left is the newest lines, in order.
        assert delivered[-1].endswith(" 999")
        logged = sum(
            int(match.group(1))
            for r in caplog.records
            if (match := re.search(r"evicted (\d+) undelivered lines", r.getMessage()))
        )
        assert logged == spool.lines_evicted
    finally:
        spool.release()


def test_age_bound_evicts_old_segments(spool_dir: Path) -> None:
    now = [1_000_000_000_000]
    spool = Spool.open(spool_dir, max_age_s=60.0, clock_ns=lambda: now[0])
    try:
        spool.put(lines(0, 5))
        now[0] += 20 * 10**9  # the segment's first record is 15 s old: time for a new one
        spool.put(lines(5, 6))
        now[0] += 45 * 10**9  # the first segment is now 65 s old, the second 45 s
        spool.put(lines(6, 7))
        assert spool.lines_evicted == 5
        assert spool.stats.evictions == {"age": 1}
        assert drain(spool) == lines(5, 7)
    finally:
        spool.release()


def test_lines_out_with_the_writer_when_evicted_count_on_nack(spool_dir: Path) -> None:
    spool = Spool.open(spool_dir, max_bytes=64 * 1024)
    try:
        spool.put(["m v=1 1"] * 10)
        batch = take(spool, 10)
        for index in range(2000):
            spool.put([f'm,host=h v="{"y" * 100}" {index}'])
        before = spool.lines_evicted
        spool.nack(batch)
        assert spool.lines_evicted == before + 10
    finally:
        spool.release()


def test_backlog_alternates_oldest_and_newest_and_delivers_each_line_once(opened: Spool) -> None:
    for index in range(100):
        opened.put(lines(index * 10, index * 10 + 10))
    order: list[str] = []
    while True:
        batch = take(opened, 100)
        if not batch.lines:
            break
        order.extend(batch.lines)
        opened.ack(batch)
    assert sorted(order, key=lambda s: int(s.split()[-1])) == lines(0, 1000)
    # The newest line went out in the second batch, long before the backlog's middle.
    assert order.index(lines(999, 1000)[0]) < 200


def test_fresh_lines_put_during_a_drain_go_out_before_the_backlog_ends(opened: Spool) -> None:
    opened.put(lines(0, 1000))
    first = take(opened, 100)
    opened.ack(first)
    opened.put(lines(5000, 5001))  # a poll finishing while the backlog drains
    seen: list[str] = []
    for _ in range(3):
        batch = take(opened, 100)
        seen.extend(batch.lines)
        opened.ack(batch)
    assert lines(5000, 5001)[0] in seen
    assert opened.lines_buffered == 1001 - 100 - len(seen)


def test_a_second_agent_on_the_same_spool_is_refused(opened: Spool, spool_dir: Path) -> None:
    with pytest.raises(SpoolError, match=rf"in use by another agent \(pid {os.getpid()}\)"):
        Spool.open(spool_dir)


def test_positions_never_restart(spool_dir: Path) -> None:
    spool = Spool.open(spool_dir)
    spool.put(lines(0, 7))
    drain(spool)
    spool.release()
    again = Spool.open(spool_dir)
    try:
        assert again.end_position == 7
        assert again.lines_buffered == 0
    finally:
        again.release()


def test_unreadable_checkpoint_means_sending_again(spool_dir: Path) -> None:
    spool = Spool.open(spool_dir)
    spool.put(lines(0, 4))
    spool.ack(take(spool, 2))
    spool.release()
    (spool_dir / CHECKPOINT).write_text("{not json", encoding="utf-8")
    again = Spool.open(spool_dir)
    try:
        assert drain(again) == lines(0, 4)  # duplicates, which InfluxDB absorbs; no loss
    finally:
        again.release()


def test_delivered_segments_are_deleted(spool_dir: Path) -> None:
    spool = Spool.open(spool_dir, max_bytes=64 * 1024)
    try:
        for index in range(400):
            spool.put([f'm v="{"z" * 100}" {index}'])
        assert spool.segment_count > 2
        drain(spool)
        assert spool.segment_count == 1
        assert len(list(spool_dir.glob("*.seg"))) == 1
        assert json.loads((spool_dir / CHECKPOINT).read_text())["acked"]
    finally:
        spool.release()


def test_files_are_private(opened: Spool, spool_dir: Path) -> None:
    opened.put(lines(0, 1))
    assert spool_dir.stat().st_mode & 0o077 == 0
    for path in spool_dir.glob("*.seg"):
        assert path.stat().st_mode & 0o077 == 0


def test_loss_window_is_bounded_by_construction(spool_dir: Path) -> None:
    with pytest.raises(ValueError, match="loss window"):
        Spool(spool_dir, fsync_interval_s=5)


def test_interval_set_basics() -> None:
    ranges = IntervalSet([(0, 5), (10, 15)])
    ranges.add(5, 10)
    assert list(ranges) == [(0, 15)]
    ranges.remove(3, 12)
    assert list(ranges) == [(0, 3), (12, 15)]
    assert ranges.overlap(2, 13) == 2
    assert ranges.gaps(0, 20) == [(3, 12), (15, 20)]
    ranges.discard_below(13)
    assert list(ranges) == [(13, 15)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 60), st.integers(1, 20)), max_size=40))
def test_interval_set_matches_a_plain_set(operations: list[tuple[bool, int, int]]) -> None:
    ranges = IntervalSet()
    model: set[int] = set()
    for add, start, length in operations:
        if add:
            ranges.add(start, start + length)
            model |= set(range(start, start + length))
        else:
            ranges.remove(start, start + length)
            model -= set(range(start, start + length))
        assert ranges.count() == len(model)
        assert {i for a, b in ranges for i in range(a, b)} == model
        assert ranges.overlap(10, 40) == len(model & set(range(10, 40)))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["put", "ack", "nack", "reopen", "crash"]),
        min_size=1,
        max_size=30,
    )
)
def test_every_line_put_is_delivered(
    tmp_path_factory: pytest.TempPathFactory, steps: list[str]
) -> None:
    """Whatever the order of puts, deliveries, failures, restarts and crashes: all arrive."""
    directory = tmp_path_factory.mktemp("spool")
    spool = Spool.open(directory)
    put = 0
    delivered: set[str] = set()
    for step in steps:
        if step == "put":
            spool.put(lines(put, put + 3))
            put += 3
        elif step in {"ack", "nack"}:
            batch = take(spool, 4)
            if step == "ack":
                delivered.update(batch.lines)
                spool.ack(batch)
            else:
                spool.nack(batch)
        elif step == "reopen":
            spool.release()
            spool = Spool.open(directory)
        else:
            crash(spool)
            spool = Spool.open(directory)
    delivered.update(drain(spool, 4))
    spool.release()
    assert delivered == set(lines(0, put))


def test_inspect_reads_headers_only_and_agrees_with_a_replay(spool_dir: Path) -> None:
    spool = Spool.open(spool_dir, max_bytes=64 * 1024)
    for index in range(300):
        spool.put([f'm v="{"w" * 60}" {index}'] * 2)
    spool.ack(take(spool, 50))
    path = spool._segments[-1].path
    crash(spool)
    os.truncate(path, path.stat().st_size - 3)  # a torn last record, as kill -9 may leave
    summary = inspect(spool_dir)
    assert summary is not None
    again = Spool.open(spool_dir)
    try:
        # The checkpoint of a crashed agent may lag: inspect and the replay read the same one.
        assert summary.undelivered == again.lines_buffered
        assert summary.end_position == again.end_position  # neither counts the torn record
        assert again.stats.lines_lost == 2
    finally:
        again.release()
