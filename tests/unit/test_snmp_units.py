"""SNMP collector pieces that need no network: values, profiles, credentials."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from pysnmp.proto import rfc1902

from agent.samples import Unsigned
from agent.schema import FieldType, base_schema
from collectors.snmp.config import CommunityCredential, SnmpConfig, UsmCredential
from collectors.snmp.profiles import ProfileError, load_profiles, parse_oid
from collectors.snmp.values import BadValueError, as_field, native


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (rfc1902.Counter64(2**64 - 1), Unsigned(2**64 - 1)),
        (rfc1902.Counter32(4294967295), 4294967295),
        (rfc1902.Gauge32(1000000000), 1000000000),
        (rfc1902.TimeTicks(128991488), 128991488),
        (rfc1902.Integer32(-5), -5),
        (rfc1902.OctetString(b"Gi1/0/1"), "Gi1/0/1"),
        (rfc1902.OctetString(b"eth0\x00"), "eth0"),
        (rfc1902.OctetString("Cổng WAN".encode()), "Cổng WAN"),
        (rfc1902.OctetString(b"\x00\x1b\xff\x10"), "00:1b:ff:10"),
        (rfc1902.IpAddress("10.1.2.3"), "10.1.2.3"),
        (rfc1902.ObjectIdentifier("1.3.6.1.4.1.9"), "1.3.6.1.4.1.9"),
    ],
)
def test_native_values_are_exact(value: object, expected: object) -> None:
    converted = native(value)
    assert converted == expected
    assert type(converted) is type(expected)


def test_counter64_stays_unsigned_and_text_cannot_become_a_number() -> None:
    assert isinstance(as_field(native(rfc1902.Counter64(5)), FieldType.UINT), Unsigned)
    with pytest.raises(BadValueError, match="text"):
        as_field("up", FieldType.INT)
    with pytest.raises(BadValueError, match="signed 64-bit"):
        as_field(Unsigned(2**63), FieldType.INT)
    assert as_field(7, FieldType.STR) == "7"


def test_shipped_profiles_load_and_declare_their_schema() -> None:
    profiles = load_profiles()
    assert {"system", "if-mib"} <= set(profiles)
    schema = base_schema()
    for profile in profiles.values():
        profile.declare(schema)
    interface = schema.get("interface")
    assert interface is not None
    assert interface.fields["ifHCInOctets"] is FieldType.UINT
    assert interface.fields["ifInOctets"] is FieldType.INT  # the 32-bit fallback
    assert {"ifIndex", "ifName", "ifDescr", "source", "sysName"} <= interface.tags
    assert interface.fields["ifAlias"] is FieldType.STR  # free text is a field, never a tag
    columns = {c.name: c for c in profiles["if-mib"].tables[0].columns}
    assert columns["ifHCOutOctets"].oid == parse_oid("1.3.6.1.2.1.31.1.1.1.10")


def test_a_broken_profile_names_its_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\nscalars:\n  x: {oid: not-an-oid}\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml"):
        load_profiles(tmp_path)


def test_credentials_parse_every_supported_protocol() -> None:
    for auth in ("md5", "sha", "sha224", "sha256", "sha384", "sha512"):
        for priv in ("des", "aes128", "aes192", "aes256"):
            config = SnmpConfig.model_validate(
                {
                    "credential": {
                        "name": "x",
                        "version": 3,
                        "user": "u",
                        "auth_protocol": auth,
                        "auth_password": "a" * 8,
                        "priv_protocol": priv,
                        "priv_password": "p" * 8,
                    }
                }
            )
            assert isinstance(config.credential, UsmCredential)
            assert config.credential.security_level == "authPriv"
    v2 = SnmpConfig.model_validate({"credential": {"name": "x", "version": "2c", "community": "c"}})
    assert isinstance(v2.credential, CommunityCredential)


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        (
            {"user": "u", "priv_protocol": "aes128", "priv_password": "p" * 8},
            "needs authentication",
        ),
        ({"user": "u", "auth_protocol": "sha", "auth_password": "short"}, "at least 8"),
        ({"user": "u", "auth_protocol": "sha"}, "go together"),
        ({"user": "u", "auth_protocol": "rot13", "auth_password": "a" * 8}, "auth_protocol"),
    ],
)
def test_bad_v3_credentials_are_refused_without_echoing_secrets(
    credential: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        SnmpConfig.model_validate({"credential": {"name": "x", "version": "3", **credential}})
    assert message in str(error.value)


def test_binary_octets_keep_every_byte_and_truth_values_map_both_ways() -> None:
    assert native(rfc1902.OctetString(b"\x00\x1b\x21\x3a\x4f\x00")) == "00:1b:21:3a:4f:00"
    assert as_field(1, FieldType.BOOL) is True
    assert as_field(2, FieldType.BOOL) is False
    with pytest.raises(BadValueError, match="TruthValue"):
        as_field(0, FieldType.BOOL)
