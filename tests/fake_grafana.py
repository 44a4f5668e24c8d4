"""A Grafana that holds its objects in memory and answers as its HTTP API is documented.

`FakeGrafana` is served by `serving` on 127.0.0.1 (ephemeral port). It keeps folders,
dashboards, alert rule groups and mute timings, checks ``Authorization: Bearer <token>``,
answers 404 with Grafana's error bodies for unknown uids, 409/412 on conflicts and version
mismatches, spells durations back as Grafana does ("90s" comes back "1m30s"), adds what
Grafana adds (ids, versions, provenance) and records every request. `undocumented` checks the
recorded requests against `DOCUMENTED_API`, a table of the documented endpoints and their body
shapes (Grafana 11.6 docs: Folder API, Dashboard API, Alerting provisioning API, Health API).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from agent.dashboards.grafana_api import duration_ms

TOKEN = "glsa_PushTestToken_7c1e0f9a_5b3d"  # the shape of a Grafana service account token


# -- the documented API ------------------------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    """A JSON object: `required` and `optional` keys with their shapes; others refused unless
    `extra` (a dashboard model is free-form beyond uid and title)."""

    required: Mapping[str, Any]
    optional: Mapping[str, Any] = field(default_factory=dict)
    extra: bool = False


@dataclass(frozen=True)
class ListOf:
    item: Any
    min_items: int = 0


@dataclass(frozen=True)
class MapOf:
    value: Any


def shape_errors(value: Any, shape: Any, where: str) -> list[str]:
    if isinstance(shape, Obj):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        errors = [f"{where}.{key}: missing" for key in shape.required if key not in value]
        known = {**shape.required, **shape.optional}
        for key, item in value.items():
            if key in known:
                errors += shape_errors(item, known[key], f"{where}.{key}")
            elif not shape.extra:
                errors.append(f"{where}.{key}: not a documented field")
        return errors
    if isinstance(shape, ListOf):
        if not isinstance(value, list) or len(value) < shape.min_items:
            return [f"{where}: expected a list of at least {shape.min_items} items"]
        return [
            e
            for i, item in enumerate(value)
            for e in shape_errors(item, shape.item, f"{where}[{i}]")
        ]
    if isinstance(shape, MapOf):
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        return [e for k, v in value.items() for e in shape_errors(v, shape.value, f"{where}.{k}")]
    if (shape is int and isinstance(value, bool)) or not isinstance(value, shape):
        return [f"{where}: expected {shape.__name__}, got {type(value).__name__}"]
    return []


RELATIVE_TIME_RANGE = Obj({"from": int, "to": int})
ALERT_QUERY = Obj(
    {"refId": str, "datasourceUid": str, "model": dict},
    {"queryType": str, "relativeTimeRange": RELATIVE_TIME_RANGE},
)
# ProvisionedAlertRule. The docs' model table calls "for" a Duration (int64, the Go type);
# on the wire it is Prometheus' duration string ("5m"), as the docs' examples and Grafana's
# answers show.
PROVISIONED_ALERT_RULE = Obj(
    {
        "title": str,
        "condition": str,
        "data": ListOf(ALERT_QUERY, min_items=1),
        "noDataState": str,
        "execErrState": str,
        "for": str,
        "folderUID": str,
        "ruleGroup": str,
        "orgID": int,
    },
    {
        "uid": str,
        "annotations": MapOf(str),
        "labels": MapOf(str),
        "isPaused": bool,
        "notification_settings": dict,
        "keep_firing_for": str,
        "id": int,
        "provenance": str,
        "updated": str,
    },
)
TIME_INTERVAL = Obj(
    {},
    {
        "times": ListOf(Obj({"start_time": str, "end_time": str})),
        "weekdays": ListOf(str),
        "days_of_month": ListOf(str),
        "months": ListOf(str),
        "years": ListOf(str),
        "location": str,
    },
)
MUTE_TIME_INTERVAL = Obj(
    {"name": str, "time_intervals": ListOf(TIME_INTERVAL, min_items=1)}, {"version": str}
)
ALERT_RULE_GROUP = Obj(
    {
        "title": str,
        "folderUid": str,
        "interval": int,
        "rules": ListOf(PROVISIONED_ALERT_RULE, min_items=1),
    }
)
_SEGMENT = r"[^/]+"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # a regex over the path, one named group per path parameter
    body: Obj | None  # None: no body
    doc: str


DOCUMENTED_API = (
    Endpoint("GET", r"/api/health", None, "Health API: returns health information"),
    Endpoint("GET", rf"/api/folders/(?P<uid>{_SEGMENT})", None, "Folder API: get folder by uid"),
    Endpoint(
        "POST",
        r"/api/folders",
        Obj({"uid": str, "title": str}, {"parentUid": str, "description": str}),
        "Folder API: create folder",
    ),
    Endpoint(
        "PUT",
        rf"/api/folders/(?P<uid>{_SEGMENT})",
        Obj({"title": str}, {"version": int, "overwrite": bool, "uid": str, "description": str}),
        "Folder API: update folder",
    ),
    Endpoint(
        "GET",
        rf"/api/dashboards/uid/(?P<uid>{_SEGMENT})",
        None,
        "Dashboard API: get dashboard by uid",
    ),
    Endpoint(
        "POST",
        r"/api/dashboards/db",
        Obj(
            {
                "dashboard": Obj({"uid": str, "title": str}, extra=True),
                "folderUid": str,
                "overwrite": bool,
            },
            {"message": str, "folderId": int},
        ),
        "Dashboard API: create / update dashboard",
    ),
    Endpoint(
        "GET",
        rf"/api/v1/provisioning/folder/(?P<folder>{_SEGMENT})/rule-groups/(?P<group>{_SEGMENT})",
        None,
        "Alerting provisioning API: route get alert rule group",
    ),
    Endpoint(
        "PUT",
        rf"/api/v1/provisioning/folder/(?P<folder>{_SEGMENT})/rule-groups/(?P<group>{_SEGMENT})",
        ALERT_RULE_GROUP,
        "Alerting provisioning API: route put alert rule group",
    ),
    Endpoint(
        "GET",
        rf"/api/v1/provisioning/mute-timings/(?P<name>{_SEGMENT})",
        None,
        "Alerting provisioning API: route get mute timing",
    ),
    Endpoint(
        "POST",
        r"/api/v1/provisioning/mute-timings",
        MUTE_TIME_INTERVAL,
        "Alerting provisioning API: route post mute timing",
    ),
    Endpoint(
        "PUT",
        rf"/api/v1/provisioning/mute-timings/(?P<name>{_SEGMENT})",
        MUTE_TIME_INTERVAL,
        "Alerting provisioning API: route put mute timing",
    ),
)


def documented(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    for endpoint in DOCUMENTED_API:
        match = re.fullmatch(endpoint.path, path)
        if endpoint.method == method and match:
            return endpoint, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes

    @property
    def is_write(self) -> bool:
        return self.method != "GET"


def undocumented(requests: list[Recorded]) -> list[str]:
    """Every way `requests` stray from `DOCUMENTED_API`; [] when all are documented."""
    problems = []
    for request in requests:
        label = f"{request.method} {request.path}"
        found = documented(request.method, request.path)
        if found is None:
            problems.append(f"{label}: not a documented endpoint")
            continue
        endpoint, _ = found
        if endpoint.body is None:
            if request.raw_body:
                problems.append(f"{label}: a body where the API takes none")
            continue
        if not request.headers.get("content-type", "").startswith("application/json"):
            problems.append(f"{label}: body is not sent as application/json")
        problems += [f"{label}: {e}" for e in shape_errors(request.body, endpoint.body, "body")]
    return problems


# -- the fake Grafana --------------------------------------------------------------------------


def prometheus_duration(ms: int) -> str:
    """Prometheus' model.Duration.String(), the spelling Grafana answers durations in."""
    if ms == 0:
        return "0s"
    text = ""
    for unit, size, exact in (
        ("y", 365 * 86_400_000, True),
        ("w", 7 * 86_400_000, True),
        ("d", 86_400_000, False),
        ("h", 3_600_000, False),
        ("m", 60_000, False),
        ("s", 1000, False),
        ("ms", 1, False),
    ):
        if exact and ms % size:
            continue
        if ms // size:
            text += f"{ms // size}{unit}"
            ms -= (ms // size) * size
    return text


def _error(status: int, message: str, message_id: str = "") -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"message": message, "statusCode": status, "traceID": ""}
    if message_id:
        body["messageId"] = message_id
    return status, body


