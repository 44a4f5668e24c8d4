"""The device platforms the SSH collector and the configuration backup know.

The names are netmiko's ``device_type`` values (and ntc-templates' platform names), so an
operator who knows either tool knows these.
"""

from __future__ import annotations

from typing import Literal, get_args

Platform = Literal["cisco_ios", "huawei_vrp", "juniper_junos", "mikrotik_routeros", "linux"]

PLATFORMS: tuple[Platform, ...] = get_args(Platform)

#: What the CLI can tell that SNMP often cannot; each becomes one measurement (schema.py).
Dataset = Literal["optics", "bgp", "ospf", "errors"]

DATASETS: tuple[Dataset, ...] = get_args(Dataset)
