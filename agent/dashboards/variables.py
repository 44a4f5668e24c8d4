"""The dashboards' template variables: the datasource, then level → district → site → device.

Each variable's query narrows by the ones before it, so choosing a district lists only its
sites. "All" is the regex ``.*``, not Grafana's default alternation of every value: 184 site
codes in every query would be slow and long, and ``.*`` also keeps the province and data-centre
sites, which carry no ``district`` tag.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from agent.dashboards.query import DATASOURCE_REF, DATASOURCE_TYPE, VARIABLE_OF_TAG

ALL = ".*"

#: Labels as operators read them (Vietnamese), per variable name.
LABELS = {
    "level": "Cấp",
    "district": "Huyện/TP",
    "site": "Điểm",
    "device": "Thiết bị",
    "service": "Dịch vụ",
    "department": "Đơn vị",
    "agent": "Agent",
}
DESCRIPTIONS = {
    "level": "Level: province, district, commune or dc (data centre)",
    "district": "District (the sites' netmon_district), narrowed by level",
    "site": "Connection point or data-centre site, narrowed by level and district",
    "device": "Polled device (SNMP source) at the chosen sites",
    "service": "E-government or videoconference service",
    "department": "Department (agency) owning the site",
    "agent": "The monitoring agent that wrote the data",
}


def datasource() -> db.DatasourceVariable:
    return (
        db.DatasourceVariable("datasource")
        .label("Nguồn dữ liệu")
        .description("InfluxDB (InfluxQL) datasource holding the agents' data")
        .type(DATASOURCE_TYPE)
    )


def tag_values(
    name: str,
    measurement: str,
    tag: str,
    narrowed_by: tuple[str, ...] = (),
    *,
    multi: bool = True,
) -> db.QueryVariable:
    """A variable listing the values of `tag`, narrowed by the earlier variables' tags."""
    query = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{tag}"'
    if narrowed_by:
        query += " WHERE " + " AND ".join(
            f'"{t}" =~ /^${VARIABLE_OF_TAG[t]}$/' for t in narrowed_by
        )
    variable = (
        db.QueryVariable(name)
        .label(LABELS[name])
        .description(DESCRIPTIONS[name])
        .datasource(dm.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_REF["uid"]))
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(True)
        .all_value(ALL)
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
    )
    return variable


def site_chain(measurement: str = "availability") -> list[db.QueryVariable]:
    """level → district → site, read from `measurement`'s tags."""
    return [
        tag_values("level", measurement, "level"),
        tag_values("district", measurement, "district", ("level",)),
        tag_values("site", measurement, "site", ("level", "district")),
    ]
