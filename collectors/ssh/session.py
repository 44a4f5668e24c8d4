"""SSH sessions to devices: netmiko in a bounded thread pool, reused, cut off at a deadline.

netmiko is blocking, so every connect and command runs in one of ``workers`` threads, never
on the event loop (DESIGN §4). What this module guarantees:

- **One job per device at a time** (an asyncio lock per device): a netmiko connection is one
  CLI; two jobs on it would interleave their commands.
- **Session reuse**: a device's session stays open between polls while its transport is
  active, so a poll every minute does not log in every minute (logins fill device logs and
  cost seconds on slow CPUs). Sessions idle longer than ``idle_close_s`` are closed, and at
  most ``max_sessions`` are kept (the least recently used goes first); with 0, every job
  logs out when it is done (``netmon backup``, which visits each device once).
- **A hard deadline**: netmiko's own timeouts stack up (connect + banner + auth + every read,
  20 s and more at a prompt that never comes), and closing its socket from another thread
  does not wake it (it polls ``recv_ready()``). At the deadline the channel is detached and the
  SSH client closed, which makes netmiko's next read raise at once; the session is dropped,
  never reused.
- **Host keys are checked**: keys live in one known_hosts file (OpenSSH format). With
  ``accept-new`` (the default, as OpenSSH's ``StrictHostKeyChecking=accept-new``) a device's
  first key is recorded and any later change refused; with ``strict`` only keys already in the
  file are accepted.

Errors come back as :class:`SshError` carrying a `Result` and a message that never holds a
secret.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import paramiko
from netmiko import BaseConnection, ConnectHandler
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoTimeoutException,
    ReadException,
    ReadTimeout,
    WriteException,
)

from agent.results import Result
from collectors.ssh.config import KeyLogin, SshConfig
from collectors.ssh.platforms import Platform

log = logging.getLogger(__name__)

HostKeyPolicy = Literal["accept-new", "strict"]
T = TypeVar("T")

#: How long a cut-off worker may take to notice (it raises within milliseconds in practice).
_CUT_OFF_GRACE_S = 5.0


class SshError(Exception):
    """A job on a device failed; ``result`` classifies it, the message says why in words."""

    def __init__(self, result: Result, message: str) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Device:
    """Where and how to log in: one inventory host's SSH settings."""

    host: str  # inventory host name
    address: str
    config: SshConfig

    @property
    def platform(self) -> Platform:
        return self.config.platform


class _AcceptNew(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """Record a device's first host key: in the shared keys and the known_hosts file."""

    def __init__(self, path: Path, keys: paramiko.HostKeys, lock: threading.Lock) -> None:
        self._path = path
        self._keys = keys
        self._lock = lock

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        entry = paramiko.hostkeys.HostKeyEntry([hostname], key)
        with self._lock:
            self._keys.add(hostname, key.get_name(), key)
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="ascii") as known:
                known.write(entry.to_line())
        log.info("%s: host key %s recorded in %s", hostname, key.get_name(), self._path)


def _cut_off(connection: BaseConnection) -> None:
    """Make a netmiko call blocked in another thread fail now (see the module docstring)."""
    channel = getattr(connection, "channel", None)
    if channel is not None:
        # netmiko's SSHChannel raises ReadException/WriteException once remote_conn is gone.
        channel.remote_conn = None
    client = getattr(connection, "remote_conn_pre", None)
    if client is not None:
        client.close()


def _alive(connection: BaseConnection) -> bool:
    # netmiko's is_alive() writes a NUL byte to the CLI; asking the transport is enough.
    channel = getattr(connection, "remote_conn", None)
    transport = getattr(channel, "transport", None)
    if channel is None or transport is None:
        return False
    return bool(transport.is_active() and not channel.closed)


def _timeout(exc: NetmikoTimeoutException) -> SshError:
    # netmiko wraps paramiko's SSHException (a changed host key among them) in its own
    # timeout exception; the original is its context.
    inner = exc.__context__
    if isinstance(inner, paramiko.BadHostKeyException | paramiko.SSHException):
        return classify(inner)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else "timed out"
    if first.startswith("TCP connection to device failed"):
        return SshError(Result.CONNECTION_ERROR, "TCP connection failed (refused or no route)")
    if first.startswith("DNS failure"):
        return SshError(Result.DNS_ERROR, "the address does not resolve")
    return SshError(Result.TIMEOUT, first)


