"""Maintenance windows → Grafana mute timings and the policy routes that apply them.

No Grafana runs here, so the tests carry a small port of what Grafana's Alertmanager does
with the generated documents: parse the time intervals as Alertmanager's ``timeinterval``
package does (and refuse what it refuses), decide whether an instant is inside
(``ContainsTime``), route an alert through the policy tree (``Route.Match``: first matching
child unless ``continue``, mute timings applied by the route that delivers, not inherited).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.alerting import MuteTiming, TimeInterval, TimeRange
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agent.dashboards.alerting_settings import AlertingSettings
from agent.dashboards.contacts import label_regex, mute_routes, notification_policies
from agent.dashboards.mute import (
    FEBRUARY_NOTE,
    SECONDS_NOTE,
    mute_timings,
    slug,
    time_intervals,
    window_mutes,
)
from agent.inventory.model import Host, HostSettings, Inventory
from agent.inventory.services import Service
from agent.sla.calendar import WEEKDAYS
from agent.sla.maintenance import MaintenanceWindow, Recurrence, window_spans
from agent.sla.settings import SlaSettings
from agent.sla.timeline import Span

ZONE = "Asia/Ho_Chi_Minh"
TZ = ZoneInfo(ZONE)
SLA_YML = "inventory/binhduong/group_vars/all/sla.yml"
PROVINCE_WINDOW = "bao-tri-dinh-ky-mang-loi-tinh-chu-nhat-01-00-02-00"

# -- Alertmanager's time intervals, ported (prometheus/alertmanager timeinterval) ------------

_AM_WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
_AM_MONTHS = ["", "january", "february", "march", "april", "may", "june", "july"]
_AM_MONTHS += ["august", "september", "october", "november", "december"]
_CLOCK = re.compile(r"(([01][0-9])|(2[0-3])):[0-5][0-9]|24:00")


def _range(text: str, names: list[str] | None = None) -> tuple[int, int]:
    parts = text.split(":")
    assert 1 <= len(parts) <= 2, text

    def member(part: str) -> int:
        return names.index(part) if names and part in names else int(part)

    begin, end = member(parts[0]), member(parts[-1])
    assert begin <= end, f"{text}: Alertmanager refuses a range that ends before it begins"
    return begin, end


def _minutes(text: str) -> int:
    assert _CLOCK.fullmatch(text), text
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def contains(interval: dict[str, Any], instant: datetime) -> bool:
    """Alertmanager's TimeInterval.ContainsTime (positive days of month only: all we emit)."""
    assert set(interval) <= {"times", "weekdays", "days_of_month", "months", "years", "location"}
    local = instant.astimezone(ZoneInfo(interval.get("location", "UTC")))
    minute = local.hour * 60 + local.minute
    checks: list[tuple[str, int, list[str] | None]] = [
        ("weekdays", (local.weekday() + 1) % 7, _AM_WEEKDAYS),
        ("days_of_month", local.day, None),
        ("months", local.month, _AM_MONTHS),
        ("years", local.year, None),
    ]
    if "times" in interval:
        ranges = [(_minutes(r["start_time"]), _minutes(r["end_time"])) for r in interval["times"]]
        assert all(start < end for start, end in ranges)
        if not any(start <= minute < end for start, end in ranges):
            return False
    for key, value, names in checks:
        if key in interval:
            ranges = [_range(text, names) for text in interval[key]]
            if key == "weekdays":
                assert all(0 <= b <= e <= 6 for b, e in ranges)
            if not any(begin <= value <= end for begin, end in ranges):
                return False
    return True


def muted_by(intervals: list[dict[str, Any]], instant: datetime) -> bool:
    return any(contains(interval, instant) for interval in intervals)


def in_window(window: MaintenanceWindow, instant: datetime) -> bool:
    second = int(instant.timestamp())
    return bool(window_spans(window, Span(second, second + 1), TZ))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


# -- Alertmanager's routing, ported (dispatch/route.go Route.Match) --------------------------


