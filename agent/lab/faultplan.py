"""The lab's fault plan: scheduled outages, so the data shows what operators must catch.

The plan lives in the lab inventory (``netmon_lab_faults`` in group_vars/all/lab.yml) or in a
file given to ``netmon lab up|run --faults``. Each fault names what breaks, which hosts, and a
window in seconds since the lab started (``agent.lab.faults.FaultWindow``)::

    - name: district-dark
      what: unreachable          # SNMP devices stop answering: their simulator is paused
      behind: h-dautieng-ubnd-rt # this host and every host that hangs off it (netmon_uplink)
      start_s: 300
      duration_s: 600
      every_s: 3600              # optional: repeat

``what`` is ``unreachable`` (SNMP hosts), ``http_status`` (``status``, default 503) or
``http_delay`` (``delay_s``) for service front ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from agent.inventory.model import Host
from agent.lab.faults import FaultWindow

FaultKind = Literal["unreachable", "http_status", "http_delay"]


class FaultPlanError(ValueError):
    pass


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    what: FaultKind
    hosts: tuple[str, ...] = ()
    behind: str = ""
    start_s: float = Field(ge=0.0)
    duration_s: float = Field(gt=0.0)
    every_s: float | None = None
    status: int = Field(default=503, ge=400, le=599)
    delay_s: float = Field(default=0.0, ge=0.0, le=60.0)

    @model_validator(mode="after")
    def _targets(self) -> FaultSpec:
        if not self.hosts and not self.behind:
            raise ValueError("name the hosts it breaks (hosts: [...] and/or behind: HOST)")
        if self.what == "http_delay" and self.delay_s <= 0:
            raise ValueError("an http_delay fault needs delay_s > 0")
        FaultWindow(self.start_s, self.duration_s, self.every_s)  # raises on a bad window
        return self


@dataclass(frozen=True)
class Fault:
    spec: FaultSpec
    hosts: frozenset[str]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def window(self) -> FaultWindow:
        return FaultWindow(self.spec.start_s, self.spec.duration_s, self.spec.every_s)

    def describe(self) -> str:
        every = f", every {self.spec.every_s:g}s" if self.spec.every_s else ""
        hosts = ", ".join(sorted(self.hosts)[:3]) + (
            f" and {len(self.hosts) - 3} more" if len(self.hosts) > 3 else ""
        )
        return (
            f"{self.name}: {self.spec.what} {hosts} from {self.spec.start_s:g}s "
            f"for {self.spec.duration_s:g}s{every}"
        )


_SPECS = TypeAdapter(list[FaultSpec])


def parse(raw: Any, origin: str) -> list[FaultSpec]:
    try:
        specs = _SPECS.validate_python(raw or [])
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(plan)'}: {e['msg']}" for e in exc.errors()
        )
        raise FaultPlanError(f"{origin}: invalid fault plan: {problems}") from None
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise FaultPlanError(f"{origin}: fault names used twice: {', '.join(duplicates)}")
    return specs


def load_file(path: Path) -> list[FaultSpec]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FaultPlanError(f"{path}: {exc}") from None
    if isinstance(raw, dict):
        raw = raw.get("netmon_lab_faults")
    return parse(raw, str(path))


def from_inventory(described: Mapping[str, Host]) -> list[FaultSpec]:
    """The plan as the lab inventory defines it (group_vars/all: the same on every host)."""
    plans = {repr(h.lab.get("faults")) for h in described.values() if "faults" in h.lab}
    if len(plans) > 1:
        raise FaultPlanError("netmon_lab_faults differs between hosts: define it in group_vars/all")
    raw: Any = next((h.lab["faults"] for h in described.values() if "faults" in h.lab), [])
    return parse(raw, "netmon_lab_faults")


def behind(root: str, described: Mapping[str, Host]) -> frozenset[str]:
    """`root` and every host whose chain of uplinks reaches it."""
    below: dict[str, list[str]] = {}
    for host in described.values():
        if host.settings.netmon_uplink:
            below.setdefault(host.settings.netmon_uplink, []).append(host.name)
    found, todo = {root}, [root]
    while todo:
        for child in below.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return frozenset(found)


def resolve(specs: Sequence[FaultSpec], described: Mapping[str, Host]) -> list[Fault]:
    """Each fault with the set of hosts it breaks; unknown host names are an error."""
    faults = []
    for spec in specs:
        named = [*spec.hosts, *([spec.behind] if spec.behind else [])]
        unknown = sorted(name for name in named if name not in described)
        if unknown:
            raise FaultPlanError(f"fault {spec.name}: no lab host {', '.join(unknown)}")
        hosts = set(spec.hosts)
        if spec.behind:
            hosts |= behind(spec.behind, described)
        faults.append(Fault(spec, frozenset(hosts)))
    return faults


def fault_groups(faults: Sequence[Fault], kind: FaultKind) -> dict[str, frozenset[str]]:
    """host → the names of the `kind` faults that break it (hosts with none are left out)."""
    groups: dict[str, set[str]] = {}
    for fault in faults:
        if fault.spec.what == kind:
            for host in fault.hosts:
                groups.setdefault(host, set()).add(fault.name)
    return {host: frozenset(names) for host, names in groups.items()}
