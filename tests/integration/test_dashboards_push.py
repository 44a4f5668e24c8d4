"""`push` against a Grafana that holds its objects in memory and answers as its API is documented
(tests.fake_grafana): every recorded request is checked against the documented endpoints and
body shapes, and a request that is not in the table fails the test."""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from agent import __version__
from agent.dashboards.push import (
    ManifestError,
    ObjectKind,
    Outcome,
    PushError,
    PushReport,
    push,
)
from agent.lab.tls import LabCA
from agent.secret import Secret
from tests.fake_grafana import (
    TOKEN,
    Answer,
    FakeGrafana,
    JsonBytes,
    Recorded,
    serving,
    undocumented,
)

NETWORK = {"uid": "tslcd-network", "title": "Mạng truyền số liệu chuyên dùng"}
ALERTS = {"uid": "tslcd-alerts", "title": "Cảnh báo mạng TSLCD"}
GROUP = "Thiết bị mạng"
DASHBOARDS = (
    ("tslcd-province", "Tổng quan mạng TSLCD tỉnh", NETWORK),
    ("tslcd-district", "Mạng TSLCD cấp huyện", NETWORK),
    ("tslcd-alerts-overview", "Cảnh báo đang hoạt động", ALERTS),
)
MUTE_TIMINGS = ("Bảo trì đêm", "Cuối tuần")


@pytest.fixture
def grafana() -> FakeGrafana:
    return FakeGrafana()


@pytest.fixture
def url(grafana: FakeGrafana) -> Iterator[str]:
    with serving(grafana.handle) as base:
        yield base


# -- the built directory -----------------------------------------------------------------------


def dashboard_model(uid: str, title: str) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["tslcd", "netmon"],
        "timezone": "Asia/Ho_Chi_Minh",
        "schemaVersion": 41,
        "editable": True,
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "influxdb"}]},
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "Trễ đường truyền",
                "gridPos": {"x": 0, "y": 0, "w": 24, "h": 8},
                "datasource": {"type": "influxdb", "uid": "${datasource}"},
                "targets": [
                    {
                        "refId": "A",
                        "query": 'SELECT mean("average_response_ms") FROM "ping" '
                        "WHERE $timeFilter GROUP BY time($__interval)",
                        "rawQuery": True,
                    }
                ],
            }
        ],
    }


def _query(ref_id: str, datasource_uid: str, model: dict[str, Any]) -> dict[str, Any]:
    time_range = {"from": 600, "to": 0} if datasource_uid != "__expr__" else {"from": 0, "to": 0}
    return {
        "refId": ref_id,
        "relativeTimeRange": time_range,
        "datasourceUid": datasource_uid,
        "model": {"refId": ref_id, **model},
    }


def alert_rule(uid: str, title: str, for_: str, threshold: float) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "condition": "C",
        "data": [
            _query("A", "influxdb-tslcd", {"query": 'SELECT last("state") FROM "availability"'}),
            _query("B", "__expr__", {"type": "reduce", "expression": "A", "reducer": "last"}),
            _query(
                "C",
                "__expr__",
                {
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [threshold]}}],
                },
            ),
        ],
        "noDataState": "NoData",
        "execErrState": "Error",
        "for": for_,
        "annotations": {
            "summary": f"{title}: {{{{ $labels.site }}}}",
            "description": "Điểm kết nối không trả lời.",
            "runbook_url": f"https://wiki.tslcd.example.vn/runbook/{uid}",
        },
        "labels": {"severity": "critical", "team": "noc"},
        "isPaused": False,
    }


