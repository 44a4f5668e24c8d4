"""The agent as a real process (`netmon run`) against the test fleet, for durability tests.

The tests kill it, restart it, stop InfluxDB under it, and read what it says on /metrics and in
its log; everything they wait for is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.lab.process import free_tcp_port
from agent.status import AgentReading, read_metrics
from tests.e2e.labinv import InventoryWriter
from tests.fixtures_snmp import SimulatedDevice

#: Poll interval of the fleet in these tests: short, so that a minute holds many polls.
INTERVAL_S = 2.0


def fleet_inventory(root: Path, devices: list[SimulatedDevice]) -> InventoryWriter:
    inv = InventoryWriter(root)
    inv.all_vars = {
        "netmon_interval": INTERVAL_S,
        "netmon_timeout": 1.9,
        "netmon_snmp_timeout_s": 1.8,
        "netmon_snmp_retries": 0,
        # Polls every 2 s: interfaces only, so that a 146-port Catalyst's poll fits its slot on
        # 2 cores beside snmpsim and InfluxDB (the profiles' depth is tests/golden's business).
        "netmon_snmp_profiles": ["generic"],
    }
    for device in devices:
        inv.host(device.name, device.address, device.port, inv.v2c(device.name, device.community))
    inv.write()
    return inv


@dataclass
class AgentProcess:
    """`python -m agent run` with its own state dir, metrics port and log file."""

    inventory: InventoryWriter
    state_dir: Path
    influx_url: str
    database: str
    extra_env: dict[str, str] = field(default_factory=dict)
    metrics_port: int = field(default_factory=free_tcp_port)
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"agent-{self.runs}.log"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.runs += 1
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.inventory.env,
            "NETMON_STATE_DIR": str(self.state_dir),
            "NETMON_INFLUXDB_URL": self.influx_url,
            "NETMON_INFLUXDB_DATABASE": self.database,
            "NETMON_METRICS_LISTEN": f"127.0.0.1:{self.metrics_port}",
            "NETMON_AGENT_NAME": "durability-test",
            **self.extra_env,
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "-i", str(self.inventory.root)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def metrics(self) -> AgentReading:
        return read_metrics(self.metrics_url, timeout_s=2.0)

    def wait_for(self, what: str, test: Callable[[AgentReading], bool], timeout_s: float) -> None:
        """Scrape /metrics until `test` holds; AssertionError (with the log) at the time-out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the agent exited while waiting for {what}:\n{self.log()}")
            reading = self.metrics()
            if reading.reachable and test(reading):
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; agent log:\n{self.log()}")

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
