"""The service catalogue: the e-government and videoconference services the province runs.

It lives in the inventory as ``netmon_services`` (group_vars/all), so Ansible vaults,
templates and validates it like every other variable (DESIGN §7). Each service names its
owning department, its SLO target and calendar, and its components: inventory hosts and
groups. The SLA engine and the dashboards read it from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.sla.maintenance import MaintenanceWindow

ServiceKind = Literal["egov", "videoconference"]
Calendar = Literal["24x7", "business_hours"]


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)  # as the department says it (Vietnamese)
    name_en: str = ""
    department: str = Field(min_length=1)  # owning department: who gets the SLA report
    kind: ServiceKind
    slo_target: float = Field(gt=0.0, le=100.0)  # percent of the service calendar
    calendar: Calendar = "24x7"
    hosts: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    #: The checks that judge the service's components (e.g. [http]); empty: all of them.
    checks: tuple[str, ...] = ()
    #: The service's own maintenance windows (agent.sla.maintenance): excluded from its SLA.
    maintenance: tuple[MaintenanceWindow, ...] = ()
    #: A component's check counts as down after this many failed polls in a row (until
    #: then it is degraded): one lost poll is not an outage. Up again after up_after
    #: successes in a row.
    down_after: int = Field(default=1, ge=1, le=100)
    up_after: int = Field(default=1, ge=1, le=100)

    def components(self, groups: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
        """Every host the service depends on: its hosts and the members of its groups."""
        members = [*self.hosts, *(host for group in self.groups for host in groups.get(group, ()))]
        return tuple(dict.fromkeys(members))
