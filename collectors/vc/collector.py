"""The ``vc`` check: is a videoconference bridge point ready for a conference?

A bridge point is ready when three things hold: it is reachable (ICMP), its signalling port
answers (SIP OPTIONS, or a TCP connect to the H.323 port), and the path is good enough for
video (round trip, jitter and loss within thresholds). Each poll writes the evidence as the
usual ``ping`` and ``sip`` / ``net_response`` samples; the verdict becomes the target's
``availability`` sample: **down** when unreachable or the signalling port does not answer,
**degraded** when the path is worse than a threshold, **ok** otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from agent.availability import Assessment
from agent.collector import CollectorContext, Target
from agent.results import Result
from agent.samples import Sample
from collectors.icmp.collector import ping_sample, resolve_ipv4
from collectors.icmp.engine import EchoEngine, IcmpUnavailableError
from collectors.icmp.stats import PingStats, stats_of_fields, summarize
from collectors.icmp.stream import Streams, burst
from collectors.sip.probe import options
from collectors.tcp.probe import connect
from collectors.vc.config import VcConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signalling:
    """The signalling port's answer."""

    protocol: str  # "sip" or "h323"
    result: Result
    response_time_s: float | None
    status_code: int | None = None
    error: str = ""

    def describe(self) -> str:
        what = "SIP OPTIONS" if self.protocol == "sip" else "H.323 port"
        if self.result is Result.SUCCESS:
            return f"{what} ok"
        detail = self.error or self.result.tag
        if self.status_code:
            detail = f"{self.status_code} {detail}".strip()
        return f"{what}: {detail}"


def verdict(config: VcConfig, path: PingStats, signalling: Signalling | None) -> Assessment:
    """Ready (ok), degraded (path beyond a threshold) or down (unreachable, no signalling)."""
    latency = path.avg_ms / 1000.0 if path.avg_ms is not None else None
    if not path.received:
        return Assessment(False, None, (f"unreachable ({path.error or 'no ping reply'})",))
    if signalling is not None and signalling.result is not Result.SUCCESS:
        return Assessment(False, latency, (signalling.describe(),))
    problems = []
    if path.avg_ms is not None and path.avg_ms > config.max_rtt_ms:
        problems.append(f"RTT {path.avg_ms:.0f} ms > {config.max_rtt_ms:g} ms")
    if path.jitter_ms is not None and path.jitter_ms > config.max_jitter_ms:
        problems.append(f"jitter {path.jitter_ms:.0f} ms > {config.max_jitter_ms:g} ms")
    if path.loss_pct > config.max_loss_pct:
        problems.append(f"loss {path.loss_pct:.1f} % > {config.max_loss_pct:g} %")
    return Assessment(True, latency, tuple(problems))


async def probe_signalling(address: str, config: VcConfig) -> Signalling | None:
    port = config.signalling_port
    if config.signalling == "sip":
        sip = await options(address, port, config.transport, config.signalling_timeout_s)
        return Signalling("sip", sip.result, sip.response_time_s, sip.status_code, sip.error)
    if config.signalling == "h323":
        tcp = await connect(address, port, config.signalling_timeout_s)
        return Signalling("h323", tcp.result, tcp.response_time_s, None, tcp.error)
    return None


def signalling_sample(
    address: str, config: VcConfig, signalling: Signalling, timestamp_ns: int
) -> Sample:
    result = signalling.result
    fields: dict[str, bool | int | float | str] = {"result_code": int(result)}
    if signalling.response_time_s is not None:
        fields["response_time"] = signalling.response_time_s
    port = config.signalling_port
    if signalling.protocol == "sip":
        if signalling.status_code is not None:
            fields["status_code"] = signalling.status_code
        if signalling.error:
            fields["error"] = signalling.error
        tags = {
            "server": f"{address}:{port}",
            "method": "OPTIONS",
            "transport": config.transport,
            "result": result.tag,
        }
        return Sample("sip", tags, fields, timestamp_ns)
    tags = {"server": address, "port": str(port), "protocol": "tcp", "result": result.tag}
    return Sample("net_response", tags, fields, timestamp_ns)


