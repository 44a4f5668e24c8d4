"""Reading the verdicts from InfluxDB (InfluxQL over the v1 API) and writing `sla` back.

The same credentials, TLS rules and URL checks as the agent's writer (agent.output); the
password or token never appears in an error. Responses are read chunked, so a year of data
never has to fit in one JSON document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from agent.output.transports import _ssl_context, checked_base_url, server_message
from agent.secret import Secret
from agent.settings import InfluxSettings
from agent.sla.history import MaxAge, Observation, SeriesKey, timelines_of
from agent.sla.timeline import Segment, SlaState, Span, Timeline, coalesce

CHUNK_ROWS = 50_000


class InfluxQueryError(RuntimeError):
    pass


def quote_identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxClient:
    """Synchronous InfluxQL queries and line-protocol writes for the SLA commands."""

    def __init__(self, settings: InfluxSettings, timeout_s: float = 120.0) -> None:
        base = checked_base_url(settings.url)
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
            verify=_ssl_context(settings.verify_tls, settings.ca_file),
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
        """Each (tags, columns, values) of one statement's result, chunk by chunk."""
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
                        yield from _chunk_series(json.loads(line))
        except httpx.HTTPError as exc:
            raise InfluxQueryError(f"InfluxDB query failed: {type(exc).__name__}") from None

    def write(self, lines: list[str]) -> None:
        params = {"db": self.database, "precision": "s"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        try:
            response = self._client.post("/write", params=params, content="\n".join(lines))
        except httpx.HTTPError as exc:
            raise InfluxQueryError(f"InfluxDB write failed: {type(exc).__name__}") from None
        if response.status_code != 204:
            raise InfluxQueryError(
                f"InfluxDB answered {response.status_code} to a write: "
                f"{server_message(response.content, self._secrets)}"
            )


def _chunk_series(
    chunk: Mapping[str, Any],
) -> Iterator[tuple[Mapping[str, str], list[str], list[Any]]]:
    for result in chunk.get("results", []):
        if "error" in result:
            raise InfluxQueryError(f"InfluxDB refused a query: {result['error']}")
        for series in result.get("series", []):
            tags = series.get("tags") or {}
            columns = series["columns"]
            for values in series.get("values", []):
                yield tags, columns, values


DAY = 86_400
#: Statements sent in one /query request when reading the days that are not clean.
STATEMENTS_PER_REQUEST = 40


class InfluxHistory:
    """agent.sla.history.History over InfluxDB's `availability` and `lldp` measurements.

    A year of one-minute verdicts is ~100 million points: too many to move. So a range of
    whole days is read in two passes. First, per series and UTC day, the count and the
    lowest and highest state (InfluxDB aggregates, one row per series and day). A day with a
    verdict in every poll slot of its series (86,400 / interval of them) and all of them ok
    is **clean**: it is up from midnight to midnight, and none of its samples are read.
    Every other day, and the partial days at the range's ends, are read sample by sample
    and judged by the same rule as everything else (agent.sla.combine.from_samples).
    """

    def __init__(self, client: InfluxClient, lookback_s: int, *, whole_days: bool = True) -> None:
        self.client = client
        self.lookback_s = lookback_s
        self.whole_days = whole_days
        #: What the last `timelines` call read: clean days taken whole, days read raw.
        self.clean_days = 0
        self.raw_days = 0

    def timelines(self, span: Span, max_age: MaxAge) -> dict[SeriesKey, Timeline]:
        first_day = -(-span.start // DAY) * DAY
        last_day = span.end // DAY * DAY
        if not self.whole_days or last_day - first_day < DAY:
            return timelines_of(self._samples([(span, None)]), span, max_age)
        clean = self._clean_days(Span(first_day, last_day), max_age)
        return self._assemble(span, Span(first_day, last_day), clean, max_age)

    # -- pass 1: which days are clean -------------------------------------------------------

    def _clean_days(self, days: Span, max_age: MaxAge) -> dict[SeriesKey, set[int]]:
        statement = (
            'SELECT count("state"), min("state"), max("state") FROM "availability" '
            f"WHERE time >= {days.start}s AND time < {days.end}s "
            'GROUP BY time(1d), "check", "target", "service", "agent"'
        )
        clean: dict[SeriesKey, set[int]] = {}
        for tags, columns, values in self.client.series(statement):
            row = dict(zip(columns, values, strict=True))
            key = _key(tags)
            interval = max_age(key.target) // 2
            slots = DAY // interval if interval and DAY % interval == 0 else 0
            if slots and row["count"] == slots and row["min"] == 0 and row["max"] == 0:
                clean.setdefault(key, set()).add(int(row["time"]))
        return clean

    # -- pass 2: the rest, sample by sample -------------------------------------------------

    def _assemble(
        self, span: Span, days: Span, clean: dict[SeriesKey, set[int]], max_age: MaxAge
    ) -> dict[SeriesKey, Timeline]:
        all_days = range(days.start, days.end, DAY)
        # Windows read raw: the partial days at both ends for every series, and each day
        # that is not clean for the targets whose series are not clean that day.
        windows: list[tuple[Span, frozenset[str] | None]] = []
        if span.start < days.start:
            windows.append((Span(span.start, days.start), None))
        if days.end < span.end:
            windows.append((Span(days.end, span.end), None))
        by_target: dict[str, list[set[int]]] = {}
        for key, whole in clean.items():
            by_target.setdefault(key.target, []).append(whole)
        for day in all_days:
            dirty = frozenset(
                t for t, series in by_target.items() if any(day not in s for s in series)
            )
            if dirty:
                windows.append((Span(day, day + DAY), dirty))
        observations = self._samples(windows)
        raw = timelines_of(observations, span, max_age)
        self.clean_days = sum(len(days_) for days_ in clean.values())
        self.raw_days = len(all_days) * len(clean) - self.clean_days
        out: dict[SeriesKey, Timeline] = {}
        for key in set(raw) | set(clean):
            whole = clean.get(key, set())
            if not whole:
                out[key] = raw[key]
                continue
            pieces = [part for seg in raw.get(key, []) for part in _outside_clean(seg, whole)]
            pieces += [Segment(day, day + DAY, SlaState.UP) for day in whole]
            out[key] = _stitched(pieces, span)
        return out

    def _samples(self, windows: list[tuple[Span, frozenset[str] | None]]) -> list[Observation]:
        statements = [self._raw_statement(window, only) for window, only in windows]
        observations: list[Observation] = []
        for i in range(0, len(statements), STATEMENTS_PER_REQUEST):
            batch = "; ".join(statements[i : i + STATEMENTS_PER_REQUEST])
            for tags, columns, values in self.client.series(batch):
                row = dict(zip(columns, values, strict=True))
                state = row.get("state")
                if not isinstance(state, int):
                    continue  # a point without a state (another writer's field): no verdict
                key = _key(tags)
                observations.append(
                    Observation(
                        int(row["time"]), key.check, key.target, state, key.service,
                        key.agent, str(row.get("reason") or ""),
                    )
                )  # fmt: skip
        return observations

    def _raw_statement(self, window: Span, only: frozenset[str] | None) -> str:
        where = f"time >= {window.start - self.lookback_s}s AND time < {window.end}s"
        if only:
            where += (
                " AND (" + " OR ".join(f'"target" = {quote_string(t)}' for t in sorted(only)) + ")"
            )
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


def _outside_clean(seg: Segment, clean: set[int]) -> list[Segment]:
    """The parts of a raw segment that fall on days not taken whole."""
    parts = []
    start = seg.start
    while start < seg.end:
        day = start // DAY * DAY
        end = min(seg.end, day + DAY)
        if day not in clean:
            parts.append(Segment(start, end, seg.state, seg.cause))
        start = end
    return parts


def _stitched(pieces: list[Segment], span: Span) -> Timeline:
    """Segments from raw windows and clean days, in order, cut at day boundaries, with the
    holes between them unknown."""
    out: list[Segment] = []
    cursor = span.start
    for seg in sorted(pieces, key=lambda s: s.start):
        start, end = max(seg.start, cursor), min(seg.end, span.end)
        if end <= start:
            continue
        if start > cursor:
            out.append(Segment(cursor, start, SlaState.UNKNOWN))
        out.append(Segment(start, end, seg.state, seg.cause))
        cursor = end
    if cursor < span.end:
        out.append(Segment(cursor, span.end, SlaState.UNKNOWN))
    return coalesce(out)
