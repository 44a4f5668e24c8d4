"""The schema registry: every measurement the agent writes, its tags and its field types.

InfluxDB rejects a write whose field type differs from the type already stored, so a field's
type is fixed here once and for all. Collectors declare what they emit (the SNMP collector
declares its profiles' tables when it loads them); the pipeline drops, counts and logs anything
undeclared, and tests assert that nothing was dropped.

Tags are bounded sets of values (indexed); free text belongs in fields.

Counters
--------
A measurement names which of its fields are SNMP counters, and their width
(``Measurement.counters``: ``{"ifHCInOctets": 64, "ifInOctets": 32}``). Those fields are written
as **continuous counters** (the guard is `agent.counters`):

- as long as nothing discontinuous happens, the written value *is* the device's raw counter, so a
  series reads like Telegraf's and ``non_negative_derivative`` works on it as usual;
- a 32-bit counter that wraps is extended past 2**32 (the field, an ``int``, goes on counting),
  so the rate across the wrap is exact instead of missing;
- at a discontinuity (the device restarted: sysUpTime went back or a coldStart trap came; the
  row's ``ifCounterDiscontinuityTime`` changed; a 64-bit counter went down) the written value
  stays where it was: the interval holding the event reads as no traffic, and that sample
  carries the boolean field ``counter_discontinuity = true`` (declared automatically for every
  measurement with counters, written only when true);
- across an agent restart the offsets are kept (a state file), so a series neither falls back
  to the raw counter nor jumps.

So a written value equals what ``snmpget`` shows until the first wrap or discontinuity; after
one it differs by a constant offset. The written value never goes down and never jumps, so the
rate query for a dashboard is::

    SELECT non_negative_derivative(max("ifHCInOctets"), 1s) * 8 FROM "interface"
    WHERE $timeFilter GROUP BY time($__interval), "source", "ifName"

and it shows neither a spike nor a gap at a reboot or a wrap.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from agent.samples import Sample, Unsigned


class FieldType(StrEnum):
    INT = "int"
    UINT = "uint"  # SNMP Counter64; see agent.output.lineprotocol for its encoding
    FLOAT = "float"
    STR = "str"
    BOOL = "bool"


#: Tags that every sample carries, taken from the inventory (DESIGN §5).
INVENTORY_TAGS = frozenset({"site", "level", "department", "district", "agent"})

#: The field that marks a sample whose counters were held at a discontinuity (module docstring).
COUNTER_DISCONTINUITY = "counter_discontinuity"
#: SNMP counter widths in bits: Counter32 and Counter64 (RFC 2578 §7.1.6, §7.1.10).
COUNTER_WIDTHS = frozenset({32, 64})


@dataclass(frozen=True)
class Measurement:
    """One measurement: its tags, its typed fields, and which fields are counters.

    `counters` maps a field name to its counter width in bits (32 or 64); such a field must be
    declared an ``int`` or ``uint`` in `fields`.
    """

    name: str
    tags: frozenset[str]
    fields: Mapping[str, FieldType]
    description: str = ""
    counters: Mapping[str, int] = field(default_factory=dict)
    #: What a numeric field counts ("percent", "centiseconds", ...), for dashboards and docs.
    units: Mapping[str, str] = field(default_factory=dict)
    #: An integer field's enumeration (the MIB's names), for dashboards' value mappings.
    enums: Mapping[str, Mapping[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, width in self.counters.items():
            if width not in COUNTER_WIDTHS:
                raise ValueError(f"{self.name}.{name}: a counter is 32 or 64 bits, not {width}")
            if self.fields.get(name) not in (FieldType.INT, FieldType.UINT):
                raise ValueError(f"{self.name}.{name}: a counter must be an int or uint field")

    @functools.cached_property
    def allowed_tags(self) -> frozenset[str]:
        """Its own tags and the inventory's: checked for every sample, so computed once."""
        return self.tags | INVENTORY_TAGS


class SchemaConflictError(ValueError):
    """A measurement declared twice with different tags or field types."""


def _type_of(value: object) -> FieldType:
    if isinstance(value, bool):
        return FieldType.BOOL
    if isinstance(value, Unsigned):
        return FieldType.UINT
    if isinstance(value, int):
        return FieldType.INT
    if isinstance(value, float):
        return FieldType.FLOAT
    return FieldType.STR


