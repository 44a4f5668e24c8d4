"""The TCP collector without a network: config, samples, logging.

The probe (`collectors.tcp.probe.connect`) is replaced by a fake that records what it was
asked; the real probe meets real listeners in tests/integration/test_tcp_probe.py.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from agent.collector import CollectorContext, PolledCollector, Target
from agent.results import Result
from agent.schema import base_schema
from collectors.tcp import TcpCollector, TcpConfig, TcpOutcome
from collectors.tcp import collector as tcp_collector


@dataclass
class FakeConnect:
    outcomes: list[TcpOutcome | Exception]
    calls: list[tuple[str, int, float, str | None, str | None]] = field(default_factory=list)

    async def __call__(
        self,
        address: str,
        port: int,
        timeout_s: float,
        *,
        send: str | None = None,
        expect: str | None = None,
    ) -> TcpOutcome:
        self.calls.append((address, port, timeout_s, send, expect))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _fake(monkeypatch: pytest.MonkeyPatch, *outcomes: TcpOutcome | Exception) -> FakeConnect:
    probe = FakeConnect(list(outcomes))
    monkeypatch.setattr(tcp_collector, "connect", probe)
    return probe


def _target(host: str = "h323-gw", address: str = "10.20.0.9", **config: Any) -> Target:
    return Target(host, address, "tcp", TcpConfig.model_validate(config))


def _collector() -> TcpCollector:
    return TcpCollector(CollectorContext(base_schema()))


def test_port_is_required_and_the_rest_has_defaults() -> None:
    with pytest.raises(ValidationError, match="port"):
        TcpConfig.model_validate({})
    config = TcpConfig.model_validate({"port": 1720})
    assert (config.port, config.timeout_s, config.send, config.expect) == (1720, 5, None, None)


@pytest.mark.parametrize(
    "raw",
    [
        {"port": 0},
        {"port": 65536},
        {"port": 22, "timeout_s": -1},
        {"port": 22, "expect": ""},  # would match anything
        {"port": 22, "send": ""},
        {"port": 22, "expected": "SSH-"},  # a typo is an error, not a silent default
    ],
)
def test_bad_settings_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TcpConfig.model_validate(raw)


def test_the_collector_follows_the_contract() -> None:
    assert isinstance(_collector(), PolledCollector)
    assert (TcpCollector.name, TcpCollector.config_model) == ("tcp", TcpConfig)
    assert TcpCollector.validate(TcpConfig(port=22)) == []


def test_a_poll_passes_the_config_and_emits_one_declared_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = _fake(monkeypatch, TcpOutcome(Result.SUCCESS, 0.0012345678))

    [sample] = asyncio.run(
        _collector().collect(_target(port=22, timeout_s=2, send="hi\n", expect="SSH-"))
    )

    assert probe.calls == [("10.20.0.9", 22, 2.0, "hi\n", "SSH-")]
    assert sample.measurement == "net_response"
    assert sample.tags == {
        "server": "10.20.0.9",
        "port": "22",
        "protocol": "tcp",
        "result": "success",
    }
    assert sample.fields == {"response_time": 0.001235, "result_code": 0}
    assert base_schema().problems(sample) == []


@pytest.mark.parametrize(
    "outcome",
    [
        TcpOutcome(Result.CONNECTION_ERROR, error="Connection refused"),
        TcpOutcome(Result.TIMEOUT, error="no connection in 5 s"),
        TcpOutcome(Result.CONTENT_MISMATCH, 0.002, "'SSH-' did not arrive in 5 s"),
    ],
)
def test_failures_are_declared_samples(
    monkeypatch: pytest.MonkeyPatch, outcome: TcpOutcome
) -> None:
    _fake(monkeypatch, outcome)
    collector = _collector()

    [sample] = asyncio.run(collector.collect(_target(port=22)))

    assert sample.tags["result"] == outcome.result.tag
    assert sample.fields["result_code"] == int(outcome.result)
    assert ("response_time" in sample.fields) == (outcome.response_time_s is not None)
    assert base_schema().problems(sample) == []  # no undeclared "error" field
    assert collector.stats.content_mismatches == int(outcome.result is Result.CONTENT_MISMATCH)


def test_a_bug_in_the_probe_is_an_internal_error_sample(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fake(monkeypatch, RuntimeError("a bug"))

    [sample] = asyncio.run(_collector().collect(_target(port=22)))

    assert sample.tags["result"] == "internal_error"
    assert "a bug" in caplog.text


def test_failure_samples_record_an_abandoned_poll() -> None:
    [sample] = _collector().failure_samples(_target(port=1720), Result.TIMEOUT, 30.0)
    assert sample.tags["result"] == "timeout"
    assert sample.fields == {"result_code": 1, "error": "poll abandoned by the scheduler"}
    assert base_schema().problems(sample) == []


def test_a_failing_host_is_logged_when_it_fails_and_when_it_recovers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    refused = TcpOutcome(Result.CONNECTION_ERROR, error="Connection refused")
    _fake(monkeypatch, refused, refused, refused, TcpOutcome(Result.SUCCESS, 0.001))
    collector = _collector()
    caplog.set_level(logging.INFO, logger="collectors.tcp")

    async def polls() -> None:
        for _ in range(4):
            await collector.collect(_target(port=1720))

    asyncio.run(polls())

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "h323-gw: TCP 10.20.0.9 port 1720: connection_error: Connection refused"),
        ("INFO", "h323-gw: TCP port 1720 answers again"),
    ]
