"""Collection profiles: which OIDs to poll and how to name them (data, not code).

A profile is a YAML file under ``collectors/snmp/profiles/``::

    name: cisco                       # how hosts refer to it (netmon_snmp_profiles)
    description: ...
    extends: [generic, entity-sensor] # composed from these first (their objects, then ours)
    match: [1.3.6.1.4.1.9.1]          # sysObjectID prefixes, whole arcs; the longest one wins
    scalars:                          # fetched with one GET; land in the `snmp` row
      sysUpTime: {oid: 1.3.6.1.2.1.1.3.0, type: int, unit: centiseconds}
      sysName:   {oid: 1.3.6.1.2.1.1.5.0, tag: true}
    groups:                           # scalars of their own measurement: one row per poll
      - measurement: ups
        fields:
          upsBasicOutputStatus:
            oid: 1.3.6.1.4.1.318.1.1.1.4.1.1.0
            type: int
            enum: {1: unknown, 2: onLine, 3: onBattery}
    tables:                           # walked with GETBULK; one row per index
      - measurement: interface
        index_tag: ifIndex            # the whole row index becomes this tag, or:
        # index: [_, lldpRemLocalPortNum, lldpRemIndex]   one tag per sub-identifier, _ drops it
        columns:
          ifName: {oid: 1.3.6.1.2.1.31.1.1.1.1, tag: true, refresh: slow}
          ifHCInOctets:
            oid: 1.3.6.1.2.1.31.1.1.1.6
            type: uint                # int | uint (Counter64) | float | str | bool
            counter: 64               # a Counter64: see below
            fallback: {name: ifInOctets, oid: 1.3.6.1.2.1.2.2.1.10, type: int, counter: 32}

Rules:

- OIDs are numeric: no MIB is resolved at run time (any MIB compilation happened offline; the
  numbers and names come from the MIBs named in each file's header). Field names are the MIB
  object names. ``unit`` says what a number counts ("percent", "centiseconds", "kB", ...).
- ``enum`` maps the MIB's enumeration to its names. The field stays the integer (stable type,
  easy to alert on); the schema registry carries the names, so dashboards show them. An enum
  column that is a tag is written as the name.
- ``oid_names`` names the OID values of a column whose values are OIDs (hrStorageType's
  ``1.3.6.1.2.1.25.2.1.4`` is ``hrStorageFixedDisk``); an OID it does not name stays as text.
- ``refresh: slow`` marks a label column (ifName, ifAlias, ifSpeed, ...): it is walked on the
  slower label cadence and its last value rides along with every row in between.
- A ``fallback`` column is walked only when some row lacks the preferred column.
- ``counter: 32`` / ``counter: 64`` marks a column whose SMI type is Counter32 / Counter64 (say it
  for every counter: the MIB, not the device, decides). The schema then knows it as a counter
  and the agent writes it as a continuous counter: wraps extended, discontinuities held flat
  and marked (`agent.schema`, `agent.counters`). A counter column is an ``int`` or ``uint``
  field, never a tag. Gauges (ifSpeed, ifHighSpeed) and TimeTicks (sysUpTime) are not counters.
- A table with ``emit: false`` is walked only so that another table can ``lookup`` a tag in it:
  ``lookups: {lldpLocPortId: {table: lldpLocPortTable, column: lldpLocPortId, by:
  lldpRemLocalPortNum}}`` takes the row of ``lldpLocPortTable`` whose index is this row's
  ``lldpRemLocalPortNum``.
- ``extends`` composes: the parents' objects first, then the profile's own; a table or group of
  the same measurement (or table ``name``) merges its columns, the child's winning by name.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.schema import FieldType, Measurement, SchemaRegistry

PROFILES_DIR = Path(__file__).with_name("profiles")
OID_PATTERN = r"^1(\.\d+)+$"
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
#: The profile a device gets when no profile matches its sysObjectID.
GENERIC = "generic"
#: What ``netmon_snmp_profiles`` lists to mean "the profile matched by sysObjectID".
AUTO = "auto"
#: An index part that is dropped (e.g. LLDP's lldpRemTimeMark, which changes with every update).
SKIP = "_"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CounterWidth = Literal[32, 64]
Refresh = Literal["fast", "slow"]


def _check_counter(counter: CounterWidth | None, kind: FieldType, tag: bool = False) -> None:
    if counter is None:
        return
    if kind not in (FieldType.INT, FieldType.UINT):
        raise ValueError(f"a counter column is of type int or uint, not {kind}")
    if tag:
        raise ValueError("a counter column cannot be a tag")


class FallbackSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    oid: str = Field(pattern=OID_PATTERN)
    type: FieldType
    counter: CounterWidth | None = None
    unit: str = ""

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
    enum: dict[int, str] | None = None
    oid_names: dict[str, str] | None = None
    refresh: Refresh = "fast"

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_counter(self.counter, self.type, self.tag)
        if self.enum is not None and self.type is not FieldType.INT and not self.tag:
            raise ValueError("an enum column is of type int (or a tag)")
        if self.oid_names is not None:
            if self.type is not FieldType.STR:
                raise ValueError("an oid_names column is of type str")
            for oid in self.oid_names:
                if not _is_oid(oid):
                    raise ValueError(f"oid_names: {oid!r} is not a numeric OID")
        return self


class LookupSpec(_Strict):
    table: str
    column: str
    by: str


class TableSpec(_Strict):
    measurement: str = Field(pattern=NAME_PATTERN)
    name: str = ""  # what lookups call it; the measurement when empty
    index_tag: str = ""
    index: list[str] = Field(default_factory=list)
    emit: bool = True
    columns: dict[str, ColumnSpec] = Field(min_length=1)
    lookups: dict[str, LookupSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_index(self) -> Self:
        if bool(self.index_tag) == bool(self.index):
            raise ValueError("give either index_tag (one tag) or index (one name per part)")
        return self


class GroupSpec(_Strict):
    measurement: str = Field(pattern=NAME_PATTERN)
    fields: dict[str, ColumnSpec] = Field(min_length=1)


class ProfileSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    extends: list[str] = Field(default_factory=list)
    match: list[str] = Field(default_factory=list)
    scalars: dict[str, ColumnSpec] = Field(default_factory=dict)
    groups: list[GroupSpec] = Field(default_factory=list)
    tables: list[TableSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _match_is_oids(self) -> Self:
        for prefix in self.match:
            if not _is_oid(prefix):
                raise ValueError(f"match: {prefix!r} is not a numeric OID")
        return self


def _is_oid(text: str) -> bool:
    parts = text.split(".")
    return len(parts) > 1 and parts[0] == "1" and all(p.isdigit() for p in parts)


Oid = tuple[int, ...]


def parse_oid(text: str) -> Oid:
    return tuple(int(part) for part in text.split("."))


def oid_text(oid: Oid) -> str:
    return ".".join(str(part) for part in oid)


@dataclass(frozen=True)
class Column:
    name: str
    oid: Oid
    type: FieldType
    tag: bool
    fallback: Column | None = None
    counter: int | None = None  # counter width in bits, None when not a counter
    unit: str = ""
    enum: Mapping[int, str] | None = None
    slow: bool = False  # a label column: walked on the slower label cadence
    oid_names: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Lookup:
    table: str
    column: str
    by: str


@dataclass(frozen=True)
class Table:
    measurement: str
    index_tag: str
    columns: tuple[Column, ...]
    index: tuple[str, ...] = ()  # one name per index part ("_" dropped); empty: index_tag
    name: str = ""
    emit: bool = True
    lookups: Mapping[str, Lookup] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.name or self.measurement

    @property
    def index_tags(self) -> frozenset[str]:
        if self.index:
            return frozenset(part for part in self.index if part != SKIP)
        return frozenset({self.index_tag})

    def index_labels(self, index: Oid) -> dict[str, str] | None:
        """The tags a row index gives, or None when it does not have the declared parts."""
        if not self.index:
            return {self.index_tag: oid_text(index)}
        if len(index) != len(self.index):
            return None
        return {
            name: str(part) for name, part in zip(self.index, index, strict=True) if name != SKIP
        }


@dataclass(frozen=True)
class Group:
    measurement: str
    fields: tuple[Column, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    scalars: tuple[Column, ...]
    tables: tuple[Table, ...]
    groups: tuple[Group, ...] = ()
    match: tuple[Oid, ...] = ()
    extends: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()  # this profile and every profile it is composed of

    def declare(self, schema: SchemaRegistry) -> None:
        scalar_tags = {c.name for c in self.scalars if c.tag}
        schema.declare(
            Measurement(
                name="snmp",
                tags=frozenset({"source", *scalar_tags}),
                fields=_fields(self.scalars),
                counters=_counters(self.scalars),
                units=_units(self.scalars),
                enums=_enums(self.scalars),
            )
        )
        for group in self.groups:
            schema.declare(
                Measurement(
                    group.measurement,
                    frozenset({"source", "sysName", *(c.name for c in group.fields if c.tag)}),
                    _fields(group.fields),
                    counters=_counters(group.fields),
                    units=_units(group.fields),
                    enums=_enums(group.fields),
                )
            )
        for table in self.tables:
            if not table.emit:
                continue
            tags = {"source", "sysName", *table.index_tags, *table.lookups}
            tags |= {c.name for c in table.columns if c.tag}
            schema.declare(
                Measurement(
                    table.measurement,
                    frozenset(tags),
                    _fields(table.columns),
                    counters=_counters(table.columns),
                    units=_units(table.columns),
                    enums=_enums(table.columns),
                )
            )

    def measurements(self) -> list[str]:
        """Every measurement this profile writes, in order."""
        names = ["snmp", *(g.measurement for g in self.groups)]
        names += [t.measurement for t in self.tables if t.emit]
        return list(dict.fromkeys(names))


def _all(columns: Iterable[Column]) -> Iterable[Column]:
    for column in columns:
        yield column
        if column.fallback is not None:
            yield column.fallback


def _fields(columns: Iterable[Column]) -> dict[str, FieldType]:
    return {c.name: c.type for c in _all(columns) if not c.tag}


def _counters(columns: Iterable[Column]) -> dict[str, int]:
    """Counter widths by field name, fallbacks included."""
    return {c.name: c.counter for c in _all(columns) if c.counter is not None}


def _units(columns: Iterable[Column]) -> dict[str, str]:
    return {c.name: c.unit for c in _all(columns) if c.unit and not c.tag}


def _enums(columns: Iterable[Column]) -> dict[str, Mapping[int, str]]:
    return {c.name: c.enum for c in _all(columns) if c.enum and not c.tag}


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
            unit=spec.fallback.unit or spec.unit,
            slow=spec.refresh == "slow",
        )
    return Column(
        name,
        parse_oid(spec.oid),
        spec.type,
        spec.tag,
        fallback,
        spec.counter,
        spec.unit,
        MappingProxyType(dict(spec.enum)) if spec.enum else None,
        spec.refresh == "slow",
        MappingProxyType(dict(spec.oid_names)) if spec.oid_names else None,
    )


def _columns(specs: Mapping[str, ColumnSpec]) -> tuple[Column, ...]:
    return tuple(_column(n, c) for n, c in specs.items())


def compile_profile(spec: ProfileSpec) -> Profile:
    """One profile on its own, before `extends` is resolved."""
    return Profile(
        name=spec.name,
        description=spec.description,
        scalars=_columns(spec.scalars),
        groups=tuple(Group(g.measurement, _columns(g.fields)) for g in spec.groups),
        tables=tuple(
            Table(
                t.measurement,
                t.index_tag,
                _columns(t.columns),
                index=tuple(t.index),
                name=t.name,
                emit=t.emit,
                lookups=MappingProxyType(
                    {n: Lookup(s.table, s.column, s.by) for n, s in t.lookups.items()}
                ),
            )
            for t in spec.tables
        ),
        match=tuple(parse_oid(prefix) for prefix in spec.match),
        extends=tuple(spec.extends),
        chain=(spec.name,),
    )


def _merge_columns(first: tuple[Column, ...], second: tuple[Column, ...]) -> tuple[Column, ...]:
    merged = {c.name: c for c in first}
    merged.update((c.name, c) for c in second)
    return tuple(merged.values())


def compose(parts: Iterable[Profile], name: str, description: str = "") -> Profile:
    """One profile holding every part's objects, later parts winning by name."""
    scalars: tuple[Column, ...] = ()
    groups: dict[str, Group] = {}
    tables: dict[str, Table] = {}
    chain: list[str] = []
    for part in parts:
        scalars = _merge_columns(scalars, part.scalars)
        for group in part.groups:
            known = groups.get(group.measurement)
            columns = _merge_columns(known.fields if known else (), group.fields)
            groups[group.measurement] = Group(group.measurement, columns)
        for table in part.tables:
            known_table = tables.get(table.key)
            if known_table is None:
                tables[table.key] = table
                continue
            if (known_table.index_tag, known_table.index) != (table.index_tag, table.index):
                raise ProfileError(
                    f"profile {name!r}: table {table.key!r} is indexed differently in "
                    f"{part.name!r} than in a profile it extends"
                )
            tables[table.key] = dataclasses.replace(
                table,
                columns=_merge_columns(known_table.columns, table.columns),
                lookups=MappingProxyType({**known_table.lookups, **table.lookups}),
            )
        chain.extend(each for each in part.chain if each not in chain)
    return Profile(
        name=name,
        description=description,
        scalars=scalars,
        tables=tuple(tables.values()),
        groups=tuple(groups.values()),
        chain=tuple(chain),
    )


