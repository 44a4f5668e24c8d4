"""What the SSH collector sends to each platform: one CLI command per dataset.

A command is data, like a device profile: the collector sends `CliCommand.command` as it is,
and `collectors.ssh.parse` turns the output into rows with the TextFSM template that the
ntc-templates index (ours in ``templates/``, then the packaged ones) names for that command.
The recordings under ``agent/lab/cli/<platform>/<command with spaces as underscores>/`` are
the golden cases of every command here, and the lab's SSH simulator serves them.

Each string is the exact form the template index matches, so change a command only together
with its template and recordings (``tests/golden/test_cli_templates.py`` fails otherwise).

Example::

    >>> [c.command for c in commands_for("juniper_junos", ("bgp", "ospf"))]
    ['show bgp summary', 'show ospf neighbor']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from collectors.ssh.platforms import Dataset, Platform

#: Stands for an interface name in a command that RouterOS runs for one interface at a time.
INTERFACE_PLACEHOLDER = "{interface}"


@dataclass(frozen=True)
class CliCommand:
    """One command and the dataset its output becomes.

    `command` may hold `INTERFACE_PLACEHOLDER` (`per_interface`): RouterOS's ``monitor ... once``
    reports one interface per run, so the collector sends it once per optical interface
    (`render`), with names it knows from the inventory.
    """

    dataset: Dataset
    command: str

    @property
    def per_interface(self) -> bool:
        return INTERFACE_PLACEHOLDER in self.command

    def render(self, interface: str | None = None) -> str:
        """The command as sent; `interface` is required exactly when `per_interface`."""
        if not self.per_interface:
            if interface is not None:
                raise ValueError(f"{self.command!r} does not take an interface")
            return self.command
        if not interface or any(c.isspace() for c in interface):
            raise ValueError(f"{self.command!r} needs one interface name, got {interface!r}")
        return self.command.replace(INTERFACE_PLACEHOLDER, interface)

    @property
    def recording_dir(self) -> str:
        """The folder name of this command's recordings (ntc-templates' test layout).

        The placeholder reads ``name`` there, as in ntc-templates; each recording of a
        per-interface command is named after its interface (``sfp-sfpplus1.raw``).
        """
        return self.command.replace(INTERFACE_PLACEHOLDER, "name").replace(" ", "_")


PLATFORM_COMMANDS: Mapping[Platform, tuple[CliCommand, ...]] = MappingProxyType(
    {
        "cisco_ios": (
            # Singular "interface": the plural form matches the `show interfaces` template
            # in ntc's index and parses to nothing.
            CliCommand("optics", "show interface transceiver"),
            CliCommand("bgp", "show ip bgp summary"),
            CliCommand("ospf", "show ip ospf neighbor"),
            CliCommand("errors", "show interfaces"),
        ),
        "huawei_vrp": (
            # Verbose: the plain form shows no diagnostics on the S and AR series.
            CliCommand("optics", "display interface transceiver verbose"),
            CliCommand("bgp", "display bgp peer"),
            CliCommand("ospf", "display ospf peer brief"),
        ),
        "juniper_junos": (
            CliCommand("optics", "show interfaces diagnostics optics"),
            CliCommand("bgp", "show bgp summary"),
            CliCommand("ospf", "show ospf neighbor"),
        ),
        "mikrotik_routeros": (
            # RouterOS 6 forms (ntc's templates); `without-paging` and `once` keep the
            # commands from waiting for a key press or refreshing forever.
            CliCommand("optics", f"interface ethernet monitor {INTERFACE_PLACEHOLDER} once"),
            CliCommand("bgp", "routing bgp peer print status without-paging"),
            CliCommand("ospf", "routing ospf neighbor print terse without-paging"),
        ),
        "linux": (
            # JSON, parsed without a template; "-s -s" adds the CRC and frame counters.
            CliCommand("errors", "ip -s -s -j link show"),
        ),
    }
)


def commands_for(platform: Platform, datasets: Iterable[Dataset]) -> tuple[CliCommand, ...]:
    """The platform's commands for `datasets`, in the table's order.

    A dataset the platform has no command for is left out: not every device can tell
    everything (a Linux host has no optics here).
    """
    wanted = frozenset(datasets)
    return tuple(c for c in PLATFORM_COMMANDS.get(platform, ()) if c.dataset in wanted)


def find_command(platform: Platform, recording_dir: str) -> CliCommand | None:
    """The platform's command whose recordings live in `recording_dir`, if any."""
    for command in PLATFORM_COMMANDS.get(platform, ()):
        if command.recording_dir == recording_dir:
            return command
    return None
