"""File-provisioning format -> Grafana API shapes, the comparisons that keep a push idempotent,
and what `push` refuses before it connects (token sources, URL, CA file)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.dashboards.grafana_api import (
    ConversionError,
    GrafanaHttp,
    GrafanaUrl,
    _BearerSecret,
    dashboard_differs,
    duration_ms,
    mute_timing_differs,
    mute_timing_to_api,
    rule_group_differs,
    rule_group_to_api,
)
from agent.dashboards.push import (
    NOT_PUSHED,
    TOKEN_ENV,
    ObjectKind,
    Outcome,
    PushError,
    PushReport,
    PushResult,
    grafana_token,
    push,
)
from agent.secret import Secret

TOKEN = "glsa_UnitTestToken_3e5a9c1d_77f0"

# A group as `netmon dashboards build` writes it into provisioning/alerting/rules.yaml.
RULES_YAML = """
apiVersion: 1
groups:
  - orgId: 1
    name: Thiết bị mạng
    folder: Cảnh báo mạng TSLCD
    interval: 1m
    rules:
      - uid: tslcd-site-down
        title: Điểm kết nối mất liên lạc
        condition: C
        data:
          - refId: A
            relativeTimeRange: {from: 600, to: 0}
            datasourceUid: influxdb-tslcd
            model: {refId: A, query: 'SELECT last("state") FROM "availability"', rawQuery: true}
          - refId: C
            relativeTimeRange: {from: 0, to: 0}
            datasourceUid: __expr__
            model:
              refId: C
              type: threshold
              expression: A
              conditions: [{evaluator: {type: gt, params: [1]}}]
        noDataState: NoData
        execErrState: Error
        for: 90s
        annotations:
          summary: "Mất liên lạc: {{ $labels.site }}"
          runbook_url: https://wiki.tslcd.example.vn/runbook/tslcd-site-down
        labels: {severity: critical}
        isPaused: false
