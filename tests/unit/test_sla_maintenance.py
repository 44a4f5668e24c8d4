"""Maintenance windows: one-off and recurring, clipped to a report's range, exact to the second.

Expected spans are worked out by hand in the comments. Local times are built here with a
fixed +07:00 offset (datetime.timezone), window_spans is given zoneinfo's Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from agent.sla.maintenance import MaintenanceWindow, Recurrence, window_spans
from agent.sla.timeline import Span

ICT = timezone(timedelta(hours=7))
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
HOUR = 3600


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Unix seconds of a local (+07:00) time."""
    return int(datetime(year, month, day, hour, minute, tzinfo=ICT).timestamp())


def days(first: date, count: int) -> Span:
    """[first 00:00, first + count days 00:00) local."""
    end = first + timedelta(days=count)
    return Span(at(first.year, first.month, first.day), at(end.year, end.month, end.day))


def recurring(**every: Any) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "bảo trì", "every": every})


def one_off(start: object, end: object) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "nâng cấp", "start": start, "end": end})


# --- one-off -----------------------------------------------------------------------------

#: Sunday 2026-10-04 22:00 to Monday 02:00 local (1 Jan 2026 is a Thursday; 4 Oct is day 277,
#: 276 days later = 39 weeks + 3 days: Thursday + 3 = Sunday).
UPGRADE = one_off("2026-10-04 22:00", "2026-10-05 02:00")


def test_a_one_off_window_inside_the_range() -> None:
    assert window_spans(UPGRADE, days(date(2026, 10, 1), 7), HANOI) == [
        Span(at(2026, 10, 4, 22), at(2026, 10, 5, 2))  # 4 h
    ]


def test_a_one_off_window_is_clipped_to_the_range() -> None:
    # the range is Monday 5 Oct: only 00:00-02:00 of the window, 7,200 s
    spans = window_spans(UPGRADE, days(date(2026, 10, 5), 1), HANOI)
    assert spans == [Span(at(2026, 10, 5), at(2026, 10, 5, 2))]
    assert spans[0].seconds == 7_200


def test_a_one_off_window_outside_the_range() -> None:
    assert window_spans(UPGRADE, days(date(2026, 10, 6), 7), HANOI) == []
    # ends exactly where the range starts: [start, end) ranges do not overlap
    assert window_spans(UPGRADE, Span(at(2026, 10, 5, 2), at(2026, 10, 5, 3)), HANOI) == []


def test_naive_times_are_local_and_aware_ones_are_kept() -> None:
    aware_utc = one_off("2026-10-04 22:00+00:00", "2026-10-05 02:00Z")
    week = days(date(2026, 10, 1), 7)
    # 22:00 UTC is 05:00 local the next day: 7 h after the naive (local) 22:00
    assert window_spans(aware_utc, week, HANOI) == [
        Span(at(2026, 10, 4, 22) + 7 * HOUR, at(2026, 10, 5, 2) + 7 * HOUR)
    ]
    # the zone only matters for naive times
    assert window_spans(aware_utc, week, ZoneInfo("UTC")) == window_spans(aware_utc, week, HANOI)
    assert window_spans(UPGRADE, week, ZoneInfo("UTC")) == window_spans(aware_utc, week, HANOI)
    assert UPGRADE.start is not None and UPGRADE.start.tzinfo is None  # kept naive


def test_fractions_of_a_second_widen_the_window() -> None:
    window = one_off("2026-10-04 22:00:00.5", "2026-10-04 22:00:01.5")
    # 22:00:00.5-22:00:01.5 touches the seconds 22:00:00 and 22:00:01
    start = at(2026, 10, 4, 22)
    assert window_spans(window, days(date(2026, 10, 4), 1), HANOI) == [Span(start, start + 2)]


# --- recurring ---------------------------------------------------------------------------

SUNDAY_NIGHT = recurring(weekdays=["sun"], start="22:00", duration_min=240)


def test_a_weekly_window_crossing_midnight() -> None:
    # The week Mon 5 .. Sun 11 Oct: the occurrence of Sun 4 Oct 22:00 runs into Monday
    # 00:00-02:00 (7,200 s); that of Sun 11 Oct is clipped at 24:00 (22:00-24:00, 7,200 s);
    # the next Monday is outside the range.
    spans = window_spans(SUNDAY_NIGHT, days(date(2026, 10, 5), 7), HANOI)
    assert spans == [
        Span(at(2026, 10, 5), at(2026, 10, 5, 2)),
        Span(at(2026, 10, 11, 22), at(2026, 10, 12)),
    ]
    assert sum(s.seconds for s in spans) == 14_400


def test_the_previous_days_occurrence_counts_in_a_short_range() -> None:
    # Monday 01:00-03:00: the Sunday 22:00 occurrence ends at 02:00
    assert window_spans(SUNDAY_NIGHT, Span(at(2026, 10, 5, 1), at(2026, 10, 5, 3)), HANOI) == [
        Span(at(2026, 10, 5, 1), at(2026, 10, 5, 2))
    ]


