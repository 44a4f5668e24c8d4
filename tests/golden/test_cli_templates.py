"""Golden cases of the SSH collector: every recording under agent/lab/cli parses as recorded.

Layout (ntc-templates'): ``<platform>/<command folder>/<name>.raw`` beside ``<name>.yml``
(``parsed_sample:``). The command is found from its folder through `PLATFORM_COMMANDS`, never
by turning underscores back into spaces (commands hold ``-`` and ``_`` of their own). A new
case is a new pair of files; a new command without a recording fails here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

from agent.samples import Sample
from agent.schema import SchemaRegistry
from collectors.ssh.commands import PLATFORM_COMMANDS, CliCommand, find_command
from collectors.ssh.parse import MEASUREMENTS, parse_rows, to_samples
from collectors.ssh.platforms import PLATFORMS, Platform

RECORDINGS = Path(__file__).resolve().parents[2] / "agent" / "lab" / "cli"
SOURCE = "lab-device"
TIMESTAMP_NS = 1_750_000_000_000_000_000


@dataclass(frozen=True)
class Case:
    platform: Platform
    command: CliCommand
    raw: Path

    @property
    def sent(self) -> str:
        # A per-interface recording is named after its interface (agent/lab/cli/README.md).
        return (
            self.command.render(self.raw.stem)
            if self.command.per_interface
            else (self.command.command)
        )

    def expected(self) -> list[dict[str, str]]:
        document = yaml.safe_load(self.raw.with_suffix(".yml").read_text(encoding="utf-8"))
        rows: list[dict[str, str]] = document["parsed_sample"]
        return rows

    def samples(self) -> list[Sample]:
        return to_samples(
            self.platform, self.command.dataset, self.expected(), SOURCE, TIMESTAMP_NS
        )


def _recordings() -> list[Path]:
    return sorted(RECORDINGS.glob("*/*/*.raw"))


def _case(raw: Path) -> Case:
    platform_name, folder = raw.parent.parent.name, raw.parent.name
    assert platform_name in PLATFORMS, f"{raw}: unknown platform folder {platform_name!r}"
    platform: Platform = next(p for p in PLATFORMS if p == platform_name)
    command = find_command(platform, folder)
    assert command is not None, f"{raw}: no command of {platform} records into {folder!r}"
    return Case(platform, command, raw)


def _id(raw: Path) -> str:
    return str(raw.relative_to(RECORDINGS))


@cache
def _find(platform: Platform, folder: str, name: str) -> Case:
    return _case(RECORDINGS / platform / folder / f"{name}.raw")


def _by_tag(samples: list[Sample], **tags: str) -> Sample:
    found = [s for s in samples if all(s.tags.get(k) == v for k, v in tags.items())]
    assert len(found) == 1, f"{len(found)} samples tagged {tags}"
    return found[0]


def _row(case: Case, column: str, value: str) -> dict[str, str]:
    return next(row for row in case.expected() if row[column] == value)


# --- every recording --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", _recordings(), ids=_id)
def test_recording_parses_as_recorded(raw: Path) -> None:
    case = _case(raw)
    assert raw.with_suffix(".yml").is_file(), f"{raw} has no .yml beside it"
    assert parse_rows(case.platform, case.sent, raw.read_text(encoding="utf-8")) == (
        case.expected()
    )


@pytest.mark.parametrize("raw", _recordings(), ids=_id)
def test_recorded_rows_are_strings(raw: Path) -> None:
    rows = _case(raw).expected()
    assert isinstance(rows, list)
    for row in rows:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in row.items()), row


@pytest.mark.parametrize("raw", _recordings(), ids=_id)
def test_samples_of_recording_conform_to_schema(raw: Path) -> None:
    case = _case(raw)
    measurement = MEASUREMENTS[case.command.dataset]
    registry = SchemaRegistry()
    registry.declare(measurement)
    samples = case.samples()
    assert len(samples) <= len(case.expected())
    for sample in samples:
        assert sample.measurement == measurement.name
        assert registry.problems(sample) == []
        assert sample.tags["source"] == SOURCE
        assert set(sample.tags) == measurement.tags
        assert sample.fields
        assert sample.timestamp_ns == TIMESTAMP_NS


def test_every_command_has_a_recording() -> None:
    missing = [
        f"{platform}: {command.command!r}"
        for platform, commands in PLATFORM_COMMANDS.items()
        for command in commands
        if not list((RECORDINGS / platform / command.recording_dir).glob("*.raw"))
    ]
    assert missing == []


def test_every_recording_folder_belongs_to_a_command() -> None:
    for folder in RECORDINGS.glob("*/*/"):
        if folder.is_dir():
            _case(next(folder.glob("*.raw"), folder / "missing.raw"))


# --- converted values, read from the recordings -----------------------------------------------


def test_junos_optics_rx_power_and_no_light() -> None:
    case = _find("juniper_junos", "show_interfaces_diagnostics_optics", "mx204_core")
    samples = case.samples()
    lit = _by_tag(samples, interface="xe-0/1/0")
    assert lit.fields["rx_power_dbm"] == float(_row(case, "interface", "xe-0/1/0")["rx_power"])
    assert lit.fields["rx_power_dbm"] == -3.45
    dark = _by_tag(samples, interface="xe-0/1/1")
    assert _row(case, "interface", "xe-0/1/1")["rx_power"] == "- Inf"
    assert "rx_power_dbm" not in dark.fields  # no light: left out, never 0
    assert dark.fields["tx_power_dbm"] == float(_row(case, "interface", "xe-0/1/1")["tx_power"])


def test_huawei_multi_lane_module_gives_lane_one() -> None:
    case = _find("huawei_vrp", "display_interface_transceiver_verbose", "vrp_ce6881_qsfp")
    row = case.expected()[0]
    sample = _by_tag(case.samples(), interface=row["interface"])
    assert sample.fields["rx_power_dbm"] == float(row["rx_power"].split("|")[0])
    assert sample.fields["bias_current_ma"] == float(row["bias_current"].split("|")[0])


def test_mikrotik_optics_units_and_empty_cage() -> None:
    case = _find("mikrotik_routeros", "interface_ethernet_monitor_name_once", "sfp-sfpplus1")
    row = case.expected()[0]
    sample = _by_tag(case.samples(), interface="sfp-sfpplus1")
    assert sample.fields["rx_power_dbm"] == float(row["sfp_rx_power"].removesuffix("dBm"))
    assert sample.fields["temperature_c"] == float(row["sfp_temperature"].removesuffix("C"))
    empty = _find("mikrotik_routeros", "interface_ethernet_monitor_name_once", "sfp2")
    assert empty.expected()[0]["sfp_module_present"] == "no"
    assert empty.samples() == []


def test_cisco_bgp_established_and_down_peers() -> None:
    case = _find("cisco_ios", "show_ip_bgp_summary", "ios_district_peers_down")
    samples = case.samples()
    for row in case.expected():
        sample = _by_tag(samples, peer=row["bgp_neighbor"])
        state = row["state_or_prefixes_received"]
        if state.isdigit():
            assert sample.fields["established"] == 1
            assert sample.fields["prefixes_received"] == int(state)
        else:
            assert sample.fields["established"] == 0
            assert sample.fields["state"] == state
            assert "prefixes_received" not in sample.fields
    asdot = _row(case, "bgp_neighbor", "10.20.0.9")["neighbor_as"]
    high, low = (int(part) for part in asdot.split("."))
    assert _by_tag(samples, peer="10.20.0.9").fields["remote_as"] == high * 65536 + low


@pytest.mark.parametrize(
    ("platform", "folder", "name", "peer_column", "state_column"),
    [
        ("huawei_vrp", "display_bgp_peer", "vrp_district_peers_down", "peer", "state"),
        ("juniper_junos", "show_bgp_summary", "mx204_core_ribs", "peer", "state"),
        ("juniper_junos", "show_bgp_summary", "srx345_district_single_rib", "peer", "state"),
        (
            "mikrotik_routeros",
            "routing_bgp_peer_print_status_without-paging",
            "ccr_border",
            "remote_address",
            "state",
        ),
    ],
)
def test_bgp_established_flag(
    platform: Platform, folder: str, name: str, peer_column: str, state_column: str
) -> None:
    case = _find(platform, folder, name)
    samples = case.samples()
    flags = set()
    for row in case.expected():
        state = row[state_column]
        # Junos shows an established single-RIB peer's counts in the State column.
        up = state.lower().startswith("establ") or state.count("/") == 3
        flags.add(up)
        assert _by_tag(samples, peer=row[peer_column]).fields["established"] == int(up)
    assert flags == {True, False}, "each of these recordings holds an up and a down peer"


def test_junos_prefixes_from_rib_line_and_state_column() -> None:
    ribs = _find("juniper_junos", "show_bgp_summary", "mx204_core_ribs")
    row = _row(ribs, "peer", "10.255.0.2")
    sample = _by_tag(ribs.samples(), peer="10.255.0.2")
    assert sample.fields["prefixes_received"] == int(row["received"])
    single = _find("juniper_junos", "show_bgp_summary", "srx345_district_single_rib")
    row = _row(single, "peer", "10.70.0.1")
    sample = _by_tag(single.samples(), peer="10.70.0.1")
    assert sample.fields["prefixes_received"] == int(row["state"].split("/")[1])
    assert sample.fields["state"] == "Established"


@pytest.mark.parametrize(
    ("platform", "folder", "name", "neighbor_column"),
    [
        ("cisco_ios", "show_ip_ospf_neighbor", "ios_department_lan", "neighbor_id"),
        ("huawei_vrp", "display_ospf_peer_brief", "vrp_department_two_processes", "neighbor_id"),
        ("juniper_junos", "show_ospf_neighbor", "srx345_department_lan", "neighbor_id"),
        (
            "mikrotik_routeros",
            "routing_ospf_neighbor_print_terse_without-paging",
            "rb_department_lan",
            "router_id",
        ),
    ],
)
def test_ospf_full_flag(platform: Platform, folder: str, name: str, neighbor_column: str) -> None:
    case = _find(platform, folder, name)
    samples = case.samples()
    flags = set()
    for row in case.expected():
        full = row["state"].upper().startswith("FULL")
        flags.add(full)
        sample = _by_tag(samples, neighbor_id=row[neighbor_column], interface=row["interface"])
        assert sample.fields["full"] == int(full)
        assert sample.fields["state"] == row["state"]
    assert flags == {True, False}, "each of these recordings holds a full and another state"


def test_cisco_error_counters() -> None:
    case = _find("cisco_ios", "show_interfaces", "ios_district_router")
    row = _row(case, "interface", "GigabitEthernet0/0/0")
    fields = _by_tag(case.samples(), interface="GigabitEthernet0/0/0").fields
    assert fields["crc_errors"] == int(row["crc"]) > 0
    assert fields["input_drops"] == int(row["queue_drops"])
    assert fields["output_drops"] == int(row["queue_output_drops"])


def test_linux_error_counters() -> None:
    case = _find("linux", "ip_-s_-s_-j_link_show", "cuc_gateway_server")
    row = _row(case, "interface", "eno1")
    fields = _by_tag(case.samples(), interface="eno1").fields
    assert fields["crc_errors"] == int(row["crc_errors"]) > 0
    assert fields["input_drops"] == int(row["input_drops"])
    assert set(fields) == set(MEASUREMENTS["errors"].fields) - {"runts", "giants"}
