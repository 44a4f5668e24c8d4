"""``netmon discover HOST``: which profile a device gets, and what it will collect.

Polls the device once, exactly as the agent would (first contact: sysObjectID chooses the
profile), writes nothing, and reports the profile, its composition, every measurement with its
fields, units and enumerations, and what the poll cost (requests, values per request).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.collector import CollectorContext, Target
from agent.results import Result
from agent.samples import Sample
from agent.schema import SchemaRegistry, base_schema
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.config import SnmpConfig
from collectors.snmp.profiles import Profile, oid_text


@dataclass
class MeasurementPlan:
    """One measurement the profile writes: what it is made of and what the poll found."""

    name: str
    kind: str  # "scalars" (the snmp row), "group" (one row of scalars) or "table"
    tags: list[str]
    fields: dict[str, str]  # field → "type [unit] {enum}"
    rows: int = 0


@dataclass
class Discovery:
    host: str
    address: str
    result: str
    sys_object_id: str = ""
    sys_descr: str = ""
    profile: str = ""
    chain: list[str] = field(default_factory=list)
    measurements: list[MeasurementPlan] = field(default_factory=list)
    requests: int = 0
    values: int = 0
    max_repetitions: int = 0
    error: str = ""

    @property
    def values_per_request(self) -> float:
        return self.values / self.requests if self.requests else 0.0


def _describe(schema: SchemaRegistry, name: str, names: list[str]) -> dict[str, str]:
    declared = schema.get(name)
    described = {}
    for field_name in names:
        kind = declared.fields.get(field_name) if declared else None
        text = str(kind) if kind else "?"
        if declared and field_name in declared.units:
            text += f" [{declared.units[field_name]}]"
        if declared and field_name in declared.enums:
            names_text = ", ".join(
                f"{k} {v}" for k, v in sorted(declared.enums[field_name].items())
            )
            text += f" {{{names_text}}}"
        if declared and field_name in declared.counters:
            text += f" (Counter{declared.counters[field_name]})"
        described[field_name] = text
    return described


def plan(profile: Profile, schema: SchemaRegistry) -> list[MeasurementPlan]:
    """What `profile` collects, measurement by measurement."""
    plans = [
        MeasurementPlan(
            "snmp",
            "scalars",
            ["source", *(c.name for c in profile.scalars if c.tag)],
            _describe(schema, "snmp", [c.name for c in profile.scalars if not c.tag]),
        )
    ]
    for group in profile.groups:
        plans.append(
            MeasurementPlan(
                group.measurement,
                "group",
                ["source", "sysName", *(c.name for c in group.fields if c.tag)],
                _describe(schema, group.measurement, [c.name for c in group.fields if not c.tag]),
            )
        )
    for table in profile.tables:
        if not table.emit:
            continue
        fields = [c.name for c in table.columns if not c.tag]
        fields += [c.fallback.name for c in table.columns if c.fallback is not None]
        tags = ["source", "sysName", *sorted(table.index_tags), *table.lookups]
        tags += [c.name for c in table.columns if c.tag]
        plans.append(
            MeasurementPlan(
                table.measurement, "table", tags, _describe(schema, table.measurement, fields)
            )
        )
    return plans


async def discover(target: Target, receive_buffer_bytes: int) -> Discovery:
    """Poll `target` once with a collector of its own and report what it chose and found."""
    schema = base_schema()
    collector = SnmpCollector(CollectorContext(schema, receive_buffer_bytes))
    try:
        samples = await collector.collect(target)
    finally:
        await collector.close()
    return report(target, collector, schema, samples)


def report(
    target: Target, collector: SnmpCollector, schema: SchemaRegistry, samples: list[Sample]
) -> Discovery:
    status = samples[0]
    found = Discovery(target.host, target.address, status.tags.get("result", "?"))
    found.requests = int(status.fields.get("requests", 0))
    found.values = int(status.fields.get("values_polled", 0))
    device = collector.device(target.host)
    if device is None or device.profile is None:
        found.error = f"the device did not answer ({found.result})"
        return found
    found.sys_object_id = oid_text(device.sys_object_id) if device.sys_object_id else ""
    found.sys_descr = device.sys_descr
    found.profile = device.profile.name
    found.chain = list(device.profile.chain)
    found.max_repetitions = device.pacing.max_repetitions
    rows = Counter(sample.measurement for sample in samples[1:])
    found.measurements = plan(device.profile, schema)
    for each in found.measurements:
        each.rows = 1 if each.kind == "scalars" else rows.get(each.name, 0)
    return found


def render(found: Discovery) -> list[str]:
    lines = [f"host         {found.host} ({found.address})"]
    if found.error:
        return [*lines, f"error        {found.error}"]
    lines += [
        f"sysObjectID  {found.sys_object_id or 'not answered'}",
        f"sysDescr     {found.sys_descr.splitlines()[0] if found.sys_descr else ''}",
        f"profile      {found.profile} (composed of {', '.join(found.chain)})",
        "",
        "will collect:",
    ]
    for each in found.measurements:
        lines.append(
            f"  {each.name} ({each.kind}, {each.rows} rows now)  tags: {', '.join(each.tags)}"
        )
        width = max((len(name) for name in each.fields), default=0)
        lines += [f"      {name:<{width}}  {text}" for name, text in each.fields.items()]
    lines += [
        "",
        f"this poll: {found.requests} requests, {found.values} values "
        f"({found.values_per_request:.1f} per request); GETBULK asks "
        f"{found.max_repetitions} rows per column; result {found.result}",
    ]
    return lines


def as_json(found: Discovery) -> str:
    data: dict[str, Any] = asdict(found)
    data["values_per_request"] = round(found.values_per_request, 2)
    return json.dumps(data, indent=2, ensure_ascii=False)


def snmp_target(targets: list[Target]) -> Target | None:
    return next(
        (t for t in targets if t.check == "snmp" and isinstance(t.config, SnmpConfig)), None
    )


def succeeded(found: Discovery) -> bool:
    return not found.error and found.result == Result.SUCCESS.tag


def run(target: Target, receive_buffer_bytes: int) -> Discovery:
    return asyncio.run(discover(target, receive_buffer_bytes))
