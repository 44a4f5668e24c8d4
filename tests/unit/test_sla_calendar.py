"""Service calendars: business hours on Vietnamese working days, exact to the second.

Expected figures are worked out by hand in the comments. Local times are built here with a
fixed +07:00 offset (datetime.timezone), not with zoneinfo as the calendar does, so the two
conversions check each other. The public holidays are those of the holidays package (0.109).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.sla.calendar import (
    CalendarError,
    CalendarOverrides,
    CalendarSettings,
    ServiceCalendar,
    load_overrides,
    overrides_from,
)
from agent.sla.timeline import Span

ICT = timezone(timedelta(hours=7))
HOUR = 3600
#: 07:30-11:30 and 13:00-17:00: 4 h + 4 h.
WORKING_DAY_S = 8 * HOUR

MAKE_UP_NOTE = "Làm bù cho ngày nghỉ 31/08/2026"
#: The worked Saturday of the 2026 National Day swap (the package has its day off, 31/08).
OVERRIDES_2026 = CalendarOverrides(working_days={date(2026, 8, 22): MAKE_UP_NOTE})


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Unix seconds of a local (+07:00) time."""
    return int(datetime(year, month, day, hour, minute, tzinfo=ICT).timestamp())


def local_days(first: date, days: int) -> Span:
    """[first 00:00, first + days 00:00) local."""
    end = first + timedelta(days=days)
    return Span(at(first.year, first.month, first.day), at(end.year, end.month, end.day))


def seconds(spans: list[Span]) -> int:
    return sum(s.seconds for s in spans)


@pytest.fixture
def calendar() -> ServiceCalendar:
    return ServiceCalendar(CalendarSettings(), OVERRIDES_2026)


# --- business hours, whole weeks ---------------------------------------------------------


def test_week_with_a_make_up_saturday(calendar: ServiceCalendar) -> None:
    # Mon 17 .. Fri 21 Aug 2026: ordinary working days, 5 x 8 h
    # Sat 22: make-up working day (override), 8 h; Sun 23: off
    # 6 x 28,800 = 172,800 s
    due = calendar.due_spans("business_hours", local_days(date(2026, 8, 17), 7))
    assert seconds(due) == 172_800
    assert len(due) == 12  # two intervals a day, none merged across the lunch break


def test_the_same_week_without_the_override_has_five_days() -> None:
    plain = ServiceCalendar(CalendarSettings())
    # 5 x 28,800 = 144,000 s: without the override file, Saturday 22 is a weekend day
    assert seconds(plain.due_spans("business_hours", local_days(date(2026, 8, 17), 7))) == 144_000


def test_week_of_national_day(calendar: ServiceCalendar) -> None:
    # Mon 31 Aug: day off in exchange for Sat 22 (holidays package)
    # Tue 1, Wed 2 Sep: Quốc khánh; Thu 3, Fri 4: working; Sat 5, Sun 6: weekend
    # 2 x 28,800 = 57,600 s
    due = calendar.due_spans("business_hours", local_days(date(2026, 8, 31), 7))
    assert seconds(due) == 57_600
    assert due[0] == Span(at(2026, 9, 3, 7, 30), at(2026, 9, 3, 11, 30))


def test_the_year_2026(calendar: ServiceCalendar) -> None:
    # 2026 starts on a Thursday and has 365 days: 52 weeks + Thu 1 Jan -> 261 Mon..Fri
    # holidays on Mon..Fri: 1 Jan, 16-20 Feb (5), 27 Apr, 30 Apr, 1 May, 31 Aug, 1-2 Sep (2),
    # 24 Nov -> 13; make-up Saturday 22 Aug: +1.  261 - 13 + 1 = 249 days x 28,800 s
    year = Span(at(2026, 1, 1), at(2027, 1, 1))
    assert seconds(calendar.due_spans("business_hours", year)) == 249 * WORKING_DAY_S
    # the cached answer is the same, and a copy the caller may change
    again = calendar.due_spans("business_hours", year)
    again.clear()
    assert seconds(calendar.due_spans("business_hours", year)) == 249 * WORKING_DAY_S


