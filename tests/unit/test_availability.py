"""Availability verdicts: debounced per service, judged by the collector when it knows how."""

from __future__ import annotations

from collections.abc import Sequence

from agent.availability import Assessment, AvailabilityTracker, State, Thresholds
from agent.collector import Target
from agent.results import Result
from agent.samples import Sample

TARGET = Target(host="svc-a", address="127.0.0.1", check="http", config=None)


def _poll(result: Result, response_time: float = 0.2) -> list[Sample]:
    return [
        Sample(
            "http_response",
            {"result": result.tag},
            {"result_code": int(result), "response_time": response_time},
            timestamp_ns=1234,
        )
    ]


def _states(tracker: AvailabilityTracker, results: Sequence[Result]) -> list[tuple[int, int]]:
    out = []
    for result in results:
        (sample,) = tracker.judge(TARGET, _poll(result))
        out.append((int(sample.fields["up"]), int(sample.fields["state"])))
    return out


OK, FAIL = Result.SUCCESS, Result.TIMEOUT


def test_down_only_after_the_services_number_of_failures_in_a_row() -> None:
    tracker = AvailabilityTracker(services={"svc-a": [("portal", Thresholds(down_after=3))]})
    assert _states(tracker, [OK, FAIL, FAIL, OK, FAIL, FAIL, FAIL, FAIL, OK]) == [
        (1, State.OK),
        (0, State.DEGRADED),
        (0, State.DEGRADED),
        (1, State.OK),  # a success resets the count
        (0, State.DEGRADED),
        (0, State.DEGRADED),
        (0, State.DOWN),
        (0, State.DOWN),
        (1, State.OK),
    ]


def test_up_again_only_after_up_after_successes() -> None:
    tracker = AvailabilityTracker(services={"svc-a": [("portal", Thresholds(1, up_after=2))]})
    assert _states(tracker, [FAIL, OK, OK]) == [
        (0, State.DOWN),
        (1, State.DOWN),
        (1, State.OK),
    ]


def test_one_sample_per_service_each_with_its_own_threshold() -> None:
    tracker = AvailabilityTracker(
        services={"svc-a": [("portal", Thresholds(1)), ("email", Thresholds(2))]}
    )
    samples = tracker.judge(TARGET, _poll(FAIL))
    by_service = {s.tags["service"]: int(s.fields["state"]) for s in samples}
    assert by_service == {"portal": State.DOWN, "email": State.DEGRADED}
    assert all(s.tags["check"] == "http" and s.tags["target"] == "svc-a" for s in samples)
    assert all(s.timestamp_ns == 1234 for s in samples)  # the poll's own time


def test_a_host_in_no_service_gets_one_sample_without_the_tag() -> None:
    (sample,) = AvailabilityTracker().judge(TARGET, _poll(OK, 0.5))
    assert "service" not in sample.tags
    assert sample.fields["latency_s"] == 0.5 and sample.fields["reason"] == ""


def test_the_collector_judges_degradation() -> None:
    def assess(target: Target, samples: Sequence[Sample]) -> Assessment:
        return Assessment(True, 0.1, ("certificate expires in 9.5 days",))

    tracker = AvailabilityTracker(assessors={"http": assess})
    (sample,) = tracker.judge(TARGET, _poll(OK))
    assert sample.fields["state"] == State.DEGRADED
    assert sample.fields["reason"] == "certificate expires in 9.5 days"


def test_failure_reason_names_the_result() -> None:
    (sample,) = AvailabilityTracker().judge(TARGET, _poll(Result.CONNECTION_ERROR))
    assert sample.fields["reason"] == "connection_error"
    assert sample.fields["consecutive_failures"] == 1
