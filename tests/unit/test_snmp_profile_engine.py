"""The profile engine without a device: composition, sysObjectID matching, rows, topology."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.samples import FieldValue, Sample
from agent.schema import FieldType, SchemaRegistry, base_schema
from collectors.snmp.profiles import (
    GENERIC,
    Column,
    ProfileError,
    load_profiles,
    match,
    parse_oid,
    select,
)
from collectors.snmp.rows import apply_lookups, collect_rows, slow_values, tag_text, to_samples
from collectors.snmp.session import Pacing
from collectors.snmp.topology import NEIGHBOUR_TAG, resolve_neighbours

BASE = """
name: base
scalars:
  sysName: {oid: 1.3.6.1.2.1.1.5.0, tag: true}
tables:
  - measurement: port
    index_tag: portIndex
    columns:
      portName: {oid: 1.3.6.1.9.1.1, tag: true, refresh: slow}
      portState: {oid: 1.3.6.1.9.1.2, type: int, enum: {1: up, 2: down}}
"""
VENDOR = """
name: vendor
extends: [base]
match: [1.3.6.1.4.1.99, 1.3.6.1.4.1.99.5]
groups:
  - measurement: ups
    fields:
      capacity: {oid: 1.3.6.1.4.1.99.1.0, type: int, unit: percent}
tables:
  - measurement: port
    index_tag: portIndex
    columns:
      portErrors: {oid: 1.3.6.1.9.1.3, type: int, counter: 32}
"""
MODEL = """
name: model
extends: [vendor]
match: [1.3.6.1.4.1.99.5.7]
"""
GENERIC_YAML = """
name: generic
extends: [base]
"""


def _write(directory: Path, **files: str) -> None:
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(text)


def test_extends_composes_parents_first_and_merges_tables_by_measurement(tmp_path: Path) -> None:
    _write(tmp_path, base=BASE, vendor=VENDOR, model=MODEL, generic=GENERIC_YAML)
    profiles = load_profiles(tmp_path)
    model = profiles["model"]
    assert model.chain == ("model", "vendor", "base")
    (port,) = model.tables
    assert [c.name for c in port.columns] == ["portName", "portState", "portErrors"]
    assert [g.measurement for g in model.groups] == ["ups"]
    assert [c.name for c in model.scalars] == ["sysName"]
    schema = SchemaRegistry()
    model.declare(schema)
    declared = schema.get("port")
    assert declared is not None
    assert declared.enums["portState"] == {1: "up", 2: "down"}
    assert declared.counters == {"portErrors": 32}
    assert schema.get("ups") is not None and schema.get("ups").units == {"capacity": "percent"}  # type: ignore[union-attr]


def test_the_longest_sys_object_id_prefix_wins_and_unknown_devices_get_generic(
    tmp_path: Path,
) -> None:
    _write(tmp_path, base=BASE, vendor=VENDOR, model=MODEL, generic=GENERIC_YAML)
    profiles = load_profiles(tmp_path)
    assert match(profiles, parse_oid("1.3.6.1.4.1.99.5.7.1")).name == "model"  # type: ignore[union-attr]
    assert match(profiles, parse_oid("1.3.6.1.4.1.99.5.8")).name == "vendor"  # type: ignore[union-attr]
    assert match(profiles, parse_oid("1.3.6.1.4.1.99")).name == "vendor"  # type: ignore[union-attr]
    # A prefix matches whole arcs only: .990 is not under .99.
    assert match(profiles, parse_oid("1.3.6.1.4.1.990.1")) is None
    assert select(profiles, ["auto"], parse_oid("1.3.6.1.4.1.7")).name == GENERIC
    assert select(profiles, ["auto"], None).name == GENERIC
    both = select(profiles, ["auto", "base"], parse_oid("1.3.6.1.4.1.99.5.7"))
    assert both.name == "model+base" and "vendor" in both.chain


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a": "name: a\nextends: [b]\n", "b": "name: b\nextends: [a]\n"}, "extends itself"),
        ({"a": "name: a\nextends: [nosuch]\n"}, "unknown profile 'nosuch'"),
        ({"a": "name: a\nmatch: [enterprises.9]\n"}, "not a numeric OID"),
        (
            {"a": "name: a\ntables:\n  - {measurement: t, columns: {x: {oid: 1.3.1}}}\n"},
            "either index_tag",
        ),
        (
            {"a": "name: a\nscalars:\n  x: {oid: 1.3.1.0, type: str, enum: {1: up}}\n"},
            "enum column is of type int",
        ),
        (
            {
                "a": "name: a\ntables:\n  - measurement: t\n    index_tag: i\n"
                "    columns: {x: {oid: 1.3.1, type: int}}\n"
                "    lookups: {y: {table: nosuch, column: c, by: i}}\n"
            },
            "unknown table 'nosuch'",
        ),
    ],
)
def test_a_broken_profile_set_is_refused_with_its_file(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    _write(tmp_path, **files)
    with pytest.raises(ProfileError, match=message):
        load_profiles(tmp_path)


def _convert(column: Column, raw: Any) -> FieldValue | None:
    if column.type in (FieldType.INT, FieldType.UINT):
        return int(raw) if str(raw).lstrip("-").isdigit() else None
    return str(raw)


def test_rows_take_labels_from_the_cache_and_prefer_the_64_bit_counter() -> None:
    profiles = load_profiles()
    (interface,) = profiles["if-mib"].tables
    columns = {c.name: c for c in interface.columns}
    hc, fallback = columns["ifHCInOctets"], columns["ifHCInOctets"].fallback
    assert fallback is not None
    walked: dict[tuple[int, ...], dict[tuple[int, ...], Any]] = {
        hc.oid: {(1,): 10, (2,): 20},
        fallback.oid: {(1,): 1, (2,): 2, (3,): 3},
        columns["ifOperStatus"].oid: {(1,): 1, (2,): 2, (3,): 1},
    }
    labels: dict[tuple[int, ...], dict[str, FieldValue]] = {
        (1,): {"ifName": "ge-0/0/1"},
        (3,): {"ifName": "ge-0/0/3"},
    }
    rows = collect_rows(interface, walked, labels, _convert)
    assert rows.rows[(1,)] == {"ifName": "ge-0/0/1", "ifHCInOctets": 10, "ifOperStatus": 1}
    assert rows.rows[(3,)] == {"ifName": "ge-0/0/3", "ifInOctets": 3, "ifOperStatus": 1}
    assert "ifInOctets" not in rows.rows[(2,)]  # HC preferred where the row has it
    assert slow_values(interface, rows.rows)[(1,)] == {"ifName": "ge-0/0/1"}
    samples, bad = to_samples(rows, {"source": "r1"}, 5)
    assert bad == 0
    assert [s.tags.get("ifName") for s in samples] == ["ge-0/0/1", None, "ge-0/0/3"]
    assert samples[0].tags["ifIndex"] == "1"


def test_lldp_rows_drop_the_time_mark_and_look_up_the_local_port(tmp_path: Path) -> None:
    (tmp_path / "lldp.yaml").write_text(
        """
