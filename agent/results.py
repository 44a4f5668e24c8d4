"""Result codes every check reports (field ``result_code``, tag ``result``).

Each poll yields exactly one sample carrying ``result_code`` (and the ``result`` tag with the
same meaning in words), so dashboards and the availability engine read all checks alike.
The codes are the agent's own, shared by every collector; they never change meaning once
written (new outcomes get new numbers).
"""

from __future__ import annotations

from enum import IntEnum


class Result(IntEnum):
    SUCCESS = 0
    TIMEOUT = 1  # no answer in time (for SNMP v1/v2c also: wrong community; ICMP: 100 % loss)
    AUTH_ERROR = 2  # the device refused our credentials (SNMPv3 USM errors)
    PROTOCOL_ERROR = 3  # the peer answered with an error status (HTTP 5xx, SIP 4xx-6xx)
    CONNECTION_ERROR = 4  # could not connect or send (refused, network unreachable)
    BAD_RESPONSE = 5  # the answer could not be used (malformed)
    INTERNAL_ERROR = 6  # a bug on our side; logged with its traceback
    CONTENT_MISMATCH = 7  # the answer lacked the expected content (HTTP content match)
    TLS_ERROR = 8  # the TLS handshake or certificate verification failed
    DNS_ERROR = 9  # the name did not resolve
    HOST_KEY_ERROR = 10  # the SSH host key changed, or is unknown under host_keys = strict

    @property
    def tag(self) -> str:
        return self.name.lower()