def test_a_week_long_occurrence_reaches_a_range_six_days_later() -> None:
    # Sunday 4 Oct 22:00 + 10,080 min = Sunday 11 Oct 22:00; the range is Sat 10 Oct
    week_long = recurring(weekdays=["sun"], start="22:00", duration_min=10_080)
    assert window_spans(week_long, days(date(2026, 10, 10), 1), HANOI) == [
        days(date(2026, 10, 10), 1)
    ]


def test_days_of_month_and_months() -> None:
    # the 1st and 15th of January and July, 01:00-02:00: 4 occurrences in 2026
    window = recurring(days_of_month=[1, 15], months=[1, 7], start="01:00", duration_min=60)
    assert window_spans(window, Span(at(2026, 1, 1), at(2027, 1, 1)), HANOI) == [
        Span(at(2026, month, day, 1), at(2026, month, day, 2))
        for month, day in [(1, 1), (1, 15), (7, 1), (7, 15)]
    ]


def test_weekdays_and_days_of_month_must_both_match() -> None:
    # Friday the 13th in 2026. 13 Jan is a Tuesday (1 Jan is a Thursday); each month moves the
    # 13th by (days in the month - 28): Feb Fri, Mar Fri, Apr Mon, May Wed, Jun Sat, Jul Mon,
    # Aug Thu, Sep Sun, Oct Tue, Nov Fri, Dec Sun
    window = recurring(weekdays=["fri"], days_of_month=[13], start="20:00", duration_min=30)
    spans = window_spans(window, Span(at(2026, 1, 1), at(2027, 1, 1)), HANOI)
    assert [s.start for s in spans] == [at(2026, m, 13, 20) for m in (2, 3, 11)]
    assert {s.seconds for s in spans} == {1_800}


def test_from_date_and_until_bound_the_day_an_occurrence_starts() -> None:
    # every day 23:00 for 120 min, starting 6 to 8 Oct: 3 occurrences of 7,200 s,
    # the last one running to 01:00 on the 9th
    window = recurring(start="23:00", duration_min=120, from_date="2026-10-06", until="2026-10-08")
    spans = window_spans(window, days(date(2026, 10, 1), 14), HANOI)
    assert spans == [Span(at(2026, 10, d, 23), at(2026, 10, d + 1, 1)) for d in (6, 7, 8)]
    # after `until`, only the tail of the 8th's occurrence
    assert window_spans(window, days(date(2026, 10, 9), 1), HANOI) == [
        Span(at(2026, 10, 9), at(2026, 10, 9, 1))
    ]
    # on from_date, no tail of an occurrence of the 5th
    assert window_spans(window, days(date(2026, 10, 6), 1), HANOI) == [
        Span(at(2026, 10, 6, 23), at(2026, 10, 7))
    ]


def test_overlapping_occurrences_are_merged() -> None:
    # every day 20:00 for 26 h: each occurrence runs into the next one's start
    window = recurring(start="20:00", duration_min=26 * 60)
    assert window_spans(window, days(date(2026, 10, 5), 3), HANOI) == [days(date(2026, 10, 5), 3)]


def test_duration_is_elapsed_time_across_a_dst_change() -> None:
    # Berlin springs forward on Sunday 29 Mar 2026 at 02:00 CET (01:00 UTC) to 03:00 CEST.
    # 01:00 CET = 00:00 UTC; + 240 min = 04:00 UTC (06:00 CEST, not 05:00 wall-clock).
    window = recurring(weekdays=["sun"], start="01:00", duration_min=240)
    berlin = ZoneInfo("Europe/Berlin")
    utc_day = Span(
        int(datetime(2026, 3, 28, 12, tzinfo=UTC).timestamp()),
        int(datetime(2026, 3, 29, 12, tzinfo=UTC).timestamp()),
    )
    assert window_spans(window, utc_day, berlin) == [
        Span(
            int(datetime(2026, 3, 29, 0, tzinfo=UTC).timestamp()),
            int(datetime(2026, 3, 29, 4, tzinfo=UTC).timestamp()),
        )
    ]


def test_an_empty_range_has_no_maintenance() -> None:
    instant = at(2026, 10, 4, 23)
    assert window_spans(UPGRADE, Span(instant, instant), HANOI) == []
    assert window_spans(SUNDAY_NIGHT, Span(instant, instant), HANOI) == []


# --- YAML as operators write it ----------------------------------------------------------

