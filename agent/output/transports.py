"""Transports: how a ready line-protocol body reaches InfluxDB.

The writer builds the body (newline-separated lines, optionally gzipped) and owns retries; a
transport makes exactly one attempt per `write` and reports failure as a `WriteError` that says
whether trying again can help.

- `V1Transport`: ``POST {url}/write?db=&rp=&precision=ns``, the API that InfluxDB 1.x, 2.x (v1
  compatibility) and 3.x all serve. The default.
- `agent.output.transport_v2.V2Transport`: ``POST {url}/api/v2/write?org=&bucket=`` through the
  official influxdb-client, for installations that only hand out v2 org/bucket/token
  credentials (its own module, so the v1 default does not import influxdb-client).

Secrets (password, token) are held as `agent.secret.Secret`, revealed only into the HTTP
client's authentication, and scrubbed from any server message before it goes into an
exception; no URL carries them (user-info in a URL is refused).
"""

from __future__ import annotations

import email.utils
import json
import re
import ssl
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

import httpx

from agent.secret import MASK, Secret

#: Longest server message kept in an error: enough for InfluxDB's "partial write: field type
#: conflict: ..." text, short enough for a log line and the /metrics last_error.
MAX_MESSAGE_CHARS = 500

_DROPPED = re.compile(r"\bdropped=(\d+)")


class WriteError(Exception):
    """A write that failed.

    status: the HTTP status, or None when no response came (connection refused, timeout, TLS).
    message: the server's own explanation (or the connection problem), never a secret.
    retryable: True when sending the same body later can succeed: 429, 5xx, no response.
      Other 4xx mean the body or the credentials are wrong and will stay wrong.
    retry_after_s: the server's Retry-After, in seconds from now, when it sent one.
    rejected_lines: how many lines the server says it refused, when it says so (partial
      writes of InfluxDB 1.x and 3.x); the rest of the batch was stored. None: unknown, and
      the writer then counts the whole batch as failed.
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        retryable: bool,
        retry_after_s: float | None = None,
        rejected_lines: int | None = None,
    ) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.rejected_lines = rejected_lines

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"{where}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"WriteError(status={self.status!r}, message={self.message!r}, "
            f"retryable={self.retryable!r}, retry_after_s={self.retry_after_s!r}, "
            f"rejected_lines={self.rejected_lines!r})"
        )


class Transport(Protocol):
    """One InfluxDB endpoint.

    `write` sends `body` (line protocol, lines separated by ``\\n``, UTF-8; gzip-compressed when
    `gzipped`) in a single attempt, returns when the server accepted it, and raises
    `WriteError` otherwise. It never blocks the event loop. `close` releases connections.
    """

    async def write(self, body: bytes, *, gzipped: bool) -> None: ...

    async def close(self) -> None: ...


#: Statuses after which the same lines may succeed later. Besides overload and server errors,
#: that is wrong credentials (401, 403) and a missing database (404): configuration mistakes
#: an operator will fix, so the lines wait in the (bounded) spool rather than being dropped.
_RETRYABLE = frozenset({401, 403, 404, 408, 429})


def is_retryable_status(status: int) -> bool:
    return status in _RETRYABLE or status >= 500


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None  # RFC 9110 dates are GMT; one without a zone is not one
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _decode_body(body: bytes | str) -> tuple[str, int | None]:
    """The server's explanation, whole, and how many lines it says it rejected (if it says).

    1.x answers ``{"error": "..."}``; a partial write reads "partial write: <reason>
    dropped=N", where N counts the points refused by the storage (type conflicts) but not the
    lines that failed to parse, each of which is named by an "unable to parse '<line>'".
    2.x answers ``{"code": ..., "message": "..."}``; 3.x ``{"error": ..., "data": [one entry
    per rejected line]}``. Proxies answer HTML or plain text.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    rejected = None
    if isinstance(decoded, dict):
        for key in ("error", "message"):
            if isinstance(decoded.get(key), str):
                text = decoded[key]
                break
        details = decoded.get("data")
        if isinstance(details, list) and details:
            rejected = len(details)
            first = details[0]
            if isinstance(first, dict) and isinstance(first.get("error_message"), str):
                text = f"{text}: {first['error_message']}"
    if text.startswith("partial write"):
        dropped = _DROPPED.search(text)
        if dropped:
            rejected = int(dropped.group(1)) + text.count("unable to parse '")
    return text, rejected


