"""Maintenance windows: announced time when a service, some hosts or the network is excused.

Time inside a window is *maintenance* in the SLA timeline: left out of the availability and
shown beside it. A window is exactly one of

one-off
    ``start`` and ``end`` (``end`` after ``start``). A naive date-time is local time in the
    calendar's time zone (``"2026-10-04 22:00"``); one with an offset
    (``"2026-10-04 22:00+07:00"``) is kept as given.
recurring
    ``every``: an occurrence starts on each local day that matches ``weekdays`` and
    ``days_of_month`` and ``months`` (an empty list matches every day), from ``from_date`` to
    ``until`` inclusive, at ``start`` local time, and lasts ``duration_min`` minutes of elapsed
    time, possibly past midnight. ``until`` bounds the day an occurrence *starts*: the Sunday
    22:00 occurrence of an ``until`` Sunday still runs into Monday.

The fields of ``every`` mirror Grafana mute timings' ``time_intervals`` (``weekdays``,
``days_of_month``, ``months``, ``times``) so that issue 8 can turn a window into a mute timing
one-to-one; Grafana's ``times`` cannot cross midnight, so an occurrence that does becomes two
time ranges there (the second on the next weekday).

Scope: a window inside a service's definition applies to that service; a network-wide window
names its ``hosts``, ``groups`` or ``services``. In the inventory (quote times of day: YAML
reads an unquoted 22:00 as the number 1320)::

    - name: "Bảo trì định kỳ trung tâm dữ liệu"
      every: {weekdays: [sun], start: "22:00", duration_min: 240}
      groups: [dc]
    - name: "Nâng cấp phần mềm lõi"
      start: "2026-10-04 22:00"
      end: "2026-10-05 02:00"
      hosts: [dc1-core-01]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from agent.sla.calendar import WEEKDAYS, ClockText, Weekday, clock_minutes
from agent.sla.timeline import Span, merge_spans

_ONE_DAY = timedelta(days=1)
_DAY_MINUTES = 24 * 60
#: A week: longer work is several windows, or a one-off window.
MAX_DURATION_MIN = 7 * _DAY_MINUTES


class Recurrence(BaseModel):
    """When a recurring window starts and how long it lasts (local time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Empty: every day of the week.
    weekdays: tuple[Weekday, ...] = ()
    #: 1..31; empty: every day of the month.
    days_of_month: tuple[Annotated[int, Field(ge=1, le=31)], ...] = ()
    #: 1..12; empty: every month.
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] = ()
    #: Local "HH:MM" the occurrence starts.
    start: ClockText
    duration_min: int = Field(ge=1, le=MAX_DURATION_MIN)
    #: First local day an occurrence may start (inclusive).
    from_date: date | None = None
    #: Last local day an occurrence may start (inclusive).
    until: date | None = None

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        clock_minutes(value)  # "24:00" is an end, not a start
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> Recurrence:
        if self.from_date and self.until and self.until < self.from_date:
            raise ValueError(f"until {self.until} is before from_date {self.from_date}")
        return self

    def starts_on(self, day: date) -> bool:
        """Whether an occurrence starts on local `day`."""
        return (
            (not self.weekdays or WEEKDAYS[day.weekday()] in self.weekdays)
            and (not self.days_of_month or day.day in self.days_of_month)
            and (not self.months or day.month in self.months)
            and (self.from_date is None or day >= self.from_date)
            and (self.until is None or day <= self.until)
        )


def _moment(value: object) -> object:
    # pydantic would read a bare number as Unix seconds: an operator means a local time.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"got the number {value}: write a local date and time, e.g. 2026-10-04 22:00"
        )
    return value


#: A one-off bound: naive = local time in the calendar's zone; aware = as given.
Moment = Annotated[datetime, BeforeValidator(_moment)]


class MaintenanceWindow(BaseModel):
    """A named maintenance window: one-off (start, end) or recurring (every)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    start: Moment | None = None
    end: Moment | None = None
    every: Recurrence | None = None
    hosts: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        if self.every is not None and one_off:
            raise ValueError(
                "give either start and end (a one-off window) or every (a recurring one), not both"
            )
        if self.every is None and not one_off:
            raise ValueError("needs start and end (a one-off window) or every (a recurring one)")
        if self.every is None:
            _check_one_off(self.start, self.end)
        return self


def _check_one_off(start: datetime | None, end: datetime | None) -> None:
    if start is None or end is None:
        raise ValueError("a one-off window needs both start and end")
    if (start.utcoffset() is None) != (end.utcoffset() is None):
        raise ValueError(
            "start and end must both carry a UTC offset, or neither (then both are local time)"
        )
    if end <= start:
        raise ValueError(f"end {end} is not after start {start}")


def window_spans(window: MaintenanceWindow, span: Span, tz: ZoneInfo) -> list[Span]:
    """The parts of `span` inside `window` (local times in `tz`): sorted, merged, none empty."""
    if not span.seconds:
        return []
    if window.every is not None:
        occurrences = list(_occurrences(window.every, span, tz))
    elif window.start is not None and window.end is not None:
        # Whole seconds covering the window: a fraction of a second is still maintenance.
        occurrences = [
            Span(math.floor(_epoch(window.start, tz)), math.ceil(_epoch(window.end, tz)))
        ]
    else:  # the validator makes this unreachable
        raise ValueError(f"maintenance window {window.name!r} has neither start/end nor every")
    clipped = (
        Span(max(s.start, span.start), min(s.end, span.end))
        for s in occurrences
        if s.end > span.start and s.start < span.end
    )
    return merge_spans(clipped)


def _occurrences(every: Recurrence, span: Span, tz: ZoneInfo) -> Iterator[Span]:
    start_min = clock_minutes(every.start)
    first = datetime.fromtimestamp(span.start, tz).date()
    last = datetime.fromtimestamp(span.end - 1, tz).date()
    # Occurrences that started on earlier days may still run into the span (Sunday 22:00 for
    # 240 minutes covers Monday 00:00-02:00). One day more than needed: clipping drops the rest.
    first -= _ONE_DAY * ((start_min + every.duration_min) // _DAY_MINUTES + 1)
    if every.from_date is not None:
        first = max(first, every.from_date)
    if every.until is not None:
        last = min(last, every.until)
    day = first
    while day <= last:
        if every.starts_on(day):
            midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
            begin = int((midnight + timedelta(minutes=start_min)).timestamp())
            yield Span(begin, begin + every.duration_min * 60)
        day += _ONE_DAY


def _epoch(moment: datetime, tz: ZoneInfo) -> float:
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()
