"""Report periods as operators write them: a month, a quarter, a year or a range of days.

``2026-10`` · ``2026-Q4`` · ``2026`` · ``2026-10-01..2026-10-15`` (both days included) ·
``last-month`` · ``this-month`` (month to date). Days are local to the SLA time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from agent.sla.timeline import Span


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    label: str
    first: date
    #: The day after the last one (exclusive end), or None for "up to now".
    after: date
    #: When set, the period ends at this instant instead (month to date).
    until: int | None = None

    def span(self, tz: ZoneInfo) -> Span:
        start = _midnight(self.first, tz)
        end = self.until if self.until is not None else _midnight(self.after, tz)
        return Span(start, max(start, end))

    @property
    def kind(self) -> str:
        """month | quarter | year | range (for the report's wording)."""
        if re.fullmatch(r"\d{4}-\d{2}", self.label):
            return "month"
        if re.fullmatch(r"\d{4}-Q[1-4]", self.label):
            return "quarter"
        if re.fullmatch(r"\d{4}", self.label):
            return "year"
        return "range"


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def _month_after(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1)


def parse_period(text: str, *, now: int, tz: ZoneInfo) -> Period:
    """The period `text` names, ending at `now` if it has not ended yet (the days to come
    are not "no data"); a period that has not begun is refused."""
    period = _parse(text, now=now, tz=tz)
    if period.span(tz).start > now:
        raise PeriodError(f"period {text!r} has not begun yet")
    if period.until is None and period.span(tz).end > now:
        return Period(period.label, period.first, period.after, now)
    return period


def _parse(text: str, *, now: int, tz: ZoneInfo) -> Period:
    text = text.strip()
    if (lead := re.match(r"(\d{4})", text)) and not 1970 <= int(lead[1]) <= 9998:
        raise PeriodError(f"period {text!r}: the year must be between 1970 and 9998")
    today = datetime.fromtimestamp(now, tz).date()
    if text in ("this-month", "last-month"):
        first = today.replace(day=1)
        if text == "last-month":
            first = (first - timedelta(days=1)).replace(day=1)
            return Period(f"{first:%Y-%m}", first, today.replace(day=1))
        return Period(f"{first:%Y-%m}", first, _month_after(first.year, first.month), now)
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"period {text!r}: no month {month}")
        return Period(text, date(year, month, 1), _month_after(year, month))
    if m := re.fullmatch(r"(\d{4})-[Qq]([1-4])", text):
        year, quarter = int(m[1]), int(m[2])
        first = date(year, 3 * quarter - 2, 1)
        return Period(f"{year}-Q{quarter}", first, _month_after(year, 3 * quarter))
    if re.fullmatch(r"\d{4}", text):
        return Period(text, date(int(text), 1, 1), date(int(text) + 1, 1, 1))
    if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", text):
        try:
            first, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
        except ValueError as exc:
            raise PeriodError(f"period {text!r}: {exc}") from None
        if last < first:
            raise PeriodError(f"period {text!r}: the last day is before the first")
        return Period(text, first, last + timedelta(days=1))
    raise PeriodError(
        f"period {text!r} not understood: give YYYY-MM, YYYY-Qn, YYYY, "
        "YYYY-MM-DD..YYYY-MM-DD, last-month or this-month"
    )
