"""The one place that talks to pysnmp: a shared asyncio engine, GET and column walks.

All OIDs are numeric tuples and nothing is looked up in MIBs, neither in requests nor in
answers, which keeps start-up instant and polling cheaper.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.entity import config as engine_config
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
)
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import errind
from pysnmp.proto.rfc1902 import Null, ObjectName

from agent.results import Result
from collectors.snmp.config import CommunityCredential, UsmCredential
from collectors.snmp.profiles import Oid
from collectors.snmp.values import is_missing

#: The credential sets' protocol names (collectors.snmp.config) as pysnmp's protocol OIDs;
#: the trap receiver uses them too.
AUTH_PROTOCOLS = {
    "md5": engine_config.USM_AUTH_HMAC96_MD5,
    "sha": engine_config.USM_AUTH_HMAC96_SHA,
    "sha224": engine_config.USM_AUTH_HMAC128_SHA224,
    "sha256": engine_config.USM_AUTH_HMAC192_SHA256,
    "sha384": engine_config.USM_AUTH_HMAC256_SHA384,
    "sha512": engine_config.USM_AUTH_HMAC384_SHA512,
}
PRIV_PROTOCOLS = {
    "des": engine_config.USM_PRIV_CBC56_DES,
    "aes128": engine_config.USM_PRIV_CFB128_AES,
    "aes192": engine_config.USM_PRIV_CFB192_AES,
    "aes256": engine_config.USM_PRIV_CFB256_AES,
}
_AUTH_ERRORS = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.UnknownSecurityName,
    errind.NotInTimeWindow,
)


_NULL = Null("")


class SnmpRequestError(Exception):
    """A request failed; `result` classifies it, `str()` is safe to log (no secrets)."""

    def __init__(
        self,
        result: Result,
        message: str,
        *,
        too_big: bool = False,
        no_such_name: int = 0,
    ) -> None:
        self.result = result
        self.too_big = too_big  # the answer would not fit: ask for fewer rows
        #: SNMPv1 noSuchName: the 1-based position of the OID the agent does not have.
        self.no_such_name = no_such_name
        super().__init__(message)


@dataclass
class Tally:
    """What one poll cost: requests sent and values received (the bench's values/request)."""

    requests: int = 0
    values: int = 0


@dataclass
class Pacing:
    """Rows per column that one GETBULK asks a device for, learned per device.

    Halved when the device answers tooBig or stops answering mid-walk (a big answer lost on
    the way is a timeout too), and remembered: the next polls start from the learned value.

    `answer_size` is how many values the device puts in one answer when it cuts a GETBULK
    short (RFC 3416 §4.2.3: agents fill a message and stop; snmpsim stops at about 56 values,
    IOS at its packet size). Asking for more makes the device compute rows it then discards,
    so a request asks for about that many values, spread over the columns still walked.
    """

    max_repetitions: int
    reductions: int = 0
    answer_size: int | None = None

    def repetitions(self, columns: int) -> int:
        """Rows per column for a GETBULK carrying `columns` columns."""
        if self.answer_size is None:
            return self.max_repetitions
        return max(1, min(self.max_repetitions, -(-self.answer_size // columns)))

    def learn_answer_size(self, asked: int, got: int) -> None:
        if 0 < got < asked and (self.answer_size is None or got < self.answer_size):
            self.answer_size = got

    def reduce(self) -> bool:
        if self.max_repetitions <= 1:
            return False
        self.max_repetitions //= 2
        self.reductions += 1
        return True


@dataclass(frozen=True)
class Endpoint:
    """What a request needs: where, and with which credentials (pysnmp objects)."""

    transport: Any
    auth: Any
    version: str
    context: Any
    #: How long a request may take, retries included, before the session gives up on it even
    #: if pysnmp never calls back (it drops a request whose answer it cannot convert).
    deadline_s: float = 10.0


def _classify(error_indication: Any) -> SnmpRequestError:
    if isinstance(error_indication, errind.RequestTimedOut):
        return SnmpRequestError(Result.TIMEOUT, "no response before timeout")
    if isinstance(error_indication, _AUTH_ERRORS):
        return SnmpRequestError(Result.AUTH_ERROR, f"SNMPv3 security: {error_indication}")
    if isinstance(error_indication, errind.TooBig):
        return SnmpRequestError(Result.PROTOCOL_ERROR, "response too big", too_big=True)
    return SnmpRequestError(Result.BAD_RESPONSE, str(error_indication))


def _advance(
    rows: dict[Oid, dict[Oid, Any]],
    cursor: dict[Oid, Oid],
    active: list[Oid],
    var_binds: Sequence[tuple[Any, Any]],
    tally: Tally | None,
) -> int:
    """Take one GETBULK/GETNEXT answer into `rows`; ends finished columns; returns bad OIDs."""
    done = set()
    bad = 0
    for position, (name, value) in enumerate(var_binds):
        column = active[position % len(active)]
        if column in done:
            continue
        oid = tuple(name)
        if is_missing(value) or oid[: len(column)] != column:
            done.add(column)
            continue
        if oid <= cursor[column]:
            bad += 1
            done.add(column)
            continue
        rows[column][oid[len(column) :]] = value
        cursor[column] = oid
        if tally is not None:
            tally.values += 1
    for column in done:
        cursor.pop(column, None)
    return bad


class SnmpSession:
    """One pysnmp engine shared by every device this agent polls."""

    def __init__(self, receive_buffer_bytes: int) -> None:
        self.engine = SnmpEngine()
        self._receive_buffer_bytes = receive_buffer_bytes
        self._socket_tuned = False
        self._lcd = CommandGeneratorLcdConfigurator()
        self._endpoints: dict[tuple[object, ...], Endpoint] = {}

    def auth_data(self, credential: CommunityCredential | UsmCredential) -> Any:
        if isinstance(credential, CommunityCredential):
            return CommunityData(
                credential.community.reveal(), mpModel=0 if credential.version == "1" else 1
            )
        return UsmUserData(
            credential.user,
            authKey=credential.auth_password.reveal() if credential.auth_password else None,
            privKey=credential.priv_password.reveal() if credential.priv_password else None,
            authProtocol=AUTH_PROTOCOLS[credential.auth_protocol]
            if credential.auth_protocol
            else engine_config.USM_AUTH_NONE,
            privProtocol=PRIV_PROTOCOLS[credential.priv_protocol]
            if credential.priv_protocol
            else engine_config.USM_PRIV_NONE,
        )

    async def endpoint(
        self,
        address: str,
        port: int,
        credential: CommunityCredential | UsmCredential,
        timeout_s: float,
        retries: int,
    ) -> Endpoint:
        """The pysnmp objects for one device, built once and reused by every later poll
        (building them resolves the address and derives the v3 keys)."""
        key = (address, port, credential, timeout_s, retries)
        known = self._endpoints.get(key)
        if known is not None:
            return known
        try:
            transport = await UdpTransportTarget.create(
                (address, port), timeout=timeout_s, retries=retries
            )
        except Exception as exc:  # pysnmp wraps resolver errors in its own types
            raise SnmpRequestError(Result.CONNECTION_ERROR, f"cannot resolve {address}") from exc
        context = ContextData(
            contextName=credential.context if isinstance(credential, UsmCredential) else ""
        )
        endpoint = Endpoint(
            transport,
            self.auth_data(credential),
            credential.version,
            context,
            # pysnmp's own timer is coarse: each try may end up to about 0.5 s late.
            deadline_s=(timeout_s + 0.5) * (retries + 1) + 0.5,
        )
        self._endpoints[key] = endpoint
        return endpoint

    def _tune_socket(self) -> None:
        # With many devices in flight, answers arrive in bursts on the one shared socket;
        # the default receive buffer overflows and the kernel drops answers (DESIGN §9).
        if self._socket_tuned:
            return
        transport = engine_config.get_transport(self.engine, engine_config.SNMP_UDP_DOMAIN)
        sock = getattr(getattr(transport, "transport", None), "get_extra_info", lambda _: None)(
            "socket"
        )
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer_bytes)
            self._socket_tuned = True

    async def _send(
        self,
        endpoint: Endpoint,
        generator: Any,
        oids: Sequence[Oid],
        max_repetitions: int | None = None,
        tally: Tally | None = None,
    ) -> Sequence[tuple[Any, Any]]:
        """Send one request through pysnmp's command generators, bypassing the hlapi.

        The hlapi resolves every request OID against a MIB view (about a third of the CPU of
        a poll); numeric OIDs need none of it.
        """
        addr_name, _ = self._lcd.configure(
            self.engine, endpoint.auth, endpoint.transport, endpoint.context.contextName
        )
        future: asyncio.Future[tuple[Any, Any, Any, Any]] = (
            asyncio.get_running_loop().create_future()
        )

        def done(
            engine: Any,
            handle: Any,
            error: Any,
            status: Any,
            index: Any,
            var_binds: Any,
            context: Any,
        ) -> None:
            if not future.done():
                future.set_result((error, status, index, var_binds))

        var_binds = [(ObjectName(oid), _NULL) for oid in oids]
        context = (endpoint.context.contextEngineId, endpoint.context.contextName)
        if max_repetitions is None:
            generator.send_varbinds(self.engine, addr_name, *context, var_binds, done)
        else:
            generator.send_varbinds(
                self.engine, addr_name, *context, 0, max_repetitions, var_binds, done
            )
        if tally is not None:
            tally.requests += 1
        try:
            error, status, index, answer = await asyncio.wait_for(future, endpoint.deadline_s)
        except TimeoutError:
            raise SnmpRequestError(
                Result.TIMEOUT, "no usable response before timeout (the answer was dropped)"
            ) from None
        self._tune_socket()
        if error:
            raise _classify(error)
        if status:
            status_text = str(status)
            position = int(index) if status_text == "noSuchName" and index else 0
            raise SnmpRequestError(
                Result.PROTOCOL_ERROR,
                f"device answered {status_text}",
                too_big=status_text == "tooBig",
                no_such_name=position if 0 < position <= len(oids) else 0,
            )
        return list(answer)

    async def get(
        self, endpoint: Endpoint, oids: Sequence[Oid], tally: Tally | None = None
    ) -> dict[Oid, Any]:
        """GET `oids`; absent objects are left out of the answer.

        An SNMPv1 agent refuses a whole GET for one object it lacks (noSuchName, with its
        position): that object is dropped and the rest asked again.
        """
        wanted = list(oids)
        while wanted:
            try:
                answer = await self._send(
                    endpoint, cmdgen.GetCommandGenerator(), wanted, tally=tally
                )
            except SnmpRequestError as exc:
                if endpoint.version != "1" or not exc.no_such_name:
                    raise
                del wanted[exc.no_such_name - 1]
                continue
            found = {tuple(name): value for name, value in answer if not is_missing(value)}
            if tally is not None:
                tally.values += len(found)
            return found
        return {}

    async def walk(
        self,
        endpoint: Endpoint,
        columns: Sequence[Oid],
        pacing: Pacing,
        tally: Tally | None = None,
    ) -> tuple[dict[Oid, dict[Oid, Any]], int]:
        """Walk table columns together; returns {column: {index: value}} and bad OIDs seen.

        One GETBULK carries every column still in progress (GETNEXT for SNMPv1); a column
        ends when the agent answers past its subtree. An agent that answers a non-increasing
        OID ends that column instead of looping forever (counted as a bad answer).
        `pacing` is halved on tooBig, and once per walk on a timeout, and keeps what it learnt.
        """
        rows: dict[Oid, dict[Oid, Any]] = {column: {} for column in columns}
        cursor: dict[Oid, Oid] = {column: column for column in columns}
        bad = 0
        timed_out = False
        while cursor:
            active = list(cursor)
            repetitions = pacing.repetitions(len(active))
            try:
                var_binds = await self._next_rows(
                    endpoint, [cursor[c] for c in active], repetitions, tally
                )
            except SnmpRequestError as exc:
                if exc.too_big and pacing.reduce():
                    continue  # the agent cannot fit that many rows: ask for fewer
                if exc.result is Result.TIMEOUT and not timed_out and pacing.reduce():
                    timed_out = True  # a big answer may have been lost: once, smaller
                    continue
                if endpoint.version == "1" and exc.no_such_name:
                    # SNMPv1 says "end of the MIB" for one column by refusing the request.
                    cursor.pop(active[exc.no_such_name - 1])
                    continue
                raise
            if not var_binds:
                break
            bad += _advance(rows, cursor, active, var_binds, tally)
            if endpoint.version != "1" and all(column in cursor for column in active):
                # No column ended, yet fewer values came than asked: the device cut it short.
                pacing.learn_answer_size(len(active) * repetitions, len(var_binds))
        return rows, bad

    async def _next_rows(
        self, endpoint: Endpoint, start: list[Oid], max_repetitions: int, tally: Tally | None
    ) -> Sequence[tuple[Any, Any]]:
        if endpoint.version == "1":  # SNMPv1 has no GETBULK
            return await self._send(endpoint, cmdgen.NextCommandGenerator(), start, tally=tally)
        return await self._send(
            endpoint, cmdgen.BulkCommandGenerator(), start, max_repetitions, tally
        )

    def close(self) -> None:
        dispatcher = self.engine.transport_dispatcher
        if dispatcher is not None:
            dispatcher.close_dispatcher()