def build_directory(root: Path) -> Path:
    """A small built directory in the layout `netmon dashboards build` writes."""
    directory = root / "dashboards"
    folders = [
        {**NETWORK, "directory": "network"},
        {**ALERTS, "directory": "alerts"},
    ]
    entries = []
    for uid, title, folder in DASHBOARDS:
        sub = "network" if folder is NETWORK else "alerts"
        (directory / sub).mkdir(parents=True, exist_ok=True)
        (directory / sub / f"{uid}.json").write_text(
            json.dumps(dashboard_model(uid, title), ensure_ascii=False, sort_keys=True, indent=2),
            encoding="utf-8",
        )
        entries.append(
            {"uid": uid, "title": title, "folder_uid": folder["uid"], "file": f"{sub}/{uid}.json"}
        )
    alerting = directory / "provisioning" / "alerting"
    alerting.mkdir(parents=True)
    rules = {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": GROUP,
                "folder": ALERTS["title"],
                "interval": "1m",
                "rules": [
                    alert_rule("tslcd-site-down", "Điểm kết nối mất liên lạc", "5m", 1),
                    alert_rule("tslcd-site-degraded", "Điểm kết nối suy giảm", "90s", 0),
                ],
            }
        ],
    }
    (alerting / "rules.yaml").write_text(
        yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8"
    )
    mute_times = {
        "apiVersion": 1,
        "muteTimes": [
            {
                "orgId": 1,
                "name": MUTE_TIMINGS[0],
                "time_intervals": [
                    {
                        "times": [{"start_time": "22:00", "end_time": "24:00"}],
                        "location": "Asia/Ho_Chi_Minh",
                    },
                    {
                        "times": [{"start_time": "00:00", "end_time": "6:00"}],
                        "location": "Asia/Ho_Chi_Minh",
                    },
                ],
            },
            {
                "orgId": 1,
                "name": MUTE_TIMINGS[1],
                "time_intervals": [
                    {"weekdays": ["saturday", "sunday"], "location": "Asia/Ho_Chi_Minh"}
                ],
            },
        ],
    }
    (alerting / "mute-timings.yaml").write_text(
        yaml.safe_dump(mute_times, allow_unicode=True), encoding="utf-8"
    )
    manifest = {
        "grafana_version": "11.6",
        "folders": folders,
        "dashboards": entries,
        "alerting": {
            "folder_uid": ALERTS["uid"],
            "rules": "provisioning/alerting/rules.yaml",
            "mute_timings": "provisioning/alerting/mute-timings.yaml",
        },
    }
    write_manifest(directory, manifest)
    return directory


def read_manifest(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    return manifest


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2)
    (directory / "manifest.json").write_text(text, encoding="utf-8")


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return build_directory(tmp_path)


def run(directory: Path, url: str, **options: Any) -> PushReport:
    return push(directory, url=url, token=Secret(TOKEN), ca_file=None, **options)


def writes(grafana: FakeGrafana) -> list[str]:
    return [f"{request.method} {unquote(request.path)}" for request in grafana.writes]


RULE_GROUP_PATH = f"/api/v1/provisioning/folder/{ALERTS['uid']}/rule-groups/{GROUP}"
RULE_GROUP_KEY = f"{ALERTS['uid']}/{GROUP}"


# -- the tests ---------------------------------------------------------------------------------


def test_the_first_push_creates_every_object(
    grafana: FakeGrafana, url: str, directory: Path
) -> None:
    report = run(directory, url)

    assert undocumented(grafana.requests) == []
    assert writes(grafana) == [
        "POST /api/folders",
        "POST /api/folders",
        "POST /api/dashboards/db",
        "POST /api/dashboards/db",
        "POST /api/dashboards/db",
        "POST /api/v1/provisioning/mute-timings",
        "POST /api/v1/provisioning/mute-timings",
        f"PUT {RULE_GROUP_PATH}",
    ]
    assert report.ok and report.warnings == []
    assert report.count(Outcome.CREATED, ObjectKind.FOLDER) == 2
    assert report.count(Outcome.CREATED, ObjectKind.DASHBOARD) == len(DASHBOARDS)
    assert report.count(Outcome.CREATED, ObjectKind.MUTE_TIMING) == 2
    assert report.outcome(ObjectKind.RULE_GROUP, RULE_GROUP_KEY) == Outcome.CREATED
    assert {uid: f["title"] for uid, f in grafana.folders.items()} == {
        NETWORK["uid"]: NETWORK["title"],
        ALERTS["uid"]: ALERTS["title"],
    }
    for uid, title, folder in DASHBOARDS:
        stored = grafana.dashboards[uid]
        assert stored["model"] == dashboard_model(uid, title)
        assert stored["folderUid"] == folder["uid"]
        assert stored["message"] == f"netmon {__version__} push"
    group = grafana.rule_groups[ALERTS["uid"], GROUP]
    assert group["interval"] == 60
    assert [rule["uid"] for rule in group["rules"]] == ["tslcd-site-down", "tslcd-site-degraded"]
    assert [rule["for"] for rule in group["rules"]] == ["5m", "1m30s"]  # Grafana's spelling
    assert {(r["folderUID"], r["ruleGroup"], r["orgID"]) for r in group["rules"]} == {
        (ALERTS["uid"], GROUP, 1)
    }
    assert grafana.mute_timings[MUTE_TIMINGS[1]]["time_intervals"] == [
        {"weekdays": ["saturday", "sunday"], "location": "Asia/Ho_Chi_Minh"}
    ]
    # Provenance kept (see push.py): API-pushed alerting stays read-only in Grafana's UI.
    assert all("x-disable-provenance" not in request.headers for request in grafana.requests)
    assert "contact points and notification policies are not pushed" in report.summary()


