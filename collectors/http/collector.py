"""The HTTP(S) collector: one request per poll, one ``http_response`` sample, a verdict."""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from agent.availability import Assessment, result_sample
from agent.collector import CollectorContext, Target
from agent.failurelog import FailureLog
from agent.results import Result
from agent.samples import FieldValue, Sample
from agent.schema_probes import HTTP_RESPONSE
from collectors.http.answer import status_accepted
from collectors.http.config import HttpConfig
from collectors.http.probe import Outcome, probe
from collectors.http.tls import TlsPolicy, inspecting_context, verifying_context

log = logging.getLogger(__name__)


def _number(value: FieldValue | None) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def outcome_sample(config: HttpConfig, outcome: Outcome, timestamp_ns: int) -> Sample:
    """The ``http_response`` sample of one check (see agent.schema_probes.HTTP_RESPONSE)."""
    result = outcome.result if outcome.result is not None else Result.INTERNAL_ERROR
    # The URL without user information or query: a bounded tag that holds no secret.
    tags = {"server": config.public_url, "method": config.method, "result": result.tag}
    fields: dict[str, FieldValue] = {"result_code": int(result), "redirects": outcome.redirects}
    if outcome.status is not None:
        tags["status_code"] = str(outcome.status)
        fields["http_response_code"] = outcome.status
    timings = {
        "response_time": outcome.response_time,
        "dns_time": outcome.dns_time,
        "connect_time": outcome.connect_time,
        "tls_handshake_time": outcome.tls_handshake_time,
        "first_byte_time": outcome.first_byte_time,
        "tls_expiry_days": outcome.tls_expiry_days,
    }
    fields.update({name: round(value, 6) for name, value in timings.items() if value is not None})
    if outcome.content_length is not None:
        fields["content_length"] = outcome.content_length
    if outcome.string_match is not None:
        fields["response_string_match"] = int(outcome.string_match)
    if outcome.tls_verified is not None:
        fields["tls_verified"] = int(outcome.tls_verified)
    if outcome.tls_error:
        fields["tls_error"] = outcome.tls_error
    if outcome.error:
        fields["error"] = outcome.error
    return Sample(HTTP_RESPONSE.name, tags, fields, timestamp_ns)


