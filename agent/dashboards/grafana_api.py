"""Grafana's HTTP API as ``netmon dashboards push`` uses it: endpoints, errors, object shapes.

Two halves: :class:`GrafanaHttp`, the few documented endpoints push calls (through
grafana-client), and the object shapes: :func:`rule_group_to_api` and :func:`mute_timing_to_api`
turn Grafana's file-provisioning format into the API's, and the ``*_differs`` functions say
whether what Grafana holds differs from what would be written (what Grafana adds by itself, such
as ids, versions and defaults, does not count).

Every call goes through :meth:`GrafanaHttp._call`, which turns the library's and the transport's
failures into two kinds of error:

* :class:`PushError`, the push cannot go on: the token is refused (HTTP 401/403), nothing
  answers at the URL (connection refused, name not resolved, TLS verification failed, timeout),
  or what answers is not Grafana (not JSON, or JSON of the wrong shape).
* :class:`RequestRejected`, Grafana refused one object (any other 4xx, or a 5xx): that object
  fails, the push goes on with the others.

A ``GET`` answered 404 is "no such object" (``None``), never an error.

The token is a :class:`~agent.secret.Secret`; :class:`_BearerSecret` reveals it only into the
``Authorization`` header of a request being sent, and no message built here holds it.
Exceptions are raised ``from None``: a chained transport exception carries the prepared
request, headers included, into whatever prints tracebacks with their locals.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import niquests
import niquests.auth
import niquests.exceptions
from grafana_client.api import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaTimeoutError,
    GrafanaUnauthorizedError,
)

from agent.secret import Secret

DEFAULT_TIMEOUT_S = 10.0
_MESSAGE_LIMIT = 300  # characters of a Grafana error message quoted back to the operator
DASHBOARD_SERVER_KEYS = frozenset({"id", "version", "iteration"})  # Grafana sets these itself
NO_DATA_STATES = frozenset({"NoData", "Alerting", "OK", "KeepLast"})
EXEC_ERR_STATES = frozenset({"Error", "Alerting", "OK", "KeepLast"})
EVALUATION_TICK_MS = 10_000  # Grafana evaluates rules on a 10 s tick: intervals are multiples

UID = re.compile(r"[A-Za-z0-9_-]{1,40}")  # Grafana's rule for folder, dashboard and rule uids
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_TAG = re.compile(r"<[^>]*>")


class PushError(Exception):
    """The push cannot go on; the message says why in the operator's words, never with the token."""


class RequestRejected(Exception):
    """Grafana refused one request (HTTP `status`): the object it was about fails, not the push."""

    def __init__(self, request: str, status: int, message: str) -> None:
        self.request = request
        self.status = status
        self.message = message
        super().__init__(f"HTTP {status} from {request}: {message}")


class ConversionError(ValueError):
    """A provisioning-file entry that has no API form; the message says which field and why."""


@dataclass(frozen=True)
class GrafanaUrl:
    """Where Grafana answers: ``https://grafana.example.vn`` or ``http://10.0.0.5:3000/grafana``."""

    protocol: str
    host: str
    port: int | None
    path_prefix: str  # "" or "grafana/": grafana-client appends "api" to it

    @classmethod
    def parse(cls, url: str) -> GrafanaUrl:
        """The URL's parts; :class:`PushError` for what cannot be Grafana's base URL."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise PushError(f"Grafana URL {url!r} is not a URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PushError(
                f"Grafana URL {url!r} must be http(s)://host[:port][/path], "
                "e.g. https://grafana.tslcd.example.vn"
            )
        if parts.username is not None or parts.password is not None:
            # A password in the URL would be printed in every message naming the URL.
            raise PushError(
                "the Grafana URL must not hold a user or password; "
                "give a service account token (NETMON_GRAFANA_TOKEN or --token-file)"
            )
        if parts.query or parts.fragment:
            raise PushError(f"the Grafana URL must not have a query or fragment: {url!r}")
        prefix = parts.path.strip("/")
        return cls(parts.scheme, parts.hostname, port, f"{prefix}/" if prefix else "")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}://{host}{port}/{self.path_prefix}".rstrip("/")


class _BearerSecret(niquests.auth.AuthBase):
    """``Authorization: Bearer <token>``: the one place the token is revealed."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def __call__(self, r: niquests.PreparedRequest) -> niquests.PreparedRequest:
        if r.headers is not None:  # always, once prepared; without it Grafana answers 401
            r.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        return r

    def __repr__(self) -> str:
        return "_BearerSecret(<secret>)"


