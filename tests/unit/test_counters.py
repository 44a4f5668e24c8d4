"""The counter guard: continuous counters across wraps, reboots and agent restarts.

Rows are shaped as the SNMP collector emits them (an ``snmp`` status sample with sysUpTime and
``interface`` rows), and the schema is the shipped profiles' own declaration.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.collector import Target
from agent.counters import CounterGuard
from agent.output.buffer import MemoryBuffer
from agent.pipeline import Pipeline
from agent.samples import FieldValue, Sample, Unsigned
from agent.schema import (
    COUNTER_DISCONTINUITY,
    FieldType,
    Measurement,
    SchemaConflictError,
    SchemaRegistry,
    base_schema,
)
from collectors.snmp.profiles import ProfileError, load_profiles, shipped_profiles

SOURCE = "core-router"
MINUTE = 60.0
START_S = 1_700_000_000.0
DAY_TICKS = 8_640_000  # sysUpTime of a device up for one day


def profiles_schema() -> SchemaRegistry:
    schema = base_schema()
    for profile in shipped_profiles().values():
        profile.declare(schema)
    return schema


SCHEMA = profiles_schema()


class Device:
    """What the collector would emit for one device, one poll at a time (time is explicit)."""

    def __init__(self, guard: CounterGuard, *, uptime: int = DAY_TICKS, source: str = SOURCE):
        self.guard = guard
        self.source = source
        self.uptime = uptime
        self.t_s = START_S

    def poll(
        self,
        after_s: float = MINUTE,
        *,
        uptime: int | None = None,
        if_index: str = "1",
        fields: Mapping[str, FieldValue] | None = None,
        **counters: int,
    ) -> Sample:
        """Advance the clock by `after_s`, poll, and return the guarded ``interface`` row."""
        self.t_s += after_s
        self.uptime = uptime if uptime is not None else self.uptime + int(after_s * 100)
        timestamp = int(self.t_s * 1e9)
        status = Sample(
            "snmp",
            {"source": self.source, "sysName": "cr1", "result": "success"},
            {"sysUpTime": self.uptime, "result_code": 0},
            timestamp,
        )
        tags = {"source": self.source, "sysName": "cr1", "ifIndex": if_index, "ifName": "Gi0/1"}
        row = Sample("interface", tags, {**(fields or {}), **counters}, timestamp)
        self.guard.apply([status, row], SCHEMA)
        assert status.fields == {"sysUpTime": self.uptime, "result_code": 0}  # never touched
        return row


def marked(row: Sample) -> bool:
    if COUNTER_DISCONTINUITY in row.fields:
        assert row.fields[COUNTER_DISCONTINUITY] is True  # written only when true
        return True
    return False


# --- schema and profiles -----------------------------------------------------------------------


def test_shipped_profiles_mark_every_if_mib_counter_with_its_width() -> None:
    counters = SCHEMA.counters("interface")
    hc = {name for name, width in counters.items() if width == 64}
    narrow = {name for name, width in counters.items() if width == 32}
    assert hc == {
        f"ifHC{direction}{kind}"
        for direction in ("In", "Out")
        for kind in ("Octets", "UcastPkts", "MulticastPkts", "BroadcastPkts")
    }
    assert narrow == {
        f"if{direction}{kind}"
        for direction in ("In", "Out")
        for kind in ("Octets", "UcastPkts", "Discards", "Errors")
    }
    interface = SCHEMA.get("interface")
    assert interface is not None
    assert all(interface.fields[name] is FieldType.UINT for name in hc)
    assert all(interface.fields[name] is FieldType.INT for name in narrow)
    assert interface.fields[COUNTER_DISCONTINUITY] is FieldType.BOOL
    # Gauges and TimeTicks are not counters; a measurement without counters has no marker.
    assert not {"ifSpeed", "ifHighSpeed", "ifLastChange"} & set(counters)
    assert SCHEMA.counters("snmp") == {}
    snmp = SCHEMA.get("snmp")
    assert snmp is not None and COUNTER_DISCONTINUITY not in snmp.fields
    assert SCHEMA.counters("no-such-measurement") == {}


def test_counter_widths_merge_and_conflict_like_field_types() -> None:
    schema = SchemaRegistry()
    schema.declare(Measurement("m", frozenset(), {"a": FieldType.INT}, counters={"a": 32}))
    schema.declare(Measurement("m", frozenset(), {"b": FieldType.UINT}, counters={"b": 64}))
    assert dict(schema.counters("m")) == {"a": 32, "b": 64}
    with pytest.raises(SchemaConflictError, match=r"m\.a is declared a 32-bit counter"):
        schema.declare(Measurement("m", frozenset(), {"a": FieldType.INT}, counters={"a": 64}))
    with pytest.raises(ValueError, match="32 or 64 bits"):
        Measurement("m", frozenset(), {"a": FieldType.INT}, counters={"a": 16})
    with pytest.raises(ValueError, match="int or uint"):
        Measurement("m", frozenset(), {"a": FieldType.FLOAT}, counters={"a": 32})


@pytest.mark.parametrize(
    "column",
    [
        "{oid: 1.3.6.1.2.1.2.2.1.2, type: str, counter: 32}",
        "{oid: 1.3.6.1.2.1.2.2.1.2, type: int, tag: true, counter: 32}",
        "{oid: 1.3.6.1.2.1.2.2.1.10, type: int, counter: 16}",
        "{oid: 1.3.6.1.2.1.31.1.1.1.6, type: uint, counter: 64,"
        " fallback: {name: ifInOctets, oid: 1.3.6.1.2.1.2.2.1.10, type: float, counter: 32}}",
    ],
)
def test_a_profile_cannot_mark_a_non_number_as_a_counter(tmp_path: Path, column: str) -> None:
    (tmp_path / "bad.yaml").write_text(
        "name: bad\ntables:\n  - measurement: t\n    index_tag: i\n"
        f"    columns:\n      c: {column}\n"
    )
    with pytest.raises(ProfileError, match=r"bad\.yaml"):
        load_profiles(tmp_path)


# --- wraps ---------------------------------------------------------------------------------------


def test_counter32_wrap_is_extended_so_the_delta_is_exact() -> None:
    guard = CounterGuard()
    device = Device(guard)
    first = device.poll(ifInOctets=2**32 - 1_000)
    wrapped = device.poll(ifInOctets=500)
    after = device.poll(ifInOctets=9_500)

    assert first.fields["ifInOctets"] == 2**32 - 1_000  # nothing happened yet: the raw counter
    assert wrapped.fields["ifInOctets"] == 2**32 + 500
    assert after.fields["ifInOctets"] == 2**32 + 9_500
    assert not any(marked(row) for row in (first, wrapped, after))
    assert guard.stats.wraps == 1
    assert guard.stats.discontinuities == 0


def test_counter32_wrap_at_the_exact_boundary_counts_one() -> None:
    device = Device(CounterGuard())
    top = device.poll(ifOutOctets=2**32 - 1)
    zero = device.poll(ifOutOctets=0)
    assert top.fields["ifOutOctets"] == 2**32 - 1
    assert zero.fields["ifOutOctets"] == 2**32
    assert not marked(zero)


def test_a_counter32_falling_by_less_than_half_its_range_is_a_reset_not_a_wrap() -> None:
    # `clear counters` on a 32-bit-only interface: taking it for a wrap would invent 4 GB.
    guard = CounterGuard()
    device = Device(guard)
    device.poll(ifInOctets=1_000_000, ifInErrors=40)
    cleared = device.poll(ifInOctets=3_000_000_000, ifInErrors=0)
    assert cleared.fields == {
        "ifInOctets": 1_000_000,
        "ifInErrors": 40,
        COUNTER_DISCONTINUITY: True,
    }
    assert guard.stats.wraps == 0


# --- discontinuities -----------------------------------------------------------------------------


def test_reboot_seen_as_sysuptime_going_back_holds_the_row_and_marks_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = CounterGuard()
    device = Device(guard)
    device.poll(ifHCInOctets=Unsigned(5_000_000_000), ifInErrors=10, ifOperStatus=1)
    device.poll(ifHCInOctets=Unsigned(5_600_000_000), ifInErrors=12, ifOperStatus=1)
    caplog.set_level(logging.INFO, logger="agent.counters")
    # After the reboot: the 64-bit counter restarted low, the 32-bit one came back *higher*
    # (its value has no defined meaning; trusting it would be a spike).
    rebooted = device.poll(
        uptime=3_000, ifHCInOctets=Unsigned(1_000), ifInErrors=900, ifOperStatus=2
    )
    later = device.poll(ifHCInOctets=Unsigned(61_000), ifInErrors=905, ifOperStatus=1)

    assert rebooted.fields["ifHCInOctets"] == 5_600_000_000
    assert isinstance(rebooted.fields["ifHCInOctets"], Unsigned)
    assert rebooted.fields["ifInErrors"] == 12
    assert rebooted.fields["ifOperStatus"] == 2  # not a counter: untouched
    assert marked(rebooted)
    assert later.fields["ifHCInOctets"] == 5_600_000_000 + 60_000
    assert later.fields["ifInErrors"] == 12 + 5
    assert not marked(later)
    assert guard.stats.device_restarts == 1
    restart_logs = [r for r in caplog.records if SOURCE in r.getMessage()]
    assert len(restart_logs) == 1
    assert restart_logs[0].levelno == logging.INFO
    assert "sysUpTime went back" in restart_logs[0].getMessage()


def test_sysuptime_wrapping_after_497_days_is_not_a_reboot() -> None:
    guard = CounterGuard()
    device = Device(guard, uptime=2**32 - 2_000)
    device.poll(0, uptime=2**32 - 2_000, ifHCInOctets=Unsigned(10_000))
    # One minute later the TimeTicks counter wrapped: 6000 ticks on from 2**32-2000 is 4000.
    wrapped = device.poll(uptime=4_000, ifHCInOctets=Unsigned(20_000))
    assert wrapped.fields["ifHCInOctets"] == 20_000
    assert not marked(wrapped)
    assert guard.stats.device_restarts == 0


def test_a_reboot_just_before_the_uptime_wrap_is_still_a_reboot() -> None:
    guard = CounterGuard()
    device = Device(guard, uptime=2**32 - 2_000)
    device.poll(0, uptime=2**32 - 2_000, ifHCInOctets=Unsigned(10_000))
    # 1000 s of uptime, where a wrap would read about 4000 ticks (40 s): a restart.
    rebooted = device.poll(uptime=100_000, ifHCInOctets=Unsigned(20_000))
    assert marked(rebooted)
    assert rebooted.fields["ifHCInOctets"] == 10_000
    assert guard.stats.device_restarts == 1


def test_ifcounterdiscontinuitytime_change_holds_only_that_row() -> None:
    guard = CounterGuard()
    device = Device(guard)
    device.poll(if_index="1", ifHCInOctets=Unsigned(700), ifCounterDiscontinuityTime=0)
    device.poll(0, if_index="2", ifHCInOctets=Unsigned(900), ifCounterDiscontinuityTime=0)
    # Line card 1 re-seated: its counters restarted, higher than before; row 2 carries on.
    reseated = device.poll(if_index="1", ifHCInOctets=Unsigned(5_000), ifCounterDiscontinuityTime=1)
    other = device.poll(0, if_index="2", ifHCInOctets=Unsigned(1_900), ifCounterDiscontinuityTime=0)
    again = device.poll(if_index="1", ifHCInOctets=Unsigned(5_500), ifCounterDiscontinuityTime=1)

    assert reseated.fields["ifHCInOctets"] == 700
    assert reseated.fields["ifCounterDiscontinuityTime"] == 1  # the indicator itself is kept
    assert marked(reseated)
    assert other.fields["ifHCInOctets"] == 1_900
    assert not marked(other)
    assert again.fields["ifHCInOctets"] == 700 + 500
    assert not marked(again)


def test_counter64_going_down_holds_the_whole_row() -> None:
    guard = CounterGuard()
    device = Device(guard)
    device.poll(ifHCInOctets=Unsigned(10**12), ifHCOutOctets=Unsigned(10**12))
    reset = device.poll(ifHCInOctets=Unsigned(10), ifHCOutOctets=Unsigned(2 * 10**12))
    assert reset.fields["ifHCInOctets"] == 10**12
    assert reset.fields["ifHCOutOctets"] == 10**12  # held too: the row was reset
    assert marked(reset)
    assert guard.stats.device_restarts == 0  # a row, not the device


def test_discontinuity_call_holds_the_next_poll_and_is_one_event_with_the_uptime(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = CounterGuard()
    device = Device(guard)
    device.poll(ifHCInOctets=Unsigned(1_000))
    caplog.set_level(logging.INFO, logger="agent.counters")
    guard.discontinuity(SOURCE, "coldStart trap")
    guard.discontinuity(SOURCE, "warmStart trap")  # the same restart
    held = device.poll(uptime=500, ifHCInOctets=Unsigned(50_000))
    assert held.fields["ifHCInOctets"] == 1_000
    assert marked(held)
    assert guard.stats.device_restarts == 1
    assert [r.getMessage() for r in caplog.records if SOURCE in r.getMessage()] == [
        f"{SOURCE}: coldStart trap; its counters are held at their last values for one poll"
    ]
    # The next trap is a new event.
    guard.discontinuity(SOURCE, "coldStart trap")
    assert marked(device.poll(ifHCInOctets=Unsigned(60_000)))
    assert guard.stats.device_restarts == 2


def test_discontinuity_of_one_device_leaves_the_others_alone() -> None:
    guard = CounterGuard()
    router, switch = Device(guard), Device(guard, source="access-switch")
    router.poll(ifHCInOctets=Unsigned(1_000))
    switch.poll(ifHCInOctets=Unsigned(1_000))
    guard.discontinuity("access-switch")
    assert not marked(router.poll(ifHCInOctets=Unsigned(2_000)))
    assert marked(switch.poll(ifHCInOctets=Unsigned(2_000)))


def test_counter32_down_after_a_long_gap_is_held_not_guessed() -> None:
    guard = CounterGuard(max_gap_s=600)
    device = Device(guard)
    device.poll(ifInOctets=4_000_000_000, ifInUcastPkts=1_000)
    # Half an hour without an answer: the octets counter may have wrapped more than once.
    late = device.poll(1_800, ifInOctets=100, ifInUcastPkts=5_000)
    assert late.fields["ifInOctets"] == 4_000_000_000
    assert late.fields["ifInUcastPkts"] == 5_000  # went up: the lower bound is kept
    assert marked(late)
    assert guard.stats.wraps == 0
    # The same fall within max_gap_s is a wrap.
    wrap = device.poll(600, ifInOctets=3_000_000_000, ifInUcastPkts=6_000)
    wrapped = device.poll(600, ifInOctets=10, ifInUcastPkts=7_000)
    assert octets(wrapped, "ifInOctets") == octets(wrap, "ifInOctets") + 2**32 - 3_000_000_000 + 10
    assert not marked(wrapped)


def test_a_continued_counter_that_would_leave_its_type_goes_back_to_raw() -> None:
    device = Device(CounterGuard())
    device.poll(ifHCInOctets=Unsigned(Unsigned.MAX - 10))
    device.poll(uptime=100, ifHCInOctets=Unsigned(0))  # reboot: held at 2**64-11
    past = device.poll(ifHCInOctets=Unsigned(100))
    assert past.fields["ifHCInOctets"] == 100
    assert isinstance(past.fields["ifHCInOctets"], Unsigned)
    assert marked(past)


def test_rows_without_counters_and_non_counter_fields_pass_untouched() -> None:
    guard = CounterGuard()
    device = Device(guard)
    fields: dict[str, FieldValue] = {"ifOperStatus": 1, "ifAlias": "uplink", "ifSpeed": 10**9}
    first = device.poll(fields={**fields, "ifInOctets": 2**32 - 5})
    second = device.poll(uptime=5, fields={**fields, "ifInOctets": 0})  # a reboot
    third = device.poll(fields=fields)  # no counter at all this time
    assert {k: first.fields[k] for k in fields} == fields
    assert {k: second.fields[k] for k in fields} == fields
    assert third.fields == fields


# --- persistence ---------------------------------------------------------------------------------


def test_agent_restart_continues_an_extended_series(tmp_path: Path) -> None:
    state = tmp_path / "state" / "counters.json"
    guard = CounterGuard(state_file=state)
    device = Device(guard)
    device.poll(ifInOctets=2**32 - 100)
    device.poll(ifInOctets=900)  # wrapped: offset 2**32, saved at once
    assert state.is_file()
    assert not state.with_name("counters.json.tmp").exists()

    # No close(): as after a crash.
    restarted = CounterGuard(state_file=state)
    device.guard = restarted
    after = device.poll(ifInOctets=1_900)
    assert after.fields["ifInOctets"] == 2**32 + 1_900
    assert not marked(after)
    assert restarted.stats.state_errors == 0


def test_close_keeps_every_row_so_a_reboot_during_the_downtime_is_seen(tmp_path: Path) -> None:
    state = tmp_path / "counters.json"
    guard = CounterGuard(state_file=state)
    device = Device(guard)
    device.poll(ifHCInOctets=Unsigned(1_000_000))  # offset 0: saved only by close()
    guard.close()
    assert len(json.loads(state.read_text())["rows"]) == 1

    device.guard = CounterGuard(state_file=state)
    # The device rebooted while the agent was down; its counter came back above the old one.
    back = device.poll(3_600, uptime=200, ifHCInOctets=Unsigned(9_000_000))
    assert back.fields["ifHCInOctets"] == 1_000_000
    assert marked(back)


def test_rows_with_offset_zero_are_not_saved_while_running(tmp_path: Path) -> None:
    state = tmp_path / "counters.json"
    guard = CounterGuard(state_file=state)
    device = Device(guard)
    device.poll(if_index="1", ifInOctets=2**32 - 1)
    device.poll(0, if_index="2", ifInOctets=5)
    device.poll(if_index="1", ifInOctets=3)  # row 1 wraps: the file is written
    device.poll(0, if_index="2", ifInOctets=10)
    rows = json.loads(state.read_text())["rows"]
    assert [row["tags"]["ifIndex"] for row in rows] == ["1"]


def test_discontinuities_are_saved_at_once_and_wraps_at_most_every_save_every_s(
    tmp_path: Path,
) -> None:
    state = tmp_path / "counters.json"
    guard = CounterGuard(state_file=state, save_every_s=3_600)

    def saved() -> dict[str, list[int]]:
        rows = json.loads(state.read_text())["rows"]
        return {row["tags"]["ifIndex"]: row["counters"]["ifInOctets"] for row in rows}

    device = Device(guard)
    for if_index in "123":
        device.poll(0, if_index=if_index, ifInOctets=2**32 - 1)
    device.poll(if_index="1", ifInOctets=1)  # the first save is never deferred
    assert saved() == {"1": [1, 2**32 + 1]}
    device.poll(0, if_index="2", ifInOctets=1)  # a wrap: deferred
    assert saved() == {"1": [1, 2**32 + 1]}
    device.poll(0, if_index="3", ifInOctets=2**31)  # a reset: at once, with the wrap pending
    assert saved() == {"1": [1, 2**32 + 1], "2": [1, 2**32 + 1], "3": [2**31, 2**32 - 1]}


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"version": 1, "devices": {}, "rows": [{"measurement": "interface"}]}',
        '{"version": 2, "devices": {}, "rows": []}',
        '{"version": 1, "devices": {"r1": {"uptime": "5", "wall_ns": 0, "epoch": 0}}, "rows": []}',
        "",
    ],
)
def test_a_corrupt_state_file_is_logged_and_treated_as_empty(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "counters.json"
    state.write_text(content)
    guard = CounterGuard(state_file=state)
    assert guard.stats.state_errors == 1
    assert any("unreadable" in r.getMessage() for r in caplog.records)
    device = Device(guard)
    first = device.poll(ifInOctets=2**32 - 1)
    assert first.fields["ifInOctets"] == 2**32 - 1  # an empty state: the raw counter
    assert device.poll(ifInOctets=1).fields["ifInOctets"] == 2**32 + 1
    assert json.loads(state.read_text())["version"] == 1  # replaced by a good one


def test_a_missing_state_file_is_no_error(tmp_path: Path) -> None:
    guard = CounterGuard(state_file=tmp_path / "absent" / "counters.json")
    assert guard.stats.state_errors == 0
    guard.close()
    assert (tmp_path / "absent" / "counters.json").is_file()


def test_an_unwritable_state_file_is_counted_never_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    guard = CounterGuard(state_file=blocker / "counters.json")  # its parent is a file
    assert guard.stats.state_errors == 1  # not readable either
    device = Device(guard)
    device.poll(ifInOctets=2**32 - 1)
    assert device.poll(ifInOctets=1).fields["ifInOctets"] == 2**32 + 1
    assert guard.stats.state_errors == 2
    guard.close()
    assert guard.stats.state_errors == 3


def test_rows_unseen_for_longer_than_forget_after_are_dropped(tmp_path: Path) -> None:
    state = tmp_path / "counters.json"
    guard = CounterGuard(state_file=state, forget_after_s=86_400)
    device = Device(guard)
    device.poll(if_index="1", ifInOctets=2**32 - 1)
    device.poll(0, if_index="2", ifInOctets=2**32 - 1)
    device.poll(if_index="1", ifInOctets=1)
    device.poll(0, if_index="2", ifInOctets=1)
    for _ in range(3):  # interface 2 was removed; interface 1 is polled for two days
        device.poll(86_400, if_index="1", ifInOctets=2)
    guard.close()
    rows = json.loads(state.read_text())["rows"]
    assert [row["tags"]["ifIndex"] for row in rows] == ["1"]


# --- through the pipeline ------------------------------------------------------------------------


def test_pipeline_guards_before_enrichment_and_the_marker_conforms() -> None:
    buffer = MemoryBuffer(1000)
    guard = CounterGuard()
    pipeline = Pipeline(SCHEMA, buffer, agent_name="a1", counters=guard)
    target = Target(SOURCE, "192.0.2.1", "snmp", None, tags={"site": "DC1"})

    def poll(seconds: int, uptime: int, octets: int) -> None:
        timestamp = int((START_S + seconds) * 1e9)
        pipeline.accept_poll(
            target,
            [
                Sample("snmp", {"source": SOURCE}, {"sysUpTime": uptime}, timestamp),
                Sample(
                    "interface",
                    {"source": SOURCE, "ifIndex": "1"},
                    {"ifInOctets": octets},
                    timestamp,
                ),
            ],
        )

    poll(0, 1_000, 2**32 - 10)
    poll(60, 7_000, 20)
    poll(120, 100, 50)  # reboot
    assert pipeline.stats.dropped == {}
    batch = asyncio.run(buffer.get_batch(100, 0))
    lines = [line for line in batch.lines if line.startswith("interface")]
    assert [line.split(" ")[1] for line in lines] == [
        f"ifInOctets={2**32 - 10}i",
        f"ifInOctets={2**32 + 20}i",
        f"ifInOctets={2**32 + 20}i,counter_discontinuity=true",
    ]
    assert all("site=DC1" in line for line in lines)  # enriched after guarding
    assert guard.stats.wraps == 1 and guard.stats.device_restarts == 1


# --- properties ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 2**32 - 1),
    traffic=st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=40),
)
def test_wrapping_counter32_written_deltas_equal_true_deltas(
    start: int, traffic: list[int]
) -> None:
    device = Device(CounterGuard())
    written = [octets(device.poll(ifInOctets=start), "ifInOctets")]
    total = start
    for count in traffic:
        total += count
        row = device.poll(ifInOctets=total % 2**32)
        assert not marked(row)
        written.append(octets(row, "ifInOctets"))
    assert all(b >= a for a, b in itertools.pairwise(written))
    assert written[-1] - written[0] == sum(traffic)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 10**12),  # the poll interval's true traffic
            st.one_of(st.none(), st.integers(0, 2**64 - 1)),  # a reboot, and the counter after
        ),
        min_size=1,
        max_size=30,
    )
)
def test_counter64_across_reboots_never_decreases_nor_overestimates(
    steps: list[tuple[int, int | None]],
) -> None:
    device = Device(CounterGuard())
    raw = 10**15
    last = octets(device.poll(ifHCInOctets=Unsigned(raw)), "ifHCInOctets")
    for traffic, rebooted_to in steps:
        if rebooted_to is None:
            raw = min(raw + traffic, Unsigned.MAX)
            row = device.poll(ifHCInOctets=Unsigned(raw))
        else:
            raw = rebooted_to
            row = device.poll(uptime=device.uptime - 100, ifHCInOctets=Unsigned(raw))
            assert marked(row)
        now = octets(row, "ifHCInOctets")
        assert isinstance(row.fields["ifHCInOctets"], Unsigned)
        if now < last:  # only the fallback when the continued counter would pass 2**64-1
            assert marked(row)
            assert now == raw
        else:
            assert now - last <= (traffic if rebooted_to is None else 0)
        last = now


def octets(row: Sample, name: str) -> int:
    value = row.fields[name]
    assert isinstance(value, int)
    return value
