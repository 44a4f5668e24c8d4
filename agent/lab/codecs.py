"""The lab's videoconference bridge points: their H.323 call-signalling ports.

A bridge point's codec listens for call signalling (H.225.0 over TCP, port 1720 in the field).
The readiness check (``vc``) connects to that port, so the lab needs a listener on every
bridge point's loopback address: one child process serves them all, each on its own address.
While an ``unreachable`` fault covers a bridge point (a dark district), its listener is
closed, so the check sees the connection refused, as it would a codec that is off.

The child speaks no H.323: a connect is what the check asks of it. ICMP to a loopback address
always answers, so in the lab a bridge point's path is always perfect; its faults show in
the signalling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.lab.faults import FaultWindow
from agent.lab.process import LabPeer, LabProcessError, ensure_free, log_tail

START_TIMEOUT_S = 10.0
#: A connection is held this long at most (a real codec would wait for a SETUP message).
HOLD_S = 5.0
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CodecPort:
    name: str  # the bridge point's inventory host name
    address: str
    port: int
    down: tuple[FaultWindow, ...] = ()  # while one is active, the port refuses connections


# --- the child ------------------------------------------------------------------------------


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(reader.read(), HOLD_S)
    writer.close()


async def _serve(ports: Sequence[CodecPort], started_at: float, stop: asyncio.Event) -> None:
    servers: dict[str, asyncio.Server] = {}
    while not stop.is_set():
        elapsed = time.time() - started_at
        for codec in ports:
            down = any(window.active(elapsed) for window in codec.down)
            server = servers.get(codec.name)
            if down and server is not None:
                server.close()
                del servers[codec.name]
            elif not down and server is None:
                servers[codec.name] = await asyncio.start_server(
                    _hold, codec.address, codec.port, reuse_address=True
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    for server in servers.values():
        server.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        print("usage: python -m agent.lab.codecs CONFIG_JSON", file=sys.stderr)
        return 2
    config = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    ports = [
        CodecPort(
            p["name"],
            p["address"],
            int(p["port"]),
            tuple(FaultWindow(*window) for window in p["down"]),
        )
        for p in config["ports"]
    ]

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await _serve(ports, float(config["started_at"]), stop)

    asyncio.run(run())
    return 0


# --- the parent: the lab peer ---------------------------------------------------------------


class LabCodecs(LabPeer):
    """Every bridge point's signalling port, served by one child process."""

    def __init__(self, state_dir: Path, ports: Sequence[CodecPort]) -> None:
        if not ports:
            raise ValueError("no bridge point to serve")
        self.state_dir = state_dir
        self.ports = tuple(ports)
        self.started_at = time.time()
        self.config_path = state_dir / "codecs.json"
        self.out_path = state_dir / "codecs.out"

    def __repr__(self) -> str:
        return f"LabCodecs({len(self.ports)} bridge points)"

    def launch(self) -> None:
        if self.running:
            return
        for codec in self.ports:
            ensure_free((codec.address, codec.port), socket.SOCK_STREAM)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "started_at": self.started_at,
            "ports": [
                {
                    "name": c.name,
                    "address": c.address,
                    "port": c.port,
                    "down": [[w.start_s, w.duration_s, w.every_s] for w in c.down],
                }
                for c in self.ports
            ],
        }
        self.config_path.write_text(json.dumps(config, indent=1) + "\n")
        command = [sys.executable, "-m", "agent.lab.codecs", str(self.config_path)]
        self._spawn(command, self.out_path, _PROJECT_ROOT, append=True)

    def wait_ready(self) -> None:
        """Return once the first bridge point that is not in a fault window accepts."""
        elapsed = time.time() - self.started_at
        probe = next((c for c in self.ports if not any(w.active(elapsed) for w in c.down)), None)
        deadline = time.monotonic() + START_TIMEOUT_S
        while probe is not None:
            if not self.running:
                raise LabProcessError(f"lab codecs exited:\n{log_tail(self.out_path)}")
            try:
                with socket.create_connection((probe.address, probe.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise LabProcessError(
                        f"lab codecs did not listen on {probe.address}:{probe.port} within "
                        f"{START_TIMEOUT_S:g} s:\n{log_tail(self.out_path)}"
                    ) from None
                time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
