"""LLDP neighbours as topology: which inventory host is on the other end of a port.

An `lldp` row (LLDP-MIB lldpRemTable, profile ``lldp``) says what a device hears on one local
port: the neighbour's chassis, port and system name. The neighbour's announced system name is
matched against what the agent knows — every polled host's name and the sysName it reported —
and the row gets the tag ``neighbour`` = that inventory host. The SLA engine reads these rows to
tell that a commune router hangs off a district router's port, so an outage of the district
uplink is charged to the uplink, not to every commune behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from agent.samples import Sample

NEIGHBOUR_TAG = "neighbour"
REMOTE_NAME = "lldpRemSysName"


def normalised(name: str) -> str:
    """A system name compared loosely: case and the DNS domain do not matter."""
    return name.strip().lower().split(".", 1)[0]


def resolve_neighbours(samples: Iterable[Sample], known: Mapping[str, str]) -> int:
    """Tag each `lldp` sample with the inventory host it points at; returns how many matched.

    `known` maps names a host may announce (its inventory name, its sysName) to the host.
    """
    index = {normalised(name): host for name, host in known.items() if name}
    matched = 0
    for sample in samples:
        if sample.measurement != "lldp":
            continue
        announced = sample.fields.get(REMOTE_NAME)
        if not isinstance(announced, str) or not announced:
            continue
        host = index.get(normalised(announced))
        if host is not None:
            sample.tags[NEIGHBOUR_TAG] = host
            matched += 1
    return matched
