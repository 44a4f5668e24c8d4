"""Dashboard annotations from InfluxQL: configuration changes as markers on every time panel.

grafana-foundation-sdk 11.6 types an annotation's ``target`` as `AnnotationTarget`, the shape
of Grafana's own annotation store (``limit``, ``matchAny``, ``tags``, ``type``; the SDK's
comment: "this should just be a normal query target"). Grafana's InfluxDB datasource keeps
its InfluxQL annotation in that same ``target``, extended with the query: its
``prepareAnnotation`` (public/app/plugins/datasource/influxdb/migrations.ts) leaves a target
that has a ``query`` as it is and sends it, flagged ``fromAnnotations``, to
``annotationEvents``, which runs the raw InfluxQL (``$timeFilter`` and the dashboard's
variables interpolated) and reads each row as one event (response_parser.ts
``transformAnnotationResponse``):

- ``textColumn``: the event's text, from the column whose name contains it;
- ``tagsColumn``: comma-separated names; each matching column's value is split on commas into
  tags, so these columns must hold strings (a number there fails the whole annotation);
- ``titleColumn``: the title, shown above the text. A column none of the three claims becomes
  the title when none is set, and the time would be the title when no column is left.

`InfluxQLAnnotationTarget` is that target: the SDK's four keys (for the Grafana datasource,
unused by InfluxDB, kept so the SDK model reads the annotation) and the InfluxQL ones.
InfluxQL has no string functions, so the text cannot be composed ("+12 −3, commit …") by the
query; each part is a column of its own.
"""

from __future__ import annotations

from typing import Any, Self

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as dm

from agent.dashboards.query import DATASOURCE_REF, DATASOURCE_TYPE, scope

#: The keys the InfluxDB datasource adds to the SDK's `AnnotationTarget` (11.6).
INFLUXQL_KEYS = (
    "refId",
    "query",
    "rawQuery",
    "fromAnnotations",
    "queryType",
    "textColumn",
    "tagsColumn",
    "titleColumn",
    "timeEndColumn",
)


class InfluxQLAnnotationTarget(dm.AnnotationTarget):
    """An annotation's raw InfluxQL query and how its columns become the events' parts."""

    def __init__(
        self,
        query: str = "",
        *,
        text_column: str = "",
        tags_column: str = "",
        title_column: str = "",
        ref_id: str = "Anno",
    ) -> None:
        super().__init__()
        self.ref_id = ref_id
        self.query = query
        self.text_column = text_column
        self.tags_column = tags_column
        self.title_column = title_column

    def to_json(self) -> dict[str, object]:
        out = super().to_json()
        out.update(
            {
                "refId": self.ref_id,
                "query": self.query,
                "rawQuery": True,
                "fromAnnotations": True,
                "queryType": "tags",
                "textColumn": self.text_column,
                "tagsColumn": self.tags_column,
                "titleColumn": self.title_column,
                "timeEndColumn": "",
            }
        )
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(
            str(data.get("query", "")),
            text_column=str(data.get("textColumn", "")),
            tags_column=str(data.get("tagsColumn", "")),
            title_column=str(data.get("titleColumn", "")),
            ref_id=str(data.get("refId", "Anno")),
        )


class _Target(cogbuilder.Builder[dm.AnnotationTarget]):
    def __init__(self, target: InfluxQLAnnotationTarget) -> None:
        self._target = target

    def build(self) -> dm.AnnotationTarget:
        return self._target


def influxql_annotation(
    name: str,
    target: InfluxQLAnnotationTarget,
    *,
    colour: str,
    enabled: bool = True,
) -> db.AnnotationQuery:
    """An annotation on the dashboard's ``${datasource}`` (never a fixed uid)."""
    return (
        db.AnnotationQuery()
        .name(name)
        .datasource(dm.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_REF["uid"]))
        .enable(enabled)
        .hide(False)
        .icon_color(colour)
        .target(_Target(target))
    )


CONFIG_CHANGES = "Thay đổi cấu hình"


def config_changes(
    *tags: str, extra: tuple[str, ...] = (), enabled: bool = True
) -> db.AnnotationQuery:
    """Every commit of the configuration backups (measurement ``config_change``) in range,
    narrowed by the variables of `tags` as the dashboard's panels are.

    The event reads "<commit><br/>Cấu hình thay đổi: +N −M dòng" with the device as its tag:
    the title is the commit id, the text the sample's ``summary`` (InfluxQL cannot join
    strings, so the agent writes the sentence). The device is selected as a column, not
    grouped by: with a GROUP BY the datasource lists each series' columns again and the text
    index would point past a row's end.
    """
    where = scope(*tags, extra=extra)
    # InfluxQL from constants and Grafana's $variables only.
    query = f'SELECT "commit", "summary", "source" FROM "config_change" WHERE {where}'  # noqa: S608
    target = InfluxQLAnnotationTarget(
        query, text_column="summary", tags_column="source", title_column="commit"
    )
    return influxql_annotation(CONFIG_CHANGES, target, colour="purple", enabled=enabled)
