"""Panel builders shared by the dashboards: Vietnamese titles, English descriptions.

Each helper takes the panel's InfluxQL target(s) and returns an SDK builder; layout (width and
height in grid units of 24 columns) is given by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import bargauge, geomap, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as gm

from agent.dashboards.query import InfluxQLTarget

#: agent.availability.State as operators read it.
STATE_NAMES = {0: ("Hoạt động", "green"), 1: ("Suy giảm", "orange"), 2: ("Mất kết nối", "red")}


def state_mappings() -> list[dm.ValueMapping]:
    options = {
        str(value): dm.ValueMappingResult(text=text, color=color, index=value)
        for value, (text, color) in STATE_NAMES.items()
    }
    return [dm.ValueMap(options=options)]


def enum_mappings(
    names: Mapping[int, str], colours: Mapping[int, str] | None = None
) -> list[dm.ValueMapping]:
    """A MIB enumeration (schema registry `Measurement.enums`) as a value mapping."""
    colours = colours or {}
    options = {
        str(value): dm.ValueMappingResult(text=text, color=colours.get(value), index=i)
        for i, (value, text) in enumerate(sorted(names.items()))
    }
    return [dm.ValueMap(options=options)]


def steps(base: str, *levels: tuple[float, str]) -> db.ThresholdsConfig:
    """Absolute thresholds: `base` colour below the first level."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(None, base), *(dm.Threshold(v, c) for v, c in levels)])
    )


