"""The HTTP probe's settings: what the inventory may say, and what validation refuses."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from collectors.http import HttpCollector
from collectors.http.config import HttpConfig, public_url

URL = "https://dichvucong.example.gov.vn/"


def _config(**settings: Any) -> HttpConfig:
    return HttpConfig.model_validate({"url": URL, **settings})


def test_defaults_are_those_documented() -> None:
    config = HttpConfig(url=URL)

    assert config.method == "GET"
    assert config.expect_status == []
    assert (config.follow_redirects, config.max_redirects) == (True, 5)
    assert config.verify_tls
    assert config.timeout_s == 10
    assert config.tls_warning_days == 14
    assert config.slow_s is None
    assert config.max_body_bytes == 1024 * 1024
    assert HttpCollector.validate(config) == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "ftp://files.example.gov.vn/"}, "scheme must be http or https, not 'ftp'"),
        ({"url": "https:///path"}, "names no host"),
        ({"url": "http://portal.example:99999/"}, "invalid port"),
        ({"url": "http://portal.example/a b"}, "spaces or control characters"),
        ({"url": "http://" + "a" * 70 + ".vn/"}, "invalid host name"),
        ({"proxy": "https://proxy.example:3128"}, "scheme must be http"),
        ({"proxy": "http://proxy.example:3128/pac"}, "without a path"),
        ({"method": "POST"}, "'GET' or 'HEAD'"),
        ({"expect_status": [200, 700]}, "100-599"),
        ({"headers": {"X Agency": "1"}}, "not a valid header name"),
        ({"headers": {"connection": "keep-alive"}}, "set by the probe itself"),
        ({"headers": {"X-Agency": "a\r\nEvil: 1"}}, "line break"),
        ({"headers": {"X-Agency": "Sở Nội vụ"}}, "must be ASCII"),
        ({"timeout_s": 0}, "greater than 0"),
        ({"max_redirects": -1}, "greater than or equal to 0"),
        ({"server_name": "portal example"}, "DNS name"),
        ({"intervall_s": 60}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _config(**settings)


def test_a_refused_url_is_not_echoed_in_the_message() -> None:
    # The message ends up in `netmon inventory check` output: the URL may hold a password.
    with pytest.raises(ValidationError) as refused:
        _config(url="ftp://operator:m4t-khau@files.example.gov.vn/")

    assert "m4t-khau" not in str(refused.value.errors()[0]["msg"])


def test_url_without_a_path_ipv6_and_idn_are_accepted() -> None:
    for url in ("http://10.0.0.1", "https://[2001:db8::1]:8443/x", "https://cổng.gov.vn/"):
        assert _config(url=url).url == url


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"content_regex": "Cổng (dịch vụ"}, "content_regex", "not a valid regular expression"),
        ({"method": "HEAD", "content_match": "ok"}, "content_match", "HEAD answer has no body"),
        ({"method": "HEAD", "content_regex": "ok"}, "content_regex", "HEAD answer has no body"),
        ({"slow_s": 10}, "slow_s", "below timeout_s"),
    ],
)
def test_validation_finds_what_the_model_cannot(
    settings: dict[str, Any], field: str, message: str
) -> None:
    problems = HttpCollector.validate(_config(**settings))

    assert len(problems) == 1
    assert problems[0][0] == field
    assert message in problems[0][1]


def test_a_ca_file_that_does_not_load_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")

    for path in (missing, garbage):
        problems = HttpCollector.validate(_config(ca_file=path))
        assert [field for field, _ in problems] == ["ca_file"]
        assert str(path) in problems[0][1]


def test_repr_hides_credentials_of_the_url_the_proxy_and_headers() -> None:
    config = _config(
        url="https://operator:m4t-khau@portal.example/login?token=abc",
        proxy="http://relay:pr0xy@proxy.example:3128",
        headers={"authorization": "Bearer eyJ", "Cookie": "sid=42", "X-Agency": "so-noi-vu"},
    )

    shown = repr(config) + str(config)

    for secret in ("m4t-khau", "operator", "token", "pr0xy", "relay", "eyJ", "sid=42"):
        assert secret not in shown
    assert "https://portal.example/login" in shown
    assert "so-noi-vu" in shown  # other headers are not secrets


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://u:p@portal.example:8443/a/b?q=1#top", "https://portal.example:8443/a/b"),
        ("http://10.0.0.1", "http://10.0.0.1/"),
        ("http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
    ],
)
def test_public_url_keeps_no_user_information_query_or_fragment(url: str, public: str) -> None:
    assert public_url(url) == public


def test_the_hosts_netmon_url_is_taken_for_web_urls_only() -> None:
    # agent.inventory.loader fills `url` from netmon_url when it starts with one of these.
    assert "url_schemes" not in HttpConfig.model_fields  # a class setting, not a host's
    assert "https://portal.example/".startswith(HttpConfig.url_schemes)
    assert "http://portal.example/".startswith(HttpConfig.url_schemes)
    assert not "sip:mcu@10.0.0.5".startswith(HttpConfig.url_schemes)