def _matches(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    for name, op, value in policy.get("object_matchers", []):
        actual = labels.get(name, "")  # an absent label matches as ""
        found = {
            "=": actual == value,
            "!=": actual != value,
            "=~": re.fullmatch(f"^(?:{value})$", actual) is not None,
            "!~": re.fullmatch(f"^(?:{value})$", actual) is None,
        }[op]
        if not found:
            return False
    return True


def deliveries(
    policy: dict[str, Any], labels: dict[str, str], receiver: str = ""
) -> list[tuple[str, tuple[str, ...]]]:
    """(receiver, mute timings) of every route that delivers the alert."""
    receiver = policy.get("receiver", receiver)
    found: list[tuple[str, tuple[str, ...]]] = []
    for child in policy.get("routes", []):
        if _matches(child, labels):
            found += deliveries(child, labels, receiver)
            if not child.get("continue", False):
                break
    # Mute timings are the delivering route's own: not inherited from its parent.
    return found or [(receiver, tuple(policy.get("mute_time_intervals", ())))]


def notified(
    policies: dict[str, Any], timings: dict[str, Any], labels: dict[str, str], instant: datetime
) -> list[tuple[str, bool]]:
    """(receiver, muted) per delivery of an alert with `labels` firing at `instant`."""
    by_name = {t["name"]: t["time_intervals"] for t in timings["muteTimes"]}
    (root,) = policies["policies"]
    return [
        (receiver, any(muted_by(by_name[name], instant) for name in names))
        for receiver, names in deliveries(root, labels)
    ]


# -- a small province ------------------------------------------------------------------------


def _host(name: str, site: str, level: str = "district") -> Host:
    settings = HostSettings.model_validate({"netmon_site": site, "netmon_level": level})
    return Host(name, "127.0.0.1", (), settings, {})


def province(
    network: tuple[MaintenanceWindow, ...] = (), portal: tuple[MaintenanceWindow, ...] = ()
) -> Inventory:
    hosts = {
        h.name: h
        for h in (
            _host("tdm-rt", "H-TDM", "district"),
            _host("tdm-sw", "H-TDM", "district"),
            _host("dian-rt", "H-DIAN", "district"),
            _host("svc-portal", "DC1-PORTAL", "dc"),
            _host("svc-mail", "DC1-MAIL", "dc"),
        )
    }
    services = {
        "portal": Service.model_validate(
            {
                "name": "Cổng dịch vụ công",
                "department": "VP UBND",
                "kind": "egov",
                "slo_target": 99.5,
                "hosts": ["svc-portal"],
                "maintenance": [w.model_dump() for w in portal],
            }
        ),
        "mail": Service.model_validate(
            {
                "name": "Thư",
                "department": "Sở",
                "kind": "egov",
                "slo_target": 99.5,
                "hosts": ["svc-mail"],
            }
        ),
    }
    groups = {"district": ("dian-rt", "tdm-rt", "tdm-sw"), "dc": ("svc-mail", "svc-portal")}
    return Inventory("test", hosts, (), hosts, services, groups, SlaSettings(maintenance=network))


def window(**fields: Any) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "w", **fields})


ALERTING = AlertingSettings.model_validate(
    {
        "receivers": {
            "noc": {"email": {"addresses": ["noc@example.gov.vn"]}},
            "vc": {"email": {"addresses": ["vc@example.gov.vn"]}},
        },
        "default_receiver": "noc",
        "teams": {"network": {"receiver": "noc"}, "videoconference": {"receiver": "vc"}},
    }
)

# -- the province's own window ---------------------------------------------------------------


