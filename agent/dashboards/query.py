"""InfluxQL panel queries: the SDK dataquery, the variables' filters, and the schema check.

grafana-foundation-sdk 11.6 ships no InfluxDB query model, so `InfluxQL` is ours: a raw
InfluxQL query as Grafana's InfluxDB datasource stores it (``rawQuery: true``), always with the
``${datasource}`` variable as its datasource, never a hard-coded uid. It is registered with the
SDK's runtime, so `Dashboard.from_json` reads our targets back as `InfluxQL`.

Queries quote every identifier (``"site"``) and only identifiers, so `references` can check a
query against the schema registry by reading its text: what follows ``FROM`` is a measurement,
what is grouped by is a tag, every other quoted name is a field or tag of the query's
measurements (or an ``AS`` alias of an inner query).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants

from agent.schema import INVENTORY_TAGS, SchemaRegistry

DATASOURCE_TYPE = "influxdb"
#: Every panel's datasource: the dashboard's `datasource` variable (STYLE: no hard-coded uid).
DATASOURCE_REF = {"type": DATASOURCE_TYPE, "uid": "${datasource}"}

#: Which variable narrows which tag, in the chain level → district → site → device / service.
VARIABLE_OF_TAG = {
    "level": "level",
    "district": "district",
    "site": "site",
    "source": "device",
    "service": "service",
    "department": "department",
    "agent": "agent",
}


class InfluxQL(cogvariants.Dataquery):
    """One raw InfluxQL target of a panel."""

    def __init__(
        self,
        ref_id: str,
        query: str,
        *,
        result_format: str = "time_series",
        alias: str = "",
        datasource: dict[str, str] | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.datasource = dict(datasource or DATASOURCE_REF)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": dict(self.datasource),
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias:
            out["alias"] = self.alias
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(
            str(data.get("refId", "")),
            str(data.get("query", "")),
            result_format=str(data.get("resultFormat", "time_series")),
            alias=str(data.get("alias", "")),
            datasource=data.get("datasource"),
        )


class InfluxQLTarget(cogbuilder.Builder[cogvariants.Dataquery]):
    """The SDK builder for `InfluxQL`, so panels take it with ``with_target``."""

    def __init__(self, query: InfluxQL) -> None:
        self._query = query

    def build(self) -> cogvariants.Dataquery:
        return self._query


cogruntime.register_dataquery_variant(
    cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE, from_json_hook=InfluxQL.from_json)
)


def target(
    query: str, ref_id: str = "A", *, table: bool = False, alias: str = ""
) -> InfluxQLTarget:
    return InfluxQLTarget(
        InfluxQL(ref_id, query, result_format="table" if table else "time_series", alias=alias)
    )


def scope(*tags: str, extra: Iterable[str] = ()) -> str:
    """``$timeFilter`` and the variables' regex filters on `tags`, as a WHERE clause body."""
    parts = ["$timeFilter"]
    parts += [f'"{tag}" =~ /^${VARIABLE_OF_TAG[tag]}$/' for tag in tags]
    parts += list(extra)
    return " AND ".join(parts)


def quote_literal(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- reading a query's references back ----------------------------------------------------

_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
#: A regex literal follows a regex operator; any other slash is a division.
_REGEX = re.compile(r"(?<=[=!]~)(\s*)/(?:[^/\\]|\\.)*/")
_IDENT = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FROM = re.compile(r'\bFROM\s+"((?:[^"\\]|\\.)*)"', re.IGNORECASE)
_ALIAS = re.compile(r'\bAS\s+"((?:[^"\\]|\\.)*)"', re.IGNORECASE)
_GROUP_BY = re.compile(r"\bGROUP\s+BY\b(.*?)(?=\)|\bfill\b|\bORDER\b|\bLIMIT\b|$)", re.I | re.S)


@dataclass
class References:
    """What a query names: measurements, group-by tags and other identifiers."""

    measurements: set[str] = field(default_factory=set)
    grouped: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)


def references(query: str) -> References:
    # Literals and regexes first: a quote inside them is not an identifier.
    text = _REGEX.sub(r"\1//", _STRING.sub("''", query))
    refs = References()
    refs.measurements = set(_FROM.findall(text))
    refs.aliases = set(_ALIAS.findall(text))
    for clause in _GROUP_BY.findall(text):
        refs.grouped |= set(_IDENT.findall(clause))
    refs.names = set(_IDENT.findall(text)) - refs.measurements
    return refs


def undeclared(query: str, schema: SchemaRegistry) -> list[str]:
    """What `query` names that the schema registry does not declare (empty when all is)."""
    refs = references(query)
    problems: list[str] = []
    tags: set[str] = set(INVENTORY_TAGS)
    fields: set[str] = set()
    if not refs.measurements:
        problems.append("no measurement (a query reads FROM a quoted measurement)")
    for name in sorted(refs.measurements):
        measurement = schema.get(name)
        if measurement is None:
            problems.append(f"undeclared measurement {name!r}")
            continue
        tags |= measurement.tags
        fields |= set(measurement.fields)
    for tag in sorted(refs.grouped - tags - refs.aliases):
        problems.append(f"GROUP BY {tag!r}: not a tag of {sorted(refs.measurements)}")
    for name in sorted(refs.names - refs.grouped - tags - fields - refs.aliases):
        problems.append(f"{name!r}: neither a field nor a tag of {sorted(refs.measurements)}")
    return problems
