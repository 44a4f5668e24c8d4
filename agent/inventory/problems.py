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
        super().__init__("\n".join(str(p) for p in self.problems))
