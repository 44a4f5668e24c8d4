"""Writing a throw-away Ansible inventory that points at the test peers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class InventoryWriter:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)
    all_vars: dict[str, Any] = field(default_factory=dict)

    def secret(self, name: str, value: str) -> dict[str, str]:
        """A credential value read from the environment, as operators are told to do."""
        variable = f"NETMON_TEST_{name.upper().replace('-', '_')}"
        self.env[variable] = value
        return {"env": variable}

    def v2c(self, name: str, community: str) -> str:
        self.credentials[name] = {"version": "2c", "community": self.secret(name, community)}
        return name

    def v3(self, name: str, user: str, auth: str, priv: str, context: str = "") -> str:
        self.credentials[name] = {
            "version": "3",
            "user": user,
            "auth_protocol": "sha256",
            "auth_password": self.secret(f"{name}_auth", auth),
            "priv_protocol": "aes128",
            "priv_password": self.secret(f"{name}_priv", priv),
            "context": context,
        }
        return name

    def host(self, name: str, address: str, port: int, credential: str, **extra: Any) -> None:
        self.hosts[name] = {
            "ansible_host": address,
            "netmon_snmp_port": port,
            "netmon_snmp_credential": credential,
            **extra,
        }

    def write(self) -> Path:
        (self.root / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
        inventory = {"all": {"children": {"lab": {"hosts": self.hosts}}}}
        (self.root / "hosts.yml").write_text(yaml.safe_dump(inventory, allow_unicode=True))
        variables = {
            "netmon_checks": ["snmp"],
            "netmon_site": "LAB",
            "netmon_level": "dc",
            "netmon_department": "Sở Thông tin và Truyền thông",
            "netmon_credentials": self.credentials,
            **self.all_vars,
        }
        (self.root / "group_vars" / "all" / "netmon.yml").write_text(
            yaml.safe_dump(variables, allow_unicode=True)
        )
        return self.root
