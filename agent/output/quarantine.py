"""The quarantine: lines InfluxDB refused for good, kept with the reason so none vanishes.

A line refused because of what it says (a field type conflict, a line InfluxDB cannot parse)
fails again however often it is resent. The writer moves it here and goes on; an operator reads
why, fixes the schema or the type, and sends the lines again.

Files, under the directory given (``<state_dir>/quarantine/``, mode 0700)::

    quarantine.jsonl      the current file, appended to (mode 0600)
    quarantine.1.jsonl    the previous one, once the current one reached max_bytes

One JSON object per line, UTF-8, keys in this order::

    {"time": "2024-05-01T07:30:00.123Z", "status": 400,
     "reason": "field type conflict: input field \\"v\\" on measurement \\"m\\" is type integer,
                already exists as type float",
     "line": "m,site=TDM v=1i 1714548600000000000"}

time: when the line was quarantined (RFC 3339, UTC). status: the HTTP status of the refusal
(null when unknown). reason: the server's words about this line (already free of secrets: the
transports mask them). line: the line protocol exactly as it was sent.

Bounded: when a write would take the current file past max_bytes, it becomes
``quarantine.1.jsonl`` (the older one is deleted, its lines counted as discarded) and a new file
starts, so the two take at most 2 x max_bytes. A record larger than max_bytes is discarded.

Reading needs nothing of the agent (standard library only): `iter_quarantined` yields the
records of a file, `raw_lines` the lines of several, and
``python -m agent.output.quarantine [--reason TEXT] PATH...`` prints the lines of the given
files or directories (older first), ready for ``curl --data-binary @- .../write?db=...``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

QUARANTINE_FILE = "quarantine.jsonl"
ROTATED_FILE = "quarantine.1.jsonl"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Reasons longer than this are cut: server messages are short; this bounds a hostile one.
MAX_REASON_CHARS = 1000
#: How many distinct reasons are remembered to log each once; past that, new ones are not
#: logged (a reason repeating every batch must not log every batch, and memory stays bounded).
MAX_LOGGED_REASONS = 1000

_DIRECTORY_MODE = 0o700
_FILE_MODE = 0o600
_COUNT_CHUNK = 1 << 20


@dataclass
class QuarantineStats:
    """Counters since start.

    lines: lines written to the quarantine.
    discarded: lines deleted by rotation (the older file) or too large to keep.
    lost: lines that could not be written (disk full, permissions, a read-only file system).
    """

    lines: int = 0
    discarded: int = 0
    lost: int = 0


@dataclass(frozen=True)
class QuarantinedLine:
    """One record of a quarantine file."""

    time: str
    status: int | None
    reason: str
    line: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one_line(text: str) -> str:
    # A reason goes into log lines: no newline may forge another record there.
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError("write returned no progress")
        view = view[written:]


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as file:
        while chunk := file.read(_COUNT_CHUNK):
            count += chunk.count(b"\n")
    return count


class Quarantine:
    """Appends refused lines to ``<directory>/quarantine.jsonl``; see the module text.

    `add` never raises on I/O errors: what cannot be written is counted in `stats.lost` and the
    first failure of a run of failures is logged. It is synchronous (a few kB per call, and
    a rotation reads the deleted file once to count its lines) and thread-safe.
    clock: injectable for tests; returns an aware datetime.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.directory = directory
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._logged_reasons: set[str] = set()
        self._failing = False
        self._lost_while_failing = 0
        self.stats = QuarantineStats()

    def __repr__(self) -> str:
        return f"Quarantine(directory={str(self.directory)!r}, max_bytes={self.max_bytes})"

    @property
    def path(self) -> Path:
        return self.directory / QUARANTINE_FILE

    @property
    def rotated_path(self) -> Path:
        return self.directory / ROTATED_FILE

    def add(self, refused: Iterable[tuple[str, str]], *, status: int | None = None) -> int:
        """Quarantine (line, reason) pairs refused with HTTP `status`; how many were written."""
        moment = _rfc3339(self._clock())
        records: list[bytes] = []
        reasons: Counter[str] = Counter()
        for line, reason in refused:
            reason = _one_line(reason)
            reasons[reason] += 1
            # As the writer sent it (it encodes with "replace": a lone surrogate went out as "?").
            sent = line.encode("utf-8", "replace").decode("utf-8")
            record = {"time": moment, "status": status, "reason": reason, "line": sent}
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            records.append(text.encode("utf-8") + b"\n")
        if not records:
            return 0
        with self._lock:
            written = self._append(records)
            self._log_new_reasons(reasons, status, written == len(records))
        return written

    def _append(self, records: Sequence[bytes]) -> int:
        """Write `records`, rotating as needed; returns how many were written."""
        written = discarded = 0
        fd = -1
        pending: list[bytes] = []
        try:
            fd = self._open()
            size = os.fstat(fd).st_size
            for record in records:
                if len(record) > self.max_bytes:
                    discarded += 1
                    continue
                if size > 0 and size + len(record) > self.max_bytes:
                    self._flush(fd, pending)
                    written += len(pending)
                    pending = []
                    os.close(fd)
                    fd = -1
                    self._rotate()
                    fd = self._open()
                    size = 0
                pending.append(record)
                size += len(record)
            self._flush(fd, pending)
            written += len(pending)
        except OSError as error:
            self._failed(error, len(records) - written - discarded)
        else:
            self._recovered()
        finally:
            if fd >= 0:
                os.close(fd)
        self.stats.lines += written
        self.stats.discarded += discarded
        return written

    def _open(self) -> int:
        self.directory.mkdir(mode=_DIRECTORY_MODE, parents=True, exist_ok=True)
        if self.directory.stat().st_mode & 0o777 != _DIRECTORY_MODE:
            self.directory.chmod(_DIRECTORY_MODE)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(self.path, flags, _FILE_MODE)
        try:
            if os.fstat(fd).st_mode & 0o777 != _FILE_MODE:
                os.fchmod(fd, _FILE_MODE)
        except OSError:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _flush(fd: int, pending: list[bytes]) -> None:
        if not pending:
            return
        before = os.fstat(fd).st_size
        try:
            _write_all(fd, b"".join(pending))
        except OSError:
            # A torn record would glue itself to the next one: cut the file back (best effort).
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
            raise

    def _rotate(self) -> None:
        """The current file becomes the rotated one; the older rotated one is deleted."""
        if self.rotated_path.exists():
            self.stats.discarded += _count_lines(self.rotated_path)
        os.replace(self.path, self.rotated_path)

    def _recovered(self) -> None:
        if self._failing:
            logger.warning(
                "quarantine file %s is writable again (%d lines were lost meanwhile)",
                self.path,
                self._lost_while_failing,
            )
            self._failing = False
            self._lost_while_failing = 0

    def _failed(self, error: OSError, lost: int) -> None:
        self.stats.lost += lost
        self._lost_while_failing += lost
        if not self._failing:
            self._failing = True
            logger.error(
                "cannot write the quarantine file %s (%s: %s); refused lines are lost "
                "until it is writable again",
                self.path,
                type(error).__name__,
                error.strerror or "error",
            )

    def _log_new_reasons(self, reasons: Counter[str], status: int | None, kept: bool) -> None:
        where = f"quarantined in {self.path}" if kept else "not all could be quarantined"
        for reason, count in reasons.items():
            if reason in self._logged_reasons:
                continue
            if len(self._logged_reasons) >= MAX_LOGGED_REASONS:
                return
            self._logged_reasons.add(reason)
            if len(self._logged_reasons) == MAX_LOGGED_REASONS:
                logger.warning(
                    "%d distinct refusal reasons seen; further new ones are not logged",
                    MAX_LOGGED_REASONS,
                )
            logger.warning(
                "InfluxDB refused %d line(s) (HTTP %s): %s; %s (lines with this reason are "
                "not logged again)",
                count,
                status if status is not None else "?",
                reason,
                where,
            )


