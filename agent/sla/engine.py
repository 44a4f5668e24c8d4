"""The availability engine: from the inventory and the stored verdicts to report subjects.

Subjects are the connection points (sites) and the services of the catalogue. The rules are
in agent.sla.combine; this module decides which series, windows, uplinks and calendars apply
to which subject. Everything for a range is computed once (`SlaEngine.compute`), then any
number of reports (per department, service or level) are cut from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from agent.inventory.model import Host, Inventory
from agent.inventory.services import Service
from agent.sla import combine
from agent.sla.history import History, SeriesKey
from agent.sla.model import LevelRow, Subject, Tally
from agent.sla.timeline import SlaState, Span, Timeline, clip, constant

CONNECTION_POINTS = "connection_points"
SITE_LEVELS = ("province", "district", "commune")
LEVEL_RANK = {"province": 0, "dc": 0, "district": 1, "commune": 2}


class Calendar(Protocol):
    @property
    def tz(self) -> ZoneInfo: ...

    def due_spans(self, calendar: Literal["24x7", "business_hours"], span: Span) -> list[Span]: ...


#: The maintenance windows that apply to a host (and, for a service's component, to the
#: service): (window name, span) pairs inside the range.
Windows = Callable[[Span, str, str], list[tuple[str, Span]]]


@dataclass(frozen=True)
class SiteTerms:
    """What a connection point is held to (netmon_sla.connection_points, per host overrides)."""

    slo_target: float = 99.0
    calendar: Literal["24x7", "business_hours"] = "24x7"


@dataclass
class SlaEngine:
    inventory: Inventory
    history: History
    calendar: Calendar
    windows: Windows = lambda span, host, service: []
    site_terms: SiteTerms = field(default_factory=SiteTerms)
    #: Per host overrides of the SLO target (netmon_slo_target).
    site_targets: Mapping[str, float] = field(default_factory=dict)
    #: Per host: the checks a site is judged by (netmon_sla_checks; default all of them).
    site_checks: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: Below this data coverage a subject gets no verdict.
    min_coverage_pct: float = 0.0

    def sites(self) -> list[Host]:
        """The connection points: group connection_points, or else every monitored host at
        the province, district or commune level."""
        names = self.inventory.groups.get(CONNECTION_POINTS)
        if names:
            return [self.inventory.described[n] for n in names if n in self.inventory.described]
        return [h for h in self.inventory.hosts.values() if h.settings.netmon_level in SITE_LEVELS]

    def compute(self, span: Span) -> list[Subject]:
        run = _Run(self, span)
        subjects = [run.site(host) for host in sorted(self.sites(), key=lambda h: h.name)]
        subjects += [run.service(sid, svc) for sid, svc in sorted(self.inventory.services.items())]
        return subjects


class _Run:
    """One computation over one range: the series read once, site timelines memoised."""

    def __init__(self, engine: SlaEngine, span: Span) -> None:
        self.engine = engine
        #: Everything is computed a second wider on each side, so an incident that touches
        #: an end of the period can tell whether it began before it or goes on after it.
        self.report_span = span
        self.span = Span(span.start - 1, span.end + 1)
        inventory = engine.inventory

        def max_age(target: str) -> int:
            host = inventory.described.get(target)
            interval = host.settings.netmon_interval if host else 60.0
            return round(2 * interval)

        self.series: dict[tuple[str, str], dict[str, list[Timeline]]] = {}
        for key, timeline in sorted(engine.history.timelines(self.span, max_age).items()):
            by_check = self.series.setdefault((key.target, key.service), {})
            by_check.setdefault(key.check, []).append(timeline)
        self.uplinks = _uplinks(inventory, engine.history.neighbours(span))
        self._effective: dict[tuple[str, bool], Timeline] = {}
        self._visiting: set[str] = set()

    # -- components ------------------------------------------------------------------------

    def judged(self, host: str, service: str, checks: Sequence[str]) -> Timeline:
        """A component's own verdict: each check's agents best-first, the checks worst-first."""
        by_check = self.series.get((host, service), {})
        wanted = list(checks) or sorted(by_check)
        if not wanted:
            return constant(self.span, SlaState.UNKNOWN)
        per_check = [combine.best_of(by_check.get(check, []), self.span) for check in wanted]
        return combine.worst_of(per_check, self.span)

    def effective_site(self, host: str, planned: bool = True) -> Timeline:
        """A host's site timeline with its uplinks applied and, when `planned`, its
        maintenance windows (memoised). Incidents are found on the unplanned one, so an
        outage that ran into a window is reported whole, and charged only outside it."""
        key = (host, planned)
        if key in self._effective:
            return self._effective[key]
        self._visiting.add(host)
        own = self.judged(host, "", self._site_checks(host))
        if planned:
            windows = self.engine.windows(self.span, host, "")
            own = combine.apply_maintenance(own, windows, self.span)
        timeline = self._upstream(host, own, planned)
        self._visiting.discard(host)
        self._effective[key] = timeline
        return timeline

    def _upstream(self, host: str, own: Timeline, planned: bool) -> Timeline:
        uplink = self.uplinks.get(host)
        if not uplink or uplink in self._visiting:  # a loop of uplinks: stop, do not recurse
            return own
        unplanned = self.effective_site(uplink, planned=False)
        excused = self.effective_site(uplink, planned=True) if planned else unplanned
        return combine.attribute_upstream(own, unplanned, excused, uplink, self.span)

    def _site_checks(self, host: str) -> Sequence[str]:
        return self.engine.site_checks.get(host, ())

    # -- subjects --------------------------------------------------------------------------

    def site(self, host: Host) -> Subject:
        unplanned = self.effective_site(host.name, planned=False)
        planned = self.effective_site(host.name)
        terms = self.engine.site_terms
        target = self.engine.site_targets.get(host.name, terms.slo_target)
        settings = host.settings
        return self._subject(
            kind="site",
            ident=host.name,
            name=settings.netmon_site_name or settings.netmon_site,
            name_en=settings.netmon_site,
            department=settings.netmon_department,
            level=settings.netmon_level,
            district=settings.netmon_district,
            slo_target=target,
            calendar=terms.calendar,
            unplanned=unplanned,
            planned=planned,
            is_service=False,
        )

    def service(self, ident: str, service: Service) -> Subject:
        inventory = self.engine.inventory
        required = list(service.hosts)
        pool = [h for h in service.components(dict(inventory.groups)) if h not in set(required)]
        checks = service.checks

        def component(host: str, planned: bool) -> Timeline:
            own = self.judged(host, ident, checks)
            if planned:
                windows = self.engine.windows(self.span, host, ident)
                own = combine.apply_maintenance(own, windows, self.span)
            return self._upstream(host, own, planned)

        def rollup(planned: bool) -> Timeline:
            parts = [component(h, planned) for h in required]
            if pool:
                members = [component(h, planned) for h in pool]
                parts.append(combine.pool_of(members, self.span, pool))
            return combine.worst_of(parts, self.span, [*required, *(["pool"] if pool else [])])

        first = (
            inventory.described.get(required[0] if required else pool[0])
            if (required or pool)
            else None
        )
        return self._subject(
            kind="service",
            ident=ident,
            name=service.name,
            name_en=service.name_en or service.name,
            department=service.department,
            level=first.settings.netmon_level if first else "dc",
            district="",
            slo_target=service.slo_target,
            calendar=service.calendar,
            unplanned=rollup(planned=False),
            planned=rollup(planned=True),
            is_service=True,
        )

    def _subject(
        self,
        *,
        kind: Literal["site", "service"],
        ident: str,
        name: str,
        name_en: str,
        department: str,
        level: str,
        district: str,
        slo_target: float,
        calendar: Literal["24x7", "business_hours"],
        unplanned: Timeline,
        planned: Timeline,
        is_service: bool,
    ) -> Subject:
        due = self.engine.calendar.due_spans(calendar, self.span)
        wide = combine.apply_calendar(planned, due, self.span)
        final = clip(wide, self.report_span)
        return Subject(
            kind=kind,
            id=ident,
            name=name,
            name_en=name_en,
            department=department,
            level=level,
            district=district,
            slo_target=slo_target,
            calendar=calendar,
            tally=Tally.of(final),
            daily=tuple(combine.daily(final, self.report_span, self.engine.calendar.tz)),
            incidents=tuple(
                combine.incidents(unplanned, wide, self.report_span, ident, is_service)
            ),
            timeline=final,
            min_coverage_pct=self.engine.min_coverage_pct,
        )


def _uplinks(inventory: Inventory, lldp: Mapping[str, frozenset[str]]) -> dict[str, str]:
    """host → the host it hangs off: netmon_uplink, or else the one LLDP neighbour a level up
    (a commune router's neighbour at the district level, a district's at the province)."""
    found = {
        name: host.settings.netmon_uplink
        for name, host in inventory.described.items()
        if host.settings.netmon_uplink
    }
    for name, neighbours in lldp.items():
        host = inventory.described.get(name)
        if host is None or name in found:
            continue
        rank = LEVEL_RANK.get(host.settings.netmon_level, 9)
        above = [
            n
            for n in neighbours
            if n in inventory.described
            and LEVEL_RANK.get(inventory.described[n].settings.netmon_level, 9) < rank
        ]
        if len(above) == 1:
            found[name] = above[0]
    return found


def level_rows(subjects: Sequence[Subject]) -> list[LevelRow]:
    """Sites rolled up per level and district, province first, then each district's own
    points, then its communes; and a total per level."""
    groups: dict[tuple[str, str], list[Subject]] = {}
    for subject in subjects:
        if subject.kind != "site":
            continue
        district = (
            subject.district if subject.level == "commune" or subject.level == "district" else ""
        )
        groups.setdefault((subject.level, district), []).append(subject)
    rows = []
    for (level, district), members in sorted(
        groups.items(), key=lambda item: (LEVEL_RANK.get(item[0][0], 9), item[0][1])
    ):
        tally = sum((m.tally for m in members), Tally())
        rows.append(
            LevelRow(
                level=level,
                district=district,
                sites=len(members),
                tally=tally,
                sites_met=sum(1 for m in members if m.met is True),
                sites_missed=sum(1 for m in members if m.met is False),
            )
        )
    return rows


__all__ = ["Calendar", "SeriesKey", "SiteTerms", "SlaEngine", "level_rows"]