def _ssh_protocol(exc: paramiko.SSHException) -> SshError:
    text = str(exc)
    if "not found in known_hosts" in text:
        return SshError(Result.HOST_KEY_ERROR, "host key unknown and host_keys = strict: refused")
    return SshError(Result.PROTOCOL_ERROR, f"SSH: {text.splitlines()[0] if text else exc}")


def classify(exc: BaseException) -> SshError:
    """An exception from netmiko or paramiko as a result and a short message."""
    if isinstance(exc, SshError):
        return exc
    if isinstance(exc, NetmikoAuthenticationException | paramiko.AuthenticationException):
        return SshError(Result.AUTH_ERROR, "the device refused the credentials")
    if isinstance(exc, paramiko.BadHostKeyException):
        return SshError(
            Result.HOST_KEY_ERROR,
            f"host key changed (got {exc.key.get_name()} {exc.key.fingerprint}): refused; "
            "if the device was replaced, remove its line from the known_hosts file",
        )
    if isinstance(exc, NetmikoTimeoutException):
        return _timeout(exc)
    if isinstance(exc, ReadTimeout):
        return SshError(Result.TIMEOUT, "the device did not show its prompt in time")
    if isinstance(exc, ReadException | WriteException | EOFError):
        return SshError(Result.CONNECTION_ERROR, "the session closed")
    if isinstance(exc, paramiko.SSHException):
        return _ssh_protocol(exc)
    if isinstance(exc, socket.timeout | TimeoutError):
        return SshError(Result.TIMEOUT, "timed out")
    if isinstance(exc, OSError):
        return SshError(Result.CONNECTION_ERROR, exc.strerror or type(exc).__name__)
    log.error("unexpected error in an SSH job", exc_info=exc)
    return SshError(Result.INTERNAL_ERROR, f"internal error: {type(exc).__name__} (see the log)")


@dataclass
class _Session:
    connection: BaseConnection
    last_used: float


@dataclass
class SessionStats:
    """Plain counters the agent exposes on /metrics."""

    logins: int = 0
    reuses: int = 0
    cut_offs: int = 0
    closed_idle: int = 0


