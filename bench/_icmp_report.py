"""The ICMP benchmark's results: its JSON document and its section of RESULTS.md."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from _fping import FpingSummary

from agent.lab.procfs import stat_fields

AGENT, FPING = "agent", "fping"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuTimes:
    """A process's CPU seconds so far: /proc/PID/stat utime and stime (its threads included).

    On loopback, system time includes what the kernel does to answer: the echo reply is made
    and delivered to every raw ICMP socket within the sender's ``sendto``.
    """

    user_s: float = 0.0
    system_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.user_s + self.system_s

    @classmethod
    def of(cls, pid: int) -> CpuTimes:
        """`pid`'s times; zero once it is gone."""
        try:
            fields = stat_fields(pid)
            return cls(int(fields[11]) / _CLOCK_TICKS, int(fields[12]) / _CLOCK_TICKS)
        except (OSError, ValueError, IndexError):
            return cls()

    def __sub__(self, earlier: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user_s - earlier.user_s, self.system_s - earlier.system_s)


@dataclass(frozen=True)
class Reading:
    """Both pingers' CPU times at one moment."""

    at: float  # time.monotonic()
    agent: CpuTimes
    fping: CpuTimes

    @classmethod
    def take(cls, agent_pid: int, fping_pid: int) -> Reading:
        return cls(time.monotonic(), CpuTimes.of(agent_pid), CpuTimes.of(fping_pid))


@dataclass(frozen=True)
class RunFigures:
    """What one run measured, as measured: readings, the agent's events, fping's summary."""

    first_target: str
    last_target: str
    start: Reading  # both pingers running (the agent's imports and socket done)
    ramp: Reading | None  # every target polled once; None if the run ended before
    end: Reading  # after --duration
    agent_at_ramp: Mapping[str, Any] | None  # the agent pinger's "ramped" event
    agent_at_end: Mapping[str, Any]  # its "stopped" event
    fping: FpingSummary
    fping_command: Sequence[str]
    fping_socket: str  # "raw" or "dgram", from /proc
    agent_peak_rss_mib: float
    fping_peak_rss_mib: float
    agent_warnings: Sequence[str]


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else math.nan


def _per_1000(cpu_s: float, requests: int) -> float:
    return cpu_s / requests * 1000 if requests else math.nan


def _ratio(top: float, bottom: float) -> float | None:
    if not (math.isfinite(top) and math.isfinite(bottom)) or bottom <= 0:
        return None
    return round(top / bottom, 2)