def test_a_second_push_sends_only_reads(grafana: FakeGrafana, url: str, directory: Path) -> None:
    run(directory, url)
    first = len(grafana.requests)

    report = run(directory, url)

    second = grafana.requests[first:]
    assert undocumented(second) == []
    assert second and {request.method for request in second} == {"GET"}
    assert report.ok
    assert {result.outcome for result in report.results} == {Outcome.UNCHANGED}
    assert len(report.results) == 2 + len(DASHBOARDS) + len(MUTE_TIMINGS) + 1


def test_a_changed_dashboard_title_is_one_post(
    grafana: FakeGrafana, url: str, directory: Path
) -> None:
    run(directory, url)
    manifest = read_manifest(directory)
    entry = manifest["dashboards"][1]
    entry["title"] = "Mạng TSLCD cấp huyện (mới)"
    write_manifest(directory, manifest)
    model_path = directory / entry["file"]
    model = json.loads(model_path.read_text(encoding="utf-8"))
    model["title"] = entry["title"]
    model_path.write_text(json.dumps(model, ensure_ascii=False), encoding="utf-8")
    first = len(grafana.requests)

    report = run(directory, url)

    changed = [r for r in grafana.requests[first:] if r.is_write]
    assert undocumented(grafana.requests) == []
    assert [f"{r.method} {r.path}" for r in changed] == ["POST /api/dashboards/db"]
    assert changed[0].body["dashboard"]["title"] == entry["title"]
    assert changed[0].body["overwrite"] is True
    assert changed[0].body["folderUid"] == NETWORK["uid"]
    assert report.outcome(ObjectKind.DASHBOARD, entry["uid"]) == Outcome.UPDATED
    assert report.count(Outcome.UPDATED) == 1
    assert grafana.dashboards[entry["uid"]]["version"] == 2


def test_changes_made_in_grafana_are_put_back(
    grafana: FakeGrafana, url: str, directory: Path
) -> None:
    run(directory, url)
    grafana.folders[NETWORK["uid"]].update(title="Mạng cũ", version=7)
    grafana.rule_groups[ALERTS["uid"], GROUP]["interval"] = 300
    grafana.mute_timings[MUTE_TIMINGS[1]]["time_intervals"] = [{"weekdays": ["sunday"]}]
    mute_version = grafana.mute_timings[MUTE_TIMINGS[1]]["version"]
    grafana.dashboards[DASHBOARDS[2][0]]["folderUid"] = NETWORK["uid"]  # moved by hand
    first = len(grafana.requests)

    report = run(directory, url)

    changed = [r for r in grafana.requests[first:] if r.is_write]
    assert undocumented(grafana.requests) == []
    assert [f"{r.method} {unquote(r.path)}" for r in changed] == [
        f"PUT /api/folders/{NETWORK['uid']}",
        "POST /api/dashboards/db",
        f"PUT /api/v1/provisioning/mute-timings/{MUTE_TIMINGS[1]}",
        f"PUT {RULE_GROUP_PATH}",
    ]
    assert changed[0].body == {"title": NETWORK["title"], "version": 7}
    assert changed[2].body["version"] == mute_version  # Grafana's optimistic lock, as read
    assert report.ok and report.count(Outcome.UPDATED) == 4
    assert grafana.folders[NETWORK["uid"]]["title"] == NETWORK["title"]
    assert grafana.rule_groups[ALERTS["uid"], GROUP]["interval"] == 60
    assert grafana.dashboards[DASHBOARDS[2][0]]["folderUid"] == ALERTS["uid"]
    assert run(directory, url).count(Outcome.UNCHANGED) == len(report.results)


