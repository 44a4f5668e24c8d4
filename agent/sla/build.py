"""Assembling the engine from the inventory, and cutting reports out of its results."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from agent.inventory.model import Inventory
from agent.sla.calendar import ServiceCalendar
from agent.sla.engine import SiteTerms, SlaEngine, level_rows
from agent.sla.history import History
from agent.sla.model import Language, Report, Subject
from agent.sla.settings import WindowIndex
from agent.sla.timeline import Span


def calendar_of(inventory: Inventory) -> ServiceCalendar:
    return ServiceCalendar(inventory.sla.calendar, inventory.calendar_overrides)


def build_engine(inventory: Inventory, history: History) -> SlaEngine:
    calendar = calendar_of(inventory)
    sla = inventory.sla
    windows = WindowIndex(
        sla.maintenance,
        {sid: svc.maintenance for sid, svc in inventory.services.items()},
        inventory.groups,
        calendar.tz,
    )
    hosts = inventory.described.values()
    return SlaEngine(
        inventory,
        history,
        calendar,
        windows=windows,
        site_terms=SiteTerms(sla.connection_points.slo_target, sla.connection_points.calendar),
        site_targets={
            h.name: h.settings.netmon_slo_target
            for h in hosts
            if h.settings.netmon_slo_target is not None
        },
        site_checks={h.name: h.settings.netmon_sla_checks for h in hosts},
        min_coverage_pct=sla.min_coverage_pct,
    )


def lookback_s(inventory: Inventory) -> int:
    """How far before a range a sample can still cover it: two of the longest interval."""
    intervals = [h.settings.netmon_interval for h in inventory.described.values()]
    return round(2 * max(intervals, default=60.0))


@dataclass(frozen=True)
class Selection:
    """Which subjects a report covers. Empty: the whole province."""

    department: str = ""
    service: str = ""
    level: str = ""
    district: str = ""

    def keeps(self, subject: Subject) -> bool:
        if self.department and subject.department != self.department:
            return False
        if self.service and not (subject.kind == "service" and subject.id == self.service):
            return False
        if self.level and not (subject.kind == "site" and subject.level == self.level):
            return False
        return not self.district or subject.district == self.district


def departments(subjects: Sequence[Subject]) -> list[str]:
    return sorted({s.department for s in subjects if s.department})


def build_report(
    subjects: Sequence[Subject],
    selection: Selection,
    *,
    inventory: Inventory,
    span: Span,
    period: str,
    language: Language,
    generated_at: int | None = None,
) -> Report:
    chosen = tuple(s for s in subjects if selection.keeps(s))
    calendar = calendar_of(inventory)
    issuer = inventory.sla.report
    return Report(
        start=span.start,
        end=span.end,
        timezone=str(calendar.tz),
        period=period,
        department=selection.department,
        language=language,
        generated_at=int(time.time()) if generated_at is None else generated_at,
        subjects=chosen,
        levels=tuple(level_rows(chosen)),
        calendar_notes=tuple(calendar.notes(span, language)),
        issuer=issuer.issuer,
        issuer_parent=issuer.issuer_parent,
        place=issuer.place,
        signer_title=issuer.signer_title,
        signer_name=issuer.signer_name,
    )


def slug(text: str) -> str:
    """A file name from a department's name: 'Sở Thông tin và Truyền thông' → so-thong-tin-…"""
    text = text.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "report"
