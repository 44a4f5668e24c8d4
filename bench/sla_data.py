"""The SLA benchmark's data set: a year (or any span) of ``availability`` samples, seeded.

One series per connection point and agent, check ``ping`` only (one check per site is enough
for the SLA engine's reading speed: a site's other checks are more series of the same shape),
one sample per interval at a fixed offset within it, as the agent's scheduler polls (a stable
hash of the target's key). Tags and fields as the agent writes them (agent/availability.py,
agent/inventory/model.py ``Host.tags``), with two simplifications that keep lines short:

- ``reason`` is written only on samples that are not ok: ``"timeout"`` on a failed poll, the
  ping collector's problem text on a degraded one. (The agent writes ``reason=""`` on every
  ok sample too; a reader must not depend on either.)
- thresholds are the agent's defaults for a host in no service (``down_after = up_after =
  1``): a failed poll is ``down`` at once and a good one ``ok`` at once; ``degraded`` is a poll
  that answered with packet loss (``up=1, state=1``).

Faults, all deterministic from the seed (each drawn from a `random.Random` seeded with the
seed and the name of what it concerns, so adding a site changes nobody else's faults):

- **outages** per site: a Poisson process of `OUTAGES_PER_30D`, each 1–120 min (log-uniform);
  an outage of a host propagates, at the same time, to every point hanging off it
  (``netmon_uplink``, followed transitively): a district router's outage takes its district's
  other points and all its communes down with it;
- **degraded blips** per series: `BLIPS_PER_30D` single polls with packet loss;
- **gaps** (no sample at all): the agent down, `AGENT_GAPS_PER_30D` per agent, 10–60 min, in
  every series of that agent at once; and `SERIES_GAPS_PER_30D` per series on its own.

Precedence where faults overlap: gap > down > degraded > ok. A gap interrupts the count of
``consecutive_failures`` (the agent that comes back starts counting afresh).

The ground truth (`truth`) follows the rule the SLA engine is to apply: a sample's state
holds until the next sample, at most ``2 × interval``; after that (and before the first
sample) the state is unknown.

Speed: loading a year for 184 sites is ~97 M lines. Lines are built as bytes from
per-series pre-encoded pieces (a str path is ~4× slower: the department names are not ASCII,
so every concatenation re-encodes), and ok stretches, almost everything, are made by slicing
a pre-built list of line heads and joining with the timestamps.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import queue
import random
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.lab.influxdb import InfluxServer  # noqa: E402
from agent.lab.procfs import cpu_seconds  # noqa: E402
from agent.output.lineprotocol import escape_key  # noqa: E402

#: Bump when the generator's output changes: a kept data dir made by another version is stale.
GENERATOR_VERSION = 1

MEASUREMENT = "availability"
CHECK = "ping"

# Sample kinds, in order of precedence (the larger wins where faults overlap).
OK, DEGRADED, DOWN, GAP = 0, 1, 2, 3

OUTAGES_PER_30D = 3.0
OUTAGE_MIN_S, OUTAGE_MAX_S = 60, 7200
BLIPS_PER_30D = 8.0
AGENT_GAPS_PER_30D = 2.0
SERIES_GAPS_PER_30D = 0.5
GAP_MIN_S, GAP_MAX_S = 600, 3600

#: Distinct latency values per series, cycled: enough to look like data, few enough to build
#: every ok line head once. A prime, so that the cycle does not line up with days.
LATENCY_CYCLE = 997
DEGRADED_REASON = "loss 10.0 % > 5 %"
DAY_S = 86_400


# --- what is generated ----------------------------------------------------------------------


@dataclass(frozen=True)
class SitePoint:
    """One connection point: its host name (the ``target`` tag), inventory tags, uplink."""

    name: str
    tags: Mapping[str, str]  # site, level, department, district (as Host.tags)
    uplink: str = ""

    @classmethod
    def from_host(cls, host: Any) -> SitePoint:
        """From an `agent.inventory.model.Host`."""
        return cls(host.name, dict(host.tags), host.settings.netmon_uplink)


def lab_points(inventory_dir: Path = ROOT / "inventory" / "lab") -> list[SitePoint]:
    """The lab inventory's connection points (184), in the inventory's order."""
    from agent.collector import CollectorRegistry
    from agent.inventory.loader import load_inventory

    inventory = load_inventory(
        inventory_dir,
        CollectorRegistry.from_entry_points(),
        vault_password_file=inventory_dir / "vault-password.txt",
    )
    return [
        SitePoint.from_host(inventory.hosts[name]) for name in inventory.groups["connection_points"]
    ]


@dataclass(frozen=True)
class DataSet:
    """The generator's parameters: equal parameters make byte-identical data."""

    points: tuple[SitePoint, ...]
    start_s: int
    days: int
    interval_s: int = 60
    seed: int = 7
    agents: tuple[str, ...] = ("agent-1",)

    @property
    def end_s(self) -> int:
        return self.start_s + self.days * DAY_S

    def marker(self) -> dict[str, Any]:
        """What a kept data dir must have been made from to be reused (JSON-able)."""
        digest = hashlib.sha256()
        for p in self.points:
            digest.update(json.dumps([p.name, sorted(p.tags.items()), p.uplink]).encode())
        return {
            "generator_version": GENERATOR_VERSION,
            "measurement": MEASUREMENT,
            "check": CHECK,
            "start_s": self.start_s,
            "days": self.days,
            "interval_s": self.interval_s,
            "seed": self.seed,
            "agents": list(self.agents),
            "points": len(self.points),
            "points_sha256": digest.hexdigest(),
            "expected_points": sum(s.samples for s in plan(self).values()),
        }