def test_a_make_up_day_in_utc(calendar: ServiceCalendar) -> None:
    # 07:30 +07:00 = 00:30 UTC on 22 Aug 2026; 1970-01-01 .. 2026-08-22 is
    # 56 x 365 + 14 leap days + 233 days = 20,687 days: 20,687 x 86,400 + 1,800 = 1,787,358,600
    due = calendar.due_spans("business_hours", local_days(date(2026, 8, 22), 1))
    assert due == [
        Span(1_787_358_600, 1_787_358_600 + 4 * HOUR),  # 00:30-04:30 UTC
        Span(1_787_358_600 + 5 * HOUR + 30 * 60, 1_787_358_600 + 9 * HOUR + 30 * 60),
    ]


# --- clipping and midnight ---------------------------------------------------------------


def test_a_range_starting_and_ending_mid_day(calendar: ServiceCalendar) -> None:
    # Mon 17 Aug 10:00 .. Tue 18 Aug 14:00 local:
    # Mon 10:00-11:30 (5,400) + 13:00-17:00 (14,400) + Tue 07:30-11:30 (14,400)
    # + 13:00-14:00 (3,600) = 37,800 s
    due = calendar.due_spans("business_hours", Span(at(2026, 8, 17, 10), at(2026, 8, 18, 14)))
    assert due == [
        Span(at(2026, 8, 17, 10), at(2026, 8, 17, 11, 30)),
        Span(at(2026, 8, 17, 13), at(2026, 8, 17, 17)),
        Span(at(2026, 8, 18, 7, 30), at(2026, 8, 18, 11, 30)),
        Span(at(2026, 8, 18, 13), at(2026, 8, 18, 14)),
    ]
    assert seconds(due) == 37_800


def test_a_range_inside_the_lunch_break_is_not_due(calendar: ServiceCalendar) -> None:
    lunch = Span(at(2026, 8, 17, 12), at(2026, 8, 17, 13))
    assert calendar.due_spans("business_hours", lunch) == []


def test_a_range_across_utc_midnight(calendar: ServiceCalendar) -> None:
    # 2026-08-16 23:00 UTC .. 2026-08-17 01:00 UTC = Mon 17 Aug 06:00 .. 08:00 local:
    # due from 07:30 local (00:30 UTC) to 08:00 local (01:00 UTC) = 1,800 s
    utc = UTC
    start = int(datetime(2026, 8, 16, 23, tzinfo=utc).timestamp())
    end = int(datetime(2026, 8, 17, 1, tzinfo=utc).timestamp())
    assert calendar.due_spans("business_hours", Span(start, end)) == [
        Span(int(datetime(2026, 8, 17, 0, 30, tzinfo=utc).timestamp()), end)
    ]


def test_a_range_across_local_midnight(calendar: ServiceCalendar) -> None:
    # Mon 17 Aug 16:00 .. Tue 18 Aug 08:00 local (local midnight = 17:00 UTC):
    # Mon 16:00-17:00 (3,600) + Tue 07:30-08:00 (1,800) = 5,400 s
    due = calendar.due_spans("business_hours", Span(at(2026, 8, 17, 16), at(2026, 8, 18, 8)))
    assert seconds(due) == 5_400
    assert due[1].start == at(2026, 8, 18, 7, 30)


def test_an_empty_range_has_nothing_due(calendar: ServiceCalendar) -> None:
    instant = at(2026, 8, 17, 9)
    assert calendar.due_spans("business_hours", Span(instant, instant)) == []
    assert calendar.due_spans("24x7", Span(instant, instant)) == []


