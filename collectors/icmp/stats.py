"""Statistics of a run of echo requests, as SmokePing and Telegraf's ``ping`` report them."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.results import Result
from agent.samples import FieldValue


@dataclass(frozen=True, slots=True)
class Outcome:
    """One echo request: when it left (ns since the epoch) and its reply's round trip."""

    sent_ns: int
    rtt_s: float | None  # None: no reply in time, or not sent
    error: str | None = None  # why the kernel refused to send it


@dataclass(frozen=True)
class PingStats:
    transmitted: int
    received: int
    errors: int
    loss_pct: float
    min_ms: float | None = None
    avg_ms: float | None = None
    max_ms: float | None = None
    median_ms: float | None = None
    stddev_ms: float | None = None
    jitter_ms: float | None = None  # mean |IPDV| of consecutive replies (RFC 3393)
    error: str | None = None  # the last send error, if any

    @property
    def result(self) -> Result:
        if self.received:
            return Result.SUCCESS
        if self.transmitted and self.errors == self.transmitted:
            return Result.CONNECTION_ERROR
        return Result.TIMEOUT


def summarize(outcomes: Sequence[Outcome]) -> PingStats:
    """Loss, RTT statistics and jitter of `outcomes` (in the order they were sent).

    The standard deviation is the population one, as ping's ``mdev`` and Telegraf report it.
    Jitter is the mean absolute IP packet delay variation (RFC 3393) between consecutive
    requests that both got a reply; a lost request in between does not break the pair, as in
    RTP's interarrival jitter (RFC 3550), since a lossy link still has a jitter to report.
    """
    ordered = sorted(outcomes, key=lambda o: o.sent_ns)
    transmitted = len(ordered)
    rtts = [o.rtt_s * 1000.0 for o in ordered if o.rtt_s is not None]
    errors = [o.error for o in ordered if o.error]
    loss = 100.0 * (transmitted - len(rtts)) / transmitted if transmitted else 100.0
    if not rtts:
        return PingStats(transmitted, 0, len(errors), loss, error=errors[-1] if errors else None)
    jitter = (
        math.fsum(abs(b - a) for a, b in itertools.pairwise(rtts)) / (len(rtts) - 1)
        if len(rtts) > 1
        else None
    )
    return PingStats(
        transmitted,
        len(rtts),
        len(errors),
        loss,
        min_ms=min(rtts),
        avg_ms=math.fsum(rtts) / len(rtts),
        max_ms=max(rtts),
        median_ms=statistics.median(rtts),
        stddev_ms=statistics.pstdev(rtts),
        jitter_ms=jitter,
        error=errors[-1] if errors else None,
    )


def stats_of_fields(fields: Mapping[str, FieldValue]) -> PingStats:
    """The statistics a ``ping`` sample carries (fields it lacks are absent, not zero)."""

    def number(name: str) -> float | None:
        value = fields.get(name)
        return float(value) if isinstance(value, int | float) else None

    return PingStats(
        int(fields.get("packets_transmitted", 0)),
        int(fields.get("packets_received", 0)),
        int(fields.get("errors", 0)),
        float(fields.get("percent_packet_loss", 100.0)),
        min_ms=number("minimum_response_ms"),
        avg_ms=number("average_response_ms"),
        max_ms=number("maximum_response_ms"),
        median_ms=number("median_response_ms"),
        stddev_ms=number("standard_deviation_ms"),
        jitter_ms=number("jitter_ms"),
    )