def test_the_provinces_sunday_window_is_exactly_one_interval() -> None:
    with open(SLA_YML, encoding="utf-8") as file:
        sla = SlaSettings.model_validate(yaml.safe_load(file)["netmon_sla"])
    (weekly,) = sla.maintenance
    intervals, notes = time_intervals(weekly, sla.calendar.timezone)
    assert intervals == [
        {
            "times": [{"start_time": "01:00", "end_time": "02:00"}],
            "weekdays": ["sunday"],
            "location": "Asia/Ho_Chi_Minh",
        }
    ]
    assert notes == ()
    assert slug(weekly.name) == PROVINCE_WINDOW


def test_a_window_past_midnight_is_two_ranges_on_consecutive_weekdays() -> None:
    late = window(every={"weekdays": ["sun"], "start": "22:00", "duration_min": 240})
    intervals, notes = time_intervals(late, ZONE)
    assert intervals == [
        {
            "times": [{"start_time": "22:00", "end_time": "24:00"}],
            "weekdays": ["sunday"],
            "location": ZONE,
        },
        {
            "times": [{"start_time": "00:00", "end_time": "02:00"}],
            "weekdays": ["monday"],
            "location": ZONE,
        },
    ]
    assert notes == ()
    # Saturday → Sunday: Alertmanager's weeks start on Sunday, and no range may wrap.
    saturday = window(every={"weekdays": ["fri", "sat"], "start": "23:30", "duration_min": 60})
    intervals, _ = time_intervals(saturday, ZONE)
    assert [i["weekdays"] for i in intervals] == [["friday:saturday"], ["sunday", "saturday"]]


def test_a_one_off_window_over_two_days_is_split_per_day() -> None:
    firmware = window(start="2026-10-04 22:00", end="2026-10-05 02:00")
    intervals, notes = time_intervals(firmware, ZONE)
    day = {"months": ["october"], "years": ["2026"], "location": ZONE}
    assert intervals == [
        {"times": [{"start_time": "22:00", "end_time": "24:00"}], "days_of_month": ["4"], **day},
        {"times": [{"start_time": "00:00", "end_time": "02:00"}], "days_of_month": ["5"], **day},
    ]
    assert notes == ()


def test_a_long_one_off_window_keeps_whole_days_whole() -> None:
    move = window(start="2026-10-30 20:00", end="2026-11-02 06:30")
    intervals, _ = time_intervals(move, ZONE)
    assert [(i.get("times"), i.get("days_of_month"), i["months"]) for i in intervals] == [
        ([{"start_time": "20:00", "end_time": "24:00"}], ["30"], ["october"]),
        (None, ["31"], ["october"]),
        (None, ["1"], ["november"]),
        ([{"start_time": "00:00", "end_time": "06:30"}], ["2"], ["november"]),
    ]


def test_from_date_and_until_are_exact_not_whole_years() -> None:
    # Grafana has no date range: the bounds become (year, month, day-of-month) blocks.
    season = window(
        every={
            "weekdays": ["sun"],
            "start": "23:00",
            "duration_min": 120,
            "from_date": "2026-10-05",
            "until": "2027-02-14",
        }
    )
    intervals, notes = time_intervals(season, ZONE)
    assert notes == ()
    assert {tuple(i.get("years", ())) for i in intervals} == {("2026",), ("2027",)}
    for instant, expected in [
        ("2026-10-04 23:30", False),  # the Sunday before from_date
        ("2026-10-11 23:30", True),
        ("2026-10-12 00:30", True),  # its Monday morning
        ("2027-02-14 23:30", True),  # until: the last start day ...
        ("2027-02-15 00:59", True),  # ... still runs into Monday
        ("2027-02-21 23:30", False),
        ("2027-10-10 23:30", False),  # the same season a year later is not muted
    ]:
        assert muted_by(intervals, at(instant)) is expected, instant
        assert in_window(season, at(instant)) is expected, instant


