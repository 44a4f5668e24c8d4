"""Reading and checking ``netmon_services``, the service catalogue (agent.inventory.services).

Ansible merges group_vars/all into every host, so the catalogue arrives once per host. It must
be the same everywhere: a group that overrides part of it would give each host its own idea
of what a service is, so that is reported instead of guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agent.inventory.origins import OriginFinder
from agent.inventory.problems import Problem
from agent.inventory.services import Service

VARIABLE = "netmon_services"


def _catalogue(hostvars: Mapping[str, Any], origins: OriginFinder) -> tuple[Any, list[Problem]]:
    seen: dict[str, Any] = {}
    for host, variables in sorted(hostvars.items()):
        if VARIABLE in variables:
            seen[host] = variables[VARIABLE]
    if not seen:
        return {}, []
    first_host, first = next(iter(seen.items()))
    differing = [host for host, value in seen.items() if value != first]
    if differing:
        where = origins.find(differing[0], [], VARIABLE)
        message = (
            f"defined differently for {len(differing)} hosts (first {differing[0]}) than for "
            f"{first_host}: define the catalogue once, in group_vars/all"
        )
        return {}, [Problem(where, differing[0], VARIABLE, message)]
    if not isinstance(first, Mapping):
        where = origins.find(first_host, [], VARIABLE)
        return {}, [Problem(where, "", VARIABLE, "must be a mapping of service id → service")]
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
