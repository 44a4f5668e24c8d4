"""Inventory problems: each names the file, the host and the field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    file: str  # path (with :line when known), or "" when no file defines the field
    host: str  # inventory host name, or "" for problems of no single host
    field: str  # the variable, e.g. netmon_snmp_credential or netmon_credentials.core.user
    message: str

    def __str__(self) -> str:
        where = self.file or "(no file)"
        host = f"host {self.host}" if self.host else "inventory"
        return f"{where}: {host}: {self.field}: {self.message}"


class InventoryError(Exception):
    """The inventory cannot be used; `problems` says every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(_grouped(self.problems)))


def _grouped(problems: list[Problem], shown: int = 5) -> list[str]:
    """One line per distinct problem; a problem shared by many hosts (a group_vars mistake
    reaches all 184) names the first few hosts and how many there are."""
    hosts: dict[tuple[str, str, str], list[str]] = {}
    for problem in problems:
        hosts.setdefault((problem.file, problem.field, problem.message), []).append(problem.host)
    lines = []
    for (file, field, message), names in hosts.items():
        if len(names) == 1:
            lines.append(str(Problem(file, names[0], field, message)))
            continue
        listed = ", ".join(names[:shown]) + (
            f" and {len(names) - shown} more" if len(names) > shown else ""
        )
        lines.append(f"{file or '(no file)'}: hosts {listed}: {field}: {message}")
    return lines
