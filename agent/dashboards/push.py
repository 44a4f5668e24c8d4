"""``netmon dashboards push``: send a built ``dashboards/`` directory to a Grafana's HTTP API.

Entry points (the CLI's ``netmon dashboards push`` calls these two):

* :func:`grafana_token` ``(env, token_file) -> Secret``: the service account token, from
  ``NETMON_GRAFANA_TOKEN`` or ``--token-file`` (exactly one of them).
* :func:`push` ``(directory, *, url, token, ca_file=None, verify_tls=True, dry_run=False,
  timeout_s=10.0) -> PushReport``. :class:`PushError` for what stops the push (unusable token,
  URL or CA file, a manifest that does not validate, token refused, Grafana unreachable or not
  Grafana): print it and exit 1. The report lists every object; exit 1 too when
  ``not report.ok`` (some object failed), print ``report.summary()`` either way.

What is pushed, in this order, every object read first and written only when it differs (a
second push of the same directory sends ``GET`` requests only; ``dry_run`` sends no write):

1. **folders**: ``POST /api/folders``, or ``PUT /api/folders/:uid`` when the title differs;
2. **dashboards**: ``POST /api/dashboards/db`` ``{dashboard, folderUid, overwrite: true,
   message: "netmon <version> push"}`` when the stored model differs from the built one
   (server-managed ``id``, ``version``, ``iteration`` aside) or sits in another folder;
3. **mute timings**: ``POST /api/v1/provisioning/mute-timings``, or ``PUT .../:name``; before
   the rules, whose notification settings may name them (Grafana refuses unknown names);
4. **alert rule groups**: ``PUT /api/v1/provisioning/folder/:folderUid/rule-groups/:group``,
   converted from the file-provisioning format to the API's ``AlertRuleGroup`` (see
   :func:`rule_group_to_api`).

**Not pushed: contact points and notification policies.** Their provisioning files hold
secrets as Grafana's ``$__file{...}`` interpolation, which only file provisioning resolves;
install ``provisioning/alerting/`` into Grafana's provisioning directory for them. Every report
says so (:data:`NOT_PUSHED`).

**Provenance.** No ``X-Disable-Provenance`` header is sent, so Grafana marks the rule groups
and mute timings "provisioned" and its UI refuses to edit them. For dashboards as code that is
the point: the repository is the one source of truth, and a fix made by hand in the UI would
otherwise live until the next push silently overwrote it. The other side: objects an earlier
*file* provisioning owns cannot be changed through the API; they fail with Grafana's message.

Nothing is sent before the whole directory validates (:func:`load_bundle`). The token appears
in no message, log line, report or repr.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from agent import __version__
from agent.dashboards.grafana_api import (
    DEFAULT_TIMEOUT_S,
    UID,
    ConversionError,
    GrafanaHttp,
    GrafanaUrl,
    PushError,
    RequestRejected,
    dashboard_differs,
    mute_timing_differs,
    mute_timing_to_api,
    rule_group_differs,
    rule_group_to_api,
)
from agent.secret import Secret

__all__ = [
    "NOT_PUSHED",
    "TOKEN_ENV",
    "Bundle",
    "ConversionError",
    "ManifestError",
    "ObjectKind",
    "Outcome",
    "PushError",
    "PushReport",
    "PushResult",
    "grafana_token",
    "load_bundle",
    "mute_timing_to_api",
    "push",
    "rule_group_to_api",
]

log = logging.getLogger(__name__)

TOKEN_ENV = "NETMON_GRAFANA_TOKEN"  # noqa: S105 (a variable's name)
NOT_PUSHED = (
    "contact points and notification policies are not pushed: their files use Grafana's "
    "$__file{} secret interpolation, which only file provisioning resolves; install "
    "provisioning/alerting/ into Grafana's provisioning directory for them"
)


# -- the token ---------------------------------------------------------------------------------


def grafana_token(env: Mapping[str, str], token_file: Path | None) -> Secret:
    """The Grafana service account token, from ``NETMON_GRAFANA_TOKEN`` in `env` or `token_file`.

    Exactly one of them must be given; the file holds the token on one line (surrounding
    whitespace and the final newline are dropped). :class:`PushError` when neither or both are
    given, or the file cannot be read or is empty; the message names the file or variable,
    never what it holds.
    """
    in_env = env.get(TOKEN_ENV)
    if in_env is not None and token_file is not None:
        raise PushError(
            f"the Grafana token is given twice, by {TOKEN_ENV} and by --token-file {token_file}: "
            "keep one"
        )
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise PushError(f"cannot read the Grafana token file {token_file}: {reason}") from None
        except UnicodeDecodeError:
            raise PushError(f"the Grafana token file {token_file} is not UTF-8 text") from None
        return _one_token(text, f"the Grafana token file {token_file}")
    if in_env is None:
        raise PushError(
            f"no Grafana token: set {TOKEN_ENV} or give --token-file "
            "(a service account token with the Editor role)"
        )
    return _one_token(in_env, TOKEN_ENV)


def _one_token(text: str, where: str) -> Secret:
    value = text.strip()
    if not value:
        raise PushError(f"{where} is empty")
    if not value.isprintable() or any(char.isspace() for char in value):
        raise PushError(f"{where} must hold the token alone, on one line without spaces")
    return Secret(value)


# -- the built directory -----------------------------------------------------------------------


class ManifestError(PushError):
    """The directory does not validate; :attr:`problems` name the file and entry of each."""

    def __init__(self, manifest: Path, problems: list[str]) -> None:
        self.manifest = manifest
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{manifest}: nothing was pushed; fix the build first:\n{listed}")


@dataclass(frozen=True)
class FolderSpec:
    uid: str
    title: str


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    folder_uid: str
    file: Path
    model: dict[str, Any] = field(repr=False, compare=False)  # without "id"


@dataclass(frozen=True)
class RuleGroupSpec:
    folder_uid: str
    name: str
    body: dict[str, Any] = field(repr=False, compare=False)  # the API's AlertRuleGroup

    @property
    def key(self) -> str:
        return f"{self.folder_uid}/{self.name}"


@dataclass(frozen=True)
class MuteTimingSpec:
    name: str
    body: dict[str, Any] = field(repr=False, compare=False)  # the API's MuteTimeInterval


@dataclass(frozen=True)
class Bundle:
    """A validated ``dashboards/`` directory, every object in the API's form."""

    directory: Path
    grafana_version: str
    folders: tuple[FolderSpec, ...]
    dashboards: tuple[DashboardSpec, ...]
    mute_timings: tuple[MuteTimingSpec, ...]
    rule_groups: tuple[RuleGroupSpec, ...]


