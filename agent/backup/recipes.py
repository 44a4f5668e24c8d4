"""What to run on each platform to print its running configuration.

A recipe is data (STYLE: a platform is data). The SSH part runs ``command`` (after ``enable``
when ``needs_enable``), hands the output to :func:`agent.backup.scrub.scrub` and stores the
result with :class:`agent.backup.repo.ConfigRepo`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Type-only: collectors.ssh imports agent.backup at package import, a real import would be
    # circular when agent.backup is imported first.
    from collectors.ssh.platforms import Platform


@dataclass(frozen=True, slots=True)
class BackupRecipe:
    """How to fetch one platform's configuration.

    command: the CLI command printing the running configuration; ``None`` means the platform
        has no sensible default and the operator must configure one per device (linux).
    needs_enable: the command needs privileged mode (Cisco ``enable``).

    Paging needs nothing here: netmiko turns the pager off for every platform at login.
    """

    command: str | None
    needs_enable: bool


RECIPES: Mapping[Platform, BackupRecipe] = MappingProxyType(
    {
        "cisco_ios": BackupRecipe("show running-config", needs_enable=True),
        "huawei_vrp": BackupRecipe("display current-configuration", needs_enable=False),
        # Hierarchical output keeps Junos's own "## SECRET-DATA" markers, which scrub() relies
        # on first; "| display set" drops them. "display omit" also shows apply-flags omit parts.
        "juniper_junos": BackupRecipe("show configuration | display omit", needs_enable=False),
        # RouterOS 7 hides sensitive values unless "show-sensitive" is given; scrub() is the
        # safety net for RouterOS 6 and for values 7 does not consider sensitive.
        "mikrotik_routeros": BackupRecipe("/export", needs_enable=False),
        # No default: what a Linux box's "configuration" is depends on its role
        # (e.g. "cat /etc/frr/frr.conf" for an FRR router).
        "linux": BackupRecipe(None, needs_enable=False),
    }
)