@dataclass
class SchemaRegistry:
    _measurements: dict[str, Measurement] = field(default_factory=dict)

    def declare(self, measurement: Measurement) -> None:
        """Declare a measurement; declaring it again is fine only if nothing conflicts.

        Re-declarations merge: a later profile may add fields to `interface`, but may never
        change the type of a field already declared.
        """
        if measurement.counters:
            # Declared with the counters, so that a guarded sample always conforms.
            fields = {**measurement.fields, COUNTER_DISCONTINUITY: FieldType.BOOL}
            measurement = dataclasses.replace(measurement, fields=fields)
        known = self._measurements.get(measurement.name)
        if known is None:
            self._measurements[measurement.name] = measurement
            return
        for name, kind in measurement.fields.items():
            if name in known.fields and known.fields[name] is not kind:
                raise SchemaConflictError(
                    f"{measurement.name}.{name} is declared as {known.fields[name]} "
                    f"and again as {kind}"
                )
        for name, width in measurement.counters.items():
            if known.counters.get(name, width) != width:
                raise SchemaConflictError(
                    f"{measurement.name}.{name} is declared a {known.counters[name]}-bit "
                    f"counter and again a {width}-bit one"
                )
        self._measurements[measurement.name] = Measurement(
            name=measurement.name,
            tags=known.tags | measurement.tags,
            fields={**known.fields, **measurement.fields},
            description=known.description or measurement.description,
            counters={**known.counters, **measurement.counters},
            units={**known.units, **measurement.units},
            enums={**known.enums, **measurement.enums},
        )

    def get(self, name: str) -> Measurement | None:
        return self._measurements.get(name)

    def counters(self, name: str) -> Mapping[str, int]:
        """The counter fields of measurement `name` and their widths (empty if none)."""
        declared = self._measurements.get(name)
        return declared.counters if declared is not None else {}

    def __iter__(self) -> Iterator[Measurement]:
        return iter(sorted(self._measurements.values(), key=lambda m: m.name))

    def conforming(self, samples: Iterable[Sample]) -> tuple[list[Sample], list[str]]:
        """The samples that conform, and for each one that does not, its first problem."""
        kept: list[Sample] = []
        rejected: list[str] = []
        for sample in samples:
            problems = self.problems(sample)
            if problems:
                rejected.append(problems[0])
            else:
                kept.append(sample)
        return kept, rejected

    def problems(self, sample: Sample) -> list[str]:
        """What in `sample` is not declared (empty when the sample conforms)."""
        declared = self._measurements.get(sample.measurement)
        if declared is None:
            return [f"undeclared measurement {sample.measurement!r}"]
        found: list[str] = []
        allowed_tags = declared.allowed_tags
        found.extend(
            f"{sample.measurement}: undeclared tag {tag!r}"
            for tag in sample.tags
            if tag not in allowed_tags
        )
        for name, value in sample.fields.items():
            kind = declared.fields.get(name)
            if kind is None:
                found.append(f"{sample.measurement}: undeclared field {name!r}")
            elif _type_of(value) is not kind:
                found.append(
                    f"{sample.measurement}.{name}: {_type_of(value)} value, declared {kind}"
                )
        return found


def base_schema() -> SchemaRegistry:
    """The measurements the agent itself defines, before collectors add theirs."""
    registry = SchemaRegistry()
    registry.declare(
        Measurement(
            name="snmp",
            tags=frozenset({"source", "sysName", "result"}),
            fields={
                "sysUpTime": FieldType.INT,
                "result_code": FieldType.INT,
                "response_time": FieldType.FLOAT,
                "values_polled": FieldType.INT,
                "requests": FieldType.INT,
            },
            description="One row per SNMP poll of a device: its scalars and the poll's result.",
        )
    )
    # Imported here: schema_probes builds on this module's types.
    from agent.schema_probes import PROBE_MEASUREMENTS

    for measurement in PROBE_MEASUREMENTS:
        registry.declare(measurement)
    from agent.sla.digest import DIGEST  # kept by the SLA engine (agent.sla.digest)
    from agent.sla.writeback import SLA  # written by `netmon sla report --write-back`

    registry.declare(SLA)
    registry.declare(DIGEST)
    from agent.selfreport import SELF_MEASUREMENTS  # the agent's own health (netmon_agent)

    for measurement in SELF_MEASUREMENTS:
        registry.declare(measurement)
    return registry
