"""Grafana's interpolation of InfluxQL queries and the alert pipeline, on a fake query runner."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from agent.dashboards.evaluate import evaluate_rule, interpolate, interval_of, reduce
from agent.dashboards.rules import alert_rules


def test_all_becomes_dot_star_and_several_values_an_escaped_alternation() -> None:
    query = (
        'SELECT 1 FROM "a" WHERE "site" =~ /^$site$/ AND "level" =~ /^${level}$/ AND $timeFilter'
    )
    assert interpolate(query, {"site": ["X-A.B", "X-C"], "level": ".*"}, range_s=600) == (
        'SELECT 1 FROM "a" WHERE "site" =~ /^(X\\-A\\.B|X\\-C)$/ AND "level" =~ /^.*$/ '
        "AND time >= now() - 600s"
    )


def test_one_value_is_escaped_in_a_regex_and_plain_outside() -> None:
    query = """SELECT 1 FROM "a" WHERE "site" =~ /^$site$/ AND "x" = '$site'"""
    assert interpolate(query, {"site": ["A+1"]}, range_s=60) == (
        """SELECT 1 FROM "a" WHERE "site" =~ /^A\\+1$/ AND "x" = 'A+1'"""
    )


def test_interval_follows_the_range_and_never_goes_under_the_poll_interval() -> None:
    assert interval_of(3600) == "60s"
    assert interval_of(7 * 86400) == "605s"
    query = 'SELECT mean("up") FROM "a" WHERE $timeFilter GROUP BY time($__interval)'
    assert interpolate(query, {}, range_s=86400, to_s=300).endswith(
        "time >= now() - 86400s and time <= now() - 300s GROUP BY time(87s)"
    )


def test_a_variable_without_a_value_is_an_error_not_a_silent_blank() -> None:
    with pytest.raises(KeyError, match=r"\$district"):
        interpolate('SELECT 1 FROM "a" WHERE "district" =~ /^$district$/', {}, range_s=60)


def test_reducers() -> None:
    assert reduce("last", [1.0, 3.0, 2.0]) == 2.0
    assert reduce("mean", [1.0, 3.0, 2.0]) == 2.0
    assert reduce("max", [1.0, 3.0]) == 3.0
    assert reduce("last", []) is None


class FakeInflux:
    """The one I/O seam of the evaluator: answers blocks for a statement."""

    def __init__(self, blocks: list[tuple[dict[str, str], list[str], list[list[Any]]]]) -> None:
        self._blocks = blocks
        self.statements: list[str] = []

    def blocks(
        self, statement: str
    ) -> Iterator[tuple[Mapping[str, str], list[str], list[list[Any]]]]:
        self.statements.append(statement)
        yield from self._blocks


def _rule(uid: str) -> dict[str, Any]:
    [group] = alert_rules("ds")["groups"]
    [rule] = [r for r in group["rules"] if r["uid"] == uid]
    return rule


def test_site_down_fires_per_site_on_the_last_value_only() -> None:
    cols = ["time", "state"]
    fake = FakeInflux([
        ({"site": "A"}, cols, [[1, 0], [2, 2]]),
        ({"site": "B"}, cols, [[1, 2], [2, 0]]),
        ({"site": "C"}, cols, [[1, 2], [2, None]]),  # nulls dropped: 2 is the last number
    ])  # fmt: skip
    result = evaluate_rule(fake, _rule("tslcd-site-down"))
    assert sorted(i.labels["site"] for i in result.firing) == ["A", "C"]
    assert "time >= now() - 300s" in fake.statements[0]
    assert "$" not in fake.statements[0]


def test_a_split_series_is_joined_before_it_is_reduced() -> None:
    cols = ["time", "days"]
    fake = FakeInflux([({"server": "s"}, cols, [[1, 5.0]]), ({"server": "s"}, cols, [[2, 40.0]])])
    result = evaluate_rule(fake, _rule("tslcd-certificate-expiring"))
    assert [(i.value, i.firing) for i in result.instances] == [(40.0, False)]


def test_no_data_fires_only_the_rules_that_say_so() -> None:
    assert evaluate_rule(FakeInflux([]), _rule("tslcd-agent-silent")).fires
    assert not evaluate_rule(FakeInflux([]), _rule("tslcd-service-down")).fires
