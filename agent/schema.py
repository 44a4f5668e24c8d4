"""The schema registry: every measurement the agent writes, its tags and its field types.

InfluxDB rejects a write whose field type differs from the type already stored, so a field's
type is fixed here once and for all. Collectors declare what they emit (the SNMP collector
declares its profiles' tables when it loads them); the pipeline drops, counts and logs anything
undeclared, and tests assert that nothing was dropped.

Tags are bounded sets of values (indexed); free text belongs in fields.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Measurement:
    name: str
    tags: frozenset[str]
    fields: Mapping[str, FieldType]
    description: str = ""

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
        self._measurements[measurement.name] = Measurement(
            name=measurement.name,
            tags=known.tags | measurement.tags,
            fields={**known.fields, **measurement.fields},
            description=known.description or measurement.description,
        )

    def get(self, name: str) -> Measurement | None:
        return self._measurements.get(name)

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
            },
            description="One row per SNMP poll of a device: its scalars and the poll's result.",
        )
    )
    # Imported here: schema_probes builds on this module's types.
    from agent.schema_probes import PROBE_MEASUREMENTS

    for measurement in PROBE_MEASUREMENTS:
        registry.declare(measurement)
    return registry
