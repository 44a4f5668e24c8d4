"""`netmon dashboards validate`: the built files checked without a Grafana server.

Offline (`check_directory`):
- the files are what the generator builds now (nothing stale, nothing edited by hand);
- every dashboard round-trips through grafana-foundation-sdk's models for the Grafana version
  we target: `Dashboard.from_json(d).to_json() == d`, so Grafana's schema knows every key;
- uids are unique across dashboards, panel ids unique within one;
- no datasource is named by uid: panels, targets and variables use ``${datasource}``;
- every query (panels', variables' and annotations') names only measurements, fields and tags
  that the schema registry declares.

Against InfluxDB (`run_dashboard`): every panel's queries, with the variables set to real
values (agent.dashboards.evaluate), must return series.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

import agent.dashboards.query  # noqa: F401  (registers the InfluxQL dataquery with the SDK)
from agent.dashboards.annotations import INFLUXQL_KEYS, InfluxQLAnnotationTarget
from agent.dashboards.build import MANIFEST, Built
from agent.dashboards.evaluate import QueryRunner, Values, interpolate, run
from agent.dashboards.query import DATASOURCE_REF, undeclared
from agent.dashboards.variables import ALL
from agent.schema import SchemaRegistry


def round_trip_problems(data: Mapping[str, Any]) -> list[str]:
    """Keys or values the SDK's models lose or change (empty when the round trip is exact).

    An annotation's InfluxQL keys are read by our `InfluxQLAnnotationTarget`, not the SDK's
    `AnnotationTarget` (it knows only the Grafana datasource's keys): they are checked
    against that model, the rest of the annotation against the SDK's.
    """
    data, targets = _split_annotation_targets(data)
    model = Dashboard.from_json(dict(data))
    again = json.loads(json.dumps(model, cls=JSONEncoder, sort_keys=True))
    problems = [f"{path}: {detail}" for path, detail in _differences(data, again, "")]
    for where, target in targets:
        read = json.loads(json.dumps(InfluxQLAnnotationTarget.from_json(dict(target)).to_json()))
        problems += [f"{where}.{path}: {detail}" for path, detail in _differences(target, read, "")]
    return problems


def _split_annotation_targets(
    data: Mapping[str, Any],
) -> tuple[dict[str, Any], list[tuple[str, Mapping[str, Any]]]]:
    """`data` with its annotations' InfluxQL keys taken out, and those targets by position."""
    copy = json.loads(json.dumps(data))
    targets: list[tuple[str, Mapping[str, Any]]] = []
    for index, annotation in enumerate(copy.get("annotations", {}).get("list", [])):
        target = annotation.get("target")
        if isinstance(target, dict) and "query" in target:
            targets.append((f"annotations.list[{index}].target", dict(target)))
            for key in INFLUXQL_KEYS:
                target.pop(key, None)
    return copy, targets


def _differences(before: Any, after: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            where = f"{path}.{key}" if path else str(key)
            if key not in after:
                yield where, "dropped by the SDK model (unknown to Grafana's schema)"
            elif key not in before:
                yield where, f"added by the SDK model as {after[key]!r}"
            else:
                yield from _differences(before[key], after[key], where)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            yield from _differences(b, a, f"{path}[{index}]")
    elif before != after:
        yield path, f"{before!r} became {after!r}"


@dataclass(frozen=True)
class Query:
    """One query of a dashboard: where it is, and its InfluxQL."""

    dashboard: str
    panel: str  # panel title, or "variable <name>"
    ref_id: str
    text: str


def queries(data: Mapping[str, Any]) -> list[Query]:
    uid = str(data.get("uid", "?"))
    found: list[Query] = []
    for variable in data.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            found.append(Query(uid, f"variable {variable['name']}", "", str(variable["query"])))
    for panel in data.get("panels", []):
        for target in panel.get("targets", []):
            found.append(Query(uid, str(panel.get("title")), target["refId"], target["query"]))
    for annotation in annotation_queries(data):
        target = annotation["target"]
        found.append(
            Query(uid, f"annotation {annotation['name']}", target["refId"], target["query"])
        )
    return found


def annotation_queries(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The dashboard's annotations that run an InfluxQL query (not Grafana's own store)."""
    return [
        annotation
        for annotation in data.get("annotations", {}).get("list", [])
        if isinstance(annotation.get("target"), Mapping) and "query" in annotation["target"]
    ]


def _datasource_problems(data: Mapping[str, Any]) -> Iterator[str]:
    def check(where: str, ref: Any) -> Iterator[str]:
        if ref is not None and ref != DATASOURCE_REF:
            yield f"{where}: datasource {ref!r} is not the ${{datasource}} variable"

    for variable in data.get("templating", {}).get("list", []):
        yield from check(f"variable {variable.get('name')}", variable.get("datasource"))
    for annotation in data.get("annotations", {}).get("list", []):
        yield from check(f"annotation {annotation.get('name')!r}", annotation.get("datasource"))
    for panel in data.get("panels", []):
        yield from check(f"panel {panel.get('title')!r}", panel.get("datasource"))
        for target in panel.get("targets", []):
            yield from check(
                f"panel {panel.get('title')!r} {target.get('refId')}", target.get("datasource")
            )


def dashboard_problems(data: Mapping[str, Any], schema: SchemaRegistry) -> list[str]:
    problems = [f"round trip: {p}" for p in round_trip_problems(data)]
    problems += list(_datasource_problems(data))
    ids = [panel.get("id") for panel in data.get("panels", [])]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"panel ids missing or repeated: {ids}")
    for query in queries(data):
        problems += [
            f"{query.panel} {query.ref_id}: {problem}".replace("  ", " ")
            for problem in undeclared(query.text, schema)
        ]
    return problems


def check_directory(directory: Path, expected: Built, schema: SchemaRegistry) -> list[str]:
    """Every problem of the built directory (empty when it is sound and current)."""
    problems: list[str] = []
    for relative, text in sorted(expected.files.items()):
        path = directory / relative
        if not path.exists():
            problems.append(f"{path}: missing (run `netmon dashboards build`)")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from what the generator builds now (stale or edited)")
    manifest = json.loads(expected.files[MANIFEST])
    uids = [entry["uid"] for entry in manifest["dashboards"]]
    if len(uids) != len(set(uids)):
        problems.append(f"dashboard uids repeat: {uids}")
    for entry in manifest["dashboards"]:
        data = json.loads(expected.files[entry["file"]])
        problems += [f"{entry['file']}: {p}" for p in dashboard_problems(data, schema)]
    return problems


# --- against InfluxDB ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    query: Query
    statement: str
    series: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.series > 0


def _range_s(data: Mapping[str, Any], panel: Mapping[str, Any]) -> int:
    """The panel's own relative time (``timeFrom``) or the dashboard's default range."""
    text = str(panel.get("timeFrom") or data.get("time", {}).get("from", "now-6h"))
    text = text.removeprefix("now-")
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(text[:-1]) * units[text[-1]]


def all_values(data: Mapping[str, Any]) -> dict[str, Values]:
    """Every variable of the dashboard set to "All" (``.*``)."""
    return {
        str(v["name"]): ALL
        for v in data.get("templating", {}).get("list", [])
        if v.get("type") == "query"
    }


def _has_values(columns: list[str], rows: list[list[Any]]) -> bool:
    """Whether any row holds a value: InfluxDB answers arithmetic on no data with nulls."""
    skip = 1 if columns and columns[0] == "time" else 0
    return any(value is not None for row in rows for value in row[skip:])


def default_values(data: Mapping[str, Any]) -> dict[str, Values]:
    """Every variable as the dashboard opens: its saved `current` value, else "All"."""
    values = all_values(data)
    for variable in data.get("templating", {}).get("list", []):
        current = (variable.get("current") or {}).get("value")
        if variable.get("type") == "query" and current not in (None, "$__all", ["$__all"]):
            values[str(variable["name"])] = [current] if isinstance(current, str) else current
    return values


def run_dashboard(
    client: QueryRunner,
    data: Mapping[str, Any],
    variables: Mapping[str, Values] | None = None,
    *,
    range_s: int | None = None,
) -> list[Outcome]:
    """Run every panel query of `data` with `variables` (default: all "All")."""
    values = dict(all_values(data))
    values.update(variables or {})
    outcomes: list[Outcome] = []
    for panel in data.get("panels", []):
        span = range_s or _range_s(data, panel)
        for target in panel.get("targets", []):
            query = Query(str(data.get("uid")), str(panel.get("title")), target["refId"], "")
            statement = interpolate(target["query"], values, range_s=span)
            try:
                answer = run(client, statement)
            except Exception as exc:  # reported per query: the run goes on
                outcomes.append(Outcome(query, statement, 0, str(exc)))
                continue
            series = sum(1 for _t, columns, rows in answer.series if _has_values(columns, rows))
            outcomes.append(Outcome(query, statement, series))
    return outcomes


def variable_values(
    client: QueryRunner, data: Mapping[str, Any], chosen: Mapping[str, Values]
) -> dict[str, list[str]]:
    """Each query variable's options given the `chosen` values of the ones before it."""
    values = dict(all_values(data))
    values.update(chosen)
    options: dict[str, list[str]] = {}
    for variable in data.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        statement = interpolate(str(variable["query"]), values, range_s=3600)
        options[str(variable["name"])] = sorted(
            str(row[-1]) for _tags, _columns, rows in run(client, statement).series for row in rows
        )
    return options