def test_whole_day_hours_merge_across_midnight() -> None:
    # 00:00-24:00 on Mon..Fri: Mon 17 00:00 to Sat 22 00:00 is one span of 5 x 86,400 s
    settings = CalendarSettings(business_hours=(("00:00", "24:00"),), holidays="")
    week = local_days(date(2026, 8, 17), 7)
    assert ServiceCalendar(settings).due_spans("business_hours", week) == [
        Span(at(2026, 8, 17), at(2026, 8, 22))
    ]


def test_24x7_is_the_range_itself(calendar: ServiceCalendar) -> None:
    # Tết: a business-hours service is not due at all, a 24x7 one every second
    tet = local_days(date(2026, 2, 16), 5)
    assert calendar.due_spans("24x7", tet) == [tet]
    assert calendar.due_spans("business_hours", tet) == []


def test_an_unknown_calendar_is_refused(calendar: ServiceCalendar) -> None:
    with pytest.raises(ValueError, match="unknown service calendar 'weekdays'"):
        calendar.due_spans("weekdays", local_days(date(2026, 8, 17), 1))  # type: ignore[arg-type]


# --- working days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 2, 13), True),  # Friday before Tết
        (date(2026, 2, 16), False),  # Giao thừa (Monday)
        (date(2026, 2, 17), False),  # Tết Nguyên Đán
        (date(2026, 2, 18), False),
        (date(2026, 2, 19), False),
        (date(2026, 2, 20), False),  # Mùng bốn (Friday)
        (date(2026, 2, 23), True),  # back to work on Monday
        (date(2026, 4, 27), False),  # Giỗ Tổ Hùng Vương falls on Sunday 26: Monday in lieu
        (date(2026, 8, 22), True),  # make-up Saturday (override)
        (date(2026, 8, 23), False),  # Sunday
        (date(2026, 8, 31), False),  # the bridge day of the swap
        (date(2026, 11, 24), False),  # Ngày Văn hóa Việt Nam (Tuesday)
    ],
)
def test_working_days_2026(calendar: ServiceCalendar, day: date, working: bool) -> None:
    assert calendar.is_working_day(day) is working


def test_days_off_and_working_days_override_the_package() -> None:
    overrides = CalendarOverrides(
        days_off={date(2026, 1, 2): "Nghỉ bù Tết Dương lịch"},
        working_days={date(2026, 9, 2): "Trực Quốc khánh"},
    )
    calendar = ServiceCalendar(CalendarSettings(), overrides)
    assert not calendar.is_working_day(date(2026, 1, 2))  # a Friday
    assert calendar.is_working_day(date(2026, 9, 2))  # a holiday, worked


def test_no_holidays_and_other_workdays() -> None:
    settings = CalendarSettings(holidays="", workdays=("mon", "tue", "wed", "thu", "fri", "sat"))
    calendar = ServiceCalendar(settings)
    assert calendar.is_working_day(date(2026, 9, 2))  # Wednesday; no holiday list
    assert calendar.is_working_day(date(2026, 9, 5))  # Saturday is a workday here
    assert not calendar.is_working_day(date(2026, 9, 6))  # Sunday
    assert calendar.notes(local_days(date(2026, 9, 1), 7), "vi") == []


def test_the_time_zone_moves_the_business_hours() -> None:
    # 2026-08-17 06:30-07:30 UTC is 13:30-14:30 in Hanoi (+07:00): all due (13:00-17:00);
    # in Vladivostok (+10:00) it is 16:30-17:30: due until 17:00 only, 1,800 s.
    # 1970-01-01 .. 2026-08-17 is 20,682 days: 20,682 x 86,400 + 6.5 h = 1,786,948,200
    utc_hour = Span(at(2026, 8, 17, 13, 30), at(2026, 8, 17, 14, 30))
    assert utc_hour.start == 1_786_948_200
    hanoi = ServiceCalendar(CalendarSettings())
    far_east = ServiceCalendar(CalendarSettings(timezone="Asia/Vladivostok", holidays=""))
    assert hanoi.tz.key == "Asia/Ho_Chi_Minh"
    assert hanoi.due_spans("business_hours", utc_hour) == [utc_hour]
    assert far_east.due_spans("business_hours", utc_hour) == [
        Span(utc_hour.start, utc_hour.start + 30 * 60)
    ]


