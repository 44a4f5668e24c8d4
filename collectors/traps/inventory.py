"""What the trap receiver takes from the inventory: who may send, and who each sender is."""

from __future__ import annotations

from agent.inventory.model import Inventory
from collectors.snmp.config import CommunityCredential, SnmpConfig, UsmCredential


def trap_credentials(inventory: Inventory) -> list[CommunityCredential | UsmCredential]:
    """Every distinct credential set used by a monitored host's ``snmp`` check."""
    found: dict[str, CommunityCredential | UsmCredential] = {}
    for host in inventory.hosts.values():
        config = host.checks.get("snmp")
        if isinstance(config, SnmpConfig):
            found.setdefault(config.credential.name, config.credential)
    return [found[name] for name in sorted(found)]


def trap_senders(inventory: Inventory) -> dict[str, str]:
    """Sender address → inventory host (the first by name when hosts share an address)."""
    senders: dict[str, str] = {}
    for name in sorted(inventory.hosts):
        senders.setdefault(inventory.hosts[name].address, name)
    return senders
