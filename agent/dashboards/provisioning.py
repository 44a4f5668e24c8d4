"""Grafana file provisioning: the InfluxDB data source and the dashboard providers.

Both are documents Grafana reads at start-up from ``provisioning/datasources/*.yaml`` and
``provisioning/dashboards/*.yaml`` ("Provision Grafana", apiVersion 1). They are plain dicts in
a fixed order, ready for ``yaml.safe_dump(..., sort_keys=False)`` or ``json.dumps``.

Secrets are never written: Grafana interpolates ``$__file{/path}`` and ``$__env{NAME}`` in
provisioning values (pkg/services/provisioning/values), so the document names where the
password is, and only Grafana's host reads it. The data source should log in as a
**read-only** InfluxDB user (``GRANT READ ON netmon TO grafana``), not as the agent's writer:
pass ``user=`` when the agent's settings hold the writer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from agent.dashboards.alerting_settings import is_secret_reference
from agent.settings import InfluxSettings, Settings

#: Dashboards reference the data source by this uid (through their ``datasource`` variable's
#: default), so it must not change between builds or Grafana installs.
DATASOURCE_UID = "netmon-influxdb"
DATASOURCE_NAME = "TSLCD InfluxDB"
#: Where Grafana's host keeps the read-only user's password (a reference, not a password).
DEFAULT_PASSWORD_REFERENCE = "$__file{/etc/grafana/secrets/netmon-influxdb-password}"  # noqa: S105
#: Where the built dashboards are installed on the Grafana host, one directory per folder.
DASHBOARDS_ROOT = "/var/lib/grafana/dashboards/netmon"

# Grafana's uid rule: at most 40 letters, digits, '-' and '_'.
_UID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_DIRECTORY = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True)
class Folder:
    """A Grafana folder of generated dashboards.

    `uid` is the folder's stable uid (alert rules and links point at it), `title` what people
    see, `directory` the folder's sub-directory of :data:`DASHBOARDS_ROOT` (one path segment).
    """

    uid: str
    title: str
    directory: str

    def __post_init__(self) -> None:
        if not _UID.fullmatch(self.uid):
            raise ValueError(f"folder uid {self.uid!r}: at most 40 letters, digits, '-' or '_'")
        if not self.title.strip():
            raise ValueError(f"folder {self.uid}: the title is empty")
        if not _DIRECTORY.fullmatch(self.directory):
            raise ValueError(
                f"folder {self.uid}: directory {self.directory!r} must be one path segment "
                "of lower-case letters, digits, '.', '-' or '_'"
            )


def _interval(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{int(seconds * 1000)}ms"


def datasource_provisioning(
    settings: Settings | InfluxSettings,
    *,
    poll_interval_s: float = 60.0,
    user: str | None = None,
    password_reference: str = DEFAULT_PASSWORD_REFERENCE,
    ca_cert_path: str | None = None,
    org_id: int = 1,
    uid: str = DATASOURCE_UID,
) -> dict[str, Any]:
    """The ``datasources:`` document for the InfluxDB (InfluxQL) data source.

    url and database come from the agent's settings; `user` defaults to the agent's user (give
    the read-only one). The password is `password_reference` (``$__file{…}`` or
    ``$__env{…}``), never a value. `poll_interval_s` becomes Grafana's minimum interval, so no
    panel asks for buckets finer than the data. `ca_cert_path` is the CA file *on the Grafana
    host* (default: the agent's ``ca_file``).
    """
    influx = settings.influxdb if isinstance(settings, Settings) else settings
    if not is_secret_reference(password_reference):
        raise ValueError("password_reference must be $__file{/path} or $__env{NAME}")
    if poll_interval_s <= 0:
        raise ValueError("poll_interval_s must be positive")
    login = influx.username if user is None else user
    json_data: dict[str, Any] = {
        "version": "InfluxQL",
        "dbName": influx.database,
        # POST: long InfluxQL (a regex of 184 sites) would not fit in a GET URL.
        "httpMode": "POST",
        "timeInterval": _interval(poll_interval_s),
        # Grafana checks the certificate exactly when the agent does.
        "tlsSkipVerify": not influx.verify_tls,
    }
    secure: dict[str, str] = {}
    if login:
        secure["password"] = password_reference
    ca = ca_cert_path if ca_cert_path is not None else influx.ca_file
    if ca is not None:
        # Grafana wants the PEM itself; $__file{} makes it read the file when it provisions.
        json_data["tlsAuthWithCACert"] = True
        secure["tlsCACert"] = f"$__file{{{PurePosixPath(ca)}}}"
    source: dict[str, Any] = {
        "name": DATASOURCE_NAME,
        "uid": uid,
        "type": "influxdb",
        "access": "proxy",
        "orgId": org_id,
        "url": influx.url,
        "isDefault": True,
        # Provisioned: a change in the UI would be overwritten at the next start anyway.
        "editable": False,
        "jsonData": json_data,
    }
    if login:
        source["user"] = login
    if secure:
        source["secureJsonData"] = secure
    return {"apiVersion": 1, "datasources": [source]}


def dashboard_providers(
    folders: Sequence[Folder], *, root: str = DASHBOARDS_ROOT, org_id: int = 1
) -> dict[str, Any]:
    """The ``providers:`` document: one file provider per folder, sorted by directory.

    Dashboards are code: the UI may not save over them (``allowUiUpdates: false``), and a
    dashboard whose file is gone is deleted (``disableDeletion: false``).
    """
    seen_uids: set[str] = set()
    seen_dirs: set[str] = set()
    for folder in folders:
        if folder.uid in seen_uids:
            raise ValueError(f"two folders with uid {folder.uid!r}")
        if folder.directory in seen_dirs:
            raise ValueError(f"two folders in directory {folder.directory!r}")
        seen_uids.add(folder.uid)
        seen_dirs.add(folder.directory)
    providers = [
        {
            "name": f"netmon-{folder.directory}",
            "orgId": org_id,
            "type": "file",
            "folder": folder.title,
            "folderUid": folder.uid,
            "disableDeletion": False,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 60,
            "options": {
                "path": str(PurePosixPath(root) / folder.directory),
                "foldersFromFilesStructure": False,
            },
        }
        for folder in sorted(folders, key=lambda f: f.directory)
    ]
    return {"apiVersion": 1, "providers": providers}
