"""The shipped profile catalogue against the recorded devices, without a network.

Every profile loads and declares into one schema registry; every recording in agent/lab/snmprec
selects the profile it should; what a vendor profile asks for is what its devices answer
(column OIDs, SMI types, counter widths, index shapes); the two profiles without a recording
stay under their vendors' enterprise arcs. Exceptions are listed with their reason, and an
exception that no longer holds fails too, so the list cannot go stale.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from agent.schema import FieldType, SchemaRegistry, base_schema
from collectors.snmp.profiles import (
    NAME_PATTERN,
    PROFILES_DIR,
    Column,
    Oid,
    Profile,
    ProfileSpec,
    compile_profile,
    load_profiles,
    match,
    oid_text,
    parse_oid,
)

RECORDINGS_DIR = Path(__file__).resolve().parents[2] / "agent" / "lab" / "snmprec"
SYS_OBJECT_ID = parse_oid("1.3.6.1.2.1.1.2.0")
ENTERPRISES = parse_oid("1.3.6.1.4.1")

#: Recording (file stem) → the profile its sysObjectID must select.
EXPECTED_MATCH = {
    "apc-smart-ups-smtl1000": "apc-ups",
    "cisco-catalyst-2960x": "cisco",
    "cisco-isr4321": "cisco",
    "fortinet-fortigate-500d": "fortigate",
    "huawei-ne40e-m2k": "huawei",
    "juniper-mx5-t": "juniper",
    "linux-el8-netsnmp": "net-snmp-linux",
    "microsoft-windows-server-2019": "windows",
    "mikrotik-crs317": "mikrotik",
    "vmware-esxi-7": "vmware-esxi",
}
#: Profiles without `match`, composed into the others.
BUILDING_BLOCKS = frozenset(
    {"system", "if-mib", "generic", "host-resources", "ucd-snmp", "entity-sensor", "lldp"}
)
#: Vendor profiles with no recording: their OIDs must stay under these enterprise numbers.
MIB_ONLY = {"dell-idrac": (674,), "vc-codec": (5596, 13885)}
#: (profile, table name or group measurement) absent from every recording that could show it.
NOT_RECORDED = {
    ("huawei", "hwEntityStateTable"): "the LibreNMS NE40E recording holds ENTITY-MIB only",
    ("ucd-snmp", "memory"): "the net-snmp recording has systemStats and laTable, not memory",
    ("ucd-snmp", "dskTable"): "rows exist only for `disk` lines in snmpd.conf; none recorded",
    ("entity-sensor", "entPhySensorTable"): "no recorded device implements ENTITY-SENSOR-MIB",
    ("fortigate", "disk"): "fgSysDisk* exist 'if disk is present'; the 500D recording has none",
}
#: (vendor profile, building block it extends) that none of the vendor's recordings answers.
EXTENDS_NOT_RECORDED = {
    ("cisco", "lldp"): "the IOS recordings hold CDP only; LLDP-MIB answers after `lldp run`",
}
#: Building blocks every profile has (identity and interfaces), checked by other tests.
BASE_BLOCKS = frozenset({"system", "if-mib", "generic"})
#: (table name, recording) whose rows have another index shape than the MIB's INDEX clause.
KNOWN_INDEX_DEVIATIONS = {
    ("lldpRemTable", "mikrotik-crs317"): "RouterOS 6 indexes lldpRemTable by one number",
}
#: SNMP types (snmprec tags) a value of each declared field type may arrive as.
ACCEPTED_SMI = {
    FieldType.INT: frozenset({"2", "65", "66", "67"}),  # Integer32, Counter32, Gauge32, TimeTicks
    FieldType.UINT: frozenset({"70"}),  # Counter64
    FieldType.BOOL: frozenset({"2"}),  # TruthValue
}
COUNTER_SMI = {32: "65", 64: "70"}


@dataclass(frozen=True)
class Recording:
    """One snmprec file: each OID's SNMP type, the OIDs in order for prefix searches."""

    stem: str
    types: dict[Oid, str]
    ordered: tuple[Oid, ...]
    sys_object_id: Oid | None

    def under(self, prefix: Oid) -> Iterator[Oid]:
        """Every recorded OID strictly below `prefix` (a table column's instances)."""
        for position in range(bisect.bisect_right(self.ordered, prefix), len(self.ordered)):
            oid = self.ordered[position]
            if oid[: len(prefix)] != prefix:
                return
            yield oid


def read_recording(path: Path) -> Recording:
    """`OID|TYPE|VALUE` lines; lines whose OID is anonymised (``10.xx.xx``) are skipped."""
    types: dict[Oid, str] = {}
    sys_object_id = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        oid_part, _, rest = line.partition("|")
        kind, _, value = rest.partition("|")
        if not oid_part.replace(".", "").isdigit():
            continue
        oid = parse_oid(oid_part)
        types[oid] = kind
        if oid == SYS_OBJECT_ID:
            sys_object_id = parse_oid(value)
    return Recording(path.stem, types, tuple(sorted(types)), sys_object_id)


