"""CLI output → rows → samples, for the SSH collector.

`parse_rows` turns one command's output into rows (``dict[str, str]``, lowercase keys, exactly
what TextFSM returns) with our templates in ``templates/`` first and ntc-templates' as the
fallback; a Linux host's ``ip -j`` JSON is read without a template. `to_samples` turns the rows
of one dataset into samples of its measurement (`collectors.ssh.schema`): the row's key becomes
the tag(s), each value is converted to the field's declared type, and a value that is missing
or not a number (``N/A``, ``--``, ``- Inf``) is left out, never written as 0.

A device that answers with an error ("% Invalid input detected", "Error: Unrecognized
command", "syntax error", "bad command name") raises `ParseError`: an error must never read as
"no rows". Empty but valid output (no BGP configured) is ``[]``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import textfsm
from ntc_templates.parse import ParsingException, parse_output

from agent.samples import FieldValue, Sample
from agent.schema import FieldType, Measurement
from collectors.ssh.commands import CliCommand
from collectors.ssh.platforms import Dataset, Platform
from collectors.ssh.schema import BGP_PEER, INTERFACE_ERRORS, OPTICS, OSPF_NEIGHBOR

#: Our index and templates; ntc-templates' packaged ones are searched after them.
TEMPLATE_DIR = Path(__file__).with_name("templates")

MEASUREMENTS: Mapping[Dataset, Measurement] = {
    "optics": OPTICS,
    "bgp": BGP_PEER,
    "ospf": OSPF_NEIGHBOR,
    "errors": INTERFACE_ERRORS,
}

# Anchored at a line start, so that an interface description quoting such words does not
# count; each platform's own wording of "I did not understand that command".
_DEVICE_ERROR = re.compile(
    r"^\s*(?:"
    r"%\s*(?:Invalid input|Incomplete command|Ambiguous command|Unknown command|"
    r"Unrecognized command|Bad command)"  # Cisco IOS
    r"|Error:\s*(?:Unrecognized command|Wrong parameter|Incomplete command|Too many)"  # VRP
    r"|error:\s|syntax error|unknown command\.?\s*$"  # Junos (and RouterOS's syntax error)
    r"|bad command name|expected end of command|no such item|invalid value for argument"
    r"|Object \"\S+\" is unknown|Command \"\S+\" is unknown|(?:\S+: )+command not found"  # Linux
    r")",
    re.IGNORECASE | re.MULTILINE,
)
_ERROR_LINE_CHARS = 60


class ParseError(ValueError):
    """A command's output could not be read; the message names platform, command and why.

    The message never holds the output itself (it may be long, and it is the device's).
    """

    def __init__(self, platform: str, command: str, problem: str) -> None:
        super().__init__(f"{platform}: {command!r}: {problem}")
        self.platform = platform
        self.command = command
        self.problem = problem


def parse_rows(platform: Platform, command: str, text: str) -> list[dict[str, str]]:
    """The rows of `command`'s output on `platform`; see the module docstring."""
    found = _DEVICE_ERROR.search(text)
    if found is not None:
        said = found.group(0).strip()[:_ERROR_LINE_CHARS]
        raise ParseError(platform, command, f"the device answered with an error ({said!r})")
    if platform == "linux":
        return _linux_rows(command, text)
    try:
        rows = parse_output(
            platform=platform,
            command=command,
            data=text,
            template_dir=str(TEMPLATE_DIR),
            try_fallback=True,
        )
    except ParsingException as err:
        raise ParseError(platform, command, "no TextFSM template for this command") from err
    except textfsm.TextFSMTemplateError as err:
        raise ParseError(platform, command, f"the template is broken: {err}") from err
    except textfsm.TextFSMError as err:
        raise ParseError(platform, command, _where_it_failed(str(err), text)) from err
    return [{str(k): _as_text(v) for k, v in row.items()} for row in rows]


def _as_text(value: object) -> str:
    # A TextFSM "List" value (RouterOS's EEPROM dump) comes back as a list; rows stay str.
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    return str(value)


def _where_it_failed(message: str, text: str) -> str:
    """TextFSM's error without the output line it quotes: the line's number instead."""
    rule = re.search(r"Rule Line: (\d+)", message)
    quoted = re.search(r"Input Line: (.*)$", message, re.DOTALL)
    where = ""
    if quoted is not None:
        lines = text.splitlines()
        bad = quoted.group(1)
        number = next((i for i, line in enumerate(lines, 1) if line == bad), None)
        where = f" at output line {number}" if number is not None else ""
    rule_text = f" (template rule line {rule.group(1)})" if rule is not None else ""
    return f"the output does not match the template{where}{rule_text}"


# Linux: `ip -s -s -j link show`, read with json; iproute2 names the statistics "stats64"
# (older releases "stats"), and a counter the driver does not keep is simply absent.
_LINUX_COUNTERS: Mapping[str, tuple[str, str]] = {
    "input_errors": ("rx", "errors"),
    "crc_errors": ("rx", "crc_errors"),
    "frame_errors": ("rx", "frame_errors"),
    "input_drops": ("rx", "dropped"),
    "output_errors": ("tx", "errors"),
    "output_drops": ("tx", "dropped"),
    "collisions": ("tx", "collisions"),
    "carrier_errors": ("tx", "carrier_errors"),
}


def _linux_rows(command: str, text: str) -> list[dict[str, str]]:
    if not text.strip():
        return []
    try:
        links: Any = json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError("linux", command, f"not JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(links, list):
        raise ParseError("linux", command, f"a JSON {type(links).__name__}, not a list of links")
    rows: list[dict[str, str]] = []
    for link in links:
        if not isinstance(link, dict):
            continue
        stats = link.get("stats64", link.get("stats"))
        stats = stats if isinstance(stats, dict) else {}
        ifname = link.get("ifname")
        row = {"interface": ifname if isinstance(ifname, str) else ""}
        for column, (direction, name) in _LINUX_COUNTERS.items():
            side = stats.get(direction)
            value = side.get(name) if isinstance(side, dict) else None
            is_count = isinstance(value, int) and not isinstance(value, bool)
            row[column] = str(value) if is_count else ""
        rows.append(row)
    return rows


# --- rows → samples -------------------------------------------------------------------------


@dataclass(frozen=True)
class RowMap:
    """How one platform's rows of one dataset become samples.

    `tags` and `fields` map a tag or field name to the row column it is read from; `units`
    maps a ``*_dbm`` field to the column that says its unit, when the device prints it apart.
    `state` names the column the BGP or OSPF state (and the derived flags) come from.
    """

    tags: Mapping[str, str]
    fields: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    state: str | None = None


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


# The column names of our own optics templates (templates/*.textfsm).
_OUR_OPTICS_COLUMNS = {
    "temperature_c": "temperature",
    "voltage_v": "voltage",
    "bias_current_ma": "bias_current",
    "tx_power_dbm": "tx_power",
    "rx_power_dbm": "rx_power",
}

ROW_MAPS: Mapping[tuple[Platform, Dataset], RowMap] = {
    ("cisco_ios", "optics"): RowMap(
        tags=_same("interface"),
        fields={
            "temperature_c": "temperature",
            "voltage_v": "voltage",
            "bias_current_ma": "current",
            "tx_power_dbm": "tx_pwr",
            "rx_power_dbm": "rx_pwr",
        },
    ),
    ("huawei_vrp", "optics"): RowMap(
        tags=_same("interface"),
        fields=_OUR_OPTICS_COLUMNS,
        units={"tx_power_dbm": "tx_power_unit", "rx_power_dbm": "rx_power_unit"},
    ),
    ("juniper_junos", "optics"): RowMap(tags=_same("interface"), fields=_OUR_OPTICS_COLUMNS),
    ("mikrotik_routeros", "optics"): RowMap(
        tags={"interface": "name"},
        fields={
            "temperature_c": "sfp_temperature",
            "voltage_v": "sfp_supply_voltage",
            "bias_current_ma": "sfp_tx_bias_current",
            "tx_power_dbm": "sfp_tx_power",
            "rx_power_dbm": "sfp_rx_power",
        },
    ),
    ("cisco_ios", "bgp"): RowMap(
        tags={"peer": "bgp_neighbor"},
        fields={"remote_as": "neighbor_as", "up_down": "up_down"},
        state="state_or_prefixes_received",
    ),
    ("huawei_vrp", "bgp"): RowMap(
        tags=_same("peer"),
        fields={"remote_as": "asn", "up_down": "up_down", "prefixes_received": "pref_rcvd"},
        state="state",
    ),
    ("juniper_junos", "bgp"): RowMap(
        tags=_same("peer"),
        fields={"remote_as": "peer_as", "up_down": "up_down", "prefixes_received": "received"},
        state="state",
    ),
    ("mikrotik_routeros", "bgp"): RowMap(
        tags={"peer": "remote_address"},
        fields={"remote_as": "remote_as", "up_down": "uptime", "prefixes_received": "prefix_count"},
        state="state",
    ),
    ("cisco_ios", "ospf"): RowMap(
        tags=_same("neighbor_id", "interface"), fields={"address": "ip_address"}, state="state"
    ),
    # The brief form has no neighbour address.
    ("huawei_vrp", "ospf"): RowMap(tags=_same("neighbor_id", "interface"), state="state"),
    ("juniper_junos", "ospf"): RowMap(
        tags=_same("neighbor_id", "interface"), fields={"address": "ip_address"}, state="state"
    ),
    ("mikrotik_routeros", "ospf"): RowMap(
        tags={"neighbor_id": "router_id", "interface": "interface"},
        fields={"address": "address"},
        state="state",
    ),
    ("cisco_ios", "errors"): RowMap(
        tags=_same("interface"),
        fields={
            "input_errors": "input_errors",
            "crc_errors": "crc",
            "frame_errors": "frame",
            "runts": "runts",
            "giants": "giants",
            "input_drops": "queue_drops",
            "output_errors": "output_errors",
            "output_drops": "queue_output_drops",
        },
    ),
    ("linux", "errors"): RowMap(tags=_same("interface"), fields=_same(*_LINUX_COUNTERS)),
}


def to_samples(
    platform: Platform,
    dataset: Dataset,
    rows: list[dict[str, str]],
    source: str,
    timestamp_ns: int,
) -> list[Sample]:
    """Samples of the dataset's measurement, one per row that has its key and a value."""
    row_map = ROW_MAPS.get((platform, dataset))
    if row_map is None:
        raise ParseError(platform, f"<{dataset}>", f"no mapping of {dataset} rows to samples")
    measurement = MEASUREMENTS[dataset]
    samples: list[Sample] = []
    for row in rows:
        tags = {tag: row.get(column, "").strip() for tag, column in row_map.tags.items()}
        if not all(tags.values()):
            continue
        fields = _fields(measurement, row_map, row)
        if not fields:  # an empty SFP cage, a disabled peer: nothing to write
            continue
        samples.append(Sample(measurement.name, {"source": source, **tags}, fields, timestamp_ns))
    return samples


def _fields(
    measurement: Measurement, row_map: RowMap, row: Mapping[str, str]
) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {}
    if row_map.state is not None:
        fields.update(_state_fields(measurement, row.get(row_map.state, "")))
    for name, column in row_map.fields.items():
        text = row.get(column, "")
        unit_column = row_map.units.get(name)
        unit = row.get(unit_column, "") if unit_column else ""
        value = _convert(measurement.fields[name], name, text, unit)
        if value is not None:
            fields[name] = value
    return fields


def _state_fields(measurement: Measurement, text: str) -> dict[str, FieldValue]:
    state = " ".join(text.split())
    if not state:
        return {}
    if measurement is OSPF_NEIGHBOR:
        return {"state": state, "full": int(state.lower().startswith("full"))}
    # The state column of an established session shows a prefix count instead: Cisco's
    # "State/PfxRcd" a number, Junos's "#Active/Received/Accepted/Damped" four of them.
    summary = re.fullmatch(r"(\d+)|\d+/(\d+)/\d+/\d+", state)
    if summary is not None:
        received = int(summary.group(1) or summary.group(2))
        return {"state": "Established", "established": 1, "prefixes_received": received}
    # Junos abbreviates to "Establ"; RouterOS writes "established".
    return {"state": state, "established": int(state.lower().startswith("establ"))}


def _convert(kind: FieldType, name: str, text: str, unit: str) -> FieldValue | None:
    text = text.strip()
    if not text:
        return None
    if kind is FieldType.STR:
        return text
    if kind is FieldType.INT:
        return to_int(text)
    if kind is FieldType.FLOAT:
        return to_dbm(text, unit) if name.endswith("_dbm") else to_float(text)
    return None


_NUMBER = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*([A-Za-z°]*)")


def _number(text: str) -> tuple[float, str] | None:
    # A multi-lane module shows "-2.01|-2.15|..." (Huawei) or "-2.01, -2.15": lane 1 only.
    first = re.split(r"[|,]", text.strip(), maxsplit=1)[0].strip()
    found = _NUMBER.fullmatch(first)
    if found is None:
        return None  # "N/A", "--", "- Inf", "-Inf": not reported, so not written
    value = float(found.group(1))
    return (value, found.group(2)) if math.isfinite(value) else None


def to_float(text: str) -> float | None:
    """A reading such as ``"33.5"``, ``"3.251V"`` or ``"6mA"``; None when there is none."""
    number = _number(text)
    return number[0] if number is not None else None


# mW and µW to dBm, rounded as devices print dBm; 0 (no light at all) is -inf, so None.
_TO_DBM: Mapping[str, Callable[[float], float | None]] = {
    "mw": lambda value: round(10 * math.log10(value), 2) if value > 0 else None,
    "uw": lambda value: round(10 * math.log10(value / 1000), 2) if value > 0 else None,
}


def to_dbm(text: str, unit: str = "") -> float | None:
    """An optical power in dBm, from dBm or mW (``unit``, else the value's own suffix).

    0 mW is no light at all: minus infinity in dBm, which is left out like ``-Inf``.
    """
    number = _number(text)
    if number is None:
        return None
    value, suffix = number
    unit = (unit or suffix or "dBm").lower()
    if unit == "dbm":
        return value
    convert = _TO_DBM.get(unit)
    return convert(value) if convert is not None else None


def to_int(text: str) -> int | None:
    """A counter or an AS number; asdot ``"1.10"`` is 1 * 65536 + 10 (RFC 5396)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    asdot = re.fullmatch(r"(\d+)\.(\d+)", text)
    if asdot is not None:
        high, low = int(asdot.group(1)), int(asdot.group(2))
        return high * 65536 + low if high < 65536 and low < 65536 else None
    return None


def parse(
    platform: Platform,
    command: CliCommand,
    text: str,
    source: str,
    timestamp_ns: int,
    *,
    interface: str | None = None,
) -> list[Sample]:
    """`parse_rows` then `to_samples`; `interface` for a per-interface command as sent."""
    sent = command.render(interface) if command.per_interface and interface else command.command
    rows = parse_rows(platform, sent, text)
    return to_samples(platform, command.dataset, rows, source, timestamp_ns)
