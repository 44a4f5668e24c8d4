"""Reading inventories through ansible-runner (ansible-inventory is the real peer here)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import EXIT_INVALID, cli
from agent.collector import CollectorRegistry
from agent.inventory.loader import load_inventory
from agent.inventory.problems import InventoryError
from tests.peers import require_binary

pytestmark = pytest.mark.ansible

HOSTS = """\
all:
  children:
    district:
      vars:
        netmon_level: district
      hosts:
        tdm-router-01:
          ansible_host: 127.0.20.1
          netmon_site: H-TDM
        dian-router-01:
          ansible_host: 127.0.20.2
          netmon_site: H-DIAN
    dc:
      hosts:
        dc1-srv-01:
          ansible_host: 127.0.10.10
          netmon_site: DC1
          netmon_level: dc
          netmon_snmp_credential: core_v3
    other:
      hosts:
        jumphost: {ansible_host: 127.0.99.1, netmon_checks: []}
"""

ALL_VARS = """\
netmon_checks: [snmp]
netmon_snmp_credential: lab_v2c
netmon_credentials:
  lab_v2c: {version: "2c", community: "{{ vault_community }}"}
  core_v3:
    version: 3
    user: netmon
    auth_protocol: sha256
    auth_password: {env: TEST_NETMON_AUTH}
    priv_protocol: aes128
    priv_password: {file: core-priv.txt}