def load_bundle(directory: Path) -> Bundle:
    """Read and validate `directory` (``manifest.json`` and the files it names); never connects.

    :class:`ManifestError` lists every problem found: a missing or unparsable file, a missing or
    mistyped field, a duplicate uid or name, a dashboard whose ``folder_uid`` is not one of the
    manifest's folders, a model whose uid or title is not the manifest's, an alert rule or mute
    timing that has no API form.
    """
    manifest_path = directory / "manifest.json"
    manifest = _read_json(manifest_path)
    problems: list[str] = []
    if not isinstance(manifest, dict):
        raise ManifestError(manifest_path, ["manifest.json must hold a JSON object"])
    version = manifest.get("grafana_version")
    if not isinstance(version, str) or not version:
        problems.append("manifest.json: 'grafana_version' must be a string such as \"11.6\"")
        version = ""
    folders = _load_folders(manifest, problems)
    dashboards = _load_dashboards(directory, manifest, folders, problems)
    mute_timings, rule_groups = _load_alerting(directory, manifest, folders, problems)
    if problems:
        raise ManifestError(manifest_path, problems)
    return Bundle(directory, version, folders, dashboards, mute_timings, rule_groups)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ManifestError(path, [f"{path.name}: cannot read it: {reason}"]) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ManifestError(path, [f"{path.name}: not JSON: {exc}"]) from None


