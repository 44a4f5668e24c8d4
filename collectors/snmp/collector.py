"""The SNMP collector: GET the profiles' scalars, walk their tables, emit samples."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from agent.collector import CollectorContext, Target
from agent.failurelog import FailureLog
from agent.results import Result
from agent.samples import FieldValue, Sample
from collectors.snmp.config import SnmpConfig, UsmCredential
from collectors.snmp.profiles import Column, Oid, Profile, Table, shipped_profiles
from collectors.snmp.session import Endpoint, SnmpRequestError, SnmpSession
from collectors.snmp.values import BadValueError, as_field, native

log = logging.getLogger(__name__)


@dataclass
class SnmpStats:
    """Plain counters the agent exposes on /metrics."""

    bad_values: int = 0  # values that did not fit their column, or non-increasing OIDs
    table_errors: int = 0  # tables a device answered with an error (the rest of the poll kept)
    values_polled: int = 0


def _index_text(index: Oid) -> str:
    return ".".join(str(part) for part in index)


class SnmpCollector:
    name: ClassVar[str] = "snmp"
    config_model: ClassVar[type[SnmpConfig]] = SnmpConfig

    def __init__(self, context: CollectorContext) -> None:
        self.profiles = shipped_profiles()
        for profile in self.profiles.values():
            profile.declare(context.schema)
        self.session = SnmpSession(context.receive_buffer_bytes)
        self.stats = SnmpStats()
        self._sys_names: dict[str, str] = {}
        self._failures = FailureLog(log)

    @classmethod
    def validate(cls, config: SnmpConfig) -> list[tuple[str, str]]:
        known = shipped_profiles()
        return [
            ("profiles", f"unknown profile {name!r} (known: {', '.join(sorted(known))})")
            for name in config.profiles
            if name not in known
        ]

    @classmethod
    def validate_fleet(cls, configs: Mapping[str, SnmpConfig]) -> list[tuple[str, str, str]]:
        """Problems across hosts, as (host, field, message).

        pysnmp keeps one set of keys per SNMPv3 user name in its engine: two credential sets
        with the same user and different keys would overwrite each other at run time.
        """
        first: dict[str, tuple[str, tuple[object, ...]]] = {}
        problems = []
        for host, config in sorted(configs.items()):
            credential = config.credential
            if not isinstance(credential, UsmCredential):
                continue
            keys = (
                credential.auth_protocol,
                credential.auth_password,
                credential.priv_protocol,
                credential.priv_password,
            )
            name, known = first.setdefault(credential.user, (credential.name, keys))
            if known != keys:
                problems.append(
                    (
                        host,
                        "credential",
                        f"credential set {credential.name!r} uses SNMPv3 user {credential.user!r} "
                        f"with other keys than set {name!r}; one user name, one set of keys",
                    )
                )
        return problems

    async def collect(self, target: Target) -> list[Sample]:
        config: SnmpConfig = target.config
        started = time.perf_counter()
        timestamp = time.time_ns()
        try:
            endpoint = await self.session.endpoint(
                target.address, config.port, config.credential, config.timeout_s, config.retries
            )
            samples = await self._poll(target, config, endpoint, timestamp, started)
        except SnmpRequestError as exc:
            self._note_failure(target, exc.result, str(exc))
            return self._status(target, exc.result, time.perf_counter() - started, timestamp)
        except Exception:
            log.exception("%s: SNMP poll failed inside the agent", target.host)
            self._failures.mark_failing(target.host)
            return self._status(
                target, Result.INTERNAL_ERROR, time.perf_counter() - started, timestamp
            )
        self._failures.recovered(target.host, "%s: SNMP polls succeed again", target.host)
        return samples

    def failure_samples(self, target: Target, result: Result, elapsed_s: float) -> list[Sample]:
        self._note_failure(target, result, "poll abandoned by the scheduler")
        return self._status(target, result, elapsed_s, time.time_ns())

    async def close(self) -> None:
        self.session.close()

    def _log_once(self, target: Target, what: str, message: str) -> None:
        # A device's bad answer repeats every poll: warn once per host and object, count always.
        self._failures.once(target.host, what, message)

    def _note_failure(self, target: Target, result: Result, reason: str) -> None:
        self._failures.failed(
            target.host,
            "%s (%s): SNMP %s: %s",
            target.host,
            target.address,
            result.tag,
            reason,
        )

    def _status(
        self,
        target: Target,
        result: Result,
        elapsed_s: float,
        timestamp: int,
        fields: dict[str, FieldValue] | None = None,
        values: int = 0,
    ) -> list[Sample]:
        tags = {"source": target.host, "result": result.tag}
        if target.host in self._sys_names:
            tags["sysName"] = self._sys_names[target.host]
        status: dict[str, FieldValue] = dict(fields or {})
        status.update(
            result_code=int(result), response_time=round(elapsed_s, 6), values_polled=values
        )
        return [Sample("snmp", tags, status, timestamp)]

    def _selected(self, config: SnmpConfig) -> list[Profile]:
        return [self.profiles[name] for name in config.profiles]

    async def _poll(
        self,
        target: Target,
        config: SnmpConfig,
        endpoint: Endpoint,
        timestamp: int,
        started: float,
    ) -> list[Sample]:
        profiles = self._selected(config)
        scalars = [column for profile in profiles for column in profile.scalars]
        values = 0
        scalar_tags: dict[str, str] = {}
        scalar_fields: dict[str, FieldValue] = {}
        if scalars:
            answer = await self.session.get(endpoint, [c.oid for c in scalars])
            values += len(answer)
            for column in scalars:
                if column.oid in answer:
                    value = self._convert(target, column, answer[column.oid])
                    if value is None:
                        continue
                    if column.tag:
                        scalar_tags[column.name] = str(value)
                    else:
                        scalar_fields[column.name] = value
        if "sysName" in scalar_tags:
            self._sys_names[target.host] = scalar_tags["sysName"]
        samples: list[Sample] = []
        for profile in profiles:
            for table in profile.tables:
                try:
                    rows, count = await self._table(target, config, endpoint, table, timestamp)
                except SnmpRequestError as exc:
                    if exc.result in {Result.TIMEOUT, Result.AUTH_ERROR}:
                        raise  # the device itself stopped answering: the poll failed
                    # The device answers, but not this table (genErr on an optional MIB):
                    # keep the rest of the poll, count and log it.
                    self.stats.table_errors += 1
                    self._log_once(target, table.measurement, f"{table.measurement}: {exc}")
                    continue
                samples.extend(rows)
                values += count
        self.stats.values_polled += values
        status = self._status(
            target, Result.SUCCESS, time.perf_counter() - started, timestamp, scalar_fields, values
        )
        status[0].tags.update(scalar_tags)
        return status + samples

    def _convert(self, target: Target, column: Column, raw: Any) -> FieldValue | None:
        try:
            return as_field(native(raw), column.type)
        except (BadValueError, ValueError) as exc:
            self.stats.bad_values += 1
            self._log_once(target, column.name, f"bad value for {column.name}: {exc}")
            return None

    async def _table(
        self,
        target: Target,
        config: SnmpConfig,
        endpoint: Endpoint,
        table: Table,
        timestamp: int,
    ) -> tuple[list[Sample], int]:
        columns = list(table.columns)
        walked, bad = await self.session.walk(
            endpoint, [c.oid for c in columns], config.max_repetitions
        )
        indexes = sorted({index for column_rows in walked.values() for index in column_rows})
        fallbacks = [
            c.fallback
            for c in columns
            if c.fallback is not None and len(walked[c.oid]) < len(indexes)
        ]
        if fallbacks:
            extra, extra_bad = await self.session.walk(
                endpoint, [f.oid for f in fallbacks], config.max_repetitions
            )
            walked.update(extra)
            bad += extra_bad
            columns.extend(fallbacks)
        if bad:
            self.stats.bad_values += bad
            self._log_once(
                target, table.measurement, f"non-increasing OIDs in the {table.measurement} walk"
            )
        preferred = {c.fallback.name: c.oid for c in table.columns if c.fallback is not None}
        count = sum(len(column_rows) for column_rows in walked.values())
        samples = []
        base_tags = {"source": target.host}
        if target.host in self._sys_names:
            base_tags["sysName"] = self._sys_names[target.host]
        for index in indexes:
            tags = {**base_tags, table.index_tag: _index_text(index)}
            fields: dict[str, FieldValue] = {}
            for column in columns:
                if index not in walked[column.oid]:
                    continue
                if column.name in preferred and index in walked[preferred[column.name]]:
                    continue  # the 64-bit counter of this row is there: HC preferred
                value = self._convert(target, column, walked[column.oid][index])
                if value is None:
                    continue
                if column.tag:
                    tags[column.name] = str(value)
                else:
                    fields[column.name] = value
            if fields:
                samples.append(Sample(table.measurement, tags, fields, timestamp))
        return samples, count
