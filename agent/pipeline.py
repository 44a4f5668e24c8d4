"""The pipeline between collectors and outputs: judge, enrich, check the schema, serialize.

Each poll's counters are first made continuous (`agent.counters`: wraps extended, reboots held
and marked), then the poll is judged for availability (`agent.availability`), and its samples
move on.

Every sample gets the inventory tags of its target (``site``, ``level``, ``department``,
``district``) and ``agent``. A sample the schema does not declare is dropped, counted and logged
once per kind — a device must never be able to create a field with a surprising type in
InfluxDB.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agent.availability import AvailabilityTracker
from agent.collector import Target
from agent.counters import CounterGuard
from agent.output.buffer import LineBuffer
from agent.output.lineprotocol import UintMode, serialize
from agent.samples import Sample
from agent.schema import SchemaRegistry

log = logging.getLogger(__name__)


def add_inventory_tags(samples: Sequence[Sample], tags: Mapping[str, str], agent: str) -> None:
    """The target's inventory tags (site, level, department) and the writing agent's name."""
    for sample in samples:
        sample.tags.update(tags)
        sample.tags["agent"] = agent


@dataclass
class PipelineStats:
    samples_in: int = 0
    samples_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # reason → count


class Pipeline:
    def __init__(
        self,
        schema: SchemaRegistry,
        buffer: LineBuffer,
        *,
        agent_name: str,
        uint_mode: UintMode = "wrap",
        availability: AvailabilityTracker | None = None,
        counters: CounterGuard | None = None,
    ) -> None:
        self.schema = schema
        self.buffer = buffer
        self.agent_name = agent_name
        self.uint_mode = uint_mode
        self.availability = availability
        self.counters = counters
        self.stats = PipelineStats()
        self._reported: set[str] = set()

    def enrich(self, samples: Sequence[Sample], tags: Mapping[str, str]) -> None:
        add_inventory_tags(samples, tags, self.agent_name)

    def accept(self, samples: Sequence[Sample], tags: Mapping[str, str] | None = None) -> None:
        """Take one poll's samples (with its target's inventory tags) into the buffer."""
        self.stats.samples_in += len(samples)
        self.enrich(samples, tags or {})
        kept, rejected = self.schema.conforming(samples)
        for problem in rejected:
            self._drop("undeclared", problem)
        lines = []
        for sample in kept:
            line = serialize(sample, uint_mode=self.uint_mode)
            if line is None:
                self._drop("no_fields", f"{sample.measurement}: no writable field")
                continue
            lines.append(line)
        self.stats.samples_out += len(lines)
        if lines:
            self.buffer.put(lines)

    def accept_poll(self, target: Target, samples: list[Sample]) -> None:
        """One poll's samples, and its ``availability`` verdict when tracking is on."""
        if self.counters is not None:
            # First: the collector's tags are the row's identity, before enrichment adds more.
            self.counters.apply(samples, self.schema)
        if self.availability is not None:
            samples = samples + self.availability.judge(target, samples)
        self.accept(samples, target.tags)

    def close(self) -> None:
        """Save what must outlive the process (the counter guard's offsets)."""
        if self.counters is not None:
            self.counters.close()

    def _drop(self, reason: str, detail: str) -> None:
        self.stats.dropped[reason] += 1
        if detail not in self._reported:
            self._reported.add(detail)
            log.warning("sample dropped (%s): %s", reason, detail)
