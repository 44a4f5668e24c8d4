"""collectors.ssh.parse and .commands: conversions, errors and the command table."""

from __future__ import annotations

import json

import pytest

from agent.schema import SchemaRegistry
from collectors.ssh.commands import PLATFORM_COMMANDS, CliCommand, commands_for
from collectors.ssh.parse import (
    MEASUREMENTS,
    ROW_MAPS,
    ParseError,
    parse,
    parse_rows,
    to_dbm,
    to_float,
    to_int,
    to_samples,
)
from collectors.ssh.platforms import DATASETS, Platform

TS = 1_750_000_000_000_000_000


def _registry() -> SchemaRegistry:
    registry = SchemaRegistry()
    for measurement in MEASUREMENTS.values():
        registry.declare(measurement)
    return registry


# --- device errors and parse failures ---------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "command", "answer"),
    [
        (
            "cisco_ios",
            "show ip bgp summary",
            "show ip bgp sumary\n            ^\n% Invalid input detected at '^' marker.\n",
        ),
        ("cisco_ios", "show interfaces", "% Incomplete command.\n"),
        (
            "huawei_vrp",
            "display ospf peer brief",
            "                ^\nError: Unrecognized command found at '^' position.\n",
        ),
        (
            "huawei_vrp",
            "display interface transceiver verbose",
            "Error: Wrong parameter found at '^' position.\n",
        ),
        (
            "juniper_junos",
            "show bgp summary",
            "                 ^\nsyntax error, expecting <command>.\n",
        ),
        (
            "juniper_junos",
            "show interfaces diagnostics optics",
            "error: device xe-9/9/9 not found\n",
        ),
        (
            "mikrotik_routeros",
            "routing bgp peer print status without-paging",
            "bad command name peer (line 1 column 14)\n",
        ),
        (
            "mikrotik_routeros",
            "interface ethernet monitor sfp9 once",
            "no such item (4)\n",
        ),
        ("linux", "ip -s -s -j link show", 'Object "link" is unknown, try "ip help".\n'),
        ("linux", "ip -s -s -j link show", "bash: ip: command not found\n"),
    ],
)
def test_device_error_is_a_parse_error_not_zero_rows(
    platform: Platform, command: str, answer: str
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_rows(platform, command, answer)
    assert platform in str(caught.value)
    assert command in str(caught.value)
    assert "error" in str(caught.value)


def test_template_failure_names_platform_and_command_but_not_the_output() -> None:
    secret_line = " 0.0.0.0   this line is not VRP output at all  tacacs-key=s3cr3t"
    text = (
        "\n\t OSPF Process 1 with Router ID 10.255.10.1\n"
        " Area Id          Interface                        Neighbor id      State    \n"
        f"{secret_line}\n"
    )
    with pytest.raises(ParseError) as caught:
        parse_rows("huawei_vrp", "display ospf peer brief", text)
    message = str(caught.value)
    assert "huawei_vrp" in message
    assert "display ospf peer brief" in message
    assert "s3cr3t" not in message
    assert secret_line.strip() not in message
    assert "output line 4" in message


def test_command_without_template_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no TextFSM template"):
        parse_rows("juniper_junos", "show chassis fpc pic-status frobnicate", "anything\n")


def test_bgp_not_configured_is_no_rows() -> None:
    assert parse_rows("cisco_ios", "show ip bgp summary", "% BGP not active\n") == []
    assert parse_rows("juniper_junos", "show ospf neighbor", "") == []


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(ParseError, ValueError)


# --- conversions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("65010", 65010),
        ("1.10", 65546),
        ("0.65535", 65535),
        ("65535.65535", 2**32 - 1),
        (" 42 ", 42),
        ("65536.1", None),
        ("abc", None),
        ("", None),
        ("-1", None),
    ],
)
def test_to_int_reads_counters_and_asdot(text: str, expected: int | None) -> None:
    assert to_int(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-40.00", -40.0),
        ("33C", 33.0),
        ("3.251V", 3.251),
        ("6mA", 6.0),
        ("38.10|37.42", 38.10),
        ("N/A", None),
        ("NA", None),
        ("--", None),
        ("-Inf", None),
        ("- Inf", None),
        ("", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_to_float_leaves_out_what_is_not_a_reading(text: str, expected: float | None) -> None:
    assert to_float(text) == expected


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("-3.45", "", -3.45),
        ("-2.118dBm", "", -2.118),
        ("-8.21", "dBM", -8.21),
        ("1.0", "mW", 0.0),
        ("0.5", "mW", -3.01),
        ("0.4518mW", "", -3.45),
        ("501.2", "uW", -3.0),
        ("0.0000", "mW", None),
        ("-Inf", "", None),
        ("12", "furlongs", None),
    ],
)
def test_to_dbm_converts_milliwatts(text: str, unit: str, expected: float | None) -> None:
    assert to_dbm(text, unit) == expected


