"""Panel builders shared by the dashboards: Vietnamese titles, English descriptions.

Each helper takes the panel's InfluxQL target(s) and returns an SDK builder; layout (width and
height in grid units of 24 columns) is given by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grafana_foundation_sdk.builders import bargauge, geomap, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from agent.dashboards.query import InfluxQLTarget

#: agent.availability.State as operators read it.
STATE_NAMES = {0: ("Hoạt động", "green"), 1: ("Suy giảm", "orange"), 2: ("Mất kết nối", "red")}


def state_mappings() -> list[dm.ValueMapping]:
    options = {
        str(value): dm.ValueMappingResult(text=text, color=color, index=value)
        for value, (text, color) in STATE_NAMES.items()
    }
    return [dm.ValueMap(options=options)]


def enum_mappings(names: Mapping[int, str]) -> list[dm.ValueMapping]:
    """A MIB enumeration (schema registry `Measurement.enums`) as a value mapping."""
    options = {
        str(value): dm.ValueMappingResult(text=text, index=i)
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


def _place(panel: db.Panel, width: int, height: int) -> None:
    panel.span(width).height(height)


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


def big_number(
    title: str,
    description: str,
    targets: Sequence[InfluxQLTarget],
    *,
    unit: str = "none",
    thresholds: db.ThresholdsConfig | None = None,
    width: int = 6,
    height: int = 4,
    calc: str = "lastNotNull",
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .targets(list(targets))
        .unit(unit)
        .thresholds(thresholds or steps("blue"))
        .color_mode(cm.BigValueColorMode.VALUE)
        .graph_mode(cm.BigValueGraphMode.AREA)
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(cb.ReduceDataOptions().calcs([calc]).values(False))
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
        panel.thresholds(thresholds)
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


def listing(
    title: str,
    description: str,
    targets: Sequence[InfluxQLTarget],
    *,
    width: int = 24,
    height: int = 10,
    unit: str = "none",
    mappings: list[dm.ValueMapping] | None = None,
    thresholds: db.ThresholdsConfig | None = None,
) -> table.Panel:
    """A table of the query's rows (the query's result format is ``table``)."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .targets(list(targets))
        .unit(unit)
        .filterable(True)
    )
    if mappings is not None:
        panel.mappings(mappings)
    if thresholds is not None:
        panel.thresholds(thresholds).display_mode(cm.TableCellDisplayMode.COLOR_BACKGROUND)
    panel.span(width).height(height)
    return panel


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
        .basemap(basemap)
        .layers([markers])
    )
    panel.span(width).height(height)
    return panel


def text_row(title: str) -> db.Row:
    return db.Row(title)
