"""SIP on the wire: the OPTIONS a probe sends, and reading what comes back (RFC 3261).

No I/O here: the async probe (`collectors.sip.probe`) and the lab's blocking client
(`agent.lab.sip`) both build their request and read their answers with these functions.

Reading is strict where the probe depends on it and lenient elsewhere. A response must have a
SIP/2.0 status line with a three-digit status (100-699), well-formed header lines, a Call-ID
and a ``CSeq: <number> <method>``: without those it cannot be matched to a request, so it is
not a usable answer. Unknown headers, odd reason phrases and bodies are accepted as they come.
Every way an answer can be wrong surfaces as :class:`SipProbeError`, never as another
exception: a device's garbage must not crash the agent.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import Literal

SipTransport = Literal["udp", "tcp"]

#: The largest SIP message read (the UDP datagram limit; a stream answer larger is refused).
MAX_MESSAGE = 65535

# Compact header forms (RFC 3261 §7.3.3), read as their long names.
_COMPACT = {
    "c": "content-type",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "s": "subject",
    "t": "to",
    "v": "via",
}
# ASCII only: str.isdigit() accepts '²', which int() then refuses.
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9])(?: ([^\r\n]*))?", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")  # RFC 3261 §25.1 token
_CSEQ = re.compile(r"([0-9]{1,10})[ \t]+([A-Za-z0-9.!%*_+`'~-]+)")
_HOSTNAME = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?"
)


class SipProbeError(OSError):
    """The answer to an OPTIONS request was not a SIP response to it.

    An OSError so that callers which treat "the endpoint did not answer properly" alike
    (the lab's readiness loop) catch it with the socket errors.
    """


@dataclass(frozen=True)
class SipResponse:
    """A SIP response: status, reason, headers (lower-case names, in order), RTT."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    rtt_s: float

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case, compact form understood), or None."""
        wanted = _COMPACT.get(name.lower(), name.lower())
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method) of the CSeq header; parse_response made sure it is one."""
        match = _CSEQ.fullmatch(self.header("cseq") or "")
        if match is None:
            raise SipProbeError("no valid CSeq header")
        return int(match[1]), match[2].upper()


def bracketed(host: str) -> str:
    """`host` as a SIP URI writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def hostport(host: str, port: int) -> str:
    return f"{bracketed(host)}:{port}"


def new_call_id() -> str:
    """A Call-ID no endpoint has seen: SIPp discards requests with one it remembers."""
    return f"{secrets.token_hex(12)}@netmon"


def options_request(
    target: tuple[str, int],
    source: tuple[str, int],
    transport: SipTransport,
    call_id: str,
    cseq: int = 1,
) -> bytes:
    """An out-of-dialogue OPTIONS from `source` to `target`, as a monitoring probe sends it.

    `target` is the Request-URI's host and port (the endpoint's name or address); `source`
    is our socket's address, which the Via and Contact must carry for the answer to find us.
    Every call has a branch of its own, so no two probes are one transaction.
    """
    uri = hostport(*target)
    local = hostport(*source)
    branch = "z9hG4bK" + secrets.token_hex(8)  # RFC 3261's magic cookie marks a unique branch
    tag = secrets.token_hex(4)
    lines = [
        f"OPTIONS sip:{uri};transport={transport} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {local};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:netmon@{bracketed(source[0])}>;tag={tag}",
        f"To: <sip:{uri}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} OPTIONS",
        f"Contact: <sip:netmon@{local};transport={transport}>",
        "Accept: application/sdp",
        "User-Agent: tslcd-netmon",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _snippet(text: str | bytes) -> str:
    # Enough of a bad answer to recognise it in a log, never a whole datagram.
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return repr(text[:80])


def parse_status_line(line: str) -> tuple[int, str]:
    """(status, reason) of a SIP status line; SipProbeError if it is not one."""
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise SipProbeError(f"not a SIP response: {_snippet(line)}")
    return int(match[1]), match[2] or ""


def _parse_head(head: str) -> tuple[int, str, list[tuple[str, str]]]:
    # A datagram delimits its message: one that lacks the final empty line is still read.
    status_line, *header_lines = head.removesuffix("\r\n").split("\r\n")
    status, reason = parse_status_line(status_line)
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if line[:1] in (" ", "\t"):  # a folded continuation line (RFC 3261 §7.3.1)
            if not headers:
                raise SipProbeError("a continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        key = name.strip().lower()
        if not colon or not _TOKEN.fullmatch(key):
            raise SipProbeError(f"malformed header line {_snippet(line)}")
        headers.append((_COMPACT.get(key, key), value.strip()))
    return status, reason, headers


def parse_response(message: bytes, rtt_s: float) -> SipResponse:
    """A SIP response's status line and headers; SipProbeError if it is not a usable one."""
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
    status, reason, headers = _parse_head(head)
    response = SipResponse(status, reason, tuple(headers), rtt_s)
    if not response.header("call-id"):
        raise SipProbeError(f"SIP {status} without a Call-ID")
    response.cseq  # noqa: B018 - raises SipProbeError for a missing or malformed CSeq
    return response