def _resolve(specs: Mapping[str, Profile], name: str, trail: tuple[str, ...]) -> Profile:
    if name in trail:
        raise ProfileError(f"profile {name!r} extends itself: {' → '.join((*trail, name))}")
    own = specs[name]
    parents = []
    for parent in own.extends:
        if parent not in specs:
            raise ProfileError(f"profile {name!r} extends unknown profile {parent!r}")
        parents.append(_resolve(specs, parent, (*trail, name)))
    whole = compose([*parents, own], name, own.description)
    return dataclasses.replace(
        whole,
        match=own.match,
        extends=own.extends,
        chain=(name, *(each for each in whole.chain if each != name)),
    )


def _check_lookups(profile: Profile) -> None:
    tables = {t.key: t for t in profile.tables}
    for table in profile.tables:
        for tag, lookup in table.lookups.items():
            source = tables.get(lookup.table)
            if source is None:
                raise ProfileError(
                    f"profile {profile.name!r}: {table.key}.{tag} looks up unknown table "
                    f"{lookup.table!r}"
                )
            if lookup.column not in {c.name for c in source.columns}:
                raise ProfileError(
                    f"profile {profile.name!r}: {table.key}.{tag} looks up unknown column "
                    f"{lookup.table}.{lookup.column}"
                )
            if lookup.by not in table.index_tags:
                raise ProfileError(
                    f"profile {profile.name!r}: {table.key}.{tag} looks up by {lookup.by!r}, "
                    "which is not one of the table's index parts"
                )


