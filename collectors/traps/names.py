"""The OIDs a trap receiver must know by number, and the names of well-known notifications.

Numeric only, like the rest of the agent (no MIB is loaded at run time). A notification not in
`TRAP_NAMES` is tagged with its numeric OID, so nothing is lost by leaving one out; the table
holds the generic traps (RFC 3418 / RFC 2863) and a few that the province's fleet sends often.
"""

from __future__ import annotations

from collections.abc import Mapping

Oid = tuple[int, ...]

#: SNMPv2-MIB sysUpTime.0: the first varbind of every SNMPv2 notification (TimeTicks).
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
#: SNMPv2-MIB snmpTrapOID.0: the second varbind, naming the notification.
SNMP_TRAP_OID: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
#: SNMP-COMMUNITY-MIB snmpTrapAddress.0: the SNMPv1 agent-addr, after RFC 3584 translation.
SNMP_TRAP_ADDRESS: Oid = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)
#: SNMP-COMMUNITY-MIB snmpTrapCommunity.0: the community a v1 trap came with. A secret: pysnmp
#: adds it when translating a v1 trap, and it is dropped before anything is kept.
SNMP_TRAP_COMMUNITY: Oid = (1, 3, 6, 1, 6, 3, 18, 1, 4, 0)

#: IF-MIB ifTable columns a linkDown/linkUp carries (RFC 2863 §6), instance = ifIndex.
IF_INDEX: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)
IF_ADMIN_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
IF_OPER_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)

_GENERIC = (1, 3, 6, 1, 6, 3, 1, 1, 5)

TRAP_NAMES: Mapping[Oid, str] = {
    # SNMPv2-MIB / IF-MIB generic traps (SNMPv1 generic-trap 0..5, RFC 3584 §3.1)
    (*_GENERIC, 1): "coldStart",
    (*_GENERIC, 2): "warmStart",
    (*_GENERIC, 3): "linkDown",
    (*_GENERIC, 4): "linkUp",
    (*_GENERIC, 5): "authenticationFailure",
    (*_GENERIC, 6): "egpNeighborLoss",
    # BGP4-MIB (RFC 4273) and its SNMPv1-era numbering
    (1, 3, 6, 1, 2, 1, 15, 0, 1): "bgpEstablishedNotification",
    (1, 3, 6, 1, 2, 1, 15, 0, 2): "bgpBackwardTransNotification",
    (1, 3, 6, 1, 2, 1, 15, 7, 1): "bgpEstablished",
    (1, 3, 6, 1, 2, 1, 15, 7, 2): "bgpBackwardTransition",
    # OSPF-TRAP-MIB (RFC 4750)
    (1, 3, 6, 1, 2, 1, 14, 16, 2, 2): "ospfNbrStateChange",
    (1, 3, 6, 1, 2, 1, 14, 16, 2, 16): "ospfIfStateChange",
    # ENTITY-MIB (RFC 6933)
    (1, 3, 6, 1, 2, 1, 47, 2, 0, 1): "entConfigChange",
    # UPS-MIB (RFC 1628)
    (1, 3, 6, 1, 2, 1, 33, 2, 1): "upsTrapOnBattery",
    (1, 3, 6, 1, 2, 1, 33, 2, 3): "upsTrapAlarmEntryAdded",
    (1, 3, 6, 1, 2, 1, 33, 2, 4): "upsTrapAlarmEntryRemoved",
    # CISCO-CONFIG-MAN-MIB, CISCO-SYSLOG-MIB
    (1, 3, 6, 1, 4, 1, 9, 9, 43, 2, 0, 1): "ciscoConfigManEvent",
    (1, 3, 6, 1, 4, 1, 9, 9, 41, 2, 0, 1): "clogMessageGenerated",
    # NET-SNMP-AGENT-MIB (the data centres' Linux servers run snmpd)
    (1, 3, 6, 1, 4, 1, 8072, 4, 0, 1): "nsNotifyStart",
    (1, 3, 6, 1, 4, 1, 8072, 4, 0, 2): "nsNotifyShutdown",
    (1, 3, 6, 1, 4, 1, 8072, 4, 0, 3): "nsNotifyRestart",
}

#: Notifications announcing that the device restarted: its counters start again from zero.
RESTART_TRAPS = frozenset({"coldStart", "warmStart"})

#: linkDown/linkUp, and the ifOperStatus each implies when the trap does not carry it.
LINK_TRAPS: Mapping[str, int] = {"linkDown": 2, "linkUp": 1}


def oid_text(oid: Oid) -> str:
    return ".".join(str(part) for part in oid)
