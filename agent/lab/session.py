"""One running lab: its peers, its fault plan, and the status file other commands read.

``<state_dir>/lab.json`` says which process owns the lab, when it started (the fault plan's
clock), which peers run with which pids and endpoints, and which faults are active. It holds
no secret (no community, no key), so it is world-readable like a pid file.
``netmon lab down`` stops the owner through it, and then makes sure no peer it lists outlived
the owner.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.lab.controller import FaultController
from agent.lab.process import LabPeer
from agent.lab.province import LabPlan, running

log = logging.getLogger("netmon.lab")
STATUS_FILE = "lab.json"


def status_path(state_dir: Path) -> Path:
    return state_dir / STATUS_FILE


def _peers(plan: LabPlan) -> list[tuple[str, str, LabPeer]]:
    """(kind, description, peer) for every process of the plan."""
    peers: list[tuple[str, str, LabPeer]] = []
    if plan.influx is not None:
        peers.append(("influxd", plan.influx.url, plan.influx))
    for agent in plan.agents:
        peers.append(("snmpd", f"{agent.address}:{agent.port}", agent))
    for sim in plan.simulators:
        where = f"{len(sim.endpoints)} devices"
        peers.append(("snmpsim", f"{sim.state_dir.name}: {where}", sim))
    for kind, description, peer in plan.services:
        peers.append((kind, description, peer))
    return peers


def write_status(path: Path, status: Mapping[str, Any]) -> None:
    """Replace the status file atomically: a reader sees the old or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(status, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class LabSession:
    plan: LabPlan
    started_at: float
    path: Path
    controller: FaultController

    def status(self, state: str) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "state": state,
            "started_at": self.started_at,
            "influxdb": self.plan.influx.url if self.plan.influx is not None else None,
            "peers": [
                {"kind": kind, "what": what, "pid": peer.pid}
                for kind, what, peer in _peers(self.plan)
            ],
            "faults": [
                {
                    "name": fault.name,
                    "what": fault.spec.what,
                    "plan": fault.describe(),
                    "active": self.controller.active.get(fault.name, False),
                }
                for fault in self.plan.faults
            ],
        }

    def cpu_by_kind(self) -> dict[str, float]:
        """CPU-seconds each kind of peer has used since it started: what the lab costs."""
        used: dict[str, float] = {}
        for kind, _what, peer in _peers(self.plan):
            if peer.pid is not None:
                used[kind] = used.get(kind, 0.0) + cpu_seconds(peer.pid)
        return used

    def publish(self, state: str) -> None:
        write_status(self.path, self.status(state))


@contextlib.contextmanager
def lab_session(plan: LabPlan, state_dir: Path, database: str) -> Iterator[LabSession]:
    """Start the plan's peers and its fault plan; stop all of them on exit."""
    path = status_path(state_dir)
    owner = read_status(path)
    if owner is not None and owner.get("pid") != os.getpid() and alive(int(owner["pid"])):
        raise RuntimeError(
            f"a lab already runs here (pid {owner['pid']}, {path}); `netmon lab down` stops it"
        )
    controller = FaultController(plan.faults, plan.paused_by, time.time())
    session = LabSession(plan, time.time(), path, controller)
    controller.on_change = lambda _active: session.publish("up")
    session.publish("starting")
    try:
        with running(plan, database) as started_at:
            session.started_at = controller.started_at = started_at
            controller.start()
            try:
                session.publish("up")
                yield session
            finally:
                controller.stop()
                session.publish("stopping")
    finally:
        path.unlink(missing_ok=True)


def stop_lab(state_dir: Path, timeout_s: float = 60.0) -> list[str]:
    """Stop the lab that owns `state_dir`; returns what had to be killed by force.

    The owner gets SIGTERM and stops its peers itself. A peer still alive after the owner is
    gone (the owner was killed with -9, say) is killed here, with its process group.
    """
    path = status_path(state_dir)
    status = read_status(path)
    if status is None:
        return []
    forced = []
    owner = int(status.get("pid", 0))
    if owner and alive(owner):
        os.kill(owner, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(owner) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(owner):
            os.kill(owner, signal.SIGKILL)
            forced.append(f"lab owner pid {owner}")
    for peer in status.get("peers", []):
        pid = peer.get("pid")
        # Only a process that still names this lab's state dir: a pid may have been reused.
        if isinstance(pid, int) and alive(pid) and str(state_dir) in _cmdline(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
                os.killpg(pid, signal.SIGKILL)
            forced.append(f"{peer.get('kind')} pid {pid}")
    path.unlink(missing_ok=True)
    return forced
