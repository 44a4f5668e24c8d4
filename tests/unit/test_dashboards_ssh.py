"""The SSH collector on the dashboards: configuration changes as annotations, the site
dashboard's SSH row, the agent-health SSH panels; and the checks cover annotations too."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent.collector import CollectorRegistry
from agent.dashboards.annotations import CONFIG_CHANGES
from agent.dashboards.board import BuildContext
from agent.dashboards.build import MANIFEST, Built, build, full_schema
from agent.dashboards.query import DATASOURCE_REF, references, undeclared
from agent.dashboards.validate import (
    annotation_queries,
    dashboard_problems,
    default_values,
    queries,
    round_trip_problems,
)
from agent.inventory.loader import load_inventory
from agent.schema import SchemaRegistry

LAB = Path("inventory/lab")


@pytest.fixture(scope="module")
def schema() -> SchemaRegistry:
    return full_schema()


@pytest.fixture(scope="module")
def boards(schema: SchemaRegistry) -> dict[str, dict[str, Any]]:
    inventory = load_inventory(
        LAB, CollectorRegistry.from_entry_points(), vault_password_file=LAB / "vault-password.txt"
    )
    built: Built = build(inventory, BuildContext(schema=schema), datasource_uid="netmon-influxdb")
    manifest = json.loads(built.files[MANIFEST])
    return {e["uid"]: json.loads(built.files[e["file"]]) for e in manifest["dashboards"]}


def _changes(board: dict[str, Any]) -> dict[str, Any]:
    [annotation] = [a for a in annotation_queries(board) if a["name"] == CONFIG_CHANGES]
    return annotation


@pytest.mark.parametrize(
    ("uid", "filters", "enabled"),
    [
        ("tslcd-site-detail", ("level", "district", "site", "source"), True),
        ("tslcd-data-centres", ("site", "source"), True),
        # The whole province's changes would crowd the overview: there to switch on.
        ("tslcd-province-overview", ("level", "district", "site"), False),
    ],
)
def test_configuration_changes_are_an_annotation_filtered_as_the_panels_are(
    boards: dict[str, dict[str, Any]],
    schema: SchemaRegistry,
    uid: str,
    filters: tuple[str, ...],
    enabled: bool,
) -> None:
    board = boards[uid]
    annotation = _changes(board)
    assert annotation["enable"] is enabled
    assert annotation["datasource"] == DATASOURCE_REF
    target = annotation["target"]
    query = target["query"]
    assert target["rawQuery"] is True and target["fromAnnotations"] is True
    assert "$timeFilter" in query
    variable_of = {"level": "level", "district": "district", "site": "site", "source": "device"}
    for tag in filters:
        assert f'"{tag}" =~ /^${variable_of[tag]}$/' in query
    assert undeclared(query, schema) == []
    assert references(query).measurements == {"config_change"}
    change = schema.get("config_change")
    assert change is not None
    # Text and title from fields, tags from the device: a string, as Grafana splits tags.
    assert target["textColumn"] == "summary" and change.fields["summary"].name == "STR"
    assert target["tagsColumn"] == "source" and "source" in change.tags
    assert target["titleColumn"] in change.fields
    # Every variable the annotation names is one of its dashboard's.
    names = {v["name"] for v in board["templating"]["list"]}
    assert set(re.findall(r"\$(\w+)", query)) - {"timeFilter"} <= names


def test_the_annotation_text_column_is_not_swallowed_by_another_column(
    boards: dict[str, dict[str, Any]],
) -> None:
    """Grafana matches text and tags columns by substring of "<measurement>.<column>" and takes
    the first unclaimed column as the title: each must name exactly one selected column."""
    target = _changes(boards["tslcd-site-detail"])["target"]
    selected = re.findall(r'"(\w+)"', target["query"].split(" FROM ")[0])
    assert selected[0] == target["titleColumn"]
    for key in ("textColumn", "tagsColumn"):
        assert [c for c in selected if target[key] in f"config_change.{c}"] == [target[key]]


def test_annotation_queries_are_checked_like_panel_queries(
    boards: dict[str, dict[str, Any]], schema: SchemaRegistry
) -> None:
    board = boards["tslcd-site-detail"]
    assert dashboard_problems(board, schema) == []
    assert any(q.panel == f"annotation {CONFIG_CHANGES}" for q in queries(board))

    broken = copy.deepcopy(board)
    target = _changes(broken)["target"]
    target["query"] = target["query"].replace('"config_change"', '"config_changes"')
    problems = dashboard_problems(broken, schema)
    assert any(
        p.startswith(f"annotation {CONFIG_CHANGES}") and "'config_changes'" in p for p in problems
    ), problems

    broken = copy.deepcopy(board)
    target = _changes(broken)["target"]
    target["query"] = target["query"].replace('"summary"', '"summry"')
    assert any("'summry'" in p for p in dashboard_problems(broken, schema))

    broken = copy.deepcopy(board)
    _changes(broken)["datasource"] = {"type": "influxdb", "uid": "P951FEA4"}
    assert any("annotation" in p and "P951FEA4" in p for p in dashboard_problems(broken, schema))


def test_an_annotation_key_no_model_knows_is_reported(boards: dict[str, dict[str, Any]]) -> None:
    board = copy.deepcopy(boards["tslcd-site-detail"])
    _changes(board)["target"]["textColum"] = "commit"
    _changes(board)["colour"] = "purple"
    problems = round_trip_problems(board)
    assert any("target.textColum" in p and "dropped" in p for p in problems), problems
    assert any("colour" in p and "dropped" in p for p in problems), problems


SSH_PANELS = {
    "Công suất quang thu/phát": ("optics", {"rx_power_dbm", "tx_power_dbm"}),
    "Lỗi giao diện theo CLI": ("interface_errors", {"input_errors", "crc_errors"}),
    "Phiên BGP": ("bgp_peer", {"established", "state", "prefixes_received"}),
    "Láng giềng OSPF": ("ospf_neighbor", {"full", "state"}),
    "Sao lưu cấu hình gần nhất": ("config_backup", {"result", "changed", "lines"}),
}


def test_the_site_dashboard_has_an_ssh_row_of_declared_queries(
    boards: dict[str, dict[str, Any]], schema: SchemaRegistry
) -> None:
    board = boards["tslcd-site-detail"]
    panels = board["panels"]
    [row] = [p for p in panels if p["type"] == "row"]
    after_row = {p["title"]: p for p in panels if p["id"] > row["id"]}
    assert set(after_row) == set(SSH_PANELS)
    for title, (measurement, names) in SSH_PANELS.items():
        [target] = after_row[title]["targets"]
        refs = references(target["query"])
        assert refs.measurements == {measurement}, title
        assert names <= refs.names, title
        assert undeclared(target["query"], schema) == [], title
        # Narrowed to the chosen site and device, as the other panels are.
        assert '"site" =~ /^$site$/' in target["query"]
        assert '"source" =~ /^$device$/' in target["query"]
    # Opens on the data centre, whose SSH devices (Junos, IOS) write every one of these.
    assert default_values(board)["site"] == ["DC1"]


def test_ssh_tables_colour_what_is_not_up_red(boards: dict[str, dict[str, Any]]) -> None:
    panels = {p["title"]: p for p in boards["tslcd-site-detail"]["panels"]}

    def mapping(title: str, column: str) -> list[dict[str, Any]]:
        [override] = [
            o
            for o in panels[title]["fieldConfig"]["overrides"]
            if o["matcher"]["options"] == f"^{column}$"
        ]
        [mappings] = [p["value"] for p in override["properties"] if p["id"] == "mappings"]
        return list(mappings)

    for title, column in (("Phiên BGP", "established"), ("Láng giềng OSPF", "full")):
        [flag] = mapping(title, column)
        assert flag["options"]["0"]["color"] == "red"
        assert flag["options"]["1"]["color"] == "green"
    success, other = mapping("Sao lưu cấu hình gần nhất", "result")
    assert success["options"]["success"]["color"] == "green"
    assert re.fullmatch(other["options"]["pattern"], "timeout")
    assert not re.fullmatch(other["options"]["pattern"], "success")
    assert other["options"]["result"]["color"] == "red"


def test_optical_power_draws_its_alarm_levels(boards: dict[str, dict[str, Any]]) -> None:
    [optics] = [
        p for p in boards["tslcd-site-detail"]["panels"] if p["title"] == "Công suất quang thu/phát"
    ]
    defaults = optics["fieldConfig"]["defaults"]
    assert defaults["unit"] == "dBm"
    steps = [(s["value"], s["color"]) for s in defaults["thresholds"]["steps"]]
    assert steps == [(None, "red"), (-20.0, "orange"), (-14.0, "green"), (0.5, "red")]
    assert defaults["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_agent_health_counts_ssh_polls_and_backups_by_result(
    boards: dict[str, dict[str, Any]], schema: SchemaRegistry
) -> None:
    panels = {p["title"]: p for p in boards["tslcd-agent-health"]["panels"]}
    for title, measurement in (
        ("Thăm dò SSH theo kết quả", "ssh"),
        ("Sao lưu cấu hình theo kết quả", "config_backup"),
    ):
        [target] = panels[title]["targets"]
        refs = references(target["query"])
        assert refs.measurements == {measurement}
        assert target["query"].endswith('GROUP BY time($__interval), "result"')
        assert target["alias"] == "$tag_result"
        assert undeclared(target["query"], schema) == []
