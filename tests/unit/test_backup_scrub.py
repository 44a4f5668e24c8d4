"""Secret and volatile-line stripping of device configurations (agent.backup.scrub)."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from agent.backup.recipes import RECIPES
from agent.backup.scrub import PLACEHOLDER, RULES, VOLATILE, leaked, scrub
from collectors.ssh.platforms import PLATFORMS, Platform

CONFIGS = Path(__file__).resolve().parents[2] / "agent" / "lab" / "configs"
LAB: dict[Platform, str] = {
    "cisco_ios": "cisco_ios.cfg",
    "huawei_vrp": "huawei_vrp.cfg",
    "juniper_junos": "juniper_junos.cfg",
    "mikrotik_routeros": "mikrotik_routeros.rsc",
    "linux": "linux-frr.conf",
}


def known_secrets() -> list[str]:
    lines = (CONFIGS / "known-secrets.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def lab_config(platform: Platform, hostname: str = "tslcd-r01") -> str:
    # safe_substitute: password hashes like $9$... and $6$salt$... contain "$".
    text = (CONFIGS / LAB[platform]).read_text(encoding="utf-8")
    return string.Template(text).safe_substitute(hostname=hostname)


def test_every_platform_has_rules_volatile_patterns_recipe_and_lab_config() -> None:
    assert set(RULES) == set(PLATFORMS)
    assert set(VOLATILE) == set(PLATFORMS)
    assert set(RECIPES) == set(PLATFORMS)
    assert set(LAB) == set(PLATFORMS)


def test_recipes() -> None:
    assert RECIPES["cisco_ios"].command == "show running-config"
    assert RECIPES["cisco_ios"].needs_enable
    assert RECIPES["huawei_vrp"].command == "display current-configuration"
    assert RECIPES["juniper_junos"].command == "show configuration | display omit"
    assert RECIPES["mikrotik_routeros"].command == "/export"
    assert RECIPES["linux"].command is None
    assert not any(RECIPES[p].needs_enable for p in PLATFORMS if p != "cisco_ios")


def test_known_secrets_are_all_planted_and_distinct() -> None:
    secrets = known_secrets()
    assert len(secrets) == len(set(secrets))
    raw = "".join(lab_config(p) for p in PLATFORMS)
    assert [s for s in secrets if s not in raw] == []
    assert all(len(s) >= 4 for s in secrets)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_lab_config_shape(platform: Platform) -> None:
    raw = lab_config(platform, hostname="tslcd-test-77")
    assert 100 <= len(raw.splitlines()) <= 300
    assert "tslcd-test-77" in raw
    assert len(leaked(raw, known_secrets())) >= 10, "each lab config plants many secrets"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_no_known_secret_survives(platform: Platform) -> None:
    out = scrub(platform, lab_config(platform))
    assert leaked(out, known_secrets()) == []
    assert PLACEHOLDER in out
    assert "tslcd-r01" in out


@pytest.mark.parametrize("platform", PLATFORMS)
def test_idempotent_on_lab_configs(platform: Platform) -> None:
    once = scrub(platform, lab_config(platform))
    assert scrub(platform, once) == once


@pytest.mark.parametrize("platform", PLATFORMS)
def test_lab_config_through_a_terminal(platform: Platform) -> None:
    raw = lab_config(platform)
    noisy = "\r\n".join(f"\x1b[0m{line}  \t" for line in raw.splitlines())
    assert scrub(platform, "\n\n" + noisy + "\r\n\r\n") == scrub(platform, raw)


# (platform, line as printed, line as stored): the keyword and type prefix stay.
RULE_CASES: list[tuple[Platform, str, str]] = [
    ("cisco_ios", "enable secret level 15 5 $1$abcd$XyZ", "enable secret level 15 5 <removed>"),
    ("cisco_ios", "enable password Plain-Enable", "enable password <removed>"),
    (
        "cisco_ios",
        "username u1 privilege 15 algorithm-type scrypt secret 9 $9$ab$cd",
        "username u1 privilege 15 algorithm-type scrypt secret 9 <removed>",
    ),
    ("cisco_ios", " password 7 0822455D0A16", " password 7 <removed>"),
    (
        "cisco_ios",
        "snmp-server community S3cr3tComm RO 10",
        "snmp-server community <removed> RO 10",
    ),
    (
        "cisco_ios",
        "snmp-server host 10.0.0.1 vrf MGMT traps version 1 Comm1 snmp",
        "snmp-server host 10.0.0.1 vrf MGMT traps version 1 <removed> snmp",
    ),
    (
        "cisco_ios",
        "snmp-server host 10.0.0.1 version 3 auth usr3",
        "snmp-server host 10.0.0.1 version 3 auth <removed>",
    ),
    ("cisco_ios", "snmp-server host 10.0.0.1 Comm2", "snmp-server host 10.0.0.1 <removed>"),
    (
        "cisco_ios",
        "snmp-server user u G v3 auth md5 AuthPw priv 3des PrivPw access 5",
        "snmp-server user u G v3 auth md5 <removed> priv 3des <removed> access 5",
    ),
    (
        "cisco_ios",
        "crypto isakmp key 6 Psk6Value address 0.0.0.0 0.0.0.0",
        "crypto isakmp key 6 <removed> address 0.0.0.0 0.0.0.0",
    ),
    (
        "cisco_ios",
        "  pre-shared-key hostname peer.example key PskHost",
        "  pre-shared-key hostname peer.example key <removed>",
    ),
    ("cisco_ios", " key-string 7 060506324F41", " key-string 7 <removed>"),
    (
        "cisco_ios",
        " standby 3 authentication md5 key-string 7 1234ABCD timeout 30",
        " standby 3 authentication md5 key-string 7 <removed> timeout 30",
    ),
    (
        "cisco_ios",
        " vrrp 1 authentication md5 key-string VrrpMd5",
        " vrrp 1 authentication md5 key-string <removed>",
    ),
    (
        "cisco_ios",
        "radius-server host 10.0.0.9 auth-port 1812 key 7 RadHost7",
        "radius-server host 10.0.0.9 auth-port 1812 key 7 <removed>",
    ),
    (
        "cisco_ios",
        " server-private 10.0.0.8 timeout 5 key 7 SrvPriv",
        " server-private 10.0.0.8 timeout 5 key 7 <removed>",
    ),
    ("cisco_ios", " wpa-psk hex 0 ABCDEF0123", " wpa-psk hex 0 <removed>"),
    (
        "huawei_vrp",
        " radius-server shared-key cipher %^%#a b%^%#",
        " radius-server shared-key cipher <removed>",
    ),
    (
        "huawei_vrp",
        " local-user a password cipher %$%$x%$%$",
        " local-user a password cipher <removed>",
    ),
    (
        "huawei_vrp",
        "snmp-agent community read Plain-Read-Comm mib-view iso",
        "snmp-agent community read <removed> mib-view iso",
    ),
    (
        "huawei_vrp",
        "snmp-agent usm-user v3 u1 authentication-password cipher AuthCipherX",
        "snmp-agent usm-user v3 u1 authentication-password cipher <removed>",
    ),
    (
        "huawei_vrp",
        "snmp-agent usm-user v3 u1 privacy-password PrivPlainX",
        "snmp-agent usm-user v3 u1 privacy-password <removed>",
    ),
    (
        "huawei_vrp",
        " isis authentication-mode md5 cipher IsisMd5X",
        " isis authentication-mode md5 cipher <removed>",
    ),
    (
        "huawei_vrp",
        " local-user u password irreversible-cipher $1a$abc$",
        " local-user u password irreversible-cipher <removed>",
    ),
    (
        "juniper_junos",
        'set system root-authentication encrypted-password "$6$salt$hash"',
        'set system root-authentication encrypted-password "<removed>"',
    ),
    (
        "juniper_junos",
        "set snmp community Public-Ro authorization read-only",
        'set snmp community "<removed>" authorization read-only',
    ),
    (
        "juniper_junos",
        'set security ike policy P pre-shared-key hexadecimal "0badc0de"',
        'set security ike policy P pre-shared-key hexadecimal "<removed>"',
    ),
    (
        "juniper_junos",
        "set snmp v3 usm local-engine user u authentication-md5 authentication-password AuthPwJ",
        "set snmp v3 usm local-engine user u authentication-md5 "
        'authentication-password "<removed>"',
    ),
    ("juniper_junos", "    community NoBraces;", '    community "<removed>";'),
    (
        "mikrotik_routeros",
        '/snmp community add addresses=::/0 name="Comm With Space"',
        "/snmp community add addresses=::/0 name=<removed>",
    ),
    (
        "mikrotik_routeros",
        "/interface wireguard peers add preshared-key=Psk public-key=Pub=",
        "/interface wireguard peers add preshared-key=<removed> public-key=Pub=",
    ),
    ("linux", "auth_pass KeepAlv1", "auth_pass <removed>"),
    ("linux", "rocommunity SnmpdRo default", "rocommunity <removed> default"),
    ("linux", 'psk="wpa passphrase here"', "psk=<removed>"),
    ("linux", "secret: YamlSecret", "secret: <removed>"),
    ("linux", "PASSWORD=EnvPw", "PASSWORD=<removed>"),
]


@pytest.mark.parametrize(("platform", "line", "expected"), RULE_CASES)
def test_rule(platform: Platform, line: str, expected: str) -> None:
    assert scrub(platform, line) == expected + "\n"
    assert scrub(platform, expected) == expected + "\n"


# Lines that look secret-ish but are not; they must come through unchanged.
KEPT: list[tuple[Platform, str]] = [
    ("cisco_ios", "service password-encryption"),
    ("cisco_ios", "security passwords min-length 10"),
    ("cisco_ios", " standby 21 authentication md5 key-chain HSRP-KEYS"),
    ("cisco_ios", "key chain OSPF-KEYS\n key 1\n  key-string <removed>"),
    ("cisco_ios", "crypto pki certificate chain TP\n certificate self-signed 01\n  3082032E 308"),
    ("cisco_ios", " authentication key-management wpa version 2"),
    ("huawei_vrp", "!Software Version V200R019C10SPC500"),
    ("huawei_vrp", "ssh server cipher aes256_ctr aes128_ctr"),
    ("huawei_vrp", "ssh client cipher aes256_ctr"),
    ("huawei_vrp", " authentication-mode password"),
    ("huawei_vrp", "snmp-agent usm-user v3 u1 authentication-mode sha"),
    ("juniper_junos", "    community PROVINCE members 65030:100;"),
    ("juniper_junos", "                community add PROVINCE;"),
    ("juniper_junos", "version 20.4R3-S2.6;"),
    ("mikrotik_routeros", "# software id = TSLC-D7K2"),
    ("mikrotik_routeros", "/interface bridge\nadd name=bridge-lan"),
    ("mikrotik_routeros", "/ip ipsec peer\nadd address=198.51.100.20/32 name=dr-site"),
    ("linux", "PasswordAuthentication no"),
    ("linux", "HostKey /etc/ssh/ssh_host_ed25519_key"),
    ("linux", "key chain OSPF-KEYS\n key 1"),
    ("linux", " set community 65050:100"),
    ("linux", " ip ospf authentication message-digest"),
]


@pytest.mark.parametrize(("platform", "text"), KEPT)
def test_not_a_secret(platform: Platform, text: str) -> None:
    assert scrub(platform, text) == text + "\n"


def test_routeros_wrapped_secret_is_joined_then_hidden() -> None:
    raw = "/ppp secret\nadd name=b1 password=Wrapped-Sec\\\n    ret-0042 profile=default\n"
    out = scrub("mikrotik_routeros", raw)
    assert out == "/ppp secret\nadd name=b1 password=<removed> profile=default\n"
    assert leaked(out, ["Wrapped-Secret-0042", "ret-0042"]) == []


def test_routeros_community_name_only_hidden_in_snmp_community_section() -> None:
    raw = "/snmp community\nadd name=CommX\n/interface vlan\nadd name=vlan10 vlan-id=10\n"
    assert scrub("mikrotik_routeros", raw) == (
        "/snmp community\nadd name=<removed>\n/interface vlan\nadd name=vlan10 vlan-id=10\n"
    )


def test_a_changed_secret_is_not_a_change() -> None:
    before = scrub("cisco_ios", "username a secret 9 $9$old$hash\n")
    after = scrub("cisco_ios", "username a secret 9 $9$new$hash\n")
    assert before == after


VOLATILE_VARIANTS: dict[Platform, tuple[str, str]] = {
    "cisco_ios": (
        "show running-config\nBuilding configuration...\n\nCurrent configuration : 1200 bytes\n"
        "!\n! Last configuration change at 08:14:22 ICT Tue Mar 5 2024 by a\n"
        "! NVRAM config last updated at 08:15:01 ICT Tue Mar 5 2024 by a\n"
        "version 15.9\nntp clock-period 17208078\nhostname r1\nend\n",
        "Building configuration...\n\nCurrent configuration : 1187 bytes\n"
        "!\n! No configuration change since last restart\n"
        "version 15.9\nntp clock-period 17208111\nhostname r1\nend\n",
    ),
    "huawei_vrp": (
        "!Software Version V200R019C10SPC500\n"
        "!Last configuration was updated at 2024-03-05 08:14:22+07:00 by a\n"
        "!Last configuration was saved at 2024-03-04 22:00:01+07:00 by a\n"
        "#\nsysname r1\n#\nreturn\n",
        "!Software Version V200R019C10SPC500\n"
        "!Last configuration was updated at 2024-04-01 10:00:00+07:00 by b\n#\nsysname r1\n"
        "#\nreturn\n",
    ),
    "juniper_junos": (
        "## Last commit: 2024-03-05 08:14:22 ICT by a\nversion 20.4R3;\nsystem {\n"
        "    host-name r1;\n}\n\n{master:0}\n",
        "## Last changed: 2024-04-01 10:00:00 ICT\nversion 20.4R3;\n"
        "system {\n    host-name r1;\n}\n",
    ),
    "mikrotik_routeros": (
        "# 2024-03-05 08:14:22 by RouterOS 7.14.1\n# software id = ABCD-1234\n/system identity\n"
        "set name=r1\n",
        "# mar/06/2024 09:00:00 by RouterOS 7.14.1\n# software id = ABCD-1234\n/system identity\n"
        "set name=r1\n",
    ),
}


@pytest.mark.parametrize("platform", list(VOLATILE_VARIANTS))
def test_volatile_lines_do_not_make_a_change(platform: Platform) -> None:
    first, second = VOLATILE_VARIANTS[platform]
    assert scrub(platform, first) == scrub(platform, second)


def test_ios_header_and_volatile_lines_dropped_rest_kept() -> None:
    out = scrub("cisco_ios", VOLATILE_VARIANTS["cisco_ios"][0])
    assert out == "!\nversion 15.9\nhostname r1\nend\n"


@pytest.mark.parametrize("platform", list(VOLATILE_VARIANTS))
def test_lab_configs_differing_in_volatile_lines_scrub_identically(platform: Platform) -> None:
    raw = lab_config(platform)
    variant = raw.replace("2024-03-05 08:14:22", "2025-01-09 23:59:59").replace(
        "08:14:22 ICT Tue Mar 5 2024", "23:59:59 ICT Thu Jan 9 2025"
    )
    variant = variant.replace("17208078", "17208091").replace("9412 bytes", "9399 bytes")
    assert variant != raw
    assert scrub(platform, variant) == scrub(platform, raw)


def test_config_without_secrets_is_only_normalised() -> None:
    clean = "interface eth0\n ip address 10.0.0.1/24\n!\nrouter ospf\n network 10.0.0.0/24 area 0\n"
    assert scrub("linux", clean) == clean
    messy = (
        "\r\n\n" + clean.replace("\n", "   \r\n").replace("router", "\x1b[1mrouter\x1b[0m") + "\n\n"
    )
    assert scrub("linux", messy) == clean
    assert scrub("cisco_ios", "") == ""
    assert scrub("cisco_ios", "\n \n") == ""


def test_leaked_reports_line_numbers_only() -> None:
    text = "a\nsecret Tslcd-Leak-1\nb\nTslcd-Leak-2 and Tslcd-Leak-1\n"
    assert leaked(text, ["Tslcd-Leak-1", "Tslcd-Leak-2"]) == [2, 4]
    assert leaked(text, ["abc", "", "  "]) == []  # too short to be meaningful
    assert leaked(text, [" Tslcd-Leak-2 \n"]) == [4]
    assert leaked(text, []) == []