class HttpCollector:
    """Checks a web service: status, content, timing breakdown and certificate expiry."""

    name: ClassVar[str] = "http"
    config_model: ClassVar[type[HttpConfig]] = HttpConfig

    def __init__(self, context: CollectorContext) -> None:
        context.schema.declare(HTTP_RESPONSE)
        self._agent_ca_file = context.ca_file
        # Loading the system trust store costs milliseconds: once per CA file, not per poll.
        self._verifying: dict[Path | None, ssl.SSLContext] = {}
        self._inspecting: ssl.SSLContext | None = None
        self._failures = FailureLog(log)

    @classmethod
    def validate(cls, config: HttpConfig) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if config.content_regex is not None:
            try:
                re.compile(config.content_regex)
            except re.error as exc:
                problems.append(("content_regex", f"not a valid regular expression: {exc}"))
        if config.method == "HEAD":
            problems.extend(
                (name, "a HEAD answer has no body to match; use method GET")
                for name in ("content_match", "content_regex")
                if getattr(config, name) is not None
            )
        if config.ca_file is not None:
            # Only the file: the system store is not needed to know whether it loads.
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(
                    cafile=str(config.ca_file)
                )
            except OSError as exc:  # ssl.SSLError too: not PEM certificates
                reason = exc.strerror or getattr(exc, "reason", None) or "not PEM certificates"
                problems.append(("ca_file", f"cannot load {config.ca_file}: {reason}"))
        if config.slow_s is not None and config.slow_s >= config.timeout_s:
            problems.append(("slow_s", f"must be below timeout_s ({config.timeout_s:g} s)"))
        return problems

    async def collect(self, target: Target) -> list[Sample]:
        config: HttpConfig = target.config
        timestamp = time.time_ns()
        started = time.perf_counter()
        try:
            outcome = await probe(config, self._tls_policy(config))
        except Exception:
            log.exception(
                "%s: HTTP check of %s failed inside the agent", target.host, config.public_url
            )
            outcome = Outcome(
                result=Result.INTERNAL_ERROR,
                error="internal error of the probe (see the agent's log)",
                response_time=time.perf_counter() - started,
            )
        self._note(target, config, outcome)
        return [outcome_sample(config, outcome, timestamp)]

    def failure_samples(self, target: Target, result: Result, elapsed_s: float) -> list[Sample]:
        config: HttpConfig = target.config
        outcome = Outcome(
            result=result,
            error=f"check abandoned by the agent after {elapsed_s:.1f} s ({result.tag})",
            response_time=elapsed_s,
        )
        self._note(target, config, outcome)
        return [outcome_sample(config, outcome, time.time_ns())]

    async def close(self) -> None:
        self._verifying.clear()
        self._inspecting = None

    def assess(self, target: Target, samples: Sequence[Sample]) -> Assessment:
        """Up when the check succeeded; degraded by a certificate close to expiry or slowness."""
        config: HttpConfig = target.config
        sample = result_sample(samples)
        if sample is None:
            return Assessment(False, None, ("no result from the HTTP probe",))
        fields = sample.fields
        latency = _number(fields.get("response_time"))
        result = Result(int(fields["result_code"]))
        if result is not Result.SUCCESS:
            return Assessment(False, latency, (self._reason(config, result, fields),))
        problems = []
        days = _number(fields.get("tls_expiry_days"))
        if days is not None and days < config.tls_warning_days:
            problems.append(
                f"certificate expires in {days:.1f} days"
                if days >= 0
                else f"certificate expired {-days:.1f} days ago"  # possible with verify_tls off
            )
        if config.slow_s is not None and latency is not None and latency > config.slow_s:
            problems.append(f"slow: {latency:.2f} s > {config.slow_s:g} s")
        return Assessment(True, latency, tuple(problems))

    @staticmethod
    def _reason(config: HttpConfig, result: Result, fields: dict[str, FieldValue]) -> str:
        # Short and from a small set where possible: the reason is shown on dashboards and
        # grouped by; the sample's `error` field keeps the details.
        error = str(fields.get("error") or result.tag)
        status = fields.get("http_response_code")
        if result is Result.PROTOCOL_ERROR and isinstance(status, int):
            return error if status_accepted(status, config.expect_status) else f"HTTP {status}"
        short = {
            Result.TIMEOUT: "timeout",
            Result.CONTENT_MISMATCH: "content not found",
            Result.DNS_ERROR: "name not resolved",
            Result.TLS_ERROR: str(fields.get("tls_error") or error),
        }
        return short.get(result, error)

    def _tls_policy(self, config: HttpConfig) -> Callable[[], TlsPolicy]:
        def policy() -> TlsPolicy:
            if self._inspecting is None:
                self._inspecting = inspecting_context()
            if not config.verify_tls:
                return TlsPolicy(None, self._inspecting)
            # A host's own CA file replaces the agent's: a private CA is trusted where named.
            ca_file = config.ca_file or self._agent_ca_file
            if ca_file not in self._verifying:
                self._verifying[ca_file] = verifying_context(ca_file)
            return TlsPolicy(self._verifying[ca_file], self._inspecting)

        return policy

    def _note(self, target: Target, config: HttpConfig, outcome: Outcome) -> None:
        # Log the change of state once; a dead site polled every minute must not flood.
        if outcome.result is Result.SUCCESS:
            self._failures.recovered(
                target.key, "%s: HTTP check of %s succeeds again", target.host, config.public_url
            )
            return
        result = outcome.result or Result.INTERNAL_ERROR
        self._failures.failed(
            target.key,
            "%s: HTTP check of %s: %s: %s",
            target.host,
            config.public_url,
            result.tag,
            outcome.error,
        )
