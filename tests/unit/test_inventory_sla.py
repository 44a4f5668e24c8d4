"""``netmon_sla`` and the catalogue's SLA fields in a real Ansible inventory: read when right,
and every mistake named with its file and field, starting nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.inventory.problems import InventoryError
from tests.unit.test_inventory import _ansible_inventory, inventory  # noqa: F401

SLA = """\
netmon_sla:
  calendar:
    business_hours: [["07:30", "11:30"], ["13:00", "17:00"]]
    overrides_file: ../calendar.yml
  connection_points: {slo_target: 99.5}
  maintenance:
    - name: firmware
      hosts: [tdm-router-01]
      start: "2026-10-04 22:00"
      end: "2026-10-05 02:00"
    - name: weekly
      groups: [district]
      every: {weekdays: [sun], start: "01:00", duration_min: 60}
netmon_services:
  portal:
    name: Cổng dịch vụ công
    department: Văn phòng UBND tỉnh
    kind: egov
    slo_target: 99.5
    hosts: [dc1-srv-01]
    checks: [snmp]
    maintenance:
      - {name: patching, start: "2026-10-11 22:00", end: "2026-10-11 23:00"}
"""

OVERRIDES = "working_days:\n  2026-08-22: Làm bù cho ngày nghỉ 31/08/2026\ndays_off: {}\n"


def _write(root: Path, sla: str = SLA, overrides: str = OVERRIDES) -> Path:
    (root / "group_vars" / "all" / "sla.yml").write_text(sla)
    (root.parent / "calendar.yml").write_text(overrides)
    return root


def test_netmon_sla_and_the_catalogue_are_read(inventory: Path) -> None:  # noqa: F811
    found = load_inventory(_write(inventory), CollectorRegistry.from_entry_points())
    assert found.sla.connection_points.slo_target == 99.5
    assert [w.name for w in found.sla.maintenance] == ["firmware", "weekly"]
    assert found.services["portal"].checks == ("snmp",)
    assert found.services["portal"].maintenance[0].name == "patching"
    assert found.calendar_overrides is not None
    assert list(found.calendar_overrides.working_days) == [date(2026, 8, 22)]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            ("hosts: [tdm-router-01]", "hosts: [no-such-router]"),
            "netmon_sla.maintenance.0.hosts",
            "no inventory host 'no-such-router'",
        ),
        (
            ("groups: [district]", "groups: [communes]"),
            "netmon_sla.maintenance.1.groups",
            "no inventory group 'communes'",
        ),
        (('end: "2026-10-05 02:00"', 'end: "2026-10-04 21:00"'), "netmon_sla.maintenance.0", "end"),
        (
            ("slo_target: 99.5}", "slo_target: 101}"),
            "netmon_sla.connection_points.slo_target",
            "100",
        ),
        (
            ("duration_min: 60", "duration_min: 0"),
            "netmon_sla.maintenance.1.every.duration_min",
            "greater than or equal to 1",
        ),
        (
            ("    checks: [snmp]\n", "    checks: [snmp]\n    calender: 24x7\n"),
            "netmon_services.portal.calender",
            "unknown key",
        ),
    ],
)
def test_a_mistake_names_file_and_field(
    inventory: Path,  # noqa: F811
    change: tuple[str, str],
    field: str,
    message: str,
) -> None:
    _write(inventory, SLA.replace(*change))
    with pytest.raises(InventoryError) as error:
        load_inventory(inventory, CollectorRegistry.from_entry_points())
    text = str(error.value)
    assert field in text and message in text, text
    assert "group_vars/all/sla.yml" in text, text


def test_a_broken_override_file_is_named(inventory: Path) -> None:  # noqa: F811
    _write(inventory, overrides="working_days:\n  2026-08-32: no such day\n")
    with pytest.raises(InventoryError) as error:
        load_inventory(inventory, CollectorRegistry.from_entry_points())
    text = str(error.value)
    assert "calendar.yml" in text and "2026-08-32" in text, text
    assert "netmon_sla.calendar.overrides_file" in text, text


def test_a_loop_of_uplinks_is_refused(inventory: Path) -> None:  # noqa: F811
    # Outages are attributed up the chain of uplinks: a loop would never end.
    host_vars = inventory / "host_vars"
    (host_vars / "tdm-router-01.yml").write_text("netmon_uplink: dian-router-01\n")
    (host_vars / "dian-router-01.yml").write_text("netmon_uplink: tdm-router-01\n")
    with pytest.raises(InventoryError) as error:
        load_inventory(inventory, CollectorRegistry.from_entry_points())
    text = str(error.value)
    assert "host_vars/tdm-router-01.yml" in text and "netmon_uplink" in text, text
    assert "comes back to it" in text, text
