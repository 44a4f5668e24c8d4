"""The SSH backup section of RESULTS.md (bench/ssh_backup.py's last run)."""

from __future__ import annotations

from typing import Any

SECTION = "# Configuration backup over SSH: last run"


def ssh_markdown(doc: dict[str, Any]) -> str:
    result, host = doc["result"], doc["machine"]

    def row(name: str, figures: dict[str, Any]) -> str:
        commits = figures.get("commits", "–")
        return (
            f"| {name} | {figures['devices_ok']} | {commits} | {figures['wall_s']:.1f} | "
            f"{figures['cpu_s']:.1f} | {figures['simulator_cpu_s']:.1f} | "
            f"{figures['device_p50_s']:.2f} | {figures['device_max_s']:.2f} |"
        )

    return "\n".join(
        [
            SECTION,
            "",
            "Written by `bench/ssh_backup.py`; machine-readable: `bench/results/ssh_backup.json`. "
            f"{doc['devices']} FakeNOS cisco_ios devices (one simulator process) on 127.0.0.1, "
            f"each serving a 243-line IOS configuration; {doc['workers']} workers on each side.",
            "",
            f"- **Date**: {doc['date']} (UTC {doc['time_utc']}), checkout {doc['checkout']}; "
            f"{host['nproc']} CPUs, load average {host['load_average_1min_before']} before",
            f"- **netmon / bare netmiko**, first backup (200 commits): wall "
            f"**{result['ratio_wall_first']:.2f}×**, CPU **{result['ratio_cpu_first']:.2f}×**; "
            f"unchanged run: wall {result['ratio_wall_unchanged']:.2f}×, "
            f"CPU {result['ratio_cpu_unchanged']:.2f}×",
            f"- Repository after the three runs: {result['repository_commits']} commits "
            "(README + one per device + the one change)",
            "",
            "| run | devices ok | commits | wall s | CPU s | simulator CPU s | "
            "fetch p50 s | fetch max s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            row("bare netmiko (connect, show running-config, disconnect)", result["netmiko"]),
            row("netmon backup, first", result["netmon_first"]),
            row("netmon backup, one device changed", result["netmon_one_change"]),
            row("netmon backup, unchanged", result["netmon_unchanged"]),
            "",
            "fetch = per device after the login: the command's output (netmon: also the "
            "stripping and the commit). "
            "CPU = this process (netmiko, paramiko, secret stripping) plus its git children; "
            "the simulator's CPU is apart. Both compete for the same 2 cores, and the simulator "
            "echoes input one byte at a time, so the wall times are mostly the simulator's; "
            "the ratio against bare netmiko is the figure to compare.",
            "",
        ]
    )
