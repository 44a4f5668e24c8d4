"""The collector contract (DESIGN §4) and the registry of collectors.

Two kinds of plug-in, as in Telegraf:

- a **polled collector** is asked by the scheduler, per target and interval, for samples:
  ``async collect(target) -> list[Sample]``. It owns a strict config model (pydantic,
  ``extra="forbid"``) read from the inventory variables ``netmon_<name>_<field>``, and a
  ``validate`` that checks a config without touching the network. It never raises for a
  failed check: a failure is a sample with a result code (``failure_samples``).
  A collector may also define ``assess(target, samples) -> Assessment`` to judge its
  polls for availability (degraded thresholds, composite checks; `agent.availability`).
- a **listener** (SNMP traps, later) runs in the background: ``start(sink)``, ``stop()``.

Interval, timeout, jitter and inventory tags are applied by the agent's wrapper (the
scheduler and the pipeline), never by a collector.

Collectors are found through the ``netmon.collectors`` entry point group; a name registered
twice is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from agent.results import Result
from agent.samples import Sample
from agent.schema import SchemaRegistry
from agent.settings import IcmpMode, SshSettings

ENTRY_POINT_GROUP = "netmon.collectors"


@dataclass(frozen=True)
class Target:
    """One check of one host, as the scheduler runs it."""

    host: str  # inventory host name
    address: str  # ansible_host, or the host name
    check: str  # the collector's name
    config: Any  # the collector's validated config model
    tags: Mapping[str, str] = field(default_factory=dict)  # site, level, department
    interval_s: float = 60.0
    timeout_s: float = 30.0
    jitter_s: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.host}/{self.check}"


@dataclass(frozen=True)
class CollectorContext:
    """What the agent hands to a collector when it creates it."""

    schema: SchemaRegistry
    receive_buffer_bytes: int = 4 * 1024 * 1024
    icmp_mode: IcmpMode = "auto"  # agent.settings.ProbeSettings
    ca_file: Path | None = None  # extra CA certificates the TLS probes trust
    ssh: SshSettings = field(default_factory=SshSettings)
    known_hosts_file: Path = Path(".state/ssh/known_hosts")  # Settings.known_hosts_file
    backup_dir: Path = Path(".state/configs")  # Settings.backup_dir
    agent_name: str = "netmon"  # who made a backup commit
    #: A one-off run that must leave nothing behind (`netmon poll`): no backup commits.
    read_only: bool = False


@runtime_checkable
class PolledCollector(Protocol):
    name: str
    config_model: type[BaseModel]

    @classmethod
    def validate(cls, config: Any) -> list[tuple[str, str]]:
        """Problems of a parsed config as (field, message); never touches the network.

        A classmethod: ``netmon inventory check`` validates without creating collectors.
        """
        ...

    async def collect(self, target: Target) -> list[Sample]:
        """Poll the target once. Failures are returned as samples, not raised."""
        ...

    def failure_samples(self, target: Target, result: Result, elapsed_s: float) -> list[Sample]:
        """Samples that record a poll which the wrapper had to abandon (e.g. timeout)."""
        ...

    async def close(self) -> None: ...


SampleSink = Callable[[list[Sample]], None]


@runtime_checkable
class Listener(Protocol):
    name: str

    async def start(self, sink: SampleSink) -> None: ...

    async def stop(self) -> None: ...


CollectorFactory = Callable[[CollectorContext], PolledCollector]


class DuplicateCollectorError(ValueError):
    pass


@dataclass
class CollectorRegistry:
    """Collector factories by name (an object, never a class-level dict)."""

    _factories: dict[str, CollectorFactory] = field(default_factory=dict)

    def register(self, name: str, factory: CollectorFactory) -> None:
        if name in self._factories:
            raise DuplicateCollectorError(f"collector {name!r} is registered twice")
        self._factories[name] = factory

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, context: CollectorContext) -> PolledCollector:
        return self._factories[name](context)

    def config_model(self, name: str) -> type[BaseModel]:
        # Reading the model must not create a collector: config_model is a class attribute.
        model: type[BaseModel] = getattr(self._factories[name], "config_model")  # noqa: B009
        return model

    def validate(self, name: str, config: Any) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = getattr(self._factories[name], "validate")(config)  # noqa: B009
        return problems

    def validate_fleet(self, name: str, configs: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """Cross-host problems (host, field, message), for collectors that define the hook."""
        hook = getattr(self._factories[name], "validate_fleet", None)
        return [] if hook is None else list(hook(configs))

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    @classmethod
    def from_entry_points(cls) -> CollectorRegistry:
        registry = cls()
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            registry.register(entry.name, entry.load())
        return registry
