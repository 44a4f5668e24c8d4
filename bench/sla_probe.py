"""Which InfluxQL read strategies can feed the SLA engine a year of 1-minute data in time.

The bench goal of the SLA reports (issue 7): reports for all departments over a year of
1-minute data for 184 sites in under 10 s. This probe loads (or reuses) that year
(`bench/sla_data.py`: 184 connection points × 525,600 polls, seeded faults) into a private
Debian influxd 1.6 and times read strategies against it, each on the year and on one month
(some on a week or a day, where the year would take many minutes):

a) the "clean days" pass: count/max/min of ``state`` per series and day;
b) raw ``state``: one site over the year, all sites over a month and a day (JSON and CSV);
c) gap detection server-side: ``max(elapsed)`` per day from a subquery;
d) raw fetch of only the days (a) found not clean, in several request shapes;
e) other candidates: only the failing samples (``state > 0``); only the state changes and
   gaps (``difference``/``elapsed`` in a subquery, per site), checked second by second
   against the data set's ground truth; first/last sample; raw day by day; a per-day digest
   read back from InfluxDB.

Every query is a GET /query with ``epoch=s`` (not chunked). Figures per probe: wall time,
"fetch" (request sent → whole body received: influxd's work and the transfer), Python
``json.loads`` time, rows, series, body bytes, influxd CPU seconds and its peak RSS during
the probe (VmHWM after resetting it through /proc/PID/clear_refs). Results:
``bench/results/sla_probe.json`` and a table on stdout.

    .venv/bin/python bench/sla_probe.py [--quick] [--only a,e2] [--reload]

The influxd data dir is kept in /tmp/netmon-sla-bench/influxd for the next run (reused when
its marker matches the data set's parameters); the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import csv as csv_module
import io
import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import httpx  # noqa: E402
import sla_data as sd  # noqa: E402
from _report import RESULTS_DIR, machine  # noqa: E402

from agent.lab.influxdb import find_influxd  # noqa: E402
from agent.lab.process import free_tcp_port  # noqa: E402
from agent.lab.procfs import cpu_seconds  # noqa: E402

RESULTS_JSON = RESULTS_DIR / "sla_probe.json"
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
TZ_CLAUSE = "tz('Asia/Ho_Chi_Minh')"
DAY = sd.DAY_S
#: The tags that name one series of connection-point data (sites carry no ``service``).
SERIES_TAGS = '"target", "check", "agent"'

Answer = dict[str, Any]
SeriesKey = tuple[str, str]  # (agent, target), as sla_data keys its series


@dataclass(frozen=True)
class Scope:
    name: str
    start: int
    end: int

    @property
    def where(self) -> str:
        return f"time >= {self.start}s AND time < {self.end}s"

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY


@dataclass
class Timing:
    probe: str
    what: str
    scope: str
    requests: int
    wall_s: float
    fetch_s: float  # summed over requests (> wall_s when they ran concurrently)
    decode_s: float  # summed json.loads time
    rows: int
    series: int
    bytes: int
    influxd_cpu_s: float
    influxd_peak_rss_mib: float
    works: bool
    note: str = ""
    statement: str = ""  # the first statement, abbreviated
    year_estimate_s: float | None = None  # wall scaled to 365 days, where not run on the year


def local_midnight(year: int, month: int = 1, day: int = 1) -> int:
    return int(datetime(year, month, day, tzinfo=ZONE).timestamp())


def quote(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def series_filter(key: SeriesKey) -> str:
    agent, target = key
    return (
        f'"agent" = {quote(agent)} AND "check" = {quote(sd.CHECK)} AND "target" = {quote(target)}'
    )


# --- talking to influxd ---------------------------------------------------------------------


class Reader:
    """GET /query against the bench server, measured."""

    def __init__(self, url: str, db: str, pid: int) -> None:
        self.db = db
        self.pid = pid
        # One connection per concurrent request (httpx.Client pools them; thread-safe).
        self.client = httpx.Client(
            base_url=url, timeout=3600.0, limits=httpx.Limits(max_connections=8)
        )
        self.timings: list[Timing] = []

    def fetch(self, statement: str, *, csv: bool = False) -> tuple[bytes, float]:
        headers = {"Accept": "application/csv"} if csv else {}
        started = time.perf_counter()
        response = self.client.get(
            "/query",
            params={"db": self.db, "q": statement, "epoch": "s", "chunked": "false"},
            headers=headers,
        )
        body = response.content
        return body, time.perf_counter() - started

    def run(
        self,
        probe: str,
        what: str,
        scope: Scope,
        statements: Sequence[str],
        *,
        concurrency: int = 1,
        per_request: int = 1,
        csv: bool = False,
        note: str = "",
        keep: bool = True,
    ) -> tuple[Timing, list[Answer]]:
        """Run `statements` (`per_request` of them to a request, `concurrency` requests at a
        time), decode every answer, and record the figures. Returns the answers if `keep`."""
        requests = [
            ";\n".join(statements[i : i + per_request])
            for i in range(0, len(statements), per_request)
        ]
        tally = _Tally()
        answers: list[Answer | None] = [None] * len(requests)
        lock = threading.Lock()

        def one(index: int, text: str) -> None:
            body, seconds = self.fetch(text, csv=csv)
            started = time.perf_counter()
            answer: Answer = (
                {"csv_rows": len(list(csv_module.reader(io.StringIO(body.decode())))) - 1}
                if csv
                else json.loads(body)
            )
            decoded = time.perf_counter() - started
            with lock:
                tally.add(answer, len(body), seconds, decoded)
                if keep and not csv:
                    answers[index] = answer

        watch = _Watch(self.pid)
        started = time.perf_counter()
        if concurrency <= 1:
            for index, text in enumerate(requests):
                one(index, text)
        else:
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(one, range(len(requests)), requests))
        wall = time.perf_counter() - started
        cpu, rss = watch.stop()
        notes = [note] if note else []
        if tally.partial:
            notes.append("influxd marked the answer partial")
        if tally.errors:
            notes.append("error: " + tally.errors[0][:200])
        timing = Timing(
            probe=probe,
            what=what,
            scope=scope.name,
            requests=len(requests),
            wall_s=round(wall, 3),
            fetch_s=round(tally.fetch_s, 3),
            decode_s=round(tally.decode_s, 3),
            rows=tally.rows,
            series=tally.series,
            bytes=tally.size,
            influxd_cpu_s=round(cpu, 2),
            influxd_peak_rss_mib=round(rss),
            works=not tally.errors and not tally.partial,
            note="; ".join(notes),
            statement=_abbreviate(statements[0]),
            year_estimate_s=round(wall * 365 / scope.days, 1) if scope.days < 365 else None,
        )
        self.timings.append(timing)
        _print_row(timing)
        # In request order (concurrent requests finish in any order).
        return timing, [a for a in answers if a is not None]


@dataclass
class _Tally:
    """What the answers of one probe held, summed."""

    fetch_s: float = 0.0
    decode_s: float = 0.0
    size: int = 0
    rows: int = 0
    series: int = 0
    partial: bool = False
    errors: list[str] = field(default_factory=list)

    def add(self, answer: Answer, size: int, fetch_s: float, decode_s: float) -> None:
        self.fetch_s += fetch_s
        self.decode_s += decode_s
        self.size += size
        if "csv_rows" in answer:
            self.rows += answer["csv_rows"]
            return
        if "error" in answer:
            self.errors.append(str(answer["error"]))
        for result in answer.get("results", []):
            if "error" in result:
                self.errors.append(str(result["error"]))
            self.partial = self.partial or bool(result.get("partial"))
            for s in result.get("series", []):
                self.series += 1
                self.rows += len(s.get("values", []))


class _Watch:
    """influxd's CPU seconds and peak RSS over one probe. VmHWM is reset through clear_refs
    (Linux: writing 5 resets the peak to the current RSS); a sampler thread backs it up where
    that is not allowed."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        status = Path(f"/proc/{pid}/status")
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False
        self._status = status
        self._peak = 0.0
        self._done = threading.Event()
        self._cpu0 = cpu_seconds(pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _read(self, field: str) -> float:
        try:
            for line in self._status.read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            self._peak = max(self._peak, self._read("VmRSS:"))

    def stop(self) -> tuple[float, float]:
        self._done.set()
        self._thread.join()
        peak = max(self._peak, self._read("VmRSS:"))
        if self.reset:
            peak = max(peak, self._read("VmHWM:"))
        return cpu_seconds(self.pid) - self._cpu0, peak


def _abbreviate(statement: str, limit: int = 400) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _print_row(t: Timing) -> None:
    estimate = f" (year ≈ {t.year_estimate_s:.0f} s)" if t.year_estimate_s is not None else ""
    flag = "" if t.works else "  [FAILS]"
    print(
        f"{t.probe:<5} {t.scope:<5} {t.wall_s:8.2f} s wall {t.fetch_s:8.2f} fetch "
        f"{t.decode_s:6.2f} decode {t.rows:>10,} rows {t.requests:>6} req "
        f"{t.influxd_cpu_s:7.1f} cpu-s {t.influxd_peak_rss_mib:6.0f} MiB  {t.what}{estimate}"
        f"{flag}{'  — ' + t.note if t.note else ''}",
        flush=True,
    )


def series_rows(answers: Iterable[Answer]) -> Iterator[tuple[SeriesKey, list[str], list[Any]]]:
    """(series key, columns, row) for every row of every answer."""
    for answer in answers:
        for result in answer.get("results", []):
            for s in result.get("series", []):
                tags = s.get("tags", {})
                key = (tags.get("agent", ""), tags.get("target", ""))
                for row in s.get("values", []):
                    yield key, s["columns"], row


# --- (a) the clean-days pass ----------------------------------------------------------------


def daily_pass(aggregates: str, scope: Scope, *, service: bool = False, tz: bool = False) -> str:
    tags = SERIES_TAGS + (', "service"' if service else "")
    return (
        f'SELECT {aggregates} FROM "availability" WHERE {scope.where} '
        f"GROUP BY time(1d), {tags}{' ' + TZ_CLAUSE if tz else ''}"
    )


def unclean_from_pass(answers: Iterable[Answer], interval_s: int) -> dict[SeriesKey, list[int]]:
    """Days (their start) whose count is not a full day's or whose max state is not 0."""
    full = DAY // interval_s
    unclean: dict[SeriesKey, list[int]] = defaultdict(list)
    for key, columns, row in series_rows(answers):
        values = dict(zip(columns, row, strict=True))
        if values.get("count") != full or (values.get("max") or 0) > 0:
            unclean[key].append(int(values["time"]))
    return dict(unclean)


def probe_a(
    reader: Reader, year: Scope, month: Scope, interval_s: int, quick: bool
) -> dict[str, Any]:
    aggregates = 'count("state"), max("state"), min("state")'
    found: dict[str, Any] = {}
    for scope in [month] if quick else [month, year]:
        reader.run(
            "a1",
            "count,max,min per series and UTC day",
            scope,
            [daily_pass(aggregates, scope)],
            keep=False,
        )
        reader.run(
            "a2",
            "a1 with service in GROUP BY",
            scope,
            [daily_pass(aggregates, scope, service=True)],
            keep=False,
        )
        _, answers = reader.run(
            "a3", f"a1 in local days ({TZ_CLAUSE})", scope, [daily_pass(aggregates, scope, tz=True)]
        )
        found[scope.name] = unclean_from_pass(answers, interval_s)
        reader.run(
            "a4",
            "count, max only, local days",
            scope,
            [daily_pass('count("state"), max("state")', scope, tz=True)],
            keep=False,
        )
    if not quick:
        reader.run(
            "a5",
            "count only per series and day (one aggregate = one scan)",
            year,
            [daily_pass('count("state")', year)],
            keep=False,
        )
        statement = f'SELECT count("state") FROM "availability" WHERE {year.where}'
        reader.run("a6", "scan floor: count(state), no GROUP BY", year, [statement], keep=False)
        halves = split(year, 2)
        reader.run(
            "a7",
            "scan floor, 2 halves concurrently",
            year,
            [f'SELECT count("state") FROM "availability" WHERE {h.where}' for h in halves],
            concurrency=2,
            keep=False,
        )
    return found


def split(scope: Scope, parts: int) -> list[Scope]:
    step = -(-(scope.end - scope.start) // parts)
    return [
        Scope(f"{scope.name}/{i}", a, min(a + step, scope.end))
        for i, a in enumerate(range(scope.start, scope.end, step))
    ]


# --- (b) raw --------------------------------------------------------------------------------


def raw_state(scope: Scope, condition: str = "", group: bool = True) -> str:
    where = f"{scope.where} AND {condition}" if condition else scope.where
    return f'SELECT "state" FROM "availability" WHERE {where}' + (
        f" GROUP BY {SERIES_TAGS}" if group else ""
    )


def probe_b(reader: Reader, year: Scope, month: Scope, day: Scope, site: SeriesKey) -> None:
    reader.run(
        "b1",
        f"raw state, one site ({site[1]})",
        year,
        [raw_state(year, series_filter(site), group=False)],
        keep=False,
    )
    reader.run("b2", "raw state, all sites", month, [raw_state(month)], keep=False)
    reader.run("b3", "raw state, all sites", day, [raw_state(day)], keep=False)
    reader.run(
        "b4",
        "b3 as CSV (Accept: application/csv)",
        day,
        [raw_state(day)],
        csv=True,
        keep=False,
        note="CSV repeats the tags on every row",
    )


# --- (c) gaps server-side -------------------------------------------------------------------


def elapsed_daily(scope: Scope, inner_group: str) -> str:
    return (
        f'SELECT max("elapsed") FROM (SELECT elapsed("state", 1s) FROM "availability" '
        f"WHERE {scope.where} GROUP BY {inner_group}) WHERE {scope.where} "
        'GROUP BY time(1d), "target"'
    )


def probe_c(
    reader: Reader, year: Scope, month: Scope, week: Scope, keys: Sequence[SeriesKey], quick: bool
) -> None:
    reader.run(
        "c1",
        "max(elapsed) per day, subquery GROUP BY * (as asked)",
        week,
        [elapsed_daily(week, "*")],
        keep=False,
    )
    reader.run(
        "c2",
        "c1 with the subquery grouped by the series tags",
        week,
        [elapsed_daily(week, SERIES_TAGS)],
        keep=False,
    )
    site = keys[0]
    one = (
        f'SELECT max("elapsed") FROM (SELECT elapsed("state", 1s) FROM "availability" '
        f"WHERE {year.where} AND {series_filter(site)}) WHERE {year.where} GROUP BY time(1d)"
    )
    reader.run("c3", f"c1 for one site ({site[1]})", year, [one], keep=False)
    if not quick:
        per_site = [
            f'SELECT max("elapsed") FROM (SELECT elapsed("state", 1s) FROM "availability" '
            f"WHERE {month.where} AND {series_filter(k)}) WHERE {month.where} GROUP BY time(1d)"
            for k in keys
        ]
        reader.run(
            "c4",
            "c3 for every site, one query each, 2 at a time",
            month,
            per_site,
            concurrency=2,
            keep=False,
        )


# --- (d) raw fetch of the unclean days ------------------------------------------------------


def probe_d(
    reader: Reader, scope: Scope, unclean: dict[SeriesKey, list[int]], *, variants: Sequence[str]
) -> None:
    site_days = [
        (k, d) for k, days in sorted(unclean.items()) for d in days if scope.start <= d < scope.end
    ]
    total = len(site_days)
    label = f"{total:,} unclean site-days"
    per_site_day = [
        f'SELECT "state" FROM "availability" WHERE {series_filter(k)} '
        f"AND time >= {d}s AND time < {d + DAY}s"
        for k, d in site_days
    ]
    if "or_time" in variants and site_days:
        (k1, d1), (k2, d2) = site_days[0], site_days[-1]
        statement = (
            f'SELECT "state" FROM "availability" WHERE ({series_filter(k1)} '
            f"AND time >= {d1}s AND time < {d1 + DAY}s) OR ({series_filter(k2)} "
            f"AND time >= {d2}s AND time < {d2 + DAY}s) GROUP BY {SERIES_TAGS}"
        )
        timing, _ = reader.run(
            "d0",
            "(site AND day) OR (site AND day): time ranges OR-ed",
            scope,
            [statement],
            keep=False,
        )
        if timing.rows == 0:
            timing.works = False
            timing.note = "influxd 1.6 returns no rows and no error for OR-ed time ranges"
            print(f"      d0 FAILS: {timing.note}", flush=True)
    if "site_day" in variants:
        reader.run("d1", f"one query per site-day ({label})", scope, per_site_day, keep=False)
    if "site_day_2" in variants:
        reader.run("d2", "d1, 2 requests at a time", scope, per_site_day, concurrency=2, keep=False)
    if "batched" in variants:
        reader.run(
            "d3",
            "d1's statements, 50 to a request, 2 requests at a time",
            scope,
            per_site_day,
            per_request=50,
            concurrency=2,
            keep=False,
        )
    by_day: dict[int, list[SeriesKey]] = defaultdict(list)
    for k, d in site_days:
        by_day[d].append(k)
    per_day = [
        f'SELECT "state" FROM "availability" WHERE time >= {d}s AND time < {d + DAY}s '
        f"AND ({targets_or(keys)}) GROUP BY {SERIES_TAGS}"
        for d, keys in sorted(by_day.items())
    ]
    if "per_day" in variants:
        reader.run(
            "d4", "one query per day, its unclean sites OR-ed (tags)", scope, per_day, keep=False
        )
    if "per_day_2" in variants:
        reader.run("d5", "d4, 2 requests at a time", scope, per_day, concurrency=2, keep=False)
    if "ranges" in variants:
        ranges = [
            f'SELECT "state" FROM "availability" WHERE {series_filter(k)} '
            f"AND time >= {a}s AND time < {b}s"
            for k, days in sorted(unclean.items())
            for a, b in merge_days([d for d in days if scope.start <= d < scope.end])
        ]
        reader.run(
            "d6",
            "one query per site and run of consecutive unclean days, 2 at a time",
            scope,
            ranges,
            concurrency=2,
            keep=False,
        )


def targets_or(keys: Iterable[SeriesKey]) -> str:
    return " OR ".join(f'"target" = {quote(k[1])}' for k in keys)


def merge_days(days: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for d in sorted(days):
        if runs and runs[-1][1] == d:
            runs[-1] = (runs[-1][0], d + DAY)
        else:
            runs.append((d, d + DAY))
    return runs


# --- (e) changes only, failing samples, digests ---------------------------------------------


def changes_query(scope: Scope, condition: str, gap_s: int, group: str = "") -> str:
    """The samples where the state changed (d: new − old) or that end a gap (e: seconds since
    the previous sample, > gap_s): everything an exact timeline needs, besides each series'
    first and last sample. The subquery must not GROUP BY * (c1: many times slower)."""
    where = f"{scope.where} AND {condition}" if condition else scope.where
    inner_group = f" GROUP BY {group}" if group else ""
    outer_group = f" GROUP BY {group}" if group else ""
    return (
        'SELECT "d", "e" FROM (SELECT difference("state") AS "d", elapsed("state", 1s) AS "e" '
        f'FROM "availability" WHERE {where}{inner_group}) '
        f'WHERE "d" <> 0 OR "e" > {gap_s}{outer_group}'
    )


def edge_queries(scope: Scope, interval_s: int) -> list[str]:
    """Each series' first and last sample in the scope, and its last sample in the 2 intervals
    before it (whose state still holds at the scope's start)."""
    before = Scope("before", scope.start - 2 * interval_s, scope.start)
    return [
        f'SELECT first("state") AS "first" FROM "availability" WHERE {scope.where} '
        f"GROUP BY {SERIES_TAGS}",
        f'SELECT last("state") AS "last" FROM "availability" WHERE {scope.where} '
        f"GROUP BY {SERIES_TAGS}",
        f'SELECT last("state") AS "before" FROM "availability" WHERE {before.where} '
        f"GROUP BY {SERIES_TAGS}",
    ]


@dataclass
class SeriesChanges:
    first: tuple[int, int] | None = None  # (time, state)
    last: tuple[int, int] | None = None
    before: tuple[int, int] | None = None  # the last sample before the scope, if it holds
    changes: list[tuple[int, int, int]] | None = None  # (time, d, e)


def collect_changes(
    changes: Iterable[Answer], edges: Iterable[Answer]
) -> dict[SeriesKey, SeriesChanges]:
    out: dict[SeriesKey, SeriesChanges] = defaultdict(SeriesChanges)
    for key, columns, row in series_rows(edges):
        setattr(out[key], columns[1], (int(row[0]), int(row[1])))
    for key, _columns, row in series_rows(changes):
        got = out[key]
        if got.changes is None:
            got.changes = []
        got.changes.append((int(row[0]), int(row[1] or 0), int(row[2] or 0)))
    return dict(out)


def timeline(got: SeriesChanges, scope: Scope, interval_s: int) -> list[sd.Segment]:
    """The exact timeline of one series from its changes, gaps, first and last sample, under
    the hold rule (a sample's state holds until the next sample, at most 2 × interval)."""
    hold = 2 * interval_s
    out: list[sd.Segment] = []

    def add(a: int, b: int, state: int | None) -> None:
        a, b = max(a, scope.start), min(b, scope.end)
        if b <= a:
            return
        if out and out[-1][1] == a and out[-1][2] == state:
            out[-1] = (out[-1][0], b, state)
        else:
            out.append((a, b, state))

    if got.first is None or got.last is None:
        return [(scope.start, scope.end, None)]
    t0, state = got.first
    if got.before is not None:
        before_t, before_state = got.before
        add(before_t, min(t0, before_t + hold), before_state)
        add(before_t + hold, t0, None)
    else:
        add(scope.start, t0, None)
    since = t0
    for t, d, e in sorted(got.changes or []):
        if e > hold:  # a gap: the previous sample (at t - e) held 2 × interval, then unknown
            add(since, t - e + hold, state)
            add(t - e + hold, t, None)
        else:
            add(since, t, state)
        state += d
        since = t
    last_t, last_state = got.last
    if state != last_state:
        raise ValueError(f"changes end in state {state}, the last sample says {last_state}")
    add(since, min(last_t + hold, scope.end), state)
    add(last_t + hold, scope.end, None)
    return out


def check_timelines(
    got: dict[SeriesKey, SeriesChanges],
    scope: Scope,
    truth: dict[SeriesKey, sd.Series],
    interval_s: int,
) -> dict[str, Any]:
    """Compare every reconstructed timeline with the generator's, segment for segment."""
    same = 0
    differing: list[str] = []
    segments = 0
    for key, series in truth.items():
        expected = sd.segments(series, scope.start, scope.end)
        try:
            found = timeline(got.get(key, SeriesChanges()), scope, interval_s)
        except ValueError as exc:
            differing.append(f"{key[1]}: {exc}")
            continue
        segments += len(found)
        if found == expected:
            same += 1
        else:
            differing.append(key[1])
    return {
        "series": len(truth),
        "identical": same,
        "differing": differing[:10],
        "segments": segments,
    }


def probe_e(
    reader: Reader,
    year: Scope,
    month: Scope,
    week: Scope,
    day: Scope,
    keys: Sequence[SeriesKey],
    data: sd.DataSet,
    quick: bool,
) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    gap_s = 2 * data.interval_s
    reader.run(
        "e1",
        "failing samples only: WHERE state > 0",
        month,
        [raw_state(month, '"state" > 0')],
        keep=False,
    )
    if not quick:
        reader.run(
            "e1",
            "failing samples only: WHERE state > 0",
            year,
            [raw_state(year, '"state" > 0')],
            keep=False,
        )
        reader.run(
            "e2",
            "e1 in 2 halves, concurrently",
            year,
            [raw_state(h, '"state" > 0') for h in split(year, 2)],
            concurrency=2,
            keep=False,
        )
    _, edges = reader.run(
        "e3",
        "first, last and preceding sample per series",
        year,
        edge_queries(year, data.interval_s),
    )
    scopes = [month] if quick else [month, year]
    plan = sd.plan(data)
    for scope in scopes:
        scope_edges = (
            edges
            if scope is year
            else reader.run(
                "e3",
                "first, last and preceding sample per series",
                scope,
                edge_queries(scope, data.interval_s),
            )[1]
        )
        _, changes = reader.run(
            "e4",
            "changes + gaps, one subquery per site, 2 at a time",
            scope,
            [changes_query(scope, series_filter(k), gap_s) for k in keys],
            concurrency=2,
        )
        # Per-site answers carry no tags (no GROUP BY): name them by their request's order.
        tagged = [_tag(answer, key) for answer, key in zip(changes, keys, strict=True)]
        got = collect_changes(tagged, scope_edges)
        checks[scope.name] = check_timelines(got, scope, plan, data.interval_s)
        print(
            f"      e4 timelines vs ground truth ({scope.name}): {checks[scope.name]}", flush=True
        )
        if scope is year:
            checks["digest"] = probe_digest(reader, year, got, data.interval_s)
    for scope in (day, week):
        reader.run(
            "e5",
            "changes + gaps, one subquery for all series (grouped by tags)",
            scope,
            [changes_query(scope, "", gap_s, SERIES_TAGS)],
            keep=False,
        )
    reader.run(
        "e6",
        "raw state, all sites, one query per local day, 2 at a time",
        month,
        [raw_state(d) for d in days_of(month)],
        concurrency=2,
        keep=False,
    )
    return checks


def _tag(answer: Answer, key: SeriesKey) -> Answer:
    for result in answer.get("results", []):
        for s in result.get("series", []):
            s["tags"] = {"agent": key[0], "check": sd.CHECK, "target": key[1]}
    return answer


def days_of(scope: Scope) -> list[Scope]:
    return [
        Scope(f"{scope.name}@{d}", d, min(d + DAY, scope.end))
        for d in range(scope.start, scope.end, DAY)
    ]


# --- a digest of closed days, read back -----------------------------------------------------

DIGEST_DB = "netmon_sla_digest"
STATE_LETTERS = {0: "o", 1: "g", 2: "d", None: "u"}


def probe_digest(
    reader: Reader, year: Scope, got: dict[SeriesKey, SeriesChanges], interval_s: int
) -> dict[str, Any]:
    """What a warm cache costs to read: one point per series and local day whose string field
    holds that day's exact segments (what an engine could store once a day is closed), in a
    database of its own; then the whole year of it read back in one query."""
    lines: list[bytes] = []
    for (agent, target), changes in sorted(got.items()):
        segs = timeline(changes, year, interval_s)
        for d in days_of(year):
            inside = [
                (max(a, d.start) - d.start, min(b, d.end) - d.start, s)
                for a, b, s in segs
                if a < d.end and b > d.start
            ]
            text = ",".join(f"{a}-{b}{STATE_LETTERS[s]}" for a, b, s in inside)
            lines.append(
                f"sla_digest,agent={agent},check={sd.CHECK},target={target} "
                f'segments="{text}" {d.start}'.encode()
            )
    reader.client.post("/query", data={"q": f'DROP DATABASE "{DIGEST_DB}"'})
    reader.client.post("/query", data={"q": f'CREATE DATABASE "{DIGEST_DB}"'})
    batches = (b"\n".join(lines[i : i + 5000]) + b"\n" for i in range(0, len(lines), 5000))
    report = sd.load(str(reader.client.base_url), DIGEST_DB, batches, writers=1)
    own_db = reader.db
    reader.db = DIGEST_DB
    try:
        statement = f'SELECT "segments" FROM "sla_digest" WHERE {year.where} GROUP BY {SERIES_TAGS}'
        timing, _ = reader.run(
            "e7",
            "a digest of closed days (1 point per series-day), read",
            year,
            [statement],
            keep=False,
        )
    finally:
        reader.db = own_db
    return {"points": report.points, "bytes": report.bytes, "read_wall_s": timing.wall_s}


# --- the run --------------------------------------------------------------------------------


def compare_unclean(
    found: dict[SeriesKey, list[int]], expected: dict[SeriesKey, list[int]], scope: Scope
) -> dict[str, Any]:
    def within(days: dict[SeriesKey, list[int]]) -> set[tuple[SeriesKey, int]]:
        return {(k, d) for k, ds in days.items() for d in ds if scope.start <= d < scope.end}

    f, e = within(found), within(expected)
    return {
        "found": len(f),
        "expected": len(e),
        "missed": len(e - f),
        "extra": len(f - e),
        "site_days": round(scope.days) * len(expected),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--month", type=int, default=6, help="the month probed (of --year)")
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory" / "lab")
    parser.add_argument("--state-dir", type=Path, default=sd.STATE_DIR)
    parser.add_argument("--reload", action="store_true", help="load even if the marker matches")
    parser.add_argument("--quick", action="store_true", help="skip the probes that take minutes")
    parser.add_argument("--only", default="", help="probe groups to run: a,b,c,d,e")
    args = parser.parse_args(argv)
    if find_influxd() is None:
        print("influxd not found (Debian package 'influxdb')", file=sys.stderr)
        return 2
    groups = set(args.only.split(",")) if args.only else set("abcde")
    points = sd.lab_points(args.inventory)
    data = sd.DataSet(tuple(points), local_midnight(args.year), args.days, seed=args.seed)
    year = Scope("year", data.start_s, data.end_s)
    month_start = local_midnight(args.year, args.month)
    month_end = local_midnight(args.year + args.month // 12, args.month % 12 + 1)
    month = Scope("month", month_start, month_end)
    week = Scope("week", month_start, month_start + 7 * DAY)
    day = Scope("day", month_start, month_start + DAY)
    keys = (
        [("agent-1", p.name) for p in points]
        if data.agents == ("agent-1",)
        else [(a, p.name) for a in data.agents for p in points]
    )
    args.state_dir.mkdir(parents=True, exist_ok=True)
    host = machine()
    server = sd.BenchInfluxServer(args.state_dir, free_tcp_port())
    with server:
        assert server.pid is not None
        marker = sd.ensure_loaded(server, data, reload=args.reload)
        print(f"influxd {server.url}, data {args.state_dir}; waiting for it to be idle", flush=True)
        sd.wait_idle(server.pid, quiet_s=10.0)
        reader = Reader(server.url, sd.DB, server.pid)
        results: dict[str, Any] = {}
        run_groups(reader, groups, data, (year, month, week, day), keys, args.quick, results)
        idle_rss = _Watch(server.pid).stop()[1]
    document = {
        "what": "SLA read strategies on a year of 1-minute availability data (bench/sla_probe.py)",
        "machine": host,
        "influxd": "Debian influxd 1.6.7 (agent.lab.influxdb), compact-full-write-cold-duration 1m",
        "state_dir": str(args.state_dir),
        "dataset": marker["data"],
        "load": marker["load"],
        "disk_bytes": marker.get("disk_bytes"),
        "scopes": {s.name: [s.start, s.end] for s in (year, month, week, day)},
        "influxd_rss_after_mib": round(idle_rss),
        "checks": results,
        "probes": [asdict(t) for t in reader.timings],
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(
        f"\nload: {marker['load']['points']:,} points in {marker['load']['wall_s']:.0f} s "
        f"({marker['load']['points_per_s']:,} points/s); results in {RESULTS_JSON}"
    )
    return 0


def run_groups(
    reader: Reader,
    groups: set[str],
    data: sd.DataSet,
    scopes: tuple[Scope, Scope, Scope, Scope],
    keys: Sequence[SeriesKey],
    quick: bool,
    results: dict[str, Any],
) -> None:
    year, month, week, day = scopes
    utc_offset = ZONE.utcoffset(datetime.fromtimestamp(year.start))
    offset = int(utc_offset.total_seconds()) if utc_offset is not None else 0
    step: list[tuple[str, Callable[[], None]]] = []
    unclean: dict[str, dict[SeriesKey, list[int]]] = {}

    def do_a() -> None:
        unclean.update(probe_a(reader, year, month, data.interval_s, quick))
        expected = sd.unclean_days(data, utc_offset_s=offset)
        results["a_unclean_vs_truth"] = {
            name: compare_unclean(found, expected, year if name == "year" else month)
            for name, found in unclean.items()
        }
        print(f"      a3 unclean days vs ground truth: {results['a_unclean_vs_truth']}")

    def do_d() -> None:
        if "month" not in unclean:
            unclean["month"] = unclean_from_pass(
                reader.run(
                    "a3",
                    "count,max,min per series and local day",
                    month,
                    [daily_pass('count("state"), max("state"), min("state")', month, tz=True)],
                )[1],
                data.interval_s,
            )
        probe_d(
            reader,
            month,
            unclean["month"],
            variants=(
                "or_time",
                "site_day",
                "site_day_2",
                "batched",
                "per_day",
                "per_day_2",
                "ranges",
            ),
        )
        if not quick and "year" in unclean:
            probe_d(reader, year, unclean["year"], variants=("per_day_2",))

    step.append(("a", do_a))
    step.append(("b", lambda: probe_b(reader, year, month, day, keys[0])))
    step.append(("c", lambda: probe_c(reader, year, month, week, keys, quick)))
    step.append(("d", do_d))
    step.append(
        (
            "e",
            lambda: results.update(
                {
                    "e4_timelines_vs_truth": probe_e(
                        reader, year, month, week, day, keys, data, quick
                    )
                }
            ),
        )
    )
    for name, run in step:
        if name in groups:
            run()


if __name__ == "__main__":
    sys.exit(main())