def test_a_dry_run_reads_and_writes_nothing(
    grafana: FakeGrafana, url: str, directory: Path
) -> None:
    report = run(directory, url, dry_run=True)

    assert undocumented(grafana.requests) == []
    assert grafana.writes == []
    assert report.dry_run and report.count(Outcome.CREATED) == len(report.results)
    assert "would create" in report.summary()
    assert grafana.folders == grafana.dashboards == {}


def test_a_refused_object_fails_alone(grafana: FakeGrafana, url: str, directory: Path) -> None:
    run(directory, url)
    grafana.mute_timings[MUTE_TIMINGS[0]].update(
        provenance="file", time_intervals=[{"weekdays": ["monday"]}]
    )

    report = run(directory, url)

    assert not report.ok
    [failed] = report.failed
    assert (failed.kind, failed.key) == (ObjectKind.MUTE_TIMING, MUTE_TIMINGS[0])
    assert "HTTP 409" in failed.message and "provenance" in failed.message
    assert report.count(Outcome.UNCHANGED) == len(report.results) - 1


def test_a_refused_folder_skips_what_it_holds(
    grafana: FakeGrafana, url: str, directory: Path
) -> None:
    grafana.folders["elsewhere"] = {"uid": "elsewhere", "title": ALERTS["title"], "version": 1}

    report = run(directory, url)

    assert report.outcome(ObjectKind.FOLDER, ALERTS["uid"]) == Outcome.FAILED
    skipped = [r for r in report.failed if r.kind != ObjectKind.FOLDER]
    assert {r.key for r in skipped} == {DASHBOARDS[2][0], RULE_GROUP_KEY}
    assert all("skipped: its folder tslcd-alerts failed" in r.message for r in skipped)
    assert report.outcome(ObjectKind.DASHBOARD, DASHBOARDS[0][0]) == Outcome.CREATED
    assert undocumented(grafana.requests) == []


def test_a_wrong_token_is_refused_with_http_401(
    grafana: FakeGrafana, url: str, directory: Path
) -> None:
    wrong = "glsa_NotTheRightToken_0000"
    with pytest.raises(PushError) as raised:
        push(directory, url=url, token=wrong, ca_file=None)

    message = str(raised.value)
    assert message.startswith(f"Grafana refused the token (HTTP 401) at {url}")
    assert wrong not in message and TOKEN not in message and wrong not in repr(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert grafana.writes == []


def test_a_token_without_write_permission_is_refused_with_http_403(
    grafana: FakeGrafana, url: str, directory: Path
) -> None:
    grafana.role = "Viewer"
    with pytest.raises(PushError, match=r"refused the token \(HTTP 403\) at .*folders:create"):
        run(directory, url)


def test_nothing_listening_names_the_url(directory: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    with pytest.raises(
        PushError, match=re.escape(f"cannot connect to Grafana at {url}: connection refused")
    ):
        run(directory, url)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((200, b"<html><body>Dang nhap</body></html>"), "expected a JSON object, got text"),
        ((200, ["not", "an", "object"]), "expected a JSON object, got list"),
        ((200, {"meta": {}}), "no 'dashboard' object in the answer"),
        ((200, JsonBytes(b"{not json")), "the answer is not JSON"),
    ],
    ids=["login-page", "json-list", "dashboard-without-model", "broken-json"],
)
def test_what_grafana_would_not_answer_is_named(
    directory: Path, answer: Answer, expected: str
) -> None:
    fake = FakeGrafana()

    def dashboards_broken(request: Recorded) -> Answer:
        if request.path.startswith("/api/dashboards/uid/"):
            return answer
        return fake.handle(request)

    with serving(dashboards_broken) as url, pytest.raises(PushError) as raised:
        run(directory, url)
    message = str(raised.value)
    assert expected in message
    assert f"GET /api/dashboards/uid/{DASHBOARDS[0][0]} at {url}" in message


