"""Who may send traps: the inventory's communities and SNMPv3 users, and the engine IDs learned.

Communities (SNMPv1/v2c) and SNMPv3 users come from the credential sets the inventory's SNMP
checks use; every one of them is accepted from any sender.

SNMPv3 engine IDs are learned, not registered
---------------------------------------------
USM keys are *localized*: a user's key for a message is derived from the pass phrase and the
**authoritative engine's ID** (RFC 3414 §2.6). For an inform the receiver is authoritative, so
one row per user with the receiver's own engine ID serves every sender (they discover it by the
usual Report exchange, which pysnmp answers). For a trap the *sender* is authoritative: each
device signs with its own engine ID, and pysnmp only accepts a message whose
(msgAuthoritativeEngineID, msgUserName) row exists in its usmUserTable. pysnmp's own answers
fall short: ``pysnmpUsmDiscoverable`` only answers discovery probes, user cloning
(``__clone_user_info``) runs only for requests this engine *sends*, and its wildcard engine ID
row would hold keys localized to the wrong engine.

So the receiver learns: before pysnmp sees a v3 datagram, `SecurityTable.admit` reads its
header (engine ID, user name, security level); when the user is configured and the engine ID
new, it localizes that user's master key for the engine ID and **checks the message's HMAC
itself**. Only a message that authenticates adds the row (``add_v3_user`` with the master key,
which pysnmp localizes), so forged datagrams with made-up engine IDs cost a hash each and
leave nothing behind. The learned rows are bounded (least recently used evicted). A user
without authentication (noAuthNoPriv) needs no key: one row under pysnmp's wildcard engine ID
serves every sender.

pysnmp checks the security level only when it is authoritative; for traps `admit` refuses a
message below the level of the user's credential set (a noAuthNoPriv trap claiming an authPriv
user would otherwise pass unauthenticated).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pyasn1.codec.ber import decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pysnmp.entity import config as engine_config
from pysnmp.proto import error as snmp_error
from pysnmp.proto.api import verdec
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from collectors.snmp.config import CommunityCredential, UsmCredential
from collectors.snmp.session import AUTH_PROTOCOLS, PRIV_PROTOCOLS

log = logging.getLogger(__name__)

#: pysnmp uses this engine ID's rows for any sender it has none for (rfc3414/service.py).
WILDCARD_ENGINE_ID = b"\x00" * 5
#: RFC 3411 SnmpEngineID: 5 to 32 octets.
_ENGINE_ID_SIZES = range(5, 33)
_LEVELS = {"noAuthNoPriv": 1, "authNoPriv": 2, "authPriv": 3}
_LEVEL_OF_FLAGS = {0: 1, 1: 2, 3: 3}  # msgFlags & 3 (RFC 3412 §6.4); 2 is invalid


class Refusal(StrEnum):
    """Why a datagram was not taken as a trap; the words of the logs and stats."""

    UNKNOWN_COMMUNITY = "unknown_community"
    UNKNOWN_USER = "unknown_user"
    AUTH_FAILURE = "auth_failure"  # wrong digest, undecryptable, out of time window
    SECURITY_LEVEL = "security_level"  # below the level of the user's credential set
    UNKNOWN_ENGINE = "unknown_engine"  # an engine ID that is no engine ID


@dataclass(frozen=True)
class _User:
    credential: UsmCredential
    auth: Any  # pysnmp protocol OIDs
    priv: Any
    auth_master: Any  # master keys (RFC 3414 §2.6 Ku), computed once: localizing is cheap
    priv_master: Any

    @property
    def level(self) -> int:
        return _LEVELS[self.credential.security_level]


@dataclass(frozen=True)
class Header:
    """What `admit` reads of an SNMPv3 message before pysnmp processes it."""

    engine_id: bytes
    user: bytes
    level: int
    auth_parameters: Any


def v3_header(datagram: bytes) -> Header | None:
    """The USM header of an SNMPv3 message; None for other versions and undecodable ones."""
    try:
        if int(verdec.decode_message_version(datagram)) != 3:
            return None
        message, _ = decoder.decode(datagram, asn1Spec=SNMPv3Message())
        parameters, _ = decoder.decode(
            bytes(message["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters()
        )
        flags = bytes(message["msgGlobalData"]["msgFlags"])[0]
        return Header(
            engine_id=bytes(parameters["msgAuthoritativeEngineId"]),
            user=bytes(parameters["msgUserName"]),
            level=_LEVEL_OF_FLAGS.get(flags & 3, 0),
            auth_parameters=parameters["msgAuthenticationParameters"],
        )
    except (PyAsn1Error, snmp_error.ProtocolError, ValueError, TypeError, IndexError):
        return None  # pysnmp decodes it again and counts it as it should


class SecurityTable:
    """The communities and users configured in one pysnmp engine, and the learned engine IDs."""

    def __init__(
        self,
        engine: Any,
        credentials: Iterable[CommunityCredential | UsmCredential],
        *,
        max_learned: int = 10_000,
    ) -> None:
        self._engine = engine
        self.max_learned = max_learned
        self._users: dict[bytes, _User] = {}
        #: (engine ID, user) rows added for senders' engine IDs, least recently used first.
        self._learned: OrderedDict[tuple[bytes, bytes], None] = OrderedDict()
        self.communities = 0
        self._configure(sorted(credentials, key=lambda c: c.name))
        self.local_engine_id = bytes(
            engine.get_mib_builder()
            .import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")[0]
            .syntax
        )

    @property
    def users(self) -> int:
        return len(self._users)

    @property
    def learned(self) -> int:
        return len(self._learned)

    def _configure(self, credentials: Sequence[CommunityCredential | UsmCredential]) -> None:
        communities: set[str] = set()
        for credential in credentials:
            if isinstance(credential, CommunityCredential):
                community = credential.community.reveal()
                if community not in communities:
                    communities.add(community)
                    # The index names the row; never the community, which would then show up
                    # as the securityName in pysnmp's contexts and debug output.
                    engine_config.add_v1_system(
                        self._engine, f"community-{len(communities)}", community
                    )
                continue
            self._add_user(credential)
        self.communities = len(communities)

    def _add_user(self, credential: UsmCredential) -> None:
        name = credential.user.encode()
        known = self._users.get(name)
        if known is not None:
            if known.credential != credential.model_copy(update={"name": known.credential.name}):
                log.warning(
                    "traps: credential sets %r and %r use SNMPv3 user %r with different keys; "
                    "traps are authenticated with %r's",
                    known.credential.name,
                    credential.name,
                    credential.user,
                    known.credential.name,
                )
            return
        auth = AUTH_PROTOCOLS[credential.auth_protocol] if credential.auth_protocol else None
        priv = PRIV_PROTOCOLS[credential.priv_protocol] if credential.priv_protocol else None
        auth = auth or engine_config.USM_AUTH_NONE
        priv = priv or engine_config.USM_PRIV_NONE
        auth_master = priv_master = None
        if credential.auth_password is not None:
            auth_master = engine_config.AUTH_SERVICES[auth].hash_passphrase(
                credential.auth_password.reveal().encode()
            )
        if credential.priv_password is not None:
            priv_master = engine_config.PRIV_SERVICES[priv].hash_passphrase(
                auth, credential.priv_password.reveal().encode()
            )
        user = _User(credential, auth, priv, auth_master, priv_master)
        self._users[name] = user
        self._add_row(user, None)  # informs: this receiver is the authoritative engine
        if auth_master is None:
            self._add_row(user, WILDCARD_ENGINE_ID)  # noAuthNoPriv traps from any engine

    def _add_row(self, user: _User, engine_id: bytes | None) -> None:
        engine_config.add_v3_user(
            self._engine,
            user.credential.user,
            user.auth,
            user.auth_master,
            user.priv,
            user.priv_master,
            securityEngineId=engine_id,
            authKeyType=engine_config.USM_KEY_TYPE_MASTER,
            privKeyType=engine_config.USM_KEY_TYPE_MASTER,
        )

    def admit(self, datagram: bytes) -> tuple[Refusal | None, bytes | None]:
        """Prepare pysnmp for one datagram: (why it is refused, or None; engine ID learned).

        Only SNMPv3 messages of a configured user are looked at; everything else goes on to
        pysnmp unchanged (which refuses unknown users and communities itself).
        """
        header = v3_header(datagram)
        if header is None or not header.user:
            return None, None  # not v3, or a discovery probe (no user) that pysnmp answers
        user = self._users.get(header.user)
        if user is None:
            return None, None
        if header.level < user.level:
            return Refusal.SECURITY_LEVEL, None
        engine_id = header.engine_id
        if engine_id == self.local_engine_id or user.auth_master is None:
            return None, None  # an inform, or a user without keys (the wildcard row)
        if len(engine_id) not in _ENGINE_ID_SIZES:
            return Refusal.UNKNOWN_ENGINE, None
        key = (engine_id, header.user)
        if key in self._learned:
            self._learned.move_to_end(key)
            return None, None
        if not self._authentic(user, engine_id, header, datagram):
            return Refusal.AUTH_FAILURE, None
        self._add_row(user, engine_id)
        self._learned[key] = None
        if len(self._learned) > self.max_learned:
            (old_engine, old_user), _ = self._learned.popitem(last=False)
            engine_config.delete_v3_user(self._engine, old_user.decode(), old_engine)
        return None, engine_id

    @staticmethod
    def _authentic(user: _User, engine_id: bytes, header: Header, datagram: bytes) -> bool:
        service = engine_config.AUTH_SERVICES[user.auth]
        local_key = service.localize_key(user.auth_master, univ.OctetString(engine_id))
        try:
            service.authenticate_incoming_message(local_key, header.auth_parameters, datagram)
        except (snmp_error.StatusInformation, snmp_error.ProtocolError):
            return False
        return True
