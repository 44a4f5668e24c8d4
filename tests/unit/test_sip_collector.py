"""The SIP collector without a network: config, validation, samples, counting and logging.

The probe (`collectors.sip.probe.options`) is replaced by a fake that records what it was
asked and answers scripted outcomes; the real probe meets real peers in
tests/integration/test_sip_probe.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from agent.collector import CollectorContext, PolledCollector, Target
from agent.results import Result
from agent.schema import base_schema
from collectors.sip import SipCollector, SipConfig, SipOutcome
from collectors.sip import collector as sip_collector


@dataclass
class FakeProbe:
    """Stands in for `options`: records each call, answers the next scripted outcome."""

    outcomes: list[SipOutcome | Exception]
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(
        self,
        address: str,
        port: int,
        transport: str,
        timeout_s: float,
        *,
        uri_host: str | None = None,
        accept_status: Collection[int] = (),
    ) -> SipOutcome:
        self.calls.append(
            {
                "address": address,
                "port": port,
                "transport": transport,
                "timeout_s": timeout_s,
                "accept_status": tuple(accept_status),
            }
        )
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _fake(monkeypatch: pytest.MonkeyPatch, *outcomes: SipOutcome | Exception) -> FakeProbe:
    probe = FakeProbe(list(outcomes))
    monkeypatch.setattr(sip_collector, "options", probe)
    return probe


def _target(host: str = "vc-mcu-01", address: str = "10.20.0.5", **config: Any) -> Target:
    return Target(host, address, "sip", SipConfig.model_validate(config))


def _collector() -> SipCollector:
    return SipCollector(CollectorContext(base_schema()))


# --- config ---------------------------------------------------------------------------------


def test_defaults_are_udp_5060_five_seconds() -> None:
    config = SipConfig()
    assert (config.url, config.port, config.transport, config.timeout_s) == (None, 5060, "udp", 5)
    assert config.accept_status == ()


@pytest.mark.parametrize(
    "raw",
    [
        {"portt": 5060},  # a typo is an error, not a silent default
        {"port": 0},
        {"port": 65536},
        {"transport": "tls"},
        {"timeout_s": 0},
        {"accept_status": [200]},  # 2xx means alive already
        {"accept_status": [700]},
        {"accept_status": ["forbidden"]},
    ],
)
def test_bad_settings_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SipConfig.model_validate(raw)


def test_yaml_lists_read_into_the_frozen_config() -> None:
    config = SipConfig.model_validate({"accept_status": [403, 405], "timeout_s": 2})
    assert config.accept_status == (403, 405)
    with pytest.raises(ValidationError):
        config.port = 5070  # type: ignore[misc]


def test_validate_refuses_a_bad_uri_without_touching_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate touched the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "socket", no_network)

    # The loader fills url from the host's netmon_url, which for a web front end is https.
    problems = SipCollector.validate(SipConfig(url="https://mcu.example.vn/"))
    assert problems == [("url", "must be a sip: URI, like sip:192.0.2.10:5060;transport=tcp")]
    assert SipCollector.validate(SipConfig(url="sip:mcu.example.vn:99999")) == [
        ("url", "port '99999' is not a number from 1 to 65535")
    ]
    assert SipCollector.validate(SipConfig(url="sip:mcu.example.vn;transport=tcp")) == []
    assert SipCollector.validate(SipConfig()) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ("10.20.0.5", 5060, "udp")),
        ({"port": 5070, "transport": "tcp"}, ("10.20.0.5", 5070, "tcp")),
        # The URI's host, with the fields' port and transport when it has none.
        (
            {"url": "sip:mcu.example.vn", "port": 5070, "transport": "tcp"},
            ("mcu.example.vn", 5070, "tcp"),
        ),
        (
            {"url": "sip:127.6.0.1:15060;transport=tcp", "port": 5070, "transport": "udp"},
            ("127.6.0.1", 15060, "tcp"),
        ),
    ],
)
def test_the_uri_overrides_address_port_and_transport(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, Any], expected: tuple[str, int, str]
) -> None:
    probe = _fake(monkeypatch, SipOutcome(Result.SUCCESS, 200, 0.01))

    asyncio.run(_collector().collect(_target(**config)))

    call = probe.calls[0]
    assert (call["address"], call["port"], call["transport"]) == expected


# --- samples --------------------------------------------------------------------------------


def test_the_collector_follows_the_contract() -> None:
    assert isinstance(_collector(), PolledCollector)
    assert SipCollector.name == "sip"
    assert SipCollector.config_model is SipConfig


def test_a_success_is_one_declared_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _fake(monkeypatch, SipOutcome(Result.SUCCESS, 200, 0.0123456789))
    target = _target(timeout_s=2, accept_status=[405])

    samples = asyncio.run(_collector().collect(target))

    assert probe.calls[0]["timeout_s"] == 2
    assert probe.calls[0]["accept_status"] == (405,)
    [sample] = samples
    assert sample.measurement == "sip"
    assert sample.tags == {
        "server": "10.20.0.5:5060",
        "method": "OPTIONS",
        "transport": "udp",
        "result": "success",
    }
    assert sample.fields == {"result_code": 0, "response_time": 0.012346, "status_code": 200}
    assert base_schema().problems(sample) == []


@pytest.mark.parametrize(
    "outcome",
    [
        SipOutcome(Result.PROTOCOL_ERROR, 486, 0.02, "486 Busy Here"),
        SipOutcome(Result.TIMEOUT, error="no final response in 5 s"),
        SipOutcome(Result.CONNECTION_ERROR, error="Connection refused"),
        SipOutcome(Result.BAD_RESPONSE, error="not a SIP response: 'garbage'"),
        SipOutcome(Result.DNS_ERROR, error="mcu: Name or service not known"),
    ],
)
def test_every_failure_is_a_declared_sample_with_its_error(
    monkeypatch: pytest.MonkeyPatch, outcome: SipOutcome
) -> None:
    _fake(monkeypatch, outcome)

    [sample] = asyncio.run(_collector().collect(_target()))

    assert sample.tags["result"] == outcome.result.tag
    assert sample.fields["result_code"] == int(outcome.result)
    assert sample.fields["error"] == outcome.error
    assert ("status_code" in sample.fields) == (outcome.status_code is not None)
    # A timeout's "response time" would be the timeout: only answers are timed.
    assert ("response_time" in sample.fields) == (outcome.response_time_s is not None)
    assert base_schema().problems(sample) == []


def test_ipv6_servers_are_bracketed(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, SipOutcome(Result.SUCCESS, 200, 0.01))
    [sample] = asyncio.run(_collector().collect(_target(url="sip:[2001:db8::5]:5070")))
    assert sample.tags["server"] == "[2001:db8::5]:5070"


def test_a_bug_in_the_probe_is_an_internal_error_sample_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fake(monkeypatch, RuntimeError("a bug"))

    [sample] = asyncio.run(_collector().collect(_target()))

    assert sample.tags["result"] == "internal_error"
    assert "a bug" in caplog.text  # logged with its traceback


def test_failure_samples_record_an_abandoned_poll() -> None:
    [sample] = _collector().failure_samples(
        _target(url="sip:127.6.0.1:15060;transport=tcp"), Result.TIMEOUT, 30.0
    )
    assert sample.tags == {
        "server": "127.6.0.1:15060",
        "method": "OPTIONS",
        "transport": "tcp",
        "result": "timeout",
    }
    assert sample.fields == {"result_code": 1, "error": "poll abandoned by the scheduler"}
    assert base_schema().problems(sample) == []


# --- counting and logging -------------------------------------------------------------------


def test_bad_responses_are_counted_every_time_and_warned_once_per_host(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = SipOutcome(Result.BAD_RESPONSE, error="not a SIP response: 'garbage'")
    _fake(monkeypatch, garbage, garbage, garbage)
    collector = _collector()
    caplog.set_level(logging.WARNING, logger="collectors.sip")

    async def polls() -> None:
        await collector.collect(_target("mcu-a"))
        await collector.collect(_target("mcu-a"))
        await collector.collect(_target("mcu-b"))

    asyncio.run(polls())

    assert collector.stats.bad_responses == 3
    assert collector.stats.probes == 3
    malformed = [r for r in caplog.records if "malformed SIP answer" in r.getMessage()]
    assert [r.getMessage().split(":")[0] for r in malformed] == ["mcu-a", "mcu-b"]


def test_responses_to_other_requests_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, SipOutcome(Result.TIMEOUT, error="no final response", ignored=2))
    collector = _collector()

    asyncio.run(collector.collect(_target()))

    assert collector.stats.stray_responses == 2
    assert collector.stats.bad_responses == 0


def test_a_failing_host_is_logged_when_it_fails_and_when_it_recovers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    timeout = SipOutcome(Result.TIMEOUT, error="no final response in 5 s")
    success = SipOutcome(Result.SUCCESS, 200, 0.01)
    _fake(monkeypatch, success, timeout, timeout, timeout, success, success)
    collector = _collector()
    caplog.set_level(logging.INFO, logger="collectors.sip")

    async def polls() -> None:
        for _ in range(6):
            await collector.collect(_target())

    asyncio.run(polls())

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "vc-mcu-01: SIP OPTIONS to 10.20.0.5:5060 over udp: timeout: no final response in 5 s",
        ),
        ("INFO", "vc-mcu-01: SIP OPTIONS to 10.20.0.5:5060 answered again"),
    ]
