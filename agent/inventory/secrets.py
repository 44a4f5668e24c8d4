"""Resolving the values of credential sets: vault, variable references, environment, files.

A credential value in the inventory may be:

- a literal string (fine in the lab; production inventories use one of the forms below);
- ``"{{ vault_snmp_community }}"``: a reference to another variable of the host, typically an
  Ansible Vault encrypted one (``!vault |`` inline, or a whole vault-encrypted vars file). Only
  plain variable references are evaluated: no Jinja expressions run on secrets;
- ``{env: NETMON_CORE_AUTH}``: an environment variable of the agent;
- ``{file: /etc/netmon/core-auth}``: a file whose content (stripped) is the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.secret import Secret

_REFERENCE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_MAX_DEPTH = 8


class SecretResolutionError(ValueError):
    """A credential value cannot be resolved; the message never contains a secret."""


@dataclass
class SecretResolver:
    vault_password: Secret | None
    base_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _decrypted: dict[str, str] = field(default_factory=dict)

    def _decrypt(self, ciphertext: str) -> str:
        if ciphertext in self._decrypted:
            return self._decrypted[ciphertext]
        if self.vault_password is None:
            raise SecretResolutionError(
                "value is encrypted with Ansible Vault but no vault password file was given "
                "(settings [inventory] vault_password_file, NETMON_INVENTORY_VAULT_PASSWORD_FILE)"
            )
        from ansible.errors import AnsibleError
        from ansible.parsing.vault import VaultLib, VaultSecret

        vault = VaultLib([("default", VaultSecret(self.vault_password.reveal().encode()))])
        try:
            plain = str(vault.decrypt(ciphertext.encode()).decode("utf-8"))
        except AnsibleError:
            raise SecretResolutionError(
                "Ansible Vault value cannot be decrypted with the given vault password"
            ) from None
        self._decrypted[ciphertext] = plain
        return plain

    def resolve(self, value: Any, hostvars: Mapping[str, Any], depth: int = 0) -> Any:
        """The plain value of `value` for a host whose variables are `hostvars`."""
        if depth > _MAX_DEPTH:
            raise SecretResolutionError("variable references nest too deeply (a loop?)")
        if isinstance(value, Mapping):
            if "__ansible_vault" in value:
                return self._decrypt(str(value["__ansible_vault"]))
            if set(value) == {"env"}:
                name = str(value["env"])
                if name not in self.environ:
                    raise SecretResolutionError(f"environment variable {name} is not set")
                return self.environ[name]
            if set(value) == {"file"}:
                path = self.base_dir / str(value["file"])
                try:
                    return path.read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise SecretResolutionError(
                        f"cannot read secret file {path}: {exc.strerror}"
                    ) from None
            return {key: self.resolve(item, hostvars, depth) for key, item in value.items()}
        if isinstance(value, str) and "{{" in value:
            match = _REFERENCE.match(value.strip())
            if match is None:
                raise SecretResolutionError(
                    "only a plain variable reference like '{{ vault_name }}' is allowed here"
                )
            name = match.group(1)
            if name not in hostvars:
                raise SecretResolutionError(f"references undefined variable {name}")
            return self.resolve(hostvars[name], hostvars, depth + 1)
        return value
