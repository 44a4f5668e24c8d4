"""Grafana mute timings from the maintenance windows (agent.sla.maintenance), and the policy
routes that apply each one to the alerts of the window's sites and services.

Each window (``netmon_sla.maintenance``, and each service's own ``maintenance``) becomes one
mute timing named by a slug of its name (a service's window: prefixed with the service id),
with time intervals in the SLA calendar's time zone. Grafana's provisioning API addresses a
mute timing by name in its URL: an ASCII slug needs no escaping there.

Grafana (Alertmanager) time intervals
    An instant is in an interval when its local time of day is in one of ``times`` (start
    inclusive, end exclusive, never past ``24:00``) *and* its weekday, day of month, month and
    year are each in the listed ranges (a field left out matches everything). A mute timing
    is the union of its intervals. Weekday ranges run Sunday (0) to Saturday (6).

Recurring windows
    The occurrence's first day is one interval: the recurrence's weekdays, days of month and
    months, from ``start`` to its end or midnight. Each following day it runs into (past
    midnight, or a window of several days) is another interval on "the day after a start day":
    weekdays shifted by one per day; days of month shifted (an occurrence on the 31st runs
    into the 1st of the next month: that is a separate interval per month length, 30 or 31);
    with months but no days of month, the spill into the next month is its own interval.
    ``from_date``/``until`` have no Grafana field, but a date range is exactly a union of
    (year, month, day-of-month) blocks: the first partial month, whole months, whole years,
    the last partial month. Each interval is intersected with those blocks, so bounds are
    exact, not widened to whole years. An open bound uses 1970 or 9999 as the year.

    Not expressible: an occurrence starting near the end of **February** on a given day of the
    month and running into March lands on a day of March that depends on the leap year;
    Grafana has no field for that, so that March part is not muted (under-muted, never
    over-muted). :class:`WindowMute` lists such approximations.

One-off windows
    Per local day: the first day from ``start``, whole days between (as date blocks), the last
    day until ``end``. Grafana counts whole minutes: seconds are rounded outwards (noted).

Time zone: intervals are local wall-clock times, the maintenance module counts a recurring
occurrence in elapsed minutes; both agree in a zone without daylight saving time, such as
Asia/Ho_Chi_Minh (+07:00 all year).

Scope: a window's hosts and groups become the ``site`` label values of those hosts (alerts
are per site: a window naming one host of a site mutes the site's alerts); its services (or
the service owning the window) the ``service`` label values. agent.dashboards.contacts builds
the policy routes that apply the mute timings to those labels.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from agent.inventory.model import Inventory
from agent.sla.calendar import WEEKDAYS, clock_minutes
from agent.sla.maintenance import MaintenanceWindow, Recurrence

_DAY = 24 * 60
_ONE_DAY = timedelta(days=1)
#: Year bounds standing for "open": nothing before 1970 is monitored, nothing runs in 9999.
_FIRST_YEAR, _LAST_YEAR = 1970, 9999
_ALL_WEEKDAYS = frozenset(range(7))
_ALL_DAYS = frozenset(range(1, 32))
_ALL_MONTHS = frozenset(range(1, 13))
#: Alertmanager's weekday numbers: Sunday is 0.
_AM_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
# Spelt out: calendar.month_name follows the process's locale.
_MONTHS = (
    *("", "january", "february", "march", "april", "may", "june"),
    *("july", "august", "september", "october", "november", "december"),
)
_MONTHS_OF_LENGTH = {31: (1, 3, 5, 7, 8, 10, 12), 30: (4, 6, 9, 11)}
FEBRUARY_NOTE = (
    "an occurrence starting at the end of February and running into March is not muted in "
    "March (the day depends on the leap year; Grafana has no field for it)"
)
SECONDS_NOTE = "start/end with seconds: rounded out to whole minutes (Grafana counts minutes)"


@dataclass(frozen=True)
class _Days:
    """A set of local days: each field's set must hold (None: any value)."""

    weekdays: frozenset[int] | None = None  # date.weekday(): Monday is 0
    days: frozenset[int] | None = None  # 1..31
    months: frozenset[int] | None = None  # 1..12
    years: tuple[int, int] | None = None  # inclusive