@functools.cache
def shipped_profiles() -> Mapping[str, Profile]:
    """The profiles shipped with the agent, read once (they are immutable data)."""
    return MappingProxyType(load_profiles())


def load_profiles(directory: Path = PROFILES_DIR) -> dict[str, Profile]:
    """Every profile in `directory`, by name, composed; a broken file raises ProfileError."""
    own: dict[str, Profile] = {}
    origin: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            spec = ProfileSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, ValidationError) as exc:
            raise ProfileError(f"{path}: {exc}") from None
        if spec.name in own:
            raise ProfileError(f"{path}: profile {spec.name!r} is defined twice")
        own[spec.name] = compile_profile(spec)
        origin[spec.name] = path
    profiles: dict[str, Profile] = {}
    for name in own:
        try:
            profiles[name] = _resolve(own, name, ())
            _check_lookups(profiles[name])
        except ProfileError as exc:
            raise ProfileError(f"{origin[name]}: {exc}") from None
    return profiles


def match(profiles: Mapping[str, Profile], sys_object_id: Oid | None) -> Profile | None:
    """The profile whose `match` prefix is the longest one `sys_object_id` starts with."""
    if sys_object_id is None:
        return None
    best: tuple[int, str] | None = None
    for profile in profiles.values():
        for prefix in profile.match:
            if sys_object_id[: len(prefix)] == prefix and (best is None or len(prefix) > best[0]):
                best = (len(prefix), profile.name)
    return profiles[best[1]] if best is not None else None


def select(
    profiles: Mapping[str, Profile], names: Iterable[str], sys_object_id: Oid | None
) -> Profile:
    """What one host polls: its listed profiles, ``auto`` replaced by the sysObjectID match
    (the generic profile when nothing matches), composed into one."""
    parts = []
    for name in names:
        if name == AUTO:
            parts.append(match(profiles, sys_object_id) or profiles[GENERIC])
        else:
            parts.append(profiles[name])
    if len(parts) == 1:
        return parts[0]
    return compose(parts, "+".join(p.name for p in parts))
