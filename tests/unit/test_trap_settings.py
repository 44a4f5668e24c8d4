"""[traps]: off by default, HOST:PORT checked like [metrics] listen, and the lab's is enabled."""

from pathlib import Path

import pytest

from agent.settings import SettingsError, env_names, load_settings

LAB_SETTINGS = Path(__file__).resolve().parents[2] / "agent" / "lab" / "netmon-lab.toml"


def test_traps_are_off_by_default_on_the_standard_port_of_loopback() -> None:
    traps = load_settings(None, {}).traps
    assert traps.enabled is False
    assert (traps.host, traps.port) == ("127.0.0.1", 162)


def test_environment_enables_traps_on_another_address() -> None:
    names = env_names()
    assert names["NETMON_TRAPS_ENABLED"] == ("traps", "enabled")
    assert names["NETMON_TRAPS_LISTEN"] == ("traps", "listen")
    traps = load_settings(
        None, {"NETMON_TRAPS_ENABLED": "true", "NETMON_TRAPS_LISTEN": "[::1]:16162"}
    ).traps
    assert traps.enabled is True
    assert (traps.host, traps.port) == ("::1", 16162)


@pytest.mark.parametrize("listen", ["162", "127.0.0.1", "127.0.0.1:0", "h:99999", ":162"])
def test_a_listen_address_that_is_no_host_and_port_is_refused(listen: str) -> None:
    with pytest.raises(SettingsError, match=r"NETMON_TRAPS_LISTEN .*expected HOST:PORT"):
        load_settings(None, {"NETMON_TRAPS_LISTEN": listen})


def test_the_lab_receives_traps_on_a_high_port_of_its_own() -> None:
    traps = load_settings(LAB_SETTINGS, {}).traps
    assert traps.enabled is True
    assert traps.port == 16162  # beside the lab's SNMP port 16161
