"""Ping statistics worked out by hand."""

from __future__ import annotations

import pytest

from agent.results import Result
from collectors.icmp.stats import Outcome, summarize


def _run(rtts_ms: list[float | None]) -> list[Outcome]:
    # Given out of order on purpose: summarize orders by send time.
    outcomes = [
        Outcome(sent_ns=i * 1_000_000_000, rtt_s=None if r is None else r / 1000.0)
        for i, r in enumerate(rtts_ms)
    ]
    return list(reversed(outcomes))


def test_loss_rtt_and_jitter() -> None:
    stats = summarize(_run([10.0, 14.0, None, 12.0, 20.0]))
    assert (stats.transmitted, stats.received, stats.errors) == (5, 4, 0)
    assert stats.loss_pct == pytest.approx(20.0)
    assert (stats.min_ms, stats.max_ms) == (pytest.approx(10.0), pytest.approx(20.0))
    assert stats.avg_ms == pytest.approx(14.0)
    assert stats.median_ms == pytest.approx(13.0)
    # population variance: (16 + 0 + 4 + 36) / 4 = 14
    assert stats.stddev_ms == pytest.approx(14.0**0.5)
    # consecutive replies 10→14→12→20: |4| + |-2| + |8| = 14 over 3 pairs
    assert stats.jitter_ms == pytest.approx(14.0 / 3)
    assert stats.result is Result.SUCCESS


def test_no_reply_is_a_timeout_without_rtt_fields() -> None:
    stats = summarize(_run([None, None]))
    assert stats.loss_pct == 100.0 and stats.result is Result.TIMEOUT
    assert stats.avg_ms is None and stats.jitter_ms is None


def test_refused_sends_are_a_connection_error() -> None:
    stats = summarize([Outcome(1, None, "host unreachable"), Outcome(2, None, "host unreachable")])
    assert stats.result is Result.CONNECTION_ERROR
    assert (stats.errors, stats.error) == (2, "host unreachable")


def test_one_reply_has_no_jitter() -> None:
    stats = summarize(_run([5.0]))
    assert stats.jitter_ms is None and stats.stddev_ms == 0.0
