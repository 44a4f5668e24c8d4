"""The TCP collector: connect to a port, optionally send and expect (``tcp``).

Per host (``netmon_tcp_<field>``): ``port`` (required), ``timeout_s`` (5), ``send`` and
``expect`` (text; see `collectors.tcp.probe` for how they are used, as in Telegraf's
``net_response``).

One ``net_response`` sample per poll: tags server (the address), port, protocol ``tcp``,
result; fields response_time (s, when connected), result_code and error (what went wrong,
in words; also logged when a host starts failing).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from agent.collector import CollectorContext, Target
from agent.failurelog import FailureLog
from agent.results import Result
from agent.samples import FieldValue, Sample
from agent.schema_probes import NET_RESPONSE
from collectors.tcp.probe import TcpOutcome, connect

log = logging.getLogger(__name__)


class TcpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(ge=1, le=65535)
    timeout_s: float = Field(default=5.0, gt=0)
    send: str | None = Field(default=None, min_length=1)
    expect: str | None = Field(default=None, min_length=1)


@dataclass
class TcpStats:
    """Plain counters the agent exposes on /metrics."""

    probes: int = 0
    content_mismatches: int = 0


class TcpCollector:
    name: ClassVar[str] = "tcp"
    config_model: ClassVar[type[TcpConfig]] = TcpConfig

    def __init__(self, context: CollectorContext) -> None:
        context.schema.declare(NET_RESPONSE)  # in the base schema already: a no-op there
        self.stats = TcpStats()
        self._failures = FailureLog(log)

    @classmethod
    def validate(cls, config: TcpConfig) -> list[tuple[str, str]]:
        """Nothing beyond the model's own checks."""
        return []

    async def collect(self, target: Target) -> list[Sample]:
        config: TcpConfig = target.config
        timestamp = time.time_ns()
        self.stats.probes += 1
        try:
            outcome = await connect(
                target.address,
                config.port,
                config.timeout_s,
                send=config.send,
                expect=config.expect,
            )
        except Exception:
            log.exception("%s: TCP probe failed inside the agent", target.host)
            outcome = TcpOutcome(Result.INTERNAL_ERROR, error="internal error (see the log)")
        if outcome.result is Result.CONTENT_MISMATCH:
            self.stats.content_mismatches += 1
        self._note(target, outcome)
        return [self._sample(target, outcome, timestamp)]

    def failure_samples(self, target: Target, result: Result, elapsed_s: float) -> list[Sample]:
        outcome = TcpOutcome(result, error="poll abandoned by the scheduler")
        self._note(target, outcome)
        return [self._sample(target, outcome, time.time_ns())]

    async def close(self) -> None:
        """Nothing to release: every probe opens and closes its own connection."""

    def _note(self, target: Target, outcome: TcpOutcome) -> None:
        # Log a change of state once; repeats go to debug so many dead ports cannot flood.
        config: TcpConfig = target.config
        if outcome.result is Result.SUCCESS:
            self._failures.recovered(
                target.host, "%s: TCP port %d answers again", target.host, config.port
            )
            return
        self._failures.failed(
            target.host,
            "%s: TCP %s port %d: %s: %s",
            target.host,
            target.address,
            config.port,
            outcome.result.tag,
            outcome.error,
        )

    @staticmethod
    def _sample(target: Target, outcome: TcpOutcome, timestamp: int) -> Sample:
        config: TcpConfig = target.config
        tags = {
            "server": target.address,
            "port": str(config.port),
            "protocol": "tcp",
            "result": outcome.result.tag,
        }
        fields: dict[str, FieldValue] = {"result_code": int(outcome.result)}
        if outcome.response_time_s is not None:
            fields["response_time"] = round(outcome.response_time_s, 6)
        if outcome.error:
            fields["error"] = outcome.error
        return Sample(NET_RESPONSE.name, tags, fields, timestamp)
