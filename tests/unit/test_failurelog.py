"""FailureLog: a change of state logged once, repeats quieted, recovery said once."""

from __future__ import annotations

import logging

import pytest

from agent.failurelog import FailureLog

log = logging.getLogger("test.failurelog")


def levels(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_failures_warn_once_then_debug_and_recovery_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = FailureLog(log)
    with caplog.at_level(logging.DEBUG, logger="test.failurelog"):
        failures.recovered("sw1", "%s answers again", "sw1")  # never failed: nothing
        failures.failed("sw1", "%s: timeout", "sw1")
        failures.failed("sw1", "%s: timeout", "sw1")
        failures.recovered("sw1", "%s answers again", "sw1")
        failures.recovered("sw1", "%s answers again", "sw1")
    assert levels(caplog) == [
        (logging.WARNING, "sw1: timeout"),
        (logging.DEBUG, "sw1: timeout"),
        (logging.INFO, "sw1 answers again"),
    ]
    assert not failures.is_failing("sw1")


def test_bad_answers_warn_once_per_host_and_kind(caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog(log)
    with caplog.at_level(logging.DEBUG, logger="test.failurelog"):
        failures.once("sw1", "ifSpeed", "bad value")
        failures.once("sw1", "ifSpeed", "bad value")
        failures.once("sw2", "ifSpeed", "bad value")
    assert [level for level, _ in levels(caplog)] == [
        logging.WARNING,
        logging.DEBUG,
        logging.WARNING,
    ]


def test_a_failure_logged_elsewhere_can_be_marked() -> None:
    failures = FailureLog(log)
    failures.mark_failing("sw1")
    assert failures.is_failing("sw1")
