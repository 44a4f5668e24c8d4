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
    """The result of a poll: the first failure among its samples that carry ``result_code``
    (a composite check such as ``vc`` writes several), else success."""
    results = [
        sample.tags.get("result", Result(int(sample.fields["result_code"])).tag)
        for sample in samples
        if "result_code" in sample.fields
    ]
    if not results:
        return Result.BAD_RESPONSE.tag
    return next((result for result in results if result != Result.SUCCESS.tag), results[0])


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
        max_in_flight: int = 64,
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
        # Polls in flight at once, agent-wide (the shared UDP socket overflows otherwise,
        # DESIGN §9). Taken before a poll's timeout starts: waiting for a slot is the agent's
        # load, not the device's slowness, and must not be recorded as a device timeout.
        self._max_in_flight = max_in_flight
        self._slots: asyncio.Semaphore | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        """End polling now: polls in flight are cancelled, none is started any more."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()

    async def run(self) -> None:
        """Poll until stop(); returns once every target's task has ended."""
        start = self.clock()
        self._tasks = {
            asyncio.create_task(self._target_loop(target, start), name=target.key)
            for target in self.targets
        }
        # gather(return_exceptions=True): one target's end, whatever its cause, never
        # cancels the others (a TaskGroup would).
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for target, result in zip(self.targets, results, strict=False):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("%s: polling ended by an error: %r", target.key, result)

    async def run_once(self, target: Target) -> list[Sample]:
        """Poll `target` now (respecting the limits) and hand the samples on; never raises
        for a failed poll."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_in_flight)
        lock = self._device_locks.setdefault(target.address, asyncio.Lock())
        collector = self.collectors[target.check]
        async with self._slots, lock:
            started = self.clock()
            try:
                samples = await asyncio.wait_for(collector.collect(target), target.timeout_s)
            except TimeoutError:
                samples = collector.failure_samples(target, Result.TIMEOUT, self.clock() - started)
            except Exception:
                # A collector broke its contract (it must not raise); keep the agent alive.
                log.exception("%s: collector raised", target.key)
                samples = collector.failure_samples(
                    target, Result.INTERNAL_ERROR, self.clock() - started
                )
            duration = self.clock() - started
        self.observer.polled(target, poll_result(samples), duration)
        self.sink(target, samples)
        return samples

    async def _guarded_poll(self, target: Target) -> None:
        try:
            await self.run_once(target)
        except Exception:
            # The observer, the sink or failure_samples broke: log it, keep this target and
            # all the others polling.
            log.exception("%s: poll bookkeeping failed", target.key)

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
            await self._guarded_poll(target)
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