def test_huawei_power_in_milliwatts_becomes_dbm() -> None:
    row = {
        "interface": "GigabitEthernet0/0/1",
        "rx_power": "0.4518",
        "rx_power_unit": "mW",
        "tx_power": "-5.87",
        "tx_power_unit": "dBM",
        "temperature": "36.50",
        "voltage": "",
        "bias_current": "",
    }
    [sample] = to_samples("huawei_vrp", "optics", [row], "s5735-01", TS)
    assert sample.fields == {"rx_power_dbm": -3.45, "tx_power_dbm": -5.87, "temperature_c": 36.5}


def test_unreadable_optics_values_are_left_out_not_zero() -> None:
    row = {
        "interface": "Gi1/1/1",
        "temperature": "31.3",
        "voltage": "N/A",
        "current": "--",
        "tx_pwr": "-Inf",
        "rx_pwr": "-40.00",
    }
    [sample] = to_samples("cisco_ios", "optics", [row], "core-01", TS)
    assert sample.fields == {"temperature_c": 31.3, "rx_power_dbm": -40.0}
    assert _registry().problems(sample) == []


def test_row_without_key_or_values_is_skipped() -> None:
    rows = [
        {
            "interface": "",
            "temperature": "31.3",
            "voltage": "3.3",
            "current": "6",
            "tx_pwr": "-2",
            "rx_pwr": "-3",
        },
        {
            "interface": "Gi1/1/2",
            "temperature": "N/A",
            "voltage": "",
            "current": "",
            "tx_pwr": "",
            "rx_pwr": "",
        },
        {"temperature": "31.3"},
    ]
    assert to_samples("cisco_ios", "optics", rows, "core-01", TS) == []


def test_ospf_row_needs_both_keys() -> None:
    rows = [{"neighbor_id": "10.255.0.2", "interface": "", "state": "FULL/DR", "ip_address": ""}]
    assert to_samples("cisco_ios", "ospf", rows, "core-01", TS) == []


@pytest.mark.parametrize(
    ("platform", "state", "established", "prefixes"),
    [
        ("cisco_ios", "298", 1, 298),
        ("cisco_ios", "0", 1, 0),
        ("cisco_ios", "Idle (Admin)", 0, None),
        ("cisco_ios", "Active", 0, None),
        ("huawei_vrp", "Established", 1, None),
        ("huawei_vrp", "Idle", 0, None),
        ("juniper_junos", "Establ", 1, None),
        ("juniper_junos", "2/3/3/0", 1, 3),
        ("juniper_junos", "Active", 0, None),
        ("juniper_junos", "Connect", 0, None),
        ("mikrotik_routeros", "established", 1, None),
        ("mikrotik_routeros", "opensent", 0, None),
    ],
)
def test_bgp_established_per_platform(
    platform: Platform, state: str, established: int, prefixes: int | None
) -> None:
    peer_column = ROW_MAPS[(platform, "bgp")].tags["peer"]
    state_column = ROW_MAPS[(platform, "bgp")].state
    assert state_column is not None
    [sample] = to_samples(
        platform, "bgp", [{peer_column: "10.0.0.1", state_column: state}], "r1", TS
    )
    assert sample.fields["established"] == established
    assert sample.fields.get("prefixes_received") == prefixes
    assert _registry().problems(sample) == []


def test_bgp_prefix_column_wins_over_missing_state() -> None:
    row = {"peer": "10.0.0.1", "asn": "1.10", "state": "", "pref_rcvd": "12", "up_down": "01h"}
    [sample] = to_samples("huawei_vrp", "bgp", [row], "r1", TS)
    assert sample.fields == {"remote_as": 65546, "prefixes_received": 12, "up_down": "01h"}


@pytest.mark.parametrize(
    ("state", "full"),
    [
        ("FULL/DR", 1),
        ("FULL/  -", 1),
        ("Full", 1),
        ("full", 1),
        ("2WAY/DROTHER", 0),
        ("2-Way", 0),
        ("2Way", 0),
        ("Init", 0),
        ("ExStart", 0),
        ("Loading", 0),
    ],
)
def test_ospf_full(state: str, full: int) -> None:
    row = {
        "neighbor_id": "10.255.0.2",
        "interface": "xe-0/1/0.0",
        "state": state,
        "ip_address": "10.0.21.2",
    }
    [sample] = to_samples("juniper_junos", "ospf", [row], "mx-01", TS)
    assert sample.fields["full"] == full
    assert sample.fields["state"] == " ".join(state.split())
    assert sample.fields["address"] == "10.0.21.2"


def test_dataset_without_mapping_is_an_error() -> None:
    with pytest.raises(ParseError, match="no mapping"):
        to_samples("linux", "bgp", [], "host", TS)


