"""The ``ping`` check: SmokePing-grade ICMP statistics for every interval.

Each target gets a stream of ``count`` echo requests per interval, spread evenly over it
(default 20 per 60 s); each poll reports the requests whose outcome is known since the last
poll: loss, min/avg/max/median/stddev round trip and jitter. The first poll of a target
waits for the first request's outcome, so it reports one request; later polls report a full
interval's worth.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from agent.availability import Assessment, result_sample
from agent.collector import CollectorContext, Target
from agent.failurelog import FailureLog
from agent.results import Result
from agent.samples import FieldValue, Sample
from collectors.icmp.engine import EchoEngine, IcmpUnavailableError
from collectors.icmp.stats import PingStats, stats_of_fields, summarize
from collectors.icmp.stream import Streams

log = logging.getLogger(__name__)


class PingConfig(BaseModel):
    """Host variables ``netmon_ping_<field>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(default=20, ge=1, le=600)  # echo requests per interval
    packet_timeout_s: float = Field(default=2.0, gt=0.0, le=30.0)  # wait for each reply
    size: int = Field(default=56, ge=8, le=1472)  # ICMP data bytes
    degraded_loss_pct: float = Field(default=5.0, ge=0.0, le=100.0)  # above: degraded
    degraded_rtt_ms: float | None = Field(default=None, gt=0.0)  # average above: degraded


def ping_fields(stats: PingStats) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {
        "packets_transmitted": stats.transmitted,
        "packets_received": stats.received,
        "percent_packet_loss": stats.loss_pct,
        "errors": stats.errors,
        "result_code": int(stats.result),
    }
    optional = {
        "minimum_response_ms": stats.min_ms,
        "average_response_ms": stats.avg_ms,
        "maximum_response_ms": stats.max_ms,
        "median_response_ms": stats.median_ms,
        "standard_deviation_ms": stats.stddev_ms,
        "jitter_ms": stats.jitter_ms,
    }
    fields.update({name: value for name, value in optional.items() if value is not None})
    return fields


def ping_sample(address: str, stats: PingStats, timestamp_ns: int) -> Sample:
    result = stats.result
    return Sample("ping", {"url": address, "result": result.tag}, ping_fields(stats), timestamp_ns)


async def resolve_ipv4(address: str) -> str:
    """`address` as an IPv4 address (resolving a name); raises OSError when it cannot."""
    try:
        socket.inet_aton(address)
        return address
    except OSError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(address, None, family=socket.AF_INET)
    return str(infos[0][4][0])


def loss_problems(stats: PingStats, loss_limit: float, rtt_limit: float | None) -> list[str]:
    problems = []
    if stats.received and stats.loss_pct > loss_limit:
        problems.append(f"loss {stats.loss_pct:.1f} % > {loss_limit:g} %")
    if rtt_limit is not None and stats.avg_ms is not None and stats.avg_ms > rtt_limit:
        problems.append(f"RTT {stats.avg_ms:.1f} ms > {rtt_limit:g} ms")
    return problems


class PingCollector:
    name: ClassVar[str] = "ping"
    config_model: ClassVar[type[PingConfig]] = PingConfig

    def __init__(self, context: CollectorContext) -> None:
        self.engine = EchoEngine(context.icmp_mode)
        self.streams = Streams(self.engine)
        self._failures = FailureLog(log)

    @classmethod
    def validate(cls, config: PingConfig) -> list[tuple[str, str]]:
        return []

    async def collect(self, target: Target) -> list[Sample]:
        config: PingConfig = target.config
        timestamp = time.time_ns()
        try:
            address = await resolve_ipv4(target.address)
        except OSError as exc:
            return self._failed(target, Result.DNS_ERROR, f"cannot resolve: {exc}", timestamp)
        try:
            stream = self.streams.stream_for(
                target.key,
                address,
                target.interval_s,
                config.count,
                config.packet_timeout_s,
                config.size,
            )
        except IcmpUnavailableError as exc:
            return self._failed(target, Result.INTERNAL_ERROR, str(exc), timestamp)
        # Nothing known yet (a new stream): wait for the first outcome, within the poll's time.
        await stream.wait_for_outcome(min(config.packet_timeout_s + 0.5, target.timeout_s / 2))
        stats = summarize(stream.take())
        self._note(target, stats)
        return [ping_sample(target.address, stats, timestamp)]

    def failure_samples(self, target: Target, result: Result, elapsed_s: float) -> list[Sample]:
        return [
            Sample(
                "ping",
                {"url": target.address, "result": result.tag},
                {"result_code": int(result)},
            )
        ]

    def assess(self, target: Target, samples: Sequence[Sample]) -> Assessment:
        config: PingConfig = target.config
        sample = result_sample(samples)
        if sample is None:
            return Assessment(False, None, ("no result",))
        stats = stats_of_fields(sample.fields)
        latency = stats.avg_ms / 1000.0 if stats.avg_ms is not None else None
        if not stats.received:
            code = Result(int(sample.fields["result_code"]))
            why = "no reply (100 % loss)" if code is Result.TIMEOUT else code.tag
            return Assessment(False, None, (why,))
        problems = loss_problems(stats, config.degraded_loss_pct, config.degraded_rtt_ms)
        return Assessment(True, latency, tuple(problems))

    async def close(self) -> None:
        self.streams.close()

    def _failed(self, target: Target, result: Result, why: str, timestamp: int) -> list[Sample]:
        self._failures.failed(target.key, "%s: ping failed: %s", target.host, why)
        return [
            Sample(
                "ping",
                {"url": target.address, "result": result.tag},
                {"result_code": int(result)},
                timestamp,
            )
        ]

    def _note(self, target: Target, stats: PingStats) -> None:
        if stats.received:
            self._failures.recovered(target.key, "%s: ping answers again", target.host)
        elif stats.transmitted:
            self._failures.failed(
                target.key,
                "%s: no ping reply from %s (%s)",
                target.host,
                target.address,
                stats.error or "timeout",
            )