"""

API_GROUP: dict[str, Any] = {
    "title": "Thiết bị mạng",
    "folderUid": "tslcd-alerts",
    "interval": 60,
    "rules": [
        {
            "uid": "tslcd-site-down",
            "title": "Điểm kết nối mất liên lạc",
            "condition": "C",
            "data": [
                {
                    "refId": "A",
                    "datasourceUid": "influxdb-tslcd",
                    "relativeTimeRange": {"from": 600, "to": 0},
                    "model": {
                        "refId": "A",
                        "query": 'SELECT last("state") FROM "availability"',
                        "rawQuery": True,
                    },
                },
                {
                    "refId": "C",
                    "datasourceUid": "__expr__",
                    "relativeTimeRange": {"from": 0, "to": 0},
                    "model": {
                        "refId": "C",
                        "type": "threshold",
                        "expression": "A",
                        "conditions": [{"evaluator": {"type": "gt", "params": [1]}}],
                    },
                },
            ],
            "noDataState": "NoData",
            "execErrState": "Error",
            "for": "90s",
            "annotations": {
                "summary": "Mất liên lạc: {{ $labels.site }}",
                "runbook_url": "https://wiki.tslcd.example.vn/runbook/tslcd-site-down",
            },
            "labels": {"severity": "critical"},
            "isPaused": False,
            "folderUID": "tslcd-alerts",
            "ruleGroup": "Thiết bị mạng",
            "orgID": 1,
        }
    ],
}


def file_group() -> dict[str, Any]:
    group: dict[str, Any] = yaml.safe_load(RULES_YAML)["groups"][0]
    return group


def convert(group: Any) -> dict[str, Any]:
    return rule_group_to_api(group, "tslcd-alerts", "Cảnh báo mạng TSLCD")


# -- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("0s", 0),
        ("30s", 30_000),
        ("90s", 90_000),
        ("1m30s", 90_000),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("1d", 86_400_000),
        ("1w", 604_800_000),
        ("500ms", 500),
    ],
)
def test_durations_are_read_as_grafana_reads_them(text: str, ms: int) -> None:
    assert duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "5", "m", "1.5m", "5 m", "1h-1m", "5M", 5, None])
def test_what_is_not_a_duration_is_refused(text: object) -> None:
    with pytest.raises(ConversionError, match="is not a duration"):
        duration_ms(text)


# -- rule groups -------------------------------------------------------------------------------


def test_a_rule_group_becomes_the_apis_alert_rule_group() -> None:
    assert convert(file_group()) == API_GROUP


def test_dashboard_links_become_the_apis_annotations() -> None:
    group = file_group()
    group["rules"][0] |= {"dashboardUid": "tslcd-province", "panelId": 4}

    rule = convert(group)["rules"][0]

    assert rule["annotations"]["__dashboardUid__"] == "tslcd-province"
    assert rule["annotations"]["__panelId__"] == "4"
    assert "dashboardUid" not in rule and "panelId" not in rule


def test_optional_rule_fields_pass_through() -> None:
    group = file_group()
    settings = {"receiver": "noc-telegram", "mute_time_intervals": ["Bảo trì đêm"]}
    group["rules"][0] |= {"keep_firing_for": "2m", "notification_settings": settings}
    del group["rules"][0]["isPaused"], group["rules"][0]["labels"]

    rule = convert(group)["rules"][0]

    assert rule["keep_firing_for"] == "2m"
    assert rule["notification_settings"] == settings
    assert rule["isPaused"] is False and rule["labels"] == {}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(group: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = group
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set("folder", "Mạng"), "folder 'Mạng' is not 'Cảnh báo mạng TSLCD'"),
        (_set("interval", "45s"), "interval '45s' must be a positive multiple of 10s"),
        (_set("interval", "0s"), "must be a positive multiple of 10s"),
        (_set("interval", "một phút"), "is not a duration"),
        (_set("orgId", True), "orgId True must be a positive integer"),
        (_set("rules", []), "'rules' must be a non-empty list"),
        (_set("provenance", "api"), "unknown field(s) provenance"),
        (_set("rules.0.uid", KeyError), "rules[0]: missing uid"),
        (_set("rules.0.uid", "có dấu"), "uid 'có dấu' must be 1-40 letters"),
        (_set("rules.0.condition", "B"), "condition 'B' is no query's refId"),
        (_set("rules.0.noDataState", "Nodata"), "noDataState must be one of"),
        (_set("rules.0.execErrState", "Failing"), "execErrState must be one of"),
        (_set("rules.0.for", "5 minutes"), "'5 minutes' is not a duration"),
        (_set("rules.0.labels", {"severity": 1}), "'labels' must map names to strings"),
        (_set("rules.0.isPaused", "no"), "isPaused must be true or false"),
        (_set("rules.0.panelId", 4), "dashboardUid (string) and panelId (integer) go together"),
        (_set("rules.0.record", {"metric": "x"}), "unknown field(s) record (not pushed)"),
        (_set("rules.0.data.0.model", "SELECT 1"), "data: 'model' must be a mapping"),
        (_set("rules.0.data.0.datasource", "influx"), "data: unknown field(s) datasource"),
        (
            _set("rules.0.data.0.relativeTimeRange", {"from": -600, "to": 0}),
            "relativeTimeRange from/to must be seconds",
        ),
    ],
)
def test_what_has_no_api_form_is_refused(
    change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    group = file_group()
    change(group)

    with pytest.raises(ConversionError) as raised:
        convert(group)
    assert expected in str(raised.value)
    assert str(raised.value).startswith("group 'Thiết bị mạng'")


# -- mute timings ------------------------------------------------------------------------------


def test_a_mute_timing_loses_only_its_org() -> None:
    intervals = [
        {"times": [{"start_time": "22:00", "end_time": "24:00"}], "weekdays": ["monday:friday"]}
    ]
    entry = {"orgId": 1, "name": "Bảo trì đêm", "time_intervals": intervals}

    assert mute_timing_to_api(entry) == {"name": "Bảo trì đêm", "time_intervals": intervals}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "x"}, "missing time_intervals"),
        ({"name": "", "time_intervals": [{}]}, "'name' must be a non-empty string"),
        ({"name": "x", "time_intervals": []}, "'time_intervals' must be a non-empty list"),
        ({"name": "x", "time_intervals": [{"days": ["1"]}]}, "unknown field(s) days"),
        ({"name": "x", "time_intervals": [{"times": [{"start_time": "22h"}]}]}, "missing end_time"),
        (
            {"name": "x", "time_intervals": [{"times": [{"start_time": "22h", "end_time": "1"}]}]},
            "times must be HH:MM",
        ),
    ],
)
def test_a_mute_timing_without_an_api_form_is_refused(entry: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConversionError) as raised:
        mute_timing_to_api(entry)
    assert expected in str(raised.value)


# -- comparisons: what Grafana adds does not count, what differs does ---------------------------


def grafana_answer(group: dict[str, Any]) -> dict[str, Any]:
    """`group` as Grafana's GET answers it: ids, provenance, its duration spelling, defaults."""
    answer = copy.deepcopy(group)
    for index, rule in enumerate(answer["rules"]):
        rule |= {"id": 40 + index, "updated": "2026-11-22T04:00:00Z", "provenance": "api"}
        rule["for"] = {"90s": "1m30s"}.get(rule["for"], rule["for"])
        for query in rule["data"]:
            query["queryType"] = ""
            query["model"] |= {"intervalMs": 1000, "maxDataPoints": 43200}
    return answer