def state_grid(
    title: str,
    description: str,
    targets: Sequence[InfluxQLTarget],
    *,
    width: int = 24,
    height: int = 12,
) -> stat.Panel:
    """One coloured tile per series, named by it, showing its state's name."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .targets(list(targets))
        .mappings(state_mappings())
        .thresholds(steps("green", (1, "orange"), (2, "red")))
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .no_value("Không có dữ liệu")
    )
    panel.span(width).height(height)
    return panel


def trend(
    title: str,
    description: str,
    targets: Sequence[InfluxQLTarget],
    *,
    unit: str = "none",
    width: int = 12,
    height: int = 8,
    minimum: float | None = None,
    maximum: float | None = None,
    thresholds: db.ThresholdsConfig | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .targets(list(targets))
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            cb.VizLegendOptions()
            .display_mode(cm.LegendDisplayMode.TABLE)
            .placement(cm.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
    )
    if minimum is not None:
        panel.min(minimum)
    if maximum is not None:
        panel.max(maximum)
    if thresholds is not None:
        # Drawn as dashed lines: off by default in Grafana, and invisible thresholds mislead.
        panel.thresholds(thresholds).thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        )
    panel.span(width).height(height)
    return panel


def timeline(
    title: str,
    description: str,
    targets: Sequence[InfluxQLTarget],
    *,
    width: int = 24,
    height: int = 10,
    mappings: list[dm.ValueMapping] | None = None,
) -> statetimeline.Panel:
    panel = (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .targets(list(targets))
        .mappings(mappings if mappings is not None else state_mappings())
        .thresholds(steps("green", (1, "orange"), (2, "red")))
        .merge_values(True)
        .show_value(cm.VisibilityMode.NEVER)
    )
    panel.span(width).height(height)
    return panel


@dataclass(frozen=True)
class Column:
    """How a table shows the columns whose name matches `pattern` (a regex)."""

    pattern: str
    mappings: list[dm.ValueMapping] | None = None
    thresholds: db.ThresholdsConfig | None = None
    unit: str = ""
    #: Colour the cell's background by its mapping or threshold colour.
    coloured: bool = True


def _column_properties(column: Column) -> list[dm.DynamicConfigValue]:
    properties: list[dm.DynamicConfigValue] = []
    if column.mappings is not None:
        properties.append(dm.DynamicConfigValue("mappings", column.mappings))
    if column.thresholds is not None:
        properties.append(dm.DynamicConfigValue("thresholds", column.thresholds.build()))
    if column.unit:
        properties.append(dm.DynamicConfigValue("unit", column.unit))
    if column.coloured and (column.mappings is not None or column.thresholds is not None):
        properties.append(dm.DynamicConfigValue("custom.cellOptions", {"type": "color-background"}))
    return properties


def listing(
    title: str,
    description: str,
    targets: Sequence[InfluxQLTarget],
    *,
    width: int = 24,
    height: int = 10,
    columns: Sequence[Column] = (),
    order: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    show_time: bool = False,
) -> table.Panel:
    """A table of the query's rows (the query's result format is ``table``).

    Styles apply per column (`columns`), never to the whole table: a state mapping must not
    turn a count of failures into "Suy giảm". InfluxDB's tag columns come in no fixed order
    (Grafana reads them from a Go map), so `order` fixes it and `headers` renames them.
    The ``Time`` column is hidden unless `show_time`: with several selectors (``last(a),
    last(b)``) InfluxDB answers the start of the range, not a sample's time.
    """
    panel = (
        table.Panel().title(title).description(description).targets(list(targets)).filterable(True)
    )
    for column in columns:
        panel.override_by_regexp(column.pattern, _column_properties(column))
    if order or headers:
        options: dict[str, object] = {"excludeByName": {"Time": not show_time}}
        if order:
            options["indexByName"] = {name: i for i, name in enumerate(order)}
        if headers:
            options["renameByName"] = dict(headers)
        panel.with_transformation(dm.DataTransformerConfig(id_val="organize", options=options))
    panel.span(width).height(height)
    return panel


#: Series names ending in a state word, coloured as the state (bar gauges of counts).
STATE_COLOURS = (
    ("green", ".*(Hoạt động|Sẵn sàng)$"),
    ("orange", ".*Suy giảm$"),
    ("red", ".*(Mất kết nối|Không sẵn sàng)$"),
)


def colour_by_state_name(panel: bargauge.Panel) -> bargauge.Panel:
    for colour, pattern in STATE_COLOURS:
        panel.override_by_regexp(
            pattern, [dm.DynamicConfigValue("color", {"mode": "fixed", "fixedColor": colour})]
        )
    return panel


def second_axis(panel: timeseries.Panel, pattern: str, unit: str, **limits: float) -> None:
    """Series matching `pattern` in their own `unit` on a right-hand axis."""
    properties = [
        dm.DynamicConfigValue("unit", unit),
        dm.DynamicConfigValue("custom.axisPlacement", "right"),
    ]
    properties += [dm.DynamicConfigValue(key, value) for key, value in sorted(limits.items())]
    panel.override_by_regexp(pattern, properties)


def bars(
    title: str,
    description: str,
    targets: Sequence[InfluxQLTarget],
    *,
    unit: str = "percent",
    thresholds: db.ThresholdsConfig | None = None,
    width: int = 12,
    height: int = 10,
    minimum: float = 0,
    maximum: float = 100,
) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(title)
        .description(description)
        .targets(list(targets))
        .unit(unit)
        .min(minimum)
        .max(maximum)
        .thresholds(thresholds or steps("green"))
        .display_mode(cm.BarGaugeDisplayMode.LCD)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    panel.span(width).height(height)
    return panel


def site_map(
    title: str,
    description: str,
    targets: Sequence[InfluxQLTarget],
    *,
    gazetteer: str,
    basemap_url: str,
    basemap_attribution: str,
    width: int = 24,
    height: int = 14,
) -> geomap.Panel:
    """Sites as markers coloured by state, placed by looking their code up in `gazetteer`.

    With `basemap_url` set (an XYZ tile server inside the province's network) the map needs no
    Internet; without it Grafana's default OpenStreetMap basemap is used.
    """
    if basemap_url:
        basemap = (
            cb.MapLayerOptions()
            .type("xyz")
            .name("Bản đồ nền nội bộ")
            .config({"url": basemap_url, "attribution": basemap_attribution})
        )
    else:
        basemap = cb.MapLayerOptions().type("osm-standard").name("OpenStreetMap")
    markers = (
        cb.MapLayerOptions()
        .type("markers")
        .name("Điểm kết nối")
        .location(
            cb.FrameGeometrySource()
            .mode(cm.FrameGeometrySourceMode.LOOKUP)
            .lookup("site")
            .gazetteer(gazetteer)
        )
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "state", "fixed": "dark-green"},
                    "size": {"fixed": 6},
                    "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                },
            }
        )
    )
    panel = (
        geomap.Panel()
        .title(title)
        .description(description)
        .targets(list(targets))
        .mappings(state_mappings())
        .thresholds(steps("green", (1, "orange"), (2, "red")))
        .view(geomap.MapViewConfig().id("fit"))
        .tooltip(geomap.TooltipOptions().mode(gm.TooltipMode.DETAILS))
        .basemap(basemap)
        .layers([markers])
    )
    panel.span(width).height(height)
    return panel
