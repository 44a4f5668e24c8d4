"""What an SLA report says: the figures the engine computed, ready for any renderer.

The engine (agent.sla.engine) fills these; the renderers (agent.sla.render) only format them.
Times are whole Unix seconds; renderers show them in the report's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from agent.sla.timeline import SlaState, Timeline

SubjectKind = Literal["service", "site"]
Language = Literal["vi", "en"]


@dataclass(frozen=True)
class Tally:
    """Seconds in each state over a range. Availability counts only what is known and due:
    up (and degraded, which is still serving) against down; unknown, maintenance, upstream
    and excluded time are left out, and shown beside it."""

    up_s: int = 0
    degraded_s: int = 0
    down_s: int = 0
    unknown_s: int = 0
    maintenance_s: int = 0
    upstream_s: int = 0
    excluded_s: int = 0

    @staticmethod
    def of(timeline: Timeline) -> Tally:
        seconds = dict.fromkeys(SlaState, 0)
        for seg in timeline:
            seconds[seg.state] += seg.seconds
        return Tally.from_seconds(seconds)

    @staticmethod
    def from_seconds(seconds: dict[SlaState, int]) -> Tally:
        return Tally(
            up_s=seconds[SlaState.UP],
            degraded_s=seconds[SlaState.DEGRADED],
            down_s=seconds[SlaState.DOWN],
            unknown_s=seconds[SlaState.UNKNOWN],
            maintenance_s=seconds[SlaState.MAINTENANCE],
            upstream_s=seconds[SlaState.UPSTREAM],
            excluded_s=seconds[SlaState.EXCLUDED],
        )

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.up_s + other.up_s,
            self.degraded_s + other.degraded_s,
            self.down_s + other.down_s,
            self.unknown_s + other.unknown_s,
            self.maintenance_s + other.maintenance_s,
            self.upstream_s + other.upstream_s,
            self.excluded_s + other.excluded_s,
        )

    @property
    def scheduled_s(self) -> int:
        """Seconds inside the service calendar."""
        return self.total_s - self.excluded_s

    @property
    def total_s(self) -> int:
        return (
            self.up_s
            + self.degraded_s
            + self.down_s
            + self.unknown_s
            + self.maintenance_s
            + self.upstream_s
            + self.excluded_s
        )

    @property
    def measured_s(self) -> int:
        """The denominator of the availability: known, due, not excused."""
        return self.up_s + self.degraded_s + self.down_s

    @property
    def availability_pct(self) -> float | None:
        """None when nothing was measured (all unknown, maintenance or outside the calendar)."""
        if not self.measured_s:
            return None
        return 100.0 * (self.up_s + self.degraded_s) / self.measured_s

    @property
    def coverage_pct(self) -> float | None:
        """How much of the due time had data: low coverage makes the availability weak."""
        due = self.scheduled_s - self.maintenance_s
        if due <= 0:
            return None
        return 100.0 * (due - self.unknown_s) / due


@dataclass(frozen=True)
class Incident:
    """One outage: a maximal run of down (or upstream-attributed) time of a subject."""

    start: int
    end: int
    #: The component that failed (a service's host), or the subject itself for a site.
    component: str
    #: What the failed polls said (e.g. "timeout", "http 503"), or the upstream host.
    cause: str
    #: The upstream host the run was charged to ("" when it is this subject's own).
    upstream: str = ""
    #: Seconds charged against the SLO: inside the calendar, outside maintenance.
    charged_s: int = 0
    #: The outage began before the report's range / was still going at its end.
    open_start: bool = False
    open_end: bool = False

    @property
    def seconds(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class DailyTally:
    day: date  # in the report's time zone
    tally: Tally


@dataclass(frozen=True)
class Subject:
    """One line of a report: a service, or a connection point (site)."""

    kind: SubjectKind
    id: str  # service id, or the inventory host of the site's connection point
    name: str  # Vietnamese, as the department says it
    name_en: str
    department: str
    level: str  # province | district | commune | dc
    district: str
    slo_target: float
    calendar: str  # 24x7 | business_hours
    tally: Tally
    daily: tuple[DailyTally, ...]
    incidents: tuple[Incident, ...]
    timeline: Timeline = field(default_factory=list)
    #: Below this share of due time with data, no verdict is given (netmon_sla.min_coverage_pct).
    min_coverage_pct: float = 0.0

    @property
    def availability_pct(self) -> float | None:
        return self.tally.availability_pct

    @property
    def met(self) -> bool | None:
        """Whether the SLO was met; None when nothing was measured, or too little of the due
        time had data to say (three minutes of a month are no evidence)."""
        pct = self.availability_pct
        coverage = self.tally.coverage_pct
        if pct is None or coverage is None or coverage < self.min_coverage_pct:
            return None
        return pct >= self.slo_target

    @property
    def budget_s(self) -> float:
        """Downtime the SLO allows over the measured time."""
        return self.tally.measured_s * (100.0 - self.slo_target) / 100.0


@dataclass(frozen=True)
class LevelRow:
    """Roll-up of the sites of one level (and district): province → district → commune."""

    level: str
    district: str  # "" for the province and dc levels
    sites: int
    tally: Tally
    sites_met: int
    sites_missed: int


@dataclass(frozen=True)
class Report:
    start: int
    end: int
    timezone: str
    #: "2026-10", "2026-Q4" or "2026-10-01..2026-10-15" (as asked for).
    period: str
    #: The department the report is for, or "" for every department.
    department: str
    language: Language
    generated_at: int
    subjects: tuple[Subject, ...]
    levels: tuple[LevelRow, ...] = ()
    #: Public holidays and make-up working days inside the range (date, name), for the notes.
    calendar_notes: tuple[tuple[date, str], ...] = ()
    #: The issuing body and signer for the PDF's header and signature block (Decree 30).
    issuer: str = ""
    issuer_parent: str = ""
    place: str = ""
    signer_title: str = ""
    signer_name: str = ""
