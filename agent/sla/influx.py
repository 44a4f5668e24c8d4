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
from agent.sla.timeline import Span, Timeline

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


class InfluxHistory:
    """agent.sla.history.History over InfluxDB's `availability` and `lldp` measurements."""

    def __init__(self, client: InfluxClient, lookback_s: int) -> None:
        self.client = client
        self.lookback_s = lookback_s

    def timelines(self, span: Span, max_age: MaxAge) -> dict[SeriesKey, Timeline]:
        statement = (
            'SELECT "state", "reason" FROM "availability" '
            f"WHERE time >= {span.start - self.lookback_s}s AND time < {span.end}s "
            'GROUP BY "check", "target", "service", "agent"'
        )
        observations = []
        for tags, columns, values in self.client.series(statement):
            row = dict(zip(columns, values, strict=True))
            state = row.get("state")
            if not isinstance(state, int):
                continue  # a point without a state (another writer's field): not a verdict
            observations.append(
                Observation(
                    time=int(row["time"]),
                    check=tags.get("check", ""),
                    target=tags.get("target", ""),
                    state=state,
                    service=tags.get("service", ""),
                    agent=tags.get("agent", ""),
                    reason=str(row.get("reason") or ""),
                )
            )
        return timelines_of(observations, span, max_age)

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
