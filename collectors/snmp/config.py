"""The SNMP collector's settings and credential sets, as read from the inventory.

A credential set (``netmon_credentials.<name>``) is one of:

.. code-block:: yaml

    lab_v2c:   {version: "2c", community: "{{ vault_lab_community }}"}
    core_v3:
      version: "3"
      user: netmon
      auth_protocol: sha256      # md5 sha sha224 sha256 sha384 sha512
      auth_password: "{{ vault_core_auth }}"
      priv_protocol: aes128      # des aes128 aes192 aes256
      priv_password: {env: NETMON_CORE_PRIV}

Per host (``netmon_snmp_<field>``): ``credential`` (required), ``port`` (161), ``profiles``
(``[auto]``: the profile matched by the device's sysObjectID; or names of profiles, which may
include ``auto``), ``timeout_s`` (2.0 per request), ``retries`` (1), ``max_repetitions`` (25
rows per column per GETBULK to start with; halved per device on tooBig or timeout, and
remembered), ``label_refresh_s`` (900: how often label columns such as ifName, ifAlias and
ifSpeed are walked; counters are walked every poll).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from agent.secret import Secret

AuthProtocol = Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["des", "aes128", "aes192", "aes256"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _version(value: Any) -> str:
    # YAML reads `version: 3` as an integer and `version: 2c` as a string.
    raw = value.get("version") if isinstance(value, dict) else getattr(value, "version", None)
    return "3" if str(raw) == "3" else "community"


class _Versioned(_Strict):
    @field_validator("version", mode="before", check_fields=False)
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class CommunityCredential(_Versioned):
    name: str
    version: Literal["1", "2c"]
    community: Secret


class UsmCredential(_Versioned):
    name: str
    version: Literal["3"]
    user: str = Field(min_length=1)
    auth_protocol: AuthProtocol | None = None
    auth_password: Secret | None = None
    priv_protocol: PrivProtocol | None = None
    priv_password: Secret | None = None
    context: str = ""

    @model_validator(mode="after")
    def _levels(self) -> UsmCredential:
        if (self.auth_protocol is None) != (self.auth_password is None):
            raise ValueError("auth_protocol and auth_password go together")
        if (self.priv_protocol is None) != (self.priv_password is None):
            raise ValueError("priv_protocol and priv_password go together")
        if self.priv_protocol is not None and self.auth_protocol is None:
            raise ValueError("privacy (priv_*) needs authentication (auth_*) too")
        for password in (self.auth_password, self.priv_password):
            # RFC 3414 §11.2: USM pass phrases are at least 8 octets.
            if password is not None and len(password.reveal()) < 8:
                raise ValueError("SNMPv3 pass phrases must be at least 8 characters")
        return self

    @property
    def security_level(self) -> str:
        if self.priv_protocol:
            return "authPriv"
        return "authNoPriv" if self.auth_protocol else "noAuthNoPriv"


SnmpCredential = Annotated[
    Annotated[CommunityCredential, Tag("community")] | Annotated[UsmCredential, Tag("3")],
    Discriminator(_version),
]


class SnmpConfig(_Strict):
    credential: SnmpCredential
    port: int = Field(default=161, ge=1, le=65535)
    profiles: list[str] = Field(default_factory=lambda: ["auto"], min_length=1)
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    retries: int = Field(default=1, ge=0, le=5)
    max_repetitions: int = Field(default=25, ge=1, le=100)
    label_refresh_s: float = Field(default=900.0, ge=0, le=86400)