def _rounded(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


def _cpu(times: CpuTimes, wall_s: float) -> dict[str, float | None]:
    return {
        "cpu_s": _rounded(times.total_s),
        "cpu_pct": _rounded(_pct(times.total_s, wall_s)),
        "user_s": _rounded(times.user_s),
        "system_s": _rounded(times.system_s),
    }


def _whole_run(
    times: CpuTimes, wall_s: float, sent: int, replies: int, lost: int
) -> dict[str, Any]:
    """CPU and packets of the whole run. Lost = no reply within the timeout; requests sent
    less replies less lost were still in flight when the run ended."""
    return {
        **_cpu(times, wall_s),
        "requests_sent": sent,
        "replies": replies,
        "lost": lost,
        "in_flight_at_end": sent - replies - lost,
        "loss_pct": _rounded(_pct(lost, sent)),
        "cpu_s_per_1000_requests": _rounded(_per_1000(times.total_s, sent)),
    }


def document(
    header: Mapping[str, Any], load: Mapping[str, Any], run: RunFigures, goal_cpu_pct: float
) -> dict[str, Any]:
    """The JSON document of a run: settings, both pingers' figures, ratios, the goal."""
    window_start = run.ramp or run.start
    window_s = run.end.at - window_start.at
    run_s = run.end.at - run.start.at
    agent_window, fping_window = (
        run.end.agent - window_start.agent,
        run.end.fping - window_start.fping,
    )
    agent_run, fping_run = run.end.agent - run.start.agent, run.end.fping - run.start.fping
    agent_pct, fping_pct = (
        _pct(agent_window.total_s, window_s),
        _pct(fping_window.total_s, window_s),
    )
    engine = run.agent_at_end["engine"]
    sent_before = run.agent_at_ramp["engine"]["sent"] if run.agent_at_ramp else 0
    agent = {
        "socket": run.agent_at_end["socket"],
        "window": {**_cpu(agent_window, window_s), "requests_sent": engine["sent"] - sent_before},
        "whole_run": _whole_run(
            agent_run, run_s, engine["sent"], engine["replies"], engine["lost"]
        ),
        "engine": dict(engine),
        "polls": dict(run.agent_at_end["polls"]),
        "peak_rss_mib": _rounded(run.agent_peak_rss_mib),
        "warnings": list(run.agent_warnings[:20]),
    }
    fping = {
        "socket": run.fping_socket,
        "command": " ".join(run.fping_command[: -int(load["targets"])])
        + f" <{load['targets']} targets>",
        "window": _cpu(fping_window, window_s),
        "whole_run": _whole_run(
            fping_run, run_s, run.fping.sent, run.fping.replies, run.fping.timeouts
        ),
        "summary": run.fping.as_dict(),
        "peak_rss_mib": _rounded(run.fping_peak_rss_mib),
    }
    ratios = {
        "agent/fping CPU share, window": _ratio(agent_pct, fping_pct),
        "agent/fping CPU per 1,000 requests, whole run": _ratio(
            _per_1000(agent_run.total_s, engine["sent"]),
            _per_1000(fping_run.total_s, run.fping.sent),
        ),
    }
    return {
        **header,
        "load": {**load, "first_target": run.first_target, "last_target": run.last_target},
        "window": {
            "steady": run.ramp is not None,
            "from_s": _rounded(window_start.at - run.start.at),
            "wall_s": _rounded(window_s),
            "whole_run_wall_s": _rounded(run_s),
        },
        "pingers": {AGENT: agent, FPING: fping},
        "ratios": ratios,
        "summary": {
            "agent_socket": agent["socket"],
            "agent_cpu_pct": _rounded(agent_pct),
            "fping_cpu_pct": _rounded(fping_pct),
            "agent/fping": ratios["agent/fping CPU share, window"],
            "goal_cpu_pct": goal_cpu_pct,
            # Judged only at the agent's full rate: None without a steady window.
            "goal_met": bool(math.isfinite(agent_pct) and agent_pct < goal_cpu_pct)
            if run.ramp is not None
            else None,
        },
    }


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _table(doc: Mapping[str, Any]) -> list[str]:
    columns = (
        "socket",
        "CPU % of one core (window)",
        "CPU-s (window): user + system",
        "CPU % (whole run)",
        "requests sent (whole run)",
        "replies",
        "lost",
        "CPU-s / 1,000 requests (whole run)",
        "peak RSS MiB",
    )
    lines = ["| pinger | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * 8]
    for name, pinger in doc["pingers"].items():
        window, whole = pinger["window"], pinger["whole_run"]
        cells = [
            pinger["socket"],
            _number(window["cpu_pct"], 2),
            f"{_number(window['cpu_s'], 2)}: {_number(window['user_s'], 2)} + "
            f"{_number(window['system_s'], 2)}",
            _number(whole["cpu_pct"], 2),
            _number(whole["requests_sent"], 0),
            _number(whole["replies"], 0),
            _number(whole["lost"], 0),
            _number(whole["cpu_s_per_1000_requests"], 4),
            _number(pinger["peak_rss_mib"], 1),
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _notes(doc: Mapping[str, Any]) -> list[str]:
    agent, fping = doc["pingers"][AGENT], doc["pingers"][FPING]
    engine, polls = agent["engine"], agent["polls"]
    notes = [
        f"- The agent's polls: {polls['polls']:,} ({polls['polls_succeeded']:,} successful, "
        f"{polls['targets_answered']:,} of {doc['load']['targets']:,} targets answered), "
        f"reporting {polls['requests_reported']:,} requests and {polls['replies_reported']:,} "
        f"replies (the rest were not yet taken by a poll); {polls['skipped_slots']} poll slots "
        f"skipped for overruns. In the window it sent {agent['window']['requests_sent']:,} "
        f"requests. fping: {fping['summary']['targets_answered']:,} targets answered.",
        "- *whole run* starts when both pingers run (the agent's imports excluded). The agent's "
        "whole-run share is lower than its window share because its streams start over the "
        "first interval (first polls are spread by the scheduler); fping is at full rate at "
        "once. CPU per 1,000 requests compares the two over the whole run regardless.",
        "- *system* time includes the kernel's answering: on loopback the echo reply is made "
        "and handed to every raw ICMP socket within the sender's `sendto`.",
    ]
    if "raw" in (agent["socket"], fping["socket"]):
        notes.append(
            "- A raw ICMP socket receives every ICMP message of the host, the other pinger's "
            "requests and replies included (and, on loopback, its own requests). The agent "
            "attaches a kernel (BPF) filter that keeps only echo replies with its identifier, "
            f"so it read {engine['strays']:,} echo replies not its own (fping answered "
            f"{fping['whole_run']['replies']:,}, none of which woke the agent). "
            'A datagram socket (`icmp_mode = "dgram"`) receives only its own replies too.'
        )
    errors = engine["send_errors"] + engine["receive_errors"]
    if errors:
        notes.append(
            f"- Agent send errors {engine['send_errors']}, receive errors "
            f"{engine['receive_errors']}."
        )
    if agent["warnings"]:
        notes.append(f"- The agent logged warnings, e.g.: `{agent['warnings'][0]}`")
    if not doc["window"]["steady"]:
        notes.append(
            "- **No steady window**: the run ended before every target had been polled once; "
            "the figures are for the whole run, with the agent not yet at its full rate."
        )
    return notes


def icmp_markdown(doc: Mapping[str, Any]) -> list[str]:
    """The ICMP section of RESULTS.md."""
    load, window, host, summary = doc["load"], doc["window"], doc["machine"], doc["summary"]
    goal = {True: "met", False: "**not met**", None: "not judged (no steady window)"}[
        summary["goal_met"]
    ]
    ratio_text = "; ".join(f"**{k}** {v:g}×" for k, v in doc["ratios"].items() if v is not None)
    window_text = (
        f"from {window['from_s']:.1f} s (every target polled once) to the end: "
        f"{window['wall_s']:.1f} s"
        if window["steady"]
        else f"the whole run ({window['wall_s']:.1f} s; no steady window)"
    )
    return [
        "# ICMP benchmark: last run",
        "",
        "Written by `bench/icmp` (bench/icmp.py); do not edit by hand. Machine-readable: "
        "`bench/results/icmp.json`.",
        "",
        f"- **Date**: {doc['date']} (UTC {doc['time_utc']}), checkout {doc['checkout']}",
        f"- **Machine**: {host['nproc']} CPUs ({host['cpu_model']}), Linux {host['kernel']}, "
        f"Python {host['python']}; load average {host['load_average_1min_before']} "
        "(1 min, before the run)",
        "- **Versions**: " + "; ".join(f"{k}: {v}" for k, v in doc["versions"].items()),
        f"- **Load**: {load['targets']:,} loopback targets ({load['first_target']} – "
        f"{load['last_target']}), {load['count']} echo requests per target per "
        f"{load['interval_s']:g} s (one every {load['spacing_s']:g} s; "
        f"{load['requests_per_s']:,.0f} requests/s in all), {load['size_bytes']} data bytes, "
        f"timeout {load['packet_timeout_s']:g} s; both pingers at once for "
        f"{load['duration_s']:g} s",
        f"- **Window** (CPU of both pingers over the same wall time): {window_text}",
        f"- **Goal** (the issue): the agent under {summary['goal_cpu_pct']:g} % of one core — "
        f"{goal} ({_number(summary['agent_cpu_pct'], 2)} %)",
        "",
        *_table(doc),
        "",
        f"Ratios: {ratio_text}.",
        "",
        "What each pinger is:",
        "",
        "- **agent**: its `ping` collector (one shared ICMP socket, a stream of requests per "
        "target) driven by the real `Scheduler` in a child process, every poll handed to a "
        "counting sink (no pipeline, no InfluxDB); CPU and peak RSS from /proc",
        f"- **fping**: `{doc['pingers'][FPING]['command']}` (stopped with SIGINT at the end; "
        "packets from its `-s` totals); CPU and peak RSS from /proc",
        "",
        "Notes:",
        "",
        *_notes(doc),
        "",
    ]