def _days(
    weekdays: Iterable[int] | None = None,
    days: Iterable[int] | None = None,
    months: Iterable[int] | None = None,
    years: tuple[int, int] | None = None,
) -> _Days | None:
    """Normalised `_Days` (a full set is None), or None when no day can match."""

    def norm(values: Iterable[int] | None, every: frozenset[int]) -> frozenset[int] | None:
        return None if values is None or frozenset(values) >= every else frozenset(values)

    found = _Days(
        norm(weekdays, _ALL_WEEKDAYS), norm(days, _ALL_DAYS), norm(months, _ALL_MONTHS), years
    )
    if any(s is not None and not s for s in (found.weekdays, found.days, found.months)):
        return None
    if years is not None and years[0] > years[1]:
        return None
    return found


def _meet(a: _Days, b: _Days) -> _Days | None:
    def both(x: frozenset[int] | None, y: frozenset[int] | None) -> frozenset[int] | None:
        return y if x is None else x if y is None else x & y

    years = a.years or b.years
    if a.years and b.years:
        years = (max(a.years[0], b.years[0]), min(a.years[1], b.years[1]))
    return _days(
        both(a.weekdays, b.weekdays), both(a.days, b.days), both(a.months, b.months), years
    )


def _following(base: _Days, k: int) -> tuple[list[_Days], str]:
    """The days X whose day X-k (k = 1..7) is in `base`, and what that misses, if anything."""
    weekdays = None if base.weekdays is None else [(w + k) % 7 for w in base.weekdays]
    if base.days is None and base.months is None:
        found = [_days(weekdays)]
    elif base.days is None:
        assert base.months is not None
        # X-k is in X's month when X is past day k, else in the month before (k < 28).
        found = [
            _days(weekdays, range(k + 1, 32), base.months),
            _days(weekdays, range(1, k + 1), [m % 12 + 1 for m in base.months]),
        ]
    else:
        months = base.months or _ALL_MONTHS
        found = [_days(weekdays, [d + k for d in base.days if d + k <= 31], base.months)]
        for length, starting in _MONTHS_OF_LENGTH.items():
            spill = [d + k - length for d in base.days if d <= length < d + k]
            before = [m % 12 + 1 for m in starting if m in months]
            found.append(_days(weekdays, spill, before) if spill and before else None)
        if 2 in months and any(d <= 29 and d + k > 28 for d in base.days):
            return [d for d in found if d is not None], FEBRUARY_NOTE
    return [d for d in found if d is not None], ""


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _whole_months(first: date, last: date) -> list[_Days | None]:
    """Blocks for first (a 1st of a month) .. last (a last day of a month)."""
    if first.year == last.year:
        return [_days(months=range(first.month, last.month + 1), years=(first.year, first.year))]
    head_year, tail_year = first.year, last.year
    blocks: list[_Days | None] = []
    if first.month != 1:
        blocks.append(_days(months=range(first.month, 13), years=(first.year, first.year)))
        head_year += 1
    if last.month != 12:
        tail_year -= 1
    blocks.append(_days(years=(head_year, tail_year)))
    if last.month != 12:
        blocks.append(_days(months=range(1, last.month + 1), years=(last.year, last.year)))
    return blocks


