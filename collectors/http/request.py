"""What the HTTP probe sends: the URL taken apart, credentials and headers."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from collectors.http.config import SENSITIVE_HEADERS, HttpConfig, split_url

USER_AGENT = "tslcd-netmon-http-probe/1"
# Characters left as they are when a path or query is made ASCII: the reserved ones and
# "%", so that what the URL already escaped stays escaped once.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


@dataclass(frozen=True)
class Location:
    """A URL taken apart for the exchange."""

    url: str
    scheme: str
    host: str  # without IPv6 brackets; a name in its ASCII (IDNA) form
    port: int
    authority: str  # host[:port] as written, without user information: the Host header
    target: str  # path and query: the request target

    @classmethod
    def parse(cls, url: str, schemes: tuple[str, ...] = ("http", "https")) -> Location:
        parts = split_url(url, schemes)
        assert parts.hostname is not None  # split_url refuses a URL without a host
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # On the wire, a name with diacritics (cổng.gov.vn) is IDNA and a path is ASCII.
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        target = path + (f"?{quote(parts.query, safe=_QUERY_SAFE)}" if parts.query else "")
        host = parts.hostname
        authority = parts.netloc.rpartition("@")[2]
        if not authority.isascii():
            host = host.encode("idna").decode("ascii")
            authority = host if parts.port is None else f"{host}:{parts.port}"
        return cls(url, parts.scheme, host, port, authority, target)

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host.lower(), self.port


def basic_credentials(url: str) -> str | None:
    """The Authorization value for the URL's user information, if it has any."""
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def request_headers(
    config: HttpConfig, location: Location, same_origin: bool, proxied_http: bool
) -> list[tuple[str, str]]:
    """The headers of one hop's request; configured headers replace the probe's own.

    `same_origin`: the hop goes to the configured URL's scheme, host and port; credentials
    (the URL's user information, Authorization and Cookie headers) are sent there only, never
    to wherever a redirect points. `proxied_http`: a plain-HTTP request through the proxy,
    which carries the proxy's credentials itself.
    """
    headers = {
        "Host": location.authority,
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "identity",  # content matching reads the body as sent
        "Connection": "close",
    }
    credentials = basic_credentials(config.url)
    if credentials and same_origin:
        headers["Authorization"] = credentials
    proxy_credentials = basic_credentials(config.proxy) if config.proxy else None
    if proxied_http and proxy_credentials:
        headers["Proxy-Authorization"] = proxy_credentials
    for name, value in config.headers.items():
        if name.lower() in SENSITIVE_HEADERS and not same_origin:
            continue
        for known in [key for key in headers if key.lower() == name.lower()]:
            del headers[known]
        headers[name] = value
    return list(headers.items())