def server_message(body: bytes | str, secrets: Iterable[Secret] = ()) -> str:
    """The explanation in an InfluxDB error body, on one line, shortened, secrets masked."""
    return _clean(_decode_body(body)[0], secrets)


def _clean(text: str, secrets: Iterable[Secret]) -> str:
    text = " ".join(text.split())
    for secret in secrets:
        # A server that echoes credentials back must not get them into our logs.
        if secret:
            text = text.replace(secret.reveal(), MASK)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text or "(empty response body)"


def error_from_response(
    status: int,
    body: bytes | str,
    headers: Mapping[str, str] | None,
    secrets: Iterable[Secret] = (),
) -> WriteError:
    text, rejected = _decode_body(body)
    retry_after = None
    if headers is not None:
        retry_after = parse_retry_after(headers.get("Retry-After"))
    return WriteError(
        status,
        _clean(text, secrets),
        retryable=is_retryable_status(status),
        retry_after_s=retry_after,
        rejected_lines=rejected,
    )


def ssl_context(verify_tls: bool, ca_bundle: Path | None) -> ssl.SSLContext | bool:
    if not verify_tls:
        return False
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=str(ca_bundle))
    return True


def checked_base_url(url: str) -> httpx.URL:
    # Messages here never quote the URL: a URL given with credentials in it would leak them.
    parsed = httpx.URL(url)
    if parsed.scheme not in {"http", "https"}:
        raise ValueError("the InfluxDB URL must start with http:// or https://")
    if parsed.userinfo:
        raise ValueError(
            "credentials in the InfluxDB URL are refused (they would show in logs); "
            "give username/password or token instead"
        )
    if parsed.query:
        raise ValueError("the InfluxDB URL must not carry a query string")
    return parsed.copy_with(path=parsed.path.rstrip("/"))


class V1Transport:
    """``POST /write`` of the v1 API, served by InfluxDB 1.x, 2.x and 3.x.

    Authentication: `username` + `password` (HTTP Basic, which 1.x, 2.x's v1 compatibility and
    3.x accept), or `token` (``Authorization: Token ...``: 2.x and 3.x), or none.
    TLS certificates are verified unless `verify_tls` is False; `ca_bundle` names a PEM file
    of the CAs to trust instead of the system's (a provincial private CA).
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        retention_policy: str = "",
        username: str | None = None,
        password: Secret | None = None,
        token: Secret | None = None,
        verify_tls: bool = True,
        ca_bundle: Path | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not database:
            raise ValueError("database must not be empty")
        if token is not None and (username is not None or password is not None):
            raise ValueError("give either username/password or token, not both")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        base = checked_base_url(url)
        self._url = str(base)
        self._database = database
        self._secrets = tuple(s for s in (password, token) if s is not None)
        self._params = {"db": database, "precision": "ns"}
        if retention_policy:
            self._params["rp"] = retention_policy
        headers = {"User-Agent": "tslcd-netmon", "Content-Type": "text/plain; charset=utf-8"}
        auth: httpx.BasicAuth | None = None
        if token is not None:
            headers["Authorization"] = f"Token {token.reveal()}"
        elif username is not None and password is not None:
            auth = httpx.BasicAuth(username, password.reveal())
        self._auth_kind = "token" if token else "password" if auth else "none"
        self._client = httpx.AsyncClient(
            base_url=base,
            headers=headers,
            auth=auth,
            verify=ssl_context(verify_tls, ca_bundle),
            timeout=timeout_s,
            # A monitoring agent must not silently follow a redirect off to another host.
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return (
            f"V1Transport(url={self._url!r}, database={self._database!r}, auth={self._auth_kind!r})"
        )

    async def write(self, body: bytes, *, gzipped: bool) -> None:
        headers = {"Content-Encoding": "gzip"} if gzipped else None
        try:
            response = await self._client.post(
                "/write", params=self._params, content=body, headers=headers
            )
        except httpx.TimeoutException as error:
            raise WriteError(None, f"timed out ({type(error).__name__})", True) from None
        except httpx.TransportError as error:
            raise WriteError(None, f"{type(error).__name__}: {error}", True) from None
        if response.is_success:
            return
        raise error_from_response(
            response.status_code, response.content, response.headers, self._secrets
        )

    async def close(self) -> None:
        await self._client.aclose()