def _date_blocks(first: date | None, last: date | None) -> list[_Days]:
    """Exactly the local days first..last (inclusive; None: open) as (year, month, day) blocks."""
    if first is None and last is None:
        return [_Days()]
    lo = first or date(_FIRST_YEAR, 1, 1)
    hi = last or date(_LAST_YEAR, 12, 31)
    if lo > hi:
        return []
    blocks: list[_Days | None] = []
    if (lo.year, lo.month) == (hi.year, hi.month):
        blocks.append(
            _days(days=range(lo.day, hi.day + 1), months=[lo.month], years=(lo.year, lo.year))
        )
        return [b for b in blocks if b is not None]
    if lo.day != 1:
        blocks.append(_days(days=range(lo.day, 32), months=[lo.month], years=(lo.year, lo.year)))
        lo = _month_end(lo) + _ONE_DAY
    tail = None
    if hi != _month_end(hi):
        tail = _days(days=range(1, hi.day + 1), months=[hi.month], years=(hi.year, hi.year))
        hi = hi.replace(day=1) - _ONE_DAY
    if lo <= hi:
        blocks += _whole_months(lo, hi)
    blocks.append(tail)
    return [b for b in blocks if b is not None]


@dataclass(frozen=True)
class _Piece:
    days: _Days
    start_min: int
    end_min: int


