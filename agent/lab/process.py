"""What every lab peer (snmpsim, snmpd, influxd) shares: one child process, its log, its ports.

A peer is started by its owner (`netmon lab`, a test fixture, a benchmark) and stopped by it,
as a context manager. Its process runs in a session of its own: a terminal's Ctrl-C reaches
only the owner, which stops the agent first (the writer flushes to influxd) and the peers
after.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Self

Endpoint = tuple[str, int]


class LabProcessError(RuntimeError):
    """A lab peer did not start, or died; the message carries the tail of its log."""


def find_executable(name: str) -> str:
    """`name` beside the running interpreter first (the venv's entry points), then on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise LabProcessError(f"executable {name!r} not found beside {sys.executable} or on PATH")
    return found


def _free_port(address: str, kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
        return port


def free_udp_port(address: str = "127.0.0.1") -> int:
    """A UDP port free on `address` right now (another process may still take it later)."""
    return _free_port(address, socket.SOCK_DGRAM)


def free_tcp_port(address: str = "127.0.0.1") -> int:
    """A TCP port free on `address` right now (another process may still take it later)."""
    return _free_port(address, socket.SOCK_STREAM)


def ensure_free(endpoint: Endpoint, kind: int = socket.SOCK_DGRAM) -> None:
    """Raise LabProcessError if `endpoint` is taken: a lab peer that starts on a port another
    process holds either fails late or, worse, the other process answers in its place."""
    with socket.socket(socket.AF_INET, kind) as probe:
        if kind == socket.SOCK_STREAM:
            # As servers do: connections of a peer that just stopped linger in TIME_WAIT and
            # must not count as "in use"; a listening socket still does. (Not for UDP, where
            # the option would let two processes share the port.)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(endpoint)
        except OSError as exc:
            proto = "UDP" if kind == socket.SOCK_DGRAM else "TCP"
            raise LabProcessError(
                f"{proto} {endpoint[0]}:{endpoint[1]} is already in use ({exc.strerror}); "
                "is another lab or service running? Stop it, or change the lab's ports"
            ) from None


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def open_private(path: Path, *, append: bool = False) -> IO[bytes]:
    """Open `path` for writing with mode 0600 (it may hold secrets); truncate unless `append`."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode is ignored for a file that already exists
    return os.fdopen(fd, "ab" if append else "wb")


def stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; always reaps the child."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LabPeer:
    """One lab process: `launch` spawns it, `wait_ready` waits until it serves, `stop` ends it.

    Subclasses implement `launch` (with `_spawn`) and `wait_ready`; `start` is both. As a
    context manager it is started on entry and closed on exit.
    """

    #: Seconds between SIGTERM and SIGKILL.
    stop_grace_s: float = 5.0
    _process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def launch(self) -> None:
        raise NotImplementedError

    def wait_ready(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def _spawn(
        self, command: Sequence[str], output: Path, cwd: Path, *, append: bool = False
    ) -> None:
        with open_private(output, append=append) as out:
            self._process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,  # see the module's docstring
            )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): it keeps its state but answers nothing, as a device
        behind a cut link does. Requests queue in its socket and are answered late or never."""
        if self.running:
            assert self._process is not None
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.running:
            assert self._process is not None
            os.kill(self._process.pid, signal.SIGCONT)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)  # a paused process cannot act on SIGTERM
            stop_process(process, self.stop_grace_s)

    def close(self) -> None:
        """Stop, and release what else the peer holds (subclasses extend it)."""
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