# --- notes -------------------------------------------------------------------------------


def test_notes_name_the_holidays_in_both_languages(calendar: ServiceCalendar) -> None:
    november = Span(at(2026, 11, 1), at(2026, 12, 1))
    assert calendar.notes(november, "vi") == [(date(2026, 11, 24), "Ngày Văn hóa Việt Nam")]
    assert calendar.notes(november, "en") == [(date(2026, 11, 24), "Vietnam Cultural Day")]


def test_notes_of_the_national_day_swap(calendar: ServiceCalendar) -> None:
    weeks = local_days(date(2026, 8, 17), 21)
    assert calendar.notes(weeks, "vi") == [
        (date(2026, 8, 22), MAKE_UP_NOTE),
        (date(2026, 8, 31), "Ngày nghỉ (thay cho ngày 22/08/2026)"),
        (date(2026, 9, 1), "Quốc khánh"),
        (date(2026, 9, 2), "Quốc khánh"),
    ]
    assert calendar.notes(weeks, "en") == [
        (date(2026, 8, 22), MAKE_UP_NOTE),  # the operator's note, as written
        (date(2026, 8, 31), "Day off (substituted from 08/22/2026)"),
        (date(2026, 9, 1), "National Day"),
        (date(2026, 9, 2), "National Day"),
    ]


def test_notes_count_the_local_days_a_range_touches(calendar: ServiceCalendar) -> None:
    culture_day = date(2026, 11, 24)
    # ends at local midnight before the day: not touched
    assert calendar.notes(Span(at(2026, 11, 23), at(2026, 11, 24)), "vi") == []
    # starts at noon of the day: touched
    assert calendar.notes(Span(at(2026, 11, 24, 12), at(2026, 11, 25)), "en") == [
        (culture_day, "Vietnam Cultural Day")
    ]


def test_notes_across_a_new_year(calendar: ServiceCalendar) -> None:
    span = Span(at(2025, 12, 31), at(2026, 1, 2))
    assert calendar.notes(span, "vi") == [(date(2026, 1, 1), "Tết Dương lịch")]


# --- settings ----------------------------------------------------------------------------


def test_defaults_are_the_provinces_office_hours() -> None:
    settings = CalendarSettings()
    assert settings.timezone == "Asia/Ho_Chi_Minh"
    assert settings.workdays == ("mon", "tue", "wed", "thu", "fri")
    assert settings.business_hours == (("07:30", "11:30"), ("13:00", "17:00"))
    assert settings.holidays == "VN"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Asia/Hanoi_City", "unknown time zone 'Asia/Hanoi_City'"),
        ("workdays", ("mon", "mon"), "mon is listed twice"),
        ("workdays", ("monday",), "Input should be 'mon'"),
        ("workdays", (), "at least 1 item"),
        ("business_hours", (("7:30", "11:30"),), "'7:30' is not a time of day HH:MM"),
        ("business_hours", (("07:30", "24:30"),), "'24:30' is not a time of day"),
        ("business_hours", (("24:00", "24:00"),), "'24:00' is not a time of day"),
        ("business_hours", (("11:30", "07:30"),), "11:30-07:30: the end must be after"),
        ("business_hours", (("07:30", "12:00"), ("11:30", "17:00")), "11:30-17:00 overlaps"),
        ("business_hours", (("13:00", "17:00"), ("07:30", "11:30")), "07:30-11:30 overlaps"),
        ("business_hours", (("07:30", 690),), "got the number 690: write times of day in quotes"),
        ("holidays", "XX", "'XX' is not a country the holidays package knows"),
        ("calendar", "24x7", "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        CalendarSettings.model_validate({field: value})
    assert caught.value.errors()[0]["loc"][0] == field


# --- override file -----------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calendar-overrides.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_override_file_with_quoted_and_unquoted_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# make-up days\n"
        "working_days:\n"
        '  2026-08-22: "Làm bù cho ngày nghỉ 31/08/2026"\n'
        "days_off:\n"
        '  "2026-01-02": Nghỉ bù Tết Dương lịch\n',
    )
    assert load_overrides(path) == CalendarOverrides(
        working_days={date(2026, 8, 22): "Làm bù cho ngày nghỉ 31/08/2026"},
        days_off={date(2026, 1, 2): "Nghỉ bù Tết Dương lịch"},
    )