NOT_FOUND = _error(404, "Not found")


class JsonBytes(bytes):
    """An answer body sent as it is, labelled application/json."""


Answer = tuple[int, Any]


class FakeGrafana:
    """Grafana's folder, dashboard and alerting provisioning API over in-memory state."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.version = "11.6.0"
        self.role = "Editor"  # "Viewer": every write answered 403
        self.edited_meanwhile = ""  # a folder uid whose version moves after each GET
        self.requests: list[Recorded] = []
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.rule_groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.mute_timings: dict[str, dict[str, Any]] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    @property
    def writes(self) -> list[Recorded]:
        return [request for request in self.requests if request.is_write]

    def handle(self, request: Recorded) -> Answer:
        with self._lock:
            self.requests.append(request)
            if request.path == "/api/health":
                return 200, {"commit": "1a2b3c4", "database": "ok", "version": self.version}
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return _error(401, "Invalid API key", "api-keys.invalid")
            found = documented(request.method, request.path)
            if found is None:
                return NOT_FOUND
            endpoint, params = found
            if endpoint.body is not None:
                errors = shape_errors(request.body, endpoint.body, "body")
                if errors:
                    return _error(400, f"bad request data: {errors[0]}")
                if self.role == "Viewer":
                    return _error(
                        403,
                        "You'll need additional permissions to perform this action. "
                        "Permissions needed: any of folders:create",
                        "accesscontrol.forbidden",
                    )
            route = getattr(self, f"_{request.method.lower()}_{_route_name(endpoint)}")
            answer: Answer = route(params, request.body)
            return answer

    # folders

    def _get_folder(self, params: dict[str, str], body: None) -> Answer:
        folder = self.folders.get(params["uid"])
        if folder is None:
            return _error(404, "folder not found", "folder.notFound")
        answer = dict(folder)
        if params["uid"] == self.edited_meanwhile:
            folder["version"] += 1
        return 200, answer

    def _post_folders(self, params: dict[str, str], body: dict[str, Any]) -> Answer:
        if body["uid"] in self.folders:
            return _error(409, "a folder with the same uid already exists", "folder.conflict")
        if any(folder["title"] == body["title"] for folder in self.folders.values()):
            return _error(409, "a folder with that name already exists", "folder.conflict")
        folder = {
            "id": self._id(),
            "uid": body["uid"],
            "title": body["title"],
            "url": f"/dashboards/f/{body['uid']}/",
            "version": 1,
            "hasAcl": False,
            "canSave": True,
        }
        self.folders[body["uid"]] = folder
        return 200, folder

    def _put_folder(self, params: dict[str, str], body: dict[str, Any]) -> Answer:
        folder = self.folders.get(params["uid"])
        if folder is None:
            return _error(404, "folder not found", "folder.notFound")
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            return 412, {
                "message": "the folder has been changed by someone else",
                "status": "version-mismatch",
            }
        folder.update(title=body["title"], version=folder["version"] + 1)
        return 200, folder

    # dashboards

    def _get_dashboard(self, params: dict[str, str], body: None) -> Answer:
        stored = self.dashboards.get(params["uid"])
        if stored is None:
            return 404, {"message": "Dashboard not found", "traceID": ""}
        folder = self.folders[stored["folderUid"]]
        meta = {
            "type": "db",
            "slug": stored["model"]["uid"],
            "url": f"/d/{stored['model']['uid']}",
            "folderUid": folder["uid"],
            "folderTitle": folder["title"],
            "version": stored["version"],
            "provisioned": False,
        }
        model = {**stored["model"], "id": stored["id"], "version": stored["version"]}
        return 200, {"dashboard": model, "meta": meta}

    def _post_dashboards_db(self, params: dict[str, str], body: dict[str, Any]) -> Answer:
        model = body["dashboard"]
        if body["folderUid"] not in self.folders:
            return _error(400, "folder not found", "folder.notFound")
        stored = self.dashboards.get(model["uid"])
        if stored and not body["overwrite"] and model.get("version") != stored["version"]:
            return 412, {
                "message": "The dashboard has been changed by someone else",
                "status": "version-mismatch",
            }
        version = stored["version"] + 1 if stored else 1
        dashboard_id = stored["id"] if stored else self._id()
        clean = {k: v for k, v in model.items() if k not in ("id", "version")}
        self.dashboards[model["uid"]] = {
            "model": clean,
            "folderUid": body["folderUid"],
            "version": version,
            "id": dashboard_id,
            "message": body.get("message", ""),
        }
        return 200, {
            "id": dashboard_id,
            "uid": model["uid"],
            "url": f"/d/{model['uid']}",
            "status": "success",
            "version": version,
            "folderUid": body["folderUid"],
        }

    # alert rule groups

    def _get_rule_group(self, params: dict[str, str], body: None) -> Answer:
        stored = self.rule_groups.get((params["folder"], params["group"]))
        if stored is None:
            return _error(404, "rule group does not exist", "alerting.rule-group.notFound")
        return 200, stored

    def _put_rule_group(self, params: dict[str, str], body: dict[str, Any]) -> Answer:
        folder_uid, group = params["folder"], params["group"]
        if folder_uid not in self.folders:
            return _error(404, "folder does not exist", "folder.notFound")
        if body["folderUid"] != folder_uid or body["title"] != group:
            return _error(400, "folder and group in the body must be those of the path")
        if body["interval"] <= 0 or body["interval"] % 10:
            return _error(400, "interval must be a positive multiple of 10 seconds")
        stored = self.rule_groups.get((folder_uid, group))
        if stored and any(rule["provenance"] == "file" for rule in stored["rules"]):
            return _error(409, "cannot change provenance from 'file' to 'api'")
        rules = []
        for index, rule in enumerate(body["rules"]):
            if rule["folderUID"] != folder_uid or rule["ruleGroup"] != group:
                return _error(400, f"rule {index}: folderUID and ruleGroup must be the group's")
            if rule["condition"] not in {query["refId"] for query in rule["data"]}:
                return _error(400, f"rule {index}: condition is not a query")
            rules.append(
                {
                    **rule,
                    "id": self._id(),
                    "updated": "2026-11-22T04:00:00Z",
                    "provenance": "api",
                    "for": prometheus_duration(duration_ms(rule["for"])),
                }
            )
        self.rule_groups[folder_uid, group] = {**body, "rules": rules}
        return 200, self.rule_groups[folder_uid, group]

    # mute timings

    def _get_mute_timing(self, params: dict[str, str], body: None) -> Answer:
        stored = self.mute_timings.get(params["name"])
        if stored is None:
            return _error(
                404, "mute timing not found", "alerting.notifications.time-intervals.notFound"
            )
        return 200, stored

    def _post_mute_timings(self, params: dict[str, str], body: dict[str, Any]) -> Answer:
        if body["name"] in self.mute_timings:
            return _error(409, "a mute timing with this name already exists")
        self.mute_timings[body["name"]] = {**body, "version": f"v{self._id()}", "provenance": "api"}
        return 201, self.mute_timings[body["name"]]

    def _put_mute_timing(self, params: dict[str, str], body: dict[str, Any]) -> Answer:
        stored = self.mute_timings.get(params["name"])
        if stored is None:
            return _error(
                404, "mute timing not found", "alerting.notifications.time-intervals.notFound"
            )
        if stored["provenance"] == "file":
            return _error(409, "cannot change provenance from 'file' to 'api'")
        if "version" in body and body["version"] != stored["version"]:
            return _error(409, "provided version does not match current version")
        self.mute_timings[params["name"]] = {
            **body,
            "version": f"v{self._id()}",
            "provenance": "api",
        }
        return 200, self.mute_timings[params["name"]]


def _route_name(endpoint: Endpoint) -> str:
    names = {
        r"/api/folders": "folders",
        rf"/api/folders/(?P<uid>{_SEGMENT})": "folder",
        rf"/api/dashboards/uid/(?P<uid>{_SEGMENT})": "dashboard",
        r"/api/dashboards/db": "dashboards_db",
        r"/api/v1/provisioning/mute-timings": "mute_timings",
        rf"/api/v1/provisioning/mute-timings/(?P<name>{_SEGMENT})": "mute_timing",
    }
    return names.get(endpoint.path, "rule_group")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = Recorded(
            self.command,
            urlsplit(self.path).path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            raw,
        )
        status, answer = self.server.answer(request)
        payload: bytes = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        html = isinstance(answer, bytes) and not isinstance(answer, JsonBytes)
        content_type = "text/html; charset=utf-8" if html else "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Callable[[Recorded], Answer]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer


@contextmanager
def serving(
    answer: Callable[[Recorded], Answer], tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Serve `answer` on 127.0.0.1 at an ephemeral port; yield the base URL."""
    server = _Server(answer)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fake-grafana", daemon=True
    )
    thread.start()
    try:
        scheme = "https" if tls else "http"
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
