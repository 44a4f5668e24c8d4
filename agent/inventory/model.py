"""The typed inventory model the agent runs from.

Variables the agent reads (resolved host → groups → all by Ansible):

==========================  ==========================================================
``ansible_host``            address to poll (default: the inventory host name)
``netmon_checks``           list of collectors to run for the host, e.g. ``[snmp]``;
                            hosts without it are not monitored
``netmon_site``             site code (tag ``site``), required
``netmon_level``            ``province`` | ``district`` | ``commune`` | ``dc``, required
``netmon_department``       owning department (tag ``department``), optional
``netmon_district``         district code (tag ``district``), optional
``netmon_site_name``        the site's name as people say it (Vietnamese), optional
``netmon_location``         ``{lat: .., lon: ..}`` (WGS 84) for maps, optional
``netmon_uplink``           the inventory host this one hangs off (outage attribution)
``netmon_url``              the URL a service front end answers on, optional
``netmon_interval``         seconds between polls (default 60)
``netmon_timeout``          seconds a poll may take before it is abandoned
                            (default: 80 % of the interval, at most 30)
``netmon_jitter``           extra random delay 0..N seconds per poll (default 0)
``netmon_<check>_<field>``  the collector's own settings, e.g. ``netmon_snmp_credential``
``netmon_credentials``      named credential sets (usually in group_vars/all); a host's
                            ``netmon_<check>_credential`` names one
``netmon_services``         the service catalogue (group_vars/all), see agent.inventory.services
``netmon_sla``              the SLA rules (group_vars/all): calendar, connection-point
                            terms, maintenance windows, report issuer (agent.sla.settings)
``netmon_alerting``         who Grafana notifies and how alerts are routed (group_vars/all),
                            see agent.dashboards.alerting_settings
``netmon_slo_target``       this connection point's SLO target in percent (overrides
                            netmon_sla.connection_points.slo_target)
``netmon_sla_checks``       the checks this site is judged by (default: all its checks)
==========================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from agent.collector import Target
from agent.dashboards.alerting_settings import AlertingSettings
from agent.inventory.services import Service
from agent.sla.calendar import CalendarOverrides
from agent.sla.settings import SlaSettings

Level = Literal["province", "district", "commune", "dc"]
#: Tag values: no white space, commas or '=' (they would need escaping in every query).
TAG_VALUE = r"^[^\s,=]+$"


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)


class HostSettings(BaseModel):
    """The agent-wide variables of one host (collector settings are validated separately)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    netmon_checks: list[str] = Field(default_factory=list)
    netmon_site: str = Field(min_length=1, pattern=TAG_VALUE)
    netmon_level: Level
    netmon_department: str = ""
    netmon_district: str = Field(default="", pattern=r"^([^\s,=]+)?$")
    netmon_site_name: str = ""
    netmon_location: Location | None = None
    netmon_uplink: str = ""
    netmon_url: str = Field(default="", pattern=r"^((https?|sips?)://\S+)?$")
    netmon_interval: float = Field(default=60.0, ge=1.0, le=86400.0)
    netmon_timeout: float | None = Field(default=None, gt=0.0)
    netmon_jitter: float = Field(default=0.0, ge=0.0)
    netmon_slo_target: float | None = Field(default=None, gt=0.0, le=100.0)
    netmon_sla_checks: list[str] = Field(default_factory=list)

    # A poll allowed to outlast its interval, or started late by more than one, is an
    # overrun every time; a bounded timeout also bounds how long a shutdown waits.
    @field_validator("netmon_timeout")
    @classmethod
    def _timeout_within_interval(cls, value: float | None, info: ValidationInfo) -> float | None:
        interval = info.data.get("netmon_interval")
        if value is not None and interval is not None and value > interval:
            raise ValueError("netmon_timeout must not exceed netmon_interval")
        return value

    @field_validator("netmon_jitter")
    @classmethod
    def _jitter_within_interval(cls, value: float, info: ValidationInfo) -> float:
        interval = info.data.get("netmon_interval")
        if interval is not None and value >= interval:
            raise ValueError("netmon_jitter must be less than netmon_interval")
        return value


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    groups: tuple[str, ...]
    settings: HostSettings
    checks: Mapping[str, Any]  # check name → validated collector config
    lab: Mapping[str, Any] = field(default_factory=dict)  # netmon_lab_* (lab use only)

    @property
    def tags(self) -> dict[str, str]:
        tags = {"site": self.settings.netmon_site, "level": self.settings.netmon_level}
        if self.settings.netmon_department:
            tags["department"] = self.settings.netmon_department
        if self.settings.netmon_district:
            tags["district"] = self.settings.netmon_district
        return tags

    @property
    def timeout_s(self) -> float:
        if self.settings.netmon_timeout is not None:
            return self.settings.netmon_timeout
        return min(self.settings.netmon_interval * 0.8, 30.0)

    def targets(self) -> list[Target]:
        return [
            Target(
                host=self.name,
                address=self.address,
                check=check,
                config=config,
                tags=self.tags,
                interval_s=self.settings.netmon_interval,
                timeout_s=self.timeout_s,
                jitter_s=self.settings.netmon_jitter,
            )
            for check, config in sorted(self.checks.items())
        ]


@dataclass(frozen=True)
class Inventory:
    source: str
    hosts: Mapping[str, Host]  # monitored hosts: those with netmon_checks
    unmonitored: tuple[str, ...] = ()  # hosts in the inventory with no netmon_checks
    #: Every host the inventory describes (netmon_site set), monitored or not: the province's
    #: sites, videoconference points and service front ends, for reports, maps and the lab.
    described: Mapping[str, Host] = field(default_factory=dict)
    services: Mapping[str, Service] = field(default_factory=dict)
    #: group → its member hosts (descendant groups included), as Ansible resolved them.
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sla: SlaSettings = field(default_factory=SlaSettings)
    #: The calendar override file's content (netmon_sla.calendar.overrides_file), read.
    calendar_overrides: CalendarOverrides | None = None
    #: ``netmon_alerting`` (agent.dashboards.alerting_settings); None when not defined.
    alerting: AlertingSettings | None = None

    def targets(self) -> list[Target]:
        return [target for host in self.hosts.values() for target in host.targets()]
