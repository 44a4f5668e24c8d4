"""Simulated SSH network devices (FakeNOS) for the SSH/CLI collector's tests and the lab.

``python -m agent.lab.sshsim SPEC.json`` starts every device of the spec in one process, prints
``ready <n>`` on stdout once all of them listen, and serves until SIGTERM or SIGINT. The
spec (JSON)::

    {"host_key_file": null,               # RSA private key (PEM); null: FakeNOS's built-in key
     "devices": [
       {"name": "rt-tdm-01",              # host name; the prompt is "rt-tdm-01>" ("...#" enabled)
        "platform": "cisco_ios",          # cisco_ios, huawei_vrp, juniper_junos,
                                          # mikrotik_routeros or linux
        "address": "127.0.0.1", "port": 21001,
        "username": "netmon", "password": "...",   # password login only (FakeNOS has no keys)
        "enable_password": null,          # optional: `enable` then asks "Password:"
        "commands": {                     # exact command line -> reply, in every prompt mode
          "show ip bgp summary": {"text": "..."},              # served verbatim
          "show running-config": {"file": "/path/cfg"},        # re-read on every execution
          "show ip ospf neighbor": {"hang": true}}}]}          # never answers

Besides its own ``commands``, a device answers its platform's FakeNOS built-ins (e.g.
``show interfaces`` on cisco_ios; `enable` switches to the ``#`` prompt, with no password
unless ``enable_password`` is set). A ``hang`` command blocks only its own session, until the
client closes it or the simulator stops.

mikrotik_routeros: netmiko logs in as ``<username>+ct511w4098h`` and waits for a
``[user@name] >`` prompt; the simulator registers that name and prompt, so the spec and the
client both use the plain username.

Startup is fast (200 devices in about a second): one parsed platform definition is shared by
all devices of a platform, and the host key is parsed once.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.lab.process import LabPeer, LabProcessError, ensure_free, log_tail, open_private

PLATFORMS = ("cisco_ios", "huawei_vrp", "juniper_junos", "mikrotik_routeros", "linux")
MIKROTIK_USERNAME_SUFFIX = "+ct511w4098h"  # netmiko's RouterOS driver appends it
START_TIMEOUT = 30.0

Spec = Mapping[str, Any]


@dataclass(frozen=True)
class CommandReply:
    """One custom command: exactly one of `text`, `file` or `hang`."""

    text: str | None = None
    file: Path | None = None
    hang: bool = False

    def render(self) -> str:
        if self.file is not None:
            return self.file.read_text(errors="replace")
        return self.text or ""


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    platform: str
    address: str
    port: int
    username: str
    password: str
    enable_password: str | None = None
    commands: dict[str, CommandReply] = field(default_factory=dict)


def parse_device(raw: Mapping[str, Any]) -> DeviceSpec:
    """A spec's device entry, checked; ValueError names the device and what is wrong."""
    name = str(raw.get("name", "?"))
    if raw.get("platform") not in PLATFORMS:
        raise ValueError(f"device {name}: platform must be one of {PLATFORMS}")
    commands: dict[str, CommandReply] = {}
    for line, reply in (raw.get("commands") or {}).items():
        kinds = [k for k in ("text", "file", "hang") if reply.get(k) not in (None, False)]
        if len(kinds) != 1:
            raise ValueError(f"device {name}, command {line!r}: give one of text, file, hang")
        commands[line] = CommandReply(
            text=reply.get("text"),
            file=Path(reply["file"]) if reply.get("file") else None,
            hang=bool(reply.get("hang")),
        )
    return DeviceSpec(
        name=name,
        platform=raw["platform"],
        address=str(raw.get("address", "127.0.0.1")),
        port=int(raw["port"]),
        username=str(raw["username"]),
        password=str(raw["password"]),
        enable_password=raw.get("enable_password"),
        commands=commands,
    )


def load_spec(spec: Path | Spec) -> tuple[Path | None, list[DeviceSpec]]:
    """The host key file and the devices of `spec` (a dict, or the path of a JSON file)."""
    data: Spec = json.loads(Path(spec).read_text()) if isinstance(spec, (str, Path)) else spec
    key = data.get("host_key_file")
    devices = [parse_device(d) for d in data["devices"]]
    seen: set[tuple[str, int]] = set()
    for device in devices:
        if (device.address, device.port) in seen:
            raise ValueError(f"{device.name}: {device.address}:{device.port} is taken twice")
        seen.add((device.address, device.port))
    return (Path(key) if key else None), devices


# --- the simulator process ----------------------------------------------------------------


