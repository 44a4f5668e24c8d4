import pytest

from agent.collector import (
    CollectorContext,
    CollectorRegistry,
    DuplicateCollectorError,
    PolledCollector,
)
from agent.schema import base_schema
from collectors.snmp import SnmpCollector


def test_entry_points_register_exactly_the_known_collectors() -> None:
    registry = CollectorRegistry.from_entry_points()
    assert registry.names() == ["http", "ping", "sip", "snmp", "ssh", "tcp", "vc"]
    assert registry.config_model("snmp") is SnmpCollector.config_model


def test_a_name_registered_twice_is_an_error() -> None:
    registry = CollectorRegistry()
    registry.register("snmp", SnmpCollector)
    with pytest.raises(DuplicateCollectorError, match="'snmp' is registered twice"):
        registry.register("snmp", SnmpCollector)


def test_registered_collectors_follow_the_protocol() -> None:
    registry = CollectorRegistry.from_entry_points()
    for name in registry.names():
        factory = registry._factories[name]
        for attribute in ("name", "config_model", "validate", "collect", "failure_samples"):
            assert hasattr(factory, attribute), f"{name} lacks {attribute}"
        assert factory.name == name
        assert isinstance(registry.create(name, CollectorContext(base_schema())), PolledCollector)