def _recurring(every: Recurrence) -> tuple[list[_Piece], list[str]]:
    start = clock_minutes(every.start)
    end = start + every.duration_min
    base = _days(
        [WEEKDAYS.index(w) for w in every.weekdays] if every.weekdays else None,
        every.days_of_month or None,
        every.months or None,
    )
    assert base is not None  # a Recurrence's sets are never empty, only absent
    pieces, notes = [], []
    for k in range((end - 1) // _DAY + 1):
        days, note = ([base], "") if k == 0 else _following(base, k)
        if note:
            notes.append(note)
        # Day k of an occurrence falls k days after a start day within from_date..until.
        first = every.from_date + k * _ONE_DAY if every.from_date else None
        last = every.until + k * _ONE_DAY if every.until else None
        within = _date_blocks(first, last)
        piece_start, piece_end = max(start - k * _DAY, 0), min(end - k * _DAY, _DAY)
        for day_set in days:
            for block in within:
                met = _meet(day_set, block)
                if met is not None:
                    pieces.append(_Piece(met, piece_start, piece_end))
    return pieces, list(dict.fromkeys(notes))


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment if moment.utcoffset() is None else moment.astimezone(tz).replace(tzinfo=None)


def _one_off(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[list[_Piece], list[str]]:
    first, last = _local(start, tz), _local(end, tz)
    notes = (
        [SECONDS_NOTE]
        if first.second or first.microsecond or last.second or last.microsecond
        else []
    )
    first = first.replace(second=0, microsecond=0)
    if last.second or last.microsecond:
        last = last.replace(second=0, microsecond=0) + timedelta(minutes=1)

    def on(day: date) -> _Days:
        found = _days(days=[day.day], months=[day.month], years=(day.year, day.year))
        assert found is not None
        return found

    first_min, last_min = first.hour * 60 + first.minute, last.hour * 60 + last.minute
    if first.date() == last.date():
        return [_Piece(on(first.date()), first_min, last_min)], notes
    pieces = [_Piece(on(first.date()), first_min, _DAY)]
    between = _date_blocks(first.date() + _ONE_DAY, last.date() - _ONE_DAY)
    pieces += [_Piece(block, 0, _DAY) for block in between]
    if last_min:
        pieces.append(_Piece(on(last.date()), 0, last_min))
    return pieces, notes


def _runs(values: Iterable[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for value in sorted(values):
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _ranges(values: Iterable[int], names: Sequence[str] | None = None) -> list[str]:
    def text(n: int) -> str:
        return names[n] if names else str(n)

    return [text(a) if a == b else f"{text(a)}:{text(b)}" for a, b in _runs(values)]


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _render(days: _Days, times: list[tuple[int, int]], location: str) -> dict[str, Any]:
    interval: dict[str, Any] = {}
    if times != [(0, _DAY)]:  # left out: the whole day
        interval["times"] = [{"start_time": _clock(a), "end_time": _clock(b)} for a, b in times]
    if days.weekdays is not None:
        interval["weekdays"] = _ranges(((w + 1) % 7 for w in days.weekdays), _AM_WEEKDAYS)
    if days.days is not None:
        interval["days_of_month"] = _ranges(days.days)
    if days.months is not None:
        interval["months"] = _ranges(days.months, _MONTHS)
    if days.years is not None:
        begin, end = days.years
        interval["years"] = [str(begin) if begin == end else f"{begin}:{end}"]
    interval["location"] = location
    return interval


def time_intervals(
    window: MaintenanceWindow, location: str
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """Grafana ``time_intervals`` for `window` in time zone `location`, and the ways they
    differ from the window (empty: exact)."""
    tz = ZoneInfo(location)
    if window.every is not None:
        pieces, notes = _recurring(window.every)
    elif window.start is not None and window.end is not None:
        pieces, notes = _one_off(window.start, window.end, tz)
    else:  # MaintenanceWindow's validator makes this unreachable
        raise ValueError(f"maintenance window {window.name!r} has neither start/end nor every")
    by_days: dict[_Days, list[tuple[int, int]]] = {}
    for piece in pieces:
        by_days.setdefault(piece.days, []).append((piece.start_min, piece.end_min))
    intervals = []
    for days, ranges in by_days.items():
        merged: list[tuple[int, int]] = []
        for a, b in sorted(ranges):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        intervals.append(_render(days, merged, location))
    return intervals, tuple(notes)


def slug(text: str) -> str:
    """``"Bảo trì định kỳ (Chủ nhật 01:00–02:00)"`` → ``"bao-tri-dinh-ky-chu-nhat-01-00-02-00"``."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "window"


@dataclass(frozen=True)
class WindowMute:
    """A maintenance window as Grafana sees it: a named mute timing and the labels it mutes."""

    name: str
    window: MaintenanceWindow
    sites: tuple[str, ...]  # `site` label values
    services: tuple[str, ...]  # `service` label values
    time_intervals: tuple[dict[str, Any], ...]
    approximations: tuple[str, ...]  # how the intervals differ from the window; () = exact


def window_mutes(inventory: Inventory) -> list[WindowMute]:
    """Every maintenance window of the inventory: network-wide ones, then services' (by id)."""
    location = inventory.sla.calendar.timezone
    scoped: list[tuple[str, MaintenanceWindow, set[str], set[str]]] = []
    for window in inventory.sla.maintenance:
        hosts = {*window.hosts, *(h for g in window.groups for h in inventory.groups.get(g, ()))}
        sites = {
            inventory.described[h].settings.netmon_site for h in hosts if h in inventory.described
        }
        scoped.append((slug(window.name), window, sites, set(window.services)))
    for service_id, service in sorted(inventory.services.items()):
        for window in service.maintenance:
            scoped.append((slug(f"{service_id} {window.name}"), window, set(), {service_id}))
    mutes, taken = [], set()
    for name, window, sites, services in scoped:
        unique, n = name, 1
        while unique in taken:  # two windows of one name: keep both, in inventory order
            n += 1
            unique = f"{name}-{n}"
        taken.add(unique)
        intervals, notes = time_intervals(window, location)
        if intervals:  # a recurrence no day can match (31 February) never mutes anything
            mutes.append(
                WindowMute(
                    unique,
                    window,
                    tuple(sorted(sites)),
                    tuple(sorted(services)),
                    tuple(intervals),
                    notes,
                )
            )
    return mutes


def mute_timings(inventory: Inventory, *, org_id: int = 1) -> dict[str, Any]:
    """The ``muteTimes:`` provisioning document (apiVersion 1), one per maintenance window."""
    return {
        "apiVersion": 1,
        "muteTimes": [
            {"orgId": org_id, "name": mute.name, "time_intervals": list(mute.time_intervals)}
            for mute in window_mutes(inventory)
        ],
    }
