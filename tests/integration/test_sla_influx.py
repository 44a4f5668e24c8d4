"""The SLA engine reading a real InfluxDB: the same answers as from memory, LLDP neighbours
found in stored `lldp` rows, `sla` samples written back, and no secret in an error."""

from __future__ import annotations

import httpx
import pytest

from agent.lab.influxdb import InfluxServer
from agent.output.lineprotocol import serialize
from agent.samples import Sample
from agent.secret import Secret
from agent.settings import InfluxSettings
from agent.sla.engine import SlaEngine
from agent.sla.history import Observation
from agent.sla.influx import InfluxClient, InfluxHistory, InfluxQueryError
from agent.sla.writeback import sla_samples
from tests.fixtures_influx import ADMIN_USER
from tests.sla_world import DOWN, OK, Polls, local, province, span
from tests.unit.test_sla_engine import AllDay

pytestmark = pytest.mark.influxdb


def _line(obs: Observation) -> str:
    tags = {"check": obs.check, "target": obs.target, "agent": obs.agent}
    if obs.service:
        tags["service"] = obs.service
    fields: dict[str, bool | int | float | str] = {"state": obs.state, "up": int(obs.state != DOWN)}
    if obs.reason:
        fields["reason"] = obs.reason
    sample = Sample("availability", tags, fields, obs.time * 1_000_000_000)
    line = serialize(sample)
    assert line is not None
    return line


def _store(server: InfluxServer, db: str, lines: list[str]) -> None:
    response = httpx.post(f"{server.url}/write", params={"db": db}, content="\n".join(lines))
    assert response.status_code == 204, response.text


def _polls() -> Polls:
    polls = Polls()
    for host in ("p-core", "d-rt", "c-cpe", "c2-cpe"):
        polls.every(host, "2026-10-05 13:00", "2026-10-05 14:00", OK)
        polls.every(host, "2026-10-05 14:40", "2026-10-05 16:00", OK)
    polls.every("d-rt", "2026-10-05 14:00", "2026-10-05 14:30", DOWN)
    polls.every("d-rt", "2026-10-05 14:30", "2026-10-05 14:40", OK)
    polls.every("c-cpe", "2026-10-05 14:00", "2026-10-05 14:40", DOWN)
    polls.every("c2-cpe", "2026-10-05 14:00", "2026-10-05 14:40", DOWN)
    polls.every("p-core", "2026-10-05 14:00", "2026-10-05 14:20", OK)  # then a gap to 14:40
    polls.every("p-core", "2026-10-05 14:00", "2026-10-05 14:40", DOWN, agent="agent-2")
    return polls


def test_influx_history_gives_the_same_subjects_as_memory(
    influx_server: InfluxServer, influx_db: str
) -> None:
    polls = _polls()
    polls.history.lldp = {"c2-cpe": frozenset({"d-rt"})}
    _store(influx_server, influx_db, [_line(o) for o in polls.history.observations])
    # c2-cpe has no netmon_uplink: its LLDP row names d-rt (the `neighbour` tag, issue 6).
    lldp = Sample(
        "lldp",
        {"source": "c2-cpe", "neighbour": "d-rt", "lldpRemLocalPortNum": "1"},
        {"lldpRemSysName": "d-rt.tslcd.local"},
        local("2026-10-05 13:30") * 1_000_000_000,
    )
    _store(influx_server, influx_db, [serialize(lldp) or ""])
    period = span("2026-10-05 13:00", "2026-10-05 16:00")
    settings = InfluxSettings(url=influx_server.url, database=influx_db)
    with InfluxClient(settings) as client:
        history = InfluxHistory(client, lookback_s=120)
        assert history.neighbours(period) == {"c2-cpe": frozenset({"d-rt"})}
        from_influx = SlaEngine(province(), history, AllDay()).compute(period)
    from_memory = SlaEngine(province(), polls.history, AllDay()).compute(period)
    assert from_influx == from_memory
    by_id = {s.id: s for s in from_influx}
    assert by_id["c2-cpe"].tally.upstream_s == 1_800  # attributed through LLDP
    # p-core: agent-2 saw it down 14:00–14:40, agent-1 up until its gap (its 14:19 sample
    # holds until 14:21), then only agent-2 knows: down 14:21–14:40 = 1,140 s.
    assert by_id["p-core"].tally.down_s == 1_140
    # d-rt is down 14:00–14:30, but from 14:21 its own uplink p-core is down: 1,260 s are
    # its own, 540 s upstream.
    assert (by_id["d-rt"].tally.down_s, by_id["d-rt"].tally.upstream_s) == (1_260, 540)