def test_what_grafana_cannot_express_is_said() -> None:
    end_of_month = window(every={"days_of_month": [28], "start": "23:00", "duration_min": 120})
    intervals, notes = time_intervals(end_of_month, ZONE)
    assert notes == (FEBRUARY_NOTE,)
    assert muted_by(intervals, at("2026-04-29 00:30"))  # the 28th's spill, same month
    assert not muted_by(intervals, at("2026-03-01 00:30"))  # February 28 → March 1: missed
    assert in_window(end_of_month, at("2026-03-01 00:30"))
    thirty_first = window(every={"days_of_month": [31], "start": "23:00", "duration_min": 120})
    intervals, notes = time_intervals(thirty_first, ZONE)
    assert notes == ()  # no February 31st: every spill is known
    assert muted_by(intervals, at("2026-02-01 00:30")) and muted_by(
        intervals, at("2026-08-01 00:30")
    )
    seconds = window(start="2026-10-04 22:00:30", end="2026-10-04 23:00")
    assert time_intervals(seconds, ZONE)[1] == (SECONDS_NOTE,)


# -- property: our intervals mute exactly the window's instants ------------------------------

_DAYS = st.dates(date(2024, 1, 1), date(2031, 12, 31))


@st.composite
def recurrences(draw: st.DrawFn) -> Recurrence:
    bounds = sorted(draw(st.lists(_DAYS, max_size=2)))
    first = draw(st.sampled_from([None, bounds[0]])) if bounds else None
    last = draw(st.sampled_from([None, bounds[-1]])) if bounds else None
    return Recurrence(
        weekdays=tuple(draw(st.sets(st.sampled_from(WEEKDAYS), max_size=3))),
        days_of_month=tuple(draw(st.sets(st.integers(1, 31), max_size=3))),
        months=tuple(draw(st.sets(st.integers(1, 12), max_size=3))),
        start=f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}",
        duration_min=draw(st.one_of(st.integers(1, 3 * 1440), st.integers(1, 7 * 1440))),
        from_date=first,
        until=last,
    )


@st.composite
def instants_near(draw: st.DrawFn, every: Recurrence) -> datetime:
    day = draw(_DAYS)
    # Most random days start no occurrence: look for one nearby, to test the edges often.
    for _ in range(800):
        if every.starts_on(day):
            break
        day += timedelta(days=1)
    start = datetime.combine(day, datetime.min.time(), TZ)
    start += timedelta(minutes=int(every.start[:2]) * 60 + int(every.start[3:]))
    offset = draw(st.integers(-90 * 60, (every.duration_min + 90) * 60))
    return start + timedelta(seconds=offset)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data(), every=recurrences())
def test_recurring_mute_timing_is_the_window(data: st.DataObject, every: Recurrence) -> None:
    recurring = MaintenanceWindow(name="w", every=every)
    intervals, notes = time_intervals(recurring, ZONE)
    assume(not notes)  # only where Grafana can say it exactly
    for instant in [
        data.draw(instants_near(every)),
        data.draw(
            st.datetimes(datetime(2024, 1, 1), datetime(2031, 12, 31), timezones=st.just(TZ))
        ),
    ]:
        assert muted_by(intervals, instant) == in_window(recurring, instant), instant


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31)),
    minutes=st.integers(1, 40 * 1440),
    offset=st.floats(-0.2, 1.2),
)
def test_one_off_mute_timing_is_the_window(start: datetime, minutes: int, offset: float) -> None:
    start = start.replace(second=0, microsecond=0)
    one_off = MaintenanceWindow(name="w", start=start, end=start + timedelta(minutes=minutes))
    intervals, notes = time_intervals(one_off, ZONE)
    assert notes == ()
    instant = (start + timedelta(minutes=minutes * offset)).replace(tzinfo=TZ)
    assert muted_by(intervals, instant) == in_window(one_off, instant), instant


# -- names, documents, the SDK ---------------------------------------------------------------


