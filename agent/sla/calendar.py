"""Service calendars: which seconds of a range a service is due.

A service's SLO counts only the time it is due. Its calendar is one of:

``24x7``
    due every second.
``business_hours``
    due during ``business_hours`` on working days, nothing else (nights, weekends and public
    holidays are *excluded* time, not down time).

A local day is a **working day** when it is listed in the override file's ``working_days`` (a
make-up Saturday worked in exchange for a bridge day), or else when its weekday is one of
``workdays`` and it is neither a public holiday nor listed in ``days_off``. An override always
wins over the weekday and over the holiday package.

Public holidays come from the PyPI ``holidays`` package (country ``holidays``, ``"VN"`` by
default): it knows the lunar Tết, the "nghỉ bù" days in lieu and the government's announced
swaps (for 2026: 2026-08-31 off "thay cho ngày 22/08/2026"). It does not know the worked
Saturday of such a swap, nor bridge days announced after the release: those go in the override
file (``overrides_file``, relative to the inventory directory)::

    working_days:                    # worked although a weekend day (or a holiday)
      2026-08-22: "Làm bù cho ngày nghỉ 31/08/2026"
    days_off:                        # off although a workday the package does not know
      2026-01-02: "Nghỉ bù Tết Dương lịch"

Settings come from the inventory's ``netmon_sla`` variable (``CalendarSettings``)::

    timezone: Asia/Ho_Chi_Minh
    workdays: [mon, tue, wed, thu, fri]
    business_hours: [["07:30", "11:30"], ["13:00", "17:00"]]   # quoted: YAML reads 11:30 as 690
    holidays: VN                     # "" for no public holidays
    overrides_file: calendar-overrides.yml

Times of day are local wall-clock ``HH:MM`` (``"24:00"`` allowed as the end of an interval) in
``timezone``, turned into Unix seconds through zoneinfo, so a zone with daylight saving time
would be right too. Vietnam has none: +07:00 all year, 07:30 local is 00:30 UTC. Ranges are
``Span`` ``[start, end)`` in whole Unix seconds (agent.sla.timeline).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_data
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from agent.sla.model import Language
from agent.sla.timeline import Span, merge_spans

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: In ``date.weekday()`` order (Monday is 0).
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
ServiceCalendarKind = Literal["24x7", "business_hours"]

#: The holidays package's language codes for the report's languages.
HOLIDAY_LANGUAGES: dict[Language, str] = {"vi": "vi", "en": "en_US"}

_ONE_DAY = timedelta(days=1)
_DAY_MINUTES = 24 * 60
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: due_spans results kept per calendar; reports ask for the same few ranges many times.
_DUE_CACHE_LIMIT = 4096


class CalendarError(ValueError):
    """A calendar setting or override file is wrong; the message names the file and the key."""


def clock_minutes(text: str, *, end: bool = False) -> int:
    """Minutes after local midnight of ``"HH:MM"``; ``"24:00"`` only as the end of an interval."""
    if end and text == "24:00":
        return _DAY_MINUTES
    match = _CLOCK.fullmatch(text)
    if match is None:
        allowed = "00:00..23:59, or 24:00 as an end" if end else "00:00..23:59"
        raise ValueError(f"{text!r} is not a time of day HH:MM ({allowed})")
    return int(match[1]) * 60 + int(match[2])


def _clock_text(value: object) -> object:
    # YAML 1.1 (PyYAML, Ansible) reads an unquoted 22:00 as the base-60 number 1320: say so
    # rather than "not a valid string".
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f'got the number {value}: write times of day in quotes, e.g. "22:00" '
            "(YAML reads an unquoted 22:00 as 1320)"
        )
    if isinstance(value, str):
        clock_minutes(value, end=True)
    return value


#: A local time of day as written in the inventory; ``"24:00"`` passes here and is refused
#: where only a start makes sense.
ClockText = Annotated[str, BeforeValidator(_clock_text)]


class CalendarSettings(BaseModel):
    """How a business-hours service is due (the inventory's ``netmon_sla`` variable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: IANA time zone of the local days and hours.
    timezone: str = "Asia/Ho_Chi_Minh"
    workdays: tuple[Weekday, ...] = Field(default=("mon", "tue", "wed", "thu", "fri"), min_length=1)
    #: Local (start, end) pairs, increasing and not overlapping.
    business_hours: tuple[tuple[ClockText, ClockText], ...] = Field(
        default=(("07:30", "11:30"), ("13:00", "17:00")), min_length=1
    )
    #: Country code for the holidays package (holidays.country_holidays); "" for none.
    holidays: str = "VN"
    #: The override file, relative to the inventory directory; "" for none.
    overrides_file: str = ""

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name such as Asia/Ho_Chi_Minh)"
            ) from None
        return value

    @field_validator("workdays")
    @classmethod
    def _workdays(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        repeated = sorted({day for day in value if value.count(day) > 1})
        if repeated:
            raise ValueError(f"{repeated[0]} is listed twice")
        return value

    @field_validator("business_hours")
    @classmethod
    def _business_hours(cls, value: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        previous_end = 0
        for start, end in value:
            start_min = clock_minutes(start)
            if clock_minutes(end, end=True) <= start_min:
                raise ValueError(f"{start}-{end}: the end must be after the start")
            if start_min < previous_end:
                raise ValueError(
                    f"{start}-{end} overlaps or precedes the interval before it: "
                    "list the intervals in order, without overlaps"
                )
            previous_end = clock_minutes(end, end=True)
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str) -> str:
        if value and value not in holiday_data.list_supported_countries():
            raise ValueError(
                f'{value!r} is not a country the holidays package knows (e.g. VN; "" for none)'
            )
        return value


class CalendarOverrides(BaseModel):
    """Days the holidays package cannot know, each with the note the report shows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Make-up working days (a Saturday worked in exchange for a bridge day off) → note.
    working_days: dict[date, str] = Field(default_factory=dict)
    #: Extra days off (bridge days announced after the package's release) → note.
    days_off: dict[date, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _worked_or_off(self) -> CalendarOverrides:
        both = sorted(self.working_days.keys() & self.days_off.keys())
        if both:
            raise ValueError(f"{both[0].isoformat()} is in both working_days and days_off")
        return self


class _OverridesLoader(yaml.SafeLoader):
    """SafeLoader that reads dates as text and refuses a key written twice.

    PyYAML would raise a bare ValueError on an impossible unquoted date (2026-02-30), make a
    datetime of 2026-08-22 08:00:00 and keep the last of two equal keys silently; with dates
    as text, every key goes through _override_date and gets a message naming it.
    """


_OverridesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _unique_keys(loader: _OverridesLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            continue  # unhashable: construct_mapping reports it
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"{key} is written twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_OverridesLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys)

_OVERRIDE_KEYS = ("working_days", "days_off")


def load_overrides(path: Path) -> CalendarOverrides:
    """The override file; CalendarError naming the file and the offending key on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"{path}: cannot read the calendar override file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_OverridesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CalendarError(f"{path}: not valid YAML: {exc}") from None
    return overrides_from(data, str(path))


def overrides_from(data: object, source: str) -> CalendarOverrides:
    """Overrides from parsed YAML or JSON (None: none); CalendarError naming `source` and key.

    Dates may be ``date`` objects or ``"YYYY-MM-DD"`` text (what ansible-inventory's JSON gives).
    """
    if data is None:
        return CalendarOverrides()
    if not isinstance(data, dict):
        raise CalendarError(
            f"{source}: expected a mapping with working_days and/or days_off, "
            f"got {type(data).__name__}"
        )
    unknown = sorted(str(key) for key in data if key not in _OVERRIDE_KEYS)
    if unknown:
        raise CalendarError(
            f"{source}: unknown key {unknown[0]!r} (expected working_days, days_off)"
        )
    working_days = _dated_notes(source, "working_days", data.get("working_days"))
    days_off = _dated_notes(source, "days_off", data.get("days_off"))
    both = sorted(working_days.keys() & days_off.keys())
    if both:
        raise CalendarError(
            f"{source}: {both[0].isoformat()} is in both working_days and days_off "
            "(a day is either worked or off)"
        )
    return CalendarOverrides(working_days=working_days, days_off=days_off)


def _dated_notes(source: str, key: str, value: object) -> dict[date, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CalendarError(f"{source}: {key}: expected a mapping of dates (YYYY-MM-DD) to notes")
    notes: dict[date, str] = {}
    for raw_day, note in value.items():
        day = _override_date(raw_day)
        if day is None:
            raise CalendarError(f"{source}: {key}: {raw_day!r} is not a date YYYY-MM-DD")
        if day in notes:  # a date object and its text, from a loader other than ours
            raise CalendarError(f"{source}: {key}: {day.isoformat()} is written twice")
        if not isinstance(note, str) or not note.strip():
            raise CalendarError(
                f"{source}: {key}: {day.isoformat()}: expected a note saying why (text)"
            )
        notes[day] = note
    return notes


def _override_date(value: object) -> date | None:
    # A datetime is a moment, not a day.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


class ServiceCalendar:
    """One calendar (settings and overrides) answering for every service that uses it.

    Answers are cached (holidays per year and language, due spans per day and per range):
    a report asks for the same ranges for hundreds of subjects.
    """

    def __init__(
        self, settings: CalendarSettings, overrides: CalendarOverrides | None = None
    ) -> None:
        self._settings = settings
        self._overrides = overrides or CalendarOverrides()
        self._tz = ZoneInfo(settings.timezone)
        self._workdays = frozenset(WEEKDAYS.index(day) for day in settings.workdays)
        self._hours = tuple(
            (clock_minutes(start), clock_minutes(end, end=True))
            for start, end in settings.business_hours
        )
        self._holidays: dict[tuple[int, str | None], dict[date, str]] = {}
        self._day_spans: dict[date, tuple[Span, ...]] = {}
        self._due: dict[Span, tuple[Span, ...]] = {}

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    def is_working_day(self, day: date) -> bool:
        if day in self._overrides.working_days:
            return True
        if day in self._overrides.days_off:
            return False
        return day.weekday() in self._workdays and day not in self._holiday_names(day.year)

    def due_spans(self, calendar: ServiceCalendarKind, span: Span) -> list[Span]:
        """The parts of `span` the service is due: sorted, merged, none empty."""
        if calendar == "24x7":
            return [span] if span.seconds else []
        if calendar != "business_hours":
            raise ValueError(f"unknown service calendar {calendar!r} (24x7, business_hours)")
        cached = self._due.get(span)
        if cached is None:
            cached = tuple(self._business_spans(span))
            if len(self._due) >= _DUE_CACHE_LIMIT:
                del self._due[next(iter(self._due))]  # the oldest: reports move forward
            self._due[span] = cached
        return list(cached)

    def notes(self, span: Span, language: Language) -> list[tuple[date, str]]:
        """Public holidays, days off and make-up working days on the local days `span` touches,
        by date, named in `language` (override notes as written)."""
        if not span.seconds:
            return []
        first, last = self._local_days(span)
        found: list[tuple[date, str]] = []
        for year in range(first.year, last.year + 1):
            names = self._holiday_names(year, HOLIDAY_LANGUAGES[language])
            found.extend((day, name) for day, name in names.items() if first <= day <= last)
        for overrides in (self._overrides.days_off, self._overrides.working_days):
            found.extend((day, note) for day, note in overrides.items() if first <= day <= last)
        # Stable sort: on a shared date the package's name comes before the override's note.
        return sorted(found, key=lambda item: item[0])

    def _business_spans(self, span: Span) -> list[Span]:
        if not span.seconds:
            return []
        first, last = self._local_days(span)
        out: list[Span] = []
        day = first
        while day <= last:
            for due in self._spans_of_day(day):
                if span.start <= due.start and due.end <= span.end:
                    out.append(due)
                elif due.end > span.start and due.start < span.end:
                    out.append(Span(max(due.start, span.start), min(due.end, span.end)))
            day += _ONE_DAY
        # Days ending at 24:00 touch the next day's 00:00 start: one span, not two.
        return merge_spans(out)

    def _spans_of_day(self, day: date) -> tuple[Span, ...]:
        spans = self._day_spans.get(day)
        if spans is None:
            spans = ()
            if self.is_working_day(day):
                bounds = ((self._epoch(day, s), self._epoch(day, e)) for s, e in self._hours)
                # A local time that a DST change skips can make an interval empty.
                spans = tuple(Span(start, end) for start, end in bounds if end > start)
            self._day_spans[day] = spans
        return spans

    def _epoch(self, day: date, minutes: int) -> int:
        # Wall-clock arithmetic on an aware datetime, then timestamp(): the offset in force at
        # that local time is applied (the right one on a DST day).
        midnight = datetime(day.year, day.month, day.day, tzinfo=self._tz)
        return int((midnight + timedelta(minutes=minutes)).timestamp())

    def _local_days(self, span: Span) -> tuple[date, date]:
        """First and last local day that the non-empty `span` touches."""
        first = datetime.fromtimestamp(span.start, self._tz).date()
        last = datetime.fromtimestamp(span.end - 1, self._tz).date()
        return first, last

    def _holiday_names(self, year: int, language: str | None = None) -> dict[date, str]:
        """The country's public holidays of `year`; None: the package's own language."""
        key = (year, language)
        names = self._holidays.get(key)
        if names is None:
            names = {}
            if self._settings.holidays:
                found = holiday_data.country_holidays(
                    self._settings.holidays, years=year, language=language
                )
                names = {day: str(name) for day, name in found.items()}
            self._holidays[key] = names
        return names