def test_row_maps_use_only_declared_tags_and_fields() -> None:
    for (platform, dataset), row_map in ROW_MAPS.items():
        measurement = MEASUREMENTS[dataset]
        assert set(row_map.tags) | {"source"} == measurement.tags, (platform, dataset)
        assert set(row_map.fields) <= set(measurement.fields), (platform, dataset)
        assert set(row_map.units) <= set(row_map.fields), (platform, dataset)


def test_every_command_has_a_row_map() -> None:
    for platform, commands in PLATFORM_COMMANDS.items():
        for command in commands:
            assert (platform, command.dataset) in ROW_MAPS


# --- Linux JSON -------------------------------------------------------------------------------


def test_linux_missing_counters_and_old_stats_key() -> None:
    links = [
        {"ifname": "eth0", "stats64": {"rx": {"errors": 4, "dropped": 1}, "tx": {"errors": 0}}},
        {"ifname": "eth1", "stats": {"rx": {"errors": 2, "crc_errors": 2}}},
        {"ifname": "eth2"},
        {"ifindex": 9, "stats64": {"rx": {"errors": 1}}},
        {"ifname": "eth3", "stats64": {"rx": {"errors": "many", "dropped": True}, "tx": []}},
        "not a link",
    ]
    rows = parse_rows("linux", "ip -s -s -j link show", json.dumps(links))
    assert [row["interface"] for row in rows] == ["eth0", "eth1", "eth2", "", "eth3"]
    assert rows[0]["input_errors"] == "4"
    assert rows[0]["crc_errors"] == ""
    assert rows[1]["crc_errors"] == "2"
    assert all(value == "" for key, value in rows[4].items() if key != "interface")
    samples = to_samples("linux", "errors", rows, "host-01", TS)
    assert [s.tags["interface"] for s in samples] == ["eth0", "eth1"]
    assert samples[0].fields == {"input_errors": 4, "input_drops": 1, "output_errors": 0}
    assert samples[1].fields == {"input_errors": 2, "crc_errors": 2}


@pytest.mark.parametrize("text", ["not json at all\n", '{"ifname": "eth0"}\n', "[1, 2"])
def test_linux_bad_json_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_rows("linux", "ip -s -s -j link show", text)
    assert "linux" in str(caught.value)
    assert text.strip() not in str(caught.value)


def test_linux_empty_output_is_no_rows() -> None:
    assert parse_rows("linux", "ip -s -s -j link show", "") == []
    assert parse_rows("linux", "ip -s -s -j link show", "[]\n") == []


# --- the command table ------------------------------------------------------------------------


def test_required_coverage() -> None:
    covered = {p: {c.dataset for c in commands} for p, commands in PLATFORM_COMMANDS.items()}
    assert covered == {
        "cisco_ios": {"optics", "bgp", "ospf", "errors"},
        "huawei_vrp": {"optics", "bgp", "ospf"},
        "juniper_junos": {"optics", "bgp", "ospf"},
        "mikrotik_routeros": {"optics", "bgp", "ospf"},
        "linux": {"errors"},
    }
    for commands in PLATFORM_COMMANDS.values():
        assert len({c.dataset for c in commands}) == len(commands)


def test_commands_for_keeps_table_order_and_skips_what_is_missing() -> None:
    assert [c.command for c in commands_for("cisco_ios", ("errors", "optics"))] == [
        "show interface transceiver",
        "show interfaces",
    ]
    assert commands_for("linux", ("optics", "bgp")) == ()
    assert len(commands_for("juniper_junos", DATASETS)) == 3


def test_per_interface_command() -> None:
    [monitor] = commands_for("mikrotik_routeros", ("optics",))
    assert monitor.per_interface
    assert monitor.render("sfp-sfpplus1") == "interface ethernet monitor sfp-sfpplus1 once"
    assert monitor.recording_dir == "interface_ethernet_monitor_name_once"
    for bad in (None, "", "sfp1 once; /system reboot"):
        with pytest.raises(ValueError, match="interface"):
            monitor.render(bad)
    plain = CliCommand("bgp", "show bgp summary")
    assert plain.render() == "show bgp summary"
    with pytest.raises(ValueError, match="does not take"):
        plain.render("xe-0/0/0")


def test_parse_convenience_renders_per_interface_command() -> None:
    [monitor] = commands_for("mikrotik_routeros", ("optics",))
    text = (
        "                      name: sfp1\n"
        "        sfp-module-present: yes\n"
        "           sfp-temperature: 41C\n"
        "              sfp-rx-power: -3.45dBm\n"
    )
    [sample] = parse("mikrotik_routeros", monitor, text, "rb-01", TS, interface="sfp1")
    assert sample.tags == {"source": "rb-01", "interface": "sfp1"}
    assert sample.fields == {"temperature_c": 41.0, "rx_power_dbm": -3.45}
    with pytest.raises(ParseError, match="sfp1"):
        parse("mikrotik_routeros", monitor, "bad command name x\n", "rb-01", TS, interface="sfp1")
