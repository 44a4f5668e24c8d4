"""What a trap becomes: one ``snmp_trap`` row, and for linkDown/linkUp an ``interface`` row.

``snmp_trap`` (DESIGN §5), one row per trap or inform received:

=================  =====  ===================================================================
tag ``source``            the inventory host that sent it (unknown senders: their address)
tag ``trap``              the well-known name (coldStart, linkDown, …) or the numeric OID
tag ``version``           ``1``, ``2c`` or ``3``
``received``       int    always 1: a field every row has, to count traps with ``sum()``
``trap_oid``       str    the notification's OID, dotted
``varbinds``       str    compact JSON object {numeric OID: value text}, every varbind
``sysUpTime``      int    the sender's sysUpTime.0 (centiseconds), when present
``ifIndex``        int    IF-MIB varbinds of the interface named, when present
``ifAdminStatus``  int
``ifOperStatus``   int
=================  =====  ===================================================================

A linkDown/linkUp also writes the interface's state into the poller's own ``interface`` series
at once (tags source, ifIndex, and sysName/ifName/ifDescr as the SNMP poller last saw that row),
so the dashboards that show interface state change without waiting for the next poll.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.samples import FieldValue, Sample
from agent.schema import FieldType, Measurement, SchemaRegistry
from collectors.traps.decode import Notification
from collectors.traps.names import LINK_TRAPS

TRAP_MEASUREMENT = Measurement(
    name="snmp_trap",
    tags=frozenset({"source", "trap", "version"}),
    fields={
        "received": FieldType.INT,
        "trap_oid": FieldType.STR,
        "varbinds": FieldType.STR,
        "sysUpTime": FieldType.INT,
        "ifIndex": FieldType.INT,
        "ifAdminStatus": FieldType.INT,
        "ifOperStatus": FieldType.INT,
    },
    description="One row per SNMP trap or inform received (collectors.traps).",
    units={"sysUpTime": "centiseconds"},
    enums={
        "ifAdminStatus": {1: "up", 2: "down", 3: "testing"},
        "ifOperStatus": {
            1: "up",
            2: "down",
            3: "testing",
            4: "unknown",
            5: "dormant",
            6: "notPresent",
            7: "lowerLayerDown",
        },
    },
)

#: The part of the poller's ``interface`` measurement (collectors/snmp/profiles/if-mib.yaml)
#: that linkDown/linkUp write; declared here too so traps work without the SNMP poller.
TRAP_INTERFACE_MEASUREMENT = Measurement(
    name="interface",
    tags=frozenset({"source", "sysName", "ifIndex", "ifName", "ifDescr"}),
    fields={"ifOperStatus": FieldType.INT, "ifAdminStatus": FieldType.INT},
)

TRAP_MEASUREMENTS = (TRAP_MEASUREMENT, TRAP_INTERFACE_MEASUREMENT)

#: The interface labels the SNMP poller knows for (host, ifIndex): sysName, ifName, ifDescr.
InterfaceTags = Mapping[str, str]
_LABELS = ("sysName", "ifName", "ifDescr")


def declare(schema: SchemaRegistry) -> None:
    for measurement in TRAP_MEASUREMENTS:
        schema.declare(measurement)


def trap_sample(trap: Notification, source: str, timestamp_ns: int) -> Sample:
    fields: dict[str, FieldValue] = {
        "received": 1,
        "trap_oid": trap.trap_oid,
        "varbinds": trap.varbinds_json(),
        **trap.numbers,
    }
    tags = {"source": source, "trap": trap.name, "version": trap.version}
    return Sample(TRAP_MEASUREMENT.name, tags, fields, timestamp_ns)


def interface_sample(
    trap: Notification, source: str, labels: InterfaceTags, timestamp_ns: int
) -> Sample | None:
    """The interface's new state from a linkDown/linkUp naming one; None otherwise."""
    implied = LINK_TRAPS.get(trap.name)
    if_index = trap.if_index
    if implied is None or if_index is None:
        return None
    tags = {"source": source, "ifIndex": if_index}
    tags.update({name: labels[name] for name in _LABELS if labels.get(name)})
    fields: dict[str, FieldValue] = {"ifOperStatus": trap.numbers.get("ifOperStatus", implied)}
    if "ifAdminStatus" in trap.numbers:
        fields["ifAdminStatus"] = trap.numbers["ifAdminStatus"]
    return Sample(TRAP_INTERFACE_MEASUREMENT.name, tags, fields, timestamp_ns)
