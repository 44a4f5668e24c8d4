"""net-snmp's ``snmpbulkwalk`` as a poller: two walks per device (ifTable, ifXTable).

At most `limit` walks run at once. Each walk is one process; its CPU and peak RSS come from
``os.wait4`` on that very PID (never ``wait4(-1)``: the lab's responders are our children too).
One thread watches every walk's stdout and a pidfd with `selectors`, so that each walk is
bounded by its own deadline and an interrupted pass kills what is still running.

Credentials go into a private ``snmp.conf`` per credential set (agent.lab.oracle.client_conf,
file mode 0600, named by ``SNMPCONFPATH``), never onto a command line.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import IF_TABLE, IF_X_TABLE, Device, PassFigures, total_cpu_seconds

from agent.lab.oracle import V3Credentials, client_conf
from agent.lab.process import open_private
from agent.lab.procfs import peak_rss_mib
from agent.secret import Secret
from collectors.snmp.config import UsmCredential

TOOL = "snmpbulkwalk"
#: One walk (a whole table of one device) must end by then, whatever its retries.
WALK_DEADLINE_S = 300.0
_AUTH = {"md5": "MD5", "sha": "SHA", "sha224": "SHA-224", "sha256": "SHA-256",
         "sha384": "SHA-384", "sha512": "SHA-512"}  # fmt: skip
_PRIV = {"des": "DES", "aes128": "AES", "aes192": "AES-192", "aes256": "AES-256"}
#: A varbind line of ``-On`` output that carries a value (not endOfMibView, noSuch*).
_VALUE_LINE = re.compile(rb"^\.[0-9.]+ = (?!No more variables|No Such )", re.MULTILINE)


def version() -> str:
    done = subprocess.run(
        [TOOL, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    return (done.stdout + done.stderr).strip().replace("NET-SNMP version: ", "net-snmp ")


def _v3(credential: UsmCredential) -> V3Credentials:
    unused = Secret("unused-by-this-level")  # client_conf writes only what the level needs
    level = credential.security_level
    return V3Credentials(
        user=credential.user,
        auth_password=credential.auth_password or unused,
        priv_password=credential.priv_password or unused,
        auth_protocol=_AUTH[credential.auth_protocol or "md5"],  # type: ignore[arg-type]
        priv_protocol=_PRIV[credential.priv_protocol or "des"],  # type: ignore[arg-type]
        context=credential.context,
        security_level=level,  # type: ignore[arg-type]
    )


def write_client_confs(devices: Sequence[Device], state_dir: Path) -> dict[str, Path]:
    """One SNMPCONFPATH directory per credential set: {credential name: directory}."""
    confs: dict[str, Path] = {}
    for device in devices:
        credential = device.credential
        if credential.name in confs:
            continue
        conf_dir = state_dir / "net-snmp" / credential.name
        (conf_dir / "persist" / "cert_indexes").mkdir(parents=True, exist_ok=True)
        if isinstance(credential, UsmCredential):
            text = client_conf(conf_dir / "persist", None, _v3(credential))
        else:
            text = client_conf(conf_dir / "persist", credential.community, None)
        with open_private(conf_dir / "snmp.conf") as conf:
            conf.write(text.encode())
        confs[credential.name] = conf_dir
    return confs


@dataclass
class _Walk:
    device: Device
    process: subprocess.Popen[bytes]
    pidfd: int
    deadline: float
    output: bytearray = field(default_factory=bytearray)
    peak_rss_mib: float = 0.0
    stdout_done: bool = False
    exited: bool = False

    @property
    def finished(self) -> bool:
        return self.stdout_done and self.exited


@dataclass(frozen=True)
class _WalkResult:
    host: str
    ok: bool
    values: int
    cpu_s: float
    max_rss_mib: float


def _start(device: Device, subtree: str, conf_dir: Path) -> _Walk:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MIBS", "MIBDIRS", "MIBFILES", "SNMP_PERSISTENT_FILE"}
    }
    env["SNMPCONFPATH"] = str(conf_dir)
    env["SNMP_PERSISTENT_DIR"] = str(conf_dir / "persist")
    command = [
        TOOL,
        "-On",
        "-Ox",
        "-Oe",
        "-t",
        f"{device.timeout_s:g}",
        "-r",
        str(device.retries),
        f"-Cr{device.max_repetitions}",
        f"udp:{device.endpoint}",
        subtree,
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # an error line is not a value line: it is not counted
        env=env,
        start_new_session=True,
    )
    return _Walk(device, process, os.pidfd_open(process.pid), time.monotonic() + WALK_DEADLINE_S)


def _on_ready(selector: selectors.BaseSelector, key: selectors.SelectorKey) -> None:
    walk, what = key.data
    if what == "exit":
        selector.unregister(key.fileobj)
        walk.exited = True
        return
    chunk = os.read(key.fd, 65536)
    if chunk:
        walk.output += chunk
        # The walk is alive while it writes: its own VmHWM now. (ru_maxrss from wait4 is
        # useless here: exec() keeps the peak of the address space it replaced, which for a
        # child of this process is this Python's, ~90 MiB.)
        walk.peak_rss_mib = max(walk.peak_rss_mib, peak_rss_mib(walk.process.pid))
    else:
        selector.unregister(key.fileobj)
        walk.stdout_done = True


def _reap(selector: selectors.BaseSelector, walk: _Walk, *, killed: bool) -> _WalkResult:
    assert walk.process.stdout is not None
    for fileobj in (walk.process.stdout, walk.pidfd):
        if _registered(selector, fileobj):
            selector.unregister(fileobj)
    _, status, usage = os.wait4(walk.process.pid, 0)
    walk.process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    walk.process.stdout.close()
    os.close(walk.pidfd)
    ok = not killed and walk.process.returncode == 0
    return _WalkResult(
        host=walk.device.host,
        ok=ok,
        values=len(_VALUE_LINE.findall(walk.output)) if ok else 0,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mib=walk.peak_rss_mib,
    )


def _kill(walk: _Walk) -> None:
    # Not Popen.kill(): it polls first, and a poll would reap the child before wait4 could.
    with contextlib.suppress(ProcessLookupError):
        os.kill(walk.process.pid, signal.SIGKILL)


def _registered(selector: selectors.BaseSelector, fileobj: object) -> bool:
    try:
        selector.get_key(fileobj)  # type: ignore[arg-type]
    except KeyError:
        return False
    return True


def run_walks(
    jobs: Sequence[tuple[Device, str]], limit: int, confs: dict[str, Path]
) -> list[_WalkResult]:
    """Run every (device, subtree) walk, at most `limit` at a time."""
    waiting = deque(jobs)
    running: list[_Walk] = []
    results: list[_WalkResult] = []
    with selectors.DefaultSelector() as selector:
        try:
            while waiting or running:  # bounded: every walk ends by its deadline
                while waiting and len(running) < limit:
                    device, subtree = waiting.popleft()
                    walk = _start(device, subtree, confs[device.credential.name])
                    assert walk.process.stdout is not None
                    selector.register(walk.process.stdout, selectors.EVENT_READ, (walk, "out"))
                    selector.register(walk.pidfd, selectors.EVENT_READ, (walk, "exit"))
                    running.append(walk)
                nearest = min(walk.deadline for walk in running)
                for key, _ in selector.select(max(0.0, nearest - time.monotonic())):
                    _on_ready(selector, key)
                now = time.monotonic()
                for walk in [w for w in running if w.finished or w.deadline < now]:
                    running.remove(walk)
                    if not walk.finished:
                        _kill(walk)
                    results.append(_reap(selector, walk, killed=not walk.finished))
        finally:
            for walk in running:  # interrupted: nothing may outlive the pass
                _kill(walk)
                _reap(selector, walk, killed=True)
    return results


def one_pass(
    devices: Sequence[Device], limit: int, confs: dict[str, Path], responders: Sequence[int]
) -> PassFigures:
    jobs = [(device, subtree) for device in devices for subtree in (IF_TABLE, IF_X_TABLE)]
    responders_before = total_cpu_seconds(responders)
    started = time.perf_counter()
    results = run_walks(jobs, limit, confs)
    wall = time.perf_counter() - started
    responders_cpu = total_cpu_seconds(responders) - responders_before
    values_by_host = dict.fromkeys((device.host for device in devices), 0)
    for result in results:
        values_by_host[result.host] += result.values
    unanswered = {r.host for r in results if not r.ok} | {
        host for host, values in values_by_host.items() if not values
    }
    return PassFigures(
        devices_answered=len(devices) - len(unanswered),
        values=sum(r.values for r in results),
        wall_s=wall,
        cpu_s=sum(r.cpu_s for r in results),
        responders_cpu_s=responders_cpu,
        peak_rss_mib=max((r.max_rss_mib for r in results), default=0.0),
        unanswered=tuple(sorted(unanswered)),
    )


def available() -> bool:
    return shutil.which(TOOL) is not None
