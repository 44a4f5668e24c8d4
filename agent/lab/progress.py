"""What the main job shows while it runs: one line per poll cycle, and where the data went."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable, Collection

from agent.collector import Target
from agent.scheduler import PollObserver


class Progress:
    """A poll observer that keeps each host's latest result, then hands on to `inner`."""

    def __init__(self, inner: PollObserver, points: Collection[str]) -> None:
        self.inner = inner
        self.points = frozenset(points)
        self.latest: dict[str, str] = {}
        self.polls = 0

    def polled(self, target: Target, result: str, duration_s: float) -> None:
        self.latest[target.key] = result
        self.polls += 1
        self.inner.polled(target, result, duration_s)

    def skipped(self, target: Target, slots: int) -> None:
        self.inner.skipped(target, slots)

    def line(self, total_hosts: int, written: int) -> str:
        latest = dict(self.latest)  # the event loop adds targets while this thread reads
        # A host answers when every check polled so far succeeded (SNMP and ICMP alike).
        by_host: dict[str, bool] = {}
        for key, result in latest.items():
            host = key.rsplit("/", 1)[0]
            by_host[host] = by_host.get(host, True) and result == "success"
        answered = sum(1 for ok in by_host.values() if ok)
        points_ok = sum(1 for host, ok in by_host.items() if host in self.points and ok)
        failing = sorted(host for host, ok in by_host.items() if not ok)
        shown = ", ".join(failing[:4]) + (
            f" and {len(failing) - 4} more" if len(failing) > 4 else ""
        )
        line = (
            f"{answered}/{total_hosts} hosts answer, {points_ok}/{len(self.points)} "
            f"connection points; {self.polls} polls, {written} samples written"
        )
        return line + (f"; failing: {shown}" if failing else "")


class Ticker:
    """Calls `report` every `every_s` seconds on a thread until stopped."""

    def __init__(self, every_s: float, report: Callable[[float], None]) -> None:
        self.every_s = every_s
        self.report = report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lab-progress", daemon=True)
        self._started = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.report(time.monotonic() - self._started)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


#: Printed for the operator to paste; nothing here is executed.
_EXAMPLE_QUERIES = (
    "SHOW MEASUREMENTS",
    'SELECT count("result_code") FROM "snmp" WHERE time > now() - 10m GROUP BY "level","result"',
    'SELECT non_negative_derivative(last("ifHCInOctets"), 1s) * 8 FROM "interface" '
    'WHERE "site" = \'X-TDM-PHULOI\' AND time > now() - 30m GROUP BY time(1m), "ifName"',
    'SELECT "result_code", "source", "result" FROM "snmp" '
    "WHERE \"result\" != 'success' AND time > now() - 1h",
    'SELECT last("state"), last("reason") FROM "availability" '
    'WHERE "check" = \'vc\' AND time > now() - 5m GROUP BY "target"',
    'SELECT mean("response_time"), min("tls_expiry_days") FROM "http_response" '
    'WHERE time > now() - 1h GROUP BY "server"',
)


def where_the_data_is(influx_url: str, database: str, metrics: str | None) -> str:
    """The block the main job prints: where to look, with queries that work as typed."""
    prefix = f"curl -sG {influx_url}/query --data-urlencode db={database} --data-urlencode"
    lines = [
        f"Data: InfluxDB {influx_url}, database {database!r} (InfluxQL). It answers while a "
        "lab runs (`netmon lab up` serves the data kept so far). Try:"
    ]
    lines += [f"  {prefix} {shlex.quote('q=' + query)}" for query in _EXAMPLE_QUERIES]
    lines.append(
        "Lab: `.venv/bin/netmon lab status` (peers, fault plan); "
        "`.venv/bin/netmon -c agent/lab/netmon-lab.toml poll HOST` polls one device; "
        "`.venv/bin/netmon -c agent/lab/netmon-lab.toml discover HOST` shows its SNMP profile; "
        "`.venv/bin/netmon -c agent/lab/netmon-lab.toml vc readiness` checks every bridge point."
    )
    if metrics:
        lines.append(
            f"Agent health: curl -s http://{metrics}/metrics | grep ^netmon_ ; or, while the "
            "agent runs, .venv/bin/netmon -c agent/lab/netmon-lab.toml status (deliveries, "
            "the spool)"
        )
    lines.append(
        "SLA (with the lab up, `netmon lab up`): `.venv/bin/netmon -c agent/lab/netmon-lab.toml "
        "sla status` (month to date); `... sla report --period this-month -o /tmp/tinh.pdf` "
        '(the province; --department "UBND huyện Dầu Tiếng" for one department).'
    )
    lines.append(
        "Grafana (with the lab up): `.venv/bin/netmon -c agent/lab/netmon-lab.toml dashboards "
        "validate --influxdb` runs every panel and alert rule of dashboards/ on this data."
    )
    return "\n".join(lines)
