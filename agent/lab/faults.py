"""When a simulated fault is on: windows of the lab's elapsed time, optionally repeating.

Elapsed time is seconds since the lab started (an epoch the caller keeps; every lab process is
given the same one), so a peer decides on its own whether a fault is on, with no messages from
the controller. Example: ``FaultWindow(start_s=60, duration_s=30, every_s=300)`` is on from
60 s to 90 s, from 360 s to 390 s, and so on; without `every_s` only from 60 s to 90 s.

A window is closed at its start and open at its end: on at ``start_s``, off at
``start_s + duration_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: How many floating-point steps next_change() may move the computed edge to reach the
#: instant at which active() really flips (rounding in ``elapsed - start`` puts it a few
#: steps to either side; far more than that only happens with absurd magnitudes).
_MAX_NUDGES = 4096


@dataclass(frozen=True)
class FaultWindow:
    """On from `start_s` for `duration_s` seconds, again every `every_s` seconds if given.

    All three are seconds of elapsed lab time: `start_s` >= 0, `duration_s` > 0, and
    `every_s` (the period, from one start to the next) > `duration_s`, so that the fault is
    off for a while in every period (a fault that never ends is ``duration_s=math.inf``).
    """

    start_s: float
    duration_s: float
    every_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and self.start_s >= 0):
            raise ValueError(
                f"fault window start_s must be a finite number >= 0, not {self.start_s}"
            )
        if not self.duration_s > 0:  # also refuses NaN
            raise ValueError(f"fault window duration_s must be > 0, not {self.duration_s}")
        if self.every_s is not None and not (
            math.isfinite(self.every_s) and self.every_s > self.duration_s
        ):
            raise ValueError(
                f"fault window every_s must be finite and longer than duration_s "
                f"({self.duration_s}), not {self.every_s}: the fault would never end"
            )

    def active(self, elapsed_s: float) -> bool:
        """Whether the fault is on `elapsed_s` seconds after the lab's start."""
        if elapsed_s < self.start_s:
            return False
        since_start = elapsed_s - self.start_s
        if self.every_s is None:
            return since_start < self.duration_s
        return since_start % self.every_s < self.duration_s

    def next_change(self, elapsed_s: float) -> float | None:
        """The elapsed time at which :meth:`active` next flips, or None if it never does again.

        The result is the first instant after `elapsed_s` at which ``active()`` answers
        differently from ``active(elapsed_s)``, so a controller that sleeps until then and asks
        again sees the change.
        """
        now = self.active(elapsed_s)
        edge = self._next_edge(elapsed_s)
        if edge is None or math.isinf(edge):
            return None
        # Settle on the float at which active() flips: up until it does, then back while the
        # float before still differs from now.
        for _ in range(_MAX_NUDGES):
            if self.active(edge) != now:
                break
            edge = math.nextafter(edge, math.inf)
        for _ in range(_MAX_NUDGES):
            before = math.nextafter(edge, -math.inf)
            if before <= elapsed_s or self.active(before) == now:
                break
            edge = before
        return edge

    def _next_edge(self, elapsed_s: float) -> float | None:
        # The arithmetic answer, before rounding is accounted for.
        if elapsed_s < self.start_s:
            return self.start_s
        since_start = elapsed_s - self.start_s
        if self.every_s is None:
            return self.start_s + self.duration_s if since_start < self.duration_s else None
        period_start = self.start_s + (since_start // self.every_s) * self.every_s
        if since_start % self.every_s < self.duration_s:
            return period_start + self.duration_s
        return period_start + self.every_s
