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
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.lab.controller import FaultController
from agent.lab.process import LabPeer
from agent.lab.procfs import alive, cmdline, cpu_seconds, pids, start_time
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
    # One temporary file per writer thread: two writers must not share a half-written file.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    partial.write_text(json.dumps(status, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def owner_alive(status: Mapping[str, Any]) -> bool:
    """Whether the process that wrote `status` still runs (not another one with its pid)."""
    pid = status.get("pid")
    if not isinstance(pid, int) or not alive(pid):
        return False
    return status.get("pid_started") in (None, start_time(pid))


#: What a lab peer's command line contains (with the state dir): nothing else is touched,
#: not even a `tail -f` of the lab's log.
PEER_PROGRAMS = (
    "snmpsim-command-responder",
    "snmpd",
    "influxd",
    "sipp",
    "agent.lab.web",
    "agent.lab.codecs",
    "agent.lab.sshsim",
)


def lab_processes(state_dir: Path) -> list[int]:
    """Live lab peers whose command line names `state_dir`, whatever the status file says
    (it may be stale, or written before their pids were known)."""
    found = []
    for pid in pids():
        command = cmdline(pid)
        if (
            pid != os.getpid()
            and str(state_dir) in command
            and any(program in command for program in PEER_PROGRAMS)
            and alive(pid)
        ):
            found.append(pid)
    return found


def _kill_leftovers(state_dir: Path) -> list[str]:
    forced = []
    for pid in lab_processes(state_dir):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGCONT)  # a paused peer must be able to die
            os.kill(pid, signal.SIGKILL)
            forced.append(f"pid {pid} ({cmdline(pid)[:60].strip() or 'exited'})")
    return forced


@dataclass
class LabSession:
    plan: LabPlan
    started_at: float
    path: Path
    controller: FaultController
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, state: str) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "pid_started": start_time(os.getpid()),
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
        with self._lock:
            write_status(self.path, self.status(state))


@contextlib.contextmanager
def lab_session(plan: LabPlan, state_dir: Path, database: str) -> Iterator[LabSession]:
    """Start the plan's peers and its fault plan; stop all of them on exit."""
    path = status_path(state_dir)
    owner = read_status(path)
    if owner is not None and owner_alive(owner) and owner.get("pid") != os.getpid():
        raise RuntimeError(
            f"a lab already runs here (pid {owner['pid']}, {path}); `netmon lab down` stops it"
        )
    # A lab whose owner died (kill -9) may have left peers holding the lab's addresses.
    for what in _kill_leftovers(state_dir):
        log.warning("lab: killed %s, left behind by an earlier lab", what)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)  # peers' files name the lab community; keep them to this user
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
        mine = read_status(path)
        if mine is not None and mine.get("pid") == os.getpid():
            path.unlink(missing_ok=True)


def stop_lab(state_dir: Path, timeout_s: float = 60.0) -> list[str]:
    """Stop the lab that owns `state_dir`; returns what had to be killed by force.

    The owner gets SIGTERM and stops its peers itself. A process still naming the state dir
    after the owner is gone (the owner was killed with -9, or stopped while starting) is
    killed here.
    """
    path = status_path(state_dir)
    status = read_status(path) or {}
    forced = []
    owner = status.get("pid")
    if isinstance(owner, int) and owner_alive(status):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(owner, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while owner_alive(status) and time.monotonic() < deadline:
            time.sleep(0.1)
        if owner_alive(status):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(owner, signal.SIGKILL)
            forced.append(f"lab owner pid {owner}")
    forced += _kill_leftovers(state_dir)
    path.unlink(missing_ok=True)
    return forced
