"""The SIP collector: one OPTIONS per poll to a videoconference MCU or codec (``sip``).

Per host (``netmon_sip_<field>``):

``url``
    a ``sip:`` URI, e.g. ``sip:mcu.example.vn:5060;transport=tcp``. Its host is where the
    probe goes; its port and ``transport`` parameter, when present, override the fields below.
    Without it the probe goes to the host's address. The inventory fills it from the host's
    ``netmon_url`` when the host has one and no ``netmon_sip_url``.
``port`` (5060), ``transport`` (``udp`` or ``tcp``), ``timeout_s`` (5)
``accept_status``
    final statuses besides 2xx that mean "alive", e.g. ``[403, 405]`` for an MCU that
    refuses OPTIONS from strangers but answers them.

One ``sip`` sample per poll: tags server (``address:port``), method, transport, result;
fields response_time (s, when a final response came), status_code, result_code, error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from agent.collector import CollectorContext, Target
from agent.failurelog import FailureLog
from agent.results import Result
from agent.samples import FieldValue, Sample
from agent.schema_probes import SIP
from collectors.sip.probe import SipOutcome, options
from collectors.sip.wire import SipTransport, hostport, parse_sip_uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SipEndpoint:
    address: str
    port: int
    transport: SipTransport

    @property
    def server(self) -> str:
        return hostport(self.address, self.port)


class SipConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    #: The host's netmon_url fills `url` when it is one of these (agent.inventory.loader).
    url_schemes: ClassVar[tuple[str, ...]] = ("sip:", "sips:")

    url: str | None = None
    port: int = Field(default=5060, ge=1, le=65535)
    transport: SipTransport = "udp"
    timeout_s: float = Field(default=5.0, gt=0)
    # A tuple: the config is frozen, and YAML's list reads into it.
    accept_status: tuple[Annotated[int, Field(ge=300, le=699)], ...] = ()

    def endpoint(self, default_address: str) -> SipEndpoint:
        """Where the probe goes; ValueError for a URI that is not a usable ``sip:`` one."""
        if self.url is None:
            return SipEndpoint(default_address, self.port, self.transport)
        uri = parse_sip_uri(self.url)
        return SipEndpoint(uri.host, uri.port or self.port, uri.transport or self.transport)


@dataclass
class SipStats:
    """Plain counters the agent exposes on /metrics."""

    probes: int = 0
    bad_responses: int = 0  # answers that were not SIP responses (malformed, truncated)
    stray_responses: int = 0  # well-formed answers to another request (Call-ID, CSeq), skipped


class SipCollector:
    name: ClassVar[str] = "sip"
    config_model: ClassVar[type[SipConfig]] = SipConfig

    def __init__(self, context: CollectorContext) -> None:
        context.schema.declare(SIP)  # already in the base schema; declaring it again is a no-op
        self.stats = SipStats()
        self._failures = FailureLog(log)

    @classmethod
    def validate(cls, config: SipConfig) -> list[tuple[str, str]]:
        if config.url is None:
            return []
        try:
            parse_sip_uri(config.url)
        except ValueError as exc:
            return [("url", str(exc))]
        return []

    async def collect(self, target: Target) -> list[Sample]:
        config: SipConfig = target.config
        timestamp = time.time_ns()
        self.stats.probes += 1
        try:
            endpoint = config.endpoint(target.address)
            outcome = await options(
                endpoint.address,
                endpoint.port,
                endpoint.transport,
                config.timeout_s,
                accept_status=config.accept_status,
            )
        except Exception:
            log.exception("%s: SIP probe failed inside the agent", target.host)
            endpoint = SipEndpoint(target.address, config.port, config.transport)
            outcome = SipOutcome(Result.INTERNAL_ERROR, error="internal error (see the log)")
        self._count(target, outcome)
        self._note(target, endpoint, outcome)
        return [self._sample(endpoint, outcome, timestamp)]

    def failure_samples(self, target: Target, result: Result, elapsed_s: float) -> list[Sample]:
        config: SipConfig = target.config
        try:
            endpoint = config.endpoint(target.address)
        except ValueError:
            endpoint = SipEndpoint(target.address, config.port, config.transport)
        outcome = SipOutcome(result, error="poll abandoned by the scheduler")
        self._note(target, endpoint, outcome)
        return [self._sample(endpoint, outcome, time.time_ns())]

    async def close(self) -> None:
        """Nothing to release: every probe opens and closes its own socket."""

    def _count(self, target: Target, outcome: SipOutcome) -> None:
        if outcome.ignored:
            self.stats.stray_responses += outcome.ignored
            self._failures.once(target.host, "stray", "SIP responses to other requests skipped")
        if outcome.result is Result.BAD_RESPONSE:
            self.stats.bad_responses += 1
            self._failures.once(
                target.host, "bad_response", f"malformed SIP answer: {outcome.error}"
            )

    def _note(self, target: Target, endpoint: SipEndpoint, outcome: SipOutcome) -> None:
        # Log a change of state once; repeats go to debug so many dead endpoints cannot flood.
        if outcome.result is Result.SUCCESS:
            self._failures.recovered(
                target.host, "%s: SIP OPTIONS to %s answered again", target.host, endpoint.server
            )
            return
        self._failures.failed(
            target.host,
            "%s: SIP OPTIONS to %s over %s: %s: %s",
            target.host,
            endpoint.server,
            endpoint.transport,
            outcome.result.tag,
            outcome.error,
        )

    @staticmethod
    def _sample(endpoint: SipEndpoint, outcome: SipOutcome, timestamp: int) -> Sample:
        tags = {
            "server": endpoint.server,
            "method": "OPTIONS",
            "transport": endpoint.transport,
            "result": outcome.result.tag,
        }
        fields: dict[str, FieldValue] = {"result_code": int(outcome.result)}
        if outcome.response_time_s is not None:
            fields["response_time"] = round(outcome.response_time_s, 6)
        if outcome.status_code is not None:
            fields["status_code"] = outcome.status_code
        if outcome.error:
            fields["error"] = outcome.error
        return Sample(SIP.name, tags, fields, timestamp)
