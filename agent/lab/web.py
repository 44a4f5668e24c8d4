"""The simulated province's e-government web services: real HTTP(S) sites on loopback.

One :class:`LabWebServer` is one child process (``python -m agent.lab.web CONFIG_JSON``)
serving every :class:`WebSite` on its own address and port, over HTTPS with a certificate of
the :class:`~agent.lab.tls.LabCA` issued for that address, or over plain HTTP. It uses only
the standard library: one ``ThreadingHTTPServer`` per site, one thread per connection, so a
delayed answer of one site never holds up another.

Every site answers:

- ``GET /`` (and ``HEAD /``): 200 and a small UTF-8 HTML page holding the site's title;
- ``GET /health``: 200 and ``ok``; anything else 404;
- but a site with ``redirect_to`` answers every path except ``/health`` with a 301 to the
  same path under that URL (an old address of a service, or ``http://`` sending to
  ``https://``).

While one of a site's :class:`WebFault` windows is on, a ``"status"`` fault answers its status
(503 with ``Retry-After`` by default) and a ``"delay"`` fault sleeps before answering. Whether a
window is on is decided in the server from ``time.time() - started_at``, the lab's epoch in the
configuration: the controller never has to talk to it.

State directory: ``web.json`` (the configuration), ``web.out`` (the child's stdout/stderr) and
``web-access.log`` (one line per request: site, client, method, path without its query string,
status, size and any fault; request headers, where credentials would be, are never logged).
Certificates and their keys are in the CA's directory, named after the sites.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import math
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from agent.lab.faults import FaultWindow
from agent.lab.process import (
    LabPeer,
    LabProcessError,
    ensure_free,
    log_tail,
    open_private,
)
from agent.lab.tls import CLOCK_SKEW, SERVER_VALID_DAYS, LabCA

FaultKind = Literal["status", "delay"]

#: How long the server may take to answer every site after its start.
START_TIMEOUT_S = 15.0
#: A client must finish its TLS handshake within this many seconds.
HANDSHAKE_TIMEOUT_S = 10.0
#: An idle keep-alive connection (or a client that stalls mid-request) is closed after this.
IDLE_TIMEOUT_S = 30.0

_SITE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class WebFault:
    """While `window` is on, answer `status` (kind "status") or wait `delay_s` first ("delay")."""

    window: FaultWindow
    kind: FaultKind
    status: int = 503
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("status", "delay"):
            raise ValueError(f"web fault kind must be 'status' or 'delay', not {self.kind!r}")
        if self.kind == "status" and not 400 <= self.status <= 599:
            raise ValueError(f"a 'status' web fault answers 400-599, not {self.status}")
        if self.kind == "delay" and not (math.isfinite(self.delay_s) and self.delay_s > 0):
            raise ValueError(f"a 'delay' web fault needs delay_s > 0, not {self.delay_s}")


@dataclass(frozen=True)
class WebSite:
    """One e-government site of the lab: `title` is what its home page shows.

    `name` (lower-case letters, digits, '.', '-') names it in the access log and names its
    certificate. `address` is an IPv4 loopback address. With `cert_days_left`, its
    certificate expires that many days after the lab's start (a certificate check should
    warn), or, negative, expired that many days before it (a check should fail); without,
    it is a fresh certificate valid for a year. With `redirect_to` (an http or https URL),
    every page but ``/health`` is a 301 to that URL followed by the requested path.
    """

    name: str
    title: str
    address: str
    port: int
    tls: bool = True
    faults: tuple[WebFault, ...] = ()
    cert_days_left: float | None = None
    redirect_to: str | None = None

    def __post_init__(self) -> None:
        if not _SITE_NAME.fullmatch(self.name) or self.name == "ca" or self.name.endswith("-key"):
            raise ValueError(
                f"site name {self.name!r} must be 1-63 lower-case letters, digits, '.' or '-' "
                "(and neither 'ca' nor ending in '-key': it names the certificate's files)"
            )
        try:
            loopback = ipaddress.IPv4Address(self.address).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"site {self.name}: {self.address!r} is not an IPv4 loopback address")
        if not 0 < self.port < 65536:
            raise ValueError(f"site {self.name}: port {self.port} is not in 1-65535")
        if self.cert_days_left is not None and not (
            math.isfinite(self.cert_days_left) and self.cert_days_left != 0
        ):
            raise ValueError(
                f"site {self.name}: cert_days_left must be > 0 (expires after the start) "
                "or < 0 (expired before it)"
            )
        if self.redirect_to is not None and not re.fullmatch(
            r"https?://[^\s/]+/?", self.redirect_to
        ):
            raise ValueError(
                f"site {self.name}: redirect_to must be an http(s) URL without a path, "
                f"not {self.redirect_to!r}"
            )

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}:{self.port}/"

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port


# --- the configuration handed to the child --------------------------------------------------


def _site_json(site: WebSite, certificate: tuple[Path, Path] | None) -> dict[str, Any]:
    return {
        "name": site.name,
        "title": site.title,
        "address": site.address,
        "port": site.port,
        "tls": site.tls,
        "redirect_to": site.redirect_to,
        "cert": str(certificate[0]) if certificate else None,
        "key": str(certificate[1]) if certificate else None,
        "faults": [
            {
                "start_s": fault.window.start_s,
                "duration_s": fault.window.duration_s,
                "every_s": fault.window.every_s,
                "kind": fault.kind,
                "status": fault.status,
                "delay_s": fault.delay_s,
            }
            for fault in site.faults
        ],
    }


def _site_from_json(entry: dict[str, Any]) -> tuple[WebSite, tuple[Path, Path] | None]:
    faults = tuple(
        WebFault(
            FaultWindow(fault["start_s"], fault["duration_s"], fault["every_s"]),
            fault["kind"],
            fault["status"],
            fault["delay_s"],
        )
        for fault in entry["faults"]
    )
    site = WebSite(
        entry["name"],
        entry["title"],
        entry["address"],
        entry["port"],
        entry["tls"],
        faults,
        redirect_to=entry.get("redirect_to"),
    )
    certificate = (Path(entry["cert"]), Path(entry["key"])) if entry["tls"] else None
    return site, certificate


def _printable(text: str) -> str:
    # A request line is the client's text: keep it to one line of the log.
    return "".join(char if char.isprintable() else f"\\x{ord(char):02x}" for char in text)


# --- the child: serving -----------------------------------------------------------------------


class _AccessLog:
    """One line per request or error, shared by every site's threads."""

    def __init__(self, path: Path) -> None:
        self._file = open_private(path, append=True)
        self._lock = threading.Lock()

    def write(self, site: str, client: str, text: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        line = f"{stamp} {site} {client} {_printable(text)}\n".encode()
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        self._file.close()


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True  # a delayed answer in progress must not hold up SIGTERM

    def __init__(
        self,
        site: WebSite,
        certificate: tuple[Path, Path] | None,
        started_at: float,
        access_log: _AccessLog,
    ) -> None:
        self.site = site
        self.started_at = started_at
        self.access_log = access_log
        self.tls: ssl.SSLContext | None = None
        if certificate is not None:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.minimum_version = ssl.TLSVersion.TLSv1_2
            self.tls.load_cert_chain(certificate[0], certificate[1])
        super().__init__(site.endpoint, _SiteHandler)

    def server_bind(self) -> None:
        # HTTPServer's own asks the resolver for the address's name, which can stall for
        # seconds on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.site.address, self.site.port

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's thread, so that a slow or silent
        # client does not stall the accept loop of its site.
        if self.tls is None or not isinstance(request, socket.socket):
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as exc:
            self.access_log.write(self.site.name, client_address[0], f"TLS handshake: {exc}")
            return
        try:
            super().finish_request(connection, client_address)
        finally:
            connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        self.access_log.write(
            self.site.name, client_address[0], f"error: {type(error).__name__}: {error}"
        )


class _SiteHandler(BaseHTTPRequestHandler):
    server: _SiteServer
    protocol_version = "HTTP/1.1"
    server_version = "TSLCD-lab-web/1.0"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    # Headers and body go out in separate writes: with Nagle's algorithm the body waits for
    # the client's delayed ACK, and every HTTPS answer would take 40 ms longer than it should.
    disable_nagle_algorithm = True
    _delayed_s = 0.0
    _fault_status: int | None = None
    _body_size: int | None = None

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        site = self.server.site
        elapsed_s = time.time() - self.server.started_at
        active = [fault for fault in site.faults if fault.window.active(elapsed_s)]
        # The lab's own readiness probe (/health) is not slowed down: a long delay fault at
        # start-up would otherwise make the lab fail to start.
        if urlsplit(self.path).path != "/health":
            self._delayed_s = sum(fault.delay_s for fault in active if fault.kind == "delay")
        if self._delayed_s:
            time.sleep(self._delayed_s)
        failing = next((fault for fault in active if fault.kind == "status"), None)
        headers: dict[str, str] = {"Cache-Control": "no-store"}
        if failing is not None:
            status = failing.status
            self._fault_status = status
            body = f"{status} {_reason(status)}\n".encode()
            content_type = "text/plain; charset=utf-8"
            ends = failing.window.next_change(elapsed_s)
            if status in (429, 503) and ends is not None:
                headers["Retry-After"] = str(max(1, math.ceil(ends - elapsed_s)))
        elif site.redirect_to is not None and urlsplit(self.path).path != "/health":
            status, content_type, body = 301, "text/plain; charset=utf-8", b"301 Moved\n"
            headers["Location"] = site.redirect_to.rstrip("/") + self.path
        else:
            status, content_type, body = _page(site, urlsplit(self.path).path)
        self._body_size = len(body) if with_body else 0
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path if getattr(self, "path", None) else "-"
        request = f"{self.command or '-'} {path} {self.request_version}"
        notes = f" delay={self._delayed_s:g}s" if self._delayed_s else ""
        if self._fault_status is not None:
            notes += f" fault=status{self._fault_status}"
        code_value = code.value if isinstance(code, HTTPStatus) else code
        size = "-" if self._body_size is None else self._body_size  # send_error() sets none
        self._log(f'"{request}" {code_value} {size}{notes}')
        # Ready for the next request on the same connection.
        self._delayed_s, self._fault_status, self._body_size = 0.0, None, None

    def log_message(self, format: str, *args: Any) -> None:
        self._log("error: " + format % args)

    def _log(self, text: str) -> None:
        self.server.access_log.write(self.server.site.name, self.client_address[0], text)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _page(site: WebSite, path: str) -> tuple[int, str, bytes]:
    if path == "/":
        title = escape(site.title)
        html = (
            '<!DOCTYPE html>\n<html lang="vi">\n<head><meta charset="utf-8">'
            f"<title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n"
            "<p>Hệ thống mô phỏng của phòng thí nghiệm mạng truyền số liệu chuyên dùng.</p>\n"
            "</body>\n</html>\n"
        )
        return 200, "text/html; charset=utf-8", html.encode()
    if path == "/health":
        return 200, "text/plain; charset=utf-8", b"ok\n"
    return 404, "text/plain; charset=utf-8", b"404 Not Found\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the sites of the configuration file named by the only argument until SIGTERM."""
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        print("usage: python -m agent.lab.web CONFIG_JSON", file=sys.stderr)
        return 2
    config = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    started_at = float(config["started_at"])
    # Blocked before any thread starts (threads inherit the mask): only sigwait() below sees
    # the signal, and no serving thread is interrupted by it.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    access_log = _AccessLog(Path(config["access_log"]))
    servers: list[_SiteServer] = []
    for entry in config["sites"]:
        site, certificate = _site_from_json(entry)
        try:
            servers.append(_SiteServer(site, certificate, started_at, access_log))
        except OSError as exc:
            print(f"site {site.name}: cannot serve on {site.url}: {exc}", file=sys.stderr)
            return 1
        access_log.write(site.name, "-", f"serving {site.url}")
    for server in servers:
        threading.Thread(target=server.serve_forever, name=server.site.name, daemon=True).start()
    signal.sigwait(stop_signals)
    # Together: each shutdown() waits up to serve_forever's poll interval.
    stoppers = [threading.Thread(target=server.shutdown) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()
    for server in servers:
        server.server_close()
    access_log.close()
    return 0


# --- the parent: the lab peer ---------------------------------------------------------------


def _certificate_validity(days_left: float | None, started_at: float) -> tuple[datetime, float]:
    """(not_before, valid_days) of a site's certificate."""
    if days_left is None:
        return datetime.now(UTC) - CLOCK_SKEW, SERVER_VALID_DAYS
    lifetime = max(float(SERVER_VALID_DAYS), days_left)
    expires = datetime.fromtimestamp(started_at, UTC) + timedelta(days=days_left)
    return expires - timedelta(days=lifetime), lifetime


class LabWebServer(LabPeer):
    """Every e-government site of the lab, served by one child process.

    `started_at` is the lab's epoch (``time.time()`` at its start) from which fault windows
    count; by default, the time this object is made. `ca` issues the HTTPS sites' certificates
    (into its directory) and is what :meth:`wait_ready` trusts.
    """

    def __init__(
        self,
        state_dir: Path,
        sites: Sequence[WebSite],
        ca: LabCA | None = None,
        *,
        started_at: float | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        if not sites:
            raise ValueError("a lab web server needs at least one site")
        for what, keys in (
            ("name", [site.name for site in sites]),
            ("address and port", [f"{site.address}:{site.port}" for site in sites]),
        ):
            duplicates = sorted({key for key in keys if keys.count(key) > 1})
            if duplicates:
                raise ValueError(f"two sites have the same {what}: {', '.join(duplicates)}")
        if ca is None and any(site.tls for site in sites):
            raise ValueError("HTTPS sites need the lab CA to issue their certificates")
        self.state_dir = state_dir
        self.sites = tuple(sites)
        self.ca = ca
        self.started_at = time.time() if started_at is None else started_at
        self.start_timeout_s = start_timeout_s
        self.config_path = state_dir / "web.json"
        self.out_path = state_dir / "web.out"
        self.access_log_path = state_dir / "web-access.log"

    def __repr__(self) -> str:
        return f"LabWebServer({', '.join(site.url for site in self.sites)})"

    @property
    def pid(self) -> int | None:
        """The child's process id while it is ours (also after it died, until stop())."""
        return self._process.pid if self._process is not None else None

    def launch(self) -> None:
        """Issue the certificates, write the configuration and start the child."""
        if self.running:
            return
        for site in self.sites:
            ensure_free(site.endpoint, socket.SOCK_STREAM)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        entries = []
        for site in self.sites:
            certificate = None
            if site.tls:
                assert self.ca is not None  # checked in __init__
                not_before, valid_days = _certificate_validity(site.cert_days_left, self.started_at)
                certificate = self.ca.issue(
                    site.name, [site.address], valid_days=valid_days, not_before=not_before
                )
            entries.append(_site_json(site, certificate))
        config = {
            "started_at": self.started_at,
            "access_log": str(self.access_log_path),
            "sites": entries,
        }
        self.config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        command = [sys.executable, "-m", "agent.lab.web", str(self.config_path)]
        # From the project's root, so that `-m agent.lab.web` imports whether or not the
        # package is installed in the interpreter's environment.
        self._spawn(command, self.out_path, _PROJECT_ROOT, append=True)

    def wait_ready(self) -> None:
        """Return once every site answers an HTTP request (HTTPS verified against the lab CA).

        Any status counts: a site whose fault window is on at the start answers 503, and is
        up. A site whose certificate expired on purpose is asked without verifying it.
        Stops the child and raises LabProcessError if a site does not answer in time.
        """
        if self._process is None:
            raise LabProcessError(f"{self!r} was not launched")
        context = ssl.create_default_context(cafile=str(self.ca.cert_path)) if self.ca else None
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + self.start_timeout_s
        try:
            for site in self.sites:
                expired = site.cert_days_left is not None and site.cert_days_left < 0
                self._wait_for(site, unverified if expired else context, deadline)
        except BaseException:
            self.stop()
            raise

    def _wait_for(self, site: WebSite, context: ssl.SSLContext | None, deadline: float) -> None:
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise LabProcessError(
                    f"the lab web server exited with status {self._process.returncode}; "
                    f"{self.out_path}:\n{log_tail(self.out_path)}"
                )
            try:
                _head_health(site, context, max(0.1, deadline - time.monotonic()))
                return
            except (OSError, http.client.HTTPException) as exc:
                error = exc
            if time.monotonic() > deadline:
                raise LabProcessError(
                    f"site {site.name} did not answer on {site.url} within "
                    f"{self.start_timeout_s:g} s ({type(error).__name__}: {error}); "
                    f"{self.out_path}:\n{log_tail(self.out_path)}\n"
                    f"{self.access_log_path}:\n{log_tail(self.access_log_path, 10)}"
                )
            time.sleep(0.05)


def _head_health(site: WebSite, context: ssl.SSLContext | None, timeout: float) -> int:
    connection: http.client.HTTPConnection
    if site.tls:
        connection = http.client.HTTPSConnection(
            site.address, site.port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(site.address, site.port, timeout=timeout)
    try:
        connection.request("HEAD", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main())