@dataclass
class Series:
    """One (agent, target) series: its sample grid and its fault runs.

    Sample k is due at ``first_s + k * interval_s`` for k in ``[0, n)``; `runs` are
    ``(k1, k2, kind)``, sorted, disjoint, covering ``[0, n)`` exactly (ok runs included).
    """

    agent: str
    target: str
    head: bytes  # b"availability,<tags>" (escaped, tags sorted as InfluxDB sorts them)
    first_s: int
    interval_s: int
    n: int
    runs: list[tuple[int, int, int]]
    latencies: list[bytes] = field(repr=False)

    @property
    def samples(self) -> int:
        return sum(k2 - k1 for k1, k2, kind in self.runs if kind != GAP)

    def time(self, k: int) -> int:
        return self.first_s + k * self.interval_s


def stable_offset(key: str, interval_s: int) -> int:
    """The scheduler's offset of a target within its interval (agent.scheduler.first_offset,
    same hash of ``host/check``), floored to whole seconds: the data set is precision=s."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int(int.from_bytes(digest, "big") / 2**64 * interval_s)


def _poisson_spans(
    rng: random.Random, start: int, end: int, per_30d: float, min_s: int, max_s: int
) -> list[tuple[int, int]]:
    """Spans starting as a Poisson process of `per_30d`, lengths log-uniform in [min, max]."""
    rate = per_30d / (30 * DAY_S)
    spans = []
    t = start + rng.expovariate(rate)
    while t < end:
        length = math.exp(rng.uniform(math.log(min_s), math.log(max_s)))
        spans.append((int(t), int(t + length)))
        t += rng.expovariate(rate)
    return spans


def _rng(seed: int, *what: str) -> random.Random:
    # A str seed is hashed (SHA-512) by random.seed: stable across runs and Python versions.
    return random.Random(f"{seed}/{'/'.join(what)}")


def _outages(data: DataSet) -> dict[str, list[tuple[int, int]]]:
    """Each point's outage spans, its own and those of every host upstream of it."""
    own = {
        p.name: _poisson_spans(
            _rng(data.seed, "outage", p.name),
            data.start_s,
            data.end_s,
            OUTAGES_PER_30D,
            OUTAGE_MIN_S,
            OUTAGE_MAX_S,
        )
        for p in data.points
    }
    uplink = {p.name: p.uplink for p in data.points}
    result = {}
    for p in data.points:
        spans = list(own[p.name])
        seen = {p.name}
        up = uplink.get(p.name, "")
        while up in own and up not in seen:  # hosts outside the data set have no outages
            seen.add(up)
            spans += own[up]
            up = uplink.get(up, "")
        result[p.name] = spans
    return result


