"""fping, the ICMP benchmark's peer: its command for a given load, its version, its summary.

fping sends to its targets in turn, at most one request every ``-i`` ms overall and one every
``-p`` ms per target; ``-C N`` stops after N requests per target. Stopped with SIGINT, it
prints what it has so far: with ``-q -C N``, one line per target on stderr
(``127.20.0.1 : 0.04 0.03 - 0.05``, "-" for a request without a reply), and with ``-s`` the
totals (``40001 ICMP Echos sent``, ``... ICMP Echo Replies received``, ``... timeouts (waiting
for response)``, ``... other ICMP received``).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass

TOOL = "fping"

_TOTALS = {
    "sent": re.compile(r"^\s*(\d+) ICMP Echos sent", re.MULTILINE),
    "replies": re.compile(r"^\s*(\d+) ICMP Echo Replies received", re.MULTILINE),
    "timeouts": re.compile(r"^\s*(\d+) timeouts \(waiting for response\)", re.MULTILINE),
    "other_icmp": re.compile(r"^\s*(\d+) other ICMP received", re.MULTILINE),
}
#: A per-target line of -C output: the address, then one round trip (ms) or "-" per request.
_TARGET_LINE = re.compile(r"^(\d+\.\d+\.\d+\.\d+)\s+:((?:\s+(?:[\d.]+|-))*)\s*$", re.MULTILINE)


def available() -> bool:
    return shutil.which(TOOL) is not None


def version() -> str:
    done = subprocess.run([TOOL, "-v"], capture_output=True, text=True, timeout=10, check=False)
    # "fping: Version 5.1"
    found = re.search(r"Version (\S+)", done.stdout + done.stderr)
    return f"fping {found[1]}" if found else "unknown"


def socket_kind(pid: int) -> str:
    """Which ICMP socket `pid` holds: "raw" (/proc/net/raw) or "dgram" (/proc/net/icmp)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[len("socket:[") : -1])
    except OSError:
        return "unknown"
    for kind, table in (("raw", "/proc/net/raw"), ("dgram", "/proc/net/icmp")):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as sockets:
            next(sockets, None)  # the header
            if any(line.split()[9] in inodes for line in sockets if len(line.split()) > 9):
                return kind
    return "unknown"


def interval_ms(targets: int, spacing_s: float) -> int:
    """fping's ``-i``: one round over every target takes at most two thirds of the spacing.

    fping waits at least ``-i`` between two requests, however late it already is; with a
    round as long as the spacing itself (``-i 3`` for 1,000 targets every 3 s) it falls ~3 %
    behind. One third of slack keeps it at the full rate.
    """
    return max(1, math.floor(spacing_s * 1000 * 2 / 3 / targets))


def command(
    addresses: Sequence[str], spacing_s: float, packet_timeout_s: float, count: int, size: int
) -> list[str]:
    """fping sending `count` requests per target, one every `spacing_s` to each."""
    return [
        TOOL,
        "-C",
        str(count),
        "-p",
        str(round(spacing_s * 1000)),
        "-i",
        str(interval_ms(len(addresses), spacing_s)),
        "-t",
        str(round(packet_timeout_s * 1000)),
        "-b",
        str(size),
        "-q",
        "-s",
        *addresses,
    ]


@dataclass(frozen=True)
class FpingSummary:
    sent: int
    replies: int
    timeouts: int
    other_icmp: int  # ICMP messages fping received that were none of its replies
    targets_answered: int  # targets with at least one reply

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def summary(output: str) -> FpingSummary:
    """fping's totals and per-target lines; ValueError when it printed no totals."""
    totals = {}
    for name, pattern in _TOTALS.items():
        found = pattern.search(output)
        if found is None:
            raise ValueError(f"fping printed no totals ({name!r} missing)")
        totals[name] = int(found[1])
    answered = sum(
        1 for line in _TARGET_LINE.finditer(output) if any(r != "-" for r in line[2].split())
    )
    return FpingSummary(targets_answered=answered, **totals)
