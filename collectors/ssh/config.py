"""The SSH collector's settings and credential sets, as read from the inventory.

A credential set (``netmon_credentials.<name>``) for SSH is one of:

.. code-block:: yaml

    routers_ssh:                 # password login
      username: netmon
      password: "{{ vault_routers_ssh_password }}"
      enable_secret: "{{ vault_routers_enable }}"   # optional: Cisco `enable`
    servers_ssh:                 # key login (no password is sent)
      username: netmon
      key_file: /etc/netmon/ssh/id_ed25519
      passphrase: {env: NETMON_SSH_KEY_PASSPHRASE}   # optional

Per host (``netmon_ssh_<field>``): ``platform`` (required: cisco_ios, huawei_vrp,
juniper_junos, mikrotik_routeros, linux), ``credential`` (required), ``port`` (22),
``datasets`` (default: every dataset the platform has: optics, bgp, ospf, errors),
``command_timeout_s`` (15: one command's output), ``connect_timeout_s`` (10),
``optical_interfaces`` (the SFP ports whose optics are read one at a time: RouterOS's
``interface ethernet monitor <port> once``; other platforms report every port at once),
``backup`` (true: keep the running configuration in the backup repository),
``backup_interval_s`` (3600), ``backup_command`` (the platform's own by default; required for
``linux``, which has no single running configuration).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from agent.secret import Secret
from collectors.ssh.platforms import Dataset, Platform


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _login(value: Any) -> str:
    has_key = value.get("key_file") if isinstance(value, dict) else getattr(value, "key_file", None)
    return "key" if has_key else "password"


class PasswordLogin(_Strict):
    name: str
    username: str = Field(min_length=1)
    password: Secret
    enable_secret: Secret | None = None


class KeyLogin(_Strict):
    name: str
    username: str = Field(min_length=1)
    key_file: Path
    passphrase: Secret | None = None
    enable_secret: Secret | None = None


SshCredential = Annotated[
    Annotated[PasswordLogin, Tag("password")] | Annotated[KeyLogin, Tag("key")],
    Discriminator(_login),
]


class SshConfig(_Strict):
    platform: Platform
    credential: SshCredential
    port: int = Field(default=22, ge=1, le=65535)
    datasets: list[Dataset] | None = None
    optical_interfaces: list[Annotated[str, Field(pattern=r"^\S+$")]] = Field(default_factory=list)
    command_timeout_s: float = Field(default=15.0, gt=0, le=600)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120)
    backup: bool = True
    backup_interval_s: float = Field(default=3600.0, ge=60, le=7 * 86400)
    backup_command: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _linux_backup(self) -> SshConfig:
        if self.platform == "linux" and self.backup and self.backup_command is None:
            raise ValueError(
                "linux has no single running configuration: set backup_command "
                "(e.g. 'cat /etc/frr/frr.conf') or backup: false"
            )
        return self

    def secrets(self) -> list[str]:
        """The credential's secret values: what must never reach the backup repository."""
        credential = self.credential
        found = [credential.enable_secret]
        if isinstance(credential, PasswordLogin):
            found.append(credential.password)
        else:
            found.append(credential.passphrase)
        return [secret.reveal() for secret in found if secret is not None]
