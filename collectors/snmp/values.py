"""Turning SNMP values into sample field values, exactly and without MIB look-ups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905

from agent.samples import FieldValue, Unsigned
from agent.schema import FieldType


class BadValueError(ValueError):
    """A device's value does not fit the column it was asked for."""


def _octets_text(value: Any) -> str:
    """Text if the octets are text, else hex of all of them (a MAC may end in 00)."""
    original = bytes(value)
    raw = original.rstrip(b"\x00")  # some agents NUL-terminate DisplayStrings
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return original.hex(":")
    if all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return text
    return original.hex(":")


_NATIVE: dict[type, Callable[[Any], FieldValue]] = {
    rfc1902.Integer32: int,
    rfc1902.Integer: int,
    rfc1902.Counter32: int,
    rfc1902.Gauge32: int,
    rfc1902.Unsigned32: int,
    rfc1902.TimeTicks: int,
    rfc1902.Counter64: lambda v: Unsigned(int(v)),
    rfc1902.OctetString: _octets_text,
    rfc1902.Opaque: lambda v: bytes(v).hex(":"),
    rfc1902.IpAddress: lambda v: ".".join(str(b) for b in bytes(v)),
    rfc1902.ObjectIdentifier: lambda v: ".".join(str(p) for p in v),
    rfc1902.Bits: lambda v: bytes(v).hex(":"),
    # An OID value (hrStorageType, sysObjectID) arrives as pyasn1's own type.
    univ.ObjectIdentifier: lambda v: ".".join(str(p) for p in v),
}

_MISSING = (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView)


def is_missing(value: Any) -> bool:
    # pysnmp decodes a NULL value as pyasn1's own Null, not rfc1902's.
    return isinstance(value, (*_MISSING, rfc1902.Null, univ.Null))


def native(value: Any) -> FieldValue:
    """The Python value of an SNMP value (Counter64 → Unsigned, strings decoded)."""
    convert = _NATIVE.get(type(value))
    if convert is None:
        for kind, candidate in _NATIVE.items():
            if isinstance(value, kind):
                convert = candidate
                break
        else:
            raise BadValueError(f"unsupported SNMP type {type(value).__name__}")
    return convert(value)


def as_field(value: FieldValue, kind: FieldType) -> FieldValue:
    """`value` as the declared field type; raise BadValueError when it does not fit."""
    if kind is FieldType.STR:
        return value if isinstance(value, str) else str(value)
    if isinstance(value, str):
        raise BadValueError(f"text {value[:40]!r} where a number ({kind}) is declared")
    if kind is FieldType.UINT:
        return value if isinstance(value, Unsigned) else Unsigned(int(value))
    if kind is FieldType.INT:
        number = int(value)
        if not -(2**63) <= number < 2**63:
            raise BadValueError(f"{number} does not fit a signed 64-bit integer")
        return number
    if kind is FieldType.FLOAT:
        return float(value)
    # SNMPv2-TC TruthValue: true(1), false(2); bool(2) would read as true.
    if value not in (1, 2):
        raise BadValueError(f"{value} is not a TruthValue (1 true, 2 false)")
    return value == 1
