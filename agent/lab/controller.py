"""Runs the fault plan: pauses and resumes the peers of `unreachable` faults on schedule.

HTTP faults need nothing from here: the lab's web server reads the same windows against the
same start time. The controller still reports their transitions, so the lab's log and
``netmon lab status`` tell every fault's state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from agent.lab.faultplan import Fault
from agent.lab.process import LabPeer

log = logging.getLogger("netmon.lab.faults")
#: Longest sleep between checks, so a stop request is seen promptly.
MAX_SLEEP_S = 1.0


class FaultController:
    def __init__(
        self,
        faults: Sequence[Fault],
        paused_by: Mapping[str, Sequence[LabPeer]],
        started_at: float,
        on_change: Callable[[Mapping[str, bool]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.faults = list(faults)
        self.paused_by = paused_by
        self.started_at = started_at
        self.on_change = on_change
        self.clock = clock
        self.active: dict[str, bool] = {fault.name: False for fault in self.faults}
        self._paused: set[int] = set()  # id() of paused peers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def apply(self) -> dict[str, bool]:
        """Bring every peer to the state the plan wants now; returns the faults that changed."""
        elapsed = self.clock() - self.started_at
        wanted = {fault.name: fault.window.active(elapsed) for fault in self.faults}
        changed = {name: state for name, state in wanted.items() if self.active[name] != state}
        for fault in self.faults:
            if fault.name in changed:
                verb = "starts" if changed[fault.name] else "ends"
                log.warning("lab fault %s %s (%s)", fault.name, verb, fault.describe())
        self.active = wanted
        to_pause: dict[int, LabPeer] = {}
        for name, peers in self.paused_by.items():
            if wanted.get(name):
                to_pause.update((id(peer), peer) for peer in peers)
        every_peer = {id(p): p for peers in self.paused_by.values() for p in peers}
        for key, peer in every_peer.items():
            if key in to_pause and key not in self._paused:
                peer.pause()
                self._paused.add(key)
            elif key not in to_pause and key in self._paused:
                peer.resume()
                self._paused.discard(key)
        if changed and self.on_change is not None:
            self.on_change(dict(self.active))
        return changed

    def _sleep_s(self) -> float:
        elapsed = self.clock() - self.started_at
        changes = [fault.window.next_change(elapsed) for fault in self.faults]
        upcoming = [change - elapsed for change in changes if change is not None]
        return max(0.05, min([MAX_SLEEP_S, *upcoming]))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.apply()
            self._stop.wait(self._sleep_s())

    def start(self) -> None:
        if self.faults and self._thread is None:
            self.apply()
            self._thread = threading.Thread(target=self._run, name="lab-faults", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the schedule and resume every paused peer (so each can be stopped cleanly)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        for peers in self.paused_by.values():
            for peer in peers:
                if id(peer) in self._paused:
                    peer.resume()
                    self._paused.discard(id(peer))
