"""``netmon_sla``: the SLA rules of the province, in group_vars/all beside the catalogue.

::

    netmon_sla:
      calendar:                     # agent.sla.calendar.CalendarSettings
        timezone: Asia/Ho_Chi_Minh
        business_hours: [["07:30", "11:30"], ["13:00", "17:00"]]
        holidays: VN                # Vietnamese public holidays (PyPI holidays)
        overrides_file: calendar-overrides.yml   # make-up working days, extra days off
      min_coverage_pct: 90          # less data than this: no verdict, "not enough data"
      connection_points:            # what every connection point is held to
        slo_target: 99.0
        calendar: 24x7
      maintenance:                  # network-wide windows (a service's own: in the catalogue)
        - name: Nâng cấp phần mềm router huyện Dầu Tiếng
          hosts: [h-dautieng-ubnd-rt]
          start: "2026-10-04 22:00"
          end: "2026-10-05 02:00"
      report:                       # the issuing body and signer on the PDF (Decree 30/2020)
        issuer_parent: UBND TỈNH BÌNH DƯƠNG
        issuer: SỞ THÔNG TIN VÀ TRUYỀN THÔNG
        place: Bình Dương
        signer_title: Giám đốc
        signer_name: ""

A host may override its connection-point target with ``netmon_slo_target`` and choose the
checks it is judged by with ``netmon_sla_checks`` (default: all of its checks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from agent.sla.calendar import CalendarSettings
from agent.sla.maintenance import MaintenanceWindow, window_spans
from agent.sla.timeline import Span

VARIABLE = "netmon_sla"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConnectionPointTerms(_Strict):
    slo_target: float = Field(default=99.0, gt=0.0, le=100.0)
    calendar: Literal["24x7", "business_hours"] = "24x7"


class ReportIssuer(_Strict):
    issuer_parent: str = ""
    issuer: str = ""
    place: str = ""
    signer_title: str = ""
    signer_name: str = ""


class SlaSettings(_Strict):
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    #: A subject whose due time had data for less than this share gets no verdict (neither
    #: met nor missed): the report says there was not enough data.
    min_coverage_pct: float = Field(default=90.0, ge=0.0, le=100.0)
    connection_points: ConnectionPointTerms = Field(default_factory=ConnectionPointTerms)
    maintenance: tuple[MaintenanceWindow, ...] = ()
    report: ReportIssuer = Field(default_factory=ReportIssuer)


class WindowIndex:
    """Which maintenance windows apply to a host, or to a host as a service's component."""

    def __init__(
        self,
        network: Sequence[MaintenanceWindow],
        services: Mapping[str, Sequence[MaintenanceWindow]],
        groups: Mapping[str, Sequence[str]],
        tz: ZoneInfo,
    ) -> None:
        self.network = network
        self.services = services
        self.members = {group: frozenset(hosts) for group, hosts in groups.items()}
        self.tz = tz
        self._spans: dict[tuple[int, Span], list[Span]] = {}

    def _occurrences(self, window: MaintenanceWindow, span: Span) -> list[Span]:
        key = (id(window), span)
        if key not in self._spans:
            self._spans[key] = window_spans(window, span, self.tz)
        return self._spans[key]

    def _covers(self, window: MaintenanceWindow, host: str, service: str) -> bool:
        return (
            host in window.hosts
            or any(host in self.members.get(group, ()) for group in window.groups)
            or (bool(service) and service in window.services)
        )

    def __call__(self, span: Span, host: str, service: str) -> list[tuple[str, Span]]:
        found = [
            (w.name, s)
            for w in self.network
            if self._covers(w, host, service)
            for s in self._occurrences(w, span)
        ]
        if service:
            found += [
                (w.name, s)
                for w in self.services.get(service, ())
                for s in self._occurrences(w, span)
            ]
        return found