def _entries(
    manifest: Mapping[str, Any], key: str, problems: list[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    entries = manifest.get(key)
    if not isinstance(entries, list):
        problems.append(f"manifest.json: '{key}' must be a list")
        return
    for index, entry in enumerate(entries):
        where = f"manifest.json {key}[{index}]"
        if isinstance(entry, dict):
            yield where, entry
        else:
            problems.append(f"{where}: must be an object")


def _field(entry: Mapping[str, Any], key: str, where: str, problems: list[str]) -> str:
    value = entry.get(key)
    if isinstance(value, str) and value:
        return value
    problems.append(f"{where}: '{key}' must be a non-empty string")
    return ""


def _uid(entry: Mapping[str, Any], where: str, problems: list[str], seen: dict[str, str]) -> str:
    uid = _field(entry, "uid", where, problems)
    if uid and not UID.fullmatch(uid):
        problems.append(f"{where}: uid {uid!r} must be 1-40 letters, digits, '-' or '_'")
    elif uid in seen:
        problems.append(f"{where}: uid {uid!r} is already used by {seen[uid]}")
    elif uid:
        seen[uid] = where
    return uid


def _inside(directory: Path, relative: str, where: str, problems: list[str]) -> Path | None:
    path = directory / relative
    if Path(relative).is_absolute() or not path.resolve().is_relative_to(directory.resolve()):
        problems.append(f"{where}: {relative!r} is not a path inside {directory}")
        return None
    if not path.is_file():
        problems.append(f"{relative}: no such file (named by {where})")
        return None
    return path


def _load_folders(manifest: Mapping[str, Any], problems: list[str]) -> tuple[FolderSpec, ...]:
    seen: dict[str, str] = {}
    folders = []
    for where, entry in _entries(manifest, "folders", problems):
        uid = _uid(entry, where, problems, seen)
        title = _field(entry, "title", where, problems)
        if uid and title:
            folders.append(FolderSpec(uid, title))
    return tuple(folders)


def _load_dashboards(
    directory: Path,
    manifest: Mapping[str, Any],
    folders: tuple[FolderSpec, ...],
    problems: list[str],
) -> tuple[DashboardSpec, ...]:
    folder_uids = {folder.uid for folder in folders}
    seen: dict[str, str] = {}
    dashboards = []
    for where, entry in _entries(manifest, "dashboards", problems):
        uid = _uid(entry, where, problems, seen)
        where = f"{where} (uid {uid!r})" if uid else where
        title = _field(entry, "title", where, problems)
        folder_uid = _field(entry, "folder_uid", where, problems)
        if folder_uid and folder_uid not in folder_uids:
            problems.append(f"{where}: folder_uid {folder_uid!r} is not one of the folders")
        relative = _field(entry, "file", where, problems)
        path = _inside(directory, relative, where, problems) if relative else None
        if path is None:
            continue
        model = _dashboard_model(path, relative, uid, title, problems)
        if model is not None and uid and title and folder_uid in folder_uids:
            dashboards.append(DashboardSpec(uid, title, folder_uid, path, model))
    return tuple(dashboards)


def _dashboard_model(
    path: Path, relative: str, uid: str, title: str, problems: list[str]
) -> dict[str, Any] | None:
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{relative}: not a readable JSON file: {exc}")
        return None
    if not isinstance(model, dict):
        problems.append(f"{relative}: must hold a dashboard object")
        return None
    if model.get("uid") != uid:
        problems.append(f"{relative}: uid {model.get('uid')!r} is not the manifest's {uid!r}")
    if model.get("title") != title:
        problems.append(f"{relative}: title {model.get('title')!r} is not the manifest's {title!r}")
    return {key: value for key, value in model.items() if key != "id"}


def _load_alerting(
    directory: Path,
    manifest: Mapping[str, Any],
    folders: tuple[FolderSpec, ...],
    problems: list[str],
) -> tuple[tuple[MuteTimingSpec, ...], tuple[RuleGroupSpec, ...]]:
    alerting = manifest.get("alerting")
    if alerting is None:
        return (), ()
    where = "manifest.json alerting"
    if not isinstance(alerting, dict):
        problems.append(f"{where}: must be an object")
        return (), ()
    folder_uid = _field(alerting, "folder_uid", where, problems)
    folder = next((folder for folder in folders if folder.uid == folder_uid), None)
    if folder_uid and folder is None:
        problems.append(f"{where}: folder_uid {folder_uid!r} is not one of the folders")
    mute_timings: tuple[MuteTimingSpec, ...] = ()
    rule_groups: tuple[RuleGroupSpec, ...] = ()
    relative = _field(alerting, "mute_timings", where, problems)
    path = _inside(directory, relative, f"{where}.mute_timings", problems) if relative else None
    if path is not None:
        mute_timings = _load_mute_timings(path, relative, problems)
    relative = _field(alerting, "rules", where, problems)
    path = _inside(directory, relative, f"{where}.rules", problems) if relative else None
    if path is not None and folder is not None:
        rule_groups = _load_rule_groups(path, relative, folder, problems)
    return mute_timings, rule_groups


def _provisioning_file(path: Path, relative: str, key: str, problems: list[str]) -> list[Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        problems.append(f"{relative}: not a readable YAML file: {exc}")
        return []
    if not isinstance(document, dict) or document.get("apiVersion") != 1:
        problems.append(f"{relative}: must be a provisioning file with 'apiVersion: 1'")
        return []
    unknown = sorted(set(document) - {"apiVersion", key})
    if unknown:
        problems.append(f"{relative}: only '{key}' is pushed from this file, not {unknown}")
    entries = document.get(key)
    if not isinstance(entries, list):
        problems.append(f"{relative}: '{key}' must be a list")
        return []
    return entries


def _load_mute_timings(
    path: Path, relative: str, problems: list[str]
) -> tuple[MuteTimingSpec, ...]:
    seen: set[str] = set()
    mute_timings = []
    for index, entry in enumerate(_provisioning_file(path, relative, "muteTimes", problems)):
        where = f"{relative} muteTimes[{index}]"
        try:
            body = mute_timing_to_api(entry)
        except ConversionError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if body["name"] in seen:
            problems.append(f"{where}: the name {body['name']!r} is used twice")
        seen.add(body["name"])
        mute_timings.append(MuteTimingSpec(body["name"], body))
    return tuple(mute_timings)


def _load_rule_groups(
    path: Path, relative: str, folder: FolderSpec, problems: list[str]
) -> tuple[RuleGroupSpec, ...]:
    groups: list[RuleGroupSpec] = []
    rule_uids: dict[str, str] = {}
    for index, entry in enumerate(_provisioning_file(path, relative, "groups", problems)):
        where = f"{relative} groups[{index}]"
        try:
            body = rule_group_to_api(entry, folder.uid, folder.title)
        except ConversionError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if any(group.name == body["title"] for group in groups):
            problems.append(f"{where}: the group name {body['title']!r} is used twice")
        for rule in body["rules"]:
            if rule["uid"] in rule_uids:
                problems.append(
                    f"{where}: rule uid {rule['uid']!r} is used by {rule_uids[rule['uid']]} too"
                )
            rule_uids[rule["uid"]] = where
        groups.append(RuleGroupSpec(folder.uid, body["title"], body))
    return tuple(groups)


# -- the report --------------------------------------------------------------------------------


class ObjectKind(StrEnum):
    FOLDER = "folder"
    DASHBOARD = "dashboard"
    MUTE_TIMING = "mute timing"
    RULE_GROUP = "rule group"


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


_DRY_RUN_WORDS = {Outcome.CREATED: "would create", Outcome.UPDATED: "would update"}
_DRY_RUN_TOTALS = {Outcome.CREATED: "to create", Outcome.UPDATED: "to update"}


@dataclass(frozen=True)
class PushResult:
    """One object: `key` is its uid (folder, dashboard), ``folderUid/name`` (rule group) or
    name (mute timing); `message` says what changed or why it failed."""

    kind: ObjectKind
    key: str
    outcome: Outcome
    message: str = ""


@dataclass
class PushReport:
    """What a push did (or, with `dry_run`, would do) to each object, in push order."""

    url: str
    dry_run: bool
    results: list[PushResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_pushed: tuple[str, ...] = (NOT_PUSHED,)

    def outcome(self, kind: ObjectKind, key: str) -> Outcome | None:
        return next((r.outcome for r in self.results if r.kind == kind and r.key == key), None)

    def count(self, outcome: Outcome, kind: ObjectKind | None = None) -> int:
        return sum(1 for r in self.results if r.outcome == outcome and kind in (None, r.kind))

    @property
    def failed(self) -> list[PushResult]:
        return [result for result in self.results if result.outcome == Outcome.FAILED]

    @property
    def ok(self) -> bool:
        """No object failed (the CLI's exit status)."""
        return not self.failed

    def summary(self) -> str:
        """The report for a terminal: one line per object, totals, warnings, what is not pushed."""
        lines = [
            f"Grafana {self.url}" + (" (dry run: nothing was written)" if self.dry_run else "")
        ]
        for result in self.results:
            word = (
                _DRY_RUN_WORDS.get(result.outcome, result.outcome)
                if self.dry_run
                else result.outcome
            )
            detail = f": {result.message}" if result.message else ""
            lines.append(f"  {word:<12} {result.kind} {result.key}{detail}")
        words = _DRY_RUN_TOTALS if self.dry_run else {}
        totals = ", ".join(f"{self.count(o)} {words.get(o, o)}" for o in Outcome)
        lines.append(f"{len(self.results)} objects: {totals}")
        lines += [f"warning: {warning}" for warning in self.warnings]
        lines += [f"note: {note}" for note in self.not_pushed]
        return "\n".join(lines)


# -- the push ----------------------------------------------------------------------------------


def push(
    directory: Path,
    *,
    url: str,
    token: Secret | str,
    ca_file: Path | None = None,
    verify_tls: bool = True,
    dry_run: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> PushReport:
    """Push the built `directory` to the Grafana at `url` (module docstring: what, in what order).

    `token` is a service account token (Editor role, or the folders, dashboards and alerting
    provisioning write permissions); :func:`grafana_token` finds it. TLS certificates are
    verified against the system's CAs, or against `ca_file` (PEM) alone when given;
    ``verify_tls=False`` turns verification off (and says so in the report's warnings).
    `dry_run` reads and compares, and writes nothing. Each request waits at most `timeout_s`.

    Raises :class:`PushError` before sending anything when the URL, the CA file or the
    directory (:class:`ManifestError`) is unusable, and during the push when Grafana refuses
    the token, cannot be reached or answers what Grafana would not. An object Grafana refuses
    is a ``failed`` result in the report; the push goes on with the others.
    """
    secret = token if isinstance(token, Secret) else Secret(token)
    if not secret:
        raise PushError("the Grafana token is empty")
    grafana_url = GrafanaUrl.parse(url)
    verify = _tls_verify(ca_file, verify_tls)
    bundle = load_bundle(directory)
    report = PushReport(url=str(grafana_url), dry_run=dry_run)
    if grafana_url.protocol == "http" and not _is_loopback(grafana_url.host):
        report.warnings.append("the token travels unencrypted over http://; use https://")
    if not verify_tls:
        report.warnings.append("Grafana's TLS certificate was not verified (--insecure)")
    user_agent = f"tslcd-netmon/{__version__}"
    with GrafanaHttp(
        grafana_url, secret, verify=verify, timeout_s=timeout_s, user_agent=user_agent
    ) as grafana:
        _check_version(grafana, bundle, report)
        _Pusher(grafana, report, dry_run).push(bundle)
    return report


def _tls_verify(ca_file: Path | None, verify_tls: bool) -> bool | str:
    if ca_file is None:
        return verify_tls
    if not verify_tls:
        raise PushError(f"--ca-file {ca_file} and --insecure contradict each other: keep one")
    try:
        pem = ca_file.read_bytes()
    except OSError as exc:
        raise PushError(
            f"cannot read the CA file {ca_file}: {exc.strerror or type(exc).__name__}"
        ) from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise PushError(f"the CA file {ca_file} holds no PEM certificate")
    return str(ca_file)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _check_version(grafana: GrafanaHttp, bundle: Bundle, report: PushReport) -> None:
    version = grafana.health().get("version")
    if not isinstance(version, str) or not version:
        report.warnings.append(f"Grafana at {grafana.url} did not say its version")
    elif version.split(".")[0] != bundle.grafana_version.split(".")[0]:
        report.warnings.append(
            f"Grafana at {grafana.url} is {version}; the dashboards were built for "
            f"{bundle.grafana_version}"
        )


_Change = tuple[Outcome, str]


class _Pusher:
    """One push: reads each object, writes it if it differs, records the outcome."""

    def __init__(self, grafana: GrafanaHttp, report: PushReport, dry_run: bool) -> None:
        self.grafana = grafana
        self.report = report
        self.dry_run = dry_run
        self.failed_folders: set[str] = set()
        self.message = f"netmon {__version__} push"

    def push(self, bundle: Bundle) -> None:
        for folder in bundle.folders:
            if not self._attempt(ObjectKind.FOLDER, folder.uid, partial(self._folder, folder)):
                self.failed_folders.add(folder.uid)
        for dashboard in bundle.dashboards:
            change = partial(self._dashboard, dashboard)
            self._in_folder(ObjectKind.DASHBOARD, dashboard.uid, dashboard.folder_uid, change)
        for mute in bundle.mute_timings:
            self._attempt(ObjectKind.MUTE_TIMING, mute.name, partial(self._mute_timing, mute))
        for group in bundle.rule_groups:
            change = partial(self._rule_group, group)
            self._in_folder(ObjectKind.RULE_GROUP, group.key, group.folder_uid, change)

    def _in_folder(
        self, kind: ObjectKind, key: str, folder_uid: str, change: Callable[[], _Change]
    ) -> None:
        if folder_uid in self.failed_folders:
            self._record(
                PushResult(kind, key, Outcome.FAILED, f"skipped: its folder {folder_uid} failed")
            )
        else:
            self._attempt(kind, key, change)

    def _attempt(self, kind: ObjectKind, key: str, change: Callable[[], _Change]) -> bool:
        try:
            outcome, message = change()
        except RequestRejected as rejected:
            self._record(PushResult(kind, key, Outcome.FAILED, str(rejected)))
            return False
        self._record(PushResult(kind, key, outcome, message))
        return True

    def _record(self, result: PushResult) -> None:
        self.report.results.append(result)
        level = logging.WARNING if result.outcome == Outcome.FAILED else logging.INFO
        prefix = "dry run: " if self.dry_run else ""
        log.log(
            level, "%s%s %s %s %s", prefix, result.kind, result.key, result.outcome, result.message
        )

    def _folder(self, folder: FolderSpec) -> _Change:
        current = self.grafana.get_folder(folder.uid)
        if current is None:
            if not self.dry_run:
                self.grafana.create_folder(folder.uid, folder.title)
            return Outcome.CREATED, ""
        if current.get("title") == folder.title:
            return Outcome.UNCHANGED, ""
        if not self.dry_run:
            version = current.get("version")
            self.grafana.update_folder(
                folder.uid, folder.title, version if isinstance(version, int) else None
            )
        return Outcome.UPDATED, f"title was {current.get('title')!r}"

    def _dashboard(self, dashboard: DashboardSpec) -> _Change:
        stored = self.grafana.get_dashboard(dashboard.uid)
        if stored is not None and not dashboard_differs(
            stored, dashboard.model, dashboard.folder_uid
        ):
            return Outcome.UNCHANGED, ""
        if not self.dry_run:
            payload = {
                "dashboard": dashboard.model,
                "folderUid": dashboard.folder_uid,
                "overwrite": True,  # the repository wins over an edit made in the UI
                "message": self.message,
            }
            self.grafana.save_dashboard(payload)
        return (Outcome.CREATED if stored is None else Outcome.UPDATED), ""

    def _mute_timing(self, mute: MuteTimingSpec) -> _Change:
        stored = self.grafana.get_mute_timing(mute.name)
        if stored is None:
            if not self.dry_run:
                self.grafana.create_mute_timing(mute.body)
            return Outcome.CREATED, ""
        if not mute_timing_differs(stored, mute.body):
            return Outcome.UNCHANGED, ""
        if not self.dry_run:
            body = dict(mute.body)
            if isinstance(stored.get("version"), str):
                body["version"] = stored["version"]  # Grafana's optimistic lock: 409 if it moved
            self.grafana.update_mute_timing(mute.name, body)
        return Outcome.UPDATED, ""

    def _rule_group(self, group: RuleGroupSpec) -> _Change:
        stored = self.grafana.get_rule_group(group.folder_uid, group.name)
        if stored is not None and not rule_group_differs(stored, group.body):
            return Outcome.UNCHANGED, ""
        if not self.dry_run:
            self.grafana.put_rule_group(group.folder_uid, group.name, group.body)
        rules = len(group.body["rules"])
        return (Outcome.CREATED if stored is None else Outcome.UPDATED), f"{rules} rules"
