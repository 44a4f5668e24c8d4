"""Running the dashboards' and alert rules' queries against InfluxDB, as Grafana would.

No Grafana server runs here, so `netmon dashboards validate --influxdb` and the tests do what
Grafana's InfluxDB datasource does before it sends a raw InfluxQL query:

- ``$timeFilter`` becomes ``time >= now() - <range>s`` (and ``time <= now() - <to>s`` when the
  range ends before now), ``$__interval`` the range divided by the panel's data points, never
  finer than the datasource's minimum interval;
- a variable becomes its value; inside a regex (``=~ /^$site$/``) several values become
  ``(a|b)`` with regex metacharacters escaped, and "All" becomes the variable's ``allValue``
  (``.*``), as Grafana's interpolation for InfluxQL does.

Alert rules go through their expressions as Grafana's alerting does: the query per series,
``reduce`` (last, mean, max, min, with non-numbers dropped), then the ``threshold``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agent.dashboards.variables import ALL


class QueryRunner(Protocol):
    def blocks(
        self, statement: str
    ) -> Iterator[tuple[Mapping[str, str], list[str], list[list[Any]]]]: ...


#: A variable's value: a list of values, or ALL.
Values = Sequence[str] | str

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]")
#: A regex literal follows a regex operator; any other slash is a division.
_REGEX_LITERAL = re.compile(r"(?<=[=!]~)\s*/(?:[^/\\]|\\.)*/")


def _regex_value(values: Values) -> str:
    if values == ALL:
        return ALL
    items = [re.escape(v) for v in values]
    return items[0] if len(items) == 1 else "(" + "|".join(items) + ")"


def _plain_value(values: Values) -> str:
    if values == ALL:
        return ALL
    return ",".join(values)


def interval_of(range_s: int, max_data_points: int = 1000, min_interval_s: int = 60) -> str:
    """Grafana's ``$__interval`` for a range: range / points, at least the minimum, rounded."""
    step = max(range_s / max_data_points, min_interval_s)
    return f"{math.ceil(step)}s"


def interpolate(
    query: str,
    variables: Mapping[str, Values],
    *,
    range_s: int,
    to_s: int = 0,
    interval: str | None = None,
) -> str:
    """`query` with Grafana's macros and the dashboard variables replaced."""
    time_filter = f"time >= now() - {range_s}s"
    if to_s:
        time_filter += f" and time <= now() - {to_s}s"
    builtins: dict[str, str] = {
        "timeFilter": time_filter,
        "__timeFilter": time_filter,
        "__interval": interval or interval_of(range_s - to_s),
    }

    def substitute(text: str, in_regex: bool) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2) or match.group(3)
            if name in builtins:
                return builtins[name]
            if name not in variables:
                raise KeyError(f"variable ${name} has no value (query: {query})")
            value = variables[name]
            return _regex_value(value) if in_regex else _plain_value(value)

        return _VARIABLE.sub(one, text)

    out: list[str] = []
    position = 0
    for literal in _REGEX_LITERAL.finditer(query):
        out.append(substitute(query[position : literal.start()], False))
        out.append(substitute(literal.group(0), True))
        position = literal.end()
    out.append(substitute(query[position:], False))
    return "".join(out)


@dataclass(frozen=True)
class Answer:
    """What a query returned: its series' tags and how many numeric-or-text values."""

    series: list[tuple[dict[str, str], list[str], list[list[Any]]]]

    @property
    def empty(self) -> bool:
        return not any(rows for _tags, _columns, rows in self.series)


def run(client: QueryRunner, statement: str) -> Answer:
    merged: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[str], list[list[Any]]]]
    merged = {}
    # Chunked answers may split one series into several blocks: join them back.
    for tags, columns, rows in client.blocks(statement):
        key = tuple(sorted(tags.items()))
        if key in merged:
            merged[key][2].extend(rows)
        else:
            merged[key] = (dict(tags), list(columns), list(rows))
    return Answer(list(merged.values()))


# --- alert rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """One alert instance: its labels (the series' tags), reduced value, and whether it fires."""

    labels: dict[str, str]
    value: float | None
    firing: bool


def _numbers(columns: list[str], rows: list[list[Any]]) -> list[float]:
    """The first value column's numbers, in time order (Grafana's dropNN drops the rest)."""
    index = 1 if columns and columns[0] == "time" else 0
    out: list[float] = []
    for row in rows:
        value = row[index] if index < len(row) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out.append(float(value))
    return out


def reduce(reducer: str, values: list[float]) -> float | None:
    if not values:
        return None
    if reducer == "last":
        return values[-1]
    if reducer == "mean":
        return sum(values) / len(values)
    if reducer == "max":
        return max(values)
    if reducer == "min":
        return min(values)
    if reducer == "sum":
        return sum(values)
    raise ValueError(f"reducer {reducer!r} is not one the rules use")


def _threshold(model: Mapping[str, Any]) -> tuple[str, float]:
    evaluator = model["conditions"][0]["evaluator"]
    return str(evaluator["type"]), float(evaluator["params"][0])


def _holds(op: str, limit: float, value: float) -> bool:
    if op == "gt":
        return value > limit
    if op == "lt":
        return value < limit
    raise ValueError(f"threshold {op!r} is not one the rules use")


@dataclass(frozen=True)
class RuleResult:
    uid: str
    statement: str
    instances: list[Instance]
    #: What Grafana does with an empty answer for this rule ("OK" or "Alerting").
    no_data: str

    @property
    def firing(self) -> list[Instance]:
        return [i for i in self.instances if i.firing]

    @property
    def fires(self) -> bool:
        return bool(self.firing) or (not self.instances and self.no_data == "Alerting")


def evaluate_rule(client: QueryRunner, rule: Mapping[str, Any]) -> RuleResult:
    """One provisioned rule (its file-provisioning dict), evaluated now on `client`'s data."""
    by_ref = {step["refId"]: step for step in rule["data"]}
    query_step = by_ref["A"]
    time_range = query_step["relativeTimeRange"]
    interval_ms = int(query_step["model"].get("intervalMs", 60000))
    statement = interpolate(
        query_step["model"]["query"],
        {},
        range_s=int(time_range["from"]),
        to_s=int(time_range["to"]),
        interval=f"{interval_ms // 1000}s",
    )
    reduce_model = by_ref["B"]["model"]
    op, limit = _threshold(by_ref[rule["condition"]]["model"])
    instances: list[Instance] = []
    for tags, columns, rows in run(client, statement).series:
        value = reduce(str(reduce_model["reducer"]), _numbers(columns, rows))
        firing = value is not None and _holds(op, limit, value)
        instances.append(Instance(tags, value, firing))
    return RuleResult(str(rule["uid"]), statement, instances, str(rule["noDataState"]))
