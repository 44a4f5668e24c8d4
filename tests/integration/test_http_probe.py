"""The HTTP(S) probe against the lab's real web server (a child process) and its real CA.

Every site runs on 127.77.60.x (the lab itself uses 127.5.0.x; test_lab_web 127.77.50.x). A
second web server, with a CA of its own the probe does not trust, plays a site whose
certificate comes from elsewhere. The forward proxy is a small one in this module.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509

from agent.availability import AvailabilityTracker, State
from agent.collector import CollectorContext, Target
from agent.lab.faults import FaultWindow
from agent.lab.process import free_tcp_port
from agent.lab.tls import LabCA
from agent.lab.web import LabWebServer, WebFault, WebSite
from agent.results import Result
from agent.samples import Sample
from agent.schema import base_schema
from collectors.http import HttpCollector
from collectors.http.config import HttpConfig

ALWAYS = FaultWindow(start_s=0, duration_s=3600)  # on for the whole module
DELAY_S = 3.0
PROXY_ADDRESS = "127.77.60.50"
NOBODY_ADDRESS = "127.77.60.99"  # nothing listens there
SECONDS_PER_DAY = 86400.0
SLACK_DAYS = 5.0 / SECONDS_PER_DAY  # between reading the clock here and in the probe


def _site(name: str, title: str, host: int, **options: Any) -> WebSite:
    address = f"127.77.60.{host}"
    return WebSite(name, title, address, free_tcp_port(address), **options)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def sites() -> dict[str, WebSite]:
    portal = _site("portal", "Cổng dịch vụ công tỉnh", 1)
    return {
        site.name: site
        for site in [
            portal,
            _site("one-stop", "Một cửa điện tử", 2, faults=(WebFault(ALWAYS, "status"),)),
            _site(
                "documents",
                "Quản lý văn bản",
                3,
                tls=False,
                faults=(WebFault(ALWAYS, "delay", delay_s=DELAY_S),),
            ),
            _site("mail", "Thư điện tử công vụ", 4, cert_days_left=10),
            _site("archive", "Lưu trữ", 5, cert_days_left=-3),
            _site("old-portal", "Cổng cũ", 6, tls=False, redirect_to=portal.url),
            _site("news", "Tin tức", 8, tls=False),
        ]
    }


@pytest.fixture(scope="module")
def web(
    tmp_path_factory: pytest.TempPathFactory, ca: LabCA, sites: dict[str, WebSite]
) -> Iterator[LabWebServer]:
    with LabWebServer(tmp_path_factory.mktemp("web"), list(sites.values()), ca) as server:
        yield server


@dataclass(frozen=True)
class Foreign:
    site: WebSite
    ca: LabCA


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Foreign]:
    """A site whose certificate comes from another CA than the one the probe trusts."""
    other_ca = LabCA.create(tmp_path_factory.mktemp("other-ca"))
    site = _site("foreign", "Trang ngoài", 7)
    with LabWebServer(tmp_path_factory.mktemp("foreign"), [site], other_ca):
        yield Foreign(site, other_ca)


def _check(config: HttpConfig, ca_file: Path | None, host: str = "kiosk") -> list[Sample]:
    async def run() -> list[Sample]:
        collector = HttpCollector(CollectorContext(base_schema(), ca_file=ca_file))
        try:
            return await collector.collect(Target(host, "127.77.60.1", "http", config))
        finally:
            await collector.close()

    return asyncio.run(run())


def _one(samples: list[Sample]) -> Sample:
    assert len(samples) == 1
    sample = samples[0]
    assert base_schema().problems(sample) == []  # nothing undeclared, every type right
    return sample


def _result(sample: Sample) -> Result:
    return Result(int(sample.fields["result_code"]))


def _days_left(certificate_path: Path) -> float:
    certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
    return (certificate.not_valid_after_utc.timestamp() - time.time()) / SECONDS_PER_DAY


def _assess(config: HttpConfig, sample: Sample) -> tuple[bool, tuple[str, ...]]:
    collector = HttpCollector(CollectorContext(base_schema()))
    assessment = collector.assess(Target("kiosk", "x", "http", config), [sample])
    return assessment.up, assessment.problems


# --- success and failures --------------------------------------------------------------------


def test_a_healthy_https_site_is_a_success_with_its_timing_and_certificate(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    portal = sites["portal"]
    config = HttpConfig(url=portal.url, content_match=portal.title, content_regex=r"<h1>.+</h1>")

    sample = _one(_check(config, ca.cert_path))

    assert _result(sample) is Result.SUCCESS
    assert sample.tags == {
        "server": portal.url,
        "method": "GET",
        "status_code": "200",
        "result": "success",
    }
    fields = sample.fields
    assert fields["http_response_code"] == 200
    assert fields["response_string_match"] == 1
    assert fields["tls_verified"] == 1
    assert fields["redirects"] == 0
    page_size = len(f"<title>{portal.title}</title>".encode())
    assert isinstance(fields["content_length"], int)
    assert fields["content_length"] > page_size
    for phase in ("connect_time", "tls_handshake_time", "first_byte_time", "response_time"):
        assert isinstance(fields[phase], float)
    assert "dns_time" not in fields  # an IP address in the URL: nothing was resolved
    assert "error" not in fields
    # The issued certificate (a year) expires before the CA (ten years): the earliest counts.
    days = fields["tls_expiry_days"]
    assert isinstance(days, float)
    assert abs(days - _days_left(ca.directory / "portal.pem")) < SLACK_DAYS
    assert _assess(config, sample) == (True, ())


def test_head_reports_the_declared_length(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    news = sites["news"]
    get = _one(_check(HttpConfig(url=news.url), None))
    head = _one(_check(HttpConfig(url=news.url, method="HEAD"), None))

    assert _result(head) is Result.SUCCESS
    assert head.tags["method"] == "HEAD"
    assert head.fields["content_length"] == get.fields["content_length"]
    assert "tls_verified" not in head.fields  # plain HTTP: no certificate to speak of


def test_a_503_is_a_protocol_error(web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]) -> None:
    config = HttpConfig(url=sites["one-stop"].url)

    sample = _one(_check(config, ca.cert_path))

    assert _result(sample) is Result.PROTOCOL_ERROR
    assert sample.tags["status_code"] == "503"
    assert sample.tags["result"] == "protocol_error"
    assert sample.fields["error"] == "HTTP 503 Service Unavailable"
    assert _assess(config, sample) == (False, ("HTTP 503",))


def test_an_expected_status_turns_the_verdict(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    maintenance = HttpConfig(url=sites["one-stop"].url, expect_status=[503])
    strictly_ok = HttpConfig(url=sites["portal"].url + "missing", expect_status=[200])

    assert _result(_one(_check(maintenance, ca.cert_path))) is Result.SUCCESS
    missing = _one(_check(strictly_ok, ca.cert_path))
    assert _result(missing) is Result.PROTOCOL_ERROR
    assert missing.fields["http_response_code"] == 404


def test_an_answer_slower_than_the_timeout_is_a_timeout(
    web: LabWebServer, sites: dict[str, WebSite]
) -> None:
    config = HttpConfig(url=sites["documents"].url, timeout_s=0.5)

    sample = _one(_check(config, None))

    assert _result(sample) is Result.TIMEOUT
    assert "status_code" not in sample.tags
    assert sample.fields["error"] == "timeout after 0.5 s waiting for the answer"
    assert isinstance(sample.fields["connect_time"], float)  # it got that far
    assert "first_byte_time" not in sample.fields
    assert _assess(config, sample) == (False, ("timeout",))


def test_missing_content_is_a_content_mismatch(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    config = HttpConfig(url=sites["portal"].url, content_match="Bảo trì hệ thống")

    sample = _one(_check(config, ca.cert_path))

    assert _result(sample) is Result.CONTENT_MISMATCH
    assert sample.tags["status_code"] == "200"
    assert sample.fields["response_string_match"] == 0
    assert _assess(config, sample) == (False, ("content not found",))


def test_nothing_listening_is_a_connection_error(web: LabWebServer) -> None:
    config = HttpConfig(url=f"http://{NOBODY_ADDRESS}:{free_tcp_port(NOBODY_ADDRESS)}/")

    sample = _one(_check(config, None))

    assert _result(sample) is Result.CONNECTION_ERROR
    assert sample.fields["error"] == "connection refused"
    assert _assess(config, sample) == (False, ("connection refused",))


# --- certificates ----------------------------------------------------------------------------


def test_a_certificate_close_to_expiry_succeeds_but_degrades(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    config = HttpConfig(url=sites["mail"].url, tls_warning_days=14)

    sample = _one(_check(config, ca.cert_path))

    assert _result(sample) is Result.SUCCESS
    days = sample.fields["tls_expiry_days"]
    assert isinstance(days, float)
    assert abs(days - _days_left(ca.directory / "mail.pem")) < SLACK_DAYS
    assert 9 < days < 10
    up, problems = _assess(config, sample)
    assert up
    assert problems == (f"certificate expires in {days:.1f} days",)


def test_an_expired_certificate_is_a_tls_error_with_negative_days(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    config = HttpConfig(url=sites["archive"].url)

    sample = _one(_check(config, ca.cert_path))

    assert _result(sample) is Result.TLS_ERROR
    assert sample.fields["tls_verified"] == 0
    assert sample.fields["tls_error"] == "certificate has expired"
    days = sample.fields["tls_expiry_days"]
    assert isinstance(days, float)
    assert abs(days - _days_left(ca.directory / "archive.pem")) < SLACK_DAYS
    assert -3.1 < days < -2.9
    assert "status_code" not in sample.tags
    assert _assess(config, sample) == (False, ("certificate has expired",))


def test_an_expired_certificate_is_only_degraded_when_verification_is_off(
    web: LabWebServer, sites: dict[str, WebSite]
) -> None:
    config = HttpConfig(url=sites["archive"].url, verify_tls=False)

    sample = _one(_check(config, None))

    assert _result(sample) is Result.SUCCESS
    assert "tls_verified" not in sample.fields  # nothing was verified
    days = sample.fields["tls_expiry_days"]
    assert isinstance(days, float)
    assert _assess(config, sample) == (True, (f"certificate expired {-days:.1f} days ago",))


def test_a_certificate_from_an_unknown_ca_is_a_tls_error(
    web: LabWebServer, ca: LabCA, foreign: Foreign
) -> None:
    sample = _one(_check(HttpConfig(url=foreign.site.url), ca.cert_path))

    assert _result(sample) is Result.TLS_ERROR
    assert sample.fields["tls_verified"] == 0
    assert sample.fields["tls_error"] == "unable to get local issuer certificate"
    days = sample.fields["tls_expiry_days"]  # read anyway, without trusting it
    assert isinstance(days, float)
    assert days > 300


def test_the_hosts_own_ca_file_replaces_the_agents(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite], foreign: Foreign
) -> None:
    config = HttpConfig(url=foreign.site.url, ca_file=foreign.ca.cert_path)
    portal = HttpConfig(url=sites["portal"].url, ca_file=foreign.ca.cert_path)

    assert _result(_one(_check(config, ca.cert_path))) is Result.SUCCESS
    # The agent-wide lab CA no longer counts for a host that names its own.
    assert _result(_one(_check(portal, ca.cert_path))) is Result.TLS_ERROR


def test_server_name_is_what_the_certificate_is_verified_against(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    config = HttpConfig(url=sites["portal"].url, server_name="portal.lab.tslcd")

    sample = _one(_check(config, ca.cert_path))

    assert _result(sample) is Result.TLS_ERROR
    assert "portal.lab.tslcd" in str(sample.fields["tls_error"])  # "Hostname mismatch, ..."


def test_https_to_a_plain_http_server_is_a_tls_error(
    web: LabWebServer, sites: dict[str, WebSite]
) -> None:
    news = sites["news"]
    config = HttpConfig(url=f"https://{news.address}:{news.port}/")

    sample = _one(_check(config, None))

    assert _result(sample) is Result.TLS_ERROR
    assert sample.fields["tls_error"] == "wrong version number"  # OpenSSL's reason, in words
    assert sample.fields["tls_verified"] == 0
    assert "tls_expiry_days" not in sample.fields


# --- redirects -------------------------------------------------------------------------------


def test_a_redirect_to_https_is_followed(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    old = sites["old-portal"]
    config = HttpConfig(url=old.url + "?ref=qr", content_match=sites["portal"].title)

    sample = _one(_check(config, ca.cert_path))

    assert _result(sample) is Result.SUCCESS
    assert sample.tags["server"] == old.url  # the configured URL, its query left out
    assert sample.tags["status_code"] == "200"
    assert sample.fields["redirects"] == 1
    assert sample.fields["response_string_match"] == 1
    # The last hop was the portal's, over TLS: its certificate is the one reported.
    days = sample.fields["tls_expiry_days"]
    assert isinstance(days, float)
    assert abs(days - _days_left(ca.directory / "portal.pem")) < SLACK_DAYS
    assert sample.fields["tls_verified"] == 1
    log = web.access_log_path.read_text()
    assert '"GET / HTTP/1.1" 301' in log


def test_a_redirect_not_followed_is_the_answer(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    config = HttpConfig(url=sites["old-portal"].url, follow_redirects=False)

    sample = _one(_check(config, ca.cert_path))

    assert _result(sample) is Result.SUCCESS  # 3xx is fine unless expect_status says not
    assert sample.tags["status_code"] == "301"
    assert sample.fields["redirects"] == 0
    assert "tls_expiry_days" not in sample.fields  # the portal was never asked


def test_more_redirects_than_allowed_is_a_protocol_error(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    config = HttpConfig(url=sites["old-portal"].url, max_redirects=0)

    sample = _one(_check(config, ca.cert_path))

    assert _result(sample) is Result.PROTOCOL_ERROR
    assert sample.tags["status_code"] == "301"
    assert sample.fields["error"] == "more than 0 redirects"
    assert _assess(config, sample) == (False, ("more than 0 redirects",))


# --- through a proxy -------------------------------------------------------------------------


@dataclass
class ForwardProxy:
    """A forward proxy on loopback: CONNECT tunnels and absolute-form requests, recorded."""

    required_credentials: str | None = None
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{PROXY_ADDRESS}:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {
                name.lower(): value
                for name, _, value in (line.partition(": ") for line in header_lines if line)
            }
            self.requests.append((request_line, headers))
            method, target, _ = request_line.split(" ")
            offered = headers.get("proxy-authorization")
            if self.required_credentials and offered != self.required_credentials:
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                await writer.drain()
                return
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                parts = urlsplit(target)
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    parts.hostname, parts.port or 80
                )
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                forwarded = [f"{method} {path} HTTP/1.1"] + [
                    line
                    for line in header_lines
                    if line and not line.lower().startswith("proxy-authorization:")
                ]
                upstream_writer.write(("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1"))
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ForwardProxy]:
        server = await asyncio.start_server(self._serve, PROXY_ADDRESS, 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.close()


def _check_through(
    proxy: ForwardProxy, config: HttpConfig, ca_file: Path | None, userinfo: str = ""
) -> Sample:
    async def run() -> list[Sample]:
        async with proxy.running():
            proxy_url = f"http://{userinfo}{PROXY_ADDRESS}:{proxy.port}"
            collector = HttpCollector(CollectorContext(base_schema(), ca_file=ca_file))
            target = Target("kiosk", "x", "http", config.model_copy(update={"proxy": proxy_url}))
            return await collector.collect(target)

    return _one(asyncio.run(run()))


def _basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


def test_https_goes_through_the_proxy_in_a_connect_tunnel(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    portal = sites["portal"]
    proxy = ForwardProxy(required_credentials=_basic("relay:pr0xy-pass"))

    sample = _check_through(proxy, HttpConfig(url=portal.url), ca.cert_path, "relay:pr0xy-pass@")

    assert _result(sample) is Result.SUCCESS
    assert sample.fields["tls_verified"] == 1  # verified end to end, not by the proxy
    assert [line for line, _ in proxy.requests] == [
        f"CONNECT {portal.address}:{portal.port} HTTP/1.1"
    ]
    assert "pr0xy-pass" not in repr(sample)


def test_a_proxy_refusing_the_credentials_is_an_auth_error(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    proxy = ForwardProxy(required_credentials=_basic("relay:pr0xy-pass"))
    tunnel = HttpConfig(url=sites["portal"].url)
    plain = HttpConfig(url=sites["news"].url)

    refused_tunnel = _check_through(proxy, tunnel, ca.cert_path, "relay:wrong@")
    refused_plain = _check_through(proxy, plain, None)

    assert _result(refused_tunnel) is Result.AUTH_ERROR
    assert _result(refused_plain) is Result.AUTH_ERROR
    assert refused_plain.tags["status_code"] == "407"
    assert "wrong" not in repr(refused_tunnel)


def test_plain_http_goes_to_the_proxy_in_absolute_form(
    web: LabWebServer, sites: dict[str, WebSite]
) -> None:
    news = sites["news"]
    proxy = ForwardProxy(required_credentials=_basic("relay:pr0xy-pass"))
    config = HttpConfig(url=news.url + "?page=2", content_match=news.title)

    sample = _check_through(proxy, config, None, "relay:pr0xy-pass@")

    assert _result(sample) is Result.SUCCESS
    assert sample.fields["response_string_match"] == 1
    assert [line for line, _ in proxy.requests] == [f"GET {news.url}?page=2 HTTP/1.1"]
    assert proxy.requests[0][1]["host"] == f"{news.address}:{news.port}"


def test_url_credentials_are_sent_but_never_shown(
    web: LabWebServer, sites: dict[str, WebSite], caplog: pytest.LogCaptureFixture
) -> None:
    news = sites["news"]
    authority = f"{news.address}:{news.port}"
    config = HttpConfig(url=f"http://operator:m%40t-kh%E1%BA%A9u@{authority}/?token=abc")
    proxy = ForwardProxy()

    with caplog.at_level(logging.DEBUG):
        sample = _check_through(proxy, config, None)
        nobody = f"{NOBODY_ADDRESS}:{free_tcp_port(NOBODY_ADDRESS)}"
        failed = _one(
            _check(config.model_copy(update={"url": config.url.replace(authority, nobody)}), None)
        )

    assert _result(sample) is Result.SUCCESS
    assert _result(failed) is Result.CONNECTION_ERROR
    assert "connection_error" in caplog.text  # the failure was logged, without credentials
    assert sample.tags["server"] == f"http://{authority}/"
    # Sent as Basic authentication, decoded from the URL's percent-encoding.
    assert proxy.requests[0][1]["authorization"] == _basic("operator:m@t-khẩu")
    for text in (repr(sample), repr(failed), caplog.text, repr(config)):
        assert "operator" not in text
        assert "kh%E1" not in text
        assert "token" not in text


# --- logging ---------------------------------------------------------------------------------


def test_a_failing_site_is_logged_when_it_fails_and_when_it_recovers(
    web: LabWebServer, sites: dict[str, WebSite], caplog: pytest.LogCaptureFixture
) -> None:
    news = sites["news"]
    dead = HttpConfig(url=f"http://{NOBODY_ADDRESS}:{free_tcp_port(NOBODY_ADDRESS)}/")
    alive = HttpConfig(url=news.url)

    async def polls() -> list[Result]:
        collector = HttpCollector(CollectorContext(base_schema()))
        results = []
        for config in (dead, dead, dead, alive, alive):
            samples = await collector.collect(Target("kiosk", "x", "http", config))
            results.append(_result(samples[0]))
        return results

    with caplog.at_level(logging.INFO, logger="collectors.http"):
        results = asyncio.run(polls())

    assert results == [Result.CONNECTION_ERROR] * 3 + [Result.SUCCESS] * 2
    messages = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert messages == [
        (logging.WARNING, f"kiosk: HTTP check of {dead.url}: connection_error: connection refused"),
        (logging.INFO, f"kiosk: HTTP check of {news.url} succeeds again"),
    ]


def test_the_availability_verdict_of_a_degraded_site(
    web: LabWebServer, ca: LabCA, sites: dict[str, WebSite]
) -> None:
    config = HttpConfig(url=sites["mail"].url)
    target = Target("mail", "x", "http", config)
    collector = HttpCollector(CollectorContext(base_schema(), ca_file=ca.cert_path))
    tracker = AvailabilityTracker(assessors={"http": collector.assess})

    samples = asyncio.run(collector.collect(target))
    verdict = tracker.judge(target, samples)

    assert len(verdict) == 1
    assert verdict[0].fields["up"] == 1
    assert verdict[0].fields["state"] == int(State.DEGRADED)
    days = samples[0].fields["tls_expiry_days"]
    assert isinstance(days, float)
    assert verdict[0].fields["reason"] == f"certificate expires in {days:.1f} days"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cert_days_left": 0}, "cert_days_left must be > 0"),
        ({"cert_days_left": float("nan")}, "cert_days_left must be > 0"),
        ({"redirect_to": "https://127.77.60.1:8443/portal"}, "without a path"),
        ({"redirect_to": "ftp://127.77.60.1/"}, "redirect_to must be an http"),
    ],
)
def test_the_labs_test_sites_refuse_meaningless_options(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        WebSite("x", "X", "127.77.60.30", 8443, **options)
