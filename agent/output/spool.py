"""The durable spool: a `LineBuffer` on disk, between the pipeline and the InfluxDB writer.

What it guarantees
------------------
- **At least once.** A line stays on disk until InfluxDB has accepted it (the writer's
  `ack`). A restart replays what was not acknowledged. InfluxDB stores a point once per series
  and timestamp, and every line carries the timestamp its poll gave it, so a line delivered
  twice is stored once: replays are invisible in InfluxQL results.
- **Loss window.** `put` writes the record to the segment file before it returns, so once a
  poll's lines are put, ``kill -9`` of the agent loses none of them (the kernel holds them).
  What a crash of the agent can lose is only a poll still in progress. A crash of the whole
  machine (power, kernel) can lose what the kernel had not yet written to disk: a syncer thread
  calls ``fdatasync`` every ``fsync_interval_s`` (at most 1 s), so at most the last second of
  lines. Writes never wait for the disk; the event loop never calls fsync.
- **Bounded.** `max_bytes` and `max_age_s` bound the spool. Past either, the oldest segment is
  deleted whole; its undelivered lines are counted in `SpoolStats.lines_evicted` and logged.
  Never silent.
- **Crash-safe.** Records carry a CRC-32 and their positions (`agent.output.segment`). On
  open, a torn record at the end of a file (the crash case) is cut off and the lines it held
  are counted as lost and logged; the rest replays with no manual step.
- **Fresh data during a drain.** After an outage the backlog drains at full speed (batches
  follow each other without waiting), but every other batch is taken from the newest lines, so
  operators see current values while the backlog is still being delivered.

Layout of the directory: segment files (``<first position>.seg``), ``acked.json`` (which
positions were delivered, saved at most once a second and on close: a lost save only means
duplicates, which InfluxDB absorbs) and ``lock`` (one agent per spool).

Positions number the lines ever put, from 0 when the directory was created; they never
restart, so the spool's end position is the count of lines the agent ever produced into it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import fcntl
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.output.buffer import Batch, wait_until
from agent.output.intervals import IntervalSet, Range
from agent.output.segment import (
    Record,
    RecordError,
    Scan,
    encode,
    read_record,
    scan,
    scan_headers,
    segment_first,
    segment_name,
)

log = logging.getLogger(__name__)

CHECKPOINT = "acked.json"
LOCK = "lock"
_CHECKPOINT_EVERY_S = 1.0
#: The smallest segment worth a file; also the finest grain of eviction.
MIN_SEGMENT_BYTES = 16 * 1024


class SpoolError(RuntimeError):
    """The spool directory cannot be used (taken by another agent, not writable)."""


@dataclass
class SpoolStats:
    """Counters since this process opened the spool, for /metrics and `netmon status`."""

    lines_put: int = 0
    lines_replayed: int = 0  # undelivered lines found on disk at open
    lines_evicted: int = 0  # thrown away by the size or age bound, oldest first
    lines_lost: int = 0  # unreadable on disk (a torn or damaged record), or a failed write
    write_errors: int = 0
    sync_errors: int = 0
    evictions: dict[str, int] = field(default_factory=dict)  # reason → segments


@dataclass
class _Segment:
    first: int
    path: Path
    records: list[Record] = field(default_factory=list)
    firsts: list[int] = field(default_factory=list)  # records' first positions, for bisect
    size: int = 0
    read_fd: int | None = None

    @property
    def end(self) -> int:
        return self.records[-1].end if self.records else self.first

    @property
    def last_written_ns(self) -> int:
        return self.records[-1].written_ns if self.records else 0

    def add(self, record: Record) -> None:
        self.records.append(record)
        self.firsts.append(record.first)
        self.size = record.offset + record.length

    def record_at(self, position: int) -> Record:
        return self.records[bisect.bisect_right(self.firsts, position) - 1]

    def close(self) -> None:
        if self.read_fd is not None:
            os.close(self.read_fd)
            self.read_fd = None


class Spool:
    """A bounded, crash-safe `LineBuffer` in `directory`; open it with `Spool.open`."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 1024**3,
        max_age_s: float = 7 * 86400.0,
        segment_bytes: int = 8 * 1024**2,
        fsync_interval_s: float = 1.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if not 0 < fsync_interval_s <= 1.0:
            raise ValueError("fsync_interval_s must be in (0, 1]: the documented loss window")
        if max_bytes < 4 * MIN_SEGMENT_BYTES:
            raise ValueError(f"max_bytes must be at least {4 * MIN_SEGMENT_BYTES}")
        if max_age_s <= 0:
            raise ValueError("max_age_s must be positive")
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        # Eviction deletes whole segments: a quarter of the bound at most keeps it fine-grained.
        self.segment_bytes = max(MIN_SEGMENT_BYTES, min(segment_bytes, max_bytes // 4))
        self._segment_age_ns = int(min(max_age_s / 4, 3600.0) * 1e9)
        self.fsync_interval_s = fsync_interval_s
        self._clock_ns = clock_ns
        self.stats = SpoolStats()
        self._segments: list[_Segment] = []
        self._firsts: list[int] = []
        self._end = 0
        self._bytes = 0
        self._acked = IntervalSet()  # delivered positions, and holes (positions with no data)
        self._busy = IntervalSet()  # acked ∪ out with the writer
        # Batches out with the writer: their positions, and whether they came from the newest
        # end of a backlog (a nacked batch is retried from the same end).
        self._leases: dict[int, tuple[list[Range], bool]] = {}
        self._ids = itertools.count(1)
        self._newest_next = False
        self._arrived = asyncio.Event()
        self._closed = False
        self._released = False
        self._last_checkpoint = 0.0
        self._checkpoint_dirty = False
        self._lock_fd: int | None = None
        self._write_fd: int | None = None
        # Shared with the syncer thread, under _sync_lock.
        self._sync_lock = threading.Lock()
        self._dirty = False
        self._retired_fds: list[int] = []
        self._dir_dirty = False
        self._stop_syncer = threading.Event()
        self._syncer: threading.Thread | None = None

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, **options: Any) -> Spool:
        """Open (or create) the spool in `directory`: lock it, replay it, start the syncer.

        `options` are those of the constructor. Raises SpoolError.
        """
        spool = cls(directory, **options)
        spool._open()
        return spool

    def _open(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"spool {self.directory}: cannot create: {exc.strerror}") from None
        self._take_lock()
        try:
            self._load_segments()
            self._load_checkpoint()
            for start, end in self._acked:
                self._busy.add(start, end)
            self._start_segment(self._end)
            self._drop_delivered_segments()
        except BaseException:
            self.release()
            raise
        self.stats.lines_replayed = self.lines_buffered
        if self.stats.lines_replayed:
            log.info(
                "spool %s: %d lines from before the restart to deliver (oldest %.0f s old)",
                self.directory,
                self.stats.lines_replayed,
                self.oldest_age_s(),
            )
        self._syncer = threading.Thread(target=self._sync_loop, name="spool-fsync", daemon=True)
        self._syncer.start()

    def _take_lock(self) -> None:
        path = self.directory / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"spool {self.directory}: cannot open lock: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise SpoolError(
                f"spool {self.directory} is in use by another agent (pid {holder}); "
                "give each agent its own state_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _load_segments(self) -> None:
        found = sorted(
            (first, path)
            for path in self.directory.iterdir()
            if (first := segment_first(path)) is not None
        )
        previous_end: int | None = None
        for first, path in found:
            result = scan(path, first)
            segment = _Segment(first, path)
            for record in sorted([*result.records, *result.damaged], key=lambda r: r.first):
                segment.add(record)
            for record in result.damaged:
                self._acked.add(record.first, record.end)  # lost: nothing there to deliver
            if result.problem:
                self._repair(segment, result)
            if previous_end is not None and first > previous_end:
                # A hole: the end of the file before was unreadable. Nothing to deliver there.
                self.stats.lines_lost += first - previous_end
                log.warning("spool: lines %d..%d unreadable; lost", previous_end, first - 1)
                self._acked.add(previous_end, first)
            elif previous_end is not None and first < previous_end:
                log.error("spool: %s overlaps the segment before it; ignored", path.name)
                continue
            self._segments.append(segment)
            self._firsts.append(first)
            self._bytes += segment.size
            previous_end = segment.end
        self._end = previous_end if previous_end is not None else 0

    def _repair(self, segment: _Segment, result: Scan) -> None:
        # A torn record at the end is what a crash mid-write leaves; anything else is damage.
        # Either way the good records before it replay, and the rest is counted as lost.
        self.stats.lines_lost += result.lost_lines
        log.warning(
            "spool: %s: %s; %d lines lost, the rest replays",
            segment.path.name,
            result.problem,
            result.lost_lines,
        )
        if result.file_bytes == result.good_bytes:
            return  # a damaged record inside the file: nothing to cut
        try:
            # Cut, so that the next open does not count the same loss again.
            os.truncate(segment.path, result.good_bytes)
        except OSError as exc:
            raise SpoolError(f"spool {segment.path}: cannot repair: {exc.strerror}") from None

    def _load_checkpoint(self) -> None:
        path = self.directory / CHECKPOINT
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            ranges = [(int(a), int(b)) for a, b in data["acked"]]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Replaying everything is safe: InfluxDB keeps one point per series and time.
            log.warning(
                "spool: %s unreadable (%s); every stored line will be sent again", path, exc
            )
            return
        live = self.live_start
        for start, end in ranges:
            self._acked.add(max(start, live), min(end, self._end))

    # -- the LineBuffer contract --------------------------------------------------------

    @property
    def lines_buffered(self) -> int:
        live = self.live_start
        return (self._end - live) - self._acked.overlap(live, self._end)

    @property
    def lines_evicted(self) -> int:
        return self.stats.lines_evicted

    @property
    def live_start(self) -> int:
        return self._segments[0].first if self._segments else self._end

    @property
    def end_position(self) -> int:
        """Lines ever put into this spool directory (positions never restart)."""
        return self._end

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def pending(self) -> int:
        """Lines neither delivered nor out with the writer."""
        live = self.live_start
        return (self._end - live) - self._busy.overlap(live, self._end)

    def put(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        if self._released:
            raise RuntimeError("the spool is released")
        now = self._clock_ns()
        data = encode(lines, self._end, now)
        self._maybe_rotate(now)
        active = self._segments[-1]
        if not self._write(data, len(lines), active):
            return
        active.add(
            Record(
                offset=active.size,
                length=len(data),
                first=self._end,
                count=len(lines),
                written_ns=now,
            )
        )
        self._end += len(lines)
        self._bytes += len(data)
        self.stats.lines_put += len(lines)
        with self._sync_lock:
            self._dirty = True
        self._enforce_bounds(now)
        self._arrived.set()

    async def get_batch(self, max_lines: int, max_wait_s: float) -> Batch:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        await wait_until(
            self._arrived, lambda: self.pending() >= max_lines or self._closed, max_wait_s
        )
        return self._take(max_lines)

    def ack(self, batch: Batch) -> None:
        ranges, _newest = self._settle(batch)
        live = self.live_start
        for start, end in ranges:
            self._acked.add(max(start, live), end)
        self._drop_delivered_segments()
        self._checkpoint_dirty = True
        self._save_checkpoint(force=self._closed)

    def nack(self, batch: Batch) -> None:
        ranges, newest = self._settle(batch)
        self._newest_next = newest  # a failed delivery is retried as it was
        live = self.live_start
        orphans = sum(min(end, live) - start for start, end in ranges if start < live)
        if orphans:
            # Their segment was evicted while the writer held them: lost now, and counted.
            self.stats.lines_evicted += orphans
            log.warning(
                "spool full: evicted %d undelivered lines the writer held when their segment "
                "went (%d evicted since start)",
                orphans,
                self.stats.lines_evicted,
            )
        for start, end in ranges:
            self._busy.remove(max(start, live), end)
        if ranges:
            self._arrived.set()

    def close(self) -> None:
        """Stop all waiting (the writer drains after this); lines stay readable and on disk."""
        self._closed = True
        self._arrived.set()

    def release(self) -> None:
        """Sync, save what was delivered, close the files and the lock. Idempotent."""
        if self._released:
            return
        self._released = True
        self._closed = True
        self._arrived.set()
        self._stop_syncer.set()
        if self._syncer is not None:
            self._syncer.join(timeout=10)
        self._sync_once()
        with contextlib.suppress(OSError):
            self._save_checkpoint(force=True)
        with self._sync_lock:
            if self._write_fd is not None:
                os.close(self._write_fd)
                self._write_fd = None
        for segment in self._segments:
            segment.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- status --------------------------------------------------------------------------

    def oldest_age_s(self) -> float:
        """Age of the oldest line not yet delivered; 0 when everything is delivered."""
        gaps = self._acked.gaps(self.live_start, self._end)
        if not gaps:
            return 0.0
        segment = self._segment_at(gaps[0][0])
        record = segment.record_at(gaps[0][0])
        return max(0.0, (self._clock_ns() - record.written_ns) / 1e9)

    # -- inside --------------------------------------------------------------------------

    def _segment_at(self, position: int) -> _Segment:
        return self._segments[bisect.bisect_right(self._firsts, position) - 1]

    def _take(self, max_lines: int) -> Batch:
        self._enforce_bounds(self._clock_ns())
        pending = self.pending()
        if pending == 0:
            return Batch(next(self._ids), ())
        # A backlog (more than one batch waiting) alternates oldest and newest batches.
        newest = False
        if pending > max_lines:
            newest = self._newest_next
            self._newest_next = not self._newest_next
        ranges = self._pick(max_lines, newest)
        lines, leased = self._read(ranges)
        batch = Batch(next(self._ids), tuple(lines))
        if leased:
            self._leases[batch.id] = (leased, newest)
        return batch

    def _pick(self, max_lines: int, newest: bool) -> list[Range]:
        gaps = self._busy.gaps(self.live_start, self._end)
        picked: list[Range] = []
        room = max_lines
        for start, end in reversed(gaps) if newest else gaps:
            if room == 0:
                break
            take = min(room, end - start)
            picked.append((end - take, end) if newest else (start, start + take))
            room -= take
        picked.sort()
        return picked

    def _read(self, ranges: list[Range]) -> tuple[list[str], list[Range]]:
        """The lines of `ranges`, leased; unreadable records are counted lost, not leased."""
        lines: list[str] = []
        leased: list[Range] = []
        for start, end in ranges:
            position = start
            while position < end:
                segment = self._segment_at(position)
                record = segment.record_at(position)
                upto = min(end, record.end)
                try:
                    got = self._record_lines(segment, record)
                except (OSError, RecordError) as exc:
                    self._lose(record, segment, exc)
                else:
                    lines.extend(got[position - record.first : upto - record.first])
                    leased.append((position, upto))
                    self._busy.add(position, upto)
                position = upto
        return lines, leased

    def _record_lines(self, segment: _Segment, record: Record) -> list[str]:
        if segment.read_fd is None:
            segment.read_fd = os.open(segment.path, os.O_RDONLY)
        return read_record(segment.read_fd, record)

    def _lose(self, record: Record, segment: _Segment, exc: Exception) -> None:
        undelivered = record.count - self._busy.overlap(record.first, record.end)
        self.stats.lines_lost += undelivered
        self._acked.add(record.first, record.end)
        self._busy.add(record.first, record.end)
        log.error(
            "spool: %s: record at byte %d unreadable (%s); %d lines lost",
            segment.path.name,
            record.offset,
            exc,
            undelivered,
        )

    def _settle(self, batch: Batch) -> tuple[list[Range], bool]:
        lease = self._leases.pop(batch.id, None)
        if lease is None:
            if not batch.lines:
                return [], self._newest_next  # an empty batch was never out
            raise ValueError(f"batch {batch.id} is not outstanding (acked or nacked already?)")
        return lease

    def _write(self, data: bytes, count: int, segment: _Segment) -> bool:
        assert self._write_fd is not None
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._write_fd, view)
                view = view[written:]
        except OSError as exc:
            # Cut any partial record off so that the file stays readable, count, say why.
            with contextlib.suppress(OSError):
                os.ftruncate(self._write_fd, segment.size)
            self.stats.write_errors += 1
            self.stats.lines_lost += count
            log.error(
                "spool: cannot write %d lines to %s: %s%s",
                count,
                segment.path.name,
                exc.strerror,
                " (the disk is full)" if exc.errno == errno.ENOSPC else "",
            )
            return False
        return True

    def _maybe_rotate(self, now_ns: int) -> None:
        active = self._segments[-1]
        if not active.records:
            return
        too_big = active.size >= self.segment_bytes
        too_old = now_ns - active.records[0].written_ns >= self._segment_age_ns
        if too_big or too_old:
            self._start_segment(self._end)

    def _start_segment(self, first: int) -> None:
        path = self.directory / segment_name(first)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise SpoolError(f"spool {path}: cannot create: {exc.strerror}") from None
        os.ftruncate(fd, 0)  # a stale empty file of the same name from a previous open
        with self._sync_lock:
            if self._write_fd is not None:
                self._retired_fds.append(self._write_fd)  # the syncer syncs and closes it
            self._write_fd = fd
            self._dir_dirty = True
        if self._segments and self._segments[-1].first == first:
            # The previous open's last segment is empty and has this very name: reuse it.
            self._segments[-1].close()
            self._segments[-1] = _Segment(first, path)
            return
        self._segments.append(_Segment(first, path))
        self._firsts.append(first)

    def _drop_delivered_segments(self) -> None:
        while len(self._segments) > 1:
            segment = self._segments[0]
            span = segment.end - segment.first
            if self._acked.overlap(segment.first, segment.end) < span:
                break
            self._delete_oldest()

    def _enforce_bounds(self, now_ns: int) -> None:
        oldest_allowed = now_ns - int(self.max_age_s * 1e9)
        while len(self._segments) > 1:
            segment = self._segments[0]
            if self._bytes > self.max_bytes:
                reason = "size"
            elif segment.last_written_ns < oldest_allowed:
                reason = "age"
            else:
                break
            self._evict_oldest(reason)

    def _evict_oldest(self, reason: str) -> None:
        segment = self._segments[0]
        undelivered = (segment.end - segment.first) - self._busy.overlap(segment.first, segment.end)
        self._delete_oldest()
        self.stats.lines_evicted += undelivered
        self.stats.evictions[reason] = self.stats.evictions.get(reason, 0) + 1
        bound = (
            f"max_bytes {self.max_bytes}" if reason == "size" else f"max_age_s {self.max_age_s:g}"
        )
        log.warning(
            "spool full (%s): evicted %d undelivered lines with the oldest segment %s "
            "(%d evicted since start)",
            bound,
            undelivered,
            segment.path.name,
            self.stats.lines_evicted,
        )

    def _delete_oldest(self) -> None:
        segment = self._segments.pop(0)
        self._firsts.pop(0)
        segment.close()
        self._bytes -= segment.size
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        with self._sync_lock:
            self._dir_dirty = True
        live = self.live_start
        self._acked.discard_below(live)
        self._busy.discard_below(live)

    def _save_checkpoint(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self._checkpoint_dirty:
            return
        if not force and now - self._last_checkpoint < _CHECKPOINT_EVERY_S:
            return
        path = self.directory / CHECKPOINT
        temporary = path.with_suffix(".tmp")
        data = json.dumps({"version": 1, "acked": [list(r) for r in self._acked]})
        try:
            temporary.write_text(data, encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            log.error(
                "spool: cannot save %s: %s (delivered lines may be sent again)", path, exc.strerror
            )
            return
        self._last_checkpoint = now
        self._checkpoint_dirty = False

    # -- the syncer thread ---------------------------------------------------------------

    def _sync_loop(self) -> None:
        while not self._stop_syncer.wait(self.fsync_interval_s):
            self._sync_once()

    def _sync_once(self) -> None:
        with self._sync_lock:
            retired, self._retired_fds = self._retired_fds, []
            active = os.dup(self._write_fd) if self._dirty and self._write_fd is not None else None
            self._dirty = False
            dir_dirty, self._dir_dirty = self._dir_dirty, False
        for fd in [*retired, *([active] if active is not None else [])]:
            try:
                os.fdatasync(fd)
            except OSError as exc:
                self.stats.sync_errors += 1
                log.error("spool: fdatasync failed: %s", exc.strerror)
            finally:
                os.close(fd)
        if dir_dirty:
            try:
                dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            except OSError as exc:
                self.stats.sync_errors += 1
                log.error("spool: fsync of the directory failed: %s", exc.strerror)


@dataclass(frozen=True)
class SpoolSummary:
    """What a spool directory holds, read without locking it (the agent may be running)."""

    directory: Path
    segments: int
    size_bytes: int
    end_position: int  # lines ever put
    undelivered: int
    oldest_undelivered_ns: int | None


def inspect(directory: Path) -> SpoolSummary | None:
    """Summarise the spool in `directory` read-only; None when there is none.

    A record being written while this reads looks torn and is left out; nothing is repaired.
    """
    if not directory.is_dir():
        return None
    found = sorted(
        (first, path) for path in directory.iterdir() if (first := segment_first(path)) is not None
    )
    records = [record for first, path in found for record in scan_headers(path, first).records]
    size = sum(path.stat().st_size for _, path in found)
    acked = IntervalSet()
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads((directory / CHECKPOINT).read_text(encoding="utf-8"))
        for start, end in data["acked"]:
            acked.add(int(start), int(end))
    undelivered = 0
    oldest: int | None = None
    for record in records:
        waiting = record.count - acked.overlap(record.first, record.end)
        if waiting:
            undelivered += waiting
            oldest = record.written_ns if oldest is None else min(oldest, record.written_ns)
    end = max([records[-1].end if records else 0, *(first for first, _ in found)])
    return SpoolSummary(directory, len(found), size, end, undelivered, oldest)
