"""The unit of data that flows from collectors to outputs.

A Sample is one InfluxDB point: a measurement, a set of tags (bounded, indexed strings), a set
of typed fields, and a timestamp in integer nanoseconds since the Unix epoch.

Field values keep their wire type:
- ``bool`` → InfluxDB boolean
- ``int`` → integer (``i``); SNMP counters and gauges
- ``Unsigned`` → unsigned 64-bit integer (SNMP Counter64): see `agent.output.lineprotocol`
  for how it is encoded for servers without unsigned support
- ``float`` → float
- ``str`` → string (free text such as ifAlias lives here, never in a tag)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class Unsigned(int):
    """An unsigned 64-bit integer (SNMP Counter64), 0 ..= 2**64-1."""

    __slots__ = ()

    MAX = 2**64 - 1

    def __new__(cls, value: int) -> Unsigned:
        if not 0 <= value <= cls.MAX:
            raise ValueError(f"unsigned 64-bit value out of range: {value}")
        return super().__new__(cls, value)


FieldValue = bool | int | float | str


@dataclass(slots=True)
class Sample:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    timestamp_ns: int = field(default_factory=time.time_ns)