def _segment(value: str) -> str:
    # Rule groups and mute timings are named in Vietnamese, with spaces: one path segment each.
    return quote(value, safe="")


def _grafana_message(response: Any) -> str:
    if isinstance(response, Mapping):
        message = response.get("message") or response.get("msg") or response.get("error")
        if message:
            return str(message)[:_MESSAGE_LIMIT]
    text = " ".join(_TAG.sub(" ", str(response or "")).split())  # a proxy's HTML page, as words
    return text[:_MESSAGE_LIMIT] or "(no message)"


def _transport_reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host name not resolved"
        if isinstance(seen, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate not trusted ({seen.verify_message}); "
                "give --ca-file with the CA that signed it"
            )
        seen = seen.__cause__ or seen.__context__
    return " ".join(str(exc).split())[:_MESSAGE_LIMIT] or type(exc).__name__


class GrafanaHttp:
    """The few Grafana endpoints push uses; one session, closed by :meth:`close` (or ``with``).

    `verify` is niquests' ``verify``: ``True`` (system CAs), a CA bundle's path, or ``False``.
    Documented endpoints only; the test suite checks every request against its table of them.
    """

    def __init__(
        self,
        url: GrafanaUrl,
        token: Secret,
        *,
        verify: bool | str = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        user_agent: str = "tslcd-netmon",
    ) -> None:
        self.url = url
        self._api = GrafanaApi(
            _BearerSecret(token),
            host=f"[{url.host}]" if ":" in url.host else url.host,
            port=url.port,
            url_path_prefix=url.path_prefix,
            protocol=url.protocol,
            verify=verify,
            timeout=timeout_s,
            user_agent=user_agent,
        )

    def __repr__(self) -> str:
        return f"GrafanaHttp({str(self.url)!r})"

    def __enter__(self) -> GrafanaHttp:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._api.client.s.close()

    # -- health (no authentication) ---------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /api/health``: ``{"database": "ok", "version": "11.6.0", ...}``."""
        try:
            return self._object("GET /api/health", self._api.client.GET, "/health")
        except RequestRejected as rejected:
            # Every Grafana answers this one, without a token: the URL is not Grafana's.
            raise PushError(
                f"{rejected} at {self.url}: is this Grafana's URL (with its sub-path, if any)?"
            ) from None

    # -- folders ----------------------------------------------------------------------------

    def get_folder(self, uid: str) -> dict[str, Any] | None:
        request = f"GET /api/folders/{_segment(uid)}"
        return self._optional(request, self._api.folder.get_folder, _segment(uid))

    def create_folder(self, uid: str, title: str) -> dict[str, Any]:
        return self._object("POST /api/folders", self._api.folder.create_folder, title, uid)

    def update_folder(self, uid: str, title: str, version: int | None) -> dict[str, Any]:
        # With the version read just before, Grafana answers 412 if someone changed it since.
        return self._object(
            f"PUT /api/folders/{_segment(uid)}",
            self._api.folder.update_folder,
            _segment(uid),
            title=title,
            version=version,
            overwrite=version is None,
        )

    # -- dashboards -------------------------------------------------------------------------

    def get_dashboard(self, uid: str) -> dict[str, Any] | None:
        """``{"dashboard": {...}, "meta": {"folderUid": ..., ...}}`` or ``None``."""
        request = f"GET /api/dashboards/uid/{_segment(uid)}"
        answer = self._optional(request, self._api.dashboard.get_dashboard, _segment(uid))
        if answer is not None and not isinstance(answer.get("dashboard"), dict):
            raise self._unexpected(request, "no 'dashboard' object in the answer")
        return answer

    def save_dashboard(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/dashboards/db`` with ``{dashboard, folderUid, overwrite, message}``."""
        return self._object(
            "POST /api/dashboards/db", self._api.dashboard.update_dashboard, payload
        )

    # -- alerting provisioning --------------------------------------------------------------

    def _rule_group_path(self, folder_uid: str, group: str) -> tuple[str, str, str]:
        path = f"/api/v1/provisioning/folder/{_segment(folder_uid)}/rule-groups/{_segment(group)}"
        return path, _segment(folder_uid), _segment(group)

    def get_rule_group(self, folder_uid: str, group: str) -> dict[str, Any] | None:
        path, folder, name = self._rule_group_path(folder_uid, group)
        provisioning = self._api.alertingprovisioning
        return self._optional(f"GET {path}", provisioning.get_rule_group, folder, name)

    def put_rule_group(self, folder_uid: str, group: str, body: dict[str, Any]) -> dict[str, Any]:
        path, folder, name = self._rule_group_path(folder_uid, group)
        # No X-Disable-Provenance (see push.py): the group stays read-only in Grafana's UI.
        provisioning = self._api.alertingprovisioning
        return self._object(f"PUT {path}", provisioning.update_rule_group, folder, name, body)

    def get_mute_timing(self, name: str) -> dict[str, Any] | None:
        request = f"GET /api/v1/provisioning/mute-timings/{_segment(name)}"
        provisioning = self._api.alertingprovisioning
        return self._optional(request, provisioning.get_mute_timing, _segment(name))

    def create_mute_timing(self, body: dict[str, Any]) -> dict[str, Any]:
        provisioning = self._api.alertingprovisioning
        return self._object(
            "POST /api/v1/provisioning/mute-timings", provisioning.create_mute_timing, body
        )

    def update_mute_timing(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        request = f"PUT /api/v1/provisioning/mute-timings/{_segment(name)}"
        provisioning = self._api.alertingprovisioning
        return self._object(request, provisioning.update_mute_timing, _segment(name), body)

    # -- the one door -----------------------------------------------------------------------

    def _optional(
        self, request: str, call: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any] | None:
        try:
            return self._object(request, call, *args, **kwargs)
        except RequestRejected as rejected:
            if rejected.status == 404:
                return None
            raise

    def _object(
        self, request: str, call: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        answer = self._call(request, call, *args, **kwargs)
        if not isinstance(answer, dict):
            shown = "text" if isinstance(answer, str) else type(answer).__name__
            raise self._unexpected(request, f"expected a JSON object, got {shown}")
        return answer

    def _unexpected(self, request: str, what: str) -> PushError:
        return PushError(
            f"unexpected answer from {request} at {self.url}: {what}; "
            "is this URL Grafana's (and not a proxy's login page)?"
        )

    def _call(self, request: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except GrafanaUnauthorizedError:
            raise self._refused(401, "") from None
        except GrafanaClientError as exc:
            if exc.status_code == 403:
                raise self._refused(403, _grafana_message(exc.response)) from None
            raise RequestRejected(
                request, exc.status_code, _grafana_message(exc.response)
            ) from None
        except GrafanaServerError as exc:
            raise RequestRejected(
                request, exc.status_code, _grafana_message(exc.response)
            ) from None
        except GrafanaTimeoutError:
            raise PushError(f"no answer from Grafana at {self.url} in time ({request})") from None
        except niquests.exceptions.JSONDecodeError:
            raise self._unexpected(request, "the answer is not JSON") from None
        except (niquests.exceptions.ConnectionError, GrafanaException) as exc:
            reason = _transport_reason(exc)
            raise PushError(f"cannot connect to Grafana at {self.url}: {reason}") from None
        except niquests.exceptions.RequestException as exc:
            reason = _transport_reason(exc)
            raise PushError(f"request to Grafana at {self.url} failed: {reason}") from None

    def _refused(self, status: int, message: str) -> PushError:
        detail = f": {message}" if message else ""
        return PushError(
            f"Grafana refused the token (HTTP {status}) at {self.url}{detail}; "
            "give a service account token with the Editor role "
            "(NETMON_GRAFANA_TOKEN or --token-file)"
        )


# -- provisioning file format -> API ----------------------------------------------------------


def duration_ms(text: object) -> int:
    """A Prometheus-style duration (``30s``, ``5m``, ``1h30m``, ``1d``, ``0``) in milliseconds."""
    if text == "0":
        return 0
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ConversionError(f"{text!r} is not a duration such as 30s, 5m or 1h30m")
    return sum(
        int(amount) * unit
        for amount, unit in zip(match.groups(), _DURATION_UNIT_MS, strict=True)
        if amount
    )


def _check_keys(
    entry: object, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ConversionError("must be a mapping")
    missing = [key for key in required if key not in entry]
    if missing:
        raise ConversionError(f"missing {', '.join(missing)}")
    unknown = sorted(set(entry) - set(required) - set(optional))
    if unknown:
        raise ConversionError(f"unknown field(s) {', '.join(map(str, unknown))} (not pushed)")
    return entry


def _string(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ConversionError(f"'{key}' must be a non-empty string")
    return value


def _string_map(entry: Mapping[str, Any], key: str) -> dict[str, str]:
    value = entry.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and isinstance(text, str) for name, text in value.items()
    ):
        raise ConversionError(f"'{key}' must map names to strings")
    return dict(value)


_RULE_REQUIRED = ("uid", "title", "condition", "data", "noDataState", "execErrState", "for")
_RULE_OPTIONAL = (
    "annotations",
    "labels",
    "isPaused",
    "dashboardUid",
    "panelId",
    "notification_settings",
    "keep_firing_for",
)
_QUERY_REQUIRED = ("refId", "datasourceUid", "model")
_QUERY_OPTIONAL = ("relativeTimeRange", "queryType")


def rule_group_to_api(group: object, folder_uid: str, folder_title: str) -> dict[str, Any]:
    """One ``groups[]`` entry of a rules provisioning file as the API's ``AlertRuleGroup``.

    File (``interval: "1m"``, ``folder`` by title, ``orgId`` on the group)::

        {orgId: 1, name: "Thiết bị", folder: "Cảnh báo", interval: "1m", rules: [{uid, title,
         condition, data, noDataState, execErrState, for: "5m", annotations, labels, isPaused}]}

    API (``interval`` in whole seconds, the folder by uid, each rule naming its group)::

        {"title": "Thiết bị", "folderUid": "tslcd-alerts", "interval": 60, "rules": [{uid, title,
         condition, data, noDataState, execErrState, "for": "5m", annotations, labels,
         isPaused, "folderUID": "tslcd-alerts", "ruleGroup": "Thiết bị", "orgID": 1}]}

    A rule's ``dashboardUid``/``panelId`` become the ``__dashboardUid__``/``__panelId__``
    annotations the API uses for them. The group's ``folder`` must be the title of
    `folder_uid` (the manifest's ``alerting.folder_uid``). :class:`ConversionError` otherwise,
    and for a field the API has no place for.
    """
    name = group.get("name") if isinstance(group, dict) else None
    label = f"group {name!r}" if isinstance(name, str) and name else "group"
    try:
        entry = _check_keys(group, ("name", "folder", "interval", "rules"), ("orgId",))
        name = _string(entry, "name")
        if entry["folder"] != folder_title:
            raise ConversionError(
                f"folder {entry['folder']!r} is not {folder_title!r}, the title of the "
                f"alerting folder {folder_uid!r}"
            )
        interval_ms = duration_ms(entry["interval"])
        if interval_ms <= 0 or interval_ms % EVALUATION_TICK_MS:
            raise ConversionError(
                f"interval {entry['interval']!r} must be a positive multiple of 10s"
            )
        org_id = entry.get("orgId", 1)
        if not isinstance(org_id, int) or isinstance(org_id, bool) or org_id < 1:
            raise ConversionError(f"orgId {org_id!r} must be a positive integer")
        rules = entry["rules"]
        if not isinstance(rules, list) or not rules:
            raise ConversionError("'rules' must be a non-empty list")
    except ConversionError as exc:
        raise ConversionError(f"{label}: {exc}") from None
    api_rules = []
    for index, rule in enumerate(rules):
        try:
            api_rules.append(_rule_to_api(rule, folder_uid, name, org_id))
        except ConversionError as exc:
            raise ConversionError(f"{label} rules[{index}]: {exc}") from None
    return {
        "title": name,
        "folderUid": folder_uid,
        "interval": interval_ms // 1000,
        "rules": api_rules,
    }


def _rule_to_api(rule: object, folder_uid: str, group: str, org_id: int) -> dict[str, Any]:
    entry = _check_keys(rule, _RULE_REQUIRED, _RULE_OPTIONAL)
    uid = _string(entry, "uid")
    if not UID.fullmatch(uid):
        raise ConversionError(f"uid {uid!r} must be 1-40 letters, digits, '-' or '_'")
    data = entry["data"]
    if not isinstance(data, list) or not data:
        raise ConversionError(f"rule {uid!r}: 'data' must be a non-empty list of queries")
    queries = [_query_to_api(query, uid) for query in data]
    if entry["condition"] not in {query["refId"] for query in queries}:
        raise ConversionError(f"rule {uid!r}: condition {entry['condition']!r} is no query's refId")
    if entry["noDataState"] not in NO_DATA_STATES:
        raise ConversionError(f"rule {uid!r}: noDataState must be one of {sorted(NO_DATA_STATES)}")
    if entry["execErrState"] not in EXEC_ERR_STATES:
        raise ConversionError(
            f"rule {uid!r}: execErrState must be one of {sorted(EXEC_ERR_STATES)}"
        )
    duration_ms(entry["for"])
    annotations = _string_map(entry, "annotations")
    if "dashboardUid" in entry or "panelId" in entry:
        dashboard_uid, panel_id = entry.get("dashboardUid"), entry.get("panelId")
        if not isinstance(dashboard_uid, str) or not isinstance(panel_id, int):
            raise ConversionError(
                f"rule {uid!r}: dashboardUid (string) and panelId (integer) go together"
            )
        annotations |= {"__dashboardUid__": dashboard_uid, "__panelId__": str(panel_id)}
    is_paused = entry.get("isPaused", False)
    if not isinstance(is_paused, bool):
        raise ConversionError(f"rule {uid!r}: isPaused must be true or false")
    api_rule: dict[str, Any] = {
        "uid": uid,
        "title": _string(entry, "title"),
        "condition": entry["condition"],
        "data": queries,
        "noDataState": entry["noDataState"],
        "execErrState": entry["execErrState"],
        "for": entry["for"],
        "annotations": annotations,
        "labels": _string_map(entry, "labels"),
        "isPaused": is_paused,
        "folderUID": folder_uid,
        "ruleGroup": group,
        "orgID": org_id,
    }
    if "keep_firing_for" in entry:
        duration_ms(entry["keep_firing_for"])
        api_rule["keep_firing_for"] = entry["keep_firing_for"]
    if "notification_settings" in entry:
        if not isinstance(entry["notification_settings"], dict):
            raise ConversionError(f"rule {uid!r}: notification_settings must be a mapping")
        api_rule["notification_settings"] = entry["notification_settings"]
    return api_rule


def _query_to_api(query: object, rule_uid: str) -> dict[str, Any]:
    try:
        entry = _check_keys(query, _QUERY_REQUIRED, _QUERY_OPTIONAL)
        api_query = {
            "refId": _string(entry, "refId"),
            "datasourceUid": _string(entry, "datasourceUid"),
            "model": entry["model"],
        }
        if not isinstance(entry["model"], dict):
            raise ConversionError("'model' must be a mapping")
        if "queryType" in entry:
            api_query["queryType"] = entry["queryType"]
        if "relativeTimeRange" in entry:
            time_range = _check_keys(entry["relativeTimeRange"], ("from", "to"), ())
            if not all(
                isinstance(time_range[key], int) and time_range[key] >= 0 for key in ("from", "to")
            ):
                raise ConversionError("relativeTimeRange from/to must be seconds (integers >= 0)")
            api_query["relativeTimeRange"] = {"from": time_range["from"], "to": time_range["to"]}
    except ConversionError as exc:
        raise ConversionError(f"rule {rule_uid!r} data: {exc}") from None
    return api_query


_INTERVAL_FIELDS = ("times", "weekdays", "days_of_month", "months", "years", "location")


def mute_timing_to_api(entry: object) -> dict[str, Any]:
    """One ``muteTimes[]`` entry of a provisioning file as the API's ``MuteTimeInterval``.

    The file's ``{orgId, name, time_intervals: [{times: [{start_time: "22:00", end_time:
    "24:00"}], weekdays: ["saturday", "sunday"], location: "Asia/Ho_Chi_Minh"}]}`` loses its
    ``orgId`` (the token's organisation is the one written); ``time_intervals`` is the same
    in both formats.
    """
    mute = _check_keys(entry, ("name", "time_intervals"), ("orgId",))
    name = _string(mute, "name")
    intervals = mute["time_intervals"]
    if not isinstance(intervals, list) or not intervals:
        raise ConversionError(f"mute timing {name!r}: 'time_intervals' must be a non-empty list")
    for interval in intervals:
        try:
            _check_keys(interval, (), _INTERVAL_FIELDS)
            for time_range in interval.get("times") or []:
                _check_keys(time_range, ("start_time", "end_time"), ())
                if not all(
                    _CLOCK.fullmatch(str(time_range[key])) for key in ("start_time", "end_time")
                ):
                    raise ConversionError("times must be HH:MM")
        except ConversionError as exc:
            raise ConversionError(f"mute timing {name!r} time_intervals: {exc}") from None
    return {"name": name, "time_intervals": intervals}


# -- comparing with what Grafana holds ---------------------------------------------------------


def dashboard_differs(stored: Mapping[str, Any], model: Mapping[str, Any], folder_uid: str) -> bool:
    """Whether Grafana's ``GET /api/dashboards/uid/:uid`` answer differs from the built model."""
    meta = stored.get("meta") or {}
    if meta.get("folderUid") != folder_uid:
        return True
    current = {k: v for k, v in stored["dashboard"].items() if k not in DASHBOARD_SERVER_KEYS}
    wanted = {k: v for k, v in model.items() if k not in DASHBOARD_SERVER_KEYS}
    return current != wanted


def _contains(have: object, want: object) -> bool:
    # Grafana fills defaults into query models and notification settings; what we set must be
    # there unchanged, what it adds does not count as a difference.
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and _contains(have[k], v) for k, v in want.items()
        )
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(map(_contains, have, want))
    return have == want


