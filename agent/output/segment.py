"""The spool's segment files: append-only sequences of checksummed records.

A segment is named after the position of its first line (``00000000000000123456.seg``) and
holds records back to back. One record is one `Spool.put`: the lines of one poll. Layout
(little-endian)::

    magic  "NS"      2 bytes
    version          1 byte   (1)
    flags            1 byte   (0; reserved)
    payload length   4 bytes
    first position   8 bytes  (position of the record's first line)
    line count       4 bytes
    written at       8 bytes  (wall clock, ns since the epoch: the spool's age bound)
    CRC-32           4 bytes  (of the 28 header bytes before it and the payload)
    payload          a JSON array of the lines, UTF-8

JSON because line protocol may carry raw newlines inside quoted string fields, so the lines
cannot simply be joined; and because CPython's JSON codec is C code, fast on a 5,000-line poll.
The position in every record makes a scan independent of file names and lets the spool count
exactly the lines a damaged file lost.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"NS"
VERSION = 1
SUFFIX = ".seg"
_HEADER = struct.Struct("<2sBBIQIQ")
_CRC = struct.Struct("<I")
HEADER_BYTES = _HEADER.size + _CRC.size  # 32
#: A record larger than this is taken for a damaged header rather than believed.
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024


class RecordError(ValueError):
    """A record that cannot be read back as it was written."""


@dataclass(frozen=True, slots=True)
class Record:
    """Where one record sits in its segment, and which positions it holds."""

    offset: int
    length: int  # header + payload bytes
    first: int
    count: int
    written_ns: int

    @property
    def end(self) -> int:
        """The position after its last line."""
        return self.first + self.count


def encode(lines: Sequence[str], first: int, written_ns: int) -> bytes:
    # surrogatepass: a lone surrogate from a badly decoded device string must survive the
    # round trip; the writer decides what to do with it, not the spool.
    payload = json.dumps(list(lines), ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )
    header = _HEADER.pack(MAGIC, VERSION, 0, len(payload), first, len(lines), written_ns)
    crc = zlib.crc32(payload, zlib.crc32(header))
    return header + _CRC.pack(crc) + payload


def decode_header(data: bytes | memoryview, offset: int) -> tuple[Record, int]:
    """The record whose header starts at `offset` of `data`, and its CRC (not yet checked)."""
    if len(data) - offset < HEADER_BYTES:
        raise RecordError("truncated header")
    magic, version, _flags, length, first, count, written_ns = _HEADER.unpack_from(data, offset)
    if magic != MAGIC or version != VERSION:
        raise RecordError("not a record header")
    if length > MAX_PAYLOAD_BYTES:
        raise RecordError(f"implausible payload length {length}")
    (crc,) = _CRC.unpack_from(data, offset + _HEADER.size)
    return Record(offset, HEADER_BYTES + length, first, count, written_ns), crc


def decode_payload(
    record: Record, crc: int, data: bytes | memoryview, offset: int = 0
) -> list[str]:
    """The lines of `record`, whose bytes start at `offset` of `data`; checks the CRC."""
    start = offset + HEADER_BYTES
    payload = data[start : offset + record.length]
    if len(payload) != record.length - HEADER_BYTES:
        raise RecordError("truncated payload")
    header = data[offset : offset + _HEADER.size]
    if zlib.crc32(payload, zlib.crc32(header)) != crc:
        raise RecordError("checksum mismatch")
    try:
        lines = json.loads(bytes(payload).decode("utf-8", "surrogatepass"))
    except ValueError as exc:
        raise RecordError(f"payload is not a JSON array of lines: {exc}") from None
    if not isinstance(lines, list) or len(lines) != record.count:
        raise RecordError("payload does not hold the line count of its header")
    if not all(isinstance(line, str) for line in lines):
        raise RecordError("payload holds something other than lines")
    return lines


def segment_name(first: int) -> str:
    return f"{first:020d}{SUFFIX}"


def segment_first(path: Path) -> int | None:
    """The first position a segment file's name gives, or None if it is not a segment."""
    if path.suffix != SUFFIX or not path.stem.isdigit():
        return None
    return int(path.stem)


@dataclass
class Scan:
    """What a segment file holds: its good records, and where and why reading stopped."""

    records: list[Record] = field(default_factory=list)
    good_bytes: int = 0  # the file's size up to the end of the last good record
    file_bytes: int = 0
    problem: str = ""  # "" when the whole file was good
    lost_lines: int = 0  # lines of records whose header was readable but whose body was not
    damaged: list[Record] = field(default_factory=list)  # skipped whole, file read on after


def scan_headers(path: Path, first: int) -> Scan:
    """Like `scan`, from the record headers alone: no payload is read, no checksum checked.

    For `netmon status` on gigabytes of backlog: a record is taken as good when it is all there
    (its checksum is checked when it is read for delivery).
    """
    found = Scan()
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        found.file_bytes = size
        offset, expected = 0, first
        while offset < size:
            try:
                record, _crc = decode_header(os.pread(handle.fileno(), HEADER_BYTES, offset), 0)
            except RecordError as exc:
                found.problem = f"{exc} at byte {offset}"
                break
            if record.first != expected or offset + record.length > size:
                found.problem = f"bad or short record at byte {offset}"
                break
            found.records.append(
                Record(offset, record.length, record.first, record.count, record.written_ns)
            )
            offset += record.length
            expected = record.end
    found.good_bytes = offset
    return found


def scan(path: Path, first: int) -> Scan:
    """Read every record of a segment from the start.

    A record must start exactly where the previous one ended, in bytes and in positions. A
    record whose header is good but whose body fails its checksum is skipped (its lines are
    lost) and reading goes on after it; a bad header or a short record ends the scan.
    """
    data = path.read_bytes()
    found = Scan(file_bytes=len(data))
    view = memoryview(data)
    offset = 0
    expected = first
    while offset < len(data):
        try:
            record, crc = decode_header(view, offset)
            if record.first != expected:
                raise RecordError(f"position {record.first} where {expected} was expected")
        except RecordError as exc:
            found.problem = f"{exc} at byte {offset}"
            break
        try:
            decode_payload(record, crc, view, offset)
        except RecordError as exc:
            found.problem = f"{exc} at byte {offset}"
            found.lost_lines += record.count
            if offset + record.length > len(data):
                break  # torn: the end of the file, as a crash mid-write leaves it
            found.damaged.append(record)
        else:
            found.records.append(record)
        offset += record.length
        expected = record.end
    found.good_bytes = offset
    return found


def read_record(fd: int, record: Record) -> list[str]:
    """Read one record back (again) from an open segment file."""
    data = os.pread(fd, record.length, record.offset)
    decoded, crc = decode_header(data, 0)
    if (decoded.length, decoded.first, decoded.count) != (
        record.length,
        record.first,
        record.count,
    ):
        raise RecordError("the record on disk is not the one indexed")
    return decode_payload(decoded, crc, data)
