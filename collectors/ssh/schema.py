"""The measurements of the SSH collector and of the configuration backup (DESIGN §5).

Every poll writes one ``ssh`` sample (its result); each dataset the platform has becomes rows
of its own measurement, tagged with the device (``source``) and the row's key. Units are in the
field names. A value a device did not report is left out, never written as 0.
"""

from __future__ import annotations

from agent.schema import FieldType, Measurement

F, INT, S = FieldType.FLOAT, FieldType.INT, FieldType.STR

SSH = Measurement(
    name="ssh",
    tags=frozenset({"source", "platform", "result"}),
    fields={
        "result_code": INT,
        "response_time": F,  # the whole poll: connect (if needed) and every command, s
        "commands": INT,  # commands sent in this poll
        "commands_failed": INT,  # commands that errored or whose output did not parse
        "session_reused": INT,  # 1 when the poll ran on the session of an earlier poll
        "error": S,
    },
    description="One poll of a device's CLI over SSH.",
)

OPTICS = Measurement(
    name="optics",
    tags=frozenset({"source", "interface"}),
    fields={
        "rx_power_dbm": F,
        "tx_power_dbm": F,
        "temperature_c": F,
        "voltage_v": F,
        "bias_current_ma": F,
    },
    description="Optical transceiver digital diagnostics (DOM) per interface (lane 1).",
)

BGP_PEER = Measurement(
    name="bgp_peer",
    tags=frozenset({"source", "peer"}),
    fields={
        "state": S,  # as the device says it: Established, Idle, Active, Connect, ...
        "established": INT,  # 1 when the session is established, else 0
        "remote_as": INT,
        "prefixes_received": INT,
        "up_down": S,  # the device's own text for how long the state has lasted
    },
    description="BGP neighbour sessions.",
)

OSPF_NEIGHBOR = Measurement(
    name="ospf_neighbor",
    tags=frozenset({"source", "neighbor_id", "interface"}),
    fields={
        "state": S,  # as the device says it: Full/DR, Full, 2-Way, Init, ...
        "full": INT,  # 1 when the adjacency is Full, else 0
        "address": S,
    },
    description="OSPF adjacencies.",
)

INTERFACE_ERRORS = Measurement(
    name="interface_errors",
    tags=frozenset({"source", "interface"}),
    fields={
        "input_errors": INT,
        "crc_errors": INT,
        "frame_errors": INT,
        "runts": INT,
        "giants": INT,
        "input_drops": INT,
        "output_errors": INT,
        "output_drops": INT,
        "collisions": INT,
        "carrier_errors": INT,
    },
    description="Interface error counters as the CLI shows them (raw, since the last clear).",
)

CONFIG_BACKUP = Measurement(
    name="config_backup",
    tags=frozenset({"source", "platform", "result"}),
    fields={
        "result_code": INT,
        "response_time": F,  # fetching the configuration, s
        "lines": INT,  # lines of the stored (secret-stripped) configuration
        "changed": INT,  # 1 when this backup made a commit
        "error": S,
    },
    description="One configuration backup attempt.",
)

CONFIG_CHANGE = Measurement(
    name="config_change",
    tags=frozenset({"source"}),
    fields={
        "lines_added": INT,
        "lines_removed": INT,
        "commit": S,
        # "Cấu hình thay đổi: +N −M dòng": the Grafana annotation's text (InfluxQL cannot
        # build it from the numbers).
        "summary": S,
    },
    description="A device's configuration changed: one commit in the backup repository.",
)

SSH_MEASUREMENTS = (SSH, OPTICS, BGP_PEER, OSPF_NEIGHBOR, INTERFACE_ERRORS)
BACKUP_MEASUREMENTS = (CONFIG_BACKUP, CONFIG_CHANGE)
