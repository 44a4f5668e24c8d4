"""The dashboards generator without Grafana: determinism, SDK round trip, uids, datasource,
schema names; and the checks themselves catch what they claim to catch."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.collector import CollectorRegistry
from agent.dashboards.board import BuildContext, uid_of
from agent.dashboards.build import MANIFEST, Built, build, full_schema, write
from agent.dashboards.query import undeclared
from agent.dashboards.validate import check_directory, dashboard_problems, queries
from agent.inventory.loader import load_inventory
from agent.inventory.model import Inventory
from agent.schema import SchemaRegistry
from agent.settings import load_settings

LAB = Path("inventory/lab")
LAB_SETTINGS = Path("agent/lab/netmon-lab.toml")


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(
        LAB, CollectorRegistry.from_entry_points(), vault_password_file=LAB / "vault-password.txt"
    )


@pytest.fixture(scope="module")
def schema() -> SchemaRegistry:
    return full_schema()


@pytest.fixture(scope="module")
def built(inventory: Inventory, schema: SchemaRegistry) -> Built:
    """Built as the committed dashboards/ are: the lab's inventory and settings."""
    settings = load_settings(LAB_SETTINGS, environ={})
    return build(
        inventory, BuildContext(schema=schema), datasource_uid="netmon-influxdb", settings=settings
    )


def _boards(built: Built) -> dict[str, dict[str, Any]]:
    manifest = json.loads(built.files[MANIFEST])
    return {e["uid"]: json.loads(built.files[e["file"]]) for e in manifest["dashboards"]}