def test_a_folder_changed_meanwhile_is_refused_with_http_412(
    grafana: FakeGrafana, url: str, directory: Path
) -> None:
    run(directory, url)
    grafana.folders[ALERTS["uid"]]["title"] = "Cảnh báo (sửa tay)"
    grafana.edited_meanwhile = ALERTS["uid"]  # someone saves it between our GET and our PUT

    report = run(directory, url)

    [failed, *skipped] = report.failed
    assert (failed.kind, failed.key) == (ObjectKind.FOLDER, ALERTS["uid"])
    assert "HTTP 412" in failed.message and "changed by someone else" in failed.message
    assert {r.key for r in skipped} == {DASHBOARDS[2][0], RULE_GROUP_KEY}
    assert undocumented(grafana.requests) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (
            lambda d, m: (d / "network" / "tslcd-province.json").unlink(),
            "network/tslcd-province.json: no such file",
        ),
        (
            lambda d, m: m["dashboards"][0].update(folder_uid="tslcd-nowhere"),
            "dashboards[0] (uid 'tslcd-province'): folder_uid 'tslcd-nowhere' is not one of",
        ),
        (
            lambda d, m: m["dashboards"].append(dict(m["dashboards"][0])),
            "dashboards[3]: uid 'tslcd-province' is already used by manifest.json dashboards[0]",
        ),
        (
            lambda d, m: m["folders"].append(dict(m["folders"][0])),
            "folders[2]: uid 'tslcd-network' is already used",
        ),
        (
            lambda d, m: m["dashboards"][0].update(title="Khác"),
            "tslcd-province.json: title 'Tổng quan mạng TSLCD tỉnh' is not the manifest's 'Khác'",
        ),
        (
            lambda d, m: m["dashboards"][0].update(file="../../etc/passwd"),
            "'../../etc/passwd' is not a path inside",
        ),
        (
            lambda d, m: m["alerting"].update(folder_uid="tslcd-network"),
            "folder 'Cảnh báo mạng TSLCD' is not 'Mạng truyền số liệu chuyên dùng'",
        ),
        (
            lambda d, m: (d / "provisioning/alerting/mute-timings.yaml").write_text(
                "apiVersion: 1\nmuteTimes: [{name: x}]\n"
            ),
            "mute-timings.yaml muteTimes[0]: missing time_intervals",
        ),
        (lambda d, m: (d / "manifest.json").unlink(), "manifest.json: cannot read it"),
    ],
    ids=[
        "missing-file",
        "unknown-folder",
        "duplicate-dashboard",
        "duplicate-folder",
        "title-differs",
        "outside",
        "alert-folder",
        "mute-timing",
        "no-manifest",
    ],
)
def test_a_broken_directory_sends_nothing(
    grafana: FakeGrafana,
    url: str,
    directory: Path,
    breakage: Callable[[Path, dict[str, Any]], Any],
    expected: str,
) -> None:
    manifest = read_manifest(directory)
    breakage(directory, manifest)
    if (directory / "manifest.json").exists():
        write_manifest(directory, manifest)

    with pytest.raises(ManifestError) as raised:
        run(directory, url)

    assert expected in str(raised.value)
    assert str(directory / "manifest.json") in str(raised.value)
    assert grafana.requests == []


