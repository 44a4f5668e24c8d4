"""The traps section of RESULTS.md (bench/traps.py's last run)."""

from __future__ import annotations

from typing import Any

SECTION = "# SNMP traps: last run"
#: The issue's goal: a trap's samples in InfluxDB within this many seconds.
GOAL_S = 1.0


def traps_markdown(doc: dict[str, Any]) -> str:
    result, host = doc["result"], doc["machine"]

    def row(name: str, figures: dict[str, Any]) -> str:
        end, agent = figures["from_snmptrap_start"], figures["from_agent_receipt"]
        return (
            f"| {name} | {figures['traps']} | {end['p50_s'] * 1000:.0f} | "
            f"{end['p95_s'] * 1000:.0f} | {end['max_s'] * 1000:.0f} | "
            f"{agent['p50_s'] * 1000:.0f} | {agent['max_s'] * 1000:.0f} | "
            f"{figures['within_goal']} |"
        )

    worst = max(result["one_at_a_time"]["from_snmptrap_start"]["max_s"],
                result["burst"]["from_snmptrap_start"]["max_s"])  # fmt: skip
    return "\n".join(
        [
            SECTION,
            "",
            "Written by `bench/traps.py`; machine-readable: `bench/results/traps.json`. "
            "Traps sent by net-snmp's `snmptrap -v2c` to the agent (its own process, trap "
            "receiver on, writer's flush interval 1 s) writing to a private Debian influxd; "
            "InfluxDB polled every 10 ms with InfluxQL.",
            "",
            f"- **Date**: {doc['date']} (UTC {doc['time_utc']}), checkout {doc['checkout']}; "
            f"{host['nproc']} CPUs, load average {host['load_average_1min_before']} before",
            f"- **Goal**: a trap in InfluxDB within {GOAL_S:g} s: "
            f"**{'met' if worst <= GOAL_S else 'NOT met'}** (worst {worst * 1000:.0f} ms)",
            f"- The agent counted {result['agent_traps_received']:.0f} traps received, "
            f"{result['agent_traps_malformed']:.0f} malformed, "
            f"{result['agent_traps_refused']:.0f} refused (the warm-up's included)",
            "",
            "| phase | traps | p50 ms | p95 ms | max ms | from receipt p50 ms | "
            "from receipt max ms | within 1 s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            row("one at a time", result["one_at_a_time"]),
            row(f"burst ({result['burst']['senders']} senders)", result["burst"]),
            "",
            "Latency = first seen in InfluxDB − the start of the snmptrap process (an upper "
            "bound: it includes snmptrap's own start-up); *from receipt* = first seen − the "
            "row's timestamp (when the agent read the datagram: the agent's own path). Both "
            "include up to one 10 ms poll and one InfluxQL query.",
            "",
        ]
    )
