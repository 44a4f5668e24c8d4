"""The alert rules the lab's fault plan never triggers, on crafted data in a real influxd:
an agent that went silent, a spool that grows, an interface that counts errors — and their
healthy counterparts, which must not fire."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent.dashboards.evaluate import RuleResult, evaluate_rule
from agent.dashboards.rules import alert_rules
from agent.lab.influxdb import InfluxServer
from agent.settings import InfluxSettings
from agent.sla.influx import InfluxClient
from tests.fixtures_influx import influx_db, influx_server

pytestmark = pytest.mark.influxdb
__all__ = ["influx_db", "influx_server"]


def _write(server: InfluxServer, db: str, lines: list[str]) -> None:
    response = httpx.post(
        f"{server.url}/write", params={"db": db, "precision": "s"}, content="\n".join(lines)
    )
    assert response.status_code == 204, response.text


@pytest.fixture
def client(influx_server: InfluxServer, influx_db: str) -> Iterator[InfluxClient]:
    with InfluxClient(InfluxSettings(url=influx_server.url, database=influx_db)) as c:
        yield c


def _evaluate(client: InfluxClient, uid: str) -> RuleResult:
    [group] = alert_rules("netmon-influxdb")["groups"]
    [rule] = [r for r in group["rules"] if r["uid"] == uid]
    return evaluate_rule(client, rule)


def _agent_reports(agent: str, start: int, end: int, spool: Any = 0) -> list[str]:
    """One netmon_agent sample every 10 s in [start, end); `spool(t)` gives spool_samples."""
    lines = []
    for n, t in enumerate(range(start, end, 10)):
        queued = spool(t) if callable(spool) else spool
        lines.append(
            f"netmon_agent,agent={agent} polls={n * 50}i,poll_errors=0i,"
            f"spool_samples={queued}i,spool_bytes={queued * 100}i {t}"
        )
    return lines


def test_agent_silent_fires_for_the_agent_that_stopped_and_not_for_the_one_that_runs(
    influx_server: InfluxServer, influx_db: str, client: InfluxClient
) -> None:
    now = int(time.time())
    _write(influx_server, influx_db, _agent_reports("dc1-agent", now - 1800, now))
    _write(influx_server, influx_db, _agent_reports("dc2-agent", now - 1800, now - 600))
    result = _evaluate(client, "tslcd-agent-silent")
    assert {i.labels["agent"]: i.firing for i in result.instances} == {
        "dc1-agent": False,
        "dc2-agent": True,
    }


def test_spool_growing_fires_while_writes_fail_and_not_while_it_drains(
    influx_server: InfluxServer, influx_db: str, client: InfluxClient
) -> None:
    now = int(time.time())
    start = now - 900
    growing = _agent_reports("stuck", start, now, spool=lambda t: (t - start) * 20)
    draining = _agent_reports(
        "drains", start, now, spool=lambda t: max(0, 18000 - (t - start) * 20)
    )
    _write(influx_server, influx_db, growing + draining)
    result = _evaluate(client, "tslcd-spool-growing")
    assert {i.labels["agent"]: i.firing for i in result.instances} == {
        "stuck": True,
        "drains": False,
    }


def test_interface_errors_fire_on_a_rising_error_counter_only(
    influx_server: InfluxServer, influx_db: str, client: InfluxClient
) -> None:
    now = int(time.time()) // 60 * 60
    lines = []
    for minute in range(15):
        t = now - 900 + minute * 60
        lines.append(
            f"interface,source=rt1,ifName=Gi0/1,site=S1 ifInErrors={minute * 30}i,"
            f"ifOutErrors=0i {t}"
        )
        lines.append(f"interface,source=rt1,ifName=Gi0/2,site=S1 ifInErrors=7i,ifOutErrors=0i {t}")
    _write(influx_server, influx_db, lines)
    result = _evaluate(client, "tslcd-interface-errors")
    assert {i.labels["ifName"]: i.firing for i in result.instances} == {
        "Gi0/1": True,
        "Gi0/2": False,
    }
    [rising] = [i for i in result.instances if i.labels["ifName"] == "Gi0/1"]
    assert rising.value == pytest.approx(30.0)
