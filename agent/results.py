"""Result codes every check reports (field ``result_code``, tag ``result``).

Each poll yields exactly one sample carrying ``result_code`` (and the ``result`` tag with the
same meaning in words), so dashboards and the availability engine read all checks alike.
"""

from __future__ import annotations

from enum import IntEnum


class Result(IntEnum):
    SUCCESS = 0
    TIMEOUT = 1  # no answer in time (for SNMP v1/v2c also: wrong community)
    AUTH_ERROR = 2  # the device refused our credentials (SNMPv3 USM errors)
    PROTOCOL_ERROR = 3  # the device answered with an error status
    CONNECTION_ERROR = 4  # could not send (address unresolvable, network unreachable)
    BAD_RESPONSE = 5  # the answer could not be used
    INTERNAL_ERROR = 6  # a bug on our side; logged with its traceback

    @property
    def tag(self) -> str:
        return self.name.lower()