def _answer(shell: Any, line: str) -> bool | None:
    """The spec's answer to `line` in `shell` (True ends the session); None: FakeNOS's own."""
    device: DeviceSpec = shell.device
    if shell.prompt_before_password is not None:
        before, shell.prompt_before_password = shell.prompt_before_password, None
        if line == device.enable_password:
            new_prompt = shell.commands["enable"]["new_prompt"]
            shell.prompt = new_prompt.format(base_prompt=shell.base_prompt)
        else:
            shell.writeline("% Access denied")
            shell.prompt = before
        return False
    reply = device.commands.get(line)
    if reply is None:
        if line != "enable" or device.enable_password is None:
            return None
        if not shell._check_prompt(shell.commands["enable"].get("prompt")):
            return None
        shell.prompt_before_password, shell.prompt = shell.prompt, "Password: "
        return False
    if reply.hang:
        while not shell.closed.wait(0.2) and shell.is_running.is_set():
            pass
        return True
    try:
        shell.writeline(reply.render())
    except OSError as exc:
        shell.writeline(f"% simulator: cannot read {reply.file}: {exc.strerror}")
    return False


def _shell_class() -> type:
    from fakenos.plugins.shell.cmd_shell import CMDShell

    class SimulatorShell(CMDShell):  # type: ignore[misc]  # fakenos has no type hints
        """FakeNOS's shell plus the spec's custom commands and an optional enable password."""

        def __init__(self, *args: Any, device: DeviceSpec, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.device = device
            self.closed = threading.Event()
            self.prompt_before_password: str | None = None

        def stop(self) -> None:  # FakeNOS's watchdog: the session died or the server stops
            self.closed.set()
            super().stop()

        def default(self, line: str) -> bool:
            answer = _answer(self, line)
            return bool(super().default(line)) if answer is None else answer

    return SimulatorShell


@contextmanager
def _host_key_parsed_once(key_file: Path | None) -> Iterator[None]:
    """While FakeNOS starts, every server gets one already parsed RSA key (a parse is ~50 ms)."""
    paramiko: Any = importlib.import_module("paramiko")  # untyped
    from fakenos.plugins.servers.ssh_server_paramiko import DEFAULT_SSH_KEY

    if key_file is not None:
        key = paramiko.RSAKey.from_private_key_file(str(key_file))
    else:
        key = paramiko.RSAKey(file_obj=io.StringIO(DEFAULT_SSH_KEY))
    original = paramiko.RSAKey
    paramiko.RSAKey = lambda *args, **kwargs: key
    try:
        yield
    finally:
        paramiko.RSAKey = original


def _fakenos_host(device: DeviceSpec) -> dict[str, Any]:
    username, base_prompt = device.username, device.name
    if device.platform == "mikrotik_routeros":
        username += MIKROTIK_USERNAME_SUFFIX
        base_prompt = f"[{device.username}@{device.name}] "
    elif device.platform == "juniper_junos":
        base_prompt = f"{device.username}@{device.name}"
    return {
        "port": device.port,
        "platform": device.platform,
        "username": username,
        "password": device.password,
        "server": {"plugin": "ParamikoSshServer", "configuration": {"address": device.address}},
        "shell": {"plugin": "CMDShell", "configuration": {"base_prompt": base_prompt}},
    }


def _end_prompts_with_space(nos: Any) -> None:
    # As Junos does ("netmon@rt-01> "): netmiko's Junos driver looks for "> " or "# " to tell
    # the configuration mode and, without the space, waits 10 s at every disconnect.
    def spaced(prompt: Any) -> Any:
        if isinstance(prompt, list):
            return [spaced(each) for each in prompt]
        return prompt + " " if isinstance(prompt, str) and prompt.endswith((">", "#")) else prompt

    nos.initial_prompt = spaced(nos.initial_prompt)
    for command in nos.commands.values():
        for key in ("prompt", "new_prompt"):
            if key in command:
                command[key] = spaced(command[key])


class _CrLfIsOneEnter:
    """A session's input as FakeNOS's reader sees it, with the LF of a CR LF pair dropped.

    netmiko's RouterOS driver ends each command with CR LF; FakeNOS would take the LF for a
    second, empty command: it echoes a line break into the middle of the answer and prints
    one more prompt, and netmiko's output then holds a blank line or the prompt.
    """

    def __init__(self, channel_file: Any) -> None:
        self._channel_file = channel_file
        self._after_cr = False

    def read(self, size: int) -> bytes:
        byte: bytes = self._channel_file.read(size)
        if byte == b"\n" and self._after_cr:
            byte = self._channel_file.read(size)
        self._after_cr = byte == b"\r"
        return byte

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel_file, name)


def _read_cr_lf_as_one_enter() -> None:
    # For the life of this process (it only serves devices): FakeNOS looks the reader up by
    # its module-level name for each new session.
    from fakenos.plugins.servers import ssh_server_paramiko as server

    reader = server.channel_to_shell_tap
    server.channel_to_shell_tap = lambda channel_file, *args: reader(
        _CrLfIsOneEnter(channel_file), *args
    )