vault_community: public-lab
"""


@pytest.fixture(autouse=True)
def _ansible_inventory() -> None:
    require_binary("ansible-inventory")


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "inv"
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "host_vars").mkdir()
    (root / "hosts.yml").write_text(HOSTS)
    (root / "group_vars" / "all" / "netmon.yml").write_text(ALL_VARS)
    (root / "core-priv.txt").write_text("priv-pass-123\n")
    monkeypatch.setenv("TEST_NETMON_AUTH", "auth-pass-123")
    return root


def load(root: Path) -> object:
    return load_inventory(root, CollectorRegistry.from_entry_points())


def problems_of(root: Path) -> str:
    with pytest.raises(InventoryError) as error:
        load(root)
    return str(error.value)


def test_valid_inventory_resolves_groups_credentials_and_tags(inventory: Path) -> None:
    found = load_inventory(inventory, CollectorRegistry.from_entry_points())
    assert sorted(found.hosts) == ["dc1-srv-01", "dian-router-01", "tdm-router-01"]
    assert found.unmonitored == ("jumphost",)
    router = found.hosts["tdm-router-01"]
    assert router.tags == {"site": "H-TDM", "level": "district"}
    assert router.checks["snmp"].credential.community.reveal() == "public-lab"
    server = found.hosts["dc1-srv-01"].checks["snmp"]
    assert server.credential.auth_password.reveal() == "auth-pass-123"
    assert server.credential.priv_password.reveal() == "priv-pass-123"
    assert server.credential.security_level == "authPriv"


def test_yaml_error_names_file_line_and_column(inventory: Path) -> None:
    (inventory / "group_vars" / "all" / "netmon.yml").write_text("netmon_checks: [snmp\n")
    text = problems_of(inventory)
    assert f"{inventory}/group_vars/all/netmon.yml:2:1" in text
    assert "(YAML)" in text


def test_unknown_credential_set_names_file_host_and_field(inventory: Path) -> None:
    (inventory / "host_vars" / "tdm-router-01.yml").write_text("netmon_snmp_credential: nope\n")
    text = problems_of(inventory)
    assert f"{inventory}/host_vars/tdm-router-01.yml:1: host tdm-router-01: " in text
    assert "netmon_snmp_credential: unknown credential set 'nope' (known: core_v3, lab_v2c)" in text


def test_duplicate_address_names_both_hosts(inventory: Path) -> None:
    hosts = HOSTS.replace("127.0.20.2", "127.0.20.1")
    (inventory / "hosts.yml").write_text(hosts)
    text = problems_of(inventory)
    assert "hosts.yml" in text
    assert "ansible_host: duplicate address 127.0.20.1 port 161 for check snmp" in text
    assert "dian-router-01" in text and "tdm-router-01" in text


def test_missing_required_variable_names_host_and_field(inventory: Path) -> None:
    (inventory / "hosts.yml").write_text(HOSTS.replace("          netmon_site: H-DIAN\n", ""))
    text = problems_of(inventory)
    assert "host dian-router-01: netmon_site: Field required" in text


def test_a_probe_without_a_url_says_both_ways_to_give_one(inventory: Path) -> None:
    (inventory / "host_vars" / "tdm-router-01.yml").write_text("netmon_checks: [snmp, http]\n")
    text = problems_of(inventory)
    assert (
        "host tdm-router-01: netmon_http_url: required: set netmon_http_url, or the host's "
        "netmon_url"
    ) in text


def test_a_url_of_another_kind_is_not_taken_for_the_probe(inventory: Path) -> None:
    # An https front end's netmon_url is no SIP URI: the sip probe asks its own address.
    (inventory / "host_vars" / "tdm-router-01.yml").write_text(
        "netmon_checks: [snmp, sip, http]\nnetmon_url: https://127.0.20.1/\n"
    )
    found = load_inventory(inventory, CollectorRegistry.from_entry_points())
    checks = found.hosts["tdm-router-01"].checks
    assert checks["http"].url == "https://127.0.20.1/" and checks["sip"].url is None


def test_every_problem_is_reported_at_once(inventory: Path) -> None:
    (inventory / "hosts.yml").write_text(
        HOSTS.replace("          netmon_site: H-DIAN\n", "").replace(
            "netmon_level: dc", "netmon_level: moon"
        )
    )
    (inventory / "host_vars" / "tdm-router-01.yml").write_text(
        "netmon_snmp_credential: nope\nnetmon_snmp_prot: 161\nnetmon_intervall: 5\n"
    )
    with pytest.raises(InventoryError) as error:
        load(inventory)
    fields = {(p.host, p.field) for p in error.value.problems}
    assert ("dian-router-01", "netmon_site") in fields
    assert ("dc1-srv-01", "netmon_level") in fields
    assert ("tdm-router-01", "netmon_intervall") in fields
    assert ("tdm-router-01", "netmon_snmp_credential") in fields


def test_bad_collector_setting_names_the_variable(inventory: Path) -> None:
    (inventory / "host_vars" / "tdm-router-01.yml").write_text(
        "netmon_snmp_port: 99999\nnetmon_snmp_profiles: [system, nosuch]\nnetmon_snmp_colour: red\n"
    )
    text = problems_of(inventory)
    assert (
        "host tdm-router-01: netmon_snmp_port: Input should be less than or equal to 65535" in text
    )
    assert "netmon_snmp_colour: unknown setting" in text


def test_unknown_profile_and_check_are_reported(inventory: Path) -> None:
    (inventory / "host_vars" / "tdm-router-01.yml").write_text(
        "netmon_snmp_profiles: [system, nosuch]\n"
    )
    (inventory / "host_vars" / "dian-router-01.yml").write_text(
        "netmon_checks: [snmp, telepathy]\n"
    )
    text = problems_of(inventory)
    assert "netmon_snmp_profiles: unknown profile 'nosuch'" in text
    assert "host dian-router-01: netmon_checks: unknown check 'telepathy'" in text


def test_bad_credential_set_is_reported_without_its_secret(inventory: Path) -> None:
    broken = ALL_VARS.replace("priv_protocol: aes128", "priv_protocol: rot13")
    broken = broken.replace("{file: core-priv.txt}", '"short"')
    (inventory / "group_vars" / "all" / "netmon.yml").write_text(broken)
    text = problems_of(inventory)
    assert "host dc1-srv-01: netmon_credentials.core_v3.priv_protocol" in text
    assert "group_vars/all/netmon.yml" in text
    assert "short" not in text.replace("shortcut", "")


def test_unresolvable_secret_names_the_source(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_NETMON_AUTH")
    text = problems_of(inventory)
    assert "netmon_credentials.core_v3: environment variable TEST_NETMON_AUTH is not set" in text


def test_vault_value_without_vault_password_is_a_clear_error(inventory: Path) -> None:
    vault = Path("inventory/lab/group_vars/all/vault.yml").read_text()
    (inventory / "group_vars" / "all" / "vault.yml").write_text(vault)
    (inventory / "group_vars" / "all" / "netmon.yml").write_text(
        ALL_VARS.replace("vault_community: public-lab\n", "").replace(
            "vault_community", "vault_lab_community"
        )
    )
    text = problems_of(inventory)
    assert "encrypted with Ansible Vault but no vault password file was given" in text
    found = load_inventory(
        inventory,
        CollectorRegistry.from_entry_points(),
        vault_password_file=Path("inventory/lab/vault-password.txt"),
    )
    assert (
        found.hosts["tdm-router-01"].checks["snmp"].credential.community.reveal() == "tslcd-lab-ro"
    )


def test_unparsable_inventory_source_fails_instead_of_being_empty(inventory: Path) -> None:
    (inventory / "hosts.yml").write_text("[routers\nr1 ansible_host=127.0.0.1\n")
    (inventory / "hosts.yml").rename(inventory / "hosts")
    text = problems_of(inventory)
    assert "hosts" in text


def test_cli_check_exits_3_and_run_starts_nothing(inventory: Path) -> None:
    (inventory / "host_vars" / "tdm-router-01.yml").write_text("netmon_snmp_credential: nope\n")
    runner = CliRunner()
    checked = runner.invoke(cli, ["inventory", "check", "-i", str(inventory)])
    assert checked.exit_code == EXIT_INVALID
    assert "unknown credential set 'nope'" in checked.output
    ran = runner.invoke(cli, ["run", "-i", str(inventory), "--duration", "1"])
    assert ran.exit_code == EXIT_INVALID
    assert "inventory is invalid" in ran.output
    assert "targets →" not in ran.output


def test_cli_show_masks_secrets(inventory: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["inventory", "show", "dc1-srv-01", "-i", str(inventory)])
    assert shown.exit_code == 0, shown.output
    assert "auth-pass-123" not in shown.output and "priv-pass-123" not in shown.output
    assert '"auth_password": "<secret>"' in shown.output
    assert '"level": "dc"' in shown.output


def test_a_problem_shared_by_many_hosts_is_one_line() -> None:
    from agent.inventory.problems import Problem

    shared = [Problem("g.yml:3", f"commune-{i:03}", "netmon_x", "bad") for i in range(91)]
    text = str(InventoryError([*shared, Problem("h.yml", "r1", "netmon_y", "worse")]))
    lines = text.splitlines()
    assert len(lines) == 2
    assert (
        "hosts commune-000, commune-001, commune-002, commune-003, commune-004 and 86 more" in text
    )
    assert "h.yml: host r1: netmon_y: worse" in lines


def test_timeout_longer_than_the_interval_is_refused(inventory: Path) -> None:
    (inventory / "host_vars" / "tdm-router-01.yml").write_text(
        "netmon_interval: 30\nnetmon_timeout: 90\n"
    )
    text = problems_of(inventory)
    assert "netmon_timeout must not exceed netmon_interval" in text


def test_one_v3_user_with_two_key_sets_is_refused(inventory: Path) -> None:
    other = ALL_VARS + (
        "  other_v3:\n    version: 3\n    user: netmon\n    auth_protocol: sha\n"
        "    auth_password: other-pass-1\n"
    )
    (inventory / "group_vars" / "all" / "netmon.yml").write_text(
        other.replace("vault_community: public-lab\n", "") + "vault_community: public-lab\n"
    )
    (inventory / "host_vars" / "tdm-router-01.yml").write_text("netmon_snmp_credential: other_v3\n")
    text = problems_of(inventory)
    assert "uses SNMPv3 user 'netmon' with other keys than set" in text
    assert "other-pass-1" not in text
