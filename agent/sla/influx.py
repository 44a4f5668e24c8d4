"""Reading the verdicts from InfluxDB (InfluxQL over the v1 API) and writing `sla` back.

The same credentials, TLS rules and URL checks as the agent's writer (agent.output); the
password or token never appears in an error. Responses are read chunked, so a year of data
never has to fit in one JSON document.
"""

from __future__ import annotations

import json
import logging
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpx

from agent.output.lineprotocol import serialize
from agent.output.transports import checked_base_url, server_message, ssl_context
from agent.samples import Sample
from agent.secret import Secret
from agent.settings import InfluxSettings
from agent.sla.combine import from_samples
from agent.sla.digest import (
    DAY,
    DAY_MARKER,
    MEASUREMENT,
    VERSION,
    day_markers,
    decode,
    join,
    samples_of,
)
from agent.sla.history import Grouped, MaxAge, SeriesKey, series_timelines, to_state
from agent.sla.timeline import SlaState, Span, Timeline

CHUNK_ROWS = 50_000


class InfluxQueryError(RuntimeError):
    pass


class InfluxClient:
    """Synchronous InfluxQL queries and line-protocol writes for the SLA commands."""

    def __init__(self, settings: InfluxSettings, timeout_s: float = 120.0) -> None:
        base = checked_base_url(settings.url)
        self.url = str(base)  # never carries credentials (checked_base_url refuses them)
        token = settings.resolved_token()
        password = settings.resolved_password()
        self._secrets: tuple[Secret, ...] = tuple(s for s in (token, password) if s is not None)
        headers = {"User-Agent": "tslcd-netmon"}
        auth: httpx.BasicAuth | None = None
        if token is not None:
            headers["Authorization"] = f"Token {token.reveal()}"
        elif settings.username and password is not None:
            auth = httpx.BasicAuth(settings.username, password.reveal())
        self.database = settings.database
        self.retention_policy = settings.retention_policy
        self._client = httpx.Client(
            base_url=base,
            headers=headers,
            auth=auth,
            verify=ssl_context(settings.verify_tls, settings.ca_file),
            timeout=timeout_s,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> InfluxClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def series(self, statement: str) -> Iterator[tuple[Mapping[str, str], list[str], list[Any]]]:
        """Each (tags, columns, values) row of the statements' results."""
        for tags, columns, rows in self.blocks(statement):
            for values in rows:
                yield tags, columns, values

    def blocks(
        self, statement: str
    ) -> Iterator[tuple[Mapping[str, str], list[str], list[list[Any]]]]:
        """Each (tags, columns, rows) block of the statements' results, chunk by chunk."""
        params = {
            "db": self.database,
            "q": statement,
            "epoch": "s",
            "chunked": "true",
            "chunk_size": str(CHUNK_ROWS),
        }
        if self.retention_policy:
            params["rp"] = self.retention_policy
        try:
            with self._client.stream("GET", "/query", params=params) as response:
                if response.status_code != 200:
                    body = response.read()
                    raise InfluxQueryError(
                        f"InfluxDB answered {response.status_code} to a query: "
                        f"{server_message(body, self._secrets)}"
                    )
                for line in response.iter_lines():
                    if line.strip():
                        yield from _chunk_blocks(_json(line))
        except httpx.HTTPError as exc:
            raise InfluxQueryError(
                f"InfluxDB query failed: {type(exc).__name__} (is InfluxDB running at "
                f"{self.url}? For the lab: netmon lab up)"
            ) from None

    def write(self, lines: list[str], precision: str = "s") -> None:
        params = {"db": self.database, "precision": precision}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        try:
            response = self._client.post("/write", params=params, content="\n".join(lines))
        except httpx.HTTPError as exc:
            raise InfluxQueryError(
                f"InfluxDB write failed: {type(exc).__name__} (at {self.url})"
            ) from None
        if response.status_code != 204:
            raise InfluxQueryError(
                f"InfluxDB answered {response.status_code} to a write: "
                f"{server_message(response.content, self._secrets)}"
            )

    def write_samples(self, samples: Iterable[Sample]) -> int:
        """Write `samples` as line protocol (ns); how many lines were written."""
        lines = [line for sample in samples if (line := serialize(sample)) is not None]
        self.write(lines, precision="ns")
        return len(lines)


def _json(line: str) -> Mapping[str, Any]:
    try:
        loaded = json.loads(line)
    except ValueError:
        raise InfluxQueryError("the answer to a query is not InfluxDB's JSON (a proxy?)") from None
    if not isinstance(loaded, Mapping):
        raise InfluxQueryError("the answer to a query is not InfluxDB's JSON (a proxy?)")
    return loaded


def _chunk_blocks(
    chunk: Mapping[str, Any],
) -> Iterator[tuple[Mapping[str, str], list[str], list[list[Any]]]]:
    for result in chunk.get("results", []):
        if "error" in result:
            raise InfluxQueryError(f"InfluxDB refused a query: {result['error']}")
        for series in result.get("series", []):
            yield series.get("tags") or {}, series["columns"], series.get("values", [])


#: Statements sent in one /query request when reading days sample by sample.
STATEMENTS_PER_REQUEST = 40
#: A day's digest is stored once it ended this long ago: longer than the agent's spool
#: keeps undelivered data (7 days by default), so no late sample can change it.
SETTLE_DAYS = 8
#: Days read sample by sample per request round (bounds the memory a cold year needs).
DAYS_PER_READ = 4

log = logging.getLogger("netmon.sla")


class InfluxHistory:
    """agent.sla.history.History over InfluxDB's `availability` and `lldp` measurements.

    Whole UTC days come from their digests (agent.sla.digest) where stored; a day without
    one, and the partial days at the range's ends, are read sample by sample, and the digests
    of settled days are written back, so the next report over them reads one point per series
    and day instead of 1,440.
    """

    def __init__(
        self,
        client: InfluxClient,
        lookback_s: int,
        *,
        digests: bool = True,
        settle_days: int = SETTLE_DAYS,
        now: int | None = None,
    ) -> None:
        self.client = client
        self.lookback_s = lookback_s
        self.digests = digests
        self.settle_days = settle_days
        self.now = now
        #: What the last `timelines` call did, in days: from digests, computed, stored.
        self.days_from_digests = 0
        self.days_computed = 0
        self.days_stored = 0

    def timelines(self, span: Span, max_age: MaxAge) -> dict[SeriesKey, Timeline]:
        first_day = -(-span.start // DAY) * DAY
        last_day = span.end // DAY * DAY
        if not self.digests or last_day - first_day < DAY:
            return series_timelines(self._samples([span]), span, max_age)
        days = range(first_day, last_day, DAY)
        stored = self._read_digests(Span(first_day, last_day))
        present = {day for _, day in stored}
        missing = [day for day in days if day not in present]
        edges = [Span(span.start, first_day), Span(last_day, span.end)]
        windows = [w for w in edges if w.seconds] + [Span(day, day + DAY) for day in missing]
        pieces: dict[SeriesKey, list[Timeline]] = {}
        for (key, _), timeline in stored.items():
            pieces.setdefault(key, []).append(timeline)
        self.days_from_digests = len(present)
        self.days_computed = len(missing)
        self.days_stored = 0
        # A few days at a time: a year without digests is ~100 million samples.
        for i in range(0, len(windows), DAYS_PER_READ):
            chunk = windows[i : i + DAYS_PER_READ]
            computed = self._compute(chunk, max_age, pieces)
            self._store(computed)
        return {key: join(parts, span) for key, parts in pieces.items()}

    def _compute(
        self, windows: list[Span], max_age: MaxAge, pieces: dict[SeriesKey, list[Timeline]]
    ) -> dict[tuple[SeriesKey, int], Timeline]:
        """Each series' timeline of each window from its samples (added to `pieces`); the
        whole days among them returned, to be stored."""
        by_key = self._samples(windows)
        computed: dict[tuple[SeriesKey, int], Timeline] = {}
        for key, samples in by_key.items():
            age = max_age(key.target)
            for window in windows:
                part = _window_timeline(samples, window, age)
                if part is None:
                    continue
                pieces.setdefault(key, []).append(part)
                if window.seconds == DAY and window.start % DAY == 0:
                    computed[(key, window.start)] = part
        return computed

    def _read_digests(self, days: Span) -> dict[tuple[SeriesKey, int], Timeline]:
        statement = (
            f'SELECT "segments", "version" FROM "{MEASUREMENT}" '
            f"WHERE time >= {days.start}s AND time < {days.end}s "
            'GROUP BY "check", "target", "service", "agent"'
        )
        found: dict[tuple[SeriesKey, int], Timeline] = {}
        stale: set[int] = set()
        complete: set[int] = set()
        for tags, columns, values in self.client.series(statement):
            row = dict(zip(columns, values, strict=True))
            day = int(row["time"])
            if row.get("version") != VERSION or not isinstance(row.get("segments"), str):
                stale.add(day)  # made by another rule: computed again
            elif tags.get("check") == DAY_MARKER:
                complete.add(day)
            else:
                found[(_key(tags), day)] = decode(row["segments"], day)
        # A day counts only when its marker says every series of it was stored.
        return {k: v for k, v in found.items() if k[1] in complete and k[1] not in stale}

    def _store(self, computed: dict[tuple[SeriesKey, int], Timeline]) -> None:
        now = int(time.time()) if self.now is None else self.now
        settled = now - self.settle_days * DAY
        keep = {k: v for k, v in computed.items() if k[1] + DAY <= settled}
        if not keep:
            return
        lines = [line for sample in samples_of(keep) if (line := serialize(sample)) is not None]
        # The days' markers go last: a write that fails half way leaves days without one,
        # and those are computed again next time instead of read incomplete.
        markers = [serialize(marker) or "" for marker in day_markers({d for _, d in keep})]
        try:
            for i in range(0, len(lines), 5000):
                self.client.write(lines[i : i + 5000], precision="ns")
            self.client.write(markers, precision="ns")
        except InfluxQueryError as exc:
            # A read-only account still gets its report, only not the faster next one.
            log.warning("could not store the day digests (reports stay correct, slower): %s", exc)
            return
        self.days_stored += len({day for _, day in keep})

    def _samples(self, windows: list[Span]) -> Grouped:
        """Every series' (time, state, reason) samples in the windows, sorted by time."""
        statements = [self._raw_statement(window) for window in windows]
        grouped: Grouped = {}
        for i in range(0, len(statements), STATEMENTS_PER_REQUEST):
            batch = "; ".join(statements[i : i + STATEMENTS_PER_REQUEST])
            for tags, columns, rows in self.client.blocks(batch):
                at, state_at, reason_at = (columns.index(c) for c in ("time", "state", "reason"))
                samples = grouped.setdefault(_key(tags), [])
                for row in rows:
                    state = row[state_at]
                    if isinstance(state, float) and state.is_integer():
                        state = int(state)  # stored as a float by another writer
                    elif type(state) is not int:
                        continue  # a point without a state: not a verdict
                    samples.append((row[at], to_state(state), row[reason_at] or ""))
        for samples in grouped.values():
            samples.sort(key=lambda sample: sample[0])
        return grouped

    def _raw_statement(self, window: Span) -> str:
        where = f"time >= {window.start - self.lookback_s}s AND time < {window.end}s"
        return (
            f'SELECT "state", "reason" FROM "availability" WHERE {where} '
            'GROUP BY "check", "target", "service", "agent"'
        )

    def neighbours(self, span: Span) -> dict[str, frozenset[str]]:
        statement = (
            'SELECT last("lldpRemSysName") FROM "lldp" '
            f"WHERE time >= {span.start}s AND time < {span.end}s "
            'GROUP BY "source", "neighbour"'
        )
        found: dict[str, set[str]] = {}
        for tags, _, _ in self.client.series(statement):
            if tags.get("source") and tags.get("neighbour"):
                found.setdefault(tags["source"], set()).add(tags["neighbour"])
        return {host: frozenset(n) for host, n in found.items()}


def _key(tags: Mapping[str, str]) -> SeriesKey:
    return SeriesKey(
        tags.get("check", ""), tags.get("target", ""), tags.get("service", ""),
        tags.get("agent", ""),
    )  # fmt: skip


def _window_timeline(
    samples: list[tuple[int, SlaState, str]], window: Span, age: int
) -> Timeline | None:
    """The timeline of `window` from the samples that cover part of it (None: none do)."""
    lo = bisect_right(samples, window.start - age, key=lambda sample: sample[0])
    hi = bisect_left(samples, window.end, key=lambda sample: sample[0])
    if lo >= hi:
        return None
    return from_samples(samples[lo:hi], window, age)
