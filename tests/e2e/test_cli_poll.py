"""`netmon poll HOST`: one poll against a real device, printed, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import EXIT_FAILED, EXIT_USAGE, cli
from agent.lab import oracle
from tests.e2e.labinv import InventoryWriter
from tests.fixtures_snmp import SimulatedDevice

pytestmark = [pytest.mark.e2e, pytest.mark.snmpsim]


def _inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, device: SimulatedDevice
) -> Path:
    """`name` served by `device`, and `gone`: an address where nothing answers."""
    inv = InventoryWriter(tmp_path / "inv")
    inv.host(name, device.address, device.port, inv.v2c(name, device.community))
    inv.host(
        "gone",
        "127.77.252.1",
        16199,
        inv.v2c("gone", "nobody-home"),
        netmon_snmp_timeout_s=0.3,
        netmon_snmp_retries=0,
    )
    for variable, value in inv.env.items():
        monkeypatch.setenv(variable, value)
    return inv.write()


def test_poll_prints_the_devices_interfaces_and_exit_codes_tell_failure(
    snmpsim_lab: list[SimulatedDevice], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = next(d for d in snmpsim_lab if d.recording == "mikrotik-crs317")
    root = _inventory(tmp_path, monkeypatch, "cpe", device)
    runner = CliRunner()

    line = runner.invoke(cli, ["poll", "cpe", "-i", str(root), "--format", "line"])
    assert line.exit_code == 0, line.output
    names = oracle.bulkwalk(device.endpoint, "1.3.6.1.2.1.31.1.1.1.1", community=device.community)
    for _, (_, hex_name) in names.items():
        assert f"ifName={bytes.fromhex(hex_name).decode()}," in line.output
    assert line.output.startswith("snmp,agent=")

    table = runner.invoke(cli, ["poll", device.address, "-i", str(root)])
    assert table.exit_code == 0
    assert "ifHCInOctets" in table.output

    failed = runner.invoke(cli, ["poll", "gone", "-i", str(root)])
    assert failed.exit_code == EXIT_FAILED
    assert "result=timeout" in failed.output
    assert "nobody-home" not in failed.output

    unknown = runner.invoke(cli, ["poll", "nosuch", "-i", str(root)])
    assert unknown.exit_code == EXIT_USAGE


def test_discover_names_the_profile_and_what_it_collects(
    snmpsim_lab: list[SimulatedDevice], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = next(d for d in snmpsim_lab if d.recording == "juniper-mx5-t")
    root = _inventory(tmp_path, monkeypatch, "border", device)
    runner = CliRunner()

    text = runner.invoke(cli, ["discover", "border", "-i", str(root)])
    assert text.exit_code == 0, text.output
    assert "sysObjectID  1.3.6.1.4.1.2636.1.1.1.2.90" in text.output
    assert "profile      juniper (composed of juniper, generic, system, if-mib" in text.output
    assert "ifOperStatus" in text.output and "7 lowerLayerDown" in text.output

    found = json.loads(
        runner.invoke(cli, ["discover", "border", "-i", str(root), "--format", "json"]).output
    )
    assert found["profile"] == "juniper" and found["result"] == "success"
    rows = {m["name"]: m["rows"] for m in found["measurements"]}
    walked = oracle.bulkwalk(device.endpoint, "1.3.6.1.2.1.2.2.1.8", community=device.community)
    assert rows["interface"] == len(walked)  # one row per interface the device has
    assert rows["lldp"] > 0 and rows["environment"] > 0
    assert found["values_per_request"] == pytest.approx(
        found["values"] / found["requests"], abs=0.01
    )

    failed = runner.invoke(cli, ["discover", "gone", "-i", str(root)])
    assert failed.exit_code == EXIT_FAILED
    assert "did not answer (timeout)" in failed.output
    assert "nobody-home" not in failed.output