@pytest.fixture(scope="module")
def recordings() -> dict[str, Recording]:
    return {p.stem: read_recording(p) for p in sorted(RECORDINGS_DIR.glob("*.snmprec"))}


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return load_profiles()


def own_objects(name: str) -> Profile:
    """The profile's own tables and groups, without what it extends."""
    path = PROFILES_DIR / f"{name}.yaml"
    return compile_profile(ProfileSpec.model_validate(yaml.safe_load(path.read_text())))


def columns_of(profile: Profile) -> Iterator[tuple[str, Column, bool]]:
    """(object key, column, is a table column) for every column and fallback of `profile`."""
    objects = [("snmp", profile.scalars, False)]
    objects += [(g.measurement, g.fields, False) for g in profile.groups]
    objects += [(t.key, t.columns, True) for t in profile.tables]
    for key, columns, in_table in objects:
        for column in columns:
            yield key, column, in_table
            if column.fallback is not None:
                yield key, column.fallback, in_table


def instances(recording: Recording, column: Column, in_table: bool) -> list[Oid]:
    if in_table:
        return list(recording.under(column.oid))
    return [column.oid] if column.oid in recording.types else []


def recorded_for(profile: str, recordings: dict[str, Recording]) -> list[Recording]:
    return [recordings[stem] for stem, name in EXPECTED_MATCH.items() if name == profile]


def test_the_catalogue_loads_and_declares_into_one_registry(
    profiles: dict[str, Profile],
) -> None:
    assert set(profiles) == BUILDING_BLOCKS | set(EXPECTED_MATCH.values()) | set(MIB_ONLY)
    assert {p.stem for p in PROFILES_DIR.glob("*.yaml")} == set(profiles)  # file = name
    schema: SchemaRegistry = base_schema()
    for profile in profiles.values():
        profile.declare(schema)  # raises SchemaConflictError on a clash between profiles
    for name, profile in profiles.items():
        assert bool(profile.match) == (name not in BUILDING_BLOCKS), name
        if profile.match:
            assert "generic" in profile.chain, f"{name} does not extend generic"
            assert all(prefix[: len(ENTERPRISES)] == ENTERPRISES for prefix in profile.match)


def test_every_recording_has_an_expected_profile(recordings: dict[str, Recording]) -> None:
    assert set(recordings) == set(EXPECTED_MATCH)


@pytest.mark.parametrize(("stem", "expected"), sorted(EXPECTED_MATCH.items()))
def test_the_recorded_sys_object_id_selects_the_expected_profile(
    stem: str, expected: str, recordings: dict[str, Recording], profiles: dict[str, Profile]
) -> None:
    sys_object_id = recordings[stem].sys_object_id
    assert sys_object_id is not None, f"{stem} records no sysObjectID"
    chosen = match(profiles, sys_object_id)
    assert chosen is not None, oid_text(sys_object_id)
    assert chosen.name == expected


def _objects_present(profile: str, recorded: list[Recording]) -> dict[str, bool]:
    """For each own table / group of `profile`: does some recording answer one of its fields?

    An emitted object needs a field (not only a tag) to be there; a lookup-only table
    (``emit: false``) needs any of its columns.
    """
    own = own_objects(profile)
    emitted = {t.key: t.emit for t in own.tables} | {g.measurement: True for g in own.groups}
    present = dict.fromkeys(emitted, False)
    for key, column, in_table in columns_of(own):
        if key == "snmp" or (emitted[key] and column.tag):
            continue
        if any(instances(r, column, in_table) for r in recorded):
            present[key] = True
    return present


@pytest.mark.parametrize("profile", sorted(set(EXPECTED_MATCH.values())))
def test_a_vendor_profile_asks_for_what_its_devices_answer(
    profile: str, recordings: dict[str, Recording]
) -> None:
    present = _objects_present(profile, recorded_for(profile, recordings))
    for key, found in present.items():
        exception = NOT_RECORDED.get((profile, key))
        assert found != bool(exception), f"{profile}: {key} " + (
            f"is recorded now; drop the exception ({exception})"
            if found
            else "occurs in none of its recordings"
        )


@pytest.mark.parametrize("profile", sorted(set(EXPECTED_MATCH.values())))
def test_the_blocks_a_vendor_profile_extends_are_answered_by_its_devices(
    profile: str, recordings: dict[str, Recording], profiles: dict[str, Profile]
) -> None:
    recorded = recorded_for(profile, recordings)
    blocks = [b for b in profiles[profile].chain if b in BUILDING_BLOCKS - BASE_BLOCKS]
    assert blocks or _objects_present(profile, recorded), f"{profile} adds nothing to generic"
    for block in blocks:
        found = any(_objects_present(block, recorded).values())
        exception = EXTENDS_NOT_RECORDED.get((profile, block))
        assert found != bool(exception), f"{profile} extends {block}: {exception or 'unanswered'}"
    stale = {k for k in EXTENDS_NOT_RECORDED if k[0] == profile and k[1] not in blocks}
    assert not stale, stale


