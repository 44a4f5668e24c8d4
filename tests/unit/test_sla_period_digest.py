"""Report periods as operators write them, and day digests that read back exactly."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from agent.sla.digest import DAY, decode, encode, join
from agent.sla.period import PeriodError, parse_period
from agent.sla.timeline import Segment, SlaState, Span
from tests.sla_world import local

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = local("2026-11-22 09:30")


@pytest.mark.parametrize(
    ("text", "label", "first", "after"),
    [
        ("2026-10", "2026-10", date(2026, 10, 1), date(2026, 11, 1)),
        ("2025-12", "2025-12", date(2025, 12, 1), date(2026, 1, 1)),
        ("2026-Q4", "2026-Q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026-q1", "2026-Q1", date(2026, 1, 1), date(2026, 4, 1)),
        ("2025", "2025", date(2025, 1, 1), date(2026, 1, 1)),
        ("2026-10-01..2026-10-15", "2026-10-01..2026-10-15", date(2026, 10, 1), date(2026, 10, 16)),
        ("last-month", "2026-10", date(2026, 10, 1), date(2026, 11, 1)),
    ],
)
def test_periods(text: str, label: str, first: date, after: date) -> None:
    period = parse_period(text, now=NOW, tz=TZ)
    assert (period.label, period.first, period.after) == (label, first, after)


def test_a_month_is_local_midnight_to_local_midnight() -> None:
    period = parse_period("2026-10", now=NOW, tz=TZ)
    # 2026-10-01 00:00 +07:00 is 2026-09-30 17:00 UTC; October has 31 days.
    assert period.span(TZ) == Span(1790787600, 1790787600 + 31 * 86_400)


def test_a_period_not_over_yet_ends_now_and_one_not_begun_is_refused() -> None:
    quarter = parse_period("2026-Q4", now=NOW, tz=TZ)
    assert quarter.span(TZ) == Span(local("2026-10-01 00:00"), NOW)  # not the days to come
    with pytest.raises(PeriodError, match="has not begun"):
        parse_period("2027-01", now=NOW, tz=TZ)


def test_this_month_ends_now() -> None:
    period = parse_period("this-month", now=NOW, tz=TZ)
    assert period.span(TZ) == Span(local("2026-11-01 00:00"), NOW)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-13", "no month 13"),
        ("2026-10-15..2026-10-01", "before the first"),
        ("2026-02-30..2026-03-01", "day is out of range"),
        ("tháng 10", "give YYYY-MM"),
    ],
)
def test_bad_periods_say_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_period(text, now=NOW, tz=TZ)


def test_a_digest_reads_back_exactly() -> None:
    day = 1_790_812_800  # a UTC midnight
    timeline = [
        Segment(day, day + 100, SlaState.UNKNOWN),
        Segment(day + 100, day + 5_000, SlaState.UP),
        Segment(day + 5_000, day + 5_060, SlaState.DOWN, 'timeout; "quoted", ký tự'),
        Segment(day + 5_060, day + 5_120, SlaState.DEGRADED, "loss 10.0 % > 5 %"),
        Segment(day + 5_120, day + DAY, SlaState.UP),
    ]
    assert decode(encode(timeline, day), day) == timeline


def test_days_join_into_one_timeline_with_holes_unknown() -> None:
    day = 1_790_812_800
    first = [Segment(day, day + DAY, SlaState.UP)]
    third = [Segment(day + 2 * DAY, day + 3 * DAY, SlaState.UP)]
    joined = join([third, first], Span(day + 10, day + 3 * DAY))
    assert joined == [
        Segment(day + 10, day + DAY, SlaState.UP),
        Segment(day + DAY, day + 2 * DAY, SlaState.UNKNOWN),
        Segment(day + 2 * DAY, day + 3 * DAY, SlaState.UP),
    ]
