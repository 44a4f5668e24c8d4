"""InfluxDB line protocol, written by hand because it is the agent's hottest path.

One `Sample` becomes one line::

    measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] timestamp_ns

Escaping (the rules of InfluxDB's line protocol, as its 1.x and 2.x parsers apply them):

- measurement: ``,`` and space are backslash-escaped;
- tag keys, tag values and field keys: ``,``, ``=`` and space are backslash-escaped;
- string field values are double-quoted, with ``"`` and ``\\`` backslash-escaped; anything else,
  newlines and tabs included, is written as it is and reads back exactly: InfluxDB's parsers
  split lines only outside quotes (the integration tests check it on 1.6.7). Telegraf writes
  a newline there as ``\\n``, which InfluxDB stores as those two characters; free text such as
  ifAlias should come back as the device had it.

Characters line protocol cannot carry outside a quoted string are made harmless the way Telegraf
does, so that a series written by Telegraf and by this agent is the same series:

- newline, carriage return, tab and form feed in a measurement, key or tag value are written as
  the two characters ``\\n``, ``\\r``, ``\\t``, ``\\f``; InfluxDB stores those two characters
  (it never un-escapes them), so the line cannot break and the text stays readable;
- a backslash that ends a name or stands right before an escaped character (or, in a
  measurement or field key, before ``=`` or ``"``, which InfluxDB 1.x un-escapes there) is
  removed: InfluxDB would read it as escaping our separator and misparse the line, and no
  spelling of it reads back exactly on InfluxDB 1.x. Other backslashes are written and read back
  as they are.

Tags are written sorted by key (InfluxDB's own order, so the server need not sort); a tag with an
empty key or value is omitted. Field values keep their Python type:

=================  =====================================================================
``bool``           ``true`` / ``false`` (tested before ``int``: ``bool`` is an ``int``)
``Unsigned``       depends on `UintMode` (below)
``int``            ``123i``; a value outside signed 64 bits is dropped (InfluxDB rejects it)
``float``          ``repr()``, the shortest text that reads back to the same double;
                   NaN and ±inf are dropped because InfluxDB rejects them
``str``            ``"quoted"``
=================  =====================================================================

A sample left with no field, or with no measurement name, is skipped (`serialize` returns
None) because InfluxDB rejects the line, and with it, on a partial write, the count of what else
in the batch was stored.

Unsigned 64-bit values (SNMP Counter64), `UintMode`:

- ``"native"`` writes ``123u``. InfluxDB 2.x and 3.x accept it.
- ``"wrap"`` (the default) writes the signed 64-bit integer with the same bits (two's
  complement): 2**63 → ``-9223372036854775808i``, 2**64-1 → ``-1i``. InfluxDB 1.x, including
  Debian's 1.6.7, answers HTTP 400 to the ``u`` suffix (it is behind a build flag there), and
  InfluxDB forbids changing a field's type later, so the encoding must work everywhere from the
  first write. Wrapping loses no bit: readers get the value back exactly with `unwrap_uint`
  (``v if v >= 0 else v + 2**64``). Values below 2**63 are written unchanged, and a counter
  needs decades to reach 2**63 even at 100 Gbit/s (2**63 octets ≈ 23 years at 100 Gbit/s), so
  in practice the stored values are the plain counters and InfluxQL's own arithmetic on them is
  right. The alternatives lose data: clamping at 2**63-1 throws the counter away, and a float
  keeps only 53 bits, so deltas of a large counter would be wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Literal

from agent.samples import FieldValue, Sample, Unsigned

UintMode = Literal["wrap", "native"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT64_RANGE = 2**64

_CONTROL_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}

_MEASUREMENT_TABLE = str.maketrans({",": "\\,", " ": "\\ ", **_CONTROL_ESCAPES})
_KEY_TABLE = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", **_CONTROL_ESCAPES})

# One search decides whether a name needs any work at all: most names are plain ASCII words, and
# skipping translate() for them is what makes serialisation fast.
_KEY_SPECIAL = re.compile(r"[,= \n\r\t\f]|\\\Z")
_KEY_BAD_BACKSLASH = re.compile(r"\\+(?=[,= \n\r\t\f]|\Z)")
# InfluxDB 1.x un-escapes \= and \" too in a measurement and a field key (not in a tag), so a
# backslash written before those would vanish as well.
_NAME_SPECIAL = re.compile(r"[,= \n\r\t\f]|\\\Z|\\\"")
_NAME_BAD_BACKSLASH = re.compile(r"\\+(?=[,= \"\n\r\t\f]|\Z)")


def unwrap_uint(value: int) -> int:
    """The unsigned 64-bit value that ``"wrap"`` mode stored as the signed integer `value`."""
    return value if value >= 0 else value + _UINT64_RANGE


def wrap_uint(value: int) -> int:
    """The signed 64-bit integer with the same bits as the unsigned `value` (``"wrap"`` mode)."""
    return value - _UINT64_RANGE if value > _INT64_MAX else value


def escape_measurement(name: str) -> str:
    if _NAME_SPECIAL.search(name) is None:
        return name
    return _NAME_BAD_BACKSLASH.sub("", name).translate(_MEASUREMENT_TABLE)


def escape_key(text: str) -> str:
    """Escape a tag key or tag value."""
    if _KEY_SPECIAL.search(text) is None:
        return text
    return _KEY_BAD_BACKSLASH.sub("", text).translate(_KEY_TABLE)


def escape_field_key(text: str) -> str:
    if _NAME_SPECIAL.search(text) is None:
        return text
    return _NAME_BAD_BACKSLASH.sub("", text).translate(_KEY_TABLE)


def escape_string_value(text: str) -> str:
    """A string field value, quoted."""
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def format_field_value(value: FieldValue, uint_mode: UintMode = "wrap") -> str | None:
    """The line-protocol text of one field value, or None when InfluxDB could not store it."""
    # Exact-type checks first: they are the common case and cannot confuse bool with int.
    if type(value) is float:
        return repr(value) if math.isfinite(value) else None
    if type(value) is int:
        return f"{value}i" if _INT64_MIN <= value <= _INT64_MAX else None
    if type(value) is str:
        return escape_string_value(value)
    if type(value) is Unsigned:
        return f"{value}u" if uint_mode == "native" else f"{wrap_uint(value)}i"
    return _format_other(value, uint_mode)


def _format_other(value: object, uint_mode: UintMode) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Unsigned):
        if uint_mode == "native":
            return f"{int(value)}u"
        return f"{wrap_uint(int(value))}i"
    if isinstance(value, int):
        number = int(value)
        return f"{number}i" if _INT64_MIN <= number <= _INT64_MAX else None
    if isinstance(value, float):
        real = float(value)
        return repr(real) if math.isfinite(real) else None
    if isinstance(value, str):
        return escape_string_value(str(value))
    return None


def _first_of_each_key(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Escaping and backslash removal can map two keys to one ("a\\" and "a"); InfluxDB
    # rejects a line with a duplicate tag or field key, so the first one wins.
    seen: set[str] = set()
    kept = []
    for key, text in pairs:
        if key not in seen:
            seen.add(key)
            kept.append((key, text))
    return kept


def _format_fields(fields: dict[str, FieldValue], uint_mode: UintMode) -> str:
    pairs: list[tuple[str, str]] = []
    renamed = False
    for key, value in fields.items():
        text = format_field_value(value, uint_mode)
        if text is None:
            continue
        escaped = escape_field_key(key)
        if not escaped:
            continue
        if escaped != key:
            renamed = True
        pairs.append((escaped, text))
    if renamed:
        pairs = _first_of_each_key(pairs)
    return ",".join([f"{key}={text}" for key, text in pairs])


def _format_tags(tags: dict[str, str]) -> str:
    pairs: list[tuple[str, str]] = []
    renamed = False
    for key in sorted(tags):
        value = escape_key(tags[key])
        if not value:
            continue
        escaped = escape_key(key)
        if not escaped:
            continue
        if escaped != key:
            renamed = True
        pairs.append((escaped, value))
    if renamed:
        pairs = _first_of_each_key(pairs)
    return "".join([f",{key}={value}" for key, value in pairs])


def serialize(sample: Sample, *, uint_mode: UintMode = "wrap") -> str | None:
    """One line of line protocol (no trailing newline), or None when the sample is skipped.

    Skipped: no field left once unstorable values (NaN, ±inf, out-of-range integers, other
    types) are dropped, or a measurement name that is empty once escaped.
    """
    fields = _format_fields(sample.fields, uint_mode)
    if not fields:
        return None
    measurement = escape_measurement(sample.measurement)
    if not measurement or measurement.startswith("#"):
        # A line starting with '#' is a comment to InfluxDB: it would vanish without an error.
        return None
    tags = _format_tags(sample.tags) if sample.tags else ""
    return f"{measurement}{tags} {fields} {sample.timestamp_ns}"


def serialize_many(
    samples: Iterable[Sample], *, uint_mode: UintMode = "wrap"
) -> tuple[list[str], int]:
    """The lines of `samples` in order, and how many samples were skipped."""
    lines: list[str] = []
    skipped = 0
    for sample in samples:
        line = serialize(sample, uint_mode=uint_mode)
        if line is None:
            skipped += 1
        else:
            lines.append(line)
    return lines, skipped