def _signalling_of(samples: Sequence[Sample]) -> Signalling | None:
    for sample in samples:
        if sample.measurement in ("sip", "net_response"):
            code = Result(int(sample.fields.get("result_code", int(Result.BAD_RESPONSE))))
            status = sample.fields.get("status_code")
            rtt = sample.fields.get("response_time")
            return Signalling(
                "sip" if sample.measurement == "sip" else "h323",
                code,
                float(rtt) if isinstance(rtt, int | float) else None,
                int(status) if isinstance(status, int) else None,
                str(sample.fields.get("error", "")),
            )
    return None


def _path_of(samples: Sequence[Sample]) -> PingStats | None:
    ping = next((sample for sample in samples if sample.measurement == "ping"), None)
    return stats_of_fields(ping.fields) if ping is not None else None


class VideoconferenceCollector:
    name: ClassVar[str] = "vc"
    config_model: ClassVar[type[VcConfig]] = VcConfig

    def __init__(self, context: CollectorContext) -> None:
        self.engine = EchoEngine(context.icmp_mode)
        self.streams = Streams(self.engine)
        self._ready: dict[str, bool] = {}

    @classmethod
    def validate(cls, config: VcConfig) -> list[tuple[str, str]]:
        if config.signalling == "h323" and config.transport == "udp" and config.port == 5060:
            return [("port", "5060 is SIP's port; H.323 call signalling listens on 1720")]
        return []

    async def collect(self, target: Target) -> list[Sample]:
        config: VcConfig = target.config
        timestamp = time.time_ns()
        try:
            address = await resolve_ipv4(target.address)
        except OSError as exc:
            return self._unreachable(target, Result.DNS_ERROR, str(exc), timestamp)
        try:
            stream = self.streams.stream_for(
                target.key, address, target.interval_s, config.count, config.packet_timeout_s
            )
        except IcmpUnavailableError as exc:
            return self._unreachable(target, Result.INTERNAL_ERROR, str(exc), timestamp)
        signalling_task = asyncio.ensure_future(probe_signalling(address, config))
        await stream.wait_for_outcome(min(config.packet_timeout_s + 0.5, target.timeout_s / 2))
        path = summarize(stream.take())
        signalling = await signalling_task
        samples = [ping_sample(target.address, path, timestamp)]
        if signalling is not None:
            samples.append(signalling_sample(target.address, config, signalling, timestamp))
        self._note(target, verdict(config, path, signalling))
        return samples

    async def check_now(
        self, target: Target, count: int, spacing_s: float
    ) -> tuple[PingStats, Signalling | None, Assessment]:
        """A one-off readiness check (``netmon vc readiness``): `count` echo requests
        `spacing_s` apart, and the signalling port, at the same time."""
        config: VcConfig = target.config
        try:
            address = await resolve_ipv4(target.address)
        except OSError as exc:
            path = PingStats(0, 0, 1, 100.0, error=f"cannot resolve: {exc}")
            return path, None, verdict(config, path, None)
        signalling_task = asyncio.ensure_future(probe_signalling(address, config))
        outcomes = await burst(self.engine, address, count, spacing_s, config.packet_timeout_s)
        path = summarize(outcomes)
        signalling = await signalling_task
        return path, signalling, verdict(config, path, signalling)

    def assess(self, target: Target, samples: Sequence[Sample]) -> Assessment:
        path = _path_of(samples)
        if path is None:
            return Assessment(False, None, ("no result",))
        return verdict(target.config, path, _signalling_of(samples))

    def failure_samples(self, target: Target, result: Result, elapsed_s: float) -> list[Sample]:
        return [
            Sample(
                "ping", {"url": target.address, "result": result.tag}, {"result_code": int(result)}
            )
        ]

    async def close(self) -> None:
        self.streams.close()

    def _unreachable(
        self, target: Target, result: Result, why: str, timestamp: int
    ) -> list[Sample]:
        self._note(target, Assessment(False, None, (why,)))
        return [
            Sample(
                "ping",
                {"url": target.address, "result": result.tag},
                {"result_code": int(result)},
                timestamp,
            )
        ]

    def _note(self, target: Target, assessment: Assessment) -> None:
        # Log changes of readiness only: a bridge point down for a day logs twice, not 1,440 times.
        was = self._ready.get(target.key)
        self._ready[target.key] = assessment.up
        if was is not False and not assessment.up:
            log.warning(
                "%s: bridge point not ready: %s", target.host, "; ".join(assessment.problems)
            )
        elif was is False and assessment.up:
            log.info("%s: bridge point ready again", target.host)