def _same_duration(have: object, want: object) -> bool:
    # Grafana answers durations in its own spelling ("90s" comes back "1m30s").
    try:
        return duration_ms(have or "0s") == duration_ms(want or "0s")
    except ConversionError:
        return False


def _query_differs(have: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    no_range = {"from": 0, "to": 0}
    return (
        have.get("refId") != want["refId"]
        or have.get("datasourceUid") != want["datasourceUid"]
        or (have.get("queryType") or "") != want.get("queryType", "")
        or (have.get("relativeTimeRange") or no_range) != want.get("relativeTimeRange", no_range)
        or not _contains(have.get("model"), want["model"])
    )


def _rule_differs(have: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    plain = ("uid", "title", "condition", "noDataState", "execErrState", "folderUID", "ruleGroup")
    if any(have.get(key) != want[key] for key in plain):
        return True
    if any((have.get(key) or {}) != want[key] for key in ("annotations", "labels")):
        return True
    if bool(have.get("isPaused")) != want["isPaused"]:
        return True
    if not _same_duration(have.get("for"), want["for"]):
        return True
    if not _same_duration(have.get("keep_firing_for"), want.get("keep_firing_for")):
        return True
    settings = want.get("notification_settings")
    if settings is None:
        if have.get("notification_settings"):
            return True
    elif not _contains(have.get("notification_settings"), settings):
        return True
    queries = have.get("data") or []
    return len(queries) != len(want["data"]) or any(map(_query_differs, queries, want["data"]))


def rule_group_differs(stored: Mapping[str, Any], group: Mapping[str, Any]) -> bool:
    """Whether Grafana's ``AlertRuleGroup`` differs from `group` (both in the API's form).

    Keys Grafana adds (``id``, ``updated``, ``provenance``, defaults inside query models) do
    not count; rules are compared in order, which is their evaluation order.
    """
    if any(stored.get(key) != group[key] for key in ("title", "folderUid", "interval")):
        return True
    rules = stored.get("rules") or []
    return len(rules) != len(group["rules"]) or any(map(_rule_differs, rules, group["rules"]))


def _interval_view(interval: Mapping[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for key, value in interval.items():
        if value in (None, "", []):
            continue  # Grafana leaves empty fields out of its answer
        if key == "times":
            value = [{k: _clock(v) for k, v in time_range.items()} for time_range in value]
        elif key in ("weekdays", "months"):
            value = [str(item).lower() for item in value]
        view[key] = value
    return view


def _clock(text: object) -> str:
    match = _CLOCK.fullmatch(str(text))
    return f"{int(match[1]):02d}:{match[2]}" if match else str(text)


def mute_timing_differs(stored: Mapping[str, Any], mute: Mapping[str, Any]) -> bool:
    """Whether Grafana's ``MuteTimeInterval`` differs from `mute` (``version`` etc. aside)."""
    have = [_interval_view(i) for i in stored.get("time_intervals") or [] if isinstance(i, dict)]
    want = [_interval_view(interval) for interval in mute["time_intervals"]]
    return stored.get("name") != mute["name"] or have != want