def _quiet_logs() -> None:
    # FakeNOS and paramiko log every client disconnect; a failed login leaves a thread traceback.
    for name in ("fakenos", "paramiko"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    default_hook = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if not issubclass(args.exc_type, (AttributeError, EOFError, OSError)):
            default_hook(args)

    threading.excepthook = hook


def _stop_hosts(hosts: list[Any], budget: float = 5.0) -> None:
    # Host.stop waits for its listener (1 s accept timeout): one by one, 200 hosts take minutes.
    pool = ThreadPoolExecutor(max_workers=max(1, min(len(hosts), 256)))
    futures = [pool.submit(host.stop) for host in hosts]
    deadline = time.monotonic() + budget
    for future in futures:
        future.exception(timeout=max(0.0, deadline - time.monotonic()))
    pool.shutdown(wait=False, cancel_futures=True)


def serve(spec_path: Path) -> None:
    """Run the devices of `spec_path` until SIGTERM/SIGINT; exits the process."""
    _quiet_logs()
    _read_cr_lf_as_one_enter()
    from fakenos import FakeNOS
    from fakenos.core.nos import Nos
    from fakenos.plugins.nos import nos_plugins

    key_file, devices = load_spec(spec_path)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    class _PerAddressPorts(FakeNOS):  # type: ignore[misc]
        # FakeNOS books ports without their address; the lab gives every device its own
        # loopback address and the same port (load_spec refuses an address:port taken twice).
        def _allocate_port_single(self, port: int) -> None:
            self.allocated_ports.add(port)

    network = _PerAddressPorts(inventory={"hosts": {d.name: _fakenos_host(d) for d in devices}})
    network.shell_plugins["CMDShell"] = _shell_class()
    for platform in {d.platform for d in devices}:
        nos = Nos(filename=nos_plugins[platform])  # parsed once, shared by the platform's hosts
        if platform == "juniper_junos":
            _end_prompts_with_space(nos)
        network.nos_plugins[platform] = nos
    for device in devices:
        network.hosts[device.name].shell_inventory["configuration"]["device"] = device
    status = 0
    try:
        with _host_key_parsed_once(key_file):
            for host in network.hosts.values():
                if not stopping.is_set():
                    host.start()
        print(f"ready {len(devices)}", flush=True)
        while not stopping.wait(1.0):
            pass
    except Exception as exc:  # a taken port, a bad key: report, stop what runs, exit 1
        print(f"sshsim: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        _stop_hosts([h for h in network.hosts.values() if h.running])
        sys.stdout.flush()
        os._exit(status)  # a session thread still draining must not hold the process


# --- the owner's side ---------------------------------------------------------------------


class SimulatedDevices(LabPeer):
    """The simulator as a lab peer (agent.lab.process): ``start(spec)``, ``stop()``, or ``with``.

    `spec` is a dict or a JSON file (see the module's docstring). With a dict, the spec is
    written under `work_dir` (default: a temporary directory, removed by ``stop``), where
    the process's log ``sshsim.log`` also lives. As a lab peer it can be paused and resumed
    (an ``unreachable`` fault).
    """

    def __init__(
        self,
        spec: Path | Spec | None = None,
        *,
        work_dir: Path | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.spec = spec
        self.work_dir = work_dir
        self.start_timeout = start_timeout
        self._temporary: tempfile.TemporaryDirectory[str] | None = None

    @property
    def log_path(self) -> Path:
        return self._dir() / "sshsim.log"

    def _dir(self) -> Path:
        if self.work_dir is None and self._temporary is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="netmon-sshsim-")
        return self.work_dir or Path(self._temporary.name)  # type: ignore[union-attr]

    def start(self, spec: Path | Spec | None = None) -> None:
        """Launch the simulator and return once every device listens (LabProcessError if not)."""
        if spec is not None:
            self.spec = spec
        if self.running:
            raise LabProcessError("the SSH simulator is already running")
        super().start()

    def launch(self) -> None:
        spec = self.spec
        if spec is None:
            raise ValueError("no spec: give one to SimulatedDevices() or to start()")
        work_dir = self._dir()
        work_dir.mkdir(parents=True, exist_ok=True)
        for device in load_spec(spec)[1]:  # a bad spec or a taken port fails here, and clearly
            # (FakeNOS binds with SO_REUSEPORT: a second simulator on a port would not fail)
            ensure_free((device.address, device.port), socket.SOCK_STREAM)
        if isinstance(spec, (str, Path)):
            spec_path = Path(spec)
        else:
            spec_path = work_dir / "sshsim.json"
            with open_private(spec_path) as out:  # it holds the devices' passwords
                out.write(json.dumps(spec, indent=1).encode())
        self._spawn(
            [sys.executable, "-m", "agent.lab.sshsim", str(spec_path)], self.log_path, work_dir
        )

    def wait_ready(self) -> None:
        started = time.monotonic()
        while "\nready " not in "\n" + self.log_path.read_text(errors="replace"):
            status = self._process.poll() if self._process is not None else -1
            waited = time.monotonic() - started
            if status is not None or waited > self.start_timeout:
                why = f"exited with status {status}" if status is not None else "is not ready"
                message = f"SSH simulator {why} after {waited:.1f} s; {self.log_path}:\n"
                message += log_tail(self.log_path)
                self.stop()
                raise LabProcessError(message)
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, SIGKILL after `stop_grace_s`; removes the temporary directory."""
        super().stop()
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m agent.lab.sshsim SPEC.json")
    serve(Path(sys.argv[1]))
