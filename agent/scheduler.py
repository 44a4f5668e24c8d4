"""The poll scheduler: every target on its own interval, none able to stall another.

- Each target (host × check) runs in its own asyncio task. Its first poll is spread over the
  interval by a stable hash of its key, so 184 devices do not all fire at once; each poll may
  add a random jitter of 0..``jitter_s``.
- A poll is abandoned after the target's timeout and recorded as a failure sample.
- At most one poll is in flight per device address (a lock per address), whatever the check.
- A poll that overruns its slot makes the next slots be skipped, counted and logged, rather
  than stacked up (the cautionary tale is Telegraf issue #3823).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from agent.collector import PolledCollector, Target
from agent.results import Result
from agent.samples import Sample

log = logging.getLogger(__name__)


PollSink = Callable[[Target, list[Sample]], None]


class PollObserver(Protocol):
    def polled(self, target: Target, result: str, duration_s: float) -> None: ...

    def skipped(self, target: Target, slots: int) -> None: ...


def poll_result(samples: Sequence[Sample]) -> str:
    """The result of a poll: the ``result`` tag of its sample that has ``result_code``."""
    for sample in samples:
        if "result_code" in sample.fields:
            return sample.tags.get("result", Result(int(sample.fields["result_code"])).tag)
    return Result.BAD_RESPONSE.tag


def first_offset(target: Target) -> float:
    """A stable offset in [0, interval) from the target's key (same every restart)."""
    digest = hashlib.blake2b(target.key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * target.interval_s


class Scheduler:
    def __init__(
        self,
        targets: Sequence[Target],
        collectors: Mapping[str, PolledCollector],
        sink: PollSink,
        observer: PollObserver,
        *,
        spread: bool = True,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.targets = list(targets)
        self.collectors = collectors
        self.sink = sink
        self.observer = observer
        self.spread = spread
        self.clock = clock
        self.rng = rng or random.Random()
        self._device_locks: dict[str, asyncio.Lock] = {}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Poll until stop(); returns once every target's task has ended."""
        start = self.clock()
        async with asyncio.TaskGroup() as group:
            for target in self.targets:
                group.create_task(self._target_loop(target, start), name=target.key)

    async def run_once(self, target: Target) -> list[Sample]:
        """Poll `target` now (respecting its device lock) and hand the samples on."""
        lock = self._device_locks.setdefault(target.address, asyncio.Lock())
        collector = self.collectors[target.check]
        async with lock:
            started = self.clock()
            try:
                samples = await asyncio.wait_for(collector.collect(target), target.timeout_s)
            except TimeoutError:
                samples = collector.failure_samples(
                    target, Result.TIMEOUT.tag, self.clock() - started
                )
            except Exception:
                # A collector broke its contract (it must not raise); keep the agent alive.
                log.exception("%s: collector raised", target.key)
                samples = collector.failure_samples(
                    target, Result.INTERNAL_ERROR.tag, self.clock() - started
                )
            duration = self.clock() - started
        self.observer.polled(target, poll_result(samples), duration)
        try:
            self.sink(target, samples)
        except Exception:
            log.exception("%s: the pipeline failed on this poll's samples", target.key)
        return samples

    async def _sleep_until(self, when: float) -> bool:
        """Sleep until `when` (clock time); False if stop() came first."""
        delay = when - self.clock()
        if delay <= 0:
            return not self._stop.is_set()
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
        except TimeoutError:
            return True
        return False

    async def _target_loop(self, target: Target, start: float) -> None:
        due = start + (first_offset(target) if self.spread else 0.0)
        while not self._stop.is_set():
            jitter = self.rng.uniform(0, target.jitter_s) if target.jitter_s else 0.0
            if not await self._sleep_until(due + jitter):
                return
            await self.run_once(target)
            due += target.interval_s
            late = self.clock() - due
            if late > 0:
                slots = int(late // target.interval_s) + 1
                due += slots * target.interval_s
                self.observer.skipped(target, slots)
                log.warning(
                    "%s: poll overran its interval of %gs; %d poll(s) skipped",
                    target.key,
                    target.interval_s,
                    slots,
                )
