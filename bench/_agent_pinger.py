"""The agent as a pinger, in a process of its own so that its CPU and memory are its own.

Run by bench/icmp.py as ``python bench/_agent_pinger.py --targets 1000 ...``. It builds the
``ping`` collector as the agent does (from the ``netmon.collectors`` entry point, with a
``CollectorContext``) and the real ``Scheduler`` (one task per target, first polls spread over
the interval by the hash of each target's key), and hands every poll to a counting sink: the
samples go neither through the pipeline nor to InfluxDB.

It reports to its parent on stdout, one JSON object per line:

- ``{"event": "started", "socket": "raw", ...}``: the ICMP socket is open, polling starts now;
- ``{"event": "ramped", ...}``: every target has been polled once, so every target's stream
  of echo requests is running (a stream starts at its target's first poll);
- ``{"event": "stopped", ...}``: after SIGTERM or SIGINT (or ``--deadline``): final counts.

Counts are cumulative from "started": the engine's (requests sent, replies, losses, strays)
and the sink's (polls, and the requests and replies the polls' samples report).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import json
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.collector import CollectorContext, CollectorRegistry, Target
from agent.lab.procfs import peak_rss_mib
from agent.results import Result
from agent.samples import Sample
from agent.scheduler import Scheduler, poll_result
from agent.schema import base_schema
from collectors.icmp.collector import PingCollector, PingConfig
from collectors.icmp.engine import IcmpUnavailableError

#: Targets are numbered from here on, within 127.20.0.0/16 (the lab uses 127.0.0.x and
#: 127.1-6.x). Host parts 0 and 255 are skipped: the kernel answers them too, but they read
#: like network and broadcast addresses.
FIRST_TARGET = ipaddress.IPv4Address("127.20.0.1")
TARGET_NETWORK = ipaddress.IPv4Network("127.20.0.0/16")


def loopback_addresses(count: int) -> list[str]:
    """`count` distinct addresses of TARGET_NETWORK, the first FIRST_TARGET."""
    addresses: list[str] = []
    address = FIRST_TARGET
    while len(addresses) < count:
        if address not in TARGET_NETWORK:
            raise ValueError(f"more than {len(addresses)} targets do not fit {TARGET_NETWORK}")
        if int(address) & 0xFF not in (0, 255):
            addresses.append(str(address))
        address += 1
    return addresses


def ping_targets(addresses: list[str], interval_s: float, config: PingConfig) -> list[Target]:
    """One ``ping`` target per address, with the inventory's defaults (timeout: 80 % of the
    interval, at most 30 s; no jitter)."""
    return [
        Target(
            host=f"icmp-bench-{number:04d}",
            address=address,
            check="ping",
            config=config,
            interval_s=interval_s,
            timeout_s=min(interval_s * 0.8, 30.0),
        )
        for number, address in enumerate(addresses, start=1)
    ]


@dataclass
class PollCounts:
    """The scheduler's sink and observer at once: it counts, and keeps nothing else."""

    targets: int
    on_ramped: Callable[[], None]
    polls: int = 0
    polls_succeeded: int = 0
    requests_reported: int = 0  # packets_transmitted summed over the polls' samples
    replies_reported: int = 0  # packets_received, likewise
    skipped_slots: int = 0  # polls the scheduler skipped because one overran its interval
    _polled: set[str] = field(default_factory=set)
    _answered: set[str] = field(default_factory=set)  # targets with a successful poll

    def __call__(self, target: Target, samples: list[Sample]) -> None:
        self.polls += 1
        if poll_result(samples) == Result.SUCCESS.tag:
            self.polls_succeeded += 1
            self._answered.add(target.key)
        for sample in samples:
            self.requests_reported += int(sample.fields.get("packets_transmitted", 0))
            self.replies_reported += int(sample.fields.get("packets_received", 0))
        if len(self._polled) < self.targets:
            self._polled.add(target.key)
            if len(self._polled) == self.targets:
                self.on_ramped()

    def polled(self, target: Target, result: str, duration_s: float) -> None:
        pass  # the sink counts the same polls

    def skipped(self, target: Target, slots: int) -> None:
        self.skipped_slots += slots

    def as_dict(self) -> dict[str, int]:
        return {
            "polls": self.polls,
            "polls_succeeded": self.polls_succeeded,
            "targets_polled": len(self._polled),
            "targets_answered": len(self._answered),
            "requests_reported": self.requests_reported,
            "replies_reported": self.replies_reported,
            "skipped_slots": self.skipped_slots,
        }


def _emit(event: str, **details: Any) -> None:
    print(json.dumps({"event": event, **details}), flush=True)


async def _ping(args: argparse.Namespace) -> None:
    config = PingConfig(count=args.count, packet_timeout_s=args.packet_timeout)
    targets = ping_targets(loopback_addresses(args.targets), args.interval, config)
    context = CollectorContext(schema=base_schema(), icmp_mode=args.icmp_mode)
    collector = CollectorRegistry.from_entry_points().create("ping", context)
    if not isinstance(collector, PingCollector):
        raise SystemExit(f"the ping collector is a {type(collector).__name__}")
    engine = collector.engine
    engine.open()  # now rather than at the first poll: fail early, and say which kind

    def ramped() -> None:
        _emit("ramped", engine=dataclasses.asdict(engine.stats), polls=counts.as_dict())

    counts = PollCounts(len(targets), ramped)
    scheduler = Scheduler(targets, {"ping": collector}, counts, counts, spread=True)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, scheduler.stop)
    deadline = loop.call_later(args.deadline, scheduler.stop)  # bounded even if orphaned
    _emit("started", socket=engine.kind, targets=len(targets))
    try:
        await scheduler.run()
    finally:
        deadline.cancel()
        await collector.close()
    _emit(
        "stopped",
        socket=engine.kind,
        engine=dataclasses.asdict(engine.stats),
        polls=counts.as_dict(),
        peak_rss_mib=peak_rss_mib(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="the agent's pinger (see bench/icmp.py)")
    parser.add_argument("--targets", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True, help="seconds per target")
    parser.add_argument("--count", type=int, required=True, help="echo requests per interval")
    parser.add_argument("--packet-timeout", type=float, required=True, help="seconds")
    parser.add_argument("--icmp-mode", choices=("auto", "dgram", "raw"), default="auto")
    parser.add_argument("--deadline", type=float, required=True, help="stop by then (s)")
    args = parser.parse_args()
    # The collector's warnings (a target that stops answering) go to stderr: a file kept
    # by the parent.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        asyncio.run(_ping(args))
    except IcmpUnavailableError as exc:
        sys.exit(f"agent pinger: {exc}")


if __name__ == "__main__":
    main()
