"""The lab's e-government sites: a real child process serving HTTP(S) on loopback addresses."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from agent.lab.faults import FaultWindow
from agent.lab.process import LabProcessError, ensure_free, free_tcp_port
from agent.lab.tls import LabCA
from agent.lab.web import LabWebServer, WebFault, WebSite

ALWAYS = FaultWindow(start_s=0, duration_s=3600)  # on for the whole test module
FLAPPING = FaultWindow(start_s=0, duration_s=1.5, every_s=3.0)
DELAY_S = 0.5


def _site(name: str, title: str, host: int, **options: Any) -> WebSite:
    address = f"127.77.50.{host}"
    return WebSite(name, title, address, free_tcp_port(address), **options)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def sites() -> dict[str, WebSite]:
    return {
        site.name: site
        for site in [
            _site("portal", "Cổng dịch vụ công tỉnh", 1),
            _site(
                "one-stop",
                "Hệ thống thông tin giải quyết thủ tục hành chính",
                2,
                faults=(WebFault(ALWAYS, "status", status=503),),
            ),
            _site(
                "documents",
                "Quản lý văn bản và điều hành",
                3,
                tls=False,
                faults=(WebFault(ALWAYS, "delay", delay_s=DELAY_S),),
            ),
            _site("mail", "Thư điện tử công vụ", 4, cert_days_left=10),
            _site(
                "district",
                "Cổng thông tin điện tử huyện",
                5,
                faults=(WebFault(FLAPPING, "status"),),
            ),
        ]
    }


@pytest.fixture(scope="module")
def web(
    tmp_path_factory: pytest.TempPathFactory, ca: LabCA, sites: dict[str, WebSite]
) -> Iterator[LabWebServer]:
    with LabWebServer(tmp_path_factory.mktemp("web"), list(sites.values()), ca) as server:
        yield server


def _trusting(ca: LabCA) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca.cert_path))


def _get(
    site: WebSite, path: str = "/", context: ssl.SSLContext | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    connection: http.client.HTTPConnection
    if site.tls:
        connection = http.client.HTTPSConnection(
            site.address, site.port, timeout=10, context=context
        )
    else:
        connection = http.client.HTTPConnection(site.address, site.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def bound_sockets(pid: int) -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every TCP listener and UDP socket process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with_target = os.readlink(fd)
        if with_target.startswith("socket:["):
            inodes.add(with_target[len("socket:[") : -1])
    found = set()
    for protocol in ("tcp", "udp", "tcp6", "udp6"):
        for line in Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode not in inodes or (protocol.startswith("tcp") and state != "0A"):  # LISTEN
                continue
            address_hex, port_hex = local.split(":")
            address = (
                socket.inet_ntoa(bytes.fromhex(address_hex)[::-1])  # /proc's byte order
                if len(address_hex) == 8
                else f"ipv6:{address_hex}"
            )
            found.add((protocol, address, int(port_hex, 16)))
    return found


# --- TLS ----------------------------------------------------------------------------------


def test_https_site_verified_against_the_lab_ca_shows_its_title(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    portal = sites["portal"]

    status, headers, body = _get(portal, context=_trusting(ca))

    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body)
    assert f"<title>{portal.title}</title>" in body.decode("utf-8")


def test_https_without_the_lab_ca_fails_verification(
    web: LabWebServer, sites: dict[str, WebSite]
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        _get(sites["portal"], context=ssl.create_default_context())


def test_a_certificate_for_another_address_fails_verification(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    portal = sites["portal"]
    context = _trusting(ca)

    # The portal's certificate names 127.77.50.1 only.
    with (
        socket.create_connection(portal.endpoint, timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"),
    ):
        context.wrap_socket(raw, server_hostname="127.77.50.99")


def test_the_near_expiry_certificate_expires_within_its_days(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    mail = sites["mail"]
    with (
        socket.create_connection(mail.endpoint, timeout=10) as raw,
        _trusting(ca).wrap_socket(raw, server_hostname=mail.address) as tls,
    ):
        certificate = tls.getpeercert()
    assert certificate is not None
    not_after = ssl.cert_time_to_seconds(str(certificate["notAfter"]))

    days_left = (not_after - time.time()) / 86400
    assert 9 < days_left <= 10
    portal_certificate = x509.load_pem_x509_certificate((ca.directory / "portal.pem").read_bytes())
    assert portal_certificate.not_valid_after_utc > datetime.now(UTC) + timedelta(days=300)


def test_issued_certificates_are_server_certificates_for_their_address(ca: LabCA) -> None:
    cert_path, key_path = ca.issue("kiosk", ["127.77.50.60"], ["kiosk.lab.tslcd"])

    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    alt_names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [str(ip) for ip in alt_names.get_values_for_type(x509.IPAddress)] == ["127.77.50.60"]
    assert alt_names.get_values_for_type(x509.DNSName) == ["kiosk.lab.tslcd"]
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert certificate.issuer == ca.certificate.subject
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644


def test_the_lab_ca_is_reused_and_its_key_is_private(ca: LabCA) -> None:
    again = LabCA.create(ca.directory)

    assert again.certificate.serial_number == ca.certificate.serial_number
    assert stat.S_IMODE(ca.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.cert_path.stat().st_mode) == 0o644


def test_a_damaged_ca_is_replaced(tmp_path: Path) -> None:
    first = LabCA.create(tmp_path)
    first.key_path.write_text("not a key")

    second = LabCA.create(tmp_path)

    assert second.certificate.serial_number != first.certificate.serial_number
    assert x509.load_pem_x509_certificate(second.cert_path.read_bytes()) == second.certificate


# --- pages ----------------------------------------------------------------------------------


def test_head_health_and_unknown_paths(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    portal = sites["portal"]
    context = _trusting(ca)

    head_status, head_headers, head_body = _get(portal, "/", context, method="HEAD")
    health = _get(portal, "/health?token=abc", context)
    missing = _get(portal, "/admin", context)

    assert (head_status, head_body) == (200, b"")
    assert int(head_headers["Content-Length"]) > 0
    assert (health[0], health[2]) == (200, b"ok\n")
    assert missing[0] == 404
    log = web.access_log_path.read_text()
    assert '"GET /health HTTP/1.1" 200' in log
    assert "token" not in log  # query strings may carry credentials: never logged


def test_plain_http_site_answers(web: LabWebServer, sites: dict[str, WebSite]) -> None:
    documents = sites["documents"]

    status, _, body = _get(documents)

    assert status == 200
    assert documents.title in body.decode("utf-8")


# --- faults ---------------------------------------------------------------------------------


def test_a_status_fault_answers_503_while_another_site_answers_200(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    context = _trusting(ca)

    failing = _get(sites["one-stop"], context=context)
    healthy = _get(sites["portal"], context=context)

    assert failing[0] == 503
    assert int(failing[1]["Retry-After"]) >= 1
    assert healthy[0] == 200


def test_a_delay_fault_delays_the_answer_without_holding_up_other_sites(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    documents = sites["documents"]
    delayed: list[tuple[int, float]] = []

    def fetch_delayed() -> None:
        started = time.monotonic()
        status, _, _ = _get(documents, "/")
        delayed.append((status, time.monotonic() - started))

    fetcher = threading.Thread(target=fetch_delayed)
    fetcher.start()
    time.sleep(0.1)
    other = _get(sites["portal"], context=_trusting(ca))
    still_waiting = fetcher.is_alive()
    fetcher.join(10)

    assert other[0] == 200
    assert still_waiting  # the portal answered while the documents site was still delaying
    assert len(delayed) == 1
    status, waited = delayed[0]
    assert status == 200
    assert waited >= DELAY_S
    # The lab's own readiness probe is exempt: a delay fault must not stop the lab starting.
    assert _get(documents, "/health")[0] == 200
    log = web.access_log_path.read_text().splitlines()
    assert any(
        " documents " in line and '"GET / HTTP/1.1" 200' in line and "delay=0.5s" in line
        for line in log
    )
    health = [line for line in log if " documents " in line and "GET /health" in line]
    assert health and all("delay=" not in line for line in health)


def _sleep_until(server: LabWebServer, window: FaultWindow, *, active: bool) -> None:
    """Sleep until `window` is in the wanted state, with most of that phase still ahead."""
    while True:
        elapsed = time.time() - server.started_at
        change = window.next_change(elapsed)
        assert change is not None
        if window.active(elapsed) is active and change - elapsed > 1.0:
            return
        time.sleep(change - elapsed + 0.05)


def test_a_fault_window_ends_and_comes_back(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    district = sites["district"]
    context = _trusting(ca)

    _sleep_until(web, FLAPPING, active=True)
    during = _get(district, context=context)[0]
    _sleep_until(web, FLAPPING, active=False)
    after = _get(district, context=context)[0]
    _sleep_until(web, FLAPPING, active=True)
    again = _get(district, context=context)[0]

    assert (during, after, again) == (503, 200, 503)


# --- the process ----------------------------------------------------------------------------


def test_listens_only_on_the_sites_addresses(web: LabWebServer, sites: dict[str, WebSite]) -> None:
    assert web.pid is not None

    bound = bound_sockets(web.pid)

    assert bound == {("tcp", site.address, site.port) for site in sites.values()}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sites["portal"].port), timeout=5).close()


def test_stop_ends_the_child_promptly(tmp_path: Path, ca: LabCA) -> None:
    site = _site("stop-test", "Trang thử nghiệm", 20)
    server = LabWebServer(tmp_path, [site], ca)
    server.start()
    pid = server.pid
    assert pid is not None

    started = time.monotonic()
    server.stop()
    stopping_took = time.monotonic() - started

    assert stopping_took < server.stop_grace_s  # SIGTERM was enough: no SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    ensure_free(site.endpoint, socket.SOCK_STREAM)


def test_a_taken_port_is_refused_before_start(tmp_path: Path, ca: LabCA) -> None:
    site = _site("taken", "Trang thử nghiệm", 21)
    with socket.create_server(site.endpoint):
        server = LabWebServer(tmp_path, [site], ca)
        with pytest.raises(LabProcessError, match="already in use"):
            server.start()
    assert server.pid is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("x", "X", "10.0.0.1", 443), "not an IPv4 loopback address"),
        (("x", "X", "localhost", 443), "not an IPv4 loopback address"),
        (("X y", "X", "127.0.0.1", 443), "site name"),
        (("ca", "X", "127.0.0.1", 443), "site name"),
        (("x", "X", "127.0.0.1", 0), "port 0"),
    ],
)
def test_bad_sites_are_refused(arguments: tuple[str, str, str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebSite(*arguments)


def test_bad_server_configurations_are_refused(tmp_path: Path) -> None:
    site = WebSite("portal", "Cổng", "127.77.50.1", 8443)
    with pytest.raises(ValueError, match="need the lab CA"):
        LabWebServer(tmp_path, [site])
    with pytest.raises(ValueError, match="same name: portal"):
        LabWebServer(tmp_path, [site, WebSite("portal", "Cổng", "127.77.50.2", 8443, tls=False)])
    with pytest.raises(ValueError, match="'delay' web fault needs delay_s > 0"):
        WebFault(ALWAYS, "delay")
