"""What every dashboard shares: its identity, its folder, and the settings it is built with."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from agent.schema import SchemaRegistry


@dataclass(frozen=True)
class Folder:
    """A Grafana folder: stable uid, Vietnamese title, and its directory under dashboards/."""

    uid: str
    title: str
    directory: str


#: The folders Grafana shows; their uids are stable (dashboards and alert rules point at them).
NETWORK = Folder("tslcd-network", "Mạng truyền số liệu chuyên dùng", "network")
SERVICES = Folder("tslcd-services", "Dịch vụ CQĐT và truyền hình hội nghị", "services")
OPERATIONS = Folder("tslcd-operations", "Vận hành hệ thống giám sát", "operations")
ALERTS = Folder("tslcd-alerts", "Cảnh báo TSLCD", "alerts")
FOLDERS = (NETWORK, SERVICES, OPERATIONS)

TIME_ZONE = "Asia/Ho_Chi_Minh"
UID_PREFIX = "tslcd-"


def uid_of(name: str) -> str:
    """A stable dashboard uid from its English name (Grafana allows 40 characters)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    uid = UID_PREFIX + slug
    if len(uid) > 40:
        raise ValueError(f"dashboard name {name!r} gives a uid over 40 characters: {uid}")
    return uid


@dataclass(frozen=True)
class BuildContext:
    """What the dashboards are built from besides the panels' own code."""

    schema: SchemaRegistry
    #: Path, as Grafana serves it, of the sites' gazetteer (written by `build`).
    gazetteer: str = "public/gazetteer/tslcd-sites.json"
    #: XYZ tile URL of an offline basemap inside the network ("" = Grafana's OpenStreetMap).
    basemap_url: str = ""
    basemap_attribution: str = ""
    #: The agents' poll interval: panels never ask for finer buckets than the data has.
    min_interval: str = "60s"
    #: The site the site-detail dashboard opens on ("" = all).
    default_site: str = ""


@dataclass(frozen=True)
class Board:
    """One dashboard: its stable uid, folder and the SDK builder holding its panels."""

    uid: str
    folder: Folder
    builder: db.Dashboard

    @property
    def title(self) -> str:
        return str(self.builder.build().title)


def new_board(
    name_en: str,
    title_vi: str,
    description_en: str,
    tags: list[str],
    *,
    refresh: str = "1m",
    time_from: str = "now-6h",
) -> tuple[str, db.Dashboard]:
    """A dashboard builder with the common settings; returns its uid too."""
    uid = uid_of(name_en)
    builder = (
        db.Dashboard(title_vi)
        .uid(uid)
        .description(f"{name_en}: {description_en}")
        .tags(["tslcd", *tags])
        .timezone(TIME_ZONE)
        .week_start("monday")
        .refresh(refresh)
        .time(time_from, "now")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    return uid, builder
