"""Reading other processes from /proc (Linux): what the lab and the benchmark know of their
peers — alive or not, which process exactly, CPU and memory used, command line, children.

``/proc/PID/stat`` field 2 (the command name) may hold spaces and parentheses, so the fields
are split after its last ")"; index 0 below is field 3 (state).
"""

from __future__ import annotations

import os
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int | str) -> list[str]:
    """Fields 3.. of /proc/PID/stat; OSError or ValueError if the process is gone."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for its parent counts as gone)."""
    try:
        return stat_fields(pid)[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot): with the pid, it names one process."""
    try:
        return int(stat_fields(pid)[19])
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds of `pid` so far (its threads included); 0 once it is gone."""
    try:
        fields = stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_rss_mib(pid: int | str = "self") -> float:
    """The peak resident set (VmHWM) of `pid` in MiB; 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cmdline(pid: int) -> str:
    """The command line of `pid`, arguments joined by spaces; "" if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def descendants(root: int) -> list[int]:
    """The PIDs of every living descendant of `root` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for pid in pids():
        try:
            parent = int(stat_fields(pid)[1])
        except (OSError, ValueError, IndexError):
            continue  # ended while we looked
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    frontier = [root]
    while frontier:  # bounded: each PID is visited once, the process tree has no cycles
        for child in children.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child)
    return sorted(found)
