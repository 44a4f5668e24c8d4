"""Turning walked table columns into rows: index tags, label cache, enums, lookups.

Pure functions over already-converted values, so they are tested without a device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.samples import FieldValue, Sample
from collectors.snmp.profiles import Column, Oid, Table

#: Converts one raw SNMP value for a column; None when the value is unusable (counted there).
Convert = Callable[[Column, Any], FieldValue | None]
#: index → column name → value
Rows = dict[Oid, dict[str, FieldValue]]


@dataclass
class TableRows:
    """One table's rows for one poll, before they become samples."""

    table: Table
    rows: Rows = field(default_factory=dict)
    bad_indexes: int = 0  # rows whose index does not have the declared parts


def collect_rows(
    table: Table,
    walked: Mapping[Oid, Mapping[Oid, Any]],
    labels: Mapping[Oid, Mapping[str, FieldValue]],
    convert: Convert,
) -> TableRows:
    """The table's rows from this poll's walk, slow columns taken from `labels` when not walked.

    A row exists when a walked column has it (or, for a table of label columns only, when the
    label cache has it). A fallback column is used only where its preferred column is missing.
    """
    walked_columns = [c for c in _with_fallbacks(table) if c.oid in walked]
    indexes: set[Oid] = set()
    for column in walked_columns:
        indexes.update(walked[column.oid])
    if not walked_columns:
        indexes.update(labels)
    result = TableRows(table)
    preferred = {c.fallback.name: c for c in table.columns if c.fallback is not None}
    for index in sorted(indexes):
        values: dict[str, FieldValue] = dict(labels.get(index, {}))
        for column in walked_columns:
            raw = walked[column.oid].get(index)
            if raw is None:
                continue
            better = preferred.get(column.name)
            if better is not None and index in walked.get(better.oid, {}):
                continue  # the 64-bit counter of this row is there: HC preferred
            value = convert(column, raw)
            if value is not None:
                values[column.name] = value
        result.rows[index] = values
    return result


def _with_fallbacks(table: Table) -> list[Column]:
    columns = list(table.columns)
    columns.extend(c.fallback for c in table.columns if c.fallback is not None)
    return columns


def slow_values(table: Table, rows: Rows) -> dict[Oid, dict[str, FieldValue]]:
    """The label columns' values of `rows`, to keep until the next label refresh."""
    slow = {c.name for c in _with_fallbacks(table) if c.slow}
    return {
        index: {name: value for name, value in values.items() if name in slow}
        for index, values in rows.items()
    }


def apply_lookups(tables: Mapping[str, TableRows]) -> None:
    """Fill every table's lookup tags from the table they name (e.g. LLDP's local port names)."""
    for current in tables.values():
        for tag, lookup in current.table.lookups.items():
            source = tables.get(lookup.table)
            if source is None:
                continue
            for index, values in current.rows.items():
                labels = current.table.index_labels(index) or {}
                key = labels.get(lookup.by)
                if key is None or not key.isdigit():
                    continue
                found = source.rows.get((int(key),), {}).get(lookup.column)
                if found is not None:
                    values[tag] = found


def to_samples(
    current: TableRows, base_tags: Mapping[str, str], timestamp: int
) -> tuple[list[Sample], int]:
    """Samples of an emitted table; also how many rows had an index of the wrong shape."""
    table = current.table
    tag_columns = {c.name: c for c in table.columns if c.tag}
    tag_names = set(tag_columns) | set(table.lookups)
    samples = []
    bad = 0
    for index, values in current.rows.items():
        index_tags = table.index_labels(index)
        if index_tags is None:
            bad += 1
            continue
        tags = {**base_tags, **index_tags}
        fields: dict[str, FieldValue] = {}
        for name, value in values.items():
            if name in tag_names:
                tags[name] = tag_text(tag_columns.get(name), value)
            else:
                fields[name] = value
        if fields:
            samples.append(Sample(table.measurement, tags, fields, timestamp))
    return samples, bad


def tag_text(column: Column | None, value: FieldValue) -> str:
    """A tag's text: an enumerated value by its name (the number when the MIB has no name)."""
    if column is not None and column.enum and not isinstance(value, float):
        try:
            return column.enum.get(int(value), str(value))
        except ValueError:
            pass
    return str(value)
