"""The oracle reads net-snmp's output exactly: samples captured from snmpget/snmpbulkwalk 5.9.3.

Captured with ``-On -Ox -Oe`` and no MIBs, against snmpsim serving the shipped recordings
(fortinet-fortigate-500d, cisco-isr4321, apc-smart-ups-smtl1000) and against snmpd.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.lab import oracle
from agent.secret import Secret

# snmpget, fortigate: empty sysDescr, OID, TimeTicks, exceptions, INTEGER, Counter64.
FORTIGATE_GET = """\
.1.3.6.1.2.1.1.1.0 = ""
.1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.12356.101.1.5004
.1.3.6.1.2.1.1.3.0 = Timeticks: (3491483764) 404 days, 2:33:57.64
.1.3.6.1.2.1.1.9.0 = No Such Instance currently exists at this OID
.1.3.6.1.2.1.2.2.1.8.1 = INTEGER: 1
.1.3.6.1.2.1.31.1.1.1.6.1 = Counter64: 5637850281
.1.3.6.1.2.1.1.99.0 = No Such Object available on this agent at this OID
"""

# snmpbulkwalk, isr4321 system group: a hex string broken every 16 bytes (hexOutputLength 16),
# with the recording's quotes, LF and CR LF inside (abridged to five of its lines); trailing
# spaces as net-snmp prints them.
ISR_SYSTEM_WALK = """\
.1.3.6.1.2.1.1.1.0 = Hex-STRING: 22 43 69 73 63 6F 20 49 4F 53 20 53 6F 66 74 77 
61 72 65 20 5B 42 65 6E 67 61 6C 75 72 75 5D 2C 
45 20 28 66 63 31 29 0A 54 65 63 68 6E 69 63 61 
74 65 63 68 73 75 70 70 6F 72 74 0D 0A 43 6F 70 
2D 32 32 20 30 38 3A 35 34 20 62 79 20 6D 63 22 
.1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.9.1.2093
.1.3.6.1.2.1.1.5.0 = Hex-STRING: 3C 70 72 69 76 61 74 65 3E 
"""  # noqa: W291

# snmpbulkwalk past the end of snmpsim's data: endOfMibView printed against the last OID.
ISR_END_OF_MIB_WALK = """\
.1.3.6.1.4.1.9.9.276.1.1.1.1.11.5 = Counter32: 0
.1.3.6.1.4.1.9.9.276.1.1.1.1.11.7 = Counter32: 0
.1.3.6.1.4.1.9.9.276.1.1.1.1.11.7 = No more variables left in this MIB View (It is past the end of the MIB tree)
.1.3.6.1.4.1.9.9.276.1.1.1.1.11.7 = No more variables left in this MIB View (It is past the end of the MIB tree)
"""  # noqa: E501

# snmpbulkwalk of a subtree the device does not have: net-snmp GETs the root and prints that.
EMPTY_SUBTREE_WALK = ".1.3.6.1.2.1.4.20 = No Such Instance currently exists at this OID\n"

MIXED_TYPES = """\
.1.3.6.1.2.1.4.20.1.3.192.168.106.93 = IpAddress: 255.255.255.252
.1.3.6.1.4.1.318.1.1.25.1.2.1.7.2.1 = INTEGER: -1
.1.3.6.1.2.1.2.2.1.10.1 = Counter32: 0
.1.3.6.1.4.1.12356.101.4.1.5.0 = Gauge32: 8188980
.1.3.6.1.2.1.14.2.1.2.0.0.0.16 = NULL
.1.3.6.1.4.1.12356.101.4.1.1.0 = Hex-STRING: 76 35 2E 36 2E 36 2C 62 75 69 6C 64 31 36 33 30 2C 31 38 30 39 31 33 20 28 47 41 29
"""  # noqa: E501


def test_get_output_values_types_and_exceptions() -> None:
    assert oracle.parse_output(FORTIGATE_GET) == {
        "1.3.6.1.2.1.1.1.0": (oracle.OCTET_STRING, ""),
        "1.3.6.1.2.1.1.2.0": (oracle.OBJECT_IDENTIFIER, "1.3.6.1.4.1.12356.101.1.5004"),
        "1.3.6.1.2.1.1.3.0": (oracle.TIMETICKS, "3491483764"),
        "1.3.6.1.2.1.1.9.0": (oracle.NO_SUCH_INSTANCE, ""),
        "1.3.6.1.2.1.2.2.1.8.1": (oracle.INTEGER, "1"),
        "1.3.6.1.2.1.31.1.1.1.6.1": (oracle.COUNTER64, "5637850281"),
        "1.3.6.1.2.1.1.99.0": (oracle.NO_SUCH_OBJECT, ""),
    }


def test_hex_string_broken_over_lines_is_joined_byte_exact() -> None:
    parsed = oracle.parse_output(ISR_SYSTEM_WALK)

    kind, hex_value = parsed["1.3.6.1.2.1.1.1.0"]
    assert kind == oracle.OCTET_STRING
    raw = bytes.fromhex(hex_value)
    assert len(raw) == 5 * 16
    assert raw.startswith(b'"Cisco IOS Softw')
    assert b")\nTechnica" in raw
    assert b"techsupport\r\nCop" in raw
    assert raw.endswith(b' by mc"')
    assert parsed["1.3.6.1.2.1.1.5.0"] == (oracle.OCTET_STRING, b"<private>".hex())
    assert parsed["1.3.6.1.2.1.1.2.0"] == (oracle.OBJECT_IDENTIFIER, "1.3.6.1.4.1.9.1.2093")


def test_end_of_mib_view_does_not_hide_the_last_value() -> None:
    parsed = oracle.parse_output(ISR_END_OF_MIB_WALK)

    assert parsed == {
        "1.3.6.1.4.1.9.9.276.1.1.1.1.11.5": (oracle.COUNTER32, "0"),
        "1.3.6.1.4.1.9.9.276.1.1.1.1.11.7": (oracle.COUNTER32, "0"),
    }


def test_empty_subtree_parses_to_its_exception() -> None:
    assert oracle.parse_output(EMPTY_SUBTREE_WALK) == {
        "1.3.6.1.2.1.4.20": (oracle.NO_SUCH_INSTANCE, "")
    }


def test_ip_address_negative_integer_gauge_null_and_long_hex() -> None:
    parsed = oracle.parse_output(MIXED_TYPES)

    assert parsed["1.3.6.1.2.1.4.20.1.3.192.168.106.93"] == (oracle.IP_ADDRESS, "255.255.255.252")
    assert parsed["1.3.6.1.4.1.318.1.1.25.1.2.1.7.2.1"] == (oracle.INTEGER, "-1")
    assert parsed["1.3.6.1.2.1.2.2.1.10.1"] == (oracle.COUNTER32, "0")
    assert parsed["1.3.6.1.4.1.12356.101.4.1.5.0"] == (oracle.GAUGE32, "8188980")
    assert parsed["1.3.6.1.2.1.14.2.1.2.0.0.0.16"] == (oracle.NULL, "")
    kind, hex_value = parsed["1.3.6.1.4.1.12356.101.4.1.1.0"]
    assert (kind, bytes.fromhex(hex_value)) == (
        oracle.OCTET_STRING,
        b"v5.6.6,build1630,180913 (GA)",
    )


@pytest.mark.parametrize(
    "output",
    [
        '.1.3.6.1.2.1.1.5.0 = STRING: "core"\n',  # -Ox missing: quoting would hide bytes
        ".1.3.6.1.2.1.1.3.0 = 101\n",  # -Ot: the type label is gone
        ".1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.9\nnot a continuation\n",
        "garbage before any value\n",
        ".1.3.6.1.2.1.1.3.0 = Wrong Type (should be Timeticks): INTEGER: 5\n",
    ],
)
def test_output_it_does_not_understand_is_an_error(output: str) -> None:
    with pytest.raises(oracle.OracleParseError):
        oracle.parse_output(output)


# --- the recording side of the comparison --------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        ("2", "-1", (oracle.INTEGER, "-1")),
        ("4", "<private>", (oracle.OCTET_STRING, b"<private>".hex())),
        ("4", "", (oracle.OCTET_STRING, "")),
        ("4x", "0A0d", (oracle.OCTET_STRING, "0a0d")),
        ("5", "", (oracle.NULL, "")),
        ("6", "1.3.6.1.4.1.9.1.1208", (oracle.OBJECT_IDENTIFIER, "1.3.6.1.4.1.9.1.1208")),
        ("64", "255.255.255.0", (oracle.IP_ADDRESS, "255.255.255.0")),
        ("64x", "0a000001", (oracle.IP_ADDRESS, "10.0.0.1")),
        ("65", "7", (oracle.COUNTER32, "7")),
        ("66", "1000000000", (oracle.GAUGE32, "1000000000")),
        ("67", "3491483764", (oracle.TIMETICKS, "3491483764")),
        ("70", "5637850281", (oracle.COUNTER64, "5637850281")),
        ("70:numeric", "initial=1,rate=2", None),
    ],
)
def test_snmprec_values_in_oracle_form(tag: str, text: str, expected: oracle.Value | None) -> None:
    assert oracle.snmprec_value(tag, text) == expected


def test_read_snmprec_strips_like_snmpsim_and_skips_what_is_not_served(tmp_path: Path) -> None:
    recording = tmp_path / "device.snmprec"
    recording.write_bytes(
        b"1.3.6.1.2.1.1.1.0|4|Linux box  \n"
        b"1.3.6.1.2.1.1.3.0|67:numeric|initial=5,rate=100\n"
        b"1.3.6.1.2.1.4.20.1.2.10.xx.xx.100|2|13\n"
        b"\n"
        b"1.3.6.1.2.1.31.1.1.1.6.1|70|42\n"
    )

    assert oracle.read_snmprec(recording) == {
        "1.3.6.1.2.1.1.1.0": (oracle.OCTET_STRING, b"Linux box".hex()),
        "1.3.6.1.2.1.31.1.1.1.6.1": (oracle.COUNTER64, "42"),
    }


# --- credentials never reach the command line ---------------------------------------------------


def _fake_tool(tmp_path: Path) -> Path:
    """A stand-in for snmpget that records its argv and its snmp.conf, and prints one value."""
    tool = tmp_path / "fake-snmpget"
    tool.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{tmp_path}/argv"\n'
        f'cat "$SNMPCONFPATH/snmp.conf" > "{tmp_path}/conf"\n'
        f'stat -c %a "$SNMPCONFPATH/snmp.conf" > "{tmp_path}/mode"\n'
        'echo ".1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.8072.3.2.10"\n'
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return tool


def test_v3_secrets_go_to_a_private_conf_file_not_argv(tmp_path: Path) -> None:
    v3 = oracle.V3Credentials(
        "monitor", Secret("auth-secret-1"), Secret("priv-secret-2"), context="core"
    )

    answered = oracle.get(
        ("127.0.0.1", 16161), ["1.3.6.1.2.1.1.2.0"], v3=v3, tool=str(_fake_tool(tmp_path))
    )

    argv = (tmp_path / "argv").read_text()
    conf = (tmp_path / "conf").read_text().splitlines()
    assert answered == {"1.3.6.1.2.1.1.2.0": (oracle.OBJECT_IDENTIFIER, "1.3.6.1.4.1.8072.3.2.10")}
    assert "auth-secret-1" not in argv
    assert "priv-secret-2" not in argv
    assert argv.splitlines()[-2:] == ["udp:127.0.0.1:16161", "1.3.6.1.2.1.1.2.0"]
    assert {"-On", "-Ox", "-Oe"} <= set(argv.splitlines())
    assert "defAuthPassphrase auth-secret-1" in conf
    assert "defPrivPassphrase priv-secret-2" in conf
    assert "defSecurityLevel authPriv" in conf
    assert "defContext core" in conf
    assert "mibs :" in conf
    assert (tmp_path / "mode").read_text().strip() == "600"
    assert "auth-secret-1" not in repr(v3)


def test_community_goes_to_the_conf_file_too(tmp_path: Path) -> None:
    oracle.get(
        ("127.0.0.1", 16161),
        ["1.3.6.1.2.1.1.2.0"],
        community=Secret("c0mmunity-x"),
        tool=str(_fake_tool(tmp_path)),
    )

    assert "c0mmunity-x" not in (tmp_path / "argv").read_text()
    assert "defCommunity c0mmunity-x" in (tmp_path / "conf").read_text().splitlines()


def test_a_failing_tool_raises_with_its_stderr(tmp_path: Path) -> None:
    tool = tmp_path / "failing-snmpget"
    tool.write_text("#!/bin/sh\necho 'Timeout: No Response from udp:127.0.0.1:9.' >&2\nexit 1\n")
    os.chmod(tool, 0o700)

    with pytest.raises(oracle.OracleError, match="Timeout: No Response"):
        oracle.get(("127.0.0.1", 9), ["1.3.6.1.2.1.1.2.0"], community="x", tool=str(tool))


@pytest.mark.parametrize("bad", ["two words", "", "tab\there"])
def test_conf_values_with_white_space_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="white space"):
        oracle.client_conf(Path("/nonexistent"), bad, None)
