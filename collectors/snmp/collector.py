"""The SNMP collector: choose each device's profile, GET its scalars, walk its tables.

A poll of one device:

1. On first contact (profiles ``auto``) one GET of sysObjectID and sysDescr picks the profile
   (`collectors.snmp.profiles.select`); the choice is kept for later polls.
2. One GET carries every scalar of the profile (the `snmp` row and the scalar groups) and
   sysObjectID, so a replaced device is noticed.
3. One walk carries the columns of every table together (GETBULK, GETNEXT for SNMPv1), sized
   by the device's learned pacing. Label columns (``refresh: slow``) are walked only every
   ``label_refresh_s`` or when a new row appears; their values ride along in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pyasn1.type import univ

from agent.collector import CollectorContext, Target
from agent.failurelog import FailureLog
from agent.results import Result
from agent.samples import FieldValue, Sample
from agent.schema import Measurement
from collectors.snmp.config import SnmpConfig, UsmCredential
from collectors.snmp.device import SYS_DESCR, SYS_OBJECT_ID, Device
from collectors.snmp.profiles import (
    AUTO,
    Column,
    Oid,
    Profile,
    Table,
    oid_text,
    select,
    shipped_profiles,
)
from collectors.snmp.rows import (
    Convert,
    TableRows,
    apply_lookups,
    collect_rows,
    slow_values,
    tag_text,
)
from collectors.snmp.rows import to_samples as table_samples
from collectors.snmp.session import Endpoint, Pacing, SnmpRequestError, SnmpSession, Tally
from collectors.snmp.topology import NEIGHBOUR_TAG, resolve_neighbours
from collectors.snmp.values import BadValueError, as_field, native

#: The neighbour tag the LLDP tables add (declared with the profiles' own `lldp` fields).
LLDP_MEASUREMENT = Measurement("lldp", frozenset({NEIGHBOUR_TAG}), {})

log = logging.getLogger(__name__)

#: Columns per request: beyond this a walk is split, so one answer never gets huge.
MAX_COLUMNS_PER_WALK = 32


@dataclass
class SnmpStats:
    """Plain counters the agent exposes on /metrics."""

    bad_values: int = 0  # values that did not fit their column, or non-increasing OIDs
    table_errors: int = 0  # tables a device answered with an error (the rest of the poll kept)
    values_polled: int = 0
    requests: int = 0
    pacing_reductions: int = 0  # GETBULK sizes halved after tooBig or a timeout
    label_walks: int = 0


def _oid_value(raw: Any) -> Oid | None:
    """An OBJECT IDENTIFIER value as a tuple; None for anything else a device may answer."""
    if not isinstance(raw, univ.ObjectIdentifier):
        return None
    return tuple(int(part) for part in raw)


class SnmpCollector:
    name: ClassVar[str] = "snmp"
    config_model: ClassVar[type[SnmpConfig]] = SnmpConfig

    def __init__(self, context: CollectorContext) -> None:
        self.profiles = shipped_profiles()
        for profile in self.profiles.values():
            profile.declare(context.schema)
        if context.schema.get("lldp") is not None:
            context.schema.declare(LLDP_MEASUREMENT)
        self.session = SnmpSession(context.receive_buffer_bytes)
        self.stats = SnmpStats()
        self._devices: dict[str, Device] = {}
        self._failures = FailureLog(log)

    @classmethod
    def validate(cls, config: SnmpConfig) -> list[tuple[str, str]]:
        known = shipped_profiles()
        return [
            (
                "profiles",
                f"unknown profile {name!r} (known: {AUTO}, {', '.join(sorted(known))})",
            )
            for name in config.profiles
            if name != AUTO and name not in known
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

    # --- what others ask of the collector ----------------------------------------------------

    def device(self, host: str) -> Device | None:
        """What is known of `host` (its profile, pacing, labels); None before its first poll."""
        return self._devices.get(host)

    def interface_tags(self, host: str, if_index: str) -> dict[str, str]:
        """The tags of `host`'s interface row `if_index` as the last poll wrote them (for traps)."""
        device = self._devices.get(host)
        if device is None or not if_index.isdigit():
            return {}
        tags = {"sysName": device.sys_name} if device.sys_name else {}
        row = device.labels.get("interface", {}).get((int(if_index),), {})
        for name in ("ifName", "ifDescr"):
            if name in row:
                tags[name] = str(row[name])
        return tags

    # --- polling --------------------------------------------------------------------------------

    async def collect(self, target: Target) -> list[Sample]:
        config: SnmpConfig = target.config
        started = time.perf_counter()
        timestamp = time.time_ns()
        tally = Tally()
        try:
            endpoint = await self.session.endpoint(
                target.address, config.port, config.credential, config.timeout_s, config.retries
            )
            samples = await self._poll(target, config, endpoint, timestamp, started, tally)
        except SnmpRequestError as exc:
            self._note_failure(target, exc.result, str(exc))
            return self._status(target, exc.result, time.perf_counter() - started, timestamp)
        except Exception:
            log.exception("%s: SNMP poll failed inside the agent", target.host)
            self._failures.mark_failing(target.host)
            return self._status(
                target, Result.INTERNAL_ERROR, time.perf_counter() - started, timestamp
            )
        finally:
            self.stats.requests += tally.requests
            self.stats.values_polled += tally.values
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
        tally: Tally | None = None,
    ) -> list[Sample]:
        tags = {"source": target.host, "result": result.tag}
        device = self._devices.get(target.host)
        if device is not None and device.sys_name:
            tags["sysName"] = device.sys_name
        status: dict[str, FieldValue] = dict(fields or {})
        status.update(
            result_code=int(result),
            response_time=round(elapsed_s, 6),
            values_polled=tally.values if tally else 0,
        )
        if tally is not None:
            status["requests"] = tally.requests
        return [Sample("snmp", tags, status, timestamp)]

    def _device(self, target: Target, config: SnmpConfig) -> Device:
        device = self._devices.get(target.host)
        if device is None:
            device = Device(Pacing(config.max_repetitions))
            self._devices[target.host] = device
        return device

    async def _identify(
        self, target: Target, config: SnmpConfig, endpoint: Endpoint, device: Device, tally: Tally
    ) -> Profile:
        if AUTO in config.profiles:
            answer = await self.session.get(endpoint, [SYS_OBJECT_ID, SYS_DESCR], tally)
            device.sys_object_id = _oid_value(answer.get(SYS_OBJECT_ID))
            device.sys_descr = self._text(target, answer.get(SYS_DESCR))
        profile = select(self.profiles, config.profiles, device.sys_object_id)
        device.profile = profile
        # One line per device at every start would bury the log; `netmon discover` shows it.
        log.debug(
            "%s: sysObjectID %s: profile %s (%s)",
            target.host,
            oid_text(device.sys_object_id) if device.sys_object_id else "unknown",
            profile.name,
            ", ".join(profile.chain),
        )
        return profile

    async def _poll(
        self,
        target: Target,
        config: SnmpConfig,
        endpoint: Endpoint,
        timestamp: int,
        started: float,
        tally: Tally,
    ) -> list[Sample]:
        device = self._device(target, config)
        profile = device.profile or await self._identify(target, config, endpoint, device, tally)
        scalar_tags, scalar_fields, groups = await self._scalars(
            target, endpoint, device, profile, timestamp, tally
        )
        base_tags = {"source": target.host}
        if device.sys_name:
            base_tags["sysName"] = device.sys_name
        for sample in groups:
            sample.tags.update(base_tags)
        samples = groups + await self._tables(
            target, config, endpoint, device, profile, base_tags, timestamp, tally
        )
        status = self._status(
            target,
            Result.SUCCESS,
            time.perf_counter() - started,
            timestamp,
            scalar_fields,
            tally,
        )
        status[0].tags.update(scalar_tags)
        return status + samples

    async def _scalars(
        self,
        target: Target,
        endpoint: Endpoint,
        device: Device,
        profile: Profile,
        timestamp: int,
        tally: Tally,
    ) -> tuple[dict[str, str], dict[str, FieldValue], list[Sample]]:
        """One GET: the `snmp` row's scalars, every scalar group, and sysObjectID."""
        wanted = [c.oid for c in profile.scalars]
        wanted += [c.oid for group in profile.groups for c in group.fields]
        answer = await self.session.get(endpoint, [SYS_OBJECT_ID, *wanted], tally)
        found = _oid_value(answer.get(SYS_OBJECT_ID))
        known = device.sys_object_id
        if found is not None and known is not None and found != known:
            log.warning(
                "%s: sysObjectID changed from %s to %s; choosing its profile again",
                target.host,
                oid_text(known),
                oid_text(found),
            )
            device.sys_object_id = found
            device.forget_profile()
        tags, fields = self._values(target, profile.scalars, answer)
        if "sysName" in tags:
            device.sys_name = tags["sysName"]
        samples = []
        for group in profile.groups:
            group_tags, group_fields = self._values(target, group.fields, answer)
            if group_fields:
                samples.append(Sample(group.measurement, group_tags, group_fields, timestamp))
        return tags, fields, samples

    def _text(self, target: Target, raw: Any) -> str:
        if raw is None:
            return ""
        try:
            return str(native(raw))
        except BadValueError:
            self.stats.bad_values += 1
            self._log_once(target, "sysDescr", "sysDescr of an unusable type")
            return ""

    def _values(
        self, target: Target, columns: Sequence[Column], answer: Mapping[Oid, Any]
    ) -> tuple[dict[str, str], dict[str, FieldValue]]:
        tags: dict[str, str] = {}
        fields: dict[str, FieldValue] = {}
        for column in columns:
            if column.oid not in answer:
                continue
            value = self._convert(target, column, answer[column.oid])
            if value is None:
                continue
            if column.tag:
                tags[column.name] = tag_text(column, value)
            else:
                fields[column.name] = value
        return tags, fields

    def _convert(self, target: Target, column: Column, raw: Any) -> FieldValue | None:
        try:
            value = as_field(native(raw), column.type)
        except (BadValueError, ValueError) as exc:
            self.stats.bad_values += 1
            self._log_once(target, column.name, f"bad value for {column.name}: {exc}")
            return None
        if column.oid_names is not None and isinstance(value, str):
            return column.oid_names.get(value, value)
        return value

    # --- tables ---------------------------------------------------------------------------------

    async def _tables(
        self,
        target: Target,
        config: SnmpConfig,
        endpoint: Endpoint,
        device: Device,
        profile: Profile,
        base_tags: dict[str, str],
        timestamp: int,
        tally: Tally,
    ) -> list[Sample]:
        now = time.monotonic()
        full = device.labels_due(now, config.label_refresh_s)
        plan = [(t, self._planned_columns(t, device, full)) for t in profile.tables]
        walked = await self._walk(target, endpoint, device, plan, tally)
        walked = await self._fallbacks(target, endpoint, device, profile, walked, tally)
        if not full:
            fresh = [t for t in profile.tables if self._has_new_rows(device, t, walked)]
            if fresh:
                # A new row (an interface added since the last label walk) needs its labels now.
                slow = [(t, [c for c in t.columns if c.slow]) for t in fresh]
                walked.update(await self._walk(target, endpoint, device, slow, tally))
        if full:
            device.labels_at = now
            self.stats.label_walks += 1
        converter = self._converter(target)
        rows: dict[str, TableRows] = {}
        for table in profile.tables:
            labels = {} if full else device.labels.get(table.key, {})
            rows[table.key] = collect_rows(table, walked, labels, converter)
            if full or any(c.slow and c.oid in walked for c in table.columns):
                device.labels[table.key] = slow_values(table, rows[table.key].rows)
        apply_lookups(rows)
        samples: list[Sample] = []
        for current in rows.values():
            if not current.table.emit:
                continue
            made, bad = table_samples(current, base_tags, timestamp)
            if bad:
                self.stats.bad_values += bad
                self._log_once(
                    target, current.table.key, f"{current.table.key}: rows with a malformed index"
                )
            samples.extend(made)
        if any(sample.measurement == "lldp" for sample in samples):
            resolve_neighbours(samples, self._known_names())  # only LLDP devices need names
        return samples

    def _converter(self, target: Target) -> Convert:
        def convert(column: Column, raw: Any) -> FieldValue | None:
            return self._convert(target, column, raw)

        return convert

    def _has_new_rows(
        self, device: Device, table: Table, walked: Mapping[Oid, Mapping[Oid, Any]]
    ) -> bool:
        if not any(c.slow for c in table.columns):
            return False
        known = device.labels.get(table.key, {})
        return any(
            index not in known
            for column in table.columns
            if not column.slow and column.oid in walked
            for index in walked[column.oid]
        )

    async def _walk(
        self,
        target: Target,
        endpoint: Endpoint,
        device: Device,
        plan: Sequence[tuple[Table, Sequence[Column]]],
        tally: Tally,
    ) -> dict[Oid, dict[Oid, Any]]:
        """Walk the planned columns of every table together, split per MAX_COLUMNS_PER_WALK.

        A device that refuses a combined walk (genErr on one optional MIB) is walked table by
        table instead, so that one table's error costs only that table.
        """
        oids = list(dict.fromkeys(c.oid for _, columns in plan for c in columns))
        walked: dict[Oid, dict[Oid, Any]] = {}
        try:
            for start in range(0, len(oids), MAX_COLUMNS_PER_WALK):
                chunk = oids[start : start + MAX_COLUMNS_PER_WALK]
                walked.update(await self._walk_columns(target, endpoint, device, chunk, tally))
            return walked
        except SnmpRequestError as exc:
            if exc.result in {Result.TIMEOUT, Result.AUTH_ERROR}:
                raise  # the device itself stopped answering: the poll failed
        walked = {}
        for table, columns in plan:
            if not columns:
                continue
            try:
                walked.update(
                    await self._walk_columns(
                        target, endpoint, device, [c.oid for c in columns], tally
                    )
                )
            except SnmpRequestError as exc:
                if exc.result in {Result.TIMEOUT, Result.AUTH_ERROR}:
                    raise
                # The device answers, but not this table: keep the rest, count and log it.
                self.stats.table_errors += 1
                self._log_once(target, table.key, f"{table.key}: {exc}")
        return walked

    async def _walk_columns(
        self, target: Target, endpoint: Endpoint, device: Device, oids: list[Oid], tally: Tally
    ) -> dict[Oid, dict[Oid, Any]]:
        if not oids:
            return {}
        before = device.pacing.reductions
        walked, bad = await self.session.walk(endpoint, oids, device.pacing, tally)
        if device.pacing.reductions != before:
            self.stats.pacing_reductions += device.pacing.reductions - before
            log.info(
                "%s: GETBULK now asks for %d rows per column (the device could not answer more)",
                target.host,
                device.pacing.max_repetitions,
            )
        if bad:
            self.stats.bad_values += bad
            self._log_once(target, "walk", "non-increasing OIDs in a walk")
        return walked

    @staticmethod
    def _planned_columns(table: Table, device: Device, full: bool) -> list[Column]:
        """The table's columns this poll walks: label columns when due, and the fallbacks
        the device is known to need (so they ride in the main walk, not a walk of their own)."""
        columns = [c for c in table.columns if full or not c.slow]
        columns += [
            c.fallback
            for c in table.columns
            if c.fallback is not None and c.fallback.oid in device.fallbacks
        ]
        return columns

    async def _fallbacks(
        self,
        target: Target,
        endpoint: Endpoint,
        device: Device,
        profile: Profile,
        walked: dict[Oid, dict[Oid, Any]],
        tally: Tally,
    ) -> dict[Oid, dict[Oid, Any]]:
        """Walk the fallback columns (32-bit counters) where a row lacks the preferred one."""
        plan = []
        for table in profile.tables:
            rows: set[Oid] = set()
            for column in table.columns:
                rows.update(walked.get(column.oid, {}))
            needed = [
                c.fallback
                for c in table.columns
                if c.fallback is not None and c.oid in walked and len(walked[c.oid]) < len(rows)
            ]
            # Remembered: from the next poll on, they ride in the main walk.
            device.fallbacks.update(c.oid for c in needed)
            needed = [c for c in needed if c.oid not in walked]
            if needed:
                plan.append((table, needed))
        if plan:
            walked.update(await self._walk(target, endpoint, device, plan, tally))
        return walked

    def _known_names(self) -> dict[str, str]:
        """Names a neighbour may announce (sysName, host name), normalised → inventory host."""
        names = {}
        for host, device in self._devices.items():
            names[host] = host
            if device.sys_name:
                names[device.sys_name] = host
        return names
