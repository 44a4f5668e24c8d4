"""Issue 8's acceptance on the lab's data: every panel returns series, the rules fire as the
fault plan says. Called by the main-job test while the run's InfluxDB is up."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from agent.dashboards.evaluate import RuleResult, evaluate_rule
from agent.dashboards.validate import default_values, run_dashboard, variable_values
from agent.inventory.model import Inventory
from agent.lab import faultplan
from agent.settings import InfluxSettings
from agent.sla.influx import InfluxClient

Netmon = Callable[..., subprocess.CompletedProcess[str]]


def dashboards_show_the_run(
    netmon: Netmon,
    influx_url: str,
    inventory: Inventory,
    dark_router: str,
    portal: str,
    tmp_path: Path,
) -> None:
    out = tmp_path / "dashboards"
    done = netmon("dashboards", "build", "-o", str(out))
    assert done.returncode == 0, done.stderr
    # The CLI's own check: offline, then every panel query and rule against the run's data.
    done = netmon("dashboards", "validate", "-o", str(out), "--influxdb")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    boards = {
        entry["uid"]: json.loads((out / entry["file"]).read_text(encoding="utf-8"))
        for entry in manifest["dashboards"]
    }
    assert len(boards) == 7
    with InfluxClient(InfluxSettings(url=influx_url, database="netmon")) as client:
        for uid, board in boards.items():
            # As the dashboard opens (the site dashboard on a data centre), and with "All".
            for values in (default_values(board), {}):
                outcomes = run_dashboard(client, board, values)
                empty = [(o.query.panel, o.query.ref_id, o.error, o.statement)
                         for o in outcomes if not o.ok]  # fmt: skip
                assert outcomes and not empty, (uid, values, empty)
        _chained_variables_narrow(client, boards["tslcd-province-overview"], inventory)
        rules = yaml.safe_load((out / manifest["alerting"]["rules"]).read_text(encoding="utf-8"))
        results = {
            rule["uid"]: evaluate_rule(client, rule)
            for group in rules["groups"]
            for rule in group["rules"]
        }
    _rules_fire_as_planned(results, inventory, dark_router, portal)


def _chained_variables_narrow(
    client: InfluxClient, board: dict[str, object], inventory: Inventory
) -> None:
    """level → district → site: choosing a district lists exactly its sites."""
    everything = variable_values(client, board, {})
    assert {"province", "district", "commune", "dc"} <= set(everything["level"])
    district = everything["district"][0]
    narrowed = variable_values(client, board, {"level": ["commune"], "district": [district]})
    expected = {
        host.settings.netmon_site
        for host in inventory.hosts.values()
        if host.settings.netmon_district == district and host.settings.netmon_level == "commune"
    }
    assert narrowed["site"] and set(narrowed["site"]) == expected
    assert set(narrowed["site"]) < set(everything["site"])


def _rules_fire_as_planned(
    results: dict[str, RuleResult], inventory: Inventory, dark_router: str, portal: str
) -> None:
    for uid, result in results.items():
        assert result.instances, f"{uid}: its query returned no series"
    dark = faultplan.behind(dark_router, inventory.described)
    points = dark & set(inventory.groups["connection_points"])
    dark_sites = {inventory.described[h].settings.netmon_site for h in points}
    assert {i.labels["site"] for i in results["tslcd-site-down"].firing} == dark_sites

    assert {i.labels["target"] for i in results["tslcd-service-down"].firing} == {portal}

    bridge = {h.name for h in inventory.hosts.values() if "vc" in h.checks}
    vc_firing = {i.labels["target"] for i in results["tslcd-vc-point-degraded"].firing}
    assert vc_firing == dark & bridge

    opendata = inventory.hosts["svc-opendata"].settings.netmon_url  # its certificate: 10 days
    assert {i.labels["server"] for i in results["tslcd-certificate-expiring"].firing} == {opendata}
    # The agent ran and kept up: neither platform rule fires.
    assert not results["tslcd-agent-silent"].fires
    assert not results["tslcd-spool-growing"].fires