def test_names_are_stable_slugs_and_unique() -> None:
    inventory = province(
        network=(
            window(
                name="Nâng cấp lõi",
                hosts=["tdm-rt"],
                start="2026-10-04 22:00",
                end="2026-10-05 02:00",
            ),
            window(
                name="Nâng cấp  lõi!", groups=["dc"], every={"start": "03:00", "duration_min": 30}
            ),
        ),
        portal=(window(name="Vá lỗi", start="2026-10-11 22:00", end="2026-10-11 23:00"),),
    )
    mutes = window_mutes(inventory)
    assert [m.name for m in mutes] == ["nang-cap-loi", "nang-cap-loi-2", "portal-va-loi"]
    assert [(m.sites, m.services) for m in mutes] == [
        (("H-TDM",), ()),
        (("DC1-MAIL", "DC1-PORTAL"), ()),
        ((), ("portal",)),
    ]
    assert mute_timings(inventory) == mute_timings(inventory)


def test_mute_timings_are_grafana_models() -> None:
    inventory = province(
        network=(
            window(
                groups=["district"],
                every={"weekdays": ["sun"], "start": "22:00", "duration_min": 240},
            ),
        )
    )
    document = json.loads(json.dumps(mute_timings(inventory)))
    assert document["apiVersion"] == 1
    for entry in document["muteTimes"]:
        body = {k: v for k, v in entry.items() if k != "orgId"}
        assert set(json.loads(json.dumps(MuteTiming.from_json(body), cls=JSONEncoder))) == set(body)
        for interval in body["time_intervals"]:
            # Every key is a field of the SDK's TimeInterval ...
            assert set(TimeInterval.from_json(interval).to_json()) == set(interval)


def test_the_sdk_time_interval_parts_are_not_grafanas_wire_format() -> None:
    # ... but the SDK (generated from Grafana's OpenAPI) models a time range as {from, to} and
    # a weekday as {begin, end}: Grafana's provisioning reads start_time/end_time and
    # "monday:friday" (Alertmanager's YAML). Values are checked by the port above instead.
    # If this fails, the SDK learned the real format: round-trip the values too.
    assert TimeRange.from_json({"start_time": "01:00", "end_time": "02:00"}).to_json() == {}


# -- routing: the semantics the tree relies on -----------------------------------------------

SUNDAY_NIGHT = at("2026-10-11 23:00")
MONDAY_NOON = at("2026-10-12 12:00")


def _documents(inventory: Inventory) -> tuple[dict[str, Any], dict[str, Any]]:
    policies = json.loads(json.dumps(notification_policies(ALERTING, inventory)))
    return policies, json.loads(json.dumps(mute_timings(inventory)))


def test_a_window_mutes_its_sites_alerts_and_only_during_the_window() -> None:
    night = window(
        name="district night",
        groups=["district"],
        every={"weekdays": ["sun"], "start": "22:00", "duration_min": 240},
    )
    policies, timings = _documents(province(network=(night,)))
    tdm = {"team": "network", "site": "H-TDM", "alertname": "SiteDown"}
    assert notified(policies, timings, tdm, SUNDAY_NIGHT) == [("noc", True)]
    assert notified(policies, timings, tdm, MONDAY_NOON) == [("noc", False)]
    other = {**tdm, "site": "DC1-PORTAL"}
    assert notified(policies, timings, other, SUNDAY_NIGHT) == [("noc", False)]
    # A site code that merely contains a muted one is not muted (the regex is anchored).
    assert notified(policies, timings, {**tdm, "site": "H-TDM-2"}, SUNDAY_NIGHT) == [("noc", False)]
    # The team picks the receiver; the window still mutes; no team: the default receiver.
    assert notified(policies, timings, {**tdm, "team": "videoconference"}, SUNDAY_NIGHT) == [
        ("vc", True)
    ]
    assert notified(policies, timings, {"site": "H-TDM"}, SUNDAY_NIGHT) == [("noc", True)]
    assert notified(policies, timings, {"site": "H-DIAN"}, MONDAY_NOON) == [("noc", False)]