class SshSessions:
    """The worker pool and the open sessions; one instance per agent (or CLI run)."""

    def __init__(
        self,
        *,
        workers: int,
        known_hosts: Path,
        host_keys: HostKeyPolicy = "accept-new",
        max_sessions: int = 256,
        idle_close_s: float = 300.0,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ssh")
        self._known_hosts = known_hosts
        self._policy = host_keys
        self._max_sessions = max_sessions
        self._idle_close_s = idle_close_s
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._sessions_lock = threading.Lock()
        self._known_hosts_lock = threading.Lock()
        # Parsed once and shared by every connection: netmiko would parse the whole file at
        # each login (200 devices: 40,000 key parses, ~4 CPU-seconds per round of logins).
        self._host_keys = paramiko.HostKeys()
        if known_hosts.is_file():
            self._host_keys.load(str(known_hosts))
        self._device_locks: dict[str, asyncio.Lock] = {}
        self.stats = SessionStats()

    async def run(
        self, device: Device, job: Callable[[BaseConnection], T], deadline_s: float
    ) -> tuple[T, bool]:
        """Run `job` on the device's session in a worker; (its result, whether reused).

        Raises SshError. The whole call, waiting for a worker included, ends by `deadline_s`.
        """
        loop = asyncio.get_running_loop()
        lock = self._device_locks.setdefault(device.host, asyncio.Lock())
        end = loop.time() + deadline_s
        try:
            async with asyncio.timeout_at(end):
                await lock.acquire()
        except TimeoutError:
            raise SshError(
                Result.TIMEOUT, "an earlier job on the device is still running"
            ) from None
        try:
            holder: list[BaseConnection] = []
            future = loop.run_in_executor(self._pool, self._blocking, device, job, holder)
            try:
                async with asyncio.timeout_at(end):
                    return await asyncio.shield(future)
            except TimeoutError:
                self._abandon(device, holder)
                await self._drain(future)
                raise SshError(
                    Result.TIMEOUT,
                    f"cut off after {deadline_s:g} s (a command never returned to the prompt)",
                ) from None
            except asyncio.CancelledError:
                # The scheduler gave up on the poll: free the worker all the same.
                self._abandon(device, holder)
                raise
        finally:
            lock.release()

    def _abandon(self, device: Device, holder: list[BaseConnection]) -> None:
        self.stats.cut_offs += 1
        with self._sessions_lock:
            self._sessions.pop(device.host, None)
        if holder:
            _cut_off(holder[0])

    @staticmethod
    async def _drain(future: asyncio.Future[Any]) -> None:
        try:
            await asyncio.wait_for(future, _CUT_OFF_GRACE_S)
        except TimeoutError:
            log.error("an SSH worker did not stop after its session was cut off")
        except Exception:  # the cut-off makes the job fail, as intended
            log.debug("a cut-off SSH job ended", exc_info=True)

    def _blocking(
        self, device: Device, job: Callable[[BaseConnection], T], holder: list[BaseConnection]
    ) -> tuple[T, bool]:
        session, reused = self._checkout(device, holder)
        try:
            value = job(session.connection)
        except BaseException as exc:
            # After a failure the CLI may be anywhere (a pager, a half-read answer): never
            # reuse that session.
            self._discard(session.connection)
            raise classify(exc) from None
        session.last_used = time.monotonic()
        if self._max_sessions == 0:  # one-shot use (netmon backup): log out at once
            self._disconnect_all([session])
            return value, reused
        with self._sessions_lock:
            self._sessions[device.host] = session
            self._sessions.move_to_end(device.host)
        return value, reused

    def _checkout(self, device: Device, holder: list[BaseConnection]) -> tuple[_Session, bool]:
        with self._sessions_lock:
            session = self._sessions.pop(device.host, None)
        if session is not None and _alive(session.connection):
            holder.append(session.connection)
            self.stats.reuses += 1
            return session, True
        if session is not None:
            self._discard(session.connection)
        connection = self._connection(device)
        holder.append(connection)
        try:
            # Private, but in all of netmiko 4.x (pinned <5): auto_connect=False splits it off.
            connection._open()
            enable = device.config.credential.enable_secret is not None
            if enable and device.platform == "cisco_ios" and not connection.check_enable_mode():
                connection.enable()
        except BaseException as exc:
            self._discard(connection)
            raise classify(exc) from None
        self.stats.logins += 1
        return _Session(connection, time.monotonic()), False

    def _connection(self, device: Device) -> BaseConnection:
        config = device.config
        credential = config.credential
        login: dict[str, Any] = {"username": credential.username, "allow_agent": False}
        if isinstance(credential, KeyLogin):
            login |= {"use_keys": True, "key_file": str(credential.key_file)}
            if credential.passphrase is not None:
                login["passphrase"] = credential.passphrase.reveal()
        else:
            login |= {"use_keys": False, "password": credential.password.reveal()}
        if credential.enable_secret is not None:
            login["secret"] = credential.enable_secret.reveal()
        connection = ConnectHandler(
            device_type=device.platform,
            host=device.address,
            port=config.port,
            conn_timeout=config.connect_timeout_s,
            auth_timeout=config.connect_timeout_s,
            banner_timeout=config.connect_timeout_s,
            read_timeout_override=config.command_timeout_s,
            system_host_keys=False,
            alt_host_keys=False,  # the shared, parsed keys instead (_client)
            ssh_strict=self._policy == "strict",
            auto_connect=False,
            **login,
        )
        connection._get_ssh_client_instance = self._client  # type: ignore[method-assign]
        if self._policy == "accept-new":
            connection.key_policy = _AcceptNew(
                self._known_hosts, self._host_keys, self._known_hosts_lock
            )
        return connection

    def _client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client._host_keys = self._host_keys  # paramiko reads (and our policy adds) here
        return client

    def _discard(self, connection: BaseConnection) -> None:
        try:
            _cut_off(connection)
        except Exception:
            log.debug("closing a broken SSH session failed", exc_info=True)

    async def close_idle(self) -> int:
        """Close sessions idle too long, and the oldest past ``max_sessions``; how many."""
        now = time.monotonic()
        with self._sessions_lock:
            stale = [
                host
                for index, (host, session) in enumerate(reversed(self._sessions.items()))
                if now - session.last_used > self._idle_close_s or index >= self._max_sessions
            ]
            closing = [self._sessions.pop(host) for host in stale]
        if closing:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, self._disconnect_all, closing)
        self.stats.closed_idle += len(closing)
        return len(closing)

    def _disconnect_all(self, sessions: list[_Session]) -> None:
        for session in sessions:
            try:
                session.connection.disconnect()
            except Exception:
                self._discard(session.connection)

    async def close(self) -> None:
        """Log out of every device and stop the workers."""
        with self._sessions_lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        loop = asyncio.get_running_loop()
        if sessions:
            try:
                await asyncio.wait_for(
                    loop.run_in_executor(self._pool, self._disconnect_all, sessions), 10.0
                )
            except TimeoutError:
                for session in sessions:
                    self._discard(session.connection)
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def open_sessions(self) -> int:
        with self._sessions_lock:
            return len(self._sessions)
