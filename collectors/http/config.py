"""The HTTP(S) probe's settings, as read from the inventory (``netmon_http_<field>``).

Example host variables:

.. code-block:: yaml

    netmon_checks: [http]
    netmon_url: https://dichvucong.example.gov.vn/      # shared with the other URL probes
    netmon_http_content_match: "Cổng dịch vụ công"
    netmon_http_expect_status: [200]
    netmon_http_slow_s: 2.0
    netmon_http_ca_file: /etc/netmon/province-ca.pem    # replaces the agent-wide probes.ca_file

Fields:

- ``url`` (required; the loader takes the host's ``netmon_url`` when absent): http or https.
  User information (``https://user:password@host/``) is sent as HTTP Basic authentication,
  and never appears in a sample or a log line.
- ``method``: ``GET`` (default) or ``HEAD``.
- ``expect_status``: the acceptable final statuses; empty (default) accepts 200-399.
- ``content_match`` / ``content_regex``: text the body must contain / a regular expression
  (Python syntax) it must match; both when both are given. Only the first
  ``max_body_bytes`` (1 MiB) of the body are read.
- ``follow_redirects`` (true), ``max_redirects`` (5).
- ``verify_tls`` (true), ``ca_file`` (PEM), ``server_name`` (the name sent as TLS SNI and
  verified against the certificate, for a URL that names the server by IP address).
- ``proxy``: ``http://[user:password@]host:port``; HTTPS goes through a CONNECT tunnel.
- ``headers``: extra request headers (``Authorization`` and ``Cookie`` values are secrets:
  sent only to the URL's own origin, never logged).
- ``timeout_s`` (10): the whole request, redirects included.
- ``tls_warning_days`` (14): a certificate with fewer days left degrades the check.
- ``slow_s``: a slower answer degrades the check (unset: never).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Header names whose values are credentials: masked in repr, kept to the URL's own origin.
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
#: Headers the probe itself manages: a configured one would break the exchange.
MANAGED_HEADERS = frozenset({"connection", "content-length", "transfer-encoding", "upgrade"})

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2
_MASK = "<secret>"


def split_url(url: str, schemes: tuple[str, ...]) -> SplitResult:
    """The URL's parts, or ValueError saying what is wrong (never echoing the URL)."""
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ValueError(f"scheme must be {' or '.join(schemes)}, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("names no host")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise ValueError("has an invalid host name") from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if port == 0:
        raise ValueError("has an invalid port")
    return parts


def public_url(url: str) -> str:
    """The URL without user information, query and fragment: safe for a tag or a log.

    A query string can carry tokens and session ids, and is unbounded free text besides.
    """
    parts = urlsplit(url)
    host_and_port = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host_and_port}{parts.path or '/'}"


class HttpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    #: The host's netmon_url is this probe's URL when it starts so (agent.inventory.loader).
    url_schemes: ClassVar[tuple[str, ...]] = ("http://", "https://")

    url: str
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: list[int] = Field(default_factory=list)
    content_match: str | None = Field(default=None, min_length=1)
    content_regex: str | None = Field(default=None, min_length=1)
    follow_redirects: bool = True
    max_redirects: int = Field(default=5, ge=0, le=30)
    verify_tls: bool = True
    ca_file: Path | None = None
    server_name: str | None = Field(default=None, min_length=1, max_length=253)
    proxy: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    tls_warning_days: float = Field(default=14.0, ge=0)
    slow_s: float | None = Field(default=None, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=0, le=64 * 1024 * 1024)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        split_url(url, ("http", "https"))
        return url

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, proxy: str | None) -> str | None:
        if proxy is not None:
            parts = split_url(proxy, ("http",))
            if parts.path not in ("", "/") or parts.query or parts.fragment:
                raise ValueError("must be http://host:port, without a path")
        return proxy

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, statuses: list[int]) -> list[int]:
        wrong = [status for status in statuses if not 100 <= status <= 599]
        if wrong:
            raise ValueError(f"HTTP statuses are 100-599, not {wrong}")
        return statuses

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in MANAGED_HEADERS:
                raise ValueError(f"{name} is set by the probe itself")
            # A line break in a value would let the inventory inject headers or requests.
            if any(char in value for char in "\r\n\0"):
                raise ValueError(f"the value of {name} contains a line break or NUL")
            if not value.isascii():
                raise ValueError(f"the value of {name} must be ASCII (RFC 9110 §5.5)")
        return headers

    @field_validator("server_name")
    @classmethod
    def _host_name(cls, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(r"[A-Za-z0-9_.*-]+", name):
            raise ValueError("must be a DNS name")
        return name

    @property
    def public_url(self) -> str:
        return public_url(self.url)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Config objects end up in debug logs and tracebacks: show neither the URL's nor the
        # proxy's user information, nor credential headers.
        for name, value in super().__repr_args__():
            if name in ("url", "proxy") and value is not None:
                yield name, public_url(str(value))
            elif name == "headers":
                yield (
                    name,
                    {
                        key: _MASK if key.lower() in SENSITIVE_HEADERS else text
                        for key, text in dict(value).items()
                    },
                )
            else:
                yield name, value
