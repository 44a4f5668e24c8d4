"""net-snmp's ``snmpd`` as the lab's data-centre server agent: real v2c and v3 authPriv.

One :class:`NetSnmpAgent` runs ``snmpd`` in the foreground as our child, configured only by a
file it writes under its state directory (``-C``: /etc/snmp is never read):

- listens on one loopback UDP endpoint; v2c read-only community accepted from 127.0.0.1 only;
- one USM user, authPriv required (SHA-256 + AES-128 by default), read-only;
- ``persistentDir`` under the state directory, so /var/lib/snmp is never touched;
- no MIB files loaded (Debian ships none that parse, and snmpd does not need them);
- ``-I -smux``: the SMUX sub-agent protocol would bind TCP port 199, which a second lab (or
  the host's own snmpd) already holds; no AgentX master, no trap sinks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.lab.oracle import NetSnmpAuth, NetSnmpPriv, V3Credentials
from agent.lab.process import (
    LabPeer,
    LabProcessError,
    ensure_free,
    find_executable,
    log_tail,
    open_private,
)
from agent.lab.snmpsim import START_TIMEOUT, wait_until_answering
from agent.secret import Secret

#: net-snmp refuses USM passphrases shorter than this.
MIN_PASSPHRASE = 8


def _secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def _conf_token(what: str, value: str, *, minimum: int = 1) -> str:
    # snmpd.conf splits on white space; a quote or '#' would end the token or start a comment.
    if (
        len(value) < minimum
        or value.startswith("-")  # rocommunity would read it as an option
        or any(char.isspace() or char in "\"'#\\" for char in value)
    ):
        raise ValueError(
            f"{what} must be at least {minimum} characters, must not start with '-', and must "
            "hold no white space, quotes, '#' or backslashes"
        )
    return value


class NetSnmpAgent(LabPeer):
    """``snmpd`` on ``address:port`` with a v2c community and one SNMPv3 authPriv user.

    `state_dir` belongs to this agent: ``snmpd.conf`` (0600, holds the passphrases),
    ``snmpd.log``, ``snmpd.out`` (its stdout/stderr), ``snmpd.pid`` and ``persist/``.
    """

    def __init__(
        self,
        state_dir: Path,
        port: int,
        v2c_community: str | Secret,
        v3_user: str,
        v3_auth_password: str | Secret,
        v3_priv_password: str | Secret,
        auth_protocol: NetSnmpAuth = "SHA-256",
        priv_protocol: NetSnmpPriv = "AES",
        *,
        address: str = "127.0.0.1",
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.state_dir = state_dir
        self.address = address
        self.port = port
        self.community = _secret(v2c_community)
        self.v3 = V3Credentials(
            user=v3_user,
            auth_password=_secret(v3_auth_password),
            priv_password=_secret(v3_priv_password),
            auth_protocol=auth_protocol,
            priv_protocol=priv_protocol,
        )
        self.start_timeout = start_timeout
        self.conf_path = state_dir / "snmpd.conf"
        self.log_path = state_dir / "snmpd.log"
        self.out_path = state_dir / "snmpd.out"
        self.pid_path = state_dir / "snmpd.pid"
        self.persistent_dir = state_dir / "persist"
        self.config_text()  # refuse bad credentials now, before anything starts

    def __repr__(self) -> str:
        return f"NetSnmpAgent({self.address}:{self.port}, v3 user {self.v3.user!r})"

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port

    def config_text(self) -> str:
        """The snmpd.conf this agent runs with (it holds the passphrases: never log it)."""
        community = _conf_token("the v2c community", self.community.reveal())
        user = _conf_token("the v3 user", self.v3.user)
        auth = _conf_token(
            "the auth passphrase", self.v3.auth_password.reveal(), minimum=MIN_PASSPHRASE
        )
        priv = _conf_token(
            "the privacy passphrase", self.v3.priv_password.reveal(), minimum=MIN_PASSPHRASE
        )
        return "\n".join(
            [
                f"[snmp] persistentDir {self.persistent_dir}",
                "[snmp] mibs :",
                f"agentAddress udp:{self.address}:{self.port}",
                "dontLogTCPWrappersConnects yes",
                f"rocommunity {community} 127.0.0.1",
                f'createUser {user} {self.v3.auth_protocol} "{auth}" '
                f'{self.v3.priv_protocol} "{priv}"',
                f"rouser {user} authPriv",
                "",
            ]
        )

    def launch(self) -> None:
        """Write the configuration and start snmpd without waiting (see :meth:`wait_ready`)."""
        if self.running:
            return
        ensure_free((self.address, self.port))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # A user left in the persistent store by an earlier run would clash with createUser.
        shutil.rmtree(self.persistent_dir, ignore_errors=True)
        (self.persistent_dir / "cert_indexes").mkdir(parents=True)
        with open_private(self.conf_path) as conf:
            conf.write(self.config_text().encode())
        open_private(self.log_path).close()
        command = [
            find_executable("snmpd"),
            "-f",  # stay in the foreground: our child, stopped by us
            "-C",  # read no configuration but ours
            "-c",
            str(self.conf_path),
            "-Lf",
            str(self.log_path),
            "-p",
            str(self.pid_path),
            "-I",
            "-smux",
        ]
        self._spawn(command, self.out_path, self.state_dir)

    def wait_ready(self) -> None:
        """Return once snmpd answers a v2c GET; stop it and raise LabProcessError if not."""
        if self._process is None:
            raise LabProcessError(f"{self!r} was not launched")
        try:
            wait_until_answering(
                self._process,
                [self.endpoint],
                self.community.reveal(),
                what="snmpd",
                log_path=self.log_path,
                timeout=self.start_timeout,
            )
        except LabProcessError as exc:
            self.stop()
            # Errors met before logging is set up (a bad option) go to stdout/stderr instead.
            raise LabProcessError(f"{exc}\n{self.out_path}:\n{log_tail(self.out_path)}") from None
        except BaseException:
            self.stop()
            raise