def test_a_rule_group_as_grafana_answers_it_is_unchanged() -> None:
    assert not rule_group_differs(grafana_answer(API_GROUP), API_GROUP)


@pytest.mark.parametrize(
    "change",
    [
        _set("interval", 300),
        _set("title", "Thiết bị"),
        _set("rules.0.title", "Mất liên lạc"),
        _set("rules.0.for", "10m"),
        _set("rules.0.isPaused", True),
        _set("rules.0.labels", {}),
        _set("rules.0.annotations.summary", "khác"),
        _set("rules.0.data.1.model.conditions", [{"evaluator": {"type": "gt", "params": [2]}}]),
        _set("rules.0.data.0.datasourceUid", "influxdb-khac"),
        _set("rules.0.data.0.relativeTimeRange", {"from": 300, "to": 0}),
        _set("rules.0.notification_settings", {"receiver": "email"}),
        _set("rules.0.keep_firing_for", "5m"),
        lambda group: group["rules"][0]["data"].pop(),
        lambda group: group["rules"].append(copy.deepcopy(group["rules"][0])),
    ],
)
def test_a_rule_group_changed_in_grafana_differs(change: Callable[[dict[str, Any]], Any]) -> None:
    stored = grafana_answer(API_GROUP)
    change(stored)

    assert rule_group_differs(stored, API_GROUP)


def test_rule_order_counts() -> None:
    second = copy.deepcopy(API_GROUP["rules"][0]) | {"uid": "tslcd-site-degraded"}
    group = {**API_GROUP, "rules": [API_GROUP["rules"][0], second]}
    stored = grafana_answer(group)
    stored["rules"].reverse()

    assert rule_group_differs(stored, group)


DASHBOARD = {"uid": "tslcd-province", "title": "Tổng quan", "panels": [{"id": 1}], "tags": []}


def test_a_dashboard_as_grafana_answers_it_is_unchanged() -> None:
    stored = {
        "dashboard": {**DASHBOARD, "id": 12, "version": 3},
        "meta": {"folderUid": "tslcd-network", "version": 3, "slug": "tong-quan"},
    }

    assert not dashboard_differs(stored, DASHBOARD, "tslcd-network")


@pytest.mark.parametrize(
    ("dashboard", "folder_uid"),
    [
        ({**DASHBOARD, "title": "Tổng quan (cũ)"}, "tslcd-network"),
        ({**DASHBOARD, "panels": []}, "tslcd-network"),
        ({**DASHBOARD, "description": "thêm bằng tay"}, "tslcd-network"),  # a key the build lacks
        (DASHBOARD, "tslcd-alerts"),  # moved to another folder
    ],
)
def test_a_dashboard_changed_in_grafana_differs(dashboard: dict[str, Any], folder_uid: str) -> None:
    stored = {"dashboard": {**dashboard, "id": 12, "version": 3}, "meta": {"folderUid": folder_uid}}

    assert dashboard_differs(stored, DASHBOARD, "tslcd-network")


