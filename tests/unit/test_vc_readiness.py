"""Videoconference readiness: the verdict from path and signalling, and the operator's table."""

from __future__ import annotations

from agent.availability import Assessment, State
from agent.inventory.model import Host, HostSettings
from agent.readiness import EXIT_DEGRADED, EXIT_DOWN, EXIT_READY, Readiness, exit_code, render_table
from agent.results import Result
from collectors.icmp.stats import PingStats
from collectors.vc.collector import Signalling, verdict
from collectors.vc.config import VcConfig

CONFIG = VcConfig()
GOOD_PATH = PingStats(20, 20, 0, 0.0, avg_ms=20.0, jitter_ms=2.0)
SIP_OK = Signalling("sip", Result.SUCCESS, 0.01, 200)


def test_a_good_path_with_signalling_is_ready() -> None:
    assert verdict(CONFIG, GOOD_PATH, SIP_OK) == Assessment(True, 0.02, ())


def test_each_threshold_degrades_and_says_which() -> None:
    path = PingStats(100, 98, 0, 2.0, avg_ms=151.0, jitter_ms=31.0)
    assessment = verdict(CONFIG, path, SIP_OK)
    assert assessment.up
    assert assessment.problems == (
        "RTT 151 ms > 150 ms",
        "jitter 31 ms > 30 ms",
        "loss 2.0 % > 1 %",
    )


def test_thresholds_are_configurable() -> None:
    lenient = VcConfig(max_rtt_ms=200, max_jitter_ms=40, max_loss_pct=5)
    path = PingStats(100, 98, 0, 2.0, avg_ms=151.0, jitter_ms=31.0)
    assert verdict(lenient, path, SIP_OK).problems == ()


def test_unreachable_or_silent_signalling_is_down() -> None:
    unreachable = verdict(CONFIG, PingStats(20, 0, 0, 100.0), SIP_OK)
    assert not unreachable.up and "unreachable" in unreachable.problems[0]
    silent = verdict(
        CONFIG,
        GOOD_PATH,
        Signalling("h323", Result.CONNECTION_ERROR, None, None, "connection refused"),
    )
    assert not silent.up and silent.problems == ("H.323 port: connection refused",)


def _host(name: str, level: str) -> Host:
    settings = HostSettings.model_validate(
        {"netmon_site": name.upper(), "netmon_level": level, "netmon_site_name": f"Xã {name}"}
    )
    return Host(name, "127.0.0.1", ("vc_endpoints",), settings, {})


def test_table_groups_by_level_and_lists_failures_first() -> None:
    rows = [
        Readiness(_host("vc-a", "commune"), GOOD_PATH, SIP_OK, verdict(CONFIG, GOOD_PATH, SIP_OK)),
        Readiness(
            _host("vc-b", "commune"),
            PingStats(10, 0, 0, 100.0),
            None,
            verdict(CONFIG, PingStats(10, 0, 0, 100.0), None),
        ),
        Readiness(_host("vc-c", "province"), GOOD_PATH, SIP_OK, verdict(CONFIG, GOOD_PATH, SIP_OK)),
    ]
    text = render_table(rows)
    assert text.index("== province: 1 of 1 ready ==") < text.index("== commune: 1 of 2 ready ==")
    commune = text[text.index("== commune") :]
    assert commune.index("vc-b") < commune.index("vc-a")  # the failing one first
    assert "unreachable" in commune and "Xã vc-b" in commune
    assert text.rstrip().endswith("3 bridge points: 2 ready, 0 degraded, 1 down")
    assert rows[1].state is State.DOWN and exit_code(rows) == EXIT_DOWN
    assert exit_code(rows[:1]) == EXIT_READY


def test_degraded_only_has_its_own_exit_status() -> None:
    path = PingStats(20, 20, 0, 0.0, avg_ms=200.0, jitter_ms=1.0)
    row = Readiness(_host("vc-a", "district"), path, SIP_OK, verdict(CONFIG, path, SIP_OK))
    assert row.state is State.DEGRADED and exit_code([row]) == EXIT_DEGRADED