def split_message(buffer: bytes) -> tuple[bytes, bytes] | None:
    """The first whole SIP response in a stream's `buffer` and what follows it.

    None while the message is incomplete. Raises SipProbeError as soon as the buffer cannot
    be the start of a SIP response, or its head grows past MAX_MESSAGE without ending, so
    that a peer talking another protocol is recognised at once rather than at the timeout.
    Messages on a stream are delimited by their Content-Length (RFC 3261 §18.3); CRLFs
    before a message are keep-alives (§7.5) and skipped.
    """
    buffer = buffer.lstrip(b"\r\n")
    if buffer[:4].upper() != b"SIP/"[: len(buffer)]:
        first_line = buffer.split(b"\r\n", 1)[0]
        raise SipProbeError(f"not a SIP response: {_snippet(first_line)}")
    line_end = buffer.find(b"\r\n")
    if line_end >= 0:
        parse_status_line(buffer[:line_end].decode("utf-8", errors="replace"))
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_MESSAGE:
            raise SipProbeError(f"no end of the SIP headers in {MAX_MESSAGE} bytes")
        return None
    _, _, headers = _parse_head(buffer[:end].decode("utf-8", errors="replace"))
    length = next((value for key, value in headers if key == "content-length"), "0")
    if not (length.isascii() and length.isdigit()) or int(length) > MAX_MESSAGE:
        raise SipProbeError(f"bad Content-Length {_snippet(length)}")
    size = end + 4 + int(length)
    if len(buffer) < size:
        return None
    return buffer[:size], buffer[size:]


# --- URIs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SipUri:
    """What a probe needs of a ``sip:`` URI: where to send, and how."""

    host: str  # a name or an address; an IPv6 address without its brackets
    port: int | None
    transport: SipTransport | None


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise ValueError(f"port {text!r} is not a number from 1 to 65535")
    return int(text)


def _host_and_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address") from None
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("an IPv6 address is written [address] or [address]:port")
        return host, _port(rest[1:]) if rest else None
    host, colon, port = text.partition(":")
    if not host:
        raise ValueError("the URI has no host")
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv4 address") from None
    elif not _HOSTNAME.fullmatch(host):
        raise ValueError(f"{host!r} is not a host name or address")
    return host, _port(port) if colon else None


def parse_sip_uri(text: str) -> SipUri:
    """The host, port and transport of a ``sip:`` URI; ValueError saying what is wrong.

    ``sip:[user@]host[:port][;transport=udp|tcp][;other-params]``. The user part is allowed
    and ignored: a probe asks the server itself. Messages never repeat the whole URI, which
    may carry a user name.
    """
    scheme, colon, rest = text.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips"):
        raise ValueError("must be a sip: URI, like sip:192.0.2.10:5060;transport=tcp")
    if scheme.lower() == "sips":
        raise ValueError("sips: (SIP over TLS) is not supported; use sip: with udp or tcp")
    if "?" in rest:
        raise ValueError("URI headers (after '?') are not supported")
    address, *params = rest.split(";")
    userinfo, at, address = address.rpartition("@")
    if at and ":" in userinfo:
        # RFC 3261 §19.1.1: a password in a URI is NOT RECOMMENDED; it would end up in logs.
        raise ValueError("a password in the URI is not supported")
    host, port = _host_and_port(address)
    transport: SipTransport | None = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() != "transport":
            continue
        value = value.strip().lower()
        if value == "udp":
            transport = "udp"
        elif value == "tcp":
            transport = "tcp"
        else:
            raise ValueError(f"transport {value!r} is not supported (udp or tcp)")
    return SipUri(host, port, transport)
