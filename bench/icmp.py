"""1,000 ICMP targets at 20 requests a minute each: the agent's CPU beside fping's, in one run.

The issue's goal: one agent process pinging 1,000 targets, 20 echo requests per target per
minute (one every 3 s), in under 10 % of one core. Two pingers run at the same time on the
same targets (distinct loopback addresses from 127.20.0.1; the kernel answers every one):

1. the agent, in a child process (bench/_agent_pinger.py): its ``ping`` collector driven by
   the real ``Scheduler``, each target on a 60 s interval with ``count`` 20, the polls handed
   to a counting sink;
2. fping (bench/_fping.py): ``fping -C N -p 3000 -i 2 -t 2000 -q -s <targets>``, the same
   requests per target and second, the same timeout and size.

The agent starts each target's stream at its first poll, and the scheduler spreads first
polls over the interval: its rate ramps up during the first interval. The figure that answers
the issue is therefore taken over the **steady window**, from the moment every target has
been polled once to the end of the run (one interval with the default ``--duration 120``);
the whole run is reported too. CPU = utime + stime of each process from /proc over the same
wall window, as a percentage of one core. The run stops by itself after ``--duration``
seconds; every process it starts is stopped on the way out.

    bench/icmp [--duration 120]     # or: .venv/bin/python bench/icmp.py [--duration 120]

Writes bench/results/icmp.json and the ICMP section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import _fping
from _agent_pinger import loopback_addresses
from _icmp_report import Reading, RunFigures, document
from _report import checkout, machine, write_results

import agent
from agent.lab.process import stop_process
from agent.lab.procfs import peak_rss_mib

ROOT = Path(__file__).resolve().parent.parent
#: The agent child's imports and socket must be ready by then.
STARTUP_S = 60.0
#: After the run: the child's last report and fping's summary must come by then.
SHUTDOWN_S = 30.0
#: The issue's goal, in percent of one core.
GOAL_CPU_PCT = 10.0


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Load:
    targets: int
    interval_s: float
    count: int  # requests per target per interval
    packet_timeout_s: float
    size: int  # ICMP data bytes (the ping collector's default, and fping's)
    duration_s: float
    icmp_mode: str

    @property
    def spacing_s(self) -> float:
        return self.interval_s / self.count

    @property
    def requests_per_s(self) -> float:
        return self.targets / self.spacing_s

    @property
    def fping_count(self) -> int:
        # Enough never to finish before the run ends; it is stopped (SIGINT) at the end.
        return math.ceil(self.duration_s / self.spacing_s) + 2

    def as_dict(self) -> dict[str, Any]:
        return {
            "targets": self.targets,
            "interval_s": self.interval_s,
            "count": self.count,
            "spacing_s": self.spacing_s,
            "requests_per_s": round(self.requests_per_s, 1),
            "packet_timeout_s": self.packet_timeout_s,
            "size_bytes": self.size,
            "duration_s": self.duration_s,
            "agent_icmp_mode": self.icmp_mode,
        }


class AgentPinger:
    """The child process (bench/_agent_pinger.py) and the events it prints."""

    def __init__(self, load: Load, log: IO[bytes]) -> None:
        command = [
            sys.executable,
            str(Path(__file__).with_name("_agent_pinger.py")),
            f"--targets={load.targets}",
            f"--interval={load.interval_s}",
            f"--count={load.count}",
            f"--packet-timeout={load.packet_timeout_s}",
            f"--icmp-mode={load.icmp_mode}",
            f"--deadline={load.duration_s + STARTUP_S + SHUTDOWN_S}",
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it in finally
        )
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self._events.put(json.loads(line))
            except ValueError:
                continue  # not one of our events
        self._events.put(None)  # end of output: the child is gone

    def next_event(self, timeout_s: float) -> dict[str, Any] | None:
        """The next event, or None if none came within `timeout_s`; BenchError once it ended."""
        try:
            event = self._events.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return None
        if event is None:
            raise BenchError(f"the agent pinger ended (exit status {self.process.wait()})")
        return event

    def expect(self, name: str, timeout_s: float) -> dict[str, Any]:
        until = time.monotonic() + timeout_s
        while (left := until - time.monotonic()) > 0:
            event = self.next_event(left)
            if event is not None and event["event"] == name:
                return event
        raise BenchError(f"the agent pinger did not report {name!r} within {timeout_s:g} s")


def _wait_until(
    pinger: AgentPinger, fping: subprocess.Popen[bytes], start: Reading, end_at: float
) -> tuple[Reading, dict[str, Any]] | None:
    """Wait until `end_at`. The reading and the event of the moment every target had been
    polled once (the start of the steady window), or None if that never came."""
    ramp: tuple[Reading, dict[str, Any]] | None = None
    while (left := end_at - time.monotonic()) > 0:
        event = pinger.next_event(min(left, 1.0))
        if event is not None and event["event"] == "ramped":
            ramp = (Reading.take(pinger.pid, fping.pid), event)
            print(
                f"bench: every target polled once after {ramp[0].at - start.at:.1f} s; "
                f"steady window until {end_at - start.at:.0f} s",
                flush=True,
            )
        if fping.poll() is not None:
            raise BenchError(f"fping ended early (exit status {fping.returncode})")
    return ramp


def run(load: Load, scratch: Path) -> RunFigures:
    """Both pingers at once; the raw figures of the run."""
    addresses = loopback_addresses(load.targets)
    fping_command = _fping.command(
        addresses, load.spacing_s, load.packet_timeout_s, load.fping_count, load.size
    )
    agent_log = scratch / "agent.log"
    fping_output = scratch / "fping.out"
    with agent_log.open("wb") as log, fping_output.open("wb") as output:
        pinger = AgentPinger(load, log)
        fping: subprocess.Popen[bytes] | None = None
        try:
            started = pinger.expect("started", STARTUP_S)
            fping = subprocess.Popen(
                fping_command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            start = Reading.take(pinger.pid, fping.pid)
            print(
                f"bench: agent ({started['socket']} socket) and fping pinging {load.targets} "
                f"targets for {load.duration_s:g} s",
                flush=True,
            )
            ramp = _wait_until(pinger, fping, start, start.at + load.duration_s)
            end = Reading.take(pinger.pid, fping.pid)
            rss = (peak_rss_mib(pinger.pid), peak_rss_mib(fping.pid))
            fping_socket = _fping.socket_kind(fping.pid)
            fping.send_signal(signal.SIGINT)  # fping prints what it has, then exits
            pinger.process.terminate()
            stopped = pinger.expect("stopped", SHUTDOWN_S)
            fping.wait(SHUTDOWN_S)
        except BaseException:
            log.flush()
            tail = agent_log.read_text(errors="replace").splitlines()[-20:]
            if tail:
                print("bench: the agent pinger's last words:", *tail, sep="\n  ", file=sys.stderr)
            raise
        finally:
            if fping is not None:
                stop_process(fping)
            stop_process(pinger.process)
    warnings = [
        line
        for line in agent_log.read_text(errors="replace").splitlines()
        if line.startswith(("WARNING", "ERROR", "CRITICAL"))
    ]
    return RunFigures(
        first_target=addresses[0],
        last_target=addresses[-1],
        start=start,
        ramp=ramp[0] if ramp else None,
        end=end,
        agent_at_ramp=ramp[1] if ramp else None,
        agent_at_end=stopped,
        fping=_fping.summary(fping_output.read_text(errors="replace")),
        fping_command=fping_command,
        fping_socket=fping_socket,
        agent_peak_rss_mib=rss[0],
        fping_peak_rss_mib=rss[1],
        agent_warnings=warnings,
    )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # As for Ctrl-C: unwind through every finally, which stops what we started.
    raise SystemExit(128 + signum)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds (default 120)")
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds per target")
    parser.add_argument("--count", type=int, default=20, help="echo requests per interval")
    parser.add_argument("--packet-timeout", type=float, default=2.0, help="seconds")
    parser.add_argument("--icmp-mode", choices=("auto", "dgram", "raw"), default="auto")
    parser.add_argument("--output", type=Path, default=Path("bench/results/icmp.json"))
    parser.add_argument("--results", type=Path, default=Path("bench/RESULTS.md"))
    args = parser.parse_args()
    if not 1 <= args.targets <= 60_000:
        parser.error("--targets must be 1..60000")
    if args.duration <= 0 or args.duration > 3600:
        parser.error("--duration must be in (0, 3600] seconds")
    if args.packet_timeout > args.interval / args.count:
        parser.error("--packet-timeout must not exceed interval / count (fping's rule)")
    if args.duration <= args.interval:
        print(
            f"bench: warning: --duration {args.duration:g} s is not longer than the interval "
            f"({args.interval:g} s): there will be no steady window",
            file=sys.stderr,
        )
    return args


def main() -> None:
    args = _arguments()
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if not _fping.available():
        sys.exit("bench: fping not found (apt-get install fping, or bash .ci/bootstrap)")
    load = Load(
        targets=args.targets,
        interval_s=args.interval,
        count=args.count,
        packet_timeout_s=args.packet_timeout,
        size=56,
        duration_s=args.duration,
        icmp_mode=args.icmp_mode,
    )
    host = machine()  # before the run: its load average is what else the machine was doing
    with tempfile.TemporaryDirectory(prefix="netmon-bench-icmp-") as scratch:
        figures = run(load, Path(scratch))
    now = time.gmtime()
    header = {
        "benchmark": "icmp",
        "date": time.strftime("%Y-%m-%d", now),
        "time_utc": time.strftime("%H:%M", now),
        "checkout": checkout(),
        "machine": host,
        "versions": {
            "agent": f"tslcd-netmon {agent.__version__}, Python {sys.version.split()[0]}",
            "fping": _fping.version(),
        },
    }
    doc = document(header, load.as_dict(), figures, GOAL_CPU_PCT)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    write_results(args.results, icmp=doc)
    print(f"bench: wrote {args.output} and {args.results}")
    print(json.dumps(doc["summary"], ensure_ascii=False))


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"bench: {exc}")
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
