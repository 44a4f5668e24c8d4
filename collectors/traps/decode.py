"""From a notification's varbinds (as pysnmp hands them over) to what the samples need.

Every SNMP version arrives here as SNMPv2 varbinds: pysnmp translates an SNMPv1 trap as
RFC 3584 §3.1 says (sysUpTime.0, snmpTrapOID.0, then snmpTrapAddress.0 = agent-addr, the
community, snmpTrapEnterprise.0, then the trap's own varbinds).

Nothing is lost: every varbind is kept as text under its numeric OID (`Notification.varbinds`),
except snmpTrapCommunity.0, which is a secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyasn1.type import univ

from collectors.snmp.values import is_missing, native
from collectors.traps.names import (
    IF_ADMIN_STATUS,
    IF_INDEX,
    IF_OPER_STATUS,
    SNMP_TRAP_ADDRESS,
    SNMP_TRAP_COMMUNITY,
    SNMP_TRAP_OID,
    SYS_UPTIME,
    TRAP_NAMES,
    Oid,
    oid_text,
)

#: A value longer than this (characters of text) is cut: one trap must not make a row that
#: InfluxDB refuses (its string fields hold at most 64 KiB).
MAX_VALUE_CHARS = 1024
#: The whole varbinds text stays under this; varbinds past it are counted, not kept.
MAX_VARBINDS_CHARS = 48 * 1024
_INT64 = (-(2**63), 2**63 - 1)


class NotATrapError(ValueError):
    """Varbinds that are not a notification (no snmpTrapOID.0)."""


@dataclass(frozen=True)
class Notification:
    """One trap or inform, decoded.

    version: "1", "2c" or "3".
    trap_oid: the notification's OID, dotted.
    name: its well-known name (`names.TRAP_NAMES`), else `trap_oid`.
    varbinds: numeric OID → value text, in the order received, without the community.
    numbers: the well-known integer varbinds present (sysUpTime in centiseconds, ifIndex,
      ifAdminStatus, ifOperStatus).
    agent_address: the SNMPv1 agent-addr field (None for SNMPv2c and SNMPv3).
    """

    version: str
    trap_oid: str
    name: str
    varbinds: Mapping[str, str]
    numbers: Mapping[str, int] = field(default_factory=dict)
    agent_address: str | None = None

    @property
    def if_index(self) -> str | None:
        index = self.numbers.get("ifIndex")
        return None if index is None else str(index)

    def varbinds_json(self) -> str:
        return json.dumps(self.varbinds, ensure_ascii=False, separators=(",", ":"))


def _native(value: Any) -> Any:
    try:
        return native(value)
    except (ValueError, TypeError):
        pass
    # SNMPv1's own types (RFC 1155 TimeTicks, IpAddress) in a translated v1 trap's header.
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString) and type(value).__name__ == "IpAddress":
        return ".".join(str(octet) for octet in bytes(value))
    return str(value.prettyPrint()) if hasattr(value, "prettyPrint") else repr(value)


def value_text(value: Any) -> str:
    """A varbind's value as text: numbers in decimal, OIDs dotted, octets as text or hex."""
    if is_missing(value):
        return type(value).__name__  # noSuchObject, endOfMibView, Null
    text = str(_native(value))
    if len(text) > MAX_VALUE_CHARS:
        text = f"{text[:MAX_VALUE_CHARS]}…({len(text)} chars)"
    return text


def _integer(value: Any) -> int | None:
    number = _native(value)
    if isinstance(number, bool) or not isinstance(number, int):
        return None
    return number if _INT64[0] <= number <= _INT64[1] else None


def _instance(oid: Oid, column: Oid) -> tuple[int, ...] | None:
    if len(oid) > len(column) and oid[: len(column)] == column:
        return oid[len(column) :]
    return None


def _interface_numbers(var_binds: Sequence[tuple[Oid, Any]]) -> dict[str, int]:
    """ifIndex, ifAdminStatus, ifOperStatus of the first interface the varbinds name."""
    numbers: dict[str, int] = {}
    columns = {
        "ifIndex": IF_INDEX,
        "ifAdminStatus": IF_ADMIN_STATUS,
        "ifOperStatus": IF_OPER_STATUS,
    }
    for oid, value in var_binds:
        for name, column in columns.items():
            instance = _instance(oid, column)
            if instance is None or len(instance) != 1:
                continue
            if "ifIndex" in numbers and instance[0] != numbers["ifIndex"]:
                continue  # a second interface: its row is still in `varbinds`
            number = _integer(value)
            if number is None:
                continue
            numbers.setdefault("ifIndex", instance[0])
            numbers.setdefault(name, number)
    return numbers


def notification(version: str, var_binds: Sequence[tuple[Any, Any]]) -> Notification:
    """Decode one notification; raise NotATrapError when snmpTrapOID.0 is missing."""
    keyed = [(tuple(int(part) for part in name), value) for name, value in var_binds]
    trap_oid: Oid | None = None
    numbers: dict[str, int] = {}
    agent_address = None
    texts: dict[str, str] = {}
    size = 0
    left_out = 0
    for oid, value in keyed:
        if oid == SNMP_TRAP_COMMUNITY:
            continue
        if oid == SNMP_TRAP_OID and trap_oid is None:
            trap_oid = _as_oid(value)
        elif oid == SYS_UPTIME and (uptime := _integer(value)) is not None:
            numbers.setdefault("sysUpTime", uptime)
        elif oid == SNMP_TRAP_ADDRESS and version == "1":
            agent_address = value_text(value)
        key, text = oid_text(oid), value_text(value)
        size += len(key) + len(text) + 6  # quotes, colon, comma
        if size > MAX_VARBINDS_CHARS:
            left_out += 1
            continue
        texts[key] = text
    if trap_oid is None:
        raise NotATrapError("no snmpTrapOID.0 varbind")
    if left_out:
        texts["truncated"] = f"{left_out} more varbinds left out"
    numbers.update(_interface_numbers(keyed))
    dotted = oid_text(trap_oid)
    return Notification(
        version=version,
        trap_oid=dotted,
        name=TRAP_NAMES.get(trap_oid, dotted),
        varbinds=texts,
        numbers=numbers,
        agent_address=agent_address,
    )


def _as_oid(value: Any) -> Oid:
    if not isinstance(value, univ.ObjectIdentifier):
        raise NotATrapError("snmpTrapOID.0 is not an OBJECT IDENTIFIER")
    return tuple(int(part) for part in value)