@pytest.mark.parametrize("profile", sorted(BUILDING_BLOCKS))
def test_a_building_block_occurs_in_some_recording(
    profile: str, recordings: dict[str, Recording]
) -> None:
    present = _objects_present(profile, list(recordings.values()))
    for key, found in present.items():
        exception = NOT_RECORDED.get((profile, key))
        assert found != bool(exception), f"{profile}: {key} ({exception or 'not recorded'})"


@pytest.mark.parametrize(("profile", "arcs"), sorted(MIB_ONLY.items()))
def test_a_profile_without_recording_stays_under_its_enterprise_arcs(
    profile: str, arcs: tuple[int, ...], profiles: dict[str, Profile]
) -> None:
    assert profile not in EXPECTED_MATCH.values()
    roots = [(*ENTERPRISES, arc) for arc in arcs]

    def under_roots(oid: Oid) -> bool:
        return any(oid[: len(root)] == root for root in roots)

    assert all(under_roots(prefix) for prefix in profiles[profile].match)
    own = list(columns_of(own_objects(profile)))
    assert own, f"{profile} adds nothing of its own"
    for key, column, _ in own:
        assert under_roots(column.oid) or column.oid[:6] == (1, 3, 6, 1, 2, 1), (key, column.name)


def test_enumerations_name_every_value_with_an_identifier(profiles: dict[str, Profile]) -> None:
    checked = 0
    for profile in profiles.values():
        for key, column, _ in columns_of(profile):
            if column.enum is None:
                continue
            assert column.enum, f"{profile.name}: {key}.{column.name} has an empty enum"
            for number, name in column.enum.items():
                assert isinstance(number, int)
                assert isinstance(name, str)
                assert re.fullmatch(NAME_PATTERN, name), f"{profile.name}: {column.name} {name!r}"
            checked += 1
    assert checked > 20


def test_counters_are_recorded_with_the_smi_type_of_their_width(
    profiles: dict[str, Profile], recordings: dict[str, Recording]
) -> None:
    seen: dict[int, int] = {32: 0, 64: 0}
    for profile in profiles.values():
        for key, column, in_table in columns_of(profile):
            if column.counter is None:
                continue
            for recording in recordings.values():
                for oid in instances(recording, column, in_table):
                    assert recording.types[oid] == COUNTER_SMI[column.counter], (
                        f"{profile.name}: {key}.{column.name} is a {column.counter}-bit counter, "
                        f"{recording.stem} has type {recording.types[oid]} at {oid_text(oid)}"
                    )
                    seen[column.counter] += 1
    assert seen[32] and seen[64], seen


def test_recorded_values_fit_the_declared_field_types(
    profiles: dict[str, Profile], recordings: dict[str, Recording]
) -> None:
    """A Gauge32 or Integer32 is an int, a Counter64 a uint; a str takes anything."""
    checked = 0
    for profile in profiles.values():
        for key, column, in_table in columns_of(profile):
            accepted = ACCEPTED_SMI.get(column.type)
            if accepted is None or column.tag:
                continue
            for recording in recordings.values():
                for oid in instances(recording, column, in_table):
                    assert recording.types[oid] in accepted, (
                        f"{profile.name}: {key}.{column.name} is {column.type}, "
                        f"{recording.stem} has type {recording.types[oid]} at {oid_text(oid)}"
                    )
                    checked += 1
    assert checked > 1000


def test_multi_part_indexes_have_the_recorded_shape(
    profiles: dict[str, Profile], recordings: dict[str, Recording]
) -> None:
    """Rows of a table with an `index: [...]` have one sub-identifier per declared part.

    A recording whose rows have another shape must not be polled with that table (its rows
    would be dropped as malformed on every poll).
    """
    tables = {t.key: t for p in profiles.values() for t in p.tables if t.index}
    confirmed = set()
    deviations_seen = set()
    for stem, recording in recordings.items():
        polled = {t.key for t in profiles[EXPECTED_MATCH[stem]].tables}
        for key, table in tables.items():
            shapes = {
                len(oid) - len(column.oid)
                for column in table.columns
                for oid in recording.under(column.oid)
            }
            if not shapes:
                continue
            if (key, stem) in KNOWN_INDEX_DEVIATIONS:
                assert shapes != {len(table.index)}, f"{stem} fits {key} now"
                assert key not in polled, f"{stem} is polled with {key}"
                deviations_seen.add((key, stem))
                continue
            assert shapes == {len(table.index)}, (key, stem, shapes)
            confirmed.add(key)
    assert deviations_seen == set(KNOWN_INDEX_DEVIATIONS)
    recorded = {t.key for n in set(EXPECTED_MATCH.values()) for t in profiles[n].tables}
    assert confirmed >= {key for key in tables if key in recorded}