name: lldp
tables:
  - measurement: lldp_local
    name: lldpLocPortTable
    emit: false
    index_tag: lldpLocPortNum
    columns:
      lldpLocPortId: {oid: 1.0.8802.1.1.2.1.3.7.1.3, refresh: slow}
  - measurement: lldp
    index: [_, lldpRemLocalPortNum, lldpRemIndex]
    columns:
      lldpRemSysName: {oid: 1.0.8802.1.1.2.1.4.1.1.9}
    lookups:
      lldpLocPortId: {table: lldpLocPortTable, column: lldpLocPortId, by: lldpRemLocalPortNum}
"""
    )
    profile = load_profiles(tmp_path)["lldp"]
    local, remote = profile.tables
    tables = {
        local.key: collect_rows(local, {local.columns[0].oid: {(7,): "xe-0/0/1"}}, {}, _convert),
        remote.key: collect_rows(
            remote,
            {remote.columns[0].oid: {(0, 7, 1): "dist-tdm.example", (5, 9): "malformed"}},
            {},
            _convert,
        ),
    }
    apply_lookups(tables)
    samples, bad = to_samples(tables[remote.key], {"source": "core"}, 1)
    assert bad == 1  # the index without its three parts is counted, not guessed
    (row,) = samples
    assert row.tags == {
        "source": "core",
        "lldpRemLocalPortNum": "7",
        "lldpRemIndex": "1",
        "lldpLocPortId": "xe-0/0/1",
    }
    matched = resolve_neighbours(samples, {"dist-tdm": "dist-tdm", "core": "core"})
    assert matched == 1 and row.tags[NEIGHBOUR_TAG] == "dist-tdm"
    unmatched = Sample("lldp", {}, {"lldpRemSysName": "elsewhere"}, 1)
    assert resolve_neighbours([unmatched], {"core": "core"}) == 0
    assert NEIGHBOUR_TAG not in unmatched.tags


def test_enumerated_tags_are_written_by_name() -> None:
    column = Column("state", (1, 3), FieldType.INT, True, enum={1: "up", 2: "down"})
    assert tag_text(column, 2) == "down"
    assert tag_text(column, "1") == "up"
    assert tag_text(column, 9) == "9"  # a value the MIB does not name stays a number


def test_pacing_halves_down_to_one_row_and_remembers() -> None:
    pacing = Pacing(25)
    assert pacing.reduce() and pacing.max_repetitions == 12
    while pacing.reduce():
        pass
    assert pacing.max_repetitions == 1 and pacing.reductions == 4
    assert not pacing.reduce()


def test_shipped_profiles_declare_one_consistent_schema() -> None:
    schema = base_schema()
    for profile in load_profiles().values():
        profile.declare(schema)
    interface = schema.get("interface")
    assert interface is not None
    assert interface.enums["ifOperStatus"][7] == "lowerLayerDown"
    assert interface.units["ifHighSpeed"] == "Mbit/s"
