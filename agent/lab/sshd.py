"""A real OpenSSH ``sshd`` on loopback: the SSH/CLI collector's ``linux`` device.

One :class:`OpenSshServer` runs ``/usr/sbin/sshd -D -e`` as our child with its own state
directory and nothing from /etc/ssh:

- ``host_ed25519`` (host key) and ``client_ed25519`` (the client's key; its public half is the
  only line of ``authorized_keys``), both fresh from ``ssh-keygen``;
- ``sshd_config``: listens on ``address:port`` only, public-key login only (no password, no
  keyboard-interactive, no PAM), ``StrictModes no``, no pid file, room for 64 concurrent
  unauthenticated connections;
- ``known_hosts``: one line for ``[address]:port`` with the host key, for clients that check it.

Login user: ``root`` (key only, ``PermitRootLogin prohibit-password``) when we run as root, as
CI does. Otherwise sshd cannot change user, so the login is the current user.

OpenSSH needs its privilege-separation user ``sshd`` (Debian's openssh-server package creates it)
and the directory ``/run/sshd``, which :meth:`launch` creates when it can.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from agent.lab.process import LabPeer, LabProcessError, ensure_free, free_tcp_port, log_tail

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 10.0
BANNER = b"SSH-2.0-OpenSSH"


def _keygen(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_suffix(".pub").unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netmon-lab", "-f", str(path)],
        check=True,
        capture_output=True,
    )


class OpenSshServer(LabPeer):
    """``sshd`` on ``address:port`` accepting one client key for :attr:`username`.

    `port` None: a free port now. `state_dir` None: a temporary directory, removed by
    :meth:`close`.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        state_dir: Path | None = None,
        address: str = "127.0.0.1",
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.address = address
        self._port = port if port is not None else free_tcp_port(address)
        self._temporary = (
            tempfile.TemporaryDirectory(prefix="netmon-sshd-") if state_dir is None else None
        )
        self.state_dir = state_dir or Path(self._temporary.name)  # type: ignore[union-attr]
        self.start_timeout = start_timeout
        self.config_path = self.state_dir / "sshd_config"
        self.out_path = self.state_dir / "sshd.log"
        self.host_key_file = self.state_dir / "host_ed25519"
        self.known_hosts_file = self.state_dir / "known_hosts"
        self._client_key_file = self.state_dir / "client_ed25519"

    def __repr__(self) -> str:
        return f"OpenSshServer({self.address}:{self.port}, user {self.username!r})"

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self._port

    @property
    def username(self) -> str:
        """Who logs in: root when we run as root, else the current user."""
        return "root" if os.geteuid() == 0 else getpass.getuser()

    @property
    def client_key_file(self) -> Path:
        """The client's private key (ed25519, no passphrase): netmiko's ``key_file``."""
        return self._client_key_file

    @property
    def host_public_key(self) -> str:
        """The host key as ``ssh-ed25519 AAAA...`` (type and base64, no comment)."""
        key_type, key_data, *_ = self.host_key_file.with_suffix(".pub").read_text().split()
        return f"{key_type} {key_data}"

    @property
    def known_hosts_line(self) -> str:
        """``[127.0.0.1]:PORT ssh-ed25519 AAAA...``: the line a known_hosts file holds."""
        return f"[{self.address}]:{self.port} {self.host_public_key}"

    def config_text(self) -> str:
        return "\n".join(
            [
                f"ListenAddress {self.address}:{self.port}",
                f"HostKey {self.host_key_file}",
                "PidFile none",
                f"AuthorizedKeysFile {self.state_dir / 'authorized_keys'}",
                f"AllowUsers {self.username}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "AuthenticationMethods publickey",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "HostbasedAuthentication no",
                "PermitEmptyPasswords no",
                "UsePAM no",
                "StrictModes no",
                "UseDNS no",
                "PrintMotd no",
                "PrintLastLog no",
                "X11Forwarding no",
                "AllowTcpForwarding no",
                "MaxStartups 64:30:128",  # the collector opens 16 at once, tests more
                "MaxSessions 32",
                "LoginGraceTime 20",
                "LogLevel INFO",
                "",
            ]
        )

    def launch(self) -> None:
        """Create keys and configuration, start sshd without waiting (see :meth:`wait_ready`)."""
        if self.running:
            return
        if not SSHD.exists():
            raise LabProcessError(f"{SSHD} not found: install Debian's openssh-server")
        ensure_free(self.endpoint, socket.SOCK_STREAM)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        _keygen(self.host_key_file)
        _keygen(self._client_key_file)
        authorized = self.state_dir / "authorized_keys"
        authorized.write_text(self._client_key_file.with_suffix(".pub").read_text())
        authorized.chmod(0o600)
        self.known_hosts_file.write_text(self.known_hosts_line + "\n")
        self.config_path.write_text(self.config_text())
        if os.geteuid() == 0:
            PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self._spawn(
            [str(SSHD), "-D", "-e", "-f", str(self.config_path)], self.out_path, self.state_dir
        )

    def wait_ready(self) -> None:
        """Return once sshd accepts and sends its banner; stop it and raise if it does not."""
        if self._process is None:
            raise LabProcessError(f"{self!r} was not launched")
        deadline = time.monotonic() + self.start_timeout
        while not self._banner_arrives():
            if self._process.poll() is not None or time.monotonic() > deadline:
                why = (
                    f"exited with status {self._process.returncode}"
                    if self._process.poll() is not None
                    else f"sent no banner within {self.start_timeout:g} s"
                )
                message = f"{self!r} {why}; {self.out_path}:\n{log_tail(self.out_path)}"
                self.stop()
                raise LabProcessError(message)
            time.sleep(0.05)

    def _banner_arrives(self) -> bool:
        try:
            with socket.create_connection(self.endpoint, timeout=1.0) as connection:
                received = b""
                while b"\n" not in received and len(received) < 256:
                    chunk = connection.recv(256)
                    if not chunk:
                        break
                    received += chunk
                return received.startswith(BANNER)
        except OSError:
            return False

    def close(self) -> None:
        self.stop()
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None