def _index_range(first_s: int, interval_s: int, n: int, t1: int, t2: int) -> range:
    """The sample indices k with t1 <= first_s + k * interval_s < t2."""
    k1 = max(0, -((first_s - t1) // interval_s))  # ceil((t1 - first_s) / interval_s)
    k2 = min(n, -((first_s - t2) // interval_s))
    return range(k1, max(k1, k2))


def _latencies(rng: random.Random, level: str) -> list[bytes]:
    base = {"province": 0.004, "district": 0.012, "commune": 0.025}.get(level, 0.008)
    base *= rng.uniform(0.7, 1.5)
    return [
        repr(round(base * rng.lognormvariate(0, 0.25), 5)).encode() for _ in range(LATENCY_CYCLE)
    ]


def _series_head(agent: str, point: SitePoint) -> bytes:
    tags = {**point.tags, "agent": agent, "check": CHECK, "target": point.name}
    text = ",".join(f"{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v)
    return f"{MEASUREMENT},{text}".encode()


def plan(data: DataSet) -> dict[tuple[str, str], Series]:
    """Every series with its fault runs, keyed by (agent, target). Cheap: ~1 s for a year."""
    outages = _outages(data)
    interval = data.interval_s
    agent_gaps = {
        a: _poisson_spans(
            _rng(data.seed, "agent-gap", a),
            data.start_s,
            data.end_s,
            AGENT_GAPS_PER_30D,
            GAP_MIN_S,
            GAP_MAX_S,
        )
        for a in data.agents
    }
    out: dict[tuple[str, str], Series] = {}
    for agent in data.agents:
        for point in data.points:
            first = data.start_s + stable_offset(f"{point.name}/{CHECK}", interval)
            n = -((first - data.end_s) // interval)
            rng = _rng(data.seed, "series", agent, point.name)
            kinds: dict[int, int] = {}

            def paint(ks: Iterable[int], kind: int, kinds: dict[int, int] = kinds) -> None:
                for k in ks:
                    if kinds.get(k, OK) < kind:
                        kinds[k] = kind

            for _ in range(_poisson_count(rng, BLIPS_PER_30D * data.days / 30)):
                paint([rng.randrange(n)], DEGRADED)
            for t1, t2 in outages[point.name]:
                paint(_index_range(first, interval, n, t1, t2), DOWN)
            gaps = agent_gaps[agent] + _poisson_spans(
                rng, data.start_s, data.end_s, SERIES_GAPS_PER_30D, GAP_MIN_S, GAP_MAX_S
            )
            for t1, t2 in gaps:
                paint(_index_range(first, interval, n, t1, t2), GAP)
            out[(agent, point.name)] = Series(
                agent=agent,
                target=point.name,
                head=_series_head(agent, point),
                first_s=first,
                interval_s=interval,
                n=n,
                runs=_runs(kinds, n),
                latencies=_latencies(rng, point.tags.get("level", "")),
            )
    return out


def _poisson_count(rng: random.Random, mean: float) -> int:
    # Knuth's method is fine for the small means here (a year of blips: ~100).
    count, t = 0, rng.expovariate(1.0)
    while t < mean:
        count += 1
        t += rng.expovariate(1.0)
    return count


def _runs(kinds: Mapping[int, int], n: int) -> list[tuple[int, int, int]]:
    runs: list[tuple[int, int, int]] = []
    cursor = 0
    for k in sorted(kinds):
        kind = kinds[k]
        if k > cursor:
            runs.append((cursor, k, OK))
        if runs and runs[-1][1] == k and runs[-1][2] == kind:
            runs[-1] = (runs[-1][0], k + 1, kind)
        else:
            runs.append((k, k + 1, kind))
        cursor = k + 1
    if cursor < n:
        runs.append((cursor, n, OK))
    return runs


# --- lines ----------------------------------------------------------------------------------


class _Lines:
    """Line protocol of one series, for any index range; built once per series."""

    def __init__(self, series: Series) -> None:
        self.series = series
        head = series.head
        lat = series.latencies
        # Enough ok heads to slice any day's stretch out of, starting anywhere in the cycle.
        per_day = DAY_S // series.interval_s + 1
        reps = (per_day + LATENCY_CYCLE) // LATENCY_CYCLE + 1
        ok = [head + b" consecutive_failures=0i,latency_s=" + v + b",state=0i,up=1i " for v in lat]
        self.ok_heads = ok * reps
        self.degraded_heads = [
            head
            + b" consecutive_failures=0i,latency_s="
            + v
            + b',reason="'
            + DEGRADED_REASON.encode()
            + b'",state=1i,up=1i '
            for v in lat
        ]
        self.down_head = head + b" consecutive_failures="
        self.down_tail = b'i,reason="timeout",state=2i,up=0i '

    def block(self, k1: int, k2: int) -> tuple[bytes, int]:
        """Lines of samples k1 <= k < k2 (no trailing newline), and how many there are."""
        s = self.series
        parts: list[bytes] = []
        count = 0
        for r1, r2, kind in s.runs:
            if r2 <= k1:
                continue
            if r1 >= k2:
                break
            a, b = max(r1, k1), min(r2, k2)
            if kind == GAP:
                continue
            count += b - a
            stamps = map(str.encode, map(str, range(s.time(a), s.time(b), s.interval_s)))
            if kind == OK:
                # Slices of at most a day: chunks never exceed one (see `generate`).
                start = a % LATENCY_CYCLE
                heads = self.ok_heads[start : start + (b - a)]
                parts.append(b"\n".join(map(bytes.__add__, heads, stamps)))
            elif kind == DEGRADED:
                parts.append(
                    b"\n".join(
                        self.degraded_heads[k % LATENCY_CYCLE] + t
                        for k, t in zip(range(a, b), stamps, strict=True)
                    )
                )
            else:  # DOWN: consecutive_failures counts from the run's first failed poll
                parts.append(
                    b"\n".join(
                        b"%s%d%s%s" % (self.down_head, k - r1 + 1, self.down_tail, t)
                        for k, t in zip(range(a, b), stamps, strict=True)
                    )
                )
        return b"\n".join(parts), count


# Set in each worker process (and in the main process when there is no pool).
_WORKER_LINES: list[_Lines] = []


def _init_worker(series: list[Series]) -> None:
    _WORKER_LINES[:] = [_Lines(s) for s in series]


def _chunk_batches(chunk: tuple[int, int, int]) -> list[tuple[bytes, int]]:
    """Batches of line protocol for every series over [t1, t2), about `batch_lines` each."""
    t1, t2, batch_lines = chunk
    batches: list[tuple[bytes, int]] = []
    parts: list[bytes] = []
    count = 0
    for lines in _WORKER_LINES:
        s = lines.series
        ks = _index_range(s.first_s, s.interval_s, s.n, t1, t2)
        block, n = lines.block(ks.start, ks.stop)
        if n:
            parts.append(block)
            count += n
        if count >= batch_lines:
            batches.append((b"\n".join(parts) + b"\n", count))
            parts, count = [], 0
    if count:
        batches.append((b"\n".join(parts) + b"\n", count))
    return batches


def generate(
    points: Sequence[SitePoint],
    start_s: int,
    days: int,
    interval_s: int = 60,
    seed: int = 7,
    agents: Sequence[str] = ("agent-1",),
    *,
    batch_lines: int = 8000,
    workers: int = 1,
) -> Iterator[bytes]:
    """Line-protocol batches (precision s) of the data set, in time order, one day at a time.

    Each batch holds whole series-days (1,440 lines at 60 s), about `batch_lines` lines.
    With `workers` > 1 the days are made in a process pool (in order). One is enough: the
    generator makes ~2.3 M lines/s on one core, influxd takes ~0.27 M/s on two (`load`).
    """
    data = DataSet(tuple(points), start_s, days, interval_s, seed, tuple(agents))
    for batch, _count in generate_counted(data, batch_lines=batch_lines, workers=workers):
        yield batch


def generate_counted(
    data: DataSet, *, batch_lines: int = 8000, workers: int = 1
) -> Iterator[tuple[bytes, int]]:
    """As `generate`, with each batch's line count."""
    series = list(plan(data).values())
    # Chunks of one day in time order: InfluxDB fills one shard (7 days) at a time, so its
    # cache stays small and cold shards compact while later ones are written.
    chunks = [
        (t, min(t + DAY_S, data.end_s), batch_lines) for t in range(data.start_s, data.end_s, DAY_S)
    ]
    if workers <= 1:
        _init_worker(series)
        for chunk in chunks:
            yield from _chunk_batches(chunk)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with context.Pool(workers, initializer=_init_worker, initargs=(series,)) as pool:
        for batches in pool.imap(_chunk_batches, chunks):
            yield from batches


# --- ground truth ---------------------------------------------------------------------------

#: A segment's state: the agent's state integer (OK, DEGRADED, DOWN) or None (unknown).
Segment = tuple[int, int, int | None]


def segments(series: Series, start_s: int, end_s: int) -> list[Segment]:
    """The exact timeline of a series over [start_s, end_s) under the hold rule: a sample's
    state holds until the next sample, at most 2 × interval; unknown where nothing holds."""
    hold_max = 2 * series.interval_s
    out: list[Segment] = []

    def add(a: int, b: int, state: int | None) -> None:
        a, b = max(a, start_s), min(b, end_s)
        if b <= a:
            return
        if out and out[-1][1] == a and out[-1][2] == state:
            out[-1] = (out[-1][0], b, state)
        else:
            out.append((a, b, state))

    runs = series.runs
    first_present = next((r[0] for r in runs if r[2] != GAP), None)
    if first_present is None:
        return [(start_s, end_s, None)]
    add(start_s, series.time(first_present), None)
    for i, (k1, k2, kind) in enumerate(runs):
        if kind == GAP:
            continue
        last = series.time(k2 - 1)
        if i + 1 < len(runs) and runs[i + 1][2] == GAP:
            g2 = runs[i + 1][1]
            following = series.time(g2) if g2 < series.n else end_s
        else:
            following = series.time(k2) if k2 < series.n else end_s
        held = min(following, last + hold_max)
        add(series.time(k1), held, kind)
        add(held, following, None)
    return out


@dataclass(frozen=True)
class SeriesTruth:
    """What the SLA engine must find for one series over the data set's span."""

    agent: str
    target: str
    samples: int
    ok_s: int
    degraded_s: int
    down_s: int
    unknown_s: int
    down_samples: int
    degraded_samples: int
    outages: int  # down runs (a gap splits one)
    gaps: int  # runs without samples (the lead-in before the first sample not counted)
    transitions: int  # changes of state between consecutive segments, unknown included

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def truth(data: DataSet) -> dict[tuple[str, str], SeriesTruth]:
    """The ground truth of every series, keyed by (agent, target)."""
    result = {}
    for key, s in plan(data).items():
        segs = segments(s, data.start_s, data.end_s)
        seconds = {OK: 0, DEGRADED: 0, DOWN: 0, None: 0}
        for a, b, state in segs:
            seconds[state] += b - a
        result[key] = SeriesTruth(
            agent=s.agent,
            target=s.target,
            samples=s.samples,
            ok_s=seconds[OK],
            degraded_s=seconds[DEGRADED],
            down_s=seconds[DOWN],
            unknown_s=seconds[None],
            down_samples=sum(k2 - k1 for k1, k2, kind in s.runs if kind == DOWN),
            degraded_samples=sum(k2 - k1 for k1, k2, kind in s.runs if kind == DEGRADED),
            outages=sum(1 for r in s.runs if r[2] == DOWN),
            gaps=sum(1 for r in s.runs if r[2] == GAP),
            transitions=len(segs) - 1,
        )
    return result


def unclean_days(data: DataSet, utc_offset_s: int = 0) -> dict[tuple[str, str], list[int]]:
    """Per series, the days that hold any sample other than ok, or fewer samples than a full
    day: what a "clean days" pass (count and max per day) must flag. Days start at midnight
    of the zone `utc_offset_s` east of UTC (GROUP BY time(1d) makes UTC days unless given
    ``tz(...)``). Listed by their start (Unix seconds). For checking a reader."""
    result = {}
    for key, s in plan(data).items():
        days: set[int] = set()
        for k1, k2, kind in s.runs:
            if kind == OK:
                continue
            first = s.time(k1) - (s.time(k1) + utc_offset_s) % DAY_S
            days.update(range(first, s.time(k2 - 1) + 1, DAY_S))
        result[key] = sorted(days)
    return result


# --- loading --------------------------------------------------------------------------------


@dataclass
class LoadReport:
    points: int = 0
    batches: int = 0
    bytes: int = 0
    retries: int = 0
    wall_s: float = 0.0

    @property
    def points_per_s(self) -> float:
        return self.points / self.wall_s if self.wall_s else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "points_per_s": round(self.points_per_s)}


class LoadError(RuntimeError):
    pass


def load(
    url: str,
    db: str,
    batches: Iterable[bytes | tuple[bytes, int]],
    *,
    writers: int = 2,
    retries: int = 5,
    progress: Callable[[LoadReport], None] | None = None,
    progress_every_s: float = 10.0,
) -> LoadReport:
    """POST every batch to ``/write?db=<db>&precision=s``; returns the totals and points/s.

    `writers` threads post while the caller's iterator makes the next batches: influxd parses
    one batch while Python builds the next (httpx releases the GIL in socket I/O). A failed
    batch is retried up to `retries` times with back-off (influxd answers 5xx or times out
    while a cache snapshot blocks writes); 4xx is a bug in the lines and stops the load.
    A batch given as (bytes, count) is counted as `count` points, otherwise its lines are.
    """
    report = LoadReport()
    work: queue.Queue[tuple[bytes, int] | None] = queue.Queue(maxsize=writers * 2)
    failure: list[BaseException] = []
    lock = threading.Lock()
    params = {"db": db, "precision": "s"}

    def writer() -> None:
        with httpx.Client(base_url=url, timeout=120.0) as client:
            while (item := work.get()) is not None:
                if failure:
                    continue  # drain: the load has failed
                body, count = item
                try:
                    tries = _post(client, params, body, retries)
                except BaseException as exc:
                    failure.append(exc)
                    continue
                with lock:
                    report.points += count
                    report.batches += 1
                    report.bytes += len(body)
                    report.retries += tries

    threads = [threading.Thread(target=writer, daemon=True) for _ in range(writers)]
    for thread in threads:
        thread.start()
    started = last = time.monotonic()
    try:
        for batch in batches:
            item = batch if isinstance(batch, tuple) else (batch, batch.count(b"\n"))
            work.put(item)
            if failure:
                break
            now = time.monotonic()
            if progress is not None and now - last >= progress_every_s:
                last = now
                report.wall_s = now - started
                progress(report)
    finally:
        for _ in threads:
            work.put(None)
        for thread in threads:
            thread.join()
        report.wall_s = time.monotonic() - started
    if failure:
        raise LoadError(f"load failed after {report.points:,} points: {failure[0]}") from failure[0]
    return report


def _post(client: httpx.Client, params: Mapping[str, str], body: bytes, retries: int) -> int:
    """POST one batch; returns how many retries it took."""
    for attempt in range(retries + 1):
        try:
            response = client.post("/write", params=params, content=body)
        except httpx.TransportError as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 204:
                return attempt
            error = f"HTTP {response.status_code}: {response.text[:300]}"
            if 400 <= response.status_code < 500:
                raise LoadError(f"influxd refused a batch ({error})")
        if attempt < retries:
            time.sleep(min(0.5 * 2**attempt, 10.0))
    raise LoadError(f"a batch failed {retries + 1} times; last: {error}")


# --- a kept server --------------------------------------------------------------------------

#: Where the benchmark keeps its influxd (data reused across runs) and the database's name.
BENCH_DIR = Path("/tmp/netmon-sla-bench")
STATE_DIR = BENCH_DIR / "influxd"
DB = "netmon_sla"
MARKER = "sla-dataset.json"
#: Below this much free space on the state dir's file system the load does not start.
MIN_FREE_BYTES = 5 * 1024**3


class BenchInfluxServer(InfluxServer):
    """The lab's InfluxServer, with cold shards compacted within a minute instead of 4 hours.

    A year of production data is 52 cold, fully compacted shards (one file each) and one hot
    one; a freshly bulk-loaded store would instead be read from many small level-1/2 TSM files
    until influxd's default 4 h ``compact-full-write-cold-duration`` passed. Reading speed is
    measured on the production shape, so the cold durations are shortened here.
    """

    def config_text(self, rpc_port: int) -> str:
        text = super().config_text(rpc_port)
        extra = (
            '  compact-full-write-cold-duration = "1m"\n'
            '  cache-snapshot-write-cold-duration = "30s"\n'
        )
        return text.replace("[data]\n", "[data]\n" + extra, 1)


def tsm_files(state_dir: Path, db: str = DB) -> dict[str, int]:
    """TSM files per shard (shard id → count): 1 each once everything is fully compacted."""
    shards = state_dir / "data" / db / "autogen"
    if not shards.is_dir():
        return {}
    return {d.name: len(list(d.glob("*.tsm"))) for d in sorted(shards.iterdir()) if d.is_dir()}


def wait_idle(
    pid: int, *, quiet_s: float = 20.0, cores: float = 0.05, timeout_s: float = 1800.0
) -> float:
    """Wait until `pid` has used under `cores` of CPU for `quiet_s` in a row (influxd done
    compacting); returns the seconds waited."""
    started = time.monotonic()
    quiet_since = started
    last_cpu, last_t = cpu_seconds(pid), started
    while time.monotonic() - started < timeout_s:
        time.sleep(2.0)
        cpu, now = cpu_seconds(pid), time.monotonic()
        if (cpu - last_cpu) / (now - last_t) > cores:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            break
        last_cpu, last_t = cpu, now
    return time.monotonic() - started


def read_marker(state_dir: Path) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads((state_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return loaded


def ensure_loaded(
    server: InfluxServer,
    data: DataSet,
    db: str = DB,
    *,
    reload: bool = False,
    workers: int = 1,
    writers: int = 2,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The data set in `db` of the running `server`, loaded now unless its state dir's marker
    says it already holds exactly this data set (same generator version, parameters, seed,
    points). Returns the marker: parameters, and the load's figures (of the run that loaded).

    The marker is written only once the load is complete and influxd has compacted, so an
    interrupted load is never reused.
    """
    wanted = data.marker()
    marker_path = server.state_dir / MARKER
    kept = read_marker(server.state_dir)
    if not reload and kept is not None and kept.get("db") == db and kept.get("data") == wanted:
        log(f"reusing {server.state_dir} (marker {marker_path} matches)")
        return kept
    marker_path.unlink(missing_ok=True)
    free = shutil.disk_usage(server.state_dir).free
    if free < MIN_FREE_BYTES:
        raise LoadError(
            f"only {free / 1024**3:.1f} GB free on the file system of {server.state_dir}; the "
            f"load needs at least {MIN_FREE_BYTES / 1024**3:.0f} GB (WAL and TSM while it runs)"
        )
    server.drop_database(db)  # whatever an earlier, different or unfinished load left
    server.create_database(db)
    log(
        f"loading {wanted['expected_points']:,} points into {db} at {server.url} "
        f"({free / 1024**3:.0f} GB free)"
    )
    assert server.pid is not None
    cpu0, py0 = cpu_seconds(server.pid), time.process_time()

    def progress(r: LoadReport) -> None:
        log(f"  {r.points:,} points in {r.wall_s:.0f} s ({r.points_per_s:,.0f}/s)")

    report = load(
        server.url,
        db,
        generate_counted(data, workers=workers),
        writers=writers,
        progress=progress,
        progress_every_s=30.0,
    )
    influxd_cpu = cpu_seconds(server.pid) - cpu0
    python_cpu = time.process_time() - py0
    if report.points != wanted["expected_points"]:
        raise LoadError(f"wrote {report.points:,} points, expected {wanted['expected_points']:,}")
    log(
        f"loaded in {report.wall_s:.0f} s ({report.points_per_s:,.0f} points/s); "
        "waiting for influxd to compact"
    )
    # The cold shards compact 1 min after their last write (BenchInfluxServer); the last one
    # only once its cache is snapshotted (30 s) and it has been cold for a minute.
    time.sleep(100.0)
    compact_s = 100.0 + wait_idle(server.pid)
    marker = {
        "db": db,
        "data": wanted,
        "load": {
            **report.as_dict(),
            "influxd_cpu_s": round(cpu_seconds(server.pid) - cpu0, 1),
            "influxd_cpu_s_during_load": round(influxd_cpu, 1),
            "python_cpu_s_during_load": round(python_cpu, 1),
            "compaction_wait_s": round(compact_s, 1),
            "writers": writers,
            "workers": workers,
        },
        "disk_bytes": _du(server.state_dir),
        "tsm_files_per_shard": tsm_files(server.state_dir, db),
        "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    marker_path.write_text(json.dumps(marker, indent=1) + "\n")
    return marker


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
