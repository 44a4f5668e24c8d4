"""SNMP collector: pysnmp 7 asyncio, numeric OIDs, profiles in YAML."""

from collectors.snmp.collector import SnmpCollector

__all__ = ["SnmpCollector"]
