"""The HTTP collector without a server: samples, verdicts, requests, errors, certificates.

The network seams are faked narrowly: a resolver function, exceptions handed to the
classifier, certificates made by the lab CA in a temporary directory.
"""

import asyncio
import base64
import errno
import logging
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agent.availability import Assessment
from agent.collector import CollectorContext, PolledCollector, Target
from agent.lab.tls import LabCA
from agent.results import Result
from agent.samples import Sample
from agent.schema import base_schema
from collectors.http import HttpCollector
from collectors.http.answer import ProbeFailure
from collectors.http.collector import outcome_sample
from collectors.http.config import HttpConfig
from collectors.http.probe import Outcome, classify, probe
from collectors.http.request import Location, request_headers
from collectors.http.tls import (
    TlsPolicy,
    earliest_expiry,
    inspecting_context,
    verification_message,
)

URL = "https://portal.example.gov.vn/"


def _config(**settings: Any) -> HttpConfig:
    return HttpConfig.model_validate({"url": URL, **settings})


def _target(config: HttpConfig) -> Target:
    return Target("kiosk", "portal.example.gov.vn", "http", config)


def _collector() -> HttpCollector:
    return HttpCollector(CollectorContext(base_schema()))


def _unverified() -> TlsPolicy:
    return TlsPolicy(None, inspecting_context())


# --- the collector contract -------------------------------------------------------------------


def test_the_collector_follows_the_contract() -> None:
    collector = _collector()

    assert isinstance(collector, PolledCollector)
    assert HttpCollector.name == "http"
    assert HttpCollector.config_model is HttpConfig


# --- samples -----------------------------------------------------------------------------------


def test_a_full_outcome_becomes_one_declared_sample() -> None:
    outcome = Outcome(
        result=Result.SUCCESS,
        status=200,
        redirects=1,
        response_time=0.25,
        dns_time=0.01,
        connect_time=0.02,
        tls_handshake_time=0.03,
        first_byte_time=0.1,
        content_length=5120,
        string_match=True,
        tls_expiry_days=87.123456789,
        tls_verified=True,
    )
    config = _config(url="https://operator:m4t-khau@portal.example.gov.vn/tra-cuu?ma=123")

    sample = outcome_sample(config, outcome, 1_700_000_000_000_000_000)

    assert base_schema().problems(sample) == []
    assert sample.measurement == "http_response"
    assert sample.tags == {
        "server": "https://portal.example.gov.vn/tra-cuu",
        "method": "GET",
        "status_code": "200",
        "result": "success",
    }
    assert sample.fields == {
        "result_code": 0,
        "redirects": 1,
        "http_response_code": 200,
        "response_time": 0.25,
        "dns_time": 0.01,
        "connect_time": 0.02,
        "tls_handshake_time": 0.03,
        "first_byte_time": 0.1,
        "tls_expiry_days": 87.123457,
        "content_length": 5120,
        "response_string_match": 1,
        "tls_verified": 1,
    }
    assert sample.timestamp_ns == 1_700_000_000_000_000_000


def test_a_failure_without_an_answer_has_no_status_code() -> None:
    outcome = Outcome(
        result=Result.TLS_ERROR,
        error="certificate has expired",
        response_time=0.01,
        tls_verified=False,
        tls_error="certificate has expired",
        tls_expiry_days=-3.0,
    )

    sample = outcome_sample(_config(), outcome, 1)

    assert base_schema().problems(sample) == []
    assert "status_code" not in sample.tags
    assert sample.tags["result"] == "tls_error"
    assert sample.fields["result_code"] == int(Result.TLS_ERROR)
    assert sample.fields["tls_verified"] == 0
    assert sample.fields["tls_expiry_days"] == -3.0
    assert "http_response_code" not in sample.fields


def test_an_abandoned_poll_is_a_declared_sample_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = _collector()
    target = _target(_config())

    with caplog.at_level(logging.DEBUG, logger="collectors.http"):
        first = collector.failure_samples(target, Result.TIMEOUT, 30.0)
        collector.failure_samples(target, Result.TIMEOUT, 30.0)

    assert base_schema().problems(first[0]) == []
    assert first[0].tags["result"] == "timeout"
    assert first[0].fields["response_time"] == 30.0
    assert first[0].fields["error"] == "check abandoned by the agent after 30.0 s (timeout)"
    levels = [record.levelno for record in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG]


# --- verdicts ----------------------------------------------------------------------------------


def _sample(result: Result, **fields: Any) -> Sample:
    return Sample(
        "http_response",
        {"server": URL, "method": "GET", "result": result.tag},
        {"result_code": int(result), **fields},
    )


