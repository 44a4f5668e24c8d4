"""What the province benchmark's pollers share: the devices, /proc readings, pass figures.

CPU and memory of other processes are read from /proc (Linux only): ``/proc/PID/stat`` fields
14-15 (utime, stime, in clock ticks) and ``/proc/PID/status`` VmHWM (peak resident set).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agent.inventory.model import Inventory
from agent.lab.procfs import cpu_seconds
from collectors.snmp.config import CommunityCredential, SnmpConfig, UsmCredential

#: The subtrees every poller reads: ifTable and ifXTable (the agent: its ``if-mib`` profile).
IF_TABLE = "1.3.6.1.2.1.2.2"
IF_X_TABLE = "1.3.6.1.2.1.31.1.1"
#: The agent's profiles for this benchmark: interfaces only, like the other two pollers.
AGENT_PROFILES = ("if-mib",)


@dataclass(frozen=True)
class Device:
    """One SNMP device of the lab, as every poller reaches it."""

    host: str
    address: str
    port: int
    credential: CommunityCredential | UsmCredential
    timeout_s: float
    retries: int
    max_repetitions: int
    served_by: str  # the snmpsim recording, "snmpd", or "-" (not served by the lab)

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


def lab_devices(inventory: Inventory) -> list[Device]:
    """Every host with an SNMP check, in inventory order."""
    devices = []
    for host in inventory.hosts.values():
        config = host.checks.get("snmp")
        if not isinstance(config, SnmpConfig):
            continue
        served_by = host.lab.get("recording") or host.lab.get("peer") or "-"
        devices.append(
            Device(
                host=host.name,
                address=host.address,
                port=config.port,
                credential=config.credential,
                timeout_s=config.timeout_s,
                retries=config.retries,
                max_repetitions=config.max_repetitions,
                served_by=str(served_by),
            )
        )
    return devices


# --- /proc ---------------------------------------------------------------------------------


def total_cpu_seconds(pids: Iterable[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


# --- figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassFigures:
    """One poller's pass over every device: what it got and what it cost."""

    devices_answered: int
    values: int
    wall_s: float
    cpu_s: float  # the poller's own CPU, responders excluded
    responders_cpu_s: float  # snmpsim + snmpd during the same pass
    peak_rss_mib: float
    unanswered: tuple[str, ...] = ()  # hosts that gave no values in this pass
    requests: int = 0  # SNMP requests sent (the agent only; 0 where not counted)

    @property
    def cpu_s_per_1000_values(self) -> float:
        return self.cpu_s / self.values * 1000 if self.values else float("nan")

    @property
    def values_per_s(self) -> float:
        return self.values / self.wall_s if self.wall_s > 0 else float("nan")

    def numbers(self) -> dict[str, float]:
        figures: dict[str, float] = asdict(self)
        del figures["unanswered"]
        figures["cpu_s_per_1000_values"] = self.cpu_s_per_1000_values
        figures["values_per_s"] = self.values_per_s
        figures["values_per_request"] = self.values_per_request
        return figures

    @property
    def values_per_request(self) -> float:
        return self.values / self.requests if self.requests else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {**self.numbers(), "unanswered": sorted(self.unanswered)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PassFigures:
        return cls(
            devices_answered=int(data["devices_answered"]),
            values=int(data["values"]),
            wall_s=float(data["wall_s"]),
            cpu_s=float(data["cpu_s"]),
            responders_cpu_s=float(data["responders_cpu_s"]),
            peak_rss_mib=float(data["peak_rss_mib"]),
            unanswered=tuple(data.get("unanswered", ())),
            requests=int(data.get("requests", 0)),
        )


def median_figures(passes: Sequence[PassFigures]) -> dict[str, float]:
    """The median of every figure over the passes, each taken on its own.

    Peak RSS is the maximum instead: a peak is a peak.
    """
    rows = [p.numbers() for p in passes]
    medians = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    medians["peak_rss_mib"] = max(row["peak_rss_mib"] for row in rows)
    return medians
