"""The counter discontinuity guard: SNMP counters written as continuous counters.

What is written
    Every field the schema declares a counter (``Measurement.counters``, from the profiles'
    ``counter: 32|64``) is written as *raw counter + offset*. The offset is 0 until something
    discontinuous happens, so usually (HC counters, no reboot) the written value **is** the
    device's counter, as Telegraf writes it, and operators' habits keep working::

        SELECT non_negative_derivative(max("ifHCInOctets"), 1s) * 8 AS "bit/s"
        FROM "interface" WHERE $timeFilter GROUP BY time($__interval), "source", "ifName"

    The written value never goes down and never jumps, so that query gives no spike and no gap
    at a wrap or a reboot. (``non_negative_`` still matters for series written before this
    guard, and for the rare step down described under "At an agent restart".)

At a 32-bit wrap
    A Counter32 that went down with no sign of a discontinuity wrapped: the offset grows by
    2**32 and the written value goes on counting past 2**32 (an ``int`` field holds it), so the
    rate across the wrap is exact instead of missing. Only a fall by more than half the range
    reads as a wrap (RFC 1982 serial arithmetic): a smaller fall is a reset (``clear counters``)
    that would otherwise read as a 4-GB burst. A Counter32 that moves more than 2**31 per poll
    (above ~286 Mbit/s at 60 s) cannot be measured anyway: such interfaces need ifHC* counters.

At a device reboot or other discontinuity
    RFC 2578 §7.1.6: after a discontinuity a counter's value has no defined meaning, and trusting
    it is what makes spikes. Evidence of one:

    - the device's ``sysUpTime`` (field of the ``snmp`` sample of the same poll) went back,
      unless it is the TimeTicks wrap after ~497 days (previous value + elapsed wall time
      reaches 2**32 and the new value is about that minus 2**32);
    - `CounterGuard.discontinuity` was called (the trap listener: coldStart, warmStart);
    - a field of the row named ``*DiscontinuityTime`` (RFC 2578's convention, e.g. IF-MIB's
      ``ifCounterDiscontinuityTime``) changed;
    - a Counter64 went down, or a Counter32 fell by less than half its range;
    - a Counter32 went down after more than ``max_gap_s`` without a sample (it may have wrapped
      several times: the guard never overestimates).

    Then the offset becomes *last written − raw*: the written value stays where it was, the
    interval holding the event reads as no traffic, and the sample carries the field
    ``counter_discontinuity = true`` (written only when true). The first four hold the whole
    row; the last only the counter concerned. From the next poll on, rates are exact again.

At an agent restart
    The offsets live in a small JSON file (``state_file``), read at start, rewritten atomically
    (complete) on `CounterGuard.close`, and while running with the rows whose offset is not 0:
    at once when a discontinuity changed an offset, at most every ``save_every_s`` for wraps.
    (A wrap lost in a crash is found again: the file holds the raw value from before it. A
    discontinuity may not be: a trap is not repeated.) So a restart neither drops a series back
    to the raw counter nor makes it jump. A missing or unreadable file is logged and treated as
    empty: series with a non-zero offset then restart at the raw counter once (one step down,
    which ``non_negative_derivative`` skips: no spike).

State is kept per row: the measurement and the collector's tags (before the inventory's are
added), e.g. ``interface`` + source, sysName, ifIndex, ifName, ifDescr.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, ValidationError

from agent.samples import FieldValue, Sample, Unsigned
from agent.schema import COUNTER_DISCONTINUITY, SchemaRegistry

log = logging.getLogger(__name__)

#: Where a device's uptime comes from: the ``snmp`` sample of each poll (profile ``system``).
UPTIME_MEASUREMENT = "snmp"
UPTIME_FIELD = "sysUpTime"
#: RFC 2578 §7.1.6 asks each counter to name its discontinuity indicator; by convention a
#: TimeStamp called ``...DiscontinuityTime`` (IF-MIB, IP-MIB, ...).
DISCONTINUITY_TIME_SUFFIX = "DiscontinuityTime"

_NS = 1_000_000_000
_TICKS_PER_S = 100  # TimeTicks are centiseconds
_TIMETICKS = 2**32
#: How far a wrapped sysUpTime may be from where the wall clock says it should be: a minute
#: (answers delayed by timeouts and retries) plus 1 % of the time between the two readings.
_UPTIME_SLACK_TICKS = 60 * _TICKS_PER_S
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, Unsigned.MAX)
#: How often rows that stopped appearing are looked for (sample time).
_PRUNE_EVERY_NS = 3600 * _NS

RowKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class CounterStats:
    """Plain counts for /metrics."""

    wraps: int = 0  # Counter32 wraps extended past 2**32
    discontinuities: int = 0  # samples whose counters were held (marked counter_discontinuity)
    device_restarts: int = 0  # sysUpTime went back, or discontinuity() was called
    state_errors: int = 0  # the state file could not be read or written


@dataclass
class _Counter:
    raw: int  # the device's last value
    written: int  # what was written for it: raw + offset

    @property
    def offset(self) -> int:
        return self.written - self.raw


@dataclass
class _Row:
    wall_ns: int  # timestamp of the row's last sample
    epoch: int  # the device's restart count when the row was last seen
    counters: dict[str, _Counter] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)  # *DiscontinuityTime values


@dataclass
class _Device:
    uptime: int | None = None  # last sysUpTime, ticks
    wall_ns: int = 0  # when it was read
    epoch: int = 0  # restarts seen; a row whose epoch differs has not seen the last one
    announced: bool = False  # discontinuity() was called since the last sysUpTime reading


# --- the state file ------------------------------------------------------------------------------


class _Saved(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _SavedDevice(_Saved):
    uptime: int | None
    wall_ns: int
    epoch: int


class _SavedRow(_Saved):
    measurement: str
    tags: dict[str, str]
    wall_ns: int
    epoch: int
    counters: dict[str, tuple[int, int]]  # name → (raw, written)
    marks: dict[str, int] = {}


class _StateFile(_Saved):
    version: Literal[1]
    devices: dict[str, _SavedDevice]
    rows: list[_SavedRow]


# --- the guard -----------------------------------------------------------------------------------


def _is_integer(value: FieldValue | None) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _typed_like(raw: int, written: int) -> int | None:
    """`written` with the type of `raw` (Unsigned stays Unsigned), or None if it cannot be."""
    low, high = _UINT64 if isinstance(raw, Unsigned) else _INT64
    if not low <= written <= high:
        return None
    return Unsigned(written) if isinstance(raw, Unsigned) else written


class CounterGuard:
    """Keeps counter fields continuous across wraps, reboots and agent restarts.

    `apply` rewrites one poll's samples in place; the pipeline calls it before anything else.
    `discontinuity` is for the trap listener. `close` saves the state (when `state_file`).
    """

    def __init__(
        self,
        *,
        state_file: Path | None = None,
        max_gap_s: float = 600.0,
        forget_after_s: float = 30 * 86400.0,
        save_every_s: float = 60.0,
    ) -> None:
        self.state_file = state_file
        self.max_gap_s = max_gap_s
        #: A row unseen this long (an interface removed) is forgotten.
        self.forget_after_s = forget_after_s
        #: Wraps are saved at most this often: each save rewrites the file and fsyncs, on the
        #: event loop, and busy 32-bit interfaces wrap every few minutes.
        self.save_every_s = save_every_s
        self.stats = CounterStats()
        self._rows: dict[RowKey, _Row] = {}
        self._devices: dict[str, _Device] = {}
        self._dirty = False  # something to save
        self._urgent = False  # something a crash must not lose (see the module docstring)
        self._saved_at = -math.inf  # time.monotonic() of the last save
        self._save_failing = False
        self._pruned_ns = 0
        if state_file is not None:
            self._load(state_file)

    # -- events -----------------------------------------------------------------------------------

    def discontinuity(self, source: str, reason: str = "restart announced by trap") -> None:
        """Device `source` restarted (coldStart/warmStart): hold its counters at the next poll.

        Several calls before the next poll, and the sysUpTime that then went back, are one event.
        """
        device = self._devices.setdefault(source, _Device())
        if not device.announced:
            device.announced = True
            self._restarted(source, device, reason)

    def _restarted(self, source: str, device: _Device, reason: str) -> None:
        device.epoch += 1
        self.stats.device_restarts += 1
        self._dirty = self._urgent = True
        log.info("%s: %s; its counters are held at their last values for one poll", source, reason)

    def _read_uptime(self, sample: Sample) -> None:
        source = sample.tags.get("source")
        uptime = sample.fields.get(UPTIME_FIELD)
        if source is None or not _is_integer(uptime):
            return
        device = self._devices.setdefault(source, _Device())
        last = device.uptime
        if (
            last is not None
            and uptime < last
            and not self._uptime_wrapped(device, last, uptime, sample.timestamp_ns)
            and not device.announced
        ):
            self._restarted(source, device, f"sysUpTime went back from {last} to {uptime} ticks")
        device.uptime, device.wall_ns, device.announced = uptime, sample.timestamp_ns, False

    @staticmethod
    def _uptime_wrapped(device: _Device, last: int, uptime: int, now_ns: int) -> bool:
        elapsed = max(0, now_ns - device.wall_ns) * _TICKS_PER_S // _NS
        expected = last + elapsed
        slack = _UPTIME_SLACK_TICKS + elapsed // 100
        return expected + slack >= _TIMETICKS and abs(uptime + _TIMETICKS - expected) <= slack

    # -- polls ------------------------------------------------------------------------------------

    def apply(self, samples: Sequence[Sample], schema: SchemaRegistry) -> None:
        """Rewrite the counter fields of one poll's `samples` (in place) as continuous counters."""
        for sample in samples:
            if sample.measurement == UPTIME_MEASUREMENT:
                self._read_uptime(sample)
        held: Counter[tuple[str, str]] = Counter()  # (source, reason) → rows
        for sample in samples:
            widths = schema.counters(sample.measurement)
            reason = self._guard(sample, widths) if widths else None
            if reason is not None and reason != _RESTART:  # a restart was logged already
                held[sample.tags.get("source", ""), reason] += 1
        for (source, reason), rows in sorted(held.items()):
            log.info("%s: counters of %d %s held: %s", source, rows, _rows_word(rows), reason)
        if samples:
            self._prune(max(s.timestamp_ns for s in samples))
        if self._urgent or (self._dirty and time.monotonic() - self._saved_at >= self.save_every_s):
            self.save()

    def _guard(self, sample: Sample, widths: Mapping[str, int]) -> str | None:
        """Guard one row's counters; why they were held, or None."""
        counters = {name: value for name in widths if _is_integer(value := sample.fields.get(name))}
        if not counters:
            return None
        key: RowKey = (sample.measurement, tuple(sorted(sample.tags.items())))
        source = sample.tags.get("source", "")
        device = self._devices.get(source)
        epoch = device.epoch if device is not None else 0
        marks = {
            name: value
            for name, value in sample.fields.items()
            if name.endswith(DISCONTINUITY_TIME_SUFFIX) and _is_integer(value)
        }
        row = self._rows.get(key)
        if row is None:  # first sight: every counter starts at its raw value, below
            row = self._rows[key] = _Row(sample.timestamp_ns, epoch)
        row_reason = self._row_discontinuity(row, epoch, marks, counters, widths)
        reason = row_reason
        gap_s = max(0, sample.timestamp_ns - row.wall_ns) / _NS
        for name, raw in counters.items():
            state = row.counters.get(name)
            if state is None:
                row.counters[name] = _Counter(raw, raw)
                continue
            written, why = self._advance(state, raw, widths[name], row_reason is not None, gap_s)
            sample.fields[name] = written
            reason = reason or why
        row.wall_ns, row.epoch = sample.timestamp_ns, epoch
        row.marks.update(marks)
        if reason is not None:
            sample.fields[COUNTER_DISCONTINUITY] = True
            self.stats.discontinuities += 1
        return reason

    def _row_discontinuity(
        self,
        row: _Row,
        epoch: int,
        marks: Mapping[str, int],
        counters: Mapping[str, int],
        widths: Mapping[str, int],
    ) -> str | None:
        """Why the whole row is discontinuous, or None."""
        if row.epoch != epoch:
            return _RESTART
        for name, value in marks.items():
            if name in row.marks and row.marks[name] != value:
                return f"{name} changed"
        for name, raw in counters.items():
            state = row.counters.get(name)
            if state is None or raw >= state.raw:
                continue
            if widths[name] == 64:
                return f"Counter64 {name} went down"
            if state.raw - raw <= 2**31:
                return f"Counter32 {name} fell by less than half its range (a reset, not a wrap)"
        return None

    def _advance(
        self, state: _Counter, raw: int, width: int, row_held: bool, gap_s: float
    ) -> tuple[int, str | None]:
        """The value to write for `raw`, and why this counter alone was held (or None)."""
        why = None
        offset = state.offset
        if row_held:
            offset = state.written - raw
        elif raw < state.raw:
            if width == 32 and gap_s <= self.max_gap_s:
                offset += 2**32
                self.stats.wraps += 1
            else:  # how many times it wrapped during the gap is unknown: count nothing
                offset = state.written - raw
                why = f"no sample for over {self.max_gap_s:g} s and a Counter32 went down"
        written = _typed_like(raw, raw + offset)
        if written is None:
            # Past the field's type (centuries of traffic, or a counter reset far above zero):
            # back to the raw counter. One negative step, which non_negative_derivative skips.
            written, why = raw, "the continued counter would overflow its field: raw again"
        if written - raw != state.offset:
            self._dirty = True
            self._urgent |= why is not None or row_held
        state.raw, state.written = raw, written
        return written, why

    # -- state ------------------------------------------------------------------------------------

    def _prune(self, now_ns: int) -> None:
        if now_ns - self._pruned_ns < _PRUNE_EVERY_NS:
            return
        self._pruned_ns = now_ns
        horizon = now_ns - int(self.forget_after_s * _NS)
        for key in [key for key, row in self._rows.items() if row.wall_ns < horizon]:
            del self._rows[key]
            self._dirty = True

    def save(self, *, every_row: bool = False) -> None:
        """Write the state file atomically: rows with a non-zero offset, or `every_row`.

        A row whose offset is 0 writes the raw counter, so after a restart it continues without
        its state; `every_row` (at `close`) also keeps their last values, so a device that
        reboots while the agent is down is noticed for those rows too.
        """
        if self.state_file is None:
            return
        state = _StateFile(
            version=1,
            devices={
                source: _SavedDevice(uptime=d.uptime, wall_ns=d.wall_ns, epoch=d.epoch)
                for source, d in sorted(self._devices.items())
            },
            rows=[
                _SavedRow(
                    measurement=measurement,
                    tags=dict(tags),
                    wall_ns=row.wall_ns,
                    epoch=row.epoch,
                    counters={n: (c.raw, c.written) for n, c in sorted(row.counters.items())},
                    marks=dict(sorted(row.marks.items())),
                )
                for (measurement, tags), row in sorted(self._rows.items())
                if every_row or any(c.offset for c in row.counters.values())
            ],
        )
        temporary = self.state_file.with_name(self.state_file.name + ".tmp")
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("w", encoding="utf-8") as out:
                out.write(state.model_dump_json())
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.state_file)
        except OSError as exc:
            self.stats.state_errors += 1
            # Retried at most every save_every_s, and said once until it works again.
            level = logging.DEBUG if self._save_failing else logging.WARNING
            log.log(level, "counter state not saved to %s: %s", self.state_file, exc.strerror)
            self._save_failing, self._urgent = True, False
            return
        finally:
            self._saved_at = time.monotonic()
        self._save_failing = self._dirty = self._urgent = False

    def close(self) -> None:
        """Save the complete state (call once, when the agent stops)."""
        self.save(every_row=True)

    def _load(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            log.info("no counter state at %s: starting without one", path)
            return
        except OSError as exc:
            self._unreadable(path, exc.strerror or str(exc))
            return
        try:
            saved = _StateFile.model_validate_json(text)
        except ValidationError as exc:
            self._unreadable(path, f"{exc.error_count()} problems, first: {exc.errors()[0]['msg']}")
            return
        for source, device in saved.devices.items():
            self._devices[source] = _Device(device.uptime, device.wall_ns, device.epoch)
        for row in saved.rows:
            key: RowKey = (row.measurement, tuple(sorted(row.tags.items())))
            self._rows[key] = _Row(
                row.wall_ns,
                row.epoch,
                {name: _Counter(raw, written) for name, (raw, written) in row.counters.items()},
                dict(row.marks),
            )
        log.info("counter state read from %s: %d rows", path, len(self._rows))

    def _unreadable(self, path: Path, why: str) -> None:
        self.stats.state_errors += 1
        log.warning(
            "counter state %s unreadable (%s): starting without it; series with extended "
            "counters restart at the raw counter once",
            path,
            why,
        )


_RESTART = "device restart"


def _rows_word(count: int) -> str:
    return "row" if count == 1 else "rows"
