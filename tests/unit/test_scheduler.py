"""The scheduler against a fake collector (its one I/O seam: collect())."""

import asyncio
from collections import Counter
from typing import Any, ClassVar

from pydantic import BaseModel

from agent.collector import Target
from agent.results import Result
from agent.samples import Sample
from agent.scheduler import Scheduler, first_offset, poll_result


class FakeConfig(BaseModel):
    delay_s: float = 0.0
    fail: bool = False


class FakeCollector:
    name: ClassVar[str] = "fake"
    config_model: ClassVar[type[BaseModel]] = FakeConfig

    def __init__(self) -> None:
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()

    @classmethod
    def validate(cls, config: Any) -> list[tuple[str, str]]:
        return []

    async def collect(self, target: Target) -> list[Sample]:
        self.in_flight[target.address] += 1
        self.max_in_flight[target.address] = max(
            self.max_in_flight[target.address], self.in_flight[target.address]
        )
        try:
            if target.config.fail:
                raise RuntimeError("collector bug")
            await asyncio.sleep(target.config.delay_s)
        finally:
            self.in_flight[target.address] -= 1
        return [Sample("fake", {"result": "success"}, {"result_code": 0})]

    def failure_samples(self, target: Target, result: Result, elapsed_s: float) -> list[Sample]:
        return [Sample("fake", {"result": result.tag}, {"result_code": int(result)})]

    async def close(self) -> None:
        pass


class Recorder:
    def __init__(self) -> None:
        self.results: dict[str, Counter[str]] = {}
        self.skips: Counter[str] = Counter()

    def polled(self, target: Target, result: str, duration_s: float) -> None:
        self.results.setdefault(target.host, Counter())[result] += 1

    def skipped(self, target: Target, slots: int) -> None:
        self.skips[target.host] += slots


def target(host: str, address: str, interval: float, timeout: float, **config: Any) -> Target:
    return Target(host, address, "fake", FakeConfig(**config), {}, interval, timeout)


async def run_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    scheduler.stop()
    await asyncio.wait_for(task, 5)


def test_a_hung_device_does_not_delay_the_others() -> None:
    collector = FakeCollector()
    recorder = Recorder()
    sunk: list[tuple[str, list[Sample]]] = []
    targets = [
        target("hung", "127.0.0.9", 0.1, 0.05, delay_s=30),
        *(target(f"ok{i}", f"127.0.1.{i}", 0.1, 0.05) for i in range(5)),
    ]
    scheduler = Scheduler(
        targets, {"fake": collector}, lambda t, s: sunk.append((t.host, s)), recorder, spread=False
    )
    asyncio.run(run_for(scheduler, 1.0))
    # ~10 slots elapsed: every healthy device was polled in most of them, none skipped.
    for i in range(5):
        assert recorder.results[f"ok{i}"]["success"] >= 5
        assert recorder.skips[f"ok{i}"] == 0
    assert recorder.results["hung"]["timeout"] >= 5
    assert recorder.results["hung"]["success"] == 0
    assert any(host == "hung" and s[0].tags["result"] == "timeout" for host, s in sunk)


def test_an_overrunning_poll_skips_slots_and_counts_them() -> None:
    recorder = Recorder()
    scheduler = Scheduler(
        [target("slow", "127.0.0.2", 0.05, 1.0, delay_s=0.18)],
        {"fake": FakeCollector()},
        lambda t, s: None,
        recorder,
        spread=False,
    )
    asyncio.run(run_for(scheduler, 0.8))
    assert recorder.skips["slow"] >= 2
    # Skipped slots were not stacked up: fewer polls than slots.
    assert sum(recorder.results["slow"].values()) < 0.8 / 0.05


def test_one_request_in_flight_per_device_address() -> None:
    collector = FakeCollector()
    targets = [target(f"check{i}", "127.0.0.3", 0.05, 1.0, delay_s=0.03) for i in range(4)]
    scheduler = Scheduler(targets, {"fake": collector}, lambda t, s: None, Recorder(), spread=False)
    asyncio.run(run_for(scheduler, 0.5))
    assert collector.max_in_flight["127.0.0.3"] == 1