def _assess(sample: Sample, **settings: Any) -> Assessment:
    config = _config(**settings)
    return _collector().assess(_target(config), [sample])


def test_a_success_is_up_with_its_latency() -> None:
    assessment = _assess(_sample(Result.SUCCESS, response_time=0.4, tls_expiry_days=200.0))

    assert assessment == Assessment(True, 0.4, ())


def test_a_certificate_close_to_expiry_and_slowness_degrade() -> None:
    sample = _sample(Result.SUCCESS, response_time=2.31, tls_expiry_days=9.8)

    assessment = _assess(sample, slow_s=1, tls_warning_days=14)

    assert assessment.up
    assert assessment.problems == ("certificate expires in 9.8 days", "slow: 2.31 s > 1 s")
    assert _assess(sample, tls_warning_days=9).problems == ()  # 9.8 days is enough for 9


@pytest.mark.parametrize(
    ("result", "fields", "reason"),
    [
        (Result.PROTOCOL_ERROR, {"http_response_code": 503, "error": "HTTP 503 Busy"}, "HTTP 503"),
        (
            Result.PROTOCOL_ERROR,
            {"http_response_code": 301, "error": "more than 5 redirects"},
            "more than 5 redirects",
        ),
        (Result.TIMEOUT, {"error": "timeout after 10 s waiting for the answer"}, "timeout"),
        (
            Result.TLS_ERROR,
            {"tls_error": "certificate has expired", "error": "certificate has expired"},
            "certificate has expired",
        ),
        (Result.CONTENT_MISMATCH, {"error": "content not found"}, "content not found"),
        (Result.CONNECTION_ERROR, {"error": "connection refused"}, "connection refused"),
        (Result.DNS_ERROR, {"error": "name not resolved: x (unknown)"}, "name not resolved"),
        (Result.BAD_RESPONSE, {}, "bad_response"),
    ],
)
def test_a_failure_is_down_with_a_short_reason(
    result: Result, fields: dict[str, Any], reason: str
) -> None:
    assessment = _assess(_sample(result, response_time=1.0, **fields))

    assert assessment == Assessment(False, 1.0, (reason,))


def test_no_result_sample_is_down() -> None:
    assert _collector().assess(_target(_config()), []).up is False


# --- requests ----------------------------------------------------------------------------------


def _basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


def test_credentials_go_to_the_configured_site_only() -> None:
    config = _config(
        url="https://operator:m%40t-kh%E1%BA%A9u@portal.example.gov.vn/",
        headers={"cookie": "sid=42", "X-Agency": "so-noi-vu", "user-agent": "kiosk-check"},
    )
    home = Location.parse(config.url)
    elsewhere = Location.parse("https://sso.example.gov.vn/login")

    same = dict(request_headers(config, home, True, False))
    other = dict(request_headers(config, elsewhere, False, False))

    assert same["Authorization"] == _basic("operator:m@t-khẩu")
    assert same["cookie"] == "sid=42"
    assert same["Host"] == "portal.example.gov.vn"
    assert same["user-agent"] == "kiosk-check"  # a configured header replaces the probe's
    assert "User-Agent" not in same
    assert "Authorization" not in other
    assert "cookie" not in other
    assert other["X-Agency"] == "so-noi-vu"
    assert other["Host"] == "sso.example.gov.vn"


def test_a_plain_request_through_the_proxy_carries_the_proxys_credentials() -> None:
    config = _config(url="http://portal.example.gov.vn:8080/", proxy="http://relay:pw@proxy:3128")
    location = Location.parse(config.url)

    proxied = dict(request_headers(config, location, True, True))
    direct = dict(request_headers(config, location, True, False))

    assert proxied["Proxy-Authorization"] == _basic("relay:pw")
    assert proxied["Host"] == "portal.example.gov.vn:8080"
    assert "Proxy-Authorization" not in direct  # in a tunnel, the CONNECT carries it


