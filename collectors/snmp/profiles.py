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
            fallback: {name: ifInOctets, oid: 1.3.6.1.2.1.2.2.1.10, type: int}

OIDs are numeric: no MIB is resolved at run time. Field names are the MIB object names.
A ``fallback`` column is walked only when some row lacks the preferred column.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.schema import FieldType, Measurement, SchemaRegistry

PROFILES_DIR = Path(__file__).with_name("profiles")
OID_PATTERN = r"^1(\.\d+)+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FallbackSpec(_Strict):
    name: str
    oid: str = Field(pattern=OID_PATTERN)
    type: FieldType


class ColumnSpec(_Strict):
    oid: str = Field(pattern=OID_PATTERN)
    type: FieldType = FieldType.STR
    tag: bool = False
    unit: str = ""
    fallback: FallbackSpec | None = None


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
            schema.declare(Measurement(table.measurement, frozenset(tags), fields))


class ProfileError(ValueError):
    pass


def _column(name: str, spec: ColumnSpec) -> Column:
    fallback = None
    if spec.fallback is not None:
        fallback = Column(
            spec.fallback.name, parse_oid(spec.fallback.oid), spec.fallback.type, False
        )
    return Column(name, parse_oid(spec.oid), spec.type, spec.tag, fallback)


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