def test_tls_is_verified_against_the_ca_file(tmp_path: Path, directory: Path) -> None:
    ca = LabCA.create(tmp_path / "ca")
    cert, key = ca.issue("grafana", ["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    fake = FakeGrafana()

    with serving(fake.handle, tls=context) as url:
        with pytest.raises(PushError, match=f"cannot connect to Grafana at {re.escape(url)}: TLS"):
            run(directory, url)
        assert fake.requests == []
        report = push(directory, url=url, token=TOKEN, ca_file=ca.cert_path)

    assert report.ok and report.count(Outcome.CREATED) == len(report.results)
    assert undocumented(fake.requests) == []


def test_the_token_is_never_shown(
    grafana: FakeGrafana, url: str, directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, niquests', urllib3's
    first = run(directory, url)
    grafana.mute_timings[MUTE_TIMINGS[0]].update(provenance="file", time_intervals=[])
    second = run(directory, url, dry_run=False)

    assert caplog.records  # the push did log
    shown = [caplog.text, *(repr(r.args) for r in caplog.records)]
    for report in (first, second):
        shown += [repr(report), report.summary(), *map(str, report.results)]
    assert all(TOKEN not in text for text in shown)
    # ...while it did go to Grafana, in the header only.
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in grafana.requests[1:])
    assert all(TOKEN.encode() not in r.raw_body for r in grafana.requests)


def test_an_old_grafana_is_a_warning(grafana: FakeGrafana, url: str, directory: Path) -> None:
    grafana.version = "10.4.3"

    report = run(directory, url)

    assert report.warnings == [f"Grafana at {url} is 10.4.3; the dashboards were built for 11.6"]


def test_a_url_that_is_not_grafanas_is_named(directory: Path) -> None:
    def proxy_404(request: Recorded) -> Answer:
        return 404, b"<html>404 page not found</html>"

    with serving(proxy_404) as url, pytest.raises(PushError) as raised:
        run(directory, url)
    assert f"HTTP 404 from GET /api/health: 404 page not found at {url}" in str(raised.value)


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("DELETE", "/api/folders/tslcd-network", None, "not a documented endpoint"),
        ("GET", "/api/search", None, "not a documented endpoint"),
        ("GET", "/api/folders/tslcd-network", {"uid": "x"}, "a body where the API takes none"),
        ("POST", "/api/folders", {"title": "Mạng"}, "body.uid: missing"),
        (
            "POST",
            "/api/dashboards/db",
            {"dashboard": {"uid": "a", "title": "A"}, "folderUid": "f", "overwrite": "true"},
            "body.overwrite: expected bool, got str",
        ),
        (
            "POST",
            "/api/dashboards/db",
            {"dashboard": {"title": "A"}, "folderUid": "f", "overwrite": True},
            "body.dashboard.uid: missing",
        ),
        (
            "PUT",
            RULE_GROUP_PATH,
            {"title": GROUP, "folderUid": ALERTS["uid"], "interval": "1m", "rules": []},
            "body.interval: expected int, got str",
        ),
        (
            "POST",
            "/api/v1/provisioning/mute-timings",
            {"name": "x", "time_intervals": [{"times": []}], "orgId": 1},
            "body.orgId: not a documented field",
        ),
    ],
)
def test_the_api_table_refuses_what_is_not_documented(
    method: str, path: str, body: Any, expected: str
) -> None:
    raw = json.dumps(body).encode() if body is not None else b""
    request = Recorded(method, path, {"content-type": "application/json"}, body, raw)

    assert any(expected in problem for problem in undocumented([request]))


def test_the_generated_directory_pushes_through_the_cli_and_a_second_push_changes_nothing(
    grafana: FakeGrafana, url: str, tmp_path: Path
) -> None:
    """What `netmon dashboards build` wrote (the committed dashboards/), pushed by the CLI."""
    import subprocess
    import sys

    token_file = tmp_path / "grafana-token"
    token_file.write_text(TOKEN + "\n")
    command = [
        *(sys.executable, "-m", "agent", "-c", "agent/lab/netmon-lab.toml", "dashboards", "push"),
        *("-o", "dashboards", "--url", url, "--token-file", str(token_file)),
    ]
    env = {"PATH": "/usr/bin:/bin"}
    first = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert undocumented(grafana.requests) == []
    manifest = read_manifest(Path("dashboards"))
    assert set(grafana.dashboards) == {entry["uid"] for entry in manifest["dashboards"]}
    assert set(grafana.folders) >= {f["uid"] for f in manifest["folders"]}
    [(folder_uid, _group)] = list(grafana.rule_groups)
    assert folder_uid == manifest["alerting"]["folder_uid"]
    assert TOKEN not in first.stdout + first.stderr

    before = len(grafana.requests)
    second = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert {request.method for request in grafana.requests[before:]} == {"GET"}
