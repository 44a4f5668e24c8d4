"""The provisioning documents: data source, dashboard providers, contact points, policies; and
``netmon_alerting`` read from the inventory, every mistake named with its file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.alerting import ContactPoint, NotificationPolicy
from pydantic import ValidationError

from agent.collector import CollectorRegistry
from agent.dashboards.alerting_settings import AlertingSettings
from agent.dashboards.contacts import contact_points, notification_policies
from agent.dashboards.provisioning import (
    DATASOURCE_UID,
    Folder,
    dashboard_providers,
    datasource_provisioning,
)
from agent.inventory.loader import load_inventory
from agent.inventory.origins import OriginFinder
from agent.inventory.problems import InventoryError
from agent.inventory.servicecheck import read_alerting
from agent.secret import Secret
from agent.settings import InfluxSettings, Settings
from tests.peers import require_binary
from tests.unit.test_dashboards_mute import province, window
from tests.unit.test_inventory import inventory  # noqa: F401

ALERTING_YML = Path("inventory/binhduong/group_vars/all/alerting.yml")
KNOWN_PASSWORD = "influx-Pa55-known-to-the-test"
TOKEN = "123456789:AAE-literal-telegram-token-xyz"

ALERTING = """\
netmon_alerting:
  receivers:
    noc:
      email: {addresses: [noc@example.gov.vn, duty@example.gov.vn]}
      telegram:
        chat_id: -1001000000001
        bot_token: "$__file{/etc/grafana/secrets/telegram-noc-bot-token}"
    ioc:
      webhook:
        url: https://ioc.example.gov.vn/api/alerts
        authorization_credentials: "$__env{IOC_TOKEN}"
  default_receiver: noc
  teams:
    network: {receiver: noc}
    platform: {receiver: ioc, repeat_interval: 12h}
