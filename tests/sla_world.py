"""A small province for the SLA tests, built in memory (no Ansible): a province core, one
district router, two communes behind it (one by netmon_uplink, one found through LLDP), and
service front ends. Times are whole seconds; `local(...)` reads Asia/Ho_Chi_Minh wall time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agent.inventory.model import Host, HostSettings, Inventory
from agent.inventory.services import Service
from agent.sla.history import MemoryHistory, Observation
from agent.sla.timeline import Span

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
OK, DEGRADED, DOWN = 0, 1, 2


def local(text: str) -> int:
    """'2026-10-31 23:50' (or with seconds) in Vietnamese wall time → Unix seconds."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return int(datetime.strptime(text, fmt).replace(tzinfo=TZ).timestamp())


def span(start: str, end: str) -> Span:
    return Span(local(start), local(end))


def host(
    name: str,
    level: str,
    *,
    uplink: str = "",
    department: str = "",
    district: str = "",
    interval: float = 60.0,
    groups: tuple[str, ...] = (),
) -> Host:
    settings = HostSettings(
        netmon_checks=["ping"],
        netmon_site=name.upper(),
        netmon_level=level,  # type: ignore[arg-type]
        netmon_department=department or f"UBND {name}",
        netmon_district=district,
        netmon_uplink=uplink,
        netmon_interval=interval,
    )
    return Host(name, "127.0.0.1", groups, settings, {"ping": object()})


def province(services: dict[str, Service] | None = None, extra: Iterable[Host] = ()) -> Inventory:
    hosts = [
        host("p-core", "province", department="Văn phòng UBND tỉnh"),
        host("d-rt", "district", uplink="p-core", district="DT"),
        host("c-cpe", "commune", uplink="d-rt", district="DT"),
        host("c2-cpe", "commune", district="DT"),  # no netmon_uplink: LLDP says d-rt
        host("svc-portal", "dc", department="Văn phòng UBND tỉnh"),
        host("svc-motcua", "dc", department="Văn phòng UBND tỉnh"),
        *extra,
    ]
    described = {h.name: h for h in hosts}
    groups = {
        "connection_points": ("p-core", "d-rt", "c-cpe", "c2-cpe"),
        "vc_endpoints": tuple(h.name for h in hosts if h.name.startswith("vc-")),
    }
    return Inventory("memory", described, (), described, services or {}, groups)


def service(name: str, **fields: Any) -> Service:
    body: dict[str, Any] = {
        "name": name,
        "department": "Văn phòng UBND tỉnh",
        "kind": "egov",
        "slo_target": 99.5,
    }
    body.update(fields)
    return Service.model_validate(body)


@dataclass
class Polls:
    """Writes what an agent would have stored: one sample per poll."""

    history: MemoryHistory = field(default_factory=MemoryHistory)

    def every(
        self,
        target: str,
        start: str,
        end: str,
        state: int,
        *,
        check: str = "ping",
        step: int = 60,
        service: str = "",
        agent: str = "agent-1",
        reason: str = "",
    ) -> None:
        """Polls at start, start+step, … strictly before end, all with `state`."""
        t, stop = local(start), local(end)
        while t < stop:
            self.history.observations.append(
                Observation(
                    t,
                    check,
                    target,
                    state,
                    service,
                    agent,
                    reason or ("timeout" if state == DOWN else ""),
                )
            )
            t += step