def _queried(board: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that query (rows are headings)."""
    return [panel for panel in board["panels"] if panel["type"] != "row"]


def test_a_second_build_is_byte_for_byte_the_same(
    built: Built, inventory: Inventory, schema: SchemaRegistry
) -> None:
    settings = load_settings(LAB_SETTINGS, environ={})
    again = build(
        inventory, BuildContext(schema=schema), datasource_uid="netmon-influxdb", settings=settings
    )
    assert again.files == built.files


def test_uids_are_unique_and_derived_from_the_english_names(built: Built) -> None:
    boards = _boards(built)
    assert len(boards) == 7
    assert sorted(boards) == sorted(
        uid_of(name)
        for name in (
            "Province overview", "Site detail", "Data centres", "E-government services",
            "Videoconference", "SLA", "Agent health",
        )
    )  # fmt: skip
    assert uid_of("Province overview") == "tslcd-province-overview"
    for uid, board in boards.items():
        assert board["uid"] == uid
        ids = [panel["id"] for panel in board["panels"]]
        assert ids == list(range(1, len(ids) + 1)), uid


def test_every_dashboard_round_trips_through_the_sdk_and_names_only_declared_data(
    built: Built, schema: SchemaRegistry
) -> None:
    for uid, board in _boards(built).items():
        assert dashboard_problems(board, schema) == [], uid
        assert len(queries(board)) >= 4, uid


def test_titles_are_vietnamese_with_english_descriptions(built: Built) -> None:
    for board in _boards(built).values():
        assert any(ord(c) > 127 for c in board["title"])
        for panel in board["panels"]:
            if panel["type"] == "row":  # a row is a heading: a title, nothing to describe
                assert any(ord(c) > 127 for c in panel["title"])
                continue
            assert panel["title"] and panel["description"]
            assert panel["description"].isascii() or "netmon" in panel["description"]


def test_no_datasource_is_named_by_uid(built: Built) -> None:
    text = "".join(t for f, t in built.files.items() if f.endswith(".json"))
    assert "netmon-influxdb" not in text
    for board in _boards(built).values():
        for panel in _queried(board):
            refs = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
            assert all(ref == {"type": "influxdb", "uid": "${datasource}"} for ref in refs)
        variables = board["templating"]["list"]
        assert variables[0] == {**variables[0], "name": "datasource", "type": "datasource"}


def test_the_checks_catch_an_unknown_key_a_fixed_datasource_and_an_undeclared_field(
    built: Built, schema: SchemaRegistry
) -> None:
    board = _boards(built)["tslcd-site-detail"]
    broken = copy.deepcopy(board)
    broken["panels"][0]["colour"] = "red"  # not in Grafana 11.6's panel schema
    assert any("colour" in p and "dropped" in p for p in dashboard_problems(broken, schema))
    broken = copy.deepcopy(board)
    broken["panels"][1]["targets"][0]["datasource"] = {"type": "influxdb", "uid": "P951FEA4"}
    assert any("P951FEA4" in p for p in dashboard_problems(broken, schema))
    broken = copy.deepcopy(board)
    target = broken["panels"][1]["targets"][0]
    target["query"] = target["query"].replace("ifHCInOctets", "ifHCInOctet")
    assert any("'ifHCInOctet'" in p for p in dashboard_problems(broken, schema))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('SELECT mean("up") FROM "availability" WHERE $timeFilter GROUP BY "site"', []),
        ('SELECT mean("upp") FROM "availability"', ["'upp': neither a field nor a tag"]),
        ('SELECT mean("up") FROM "availabilty"', ["undeclared measurement 'availabilty'", "'up'"]),
        ('SELECT last("up") FROM "availability" GROUP BY "state"', ["GROUP BY 'state'"]),
        # A division is not a regex: both field names after it are still checked.
        ('SELECT last("memAvailReal") / last("memTotal") FROM "memory"', ["'memTotal'"]),
        # Quotes inside a regex or a string are not identifiers.
        ("SELECT last(\"up\") FROM \"availability\" WHERE \"site\" =~ /^\"x\"$/ "
         "AND \"check\" = 'say \"hi\"'", []),
        # An inner query's alias may be read by the outer one.
        ('SELECT sum("down") FROM (SELECT floor("state" / 2) AS "down" FROM "availability")', []),
        ('SHOW TAG VALUES FROM "snmp" WITH KEY = "source" WHERE "site" =~ /^$site$/', []),
        ('SHOW TAG VALUES FROM "snmp" WITH KEY = "sorce"', ["'sorce'"]),
    ],
)  # fmt: skip
def test_undeclared_reads_a_query_as_influxdb_would(
    query: str, expected: list[str], schema: SchemaRegistry
) -> None:
    problems = undeclared(query, schema)
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem


def test_the_gazetteer_places_every_connection_point(built: Built, inventory: Inventory) -> None:
    places = {p["key"]: p for p in json.loads(built.files["gazetteer/tslcd-sites.json"])}
    for host in inventory.groups["connection_points"]:
        settings = inventory.described[host].settings
        assert settings.netmon_location is not None, host
        place = places[settings.netmon_site]
        assert (place["latitude"], place["longitude"]) == (
            settings.netmon_location.lat,
            settings.netmon_location.lon,
        )


def test_an_offline_basemap_replaces_openstreetmap(
    inventory: Inventory, schema: SchemaRegistry
) -> None:
    url = "https://tiles.tslcd.local/{z}/{x}/{y}.png"
    offline = build(
        inventory, BuildContext(schema=schema, basemap_url=url), datasource_uid="netmon-influxdb"
    )
    board = _boards(offline)["tslcd-province-overview"]
    [geomap] = [p for p in board["panels"] if p["type"] == "geomap"]
    assert geomap["options"]["basemap"]["type"] == "xyz"
    assert geomap["options"]["basemap"]["config"]["url"] == url
    assert geomap["options"]["layers"][0]["location"]["mode"] == "lookup"
    [online] = [p for p in _boards_default(inventory, schema) if p["type"] == "geomap"]
    assert online["options"]["basemap"]["type"] == "osm-standard"


def _boards_default(inventory: Inventory, schema: SchemaRegistry) -> list[dict[str, Any]]:
    default = build(inventory, BuildContext(schema=schema), datasource_uid="netmon-influxdb")
    return list(_boards(default)["tslcd-province-overview"]["panels"])


def test_alert_rules_carry_runbooks_labels_and_the_fixed_datasource(
    built: Built, schema: SchemaRegistry
) -> None:
    document = yaml.safe_load(built.files["provisioning/alerting/rules.yaml"])
    [group] = document["groups"]
    rules = group["rules"]
    assert {r["uid"] for r in rules} == {
        "tslcd-site-down", "tslcd-service-down", "tslcd-vc-point-degraded",
        "tslcd-certificate-expiring", "tslcd-interface-errors", "tslcd-agent-silent",
        "tslcd-spool-growing",
    }  # fmt: skip
    for rule in rules:
        assert rule["annotations"]["runbook"] and rule["annotations"]["summary"]
        assert {"team", "severity"} <= set(rule["labels"])
        [query] = [step for step in rule["data"] if step["refId"] == "A"]
        assert query["datasourceUid"] == "netmon-influxdb"
        assert undeclared(query["model"]["query"], schema) == [], rule["uid"]
        assert rule["condition"] == "C"


def test_the_committed_dashboards_are_what_the_generator_builds(
    built: Built, schema: SchemaRegistry
) -> None:
    """dashboards/ in the repository is current: regenerate with `netmon dashboards build`."""
    assert check_directory(Path("dashboards"), built, schema) == []


def test_write_is_idempotent_and_removes_a_dashboard_no_longer_built(
    built: Built, tmp_path: Path
) -> None:
    assert len(write(built, tmp_path)) == len(built.files)
    assert write(built, tmp_path) == []
    stale = tmp_path / "network" / "tslcd-retired.json"
    stale.write_text("{}")
    assert write(built, tmp_path) == [stale]
    assert not stale.exists()


def test_tables_style_their_columns_not_the_whole_table(built: Built) -> None:
    """A state mapping on the whole incidents table would show a failure count of 2 as
    "Mất kết nối"; it applies to the state column only, whose cells are coloured."""
    board = _boards(built)["tslcd-province-overview"]
    [incidents] = [p for p in board["panels"] if p["type"] == "table"]
    assert "mappings" not in incidents["fieldConfig"]["defaults"]
    [override] = incidents["fieldConfig"]["overrides"]
    assert override["matcher"] == {"id": "byRegexp", "options": "^state$"}
    ids = [p["id"] for p in override["properties"]]
    assert ids == ["mappings", "custom.cellOptions"]
    [organize] = incidents["transformations"]
    assert organize["options"]["renameByName"]["consecutive_failures"] == "Số lần lỗi liên tiếp"


def test_the_site_dashboard_opens_on_one_data_centre_site(built: Built) -> None:
    from agent.dashboards.validate import default_values

    board = _boards(built)["tslcd-site-detail"]
    values = default_values(board)
    assert values["site"] == ["DC1"]
    assert values["level"] == ".*"
    assert all(p.get("interval") == "60s" for p in _queried(board))