def test_a_collector_that_raises_yields_a_failure_sample_and_the_agent_goes_on() -> None:
    recorder = Recorder()
    sunk: list[Sample] = []
    scheduler = Scheduler(
        [
            target("buggy", "127.0.0.4", 0.05, 1.0, fail=True),
            target("fine", "127.0.0.5", 0.05, 1.0),
        ],
        {"fake": FakeCollector()},
        lambda t, s: sunk.extend(s),
        recorder,
        spread=False,
    )
    asyncio.run(run_for(scheduler, 0.4))
    assert recorder.results["buggy"]["internal_error"] >= 2
    assert recorder.results["fine"]["success"] >= 2
    assert any(s.tags["result"] == "internal_error" for s in sunk)


def test_a_failing_sink_does_not_stop_polling() -> None:
    recorder = Recorder()

    def broken_sink(t: Target, samples: list[Sample]) -> None:
        raise ValueError("pipeline bug")

    scheduler = Scheduler(
        [target("x", "127.0.0.6", 0.05, 1.0)],
        {"fake": FakeCollector()},
        broken_sink,
        recorder,
        spread=False,
    )
    asyncio.run(run_for(scheduler, 0.3))
    assert recorder.results["x"]["success"] >= 2


def test_first_offsets_are_stable_and_spread_over_the_interval() -> None:
    targets = [target(f"h{i}", f"127.0.2.{i}", 60, 10) for i in range(184)]
    offsets = [first_offset(t) for t in targets]
    assert offsets == [first_offset(t) for t in targets]
    assert all(0 <= o < 60 for o in offsets)
    # spread: every 10-second sixth of the interval holds some targets
    assert {int(o // 10) for o in offsets} == set(range(6))


def test_poll_result_reads_the_status_sample() -> None:
    samples = [
        Sample("interface", {}, {"x": 1}),
        Sample("snmp", {"result": "auth_error"}, {"result_code": 2}),
    ]
    assert poll_result(samples) == "auth_error"
    assert poll_result([Sample("m", {}, {"result_code": 1})]) == "timeout"
    assert poll_result([]) == "bad_response"


def test_a_broken_observer_for_one_host_does_not_stop_the_others() -> None:
    class Picky(Recorder):
        def polled(self, target: Target, result: str, duration_s: float) -> None:
            super().polled(target, result, duration_s)
            if target.host == "cursed":
                raise RuntimeError("observer bug")

    recorder = Picky()
    scheduler = Scheduler(
        [target("cursed", "127.0.0.7", 0.05, 1.0), target("fine", "127.0.0.8", 0.05, 1.0)],
        {"fake": FakeCollector()},
        lambda t, s: None,
        recorder,
        spread=False,
    )
    asyncio.run(run_for(scheduler, 0.4))
    assert recorder.results["cursed"]["success"] >= 3
    assert recorder.results["fine"]["success"] >= 3


def test_stop_cancels_a_poll_in_flight_instead_of_waiting_for_it() -> None:
    recorder = Recorder()
    scheduler = Scheduler(
        [target("hung", "127.0.0.9", 60, 60, delay_s=60)],
        {"fake": FakeCollector()},
        lambda t, s: None,
        recorder,
        spread=False,
    )
    # run_for waits at most 5 s for run() to return after stop(): a 60 s poll would not.
    asyncio.run(run_for(scheduler, 0.2))
    assert recorder.results == {}


def test_polls_beyond_the_agent_wide_limit_wait_without_timing_out() -> None:
    recorder = Recorder()
    collector = FakeCollector()
    targets = [target(f"d{i}", f"127.0.3.{i}", 0.3, 0.2, delay_s=0.1) for i in range(6)]
    scheduler = Scheduler(
        targets, {"fake": collector}, lambda t, s: None, recorder, spread=False, max_in_flight=1
    )
    asyncio.run(run_for(scheduler, 0.5))
    # With one slot, six 0.1 s polls take 0.6 s: waiting for the slot is not a timeout.
    results = Counter[str]()
    for counter in recorder.results.values():
        results.update(counter)
    assert results["timeout"] == 0
    assert results["success"] >= 4
