"""Configuration backup of 200 simulated SSH devices with 16 workers: wall time and CPU.

1. Starts 200 FakeNOS cisco_ios devices in one simulator process (agent.lab.sshsim) on
   127.0.0.1, each serving the lab's IOS running configuration (243 lines, with the known
   test secrets) rendered for its name, from a file.
2. **Peer: bare netmiko**, 16 threads: per device connect, ``show running-config``,
   disconnect. Nothing stored. This is what any netmiko-based backup pays for the SSH part.
3. **netmon**, 16 workers, the code ``netmon backup`` runs (SshSessions + run_backup): fetch,
   strip secrets and volatile lines, check no known secret survived, commit per device into a
   fresh git repository. Three runs:
   - *first*: 200 new devices, 200 commits;
   - *one change*: one device's configuration gets a line between the runs: 1 commit;
   - *unchanged*: no commit.
4. Figures per run: wall time; CPU-seconds of this process (``getrusage``: netmiko, paramiko,
   stripping, the git children's too via RUSAGE_CHILDREN) and of the simulator process apart
   (``/proc/PID/stat``); per device, the time after the login (the fetch; for netmon also
   stripping and the commit) p50/max; ratios netmon/netmiko for wall and CPU.

Both sides run on the same 2 cores as the simulator, which echoes input one byte at a time
(10 ms per byte), so absolute times are the simulator's as much as ours; the ratio is the
figure that carries over.

Writes bench/results/ssh_backup.json and its section of bench/RESULTS.md.

    .venv/bin/python bench/ssh_backup.py [--devices 200] [--workers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from _report import checkout, machine, write_results  # noqa: E402

from agent.backup.job import BackupOutcome, run_backup  # noqa: E402
from agent.backup.repo import ConfigRepo  # noqa: E402
from agent.lab.procfs import cpu_seconds  # noqa: E402
from agent.lab.sshdevices import running_config  # noqa: E402
from agent.lab.sshsim import SimulatedDevices  # noqa: E402
from agent.results import Result  # noqa: E402
from collectors.ssh.config import SshConfig  # noqa: E402
from collectors.ssh.session import Device, SshError, SshSessions  # noqa: E402
from tests.fixtures_ssh import free_tcp_ports  # noqa: E402

RESULTS_JSON = ROOT / "bench" / "results" / "ssh_backup.json"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
PASSWORD = "Bench-Ssh-Pass-3307"  # noqa: S105 - the bench's own devices, on loopback
COMMAND = "show running-config"


def cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # git
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def figures(
    wall: float, cpu: float, server_cpu: float, times: list[float], **extra: Any
) -> dict[str, Any]:
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "simulator_cpu_s": round(server_cpu, 3),
        "device_p50_s": round(statistics.median(times), 3),
        "device_max_s": round(max(times), 3),
        **extra,
    }


def bare_netmiko(devices: list[dict[str, Any]], workers: int, server: int) -> dict[str, Any]:
    from netmiko import ConnectHandler

    def fetch(device: dict[str, Any]) -> tuple[float, bool]:
        connection = ConnectHandler(
            device_type="cisco_ios",
            host=device["address"],
            port=device["port"],
            username=device["username"],
            password=PASSWORD,
            ssh_strict=False,
            allow_agent=False,
            use_keys=False,
        )
        try:
            started = time.monotonic()
            text = connection.send_command(COMMAND, read_timeout=60)
            elapsed = time.monotonic() - started
        finally:
            connection.disconnect()
        return elapsed, "hostname" in str(text)

    cpu0, server0, wall0 = cpu_now(), cpu_seconds(server), time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(fetch, devices))
    wall = time.monotonic() - wall0
    ok = sum(good for _, good in results)
    return figures(
        wall,
        cpu_now() - cpu0,
        cpu_seconds(server) - server0,
        [t for t, _ in results],
        devices_ok=ok,
    )


def netmon_backup(
    devices: list[Device], workers: int, repo: ConfigRepo, work: Path, server: int
) -> dict[str, Any]:
    async def all_devices() -> list[tuple[float, BackupOutcome]]:
        # As `netmon backup` does: one visit per device, logged out when done.
        sessions = SshSessions(workers=workers, known_hosts=work / "known_hosts", max_sessions=0)

        async def one(device: Device) -> tuple[float, BackupOutcome]:
            def job(connection: Any) -> tuple[float, BackupOutcome]:
                # Timed in the worker after the login, as the peer's fetch is.
                begun = time.monotonic()
                outcome = run_backup(connection, device, repo, "bench")
                return time.monotonic() - begun, outcome

            started = time.monotonic()
            try:
                (elapsed, outcome), _ = await sessions.run(device, job, 120.0)
            except SshError as exc:
                return time.monotonic() - started, BackupOutcome(exc.result, 0.0, error=str(exc))
            return elapsed, outcome

        try:
            return list(await asyncio.gather(*(one(d) for d in devices)))
        finally:
            await sessions.close()

    cpu0, server0, wall0 = cpu_now(), cpu_seconds(server), time.monotonic()
    results = asyncio.run(all_devices())
    wall = time.monotonic() - wall0
    failed = [o.error for _, o in results if o.result is not Result.SUCCESS]
    return figures(
        wall,
        cpu_now() - cpu0,
        cpu_seconds(server) - server0,
        [t for t, _ in results],
        devices_ok=len(results) - len(failed),
        commits=sum(o.commit is not None for _, o in results),
        failures=failed[:5],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netmon-bench-ssh-") as tmp:
        work = Path(tmp)
        ports = free_tcp_ports(args.devices)
        specs = []
        for number, port in enumerate(ports, start=1):
            name = f"rt-{number:03d}"
            config = work / f"{name}.cfg"
            config.write_text(running_config("cisco_ios", name))
            specs.append(
                {
                    "name": name,
                    "platform": "cisco_ios",
                    "address": "127.0.0.1",
                    "port": port,
                    "username": "netmon",
                    "password": PASSWORD,
                    "commands": {COMMAND: {"file": str(config)}},
                }
            )
        credential = {"name": "bench", "username": "netmon", "password": PASSWORD}
        devices = [
            Device(
                s["name"],
                "127.0.0.1",
                SshConfig.model_validate(
                    {"platform": "cisco_ios", "port": s["port"], "credential": credential}
                ),
            )
            for s in specs
        ]
        simulator = SimulatedDevices({"host_key_file": None, "devices": specs}, work_dir=work)
        with simulator:
            assert simulator.pid is not None
            server = simulator.pid
            repo = ConfigRepo(work / "configs")
            repo.init()
            peer = bare_netmiko(specs, args.workers, server)
            first = netmon_backup(devices, args.workers, repo, work, server)
            changed = work / "rt-007.cfg"
            changed.write_text(
                changed.read_text().replace("\nend", "\nntp server 10.0.0.123\nend", 1)
            )
            one_change = netmon_backup(devices, args.workers, repo, work, server)
            unchanged = netmon_backup(devices, args.workers, repo, work, server)
        commits = subprocess.run(
            ["git", "-C", str(work / "configs"), "rev-list", "--count", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    doc = {
        "date": time.strftime("%Y-%m-%d"),
        "time_utc": time.strftime("%H:%M:%S", time.gmtime()),
        "checkout": checkout(),
        "machine": machine(),
        "devices": args.devices,
        "workers": args.workers,
        "result": {
            "netmiko": peer,
            "netmon_first": first,
            "netmon_one_change": one_change,
            "netmon_unchanged": unchanged,
            "repository_commits": int(commits),
            "ratio_wall_first": round(first["wall_s"] / peer["wall_s"], 3),
            "ratio_cpu_first": round(first["cpu_s"] / peer["cpu_s"], 3),
            "ratio_wall_unchanged": round(unchanged["wall_s"] / peer["wall_s"], 3),
            "ratio_cpu_unchanged": round(unchanged["cpu_s"] / peer["cpu_s"], 3),
        },
    }
    RESULTS_JSON.write_text(json.dumps(doc, indent=2) + "\n")
    write_results(RESULTS_MD)
    print(json.dumps(doc["result"], indent=2))


if __name__ == "__main__":
    main()