def test_sla_samples_are_written_back_and_read_by_influxql(
    influx_server: InfluxServer, influx_db: str
) -> None:
    polls = _polls()
    period = span("2026-10-05 13:00", "2026-10-05 16:00")
    subjects = SlaEngine(province(), polls.history, AllDay()).compute(period)
    samples = sla_samples(subjects, "2026-10-05", period.start, province())
    lines = [serialize(s) or "" for s in samples]
    settings = InfluxSettings(url=influx_server.url, database=influx_db)
    with InfluxClient(settings) as client:
        client.write([f"{line.rpartition(' ')[0]} {period.start}" for line in lines])
    rows = influx_server.rows(
        'SELECT "downtime_s", "upstream_s", "availability_pct" FROM "sla" '
        'WHERE "period" = \'2026-10-05\' GROUP BY "site"',
        influx_db,
    )
    by_site = {row["site"]: row for row in rows}
    assert by_site["D-RT"]["downtime_s"] == 1_260
    assert by_site["C-CPE"]["upstream_s"] == 1_800
    assert by_site["C-CPE"]["availability_pct"] == pytest.approx(100 * 8_400 / 9_000)
    assert {row["time"] for row in rows} == {period.start * 1_000_000_000}


def test_a_refused_query_names_no_secret(influx_auth_server: InfluxServer) -> None:
    password = Secret("Wrong-" + "x7Q2" * 5)
    settings = InfluxSettings(
        url=influx_auth_server.url,
        database="netmon",
        username=ADMIN_USER,
        password=password.reveal(),
    )
    with InfluxClient(settings) as client, pytest.raises(InfluxQueryError) as caught:
        list(client.series('SELECT "state" FROM "availability"'))
    assert "401" in str(caught.value)
    assert password.reveal() not in str(caught.value)
    assert password.reveal() not in repr(caught.value)


def test_day_digests_give_the_same_timelines_as_every_sample(
    influx_server: InfluxServer, influx_db: str
) -> None:
    """Four days: the 2nd clean for everyone, the 3rd with an outage, a data gap across the
    4th's midnight; the range starts and ends mid-day. Read sample by sample, then with the
    settled days' digests computed and stored, then from the stored digests: identical."""
    polls = Polls()
    for host in ("p-core", "d-rt", "c-cpe", "c2-cpe"):
        polls.every(host, "2026-10-04 12:00", "2026-10-06 09:00", OK)
        polls.every(host, "2026-10-06 10:00", "2026-10-06 23:50", OK)
        polls.every(host, "2026-10-07 00:30", "2026-10-08 12:00", OK)
    polls.every("d-rt", "2026-10-06 09:00", "2026-10-06 10:00", DOWN)
    polls.every("c-cpe", "2026-10-06 09:00", "2026-10-06 10:00", DOWN, reason="timeout, twice")
    polls.every("p-core", "2026-10-06 09:00", "2026-10-06 10:00", OK)
    polls.every("c2-cpe", "2026-10-06 09:00", "2026-10-06 10:00", OK)
    _store(influx_server, influx_db, [_line(o) for o in polls.history.observations])
    period = span("2026-10-04 18:00", "2026-10-08 06:00")
    settings = InfluxSettings(url=influx_server.url, database=influx_db)
    now = local("2026-11-22 12:00")
    with InfluxClient(settings) as client:
        slow = InfluxHistory(client, 120, digests=False).timelines(period, lambda t: 120)
        first = InfluxHistory(client, 120, now=now)
        computed = first.timelines(period, lambda t: 120)
        second = InfluxHistory(client, 120, now=now)
        from_digests = second.timelines(period, lambda t: 120)
    # Whole UTC days in the range (+07:00): 5 and 6 October; the rest is partial days.
    assert (first.days_computed, first.days_stored, first.days_from_digests) == (2, 2, 0)
    assert (second.days_computed, second.days_from_digests) == (0, 2)
    assert computed == slow
    assert from_digests == slow
    stored = influx_server.rows('SELECT count("segments") FROM "availability_day"', influx_db)
    assert stored[0]["count"] == 2 * 4 + 2  # two whole UTC days × four series, + day markers
    c_cpe = next(k for k in slow if k.target == "c-cpe")
    assert any(s.cause == "timeout, twice" for s in from_digests[c_cpe])
    # The gap 23:50–00:30 across the night of the 6th (local): 23:49 holds until 23:51.
    unknown = [s.seconds for s in from_digests[c_cpe] if s.state.value == "unknown"]
    assert sum(unknown) == 2_340

    # A store that failed half way leaves days without their marker: computed again.
    influx_server.query(
        'DELETE FROM "availability_day" WHERE "check" = \'_day_complete\'', influx_db
    )
    with InfluxClient(settings) as client:
        third = InfluxHistory(client, 120, now=now)
        again = third.timelines(period, lambda t: 120)
    assert (third.days_computed, third.days_from_digests, third.days_stored) == (2, 0, 2)
    assert again == slow


def test_a_day_too_recent_to_be_settled_is_computed_every_time(
    influx_server: InfluxServer, influx_db: str
) -> None:
    polls = Polls()
    polls.every("d-rt", "2026-10-04 00:00", "2026-10-08 00:00", OK)
    _store(influx_server, influx_db, [_line(o) for o in polls.history.observations])
    settings = InfluxSettings(url=influx_server.url, database=influx_db)
    with InfluxClient(settings) as client:
        history = InfluxHistory(client, 120, now=local("2026-10-09 00:00"))
        history.timelines(span("2026-10-04 00:00", "2026-10-08 00:00"), lambda t: 120)
    # Three whole UTC days inside the range; none ended 8 days before "now".
    assert (history.days_computed, history.days_stored) == (3, 0)
