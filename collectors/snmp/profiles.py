"""Collection profiles: which OIDs to poll and how to name them (data, not code).

A profile is a YAML file under ``collectors/snmp/profiles/``::

    name: if-mib                      # how hosts refer to it (netmon_snmp_profiles)
    description: ...
    scalars:                          # fetched with one GET; land in measurement `snmp`
      sysUpTime: {oid: 1.3.6.1.2.1.1.3.0, type: int, unit: centiseconds}
      sysName:   {oid: 1.3.6.1.2.1.1.5.0, tag: true}
    tables:                           # walked with GETBULK; one row per index
      - measurement: interface
        index_tag: ifIndex            # the row index becomes this tag
        columns:
          ifName: {oid: 1.3.6.1.2.1.31.1.1.1.1, tag: true}
          ifHCInOctets:
            oid: 1.3.6.1.2.1.31.1.1.1.6
            type: uint                # int | uint (Counter64) | float | str | bool
            counter: 64               # a Counter64: see below
            fallback: {name: ifInOctets, oid: 1.3.6.1.2.1.2.2.1.10, type: int, counter: 32}

OIDs are numeric: no MIB is resolved at run time. Field names are the MIB object names.
A ``fallback`` column is walked only when some row lacks the preferred column.

``counter: 32`` / ``counter: 64`` marks a column whose SMI type is Counter32 / Counter64 (say it
for every counter: the MIB, not the device, decides). The schema then knows it as a counter and
the agent writes it as a continuous counter: wraps extended, discontinuities held flat and
marked (`agent.schema`, `agent.counters`). A counter column is an ``int`` or ``uint`` field,
never a tag. Gauges (ifSpeed, ifHighSpeed) and TimeTicks (sysUpTime) are not counters.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.schema import FieldType, Measurement, SchemaRegistry

PROFILES_DIR = Path(__file__).with_name("profiles")
OID_PATTERN = r"^1(\.\d+)+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CounterWidth = Literal[32, 64]


def _check_counter(counter: CounterWidth | None, kind: FieldType, tag: bool = False) -> None:
    if counter is None:
        return
    if kind not in (FieldType.INT, FieldType.UINT):
        raise ValueError(f"a counter column is of type int or uint, not {kind}")
    if tag:
        raise ValueError("a counter column cannot be a tag")


class FallbackSpec(_Strict):
    name: str
    oid: str = Field(pattern=OID_PATTERN)
    type: FieldType
    counter: CounterWidth | None = None

    @model_validator(mode="after")
    def _counter_is_a_number(self) -> Self:
        _check_counter(self.counter, self.type)
        return self


class ColumnSpec(_Strict):
    oid: str = Field(pattern=OID_PATTERN)
    type: FieldType = FieldType.STR
    tag: bool = False
    unit: str = ""
    counter: CounterWidth | None = None
    fallback: FallbackSpec | None = None

    @model_validator(mode="after")
    def _counter_is_a_number(self) -> Self:
        _check_counter(self.counter, self.type, self.tag)
        return self


class TableSpec(_Strict):
    measurement: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    index_tag: str
    columns: dict[str, ColumnSpec] = Field(min_length=1)


class ProfileSpec(_Strict):
    name: str
    description: str = ""
    scalars: dict[str, ColumnSpec] = Field(default_factory=dict)
    tables: list[TableSpec] = Field(default_factory=list)


Oid = tuple[int, ...]


def parse_oid(text: str) -> Oid:
    return tuple(int(part) for part in text.split("."))


@dataclass(frozen=True)
class Column:
    name: str
    oid: Oid
    type: FieldType
    tag: bool
    fallback: Column | None = None
    counter: int | None = None  # counter width in bits, None when not a counter


@dataclass(frozen=True)
class Table:
    measurement: str
    index_tag: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    scalars: tuple[Column, ...]
    tables: tuple[Table, ...]

    def declare(self, schema: SchemaRegistry) -> None:
        scalar_tags = {c.name for c in self.scalars if c.tag}
        schema.declare(
            Measurement(
                name="snmp",
                tags=frozenset({"source", *scalar_tags}),
                fields={c.name: c.type for c in self.scalars if not c.tag},
                counters=_counters(self.scalars),
            )
        )
        for table in self.tables:
            fields: dict[str, FieldType] = {}
            for column in table.columns:
                if not column.tag:
                    fields[column.name] = column.type
                if column.fallback is not None:
                    fields[column.fallback.name] = column.fallback.type
            tags = {"source", "sysName", table.index_tag}
            tags |= {c.name for c in table.columns if c.tag}
            schema.declare(
                Measurement(
                    table.measurement,
                    frozenset(tags),
                    fields,
                    counters=_counters(table.columns),
                )
            )


def _counters(columns: tuple[Column, ...]) -> dict[str, int]:
    """Counter widths by field name, fallbacks included."""
    widths: dict[str, int] = {}
    for column in columns:
        for each in (column, column.fallback):
            if each is not None and each.counter is not None:
                widths[each.name] = each.counter
    return widths


class ProfileError(ValueError):
    pass


def _column(name: str, spec: ColumnSpec) -> Column:
    fallback = None
    if spec.fallback is not None:
        fallback = Column(
            spec.fallback.name,
            parse_oid(spec.fallback.oid),
            spec.fallback.type,
            False,
            counter=spec.fallback.counter,
        )
    return Column(name, parse_oid(spec.oid), spec.type, spec.tag, fallback, spec.counter)


def compile_profile(spec: ProfileSpec) -> Profile:
    return Profile(
        name=spec.name,
        description=spec.description,
        scalars=tuple(_column(n, c) for n, c in spec.scalars.items()),
        tables=tuple(
            Table(t.measurement, t.index_tag, tuple(_column(n, c) for n, c in t.columns.items()))
            for t in spec.tables
        ),
    )


@functools.cache
def shipped_profiles() -> Mapping[str, Profile]:
    """The profiles shipped with the agent, read once (they are immutable data)."""
    return MappingProxyType(load_profiles())


def load_profiles(directory: Path = PROFILES_DIR) -> dict[str, Profile]:
    """Every profile in `directory`, by name; a broken file raises ProfileError naming it."""
    profiles: dict[str, Profile] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            spec = ProfileSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, ValidationError) as exc:
            raise ProfileError(f"{path}: {exc}") from None
        if spec.name in profiles:
            raise ProfileError(f"{path}: profile {spec.name!r} is defined twice")
        profiles[spec.name] = compile_profile(spec)
    return profiles