MUTE = mute_timing_to_api(
    {
        "name": "Bảo trì đêm",
        "time_intervals": [
            {"times": [{"start_time": "0:00", "end_time": "6:00"}], "weekdays": ["Saturday"]},
            {"days_of_month": [], "location": "Asia/Ho_Chi_Minh", "years": None},
        ],
    }
)


def test_a_mute_timing_in_grafanas_spelling_is_unchanged() -> None:
    stored = {
        "name": "Bảo trì đêm",
        "version": "c0ffee",
        "provenance": "api",
        "time_intervals": [
            {"times": [{"start_time": "00:00", "end_time": "06:00"}], "weekdays": ["saturday"]},
            {"location": "Asia/Ho_Chi_Minh"},
        ],
    }

    assert not mute_timing_differs(stored, MUTE)


@pytest.mark.parametrize(
    "intervals",
    [
        [{"times": [{"start_time": "00:00", "end_time": "07:00"}], "weekdays": ["saturday"]}],
        [
            {"times": [{"start_time": "00:00", "end_time": "06:00"}], "weekdays": ["sunday"]},
            {"location": "Asia/Ho_Chi_Minh"},
        ],
        [],
    ],
)
def test_a_mute_timing_changed_in_grafana_differs(intervals: list[dict[str, Any]]) -> None:
    assert mute_timing_differs({"name": "Bảo trì đêm", "time_intervals": intervals}, MUTE)


# -- the token ---------------------------------------------------------------------------------


def test_the_token_comes_from_the_environment() -> None:
    assert grafana_token({TOKEN_ENV: f" {TOKEN}\n"}, None).reveal() == TOKEN


def test_the_token_comes_from_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "grafana-token"
    token_file.write_text(f"{TOKEN}\n", encoding="utf-8")

    token = grafana_token({}, token_file)

    assert token.reveal() == TOKEN and TOKEN not in repr(token)


def _refused(env: dict[str, str], token_file: Path | None) -> str:
    with pytest.raises(PushError) as raised:
        grafana_token(env, token_file)
    message = str(raised.value)
    assert TOKEN not in message and "second-line" not in message
    return message


def test_no_token_is_refused() -> None:
    message = _refused({}, None)
    assert TOKEN_ENV in message and "--token-file" in message


def test_two_tokens_are_refused(tmp_path: Path) -> None:
    message = _refused({TOKEN_ENV: TOKEN}, tmp_path / "grafana-token")
    assert "given twice" in message and str(tmp_path / "grafana-token") in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the Grafana token file {file}: No such file or directory"),
        ("", "the Grafana token file {file} is empty"),
        (" \n\n", "the Grafana token file {file} is empty"),
        (f"{TOKEN}\nsecond-line\n", "{file} must hold the token alone, on one line"),
        (b"\xff\xfe" + TOKEN.encode(), "{file} is not UTF-8 text"),
    ],
    ids=["missing", "empty", "blank", "two-lines", "not-utf8"],
)
def test_an_unusable_token_file_is_named_not_shown(
    tmp_path: Path, content: str | bytes | None, expected: str
) -> None:
    token_file = tmp_path / "grafana-token"
    if isinstance(content, bytes):
        token_file.write_bytes(content)
    elif content is not None:
        token_file.write_text(content, encoding="utf-8")

    assert expected.format(file=token_file) in _refused({}, token_file)


def test_a_directory_as_token_file_is_named(tmp_path: Path) -> None:
    assert f"cannot read the Grafana token file {tmp_path}" in _refused({}, tmp_path)


def test_an_empty_environment_token_is_refused() -> None:
    assert f"{TOKEN_ENV} is empty" in _refused({TOKEN_ENV: ""}, None)


