"""The report's figures written back as ``sla`` samples, so Grafana shows the same numbers.

One sample per subject and period, at the period's first second: tags ``kind`` (site or
service), ``service`` (services), ``period`` (e.g. 2026-10) and the inventory tags of a site
(site, level, department, district); a service carries its owning ``department``. Writing the
same period again overwrites it (same series, same time), so a re-run corrects a report.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.inventory.model import Inventory
from agent.samples import Sample
from agent.schema import FieldType, Measurement
from agent.sla.model import Subject

F, INT = FieldType.FLOAT, FieldType.INT

SLA = Measurement(
    name="sla",
    tags=frozenset({"kind", "service", "period"}),
    fields={
        "availability_pct": F,  # absent when nothing was measured (all unknown or excused)
        "slo_target": F,
        "met": INT,  # 1 met, 0 missed; absent when nothing was measured
        "uptime_s": INT,
        "degraded_s": INT,
        "downtime_s": INT,
        "unknown_s": INT,
        "maintenance_s": INT,
        "upstream_s": INT,  # down because of an upstream link: charged to that link
        "excluded_s": INT,  # outside the service calendar
        "measured_s": INT,  # the availability's denominator
        "incidents": INT,
    },
    units={
        "availability_pct": "percent",
        "slo_target": "percent",
        **{name: "seconds" for name in ("uptime_s", "degraded_s", "downtime_s", "unknown_s")},
        **{name: "seconds" for name in ("maintenance_s", "upstream_s", "excluded_s")},
        "measured_s": "seconds",
    },
    description="Availability per service and connection point per report period (netmon sla).",
)


def sla_samples(
    subjects: Sequence[Subject], period: str, start: int, inventory: Inventory
) -> list[Sample]:
    samples = []
    for subject in subjects:
        tags = {"kind": subject.kind, "period": period}
        if subject.kind == "service":
            tags["service"] = subject.id
            if subject.department:
                tags["department"] = subject.department
        elif subject.id in inventory.described:
            tags.update(inventory.described[subject.id].tags)
        tally = subject.tally
        fields: dict[str, bool | int | float | str] = {
            "slo_target": float(subject.slo_target),
            "uptime_s": tally.up_s,
            "degraded_s": tally.degraded_s,
            "downtime_s": tally.down_s,
            "unknown_s": tally.unknown_s,
            "maintenance_s": tally.maintenance_s,
            "upstream_s": tally.upstream_s,
            "excluded_s": tally.excluded_s,
            "measured_s": tally.measured_s,
            "incidents": sum(1 for i in subject.incidents if not i.upstream),
        }
        if subject.availability_pct is not None:
            fields["availability_pct"] = subject.availability_pct
            fields["met"] = int(bool(subject.met))
        sample = Sample("sla", tags, fields)
        sample.timestamp_ns = start * 1_000_000_000
        samples.append(sample)
    return samples