def test_urls_are_sent_in_ascii() -> None:
    location = Location.parse("https://cổng.gov.vn:8443/tra-cứu?tên=Hà Nội".replace(" ", "%20"))

    assert location.host == "xn--cng-qmz.gov.vn"
    assert location.authority == "xn--cng-qmz.gov.vn:8443"
    assert location.target == "/tra-c%E1%BB%A9u?t%C3%AAn=H%C3%A0%20N%E1%BB%99i"
    assert Location.parse("http://[2001:db8::1]/").host == "2001:db8::1"


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "phase", "verdict"),
    [
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('10.0.0.1', 443)"),
            "connecting",
            (Result.CONNECTION_ERROR, "connection refused"),
        ),
        (
            OSError(errno.EHOSTUNREACH, "Connect call failed"),
            "connecting",
            (Result.CONNECTION_ERROR, "no route to host"),
        ),
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "x"),
            "connecting to the proxy 10.0.0.9:3128",
            (Result.CONNECTION_ERROR, "connection refused (connecting to the proxy 10.0.0.9:3128)"),
        ),
        (
            TimeoutError(errno.ETIMEDOUT, "x"),
            "connecting",
            (Result.TIMEOUT, "timeout connecting"),
        ),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "resolving x",
            (Result.DNS_ERROR, "name not resolved: Name or service not known"),
        ),
        (
            ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
            "in the TLS handshake",
            (Result.TLS_ERROR, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
        ),
        (
            ProbeFailure(Result.AUTH_ERROR, "the proxy requires (other) credentials"),
            "opening a tunnel",
            (Result.AUTH_ERROR, "the proxy requires (other) credentials"),
        ),
        (KeyError("bug"), "anywhere", None),
    ],
)
def test_exceptions_are_classified(
    error: BaseException, phase: str, verdict: tuple[Result, str] | None
) -> None:
    assert classify(error, phase) == verdict


def test_openssl_words_are_kept_for_a_verification_failure() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"

    assert verification_message(error) == "self-signed certificate"
    assert classify(error, "in the TLS handshake") == (Result.TLS_ERROR, "self-signed certificate")


def _run(config: HttpConfig, resolver: Any) -> Outcome:
    return asyncio.run(probe(config, _unverified, resolve=resolver))


def test_a_name_that_does_not_resolve_is_a_dns_error() -> None:
    async def unknown(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def nothing(host: str, port: int) -> list[str]:
        return []

    failed = _run(_config(), unknown)
    empty = _run(_config(), nothing)

    assert (failed.result, failed.error) == (
        Result.DNS_ERROR,
        "name not resolved: portal.example.gov.vn (Name or service not known)",
    )
    assert failed.dns_time is None and failed.status is None
    assert empty.result is Result.DNS_ERROR
    assert isinstance(empty.response_time, float)


def test_the_proxy_is_resolved_instead_of_the_site() -> None:
    asked: list[tuple[str, int]] = []

    async def unknown(host: str, port: int) -> list[str]:
        asked.append((host, port))
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    outcome = _run(_config(proxy="http://proxy.so.example:3128"), unknown)

    assert asked == [("proxy.so.example", 3128)]
    assert outcome.error == "name not resolved: proxy.so.example (Name or service not known)"


def test_a_resolver_that_never_answers_is_a_timeout_that_says_where() -> None:
    async def silent(host: str, port: int) -> list[str]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    outcome = _run(_config(timeout_s=0.05), silent)

    assert outcome.result is Result.TIMEOUT
    assert outcome.error == "timeout after 0.05 s resolving portal.example.gov.vn"


def test_a_bug_in_the_probe_is_an_internal_error_sample(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(host: str, port: int) -> list[str]:
        raise KeyError("bug")

    async def probe_with_a_broken_resolver(config: HttpConfig, tls: Any) -> Outcome:
        return await probe(config, tls, resolve=broken)

    monkeypatch.setattr("collectors.http.collector.probe", probe_with_a_broken_resolver)

    with caplog.at_level(logging.ERROR, logger="collectors.http"):
        samples = asyncio.run(_collector().collect(_target(_config())))

    assert samples[0].tags["result"] == "internal_error"
    assert base_schema().problems(samples[0]) == []
    assert "KeyError" in caplog.text  # the traceback is in the log, for the developers


# --- certificates ------------------------------------------------------------------------------


def test_the_earliest_expiry_of_a_chain_counts(tmp_path: Path) -> None:
    ca = LabCA.create(tmp_path)
    start = datetime.now(UTC) - timedelta(days=1)
    leaf_path, _ = ca.issue("portal", ["127.0.0.1"], valid_days=30, not_before=start)
    leaf = x509.load_pem_x509_certificate(leaf_path.read_bytes())
    chain = [
        leaf.public_bytes(serialization.Encoding.DER),
        ca.certificate.public_bytes(serialization.Encoding.DER),
    ]

    assert earliest_expiry(chain) == leaf.not_valid_after_utc.timestamp()
    assert earliest_expiry([b"not a certificate", *chain[1:]]) == (
        ca.certificate.not_valid_after_utc.timestamp()
    )
    assert earliest_expiry([]) is None