# --- reading, for operators: standard library only -----------------------------------------


def quarantine_files(directory: Path) -> list[Path]:
    """The quarantine files of `directory` that exist, older first."""
    return [
        path for path in (directory / ROTATED_FILE, directory / QUARANTINE_FILE) if path.is_file()
    ]


def _record(text: str) -> QuarantinedLine | None:
    try:
        decoded = json.loads(text)
    except ValueError:
        return None
    if not isinstance(decoded, dict):
        return None
    line, reason, when = decoded.get("line"), decoded.get("reason"), decoded.get("time")
    status = decoded.get("status")
    if not (isinstance(line, str) and isinstance(reason, str) and isinstance(when, str)):
        return None
    if not (status is None or (isinstance(status, int) and not isinstance(status, bool))):
        return None
    return QuarantinedLine(when, status, reason, line)


def iter_quarantined(path: Path) -> Iterator[QuarantinedLine]:
    """The records of one quarantine file, in order; lines that are not records are skipped.

    (A torn last line is possible after a crash or a full disk.) How many were skipped is
    logged at the end.
    """
    skipped = 0
    with path.open("r", encoding="utf-8", errors="replace", newline="\n") as file:
        for text in file:
            if not text.strip():
                continue
            record = _record(text)
            if record is None:
                skipped += 1
            else:
                yield record
    if skipped:
        logger.warning("%s: skipped %d line(s) that are not quarantine records", path, skipped)


def raw_lines(paths: Iterable[Path], *, reason_contains: str = "") -> Iterator[str]:
    """The line-protocol lines of the quarantine files `paths`, in order, to send again."""
    for path in paths:
        for record in iter_quarantined(path):
            if reason_contains in record.reason:
                yield record.line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agent.output.quarantine",
        description="Print the line protocol kept in quarantine files, one line each.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="quarantine files or directories")
    parser.add_argument("--reason", default="", help="only lines whose reason contains this")
    options = parser.parse_args(argv)
    files: list[Path] = []
    for path in options.paths:
        files.extend(quarantine_files(path) if path.is_dir() else [path])
    for line in raw_lines(files, reason_contains=options.reason):
        sys.stdout.write(line + "\n")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    raise SystemExit(main())
