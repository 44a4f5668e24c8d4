"""The fault plan: which hosts each fault breaks, and the controller that pauses their peers."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.inventory.model import Host, HostSettings
from agent.lab import faultplan
from agent.lab.controller import FaultController
from agent.lab.faultplan import FaultPlanError, FaultSpec


def _host(name: str, uplink: str = "") -> Host:
    settings = HostSettings(netmon_site=name.upper(), netmon_level="commune", netmon_uplink=uplink)
    return Host(name, "127.0.0.1", (), settings, {})


# core ← district ← {commune-a ← vc-a, commune-b}; other-district ← commune-c
DESCRIBED = {
    h.name: h
    for h in [
        _host("core"),
        _host("district", "core"),
        _host("commune-a", "district"),
        _host("vc-a", "commune-a"),
        _host("commune-b", "district"),
        _host("other-district", "core"),
        _host("commune-c", "other-district"),
    ]
}


def _spec(**kwargs: object) -> FaultSpec:
    body: dict[str, object] = {"name": "f", "what": "unreachable", "start_s": 0, "duration_s": 10}
    body.update(kwargs)
    return FaultSpec.model_validate(body)


def test_behind_takes_the_host_and_everything_whose_uplinks_reach_it() -> None:
    assert faultplan.behind("district", DESCRIBED) == {
        "district",
        "commune-a",
        "vc-a",
        "commune-b",
    }
    assert faultplan.behind("commune-c", DESCRIBED) == {"commune-c"}


def test_resolve_unions_named_hosts_and_subtrees() -> None:
    [fault] = faultplan.resolve([_spec(hosts=["commune-c"], behind="commune-a")], DESCRIBED)
    assert fault.hosts == {"commune-c", "commune-a", "vc-a"}


def test_resolve_names_unknown_hosts() -> None:
    with pytest.raises(FaultPlanError, match="no lab host nowhere"):
        faultplan.resolve([_spec(behind="nowhere")], DESCRIBED)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"hosts": []}, "name the hosts"),
        ({"hosts": ["core"], "what": "http_delay"}, "delay_s > 0"),
        ({"hosts": ["core"], "what": "unplugged"}, "what"),
        ({"hosts": ["core"], "colour": "red"}, "colour"),
        ({"hosts": ["core"], "name": "Has Spaces"}, "name"),
    ],
)
def test_bad_specs_are_refused_with_the_field_named(body: dict[str, object], message: str) -> None:
    raw = [{"name": "f", "what": "unreachable", "start_s": 0, "duration_s": 10, **body}]
    with pytest.raises(FaultPlanError, match=message):
        faultplan.parse(raw, "plan.yml")


def test_duplicate_names_are_refused() -> None:
    raw = [{"name": "f", "what": "unreachable", "hosts": ["core"], "start_s": 0, "duration_s": 1}]
    with pytest.raises(FaultPlanError, match="used twice: f"):
        faultplan.parse(raw * 2, "plan.yml")


def test_a_plan_file_may_be_a_list_or_carry_the_inventory_variable(tmp_path: Path) -> None:
    listed = tmp_path / "list.yml"
    listed.write_text("- {name: a, what: unreachable, hosts: [core], start_s: 0, duration_s: 5}\n")
    wrapped = tmp_path / "wrapped.yml"
    wrapped.write_text("netmon_lab_faults:\n" + listed.read_text().replace("- ", "  - "))
    assert faultplan.load_file(listed) == faultplan.load_file(wrapped)
    assert faultplan.load_file(listed)[0].hosts == ("core",)


def test_fault_groups_give_each_host_the_set_of_faults_that_break_it() -> None:
    faults = faultplan.resolve(
        [
            _spec(name="dark", behind="district"),
            _spec(name="flap", hosts=["commune-a"]),
            _spec(name="slow", what="http_delay", delay_s=1, hosts=["core"]),
        ],
        DESCRIBED,
    )
    groups = faultplan.fault_groups(faults, "unreachable")
    assert groups["commune-a"] == {"dark", "flap"}
    assert groups["commune-b"] == {"dark"}
    assert "core" not in groups  # only an http fault names it
    assert "commune-c" not in groups


class FakePeer:
    """The one seam the controller drives: pause and resume."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def test_controller_pauses_a_peer_while_any_of_its_faults_is_active() -> None:
    now = [0.0]
    faults = faultplan.resolve(
        [
            _spec(name="early", hosts=["core"], start_s=0, duration_s=10),
            _spec(name="late", hosts=["core"], start_s=5, duration_s=10),
        ],
        DESCRIBED,
    )
    shared, only_late = FakePeer(), FakePeer()
    controller = FaultController(
        faults,
        {"early": [shared], "late": [shared, only_late]},  # type: ignore[list-item]
        started_at=0.0,
        clock=lambda: now[0],
    )
    assert controller.apply() == {"early": True}
    assert shared.calls == ["pause"] and only_late.calls == []
    now[0] = 7.0
    assert controller.apply() == {"late": True}
    assert shared.calls == ["pause"]  # already paused: not paused twice
    assert only_late.calls == ["pause"]
    now[0] = 12.0  # early over, late still on: the shared peer stays paused
    assert controller.apply() == {"early": False}
    assert shared.calls == ["pause"]
    now[0] = 20.0
    assert controller.apply() == {"late": False}
    assert shared.calls == ["pause", "resume"] and only_late.calls == ["pause", "resume"]


def test_controller_stop_resumes_what_it_paused() -> None:
    faults = faultplan.resolve([_spec(name="f", hosts=["core"])], DESCRIBED)
    peer = FakePeer()
    controller = FaultController(faults, {"f": [peer]}, 0.0, clock=lambda: 1.0)  # type: ignore[list-item]
    controller.apply()
    controller.stop()
    assert peer.calls == ["pause", "resume"]