def test_the_token_is_in_no_repr() -> None:
    auth = _BearerSecret(Secret(TOKEN))
    http = GrafanaHttp(GrafanaUrl.parse("https://grafana.tslcd.example.vn"), Secret(TOKEN))
    try:
        assert TOKEN not in repr(auth) and TOKEN not in repr(http)
        assert TOKEN not in repr(vars(http))
    finally:
        http.close()


# -- the URL and what push refuses before connecting --------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown", "prefix"),
    [
        ("https://grafana.tslcd.example.vn", "https://grafana.tslcd.example.vn", ""),
        ("https://grafana.tslcd.example.vn/", "https://grafana.tslcd.example.vn", ""),
        ("http://10.10.0.5:3000/grafana/", "http://10.10.0.5:3000/grafana", "grafana/"),
        ("http://[::1]:3000", "http://[::1]:3000", ""),
    ],
)
def test_grafana_urls(url: str, shown: str, prefix: str) -> None:
    parsed = GrafanaUrl.parse(url)
    assert (str(parsed), parsed.path_prefix) == (shown, prefix)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("grafana.tslcd.example.vn:3000", "must be http(s)://host"),
        ("ftp://grafana.tslcd.example.vn", "must be http(s)://host"),
        ("https://admin:matkhau@grafana.tslcd.example.vn", "must not hold a user or password"),
        ("https://grafana.tslcd.example.vn/?orgId=2", "must not have a query"),
        ("http://grafana.tslcd.example.vn:99999", "is not a URL"),
    ],
)
def test_unusable_urls_are_refused(url: str, expected: str) -> None:
    with pytest.raises(PushError, match=expected.replace("(", r"\(").replace(")", r"\)")) as raised:
        GrafanaUrl.parse(url)
    assert "matkhau" not in str(raised.value)


def test_push_refuses_contradicting_tls_options(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    with pytest.raises(PushError, match="contradict"):
        push(tmp_path, url="https://127.0.0.1:9", token=TOKEN, ca_file=ca_file, verify_tls=False)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read the CA file"), (b"not a certificate", "holds no PEM certificate")],
)
def test_push_refuses_an_unusable_ca_file(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_bytes(content)
    with pytest.raises(PushError, match=expected) as raised:
        push(tmp_path, url="https://127.0.0.1:9", token=TOKEN, ca_file=ca_file)
    assert str(ca_file) in str(raised.value)


def test_push_refuses_an_empty_token(tmp_path: Path) -> None:
    with pytest.raises(PushError, match="the Grafana token is empty"):
        push(tmp_path, url="https://127.0.0.1:9", token="", ca_file=None)


# -- the report --------------------------------------------------------------------------------


def test_the_report_of_a_dry_run_says_what_would_change() -> None:
    report = PushReport(url="https://grafana.tslcd.example.vn", dry_run=True)
    report.results += [
        PushResult(ObjectKind.FOLDER, "tslcd-network", Outcome.CREATED),
        PushResult(ObjectKind.DASHBOARD, "tslcd-province", Outcome.UPDATED),
        PushResult(ObjectKind.MUTE_TIMING, "Cuối tuần", Outcome.UNCHANGED),
    ]

    text = report.summary()

    assert "(dry run: nothing was written)" in text
    assert "would create folder tslcd-network" in text
    assert "would update dashboard tslcd-province" in text
    assert "3 objects: 1 to create, 1 to update, 1 unchanged, 0 failed" in text
    assert f"note: {NOT_PUSHED}" in text
    assert report.ok


def test_a_failed_object_makes_the_report_not_ok() -> None:
    report = PushReport(url="https://grafana.tslcd.example.vn", dry_run=False)
    failed = PushResult(ObjectKind.RULE_GROUP, "tslcd-alerts/Thiết bị", Outcome.FAILED, "HTTP 409")
    report.results += [failed]

    assert not report.ok and report.failed == [failed]
    assert report.outcome(ObjectKind.RULE_GROUP, "tslcd-alerts/Thiết bị") == Outcome.FAILED
    assert "failed       rule group tslcd-alerts/Thiết bị: HTTP 409" in report.summary()
