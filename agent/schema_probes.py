"""The measurements of the active probes and of availability (DESIGN §5).

Field names follow Telegraf's ``ping``, ``net_response`` and ``http_response`` plugins where
Telegraf has the same data, so community dashboards and operators' habits carry over; the
extra fields are ours. Times are seconds (``*_time``, ``latency_s``) except ``ping``'s, which
are milliseconds as in Telegraf (``*_ms``). Every probe sample carries ``result_code`` (see
`agent.results`) and the ``result`` tag.
"""

from __future__ import annotations

from agent.schema import FieldType, Measurement

F, INT, S = FieldType.FLOAT, FieldType.INT, FieldType.STR

PING = Measurement(
    name="ping",
    tags=frozenset({"url", "result"}),
    fields={
        "packets_transmitted": INT,
        "packets_received": INT,
        "percent_packet_loss": F,
        "minimum_response_ms": F,
        "average_response_ms": F,
        "maximum_response_ms": F,
        "median_response_ms": F,
        "standard_deviation_ms": F,
        # Mean IP packet delay variation between consecutive replies (RFC 3393).
        "jitter_ms": F,
        "errors": INT,  # echo requests the kernel refused to send (e.g. host unreachable)
        "result_code": INT,
    },
    description="ICMP echo statistics over one interval: N requests spread over it.",
)

NET_RESPONSE = Measurement(
    name="net_response",
    tags=frozenset({"server", "port", "protocol", "result"}),
    fields={"response_time": F, "result_code": INT, "error": S},
    description="TCP connect time to a port.",
)

HTTP_RESPONSE = Measurement(
    name="http_response",
    tags=frozenset({"server", "method", "status_code", "result"}),
    fields={
        "response_time": F,  # total, s
        "http_response_code": INT,
        "result_code": INT,
        "content_length": INT,
        "response_string_match": INT,  # 1/0 when a content match is configured
        "dns_time": F,
        "connect_time": F,
        "tls_handshake_time": F,
        "first_byte_time": F,  # from sending the request to the first byte of the answer
        "redirects": INT,
        "tls_expiry_days": F,  # earliest notAfter in the presented chain, days from now
        "tls_verified": INT,  # 1 when the chain verified against the trust store, else 0
        "tls_error": S,  # why verification failed, as OpenSSL says it
        "error": S,  # what went wrong, when something did
    },
    description="One HTTP(S) request: status, timing breakdown, content match, certificate.",
)

SIP = Measurement(
    name="sip",
    tags=frozenset({"server", "method", "transport", "result"}),
    fields={"response_time": F, "status_code": INT, "result_code": INT, "error": S},
    description="SIP OPTIONS to a videoconference MCU or codec.",
)

AVAILABILITY = Measurement(
    name="availability",
    tags=frozenset({"check", "target", "service"}),
    fields={
        "up": INT,  # 1 when this poll succeeded, else 0
        "state": INT,  # agent.availability.State: 0 ok, 1 degraded, 2 down
        "latency_s": F,
        "consecutive_failures": INT,
        "reason": S,  # what fails or degrades, in words; empty when ok
    },
    description=(
        "The verdict of every check of every target: up per poll and a debounced state "
        "(down after the service's number of consecutive failures)."
    ),
)

PROBE_MEASUREMENTS = (PING, NET_RESPONSE, HTTP_RESPONSE, SIP, AVAILABILITY)
