"""Every device recording, polled by the agent through snmpsim, against its golden case.

For each recording in agent/lab/snmprec (the province's device classes, see its SOURCES.md):

- the profile that the recording's sysObjectID selects, and every sample of the first poll,
  equal the committed ``tests/golden/snmp/<recording>/expected.json``;
- values are spot-checked against net-snmp's ``snmpget`` on the same snmpsim endpoint (all
  scalars, the first and last row of every table): the oracle for what the device said;
- a second poll, which takes the label columns from the cache instead of walking them, writes
  the same samples with fewer values asked for.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent.collector import CollectorContext, Target
from agent.lab import oracle
from agent.lab.process import free_udp_port
from agent.lab.snmpsim import SnmpSimulator, recording_path, recordings_dir, simulators
from agent.samples import FieldValue, Sample
from agent.schema import FieldType, base_schema
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.config import SnmpConfig
from collectors.snmp.profiles import Column, Profile, oid_text, parse_oid
from collectors.snmp.values import as_field
from tests.golden import snmp_cases
from tests.peers import require_binary, under_ci

pytestmark = pytest.mark.snmpsim

RECORDINGS = sorted(p.stem for p in recordings_dir().glob("*.snmprec"))


@dataclass(frozen=True)
class Served:
    recording: str
    address: str
    port: int
    community: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """Every recording on its own loopback address, one snmpsim process each."""
    require_binary("snmpsim-command-responder")
    require_binary("snmpget")
    state = tmp_path_factory.mktemp("golden-snmpsim")
    devices: dict[str, Served] = {}
    sims = []
    for number, stem in enumerate(RECORDINGS, start=1):
        address = f"127.78.{number}.1"
        community = f"{stem[:20]}-{secrets.token_hex(4)}"
        devices[stem] = Served(stem, address, free_udp_port(address), community)
        sims.append(SnmpSimulator(state / stem, stem, [(address, devices[stem].port)], community))
    with simulators(sims):
        yield devices


def _target(device: Served, version: str = "2c") -> Target:
    config = SnmpConfig.model_validate(
        {
            "credential": {"name": "golden", "version": version, "community": device.community},
            "port": device.port,
            "timeout_s": 5.0,
        }
    )
    return Target(
        host=device.recording,
        address=device.address,
        check="snmp",
        config=config,
        tags={},
        interval_s=60.0,
        timeout_s=60.0,
        jitter_s=0.0,
    )


def _poll_twice(target: Target) -> tuple[SnmpCollector, list[Sample], list[Sample]]:
    collector = SnmpCollector(CollectorContext(base_schema()))

    async def polls() -> tuple[list[Sample], list[Sample]]:
        try:
            return await collector.collect(target), await collector.collect(target)
        finally:
            await collector.close()

    first, second = asyncio.run(polls())
    return collector, first, second


def test_every_recording_has_a_golden_case_and_is_the_recorded_blob() -> None:
    """The recordings are the byte-exact upstream blobs SOURCES.md names (git hash-object)."""
    sources = (recordings_dir() / "SOURCES.md").read_text(encoding="utf-8")
    assert len(RECORDINGS) == 10
    for stem in RECORDINGS:
        data = recording_path(stem).read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 (git's id)
        section = sources[sources.index(f"## {stem}.snmprec") :]
        assert re.search(rf"git blob `{blob}`", section.split("\n## ")[0]), stem
        if not snmp_cases.updating():
            assert snmp_cases.expected_path(stem).is_file(), f"no golden case for {stem}"


@pytest.mark.parametrize("recording", RECORDINGS)
def test_recording_polls_to_its_golden_samples(recording: str, served: dict[str, Served]) -> None:
    collector, first, second = _poll_twice(_target(served[recording]))
    device = collector.device(recording)
    assert device is not None and device.profile is not None
    assert first[0].tags["result"] == "success", first[0]
    got: dict[str, Any] = {
        "recording": recording,
        "sysObjectID": oid_text(device.sys_object_id) if device.sys_object_id else None,
        "profile": device.profile.name,
        "chain": list(device.profile.chain),
        "samples": snmp_cases.normalise(first),
    }
    if snmp_cases.updating():
        assert not under_ci(), f"{snmp_cases.UPDATE_VARIABLE}=1 is refused under CI"
        snmp_cases.write_expected(recording, got)
    assert got == snmp_cases.load_expected(recording)
    # Beyond the snmp row, every measurement of the profile that the device has is there.
    assert len({s.measurement for s in first}) >= 2

    # The second poll takes labels from the cache: same rows, same label values, fewer values.
    assert _without_poll_figures(snmp_cases.normalise(second)) == _without_poll_figures(
        got["samples"]
    )
    has_labels = any(c.slow for t in device.profile.tables for c in t.columns)
    first_values, second_values = (
        first[0].fields["values_polled"],
        second[0].fields["values_polled"],
    )
    assert isinstance(first_values, int) and isinstance(second_values, int)
    assert second_values < first_values or not has_labels
    assert collector.stats.bad_values == 0


def _without_poll_figures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        if row["measurement"] == "snmp":
            row["fields"].pop("values_polled", None)
    return rows


@pytest.mark.parametrize("recording", RECORDINGS)
def test_golden_values_equal_what_snmpget_reads(recording: str, served: dict[str, Served]) -> None:
    device = served[recording]
    collector, first, _ = _poll_twice(_target(device))
    known = collector.device(recording)
    assert known is not None and known.profile is not None
    wanted = _spot_checks(known.profile, first)
    assert wanted, "nothing to check"
    oids = list(wanted)
    answers: dict[str, oracle.Value] = {}
    for start in range(0, len(oids), 20):
        answers.update(
            oracle.get(
                (device.address, device.port), oids[start : start + 20], community=device.community
            )
        )
    for oid, (column, ours) in wanted.items():
        kind, text = answers[oid]
        assert kind not in oracle.EXCEPTIONS, f"{column.name} ({oid}): snmpget found nothing"
        assert _oracle_value(kind, text, column.type) == ours, f"{column.name} ({oid})"


def _spot_checks(profile: Profile, samples: list[Sample]) -> dict[str, tuple[Column, FieldValue]]:
    """OID → (column, our value): every scalar, and the first and last row of every table."""
    checks: dict[str, tuple[Column, FieldValue]] = {}
    scalar_columns = {c.name: c for c in profile.scalars}
    for group in profile.groups:
        scalar_columns.update({c.name: c for c in group.fields})
    by_measurement: dict[str, list[Sample]] = {}
    for sample in samples:
        by_measurement.setdefault(sample.measurement, []).append(sample)
    for sample in by_measurement.get("snmp", [])[:1] + [
        s for g in profile.groups for s in by_measurement.get(g.measurement, [])[:1]
    ]:
        for name, value in sample.fields.items():
            if name in scalar_columns:
                checks[oid_text(scalar_columns[name].oid)] = (scalar_columns[name], value)
    for table in profile.tables:
        if not table.emit or table.index:
            continue  # rows indexed by parts (LLDP) drop a part: checked in the golden file
        columns = {c.name: c for c in table.columns}
        columns.update({c.fallback.name: c.fallback for c in table.columns if c.fallback})
        rows = [s for s in by_measurement.get(table.measurement, []) if table.index_tag in s.tags]
        for sample in rows[:1] + rows[-1:]:
            index = parse_oid("1." + sample.tags[table.index_tag])[1:]
            for name, value in sample.fields.items():
                column = columns.get(name)
                if column is not None:
                    checks[oid_text(column.oid + index)] = (column, value)
    return checks


def _oracle_value(kind: str, text: str, declared: FieldType) -> FieldValue:
    native: FieldValue
    if kind == oracle.OCTET_STRING:
        raw = bytes.fromhex(text)
        stripped = raw.rstrip(b"\0")
        try:
            decoded = stripped.decode("utf-8")
            printable = all(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
        except UnicodeDecodeError:
            printable = False
        native = decoded if printable else raw.hex(":")
    elif kind in (oracle.OBJECT_IDENTIFIER, oracle.IP_ADDRESS):
        native = text
    else:
        native = int(text)
    return as_field(native, declared)