WINDOWS_YAML = """
- name: "Nâng cấp phần mềm lõi"
  start: 2026-10-04 22:00:00          # PyYAML: a naive datetime
  end: "2026-10-05 02:00"             # a string
  hosts: [dc1-core-01]
- name: "Nâng cấp phần mềm lõi (giờ UTC+7)"
  start: 2026-10-04 22:00:00+07:00    # PyYAML: an aware datetime
  end: 2026-10-05T02:00:00+07:00
- name: "Bảo trì định kỳ trung tâm dữ liệu"
  every:
    weekdays: [sun]
    start: "22:00"
    duration_min: 240
    from_date: 2026-10-01             # PyYAML: a date
    until: "2026-12-31"               # a string
  groups: [dc]
  services: [egov-portal]
"""


def test_yaml_as_operators_write_it() -> None:
    local, aware, weekly = (
        MaintenanceWindow.model_validate(raw) for raw in yaml.safe_load(WINDOWS_YAML)
    )
    week = days(date(2026, 10, 1), 7)
    assert window_spans(local, week, HANOI) == window_spans(UPGRADE, week, HANOI)
    assert window_spans(aware, week, HANOI) == window_spans(UPGRADE, week, HANOI)
    assert local.hosts == ("dc1-core-01",)
    assert weekly.every == Recurrence(
        weekdays=("sun",),
        start="22:00",
        duration_min=240,
        from_date=date(2026, 10, 1),
        until=date(2026, 12, 31),
    )
    assert (weekly.groups, weekly.services) == (("dc",), ("egov-portal",))


def test_an_unquoted_time_of_day_gets_a_hint() -> None:
    raw = yaml.safe_load("name: x\nevery: {start: 22:00, duration_min: 60}\n")
    assert raw["every"]["start"] == 1320  # YAML 1.1 base 60: 22 x 60 + 0
    with pytest.raises(ValidationError, match=r'write times of day in quotes, e\.g\. "22:00"'):
        MaintenanceWindow.model_validate(raw)


# --- validation --------------------------------------------------------------------------

EVERY = {"start": "22:00", "duration_min": 60}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "needs start and end .a one-off window. or every"),
        (
            {"start": "2026-10-04 22:00", "end": "2026-10-05 02:00", "every": EVERY},
            "give either start and end .* or every .*, not both",
        ),
        ({"start": "2026-10-04 22:00"}, "a one-off window needs both start and end"),
        ({"end": "2026-10-04 22:00"}, "a one-off window needs both start and end"),
        ({"start": "2026-10-04 22:00", "end": "2026-10-04 22:00"}, "end .* is not after start"),
        ({"start": "2026-10-05 02:00", "end": "2026-10-04 22:00"}, "end .* is not after start"),
        (
            {"start": "2026-10-04 22:00", "end": "2026-10-05 02:00+07:00"},
            "must both carry a UTC offset, or neither",
        ),
        ({"start": 1_790_000_000, "end": "2026-10-05 02:00"}, "got the number 1790000000"),
        ({"start": "tối chủ nhật", "end": "2026-10-05 02:00"}, "valid datetime"),
        ({"every": {**EVERY, "start": "7:30"}}, "'7:30' is not a time of day HH:MM"),
        ({"every": {**EVERY, "start": "22:60"}}, "'22:60' is not a time of day HH:MM"),
        ({"every": {**EVERY, "start": "24:00"}}, "'24:00' is not a time of day HH:MM"),
        ({"every": {**EVERY, "duration_min": 0}}, "greater than or equal to 1"),
        ({"every": {**EVERY, "duration_min": 10_081}}, "less than or equal to 10080"),
        ({"every": {**EVERY, "days_of_month": [0]}}, "greater than or equal to 1"),
        ({"every": {**EVERY, "days_of_month": [32]}}, "less than or equal to 31"),
        ({"every": {**EVERY, "months": [13]}}, "less than or equal to 12"),
        ({"every": {**EVERY, "weekdays": ["sunday"]}}, "Input should be 'mon'"),
        (
            {"every": {**EVERY, "from_date": "2026-12-01", "until": "2026-10-01"}},
            "until 2026-10-01 is before from_date 2026-12-01",
        ),
        ({"every": {**EVERY, "end": "23:00"}}, "Extra inputs are not permitted"),
        ({"every": EVERY, "host": "dc1-core-01"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_windows_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MaintenanceWindow.model_validate({"name": "bảo trì", **fields})


def test_a_window_needs_a_name() -> None:
    with pytest.raises(ValidationError, match="at least 1 character"):
        MaintenanceWindow.model_validate({"name": "", "every": EVERY})


def test_starts_on_matches_every_field() -> None:
    every = Recurrence(
        weekdays=("sun",),
        months=(10,),
        start="22:00",
        duration_min=60,
        from_date=date(2026, 10, 5),
        until=date(2026, 10, 20),
    )
    # Sundays of October 2026: 4, 11, 18, 25; the 4th is before from_date, the 25th after until
    october = [date(2026, 10, d) for d in range(1, 32)]
    assert [d.day for d in october if every.starts_on(d)] == [11, 18]
    assert not every.starts_on(date(2026, 11, 1))  # a Sunday, but in November