"""


def _sdk_round_trip(model: Any, data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(model.from_json(data), cls=JSONEncoder))


def _alerting(text: str = ALERTING) -> AlertingSettings:
    return AlertingSettings.model_validate(yaml.safe_load(text)["netmon_alerting"])


# -- the data source -------------------------------------------------------------------------


def test_the_datasource_has_a_fixed_uid_and_the_agents_database() -> None:
    settings = InfluxSettings(url="https://influx.dc1:8086", database="netmon", username="grafana")
    document = datasource_provisioning(settings, poll_interval_s=60)
    assert document["apiVersion"] == 1
    (source,) = document["datasources"]
    assert source["uid"] == DATASOURCE_UID == "netmon-influxdb"
    assert (source["name"], source["type"], source["url"]) == (
        "TSLCD InfluxDB",
        "influxdb",
        "https://influx.dc1:8086",
    )
    assert source["jsonData"] == {
        "version": "InfluxQL",
        "dbName": "netmon",
        "httpMode": "POST",
        "timeInterval": "60s",
        "tlsSkipVerify": False,
    }
    assert source["user"] == "grafana"
    assert source["secureJsonData"] == {
        "password": "$__file{/etc/grafana/secrets/netmon-influxdb-password}"
    }


def test_no_secret_of_the_agent_reaches_the_datasource(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(KNOWN_PASSWORD)
    for influx in (
        InfluxSettings(username="netmon", password=KNOWN_PASSWORD),
        InfluxSettings(username="netmon", password_file=secret_file, token=KNOWN_PASSWORD),
    ):
        assert influx.resolved_password() == Secret(KNOWN_PASSWORD)  # the agent has it
        settings = Settings(influxdb=influx)
        for document in (
            datasource_provisioning(settings),
            datasource_provisioning(settings, user="grafana_ro", password_reference="$__env{RO}"),
        ):
            text = json.dumps(document) + yaml.safe_dump(document)
            assert KNOWN_PASSWORD not in text
    read_only = datasource_provisioning(
        settings, user="grafana_ro", password_reference="$__env{RO}"
    )
    assert read_only["datasources"][0]["user"] == "grafana_ro"
    assert read_only["datasources"][0]["secureJsonData"] == {"password": "$__env{RO}"}
    with pytest.raises(ValueError, match="password_reference") as error:
        datasource_provisioning(settings, password_reference=KNOWN_PASSWORD)
    assert KNOWN_PASSWORD not in str(error.value)


def test_the_datasource_follows_the_agents_tls_and_login() -> None:
    lab = InfluxSettings(
        url="https://127.0.0.1:8086", verify_tls=False, ca_file=Path("/etc/ca.pem")
    )
    (source,) = datasource_provisioning(lab, poll_interval_s=30)["datasources"]
    assert source["jsonData"]["tlsSkipVerify"] is True
    assert source["jsonData"]["tlsAuthWithCACert"] is True
    assert source["jsonData"]["timeInterval"] == "30s"
    # No user: InfluxDB without authentication, no password to give.
    assert "user" not in source
    assert source["secureJsonData"] == {"tlsCACert": "$__file{/etc/ca.pem}"}


# -- dashboard providers ---------------------------------------------------------------------


def test_one_provider_per_folder() -> None:
    folders = [
        Folder("netmon-services", "Dịch vụ công", "services"),
        Folder("netmon-network", "Mạng TSLCD", "network"),
    ]
    document = dashboard_providers(folders)
    assert document == {
        "apiVersion": 1,
        "providers": [
            {
                "name": f"netmon-{directory}",
                "orgId": 1,
                "type": "file",
                "folder": title,
                "folderUid": uid,
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {
                    "path": f"/var/lib/grafana/dashboards/netmon/{directory}",
                    "foldersFromFilesStructure": False,
                },
            }
            for uid, title, directory in [
                ("netmon-network", "Mạng TSLCD", "network"),
                ("netmon-services", "Dịch vụ công", "services"),
            ]
        ],
    }
    with pytest.raises(ValueError, match="two folders"):
        dashboard_providers([*folders, Folder("other", "Other", "network")])


@pytest.mark.parametrize(
    ("uid", "title", "directory"),
    [
        ("a" * 41, "T", "d"),
        ("bad uid", "T", "d"),
        ("u", " ", "d"),
        ("u", "T", "../etc"),
        ("u", "T", "a/b"),
    ],
)
def test_a_bad_folder_is_refused(uid: str, title: str, directory: str) -> None:
    with pytest.raises(ValueError, match="folder"):
        Folder(uid, title, directory)


# -- contact points and policies -------------------------------------------------------------


def test_contact_points_are_grafana_models_and_hold_only_references() -> None:
    document = json.loads(json.dumps(contact_points(_alerting())))
    assert document["apiVersion"] == 1
    assert [(c["orgId"], c["name"]) for c in document["contactPoints"]] == [(1, "ioc"), (1, "noc")]
    integrations = {r["uid"]: r for c in document["contactPoints"] for r in c["receivers"]}
    assert integrations == {
        "netmon-ioc-webhook": {
            "uid": "netmon-ioc-webhook",
            "type": "webhook",
            "settings": {
                "url": "https://ioc.example.gov.vn/api/alerts",
                "httpMethod": "POST",
                "authorization_credentials": "$__env{IOC_TOKEN}",
                "authorization_scheme": "Bearer",
            },
            "disableResolveMessage": False,
        },
        "netmon-noc-email": {
            "uid": "netmon-noc-email",
            "type": "email",
            "settings": {
                "addresses": "noc@example.gov.vn;duty@example.gov.vn",
                "singleEmail": True,
            },
            "disableResolveMessage": False,
        },
        "netmon-noc-telegram": {
            "uid": "netmon-noc-telegram",
            "type": "telegram",
            "settings": {
                "bottoken": "$__file{/etc/grafana/secrets/telegram-noc-bot-token}",
                "chatid": "-1001000000001",
            },
            "disableResolveMessage": False,
        },
    }
    for receiver in integrations.values():
        assert _sdk_round_trip(ContactPoint, receiver) == receiver


def test_policies_are_a_grafana_model() -> None:
    night = window(name="night", groups=["dc"], every={"start": "22:00", "duration_min": 60})
    patch = window(name="patch", start="2026-10-12 11:00", end="2026-10-12 13:00")
    mutes = province(network=(night,), portal=(patch,))
    (root,) = json.loads(json.dumps(notification_policies(_alerting(), mutes)))["policies"]
    assert root["orgId"] == 1
    body = {key: value for key, value in root.items() if key != "orgId"}
    assert _sdk_round_trip(NotificationPolicy, body) == body
    assert body["receiver"] == "noc" and body["group_by"] == ["alertname", "district"]
    assert [r["object_matchers"][0][0] for r in body["routes"]] == [
        "team",
        "team",
        "site",
        "service",
    ]
    assert body["routes"][0]["routes"] == body["routes"][2:]  # the mute routes, in each team
    assert body["routes"][0]["routes"][0]["routes"][0]["mute_time_intervals"] == [
        "night",
        "portal-patch",
    ]
    assert body["routes"][1]["repeat_interval"] == "12h"


def test_the_provinces_alerting_file_is_valid_and_shared_with_the_lab() -> None:
    lab = Path("inventory/lab/group_vars/all/alerting.yml")
    assert lab.is_symlink() and lab.resolve() == ALERTING_YML.resolve()
    alerting = AlertingSettings.model_validate(
        yaml.safe_load(ALERTING_YML.read_text(encoding="utf-8"))["netmon_alerting"]
    )
    assert alerting.default_receiver in alerting.receivers
    assert set(alerting.teams) == {"network", "services", "videoconference", "platform"}
    document = contact_points(alerting)
    assert all(
        _sdk_round_trip(ContactPoint, r) == r
        for c in document["contactPoints"]
        for r in c["receivers"]
    )


# -- mistakes in netmon_alerting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            ("default_receiver: noc", "default_receiver: nocc"),
            "netmon_alerting.default_receiver",
            "no receiver 'nocc'",
        ),
        (
            ("network: {receiver: noc}", "netwrok: {receiver: noc}"),
            "netmon_alerting.teams.netwrok.[key]",
            "'network'",
        ),
        (
            ("platform: {receiver: ioc,", "platform: {receiver: pager,"),
            "netmon_alerting.teams",
            "platform.receiver",
        ),
        (
            ("repeat_interval: 12h", "repeat_interval: 1m"),
            "netmon_alerting",
            "shorter than group_interval",
        ),
        (
            ("repeat_interval: 12h", "repeat_interval: soon"),
            "netmon_alerting.teams.platform.repeat_interval",
            "duration",
        ),
        (
            ("noc@example.gov.vn,", "noc.example.gov.vn,"),
            "netmon_alerting.receivers.noc.email.addresses.0",
            "e-mail",
        ),
        (
            ("chat_id: -1001000000001", "chatid: -1001000000001"),
            "netmon_alerting.receivers.noc.telegram.chatid",
            "unknown key",
        ),
        (
            ("    ioc:\n      webhook:", "    ioc:\n      pager:"),
            "netmon_alerting.receivers.ioc.pager",
            "unknown key",
        ),
    ],
)
def test_a_mistake_names_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str, message: str
) -> None:
    assert change[0] in ALERTING
    problems = _read(tmp_path, ALERTING.replace(*change))
    text = "\n".join(str(p) for p in problems)
    assert any(p.field == field and message in p.message for p in problems), text
    assert all("group_vars/all/alerting.yml:1" in p.file for p in problems), text


@pytest.mark.parametrize(
    "change",
    [
        ('"$__file{/etc/grafana/secrets/telegram-noc-bot-token}"', f'"{TOKEN}"'),
        ('"$__file{/etc/grafana/secrets/telegram-noc-bot-token}"', '"$__file{relative/path}"'),
        ('"$__env{IOC_TOKEN}"', f'"{TOKEN}"'),
        ("https://ioc.example.gov.vn/api/alerts", f"https://bot:{TOKEN}@ioc.example.gov.vn/"),
    ],
)
def test_a_literal_secret_is_refused_without_showing_it(
    tmp_path: Path, change: tuple[str, str]
) -> None:
    problems = _read(tmp_path, ALERTING.replace(*change))
    assert problems, change
    assert all("receivers" in p.field for p in problems)
    text = "\n".join(str(p) for p in problems)
    assert "value not shown" in text
    assert TOKEN not in text and "relative/path" not in text
    with pytest.raises(ValidationError) as error:
        _alerting(ALERTING.replace(*change))
    assert TOKEN not in str(error.value)


def _read(tmp_path: Path, text: str) -> list[Any]:
    root = tmp_path / "inv"
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "group_vars" / "all" / "alerting.yml").write_text(text)
    hostvars = {host: yaml.safe_load(text) for host in ("h1", "h2")}
    alerting, problems = read_alerting(hostvars, OriginFinder(root, {"all": 0}))
    assert (alerting is None) == bool(problems)
    return problems


@pytest.mark.ansible
def test_the_loader_reads_netmon_alerting(inventory: Path) -> None:  # noqa: F811
    require_binary("ansible-inventory")
    (inventory / "group_vars" / "all" / "alerting.yml").write_text(ALERTING)
    found = load_inventory(inventory, CollectorRegistry.from_entry_points())
    assert found.alerting is not None and found.alerting.default_receiver == "noc"
    (inventory / "group_vars" / "all" / "alerting.yml").write_text(
        ALERTING.replace("default_receiver: noc", "default_receiver: pager")
    )
    with pytest.raises(InventoryError) as error:
        load_inventory(inventory, CollectorRegistry.from_entry_points())
    text = str(error.value)
    assert "group_vars/all/alerting.yml" in text and "netmon_alerting.default_receiver" in text, (
        text
    )