def test_an_alert_under_two_windows_is_muted_by_both() -> None:
    night = window(
        name="dc night",
        groups=["dc"],
        every={"weekdays": ["sun"], "start": "22:00", "duration_min": 120},
    )
    patch = window(name="patch", start="2026-10-12 11:00", end="2026-10-12 13:00")
    policies, timings = _documents(province(network=(night,), portal=(patch,)))
    portal = {"team": "network", "site": "DC1-PORTAL", "service": "portal"}
    assert notified(policies, timings, portal, SUNDAY_NIGHT) == [("noc", True)]
    assert notified(policies, timings, portal, MONDAY_NOON) == [("noc", True)]
    assert notified(policies, timings, portal, at("2026-10-12 14:00")) == [("noc", False)]
    mail = {"team": "network", "site": "DC1-MAIL", "service": "mail"}
    assert notified(policies, timings, mail, MONDAY_NOON) == [("noc", False)]
    assert notified(policies, timings, {"service": "portal", "site": "X"}, MONDAY_NOON) == [
        ("noc", True)
    ]


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"team": "network"},
        {"team": "platform", "site": "H-TDM"},
        {"team": "videoconference", "site": "DC1-PORTAL", "service": "portal"},
        {"site": "DC1-MAIL", "service": "portal"},
    ],
)
def test_every_alert_is_delivered_exactly_once(labels: dict[str, str]) -> None:
    night = window(
        name="night", groups=["district", "dc"], every={"start": "22:00", "duration_min": 60}
    )
    patch = window(name="patch", start="2026-10-12 11:00", end="2026-10-12 13:00")
    policies, timings = _documents(province(network=(night,), portal=(patch,)))
    assert len(notified(policies, timings, labels, MONDAY_NOON)) == 1


def test_a_continue_route_before_the_team_routes_would_mute_nothing() -> None:
    # Why the mute routes sit inside each team policy: with a sibling that has
    # `continue: true` the team policy delivers the alert a second time, unmuted.
    naive = {
        "policies": [
            {
                "receiver": "noc",
                "routes": [
                    {
                        "object_matchers": [["site", "=~", "^(?:H-TDM)$"]],
                        "mute_time_intervals": ["w"],
                        "continue": True,
                    },
                    {"object_matchers": [["team", "=", "network"]], "receiver": "noc"},
                ],
            }
        ]
    }
    timings = {
        "muteTimes": [{"name": "w", "time_intervals": [{"weekdays": ["sunday"], "location": ZONE}]}]
    }
    assert notified(naive, timings, {"team": "network", "site": "H-TDM"}, SUNDAY_NIGHT) == [
        ("noc", True),
        ("noc", False),
    ]


def _grafana_interpolate(value: str) -> str:
    """Grafana's provisioning interpolation (values.interpolateValue: os.Expand per "$$" part),
    with no environment variables set."""
    out = []
    for part in value.split("$$"):
        part = re.sub(r"\$__(\w+)\{(.*?)\}", "", part)
        part = re.sub(r"\$(\{[^}]*\}|[*#$@!?\-0-9]|[A-Za-z0-9_]+)", "", part)
        out.append(part)
    return "$".join(out)


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


def test_matchers_survive_grafanas_provisioning_interpolation() -> None:
    odd = _host("odd", "A.B$C")
    inventory = province(
        network=(window(hosts=["tdm-rt"], every={"start": "01:00", "duration_min": 60}),)
    )
    inventory = Inventory(
        "t",
        {},
        (),
        {**inventory.described, "odd": odd},
        inventory.services,
        inventory.groups,
        SlaSettings(
            maintenance=(
                window(hosts=["tdm-rt", "odd"], every={"start": "01:00", "duration_min": 60}),
            )
        ),
    )
    policies = notification_policies(ALERTING, inventory)
    for text in _strings(policies):
        assert _grafana_interpolate(text) == text, text
    regex = label_regex(["A.B$C", "H-TDM"])
    assert re.fullmatch(regex, "A.B$C") and re.fullmatch(regex, "H-TDM")
    assert not re.fullmatch(regex, "AxB$C")
    assert mute_routes(province()) == []