@pytest.mark.parametrize("text", ["", "# nothing this year\n", "working_days:\ndays_off: {}\n"])
def test_an_empty_override_file_overrides_nothing(tmp_path: Path, text: str) -> None:
    assert load_overrides(write(tmp_path, text)) == CalendarOverrides()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("working_days:\n  2026-02-30: x\n", "working_days: '2026-02-30' is not a date"),
        ("days_off:\n  26-08-22: x\n", "days_off: '26-08-22' is not a date"),
        ("days_off:\n  2026-08-22 08:00:00: x\n", "days_off: '2026-08-22 08:00:00' is not a date"),
        ("working_days:\n  2026-08-22:\n", "working_days: 2026-08-22: expected a note"),
        ("working_days:\n  2026-08-22: 5\n", "working_days: 2026-08-22: expected a note"),
        ("working_days: [2026-08-22]\n", "working_days: expected a mapping of dates"),
        ("workdays:\n  2026-08-22: x\n", "unknown key 'workdays'"),
        ("- 2026-08-22\n", "expected a mapping with working_days and/or days_off, got list"),
        (
            "working_days:\n  2026-08-22: a\ndays_off:\n  2026-08-22: b\n",
            "2026-08-22 is in both working_days and days_off",
        ),
        # quoted or not, the same day; PyYAML alone would keep the second silently
        ("working_days:\n  2026-08-22: a\n  '2026-08-22': b\n", "2026-08-22 is written twice"),
        ("working_days:\n  2026-08-22: a\n  2026-08-22: b\n", "line 3, column 3"),
        ("working_days: {2026-08-22: a\n", "not valid YAML"),
    ],
)
def test_override_file_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CalendarError) as caught:
        load_overrides(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_missing_override_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yml"
    with pytest.raises(CalendarError, match=r"nowhere\.yml: cannot read"):
        load_overrides(path)


def test_a_day_both_worked_and_off_is_refused_in_code_too() -> None:
    with pytest.raises(ValidationError, match="2026-08-22 is in both working_days and days_off"):
        CalendarOverrides(working_days={date(2026, 8, 22): "a"}, days_off={date(2026, 8, 22): "b"})


def test_overrides_from_parsed_data_name_the_source() -> None:
    # what ansible-inventory's JSON or PyYAML's own loader would give: text or date keys
    assert overrides_from(
        {"working_days": {"2026-08-22": MAKE_UP_NOTE}, "days_off": {date(2026, 1, 2): "x"}},
        "group_vars/all/sla.yml",
    ) == CalendarOverrides(
        working_days={date(2026, 8, 22): MAKE_UP_NOTE}, days_off={date(2026, 1, 2): "x"}
    )
    with pytest.raises(CalendarError, match=r"^netmon_sla: days_off: 2026-01-02 is written twice"):
        overrides_from({"days_off": {date(2026, 1, 2): "x", "2026-01-02": "y"}}, "netmon_sla")
    with pytest.raises(CalendarError, match=r"^netmon_sla: working_days: datetime\.datetime"):
        overrides_from({"working_days": {datetime(2026, 8, 22, 8): "x"}}, "netmon_sla")
