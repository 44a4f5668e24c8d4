"""Reading and checking ``netmon_services``, the service catalogue (agent.inventory.services).

Ansible merges group_vars/all into every host, so the catalogue arrives once per host. It must
be the same everywhere: a group that overrides part of it would give each host its own idea
of what a service is, so that is reported instead of guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.dashboards.alerting_settings import AlertingSettings
from agent.inventory.origins import OriginFinder
from agent.inventory.problems import Problem
from agent.inventory.services import Service
from agent.sla.calendar import CalendarError, CalendarOverrides, load_overrides
from agent.sla.settings import SlaSettings

VARIABLE = "netmon_services"
SLA_VARIABLE = "netmon_sla"
ALERTING_VARIABLE = "netmon_alerting"


def _catalogue(
    hostvars: Mapping[str, Any], origins: OriginFinder, variable: str = VARIABLE
) -> tuple[Any, list[Problem]]:
    seen: dict[str, Any] = {}
    for host, variables in sorted(hostvars.items()):
        if variable in variables:
            seen[host] = variables[variable]
    if not seen:
        return {}, []
    first_host, first = next(iter(seen.items()))
    differing = [host for host, value in seen.items() if value != first]
    if differing:
        where = origins.find(differing[0], [], variable)
        message = (
            f"defined differently for {len(differing)} hosts (first {differing[0]}) than for "
            f"{first_host}: define it once, in group_vars/all"
        )
        return {}, [Problem(where, differing[0], variable, message)]
    if not isinstance(first, Mapping):
        where = origins.find(first_host, [], variable)
        return {}, [Problem(where, "", variable, "must be a mapping")]
    return first, []


def read_services(
    hostvars: Mapping[str, Any],
    members: Mapping[str, tuple[str, ...]],
    origins: OriginFinder,
) -> tuple[dict[str, Service], list[Problem]]:
    """The catalogue as typed services, and every problem in it (file, service and field)."""
    raw, problems = _catalogue(hostvars, origins)
    if problems or not raw:
        return {}, problems
    where = origins.find(next(iter(hostvars)), [], VARIABLE)
    services: dict[str, Service] = {}
    for service_id, body in raw.items():
        field = f"{VARIABLE}.{service_id}"
        try:
            service = Service.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                loc = ".".join(str(part) for part in error["loc"])
                message = error["msg"]
                if error["type"] == "extra_forbidden":
                    message = "unknown key"
                problems.append(Problem(where, "", f"{field}.{loc}" if loc else field, message))
            continue
        for host in service.hosts:
            if host not in hostvars:
                problems.append(Problem(where, "", f"{field}.hosts", f"no inventory host {host!r}"))
        for group in service.groups:
            if group not in members:
                problems.append(
                    Problem(
                        where, "", f"{field}.groups", f"no inventory group {group!r} (or empty)"
                    )
                )
        if not service.hosts and not service.groups:
            problems.append(Problem(where, "", field, "names no hosts and no groups"))
        services[str(service_id)] = service
    return services, problems


def _validation_problems(exc: ValidationError, where: str, field: str) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(Problem(where, "", f"{field}.{loc}" if loc else field, message))
    return problems


def read_sla(
    hostvars: Mapping[str, Any],
    members: Mapping[str, tuple[str, ...]],
    services: Mapping[str, Service],
    origins: OriginFinder,
    inventory_dir: Path,
) -> tuple[SlaSettings, CalendarOverrides | None, list[Problem]]:
    """``netmon_sla`` typed, its override file read, and every problem in both."""
    raw, problems = _catalogue(hostvars, origins, SLA_VARIABLE)
    if problems:
        return SlaSettings(), None, problems
    where = origins.find(next(iter(hostvars)), [], SLA_VARIABLE) if hostvars else ""
    try:
        settings = SlaSettings.model_validate(raw or {})
    except ValidationError as exc:
        return SlaSettings(), None, _validation_problems(exc, where, SLA_VARIABLE)
    for index, window in enumerate(settings.maintenance):
        field = f"{SLA_VARIABLE}.maintenance.{index}"
        problems += [
            Problem(where, "", f"{field}.hosts", f"no inventory host {host!r}")
            for host in window.hosts
            if host not in hostvars
        ]
        problems += [
            Problem(where, "", f"{field}.groups", f"no inventory group {group!r} (or empty)")
            for group in window.groups
            if group not in members
        ]
        problems += [
            Problem(where, "", f"{field}.services", f"no service {service!r} in netmon_services")
            for service in window.services
            if service not in services
        ]
    overrides = None
    if settings.calendar.overrides_file:
        path = inventory_dir / settings.calendar.overrides_file
        try:
            overrides = load_overrides(path)
        except CalendarError as exc:
            field = f"{SLA_VARIABLE}.calendar.overrides_file"
            problems.append(Problem(where, "", field, str(exc)))
    return settings, overrides, problems


def read_alerting(
    hostvars: Mapping[str, Any], origins: OriginFinder
) -> tuple[AlertingSettings | None, list[Problem]]:
    """``netmon_alerting`` typed (None when the inventory has none), and every problem in it."""
    raw, problems = _catalogue(hostvars, origins, ALERTING_VARIABLE)
    if problems or not raw:
        return None, problems
    where = origins.find(next(iter(hostvars)), [], ALERTING_VARIABLE)
    try:
        return AlertingSettings.model_validate(raw), []
    except ValidationError as exc:
        return None, _validation_problems(exc, where, ALERTING_VARIABLE)
