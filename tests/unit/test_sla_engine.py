"""The SLA engine on synthetic histories, with answers worked out by hand (in the comments).

Every poll interval is 60 s, so a sample holds for at most 120 s (two intervals)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from agent.sla.engine import SlaEngine, level_rows
from agent.sla.model import Subject
from agent.sla.timeline import Span
from tests.sla_world import DOWN, OK, TZ, Polls, local, province, service, span


class AllDay:
    """A 24x7 calendar (business hours are tested with the real calendar)."""

    tz: ZoneInfo = TZ

    def due_spans(self, calendar: Literal["24x7", "business_hours"], span: Span) -> list[Span]:
        return [span]


def compute(polls: Polls, period: Span, **kwargs: object) -> dict[str, Subject]:
    inventory = kwargs.pop("inventory", None) or province()
    engine = SlaEngine(inventory, polls.history, AllDay(), **kwargs)  # type: ignore[arg-type]
    return {s.id: s for s in engine.compute(period)}


def test_an_outage_across_a_month_boundary_is_split_between_the_months() -> None:
    polls = Polls()
    polls.every("c-cpe", "2026-10-31 00:00", "2026-10-31 23:50", OK)
    polls.every("c-cpe", "2026-10-31 23:50", "2026-11-01 00:20", DOWN)
    polls.every("c-cpe", "2026-11-01 00:20", "2026-11-02 00:00", OK)
    october = compute(polls, span("2026-10-01 00:00", "2026-11-01 00:00"))["c-cpe"]
    november = compute(polls, span("2026-11-01 00:00", "2026-12-01 00:00"))["c-cpe"]

    # October: up 00:00–23:50 on the 31st = 85,800 s; down 23:50–24:00 = 600 s; the other
    # 30 days have no data: 30 × 86,400 = 2,592,000 s unknown (never down).
    assert october.tally.up_s == 85_800
    assert october.tally.down_s == 600
    assert october.tally.unknown_s == 2_592_000
    assert october.availability_pct == 100 * 85_800 / 86_400
    [incident] = october.incidents
    assert (incident.start, incident.end) == (local("2026-10-31 23:50"), local("2026-11-01 00:00"))
    assert incident.open_end and not incident.open_start
    assert incident.charged_s == 600 and incident.cause == "timeout"

    # November: down 00:00–00:20 = 1,200 s; up 00:20 on the 1st to 00:01 on the 2nd (the last
    # sample at 23:59 holds 120 s) = 86,400 − 1,200 + 60 = 85,260 s; the rest unknown:
    # 30 × 86,400 − 1,200 − 85,260 = 2,505,540 s.
    assert november.tally.down_s == 1_200
    assert november.tally.up_s == 85_260
    assert november.tally.unknown_s == 2_505_540
    [incident] = november.incidents
    assert incident.open_start and not incident.open_end
    assert incident.seconds == 1_200


def test_maintenance_overlapping_an_outage_is_not_charged() -> None:
    polls = Polls()
    polls.every("svc-portal", "2026-10-05 08:00", "2026-10-05 10:00", OK, service="portal")
    polls.every("svc-portal", "2026-10-05 10:00", "2026-10-05 11:00", DOWN, service="portal")
    polls.every("svc-portal", "2026-10-05 11:00", "2026-10-05 14:00", OK, service="portal")
    inventory = province({"portal": service("Cổng dịch vụ công", hosts=["svc-portal"])})
    window = ("patching", span("2026-10-05 10:30", "2026-10-05 12:00"))

    def windows(period: Span, host: str, svc: str) -> list[tuple[str, Span]]:
        return [window] if svc == "portal" else []

    day = span("2026-10-05 08:00", "2026-10-05 14:00")
    portal = compute(polls, day, inventory=inventory, windows=windows)["portal"]
    # Down 10:00–10:30 (1,800 s) charged; 10:30–12:00 maintenance (5,400 s: 30 min of the
    # outage and 60 min up); up 08:00–10:00 and 12:00–14:00 = 14,400 s.
    assert portal.tally.down_s == 1_800
    assert portal.tally.maintenance_s == 5_400
    assert portal.tally.up_s == 14_400
    assert portal.availability_pct == 100 * 14_400 / 16_200
    [incident] = portal.incidents
    assert incident.seconds == 3_600  # the outage as it was: 10:00–11:00
    assert incident.charged_s == 1_800
    assert incident.component == "svc-portal"


def test_a_data_gap_is_unknown_never_down() -> None:
    polls = Polls()
    polls.every("d-rt", "2026-10-05 11:00", "2026-10-05 12:00", OK)  # last sample 11:59
    polls.every("d-rt", "2026-10-05 12:30", "2026-10-05 13:00", OK)
    d_rt = compute(polls, span("2026-10-05 11:00", "2026-10-05 13:00"))["d-rt"]
    # 11:59 holds until 12:01; 12:01–12:30 = 1,740 s unknown; up the other 5,460 s.
    assert d_rt.tally.unknown_s == 1_740
    assert d_rt.tally.up_s == 5_460
    assert d_rt.tally.down_s == 0
    assert d_rt.availability_pct == 100.0
    assert d_rt.incidents == ()


def test_a_site_is_down_only_when_every_vantage_point_agrees() -> None:
    polls = Polls()
    # agent-1 sees p-core down 09:00–09:30 and 10:00–10:10; agent-2 sees it down only
    # 10:00–10:10, and has a gap 11:00–11:20 while agent-1 sees it down then.
    polls.every("p-core", "2026-10-05 08:00", "2026-10-05 09:00", OK)
    polls.every("p-core", "2026-10-05 09:00", "2026-10-05 09:30", DOWN)
    polls.every("p-core", "2026-10-05 09:30", "2026-10-05 10:00", OK)
    polls.every("p-core", "2026-10-05 10:00", "2026-10-05 10:10", DOWN)
    polls.every("p-core", "2026-10-05 10:10", "2026-10-05 11:00", OK)
    polls.every("p-core", "2026-10-05 11:00", "2026-10-05 11:20", DOWN)
    polls.every("p-core", "2026-10-05 11:20", "2026-10-05 12:00", OK)
    polls.every("p-core", "2026-10-05 08:00", "2026-10-05 10:00", OK, agent="agent-2")
    polls.every("p-core", "2026-10-05 10:00", "2026-10-05 10:10", DOWN, agent="agent-2")
    polls.every("p-core", "2026-10-05 10:10", "2026-10-05 10:58", OK, agent="agent-2")
    polls.every("p-core", "2026-10-05 11:20", "2026-10-05 12:00", OK, agent="agent-2")
    core = compute(polls, span("2026-10-05 08:00", "2026-10-05 12:00"))["p-core"]
    # 09:00–09:30: agents disagree → up. 10:00–10:10: both down → 600 s. agent-2's 10:57
    # sample holds until 10:59, then it has no data until 11:20: 10:59–11:00 agent-1 says
    # up; 11:00–11:20 only agent-1 knows, and says down → 1,200 s.
    assert core.tally.down_s == 600 + 1_200
    assert core.tally.unknown_s == 0
    assert [(i.start, i.end) for i in core.incidents] == [
        (local("2026-10-05 10:00"), local("2026-10-05 10:10")),
        (local("2026-10-05 11:00"), local("2026-10-05 11:20")),
    ]


def test_a_commune_is_not_charged_for_its_district_uplink() -> None:
    polls = Polls()
    for host in ("p-core", "d-rt", "c-cpe", "c2-cpe"):
        polls.every(host, "2026-10-05 13:00", "2026-10-05 16:00", OK)
    # The district router is down 14:00–14:30; c-cpe (netmon_uplink d-rt) and c2-cpe (LLDP
    # neighbour d-rt) are down 14:00–14:40: the last 10 min are their own.
    polls.history.observations = [
        o
        for o in polls.history.observations
        if not (
            o.target in ("d-rt", "c-cpe", "c2-cpe")
            and local("2026-10-05 14:00") <= o.time < local("2026-10-05 14:40")
        )
    ]
    polls.every("d-rt", "2026-10-05 14:00", "2026-10-05 14:30", DOWN)
    polls.every("d-rt", "2026-10-05 14:30", "2026-10-05 14:40", OK)
    polls.every("c-cpe", "2026-10-05 14:00", "2026-10-05 14:40", DOWN)
    polls.every("c2-cpe", "2026-10-05 14:00", "2026-10-05 14:40", DOWN)
    polls.history.lldp = {"c2-cpe": frozenset({"d-rt", "c-cpe"}), "d-rt": frozenset({"c2-cpe"})}
    subjects = compute(polls, span("2026-10-05 13:00", "2026-10-05 16:00"))

    assert subjects["d-rt"].tally.down_s == 1_800
    assert subjects["d-rt"].tally.upstream_s == 0
    for commune in ("c-cpe", "c2-cpe"):
        tally = subjects[commune].tally
        assert (tally.upstream_s, tally.down_s) == (1_800, 600), commune
        # Charged for: 3 h − 30 min upstream = 9,000 s, of which 600 s down: up 8,400 s.
        assert tally.up_s == 8_400
        assert subjects[commune].availability_pct == 100 * 8_400 / 9_000
        cut_off, own = subjects[commune].incidents
        assert (cut_off.upstream, cut_off.charged_s, cut_off.seconds) == ("d-rt", 0, 1_800)
        assert (own.upstream, own.charged_s, own.cause) == ("", 600, "timeout")

    rows = {(r.level, r.district): r for r in level_rows(list(subjects.values()))}
    assert rows[("commune", "DT")].tally.upstream_s == 3_600
    assert rows[("district", "DT")].tally.down_s == 1_800


def test_the_failure_highest_up_the_chain_is_the_cause() -> None:
    polls = Polls()
    for host in ("p-core", "d-rt", "c-cpe"):
        polls.every(host, "2026-10-05 13:00", "2026-10-05 13:30", DOWN)
    subjects = compute(polls, span("2026-10-05 13:00", "2026-10-05 13:30"))
    assert subjects["p-core"].tally.down_s == 1_800
    for host in ("d-rt", "c-cpe"):
        assert subjects[host].tally.upstream_s == 1_800
        assert subjects[host].incidents[0].upstream == "p-core"


def test_a_commune_behind_an_uplink_in_maintenance_is_in_maintenance() -> None:
    polls = Polls()
    polls.every("d-rt", "2026-10-05 01:00", "2026-10-05 02:00", DOWN)
    polls.every("c-cpe", "2026-10-05 01:00", "2026-10-05 02:00", DOWN)

    def windows(period: Span, host: str, svc: str) -> list[tuple[str, Span]]:
        return (
            [("firmware", span("2026-10-05 01:00", "2026-10-05 02:00"))] if host == "d-rt" else []
        )

    subjects = compute(polls, span("2026-10-05 01:00", "2026-10-05 02:00"), windows=windows)
    assert subjects["d-rt"].tally.maintenance_s == 3_600
    assert subjects["c-cpe"].tally.maintenance_s == 3_600
    assert subjects["c-cpe"].tally.down_s == 0


def test_a_pool_is_down_only_when_every_member_is() -> None:
    from tests.sla_world import host

    vcs = [host(f"vc-{i}", "commune", uplink="c-cpe") for i in range(3)]
    vc = service("Hội nghị truyền hình", kind="videoconference", hosts=[], groups=["vc_endpoints"])
    inventory = province({"vc": vc}, extra=vcs)
    polls = Polls()
    polls.every("c-cpe", "2026-10-05 08:00", "2026-10-05 10:00", OK)
    for i in range(3):
        polls.every(f"vc-{i}", "2026-10-05 08:00", "2026-10-05 10:00", OK, service="vc")
    polls.history.observations = [
        o
        for o in polls.history.observations
        if not (o.target.startswith("vc-") and local("2026-10-05 09:00") <= o.time)
    ]
    # 09:00–09:30 vc-0 down (the pool is degraded); 09:30–10:00 all three down.
    polls.every("vc-0", "2026-10-05 09:00", "2026-10-05 10:00", DOWN, service="vc")
    polls.every("vc-1", "2026-10-05 09:00", "2026-10-05 09:30", OK, service="vc")
    polls.every("vc-2", "2026-10-05 09:00", "2026-10-05 09:30", OK, service="vc")
    polls.every("vc-1", "2026-10-05 09:30", "2026-10-05 10:00", DOWN, service="vc")
    polls.every("vc-2", "2026-10-05 09:30", "2026-10-05 10:00", DOWN, service="vc")
    result = compute(polls, span("2026-10-05 08:00", "2026-10-05 10:00"), inventory=inventory)
    assert result["vc"].tally.degraded_s == 1_800
    assert result["vc"].tally.down_s == 1_800
    assert result["vc"].tally.up_s == 3_600


def test_an_uplink_in_a_window_but_up_excuses_nothing() -> None:
    polls = Polls()
    polls.every("d-rt", "2026-10-05 01:00", "2026-10-05 02:00", OK)
    polls.every("c-cpe", "2026-10-05 01:00", "2026-10-05 01:15", DOWN)
    polls.every("c-cpe", "2026-10-05 01:15", "2026-10-05 02:00", OK)

    def windows(period: Span, host: str, svc: str) -> list[tuple[str, Span]]:
        return (
            [("firmware", span("2026-10-05 01:00", "2026-10-05 02:00"))] if host == "d-rt" else []
        )

    subjects = compute(polls, span("2026-10-05 01:00", "2026-10-05 02:00"), windows=windows)
    assert subjects["d-rt"].tally.maintenance_s == 3_600
    assert subjects["c-cpe"].tally.down_s == 900  # its own 15 minutes
    assert subjects["c-cpe"].tally.maintenance_s == 0


def test_business_hours_with_a_public_holiday_and_a_make_up_working_day() -> None:
    from pathlib import Path

    from agent.sla.calendar import CalendarSettings, ServiceCalendar, load_overrides

    overrides = load_overrides(Path("inventory/calendars/vn.yml"))
    calendar = ServiceCalendar(CalendarSettings(), overrides)
    motcua = service("Một cửa điện tử", hosts=["svc-motcua"], calendar="business_hours")
    inventory = province({"motcua": motcua})
    polls = Polls()
    outages = [
        ("2026-08-22 10:00", "2026-08-22 14:00"),  # A: Saturday worked in exchange for 31/08
        ("2026-08-23 09:00", "2026-08-23 10:00"),  # C: Sunday
        ("2026-08-27 16:30", "2026-08-28 08:00"),  # D: Thursday evening to Friday morning
        ("2026-08-31 08:00", "2026-08-31 12:00"),  # B: Monday 31/08, a day off (holidays VN)
    ]
    cursor = "2026-08-21 00:00"
    for start, end in outages:
        polls.every("svc-motcua", cursor, start, OK, service="motcua")
        polls.every("svc-motcua", start, end, DOWN, service="motcua")
        cursor = end
    polls.every("svc-motcua", cursor, "2026-09-01 00:00", OK, service="motcua")
    engine = SlaEngine(inventory, polls.history, calendar)
    [result] = [
        s for s in engine.compute(span("2026-08-21 00:00", "2026-09-01 00:00")) if s.id == "motcua"
    ]

    # Due: 07:30–11:30 and 13:00–17:00 (8 h = 28,800 s) on Fri 21, Sat 22 (make-up day),
    # Mon 24 – Fri 28; not Sun 23, Sat 29, Sun 30, Mon 31 (day off): 7 × 28,800 = 201,600 s.
    # Charged: A 10:00–11:30 + 13:00–14:00 = 9,000 s; C 0 (Sunday); D Thu 16:30–17:00 +
    # Fri 07:30–08:00 = 3,600 s; B 0 (day off). Down 12,600 s; up 201,600 − 12,600.
    # Excluded: 11 days × 86,400 − 201,600 = 748,800 s.
    assert result.tally.down_s == 12_600
    assert result.tally.up_s == 189_000
    assert result.tally.excluded_s == 748_800
    assert result.availability_pct == 100 * 189_000 / 201_600
    assert [i.charged_s for i in result.incidents] == [9_000, 0, 3_600, 0]
    assert [i.seconds for i in result.incidents] == [14_400, 3_600, 55_800, 14_400]


def test_an_outage_starting_or_ending_exactly_at_the_period_edge_is_not_open() -> None:
    polls = Polls()
    polls.every("d-rt", "2026-10-31 23:00", "2026-11-01 00:00", OK)
    polls.every("d-rt", "2026-11-01 00:00", "2026-11-01 00:30", DOWN)  # first failure 00:00:00
    polls.every("d-rt", "2026-11-01 00:30", "2026-11-01 02:00", OK)  # recovered at 00:30:00
    [starts_at_edge] = compute(polls, span("2026-11-01 00:00", "2026-11-01 01:00"))[
        "d-rt"
    ].incidents
    assert (starts_at_edge.open_start, starts_at_edge.open_end) == (False, False)
    [ends_at_edge] = compute(polls, span("2026-10-31 23:30", "2026-11-01 00:30"))["d-rt"].incidents
    assert ends_at_edge.seconds == 1_800
    assert (ends_at_edge.open_start, ends_at_edge.open_end) == (False, False)
    [still_down] = compute(polls, span("2026-10-31 23:30", "2026-11-01 00:10"))["d-rt"].incidents
    assert still_down.open_end and still_down.seconds == 600


def test_a_service_cut_off_upstream_names_the_link() -> None:
    from tests.sla_world import host

    portal_host = host("svc-x", "dc", uplink="d-rt")
    inventory = province({"x": service("X", hosts=["svc-x"])}, extra=[portal_host])
    polls = Polls()
    polls.every("d-rt", "2026-10-05 08:00", "2026-10-05 08:30", DOWN)
    polls.every("svc-x", "2026-10-05 08:00", "2026-10-05 08:30", DOWN, service="x")
    [incident] = compute(polls, span("2026-10-05 08:00", "2026-10-05 09:00"), inventory=inventory)[
        "x"
    ].incidents
    assert (incident.component, incident.upstream, incident.charged_s) == ("svc-x", "d-rt", 0)


def test_daily_tallies_split_at_local_midnight_and_add_up() -> None:
    polls = Polls()
    polls.every("c-cpe", "2026-10-31 00:00", "2026-10-31 23:50", OK)
    polls.every("c-cpe", "2026-10-31 23:50", "2026-11-01 00:20", DOWN)
    polls.every("c-cpe", "2026-11-01 00:20", "2026-11-02 00:00", OK)
    result = compute(polls, span("2026-10-31 12:00", "2026-11-01 12:00"))["c-cpe"]
    by_day = {d.day.isoformat(): d.tally for d in result.daily}
    assert list(by_day) == ["2026-10-31", "2026-11-01"]
    # 31/10: up 12:00–23:50 = 42,600 s, down 600 s; 1/11: down 00:00–00:20 = 1,200 s, up
    # 00:20–12:00 = 42,000 s.
    assert (by_day["2026-10-31"].up_s, by_day["2026-10-31"].down_s) == (42_600, 600)
    assert (by_day["2026-11-01"].up_s, by_day["2026-11-01"].down_s) == (42_000, 1_200)
    total = by_day["2026-10-31"] + by_day["2026-11-01"]
    assert total == result.tally


def test_too_little_data_gives_no_verdict() -> None:
    polls = Polls()
    polls.every("d-rt", "2026-10-05 08:00", "2026-10-05 08:03", OK)  # 3 minutes of a day
    polls.every("p-core", "2026-10-05 00:00", "2026-10-06 00:00", OK)
    subjects = compute(polls, span("2026-10-05 00:00", "2026-10-06 00:00"), min_coverage_pct=90.0)
    # d-rt: 100 % of what was measured, but 4 minutes of 1,440 (the last sample holds 120 s)
    # had data: coverage 0.28 % < 90 %, so neither met nor missed.
    assert subjects["d-rt"].availability_pct == 100.0
    assert subjects["d-rt"].met is None
    assert subjects["p-core"].met is True
