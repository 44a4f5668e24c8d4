"""Line-protocol serialisation: escaping goldens, field types, uint modes, and a round trip
through a parser that follows InfluxDB 1.x's own scanning and un-escaping rules
(influxdb/models/points.go: a backslash makes the scanner skip the next byte; un-escaping
replaces only the listed two-byte sequences, in order)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.output.lineprotocol import (
    UintMode,
    escape_key,
    escape_measurement,
    escape_string_value,
    serialize,
    serialize_many,
    unwrap_uint,
    wrap_uint,
)
from agent.samples import FieldValue, Sample, Unsigned

TS = 1_700_000_000_123_456_789

# --- a small InfluxDB 1.x line-protocol parser ------------------------------------------------

# Measurements and field keys go through escape.Unescape, tags through unescapeTag (1.6.7
# checked: a measurement written as a\=c is stored as a=c, a tag key t\"k stays t\"k).
_NAME_CODES = [("\\,", ","), ('\\"', '"'), ("\\ ", " "), ("\\=", "=")]
_TAG_CODES = [("\\,", ","), ("\\ ", " "), ("\\=", "=")]


def _unescape(text: str, codes: list[tuple[str, str]]) -> str:
    for escaped, plain in codes:
        text = text.replace(escaped, plain)
    return text


@dataclass
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, object]
    timestamp: int


class LineParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _scan_to(self, stops: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stops:
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        self.pos = min(self.pos, len(self.text))
        return self.text[start : self.pos]

    def _expect(self, char: str) -> None:
        assert self.text[self.pos] == char, (self.pos, self.text)
        self.pos += 1

    def _field_value(self) -> object:
        if self.text[self.pos] == '"':
            self.pos += 1
            start = self.pos
            while self.text[self.pos] != '"':
                self.pos += 2 if self.text[self.pos] == "\\" else 1
            raw = self.text[start : self.pos]
            self.pos += 1
            return raw.replace("\\\\", "\\").replace('\\"', '"')
        raw = self._scan_to(", \n")
        if raw in {"t", "T", "true", "True", "TRUE"}:
            return True
        if raw in {"f", "F", "false", "False", "FALSE"}:
            return False
        if raw.endswith("i"):
            return ("int", int(raw[:-1]))
        if raw.endswith("u"):
            return ("uint", int(raw[:-1]))
        return float(raw)

    def point(self) -> Point:
        measurement = _unescape(self._scan_to(", \n"), _NAME_CODES)
        tags: dict[str, str] = {}
        while self.text[self.pos] == ",":
            self.pos += 1
            key = _unescape(self._scan_to("="), _TAG_CODES)
            self._expect("=")
            value = _unescape(self._scan_to(", \n"), _TAG_CODES)
            assert key not in tags, f"duplicate tag {key!r}"
            tags[key] = value
        self._expect(" ")
        fields: dict[str, object] = {}
        while True:
            key = _unescape(self._scan_to("="), _NAME_CODES)
            self._expect("=")
            assert key not in fields, f"duplicate field {key!r}"
            fields[key] = self._field_value()
            if self.text[self.pos] != ",":
                break
            self.pos += 1
        self._expect(" ")
        timestamp = int(self._scan_to("\n"))
        if self.pos < len(self.text):
            self._expect("\n")
        return Point(measurement, tags, fields, timestamp)

    def points(self) -> list[Point]:
        found = []
        while self.pos < len(self.text):
            found.append(self.point())
        return found


def parse_one(line: str) -> Point:
    parser = LineParser(line)
    point = parser.point()
    assert parser.pos == len(line), f"trailing text after the point: {line[parser.pos :]!r}"
    return point


def line(measurement: str, tags: dict[str, str], fields: dict[str, FieldValue]) -> str:
    text = serialize(Sample(measurement, tags, fields, TS))
    assert text is not None
    return text


# --- escaping goldens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measurement", "expected"),
    [
        ("cpu", "cpu"),
        ("cpu load", "cpu\\ load"),
        ("cpu,x", "cpu\\,x"),
        ("a=b", "a=b"),  # '=' needs no escape in a measurement
        ('say "hi"', 'say\\ "hi"'),
        ("tab\there", "tab\\there"),
        ("trailing\\", "trailing"),
        ("back\\slash", "back\\slash"),
        ('a\\"b\\=c', 'a"b=c'),  # InfluxDB would un-escape these: the backslash could not survive
    ],
)
def test_measurement_escaping(measurement: str, expected: str) -> None:
    assert escape_measurement(measurement) == expected
    assert line(measurement, {}, {"v": 1}) == f"{expected} v=1i {TS}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("a b", "a\\ b"),
        ("a,b", "a\\,b"),
        ("a=b", "a\\=b"),
        ("x = 1, y = 2", "x\\ \\=\\ 1\\,\\ y\\ \\=\\ 2"),
        ('quote"d', 'quote"d'),  # quotes are literal outside field values
        ("Sở Thông tin và Truyền thông", "Sở\\ Thông\\ tin\\ và\\ Truyền\\ thông"),
        ("line1\nline2", "line1\\nline2"),  # the two characters backslash, n
        ("cr\rlf", "cr\\rlf"),
        ("ends with backslash\\", "ends\\ with\\ backslash"),
        ("back\\, comma", "back\\,\\ comma"),  # the backslash before ',' would eat the escape
        ("c:\\path", "c:\\path"),
    ],
)
def test_tag_escaping(text: str, expected: str) -> None:
    assert escape_key(text) == expected
    assert line("m", {text: text}, {"v": 1}) == f"m,{expected}={expected} v=1i {TS}"


def test_field_key_escaping() -> None:
    fields: dict[str, FieldValue] = {"a b": 1, "c,d": 2, "e=f": 3, 'g"h': 4, "i\\": 5}
    assert line("m", {}, fields) == f'm a\\ b=1i,c\\,d=2i,e\\=f=3i,g"h=4i,i=5i {TS}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\dir\\", '"C:\\\\dir\\\\"'),
        ("two\nlines", '"two\nlines"'),  # legal inside quotes, reads back exactly
        ("a,b=c d", '"a,b=c d"'),
        ("", '""'),
    ],
)
def test_string_field_escaping(text: str, expected: str) -> None:
    assert escape_string_value(text) == expected
    point = parse_one(line("m", {}, {"s": text}))
    assert point.fields == {"s": text}


def test_newline_in_names_and_tags_never_breaks_the_line() -> None:
    text = line("m\nx", {"k\ney": "va\nlue", "site": "a"}, {"f\nk": "multi\nline"})
    points = LineParser(text).points()
    assert len(points) == 1
    assert points[0].measurement == "m\\nx"
    assert points[0].tags == {"k\\ney": "va\\nlue", "site": "a"}
    assert points[0].fields == {"f\\nk": "multi\nline"}


def test_tags_sorted_and_empty_values_omitted() -> None:
    text = line("m", {"z": "1", "a": "2", "m": "", "": "no key", "b": "3"}, {"v": 1})
    assert text == f"m,a=2,b=3,z=1 v=1i {TS}"


def test_keys_that_escape_to_the_same_name_keep_the_first() -> None:
    # "a\\" loses its trailing backslash and would duplicate "a": InfluxDB rejects duplicates.
    text = line("m", {"a": "1", "a\\": "2"}, {"f": 1, "f\\": 2})
    assert text == f"m,a=1 f=1i {TS}"


# --- field types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (0, "0i"),
        (-5, "-5i"),
        (2**63 - 1, "9223372036854775807i"),
        (-(2**63), "-9223372036854775808i"),
        (1.0, "1.0"),
        (0.1, "0.1"),
        (-0.0, "-0.0"),
        (1e100, "1e+100"),
        (5e-324, "5e-324"),
        ("s", '"s"'),
    ],
)
def test_field_types(value: FieldValue, expected: str) -> None:
    assert line("m", {}, {"f": value}) == f"m f={expected} {TS}"


def test_bool_is_not_written_as_integer() -> None:
    assert line("m", {}, {"up": True, "n": 1}) == f"m up=true,n=1i {TS}"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2**63, -(2**63) - 1, None, b"x"])
def test_unstorable_values_are_dropped(bad: object) -> None:
    sample = Sample("m", {}, {"bad": bad, "ok": 1}, TS)  # type: ignore[dict-item]
    assert serialize(sample) == f"m ok=1i {TS}"


def test_sample_without_storable_field_is_skipped() -> None:
    assert serialize(Sample("m", {"t": "v"}, {}, TS)) is None
    assert serialize(Sample("m", {"t": "v"}, {"x": math.nan}, TS)) is None
    assert serialize(Sample("m", {}, {"": 1}, TS)) is None


def test_sample_without_measurement_or_commented_out_is_skipped() -> None:
    assert serialize(Sample("", {}, {"v": 1}, TS)) is None
    assert serialize(Sample("\\", {}, {"v": 1}, TS)) is None
    assert serialize(Sample("#comment", {}, {"v": 1}, TS)) is None


# --- unsigned 64-bit --------------------------------------------------------------------------

UINT_CASES = [
    (0, "0i", "0u"),
    (2**63 - 1, "9223372036854775807i", "9223372036854775807u"),
    (2**63, "-9223372036854775808i", "9223372036854775808u"),
    (2**64 - 1, "-1i", "18446744073709551615u"),
]


@pytest.mark.parametrize(("value", "wrapped", "native"), UINT_CASES)
def test_unsigned_modes(value: int, wrapped: str, native: str) -> None:
    sample = Sample("interface", {}, {"ifHCInOctets": Unsigned(value)}, TS)
    assert serialize(sample) == f"interface ifHCInOctets={wrapped} {TS}"
    assert serialize(sample, uint_mode="wrap") == f"interface ifHCInOctets={wrapped} {TS}"
    assert serialize(sample, uint_mode="native") == f"interface ifHCInOctets={native} {TS}"
    assert unwrap_uint(int(wrapped[:-1])) == value
    assert wrap_uint(value) == int(wrapped[:-1])


def test_wrapped_values_fit_signed_64_bits() -> None:
    for value, _, _ in UINT_CASES:
        assert -(2**63) <= wrap_uint(value) <= 2**63 - 1


# --- many ------------------------------------------------------------------------------------


def test_serialize_many_keeps_order_and_counts_skips() -> None:
    samples = [
        Sample("a", {}, {"v": 1}, 1),
        Sample("b", {}, {}, 2),
        Sample("c", {}, {"v": math.nan}, 3),
        Sample("d", {}, {"v": 2.5}, 4),
    ]
    lines, skipped = serialize_many(samples)
    assert lines == ["a v=1i 1", "d v=2.5 4"]
    assert skipped == 2


# --- round trip ------------------------------------------------------------------------------

# Names without backslashes and control characters must read back exactly; see below for those.
_name_chars = st.characters(exclude_categories=["Cs"], exclude_characters="\\\n\r\t\f\x00")
names = st.text(_name_chars, min_size=1, max_size=12)
measurements = names.filter(lambda name: not name.startswith("#"))
field_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=0, max_value=2**64 - 1).map(Unsigned),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
)


def _expected_field(value: FieldValue, uint_mode: UintMode) -> object:
    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, Unsigned):
        return ("uint", int(value)) if uint_mode == "native" else ("int", wrap_uint(value))
    return ("int", value)


@settings(max_examples=300, deadline=None)
@given(
    measurement=measurements,
    tags=st.dictionaries(names, st.text(_name_chars, max_size=12), max_size=5),
    fields=st.dictionaries(names, field_values, min_size=1, max_size=5),
    timestamp=st.integers(min_value=-(2**62), max_value=2**62),
    uint_mode=st.sampled_from(["wrap", "native"]),
)
def test_round_trip(
    measurement: str,
    tags: dict[str, str],
    fields: dict[str, FieldValue],
    timestamp: int,
    uint_mode: UintMode,
) -> None:
    text = serialize(Sample(measurement, tags, fields, timestamp), uint_mode=uint_mode)
    assert text is not None
    point = parse_one(text)
    assert point.measurement == measurement
    assert point.tags == {k: v for k, v in tags.items() if v}
    assert point.fields == {k: _expected_field(v, uint_mode) for k, v in fields.items()}
    assert point.timestamp == timestamp
    for key, value in point.fields.items():
        if isinstance(value, tuple) and isinstance(fields[key], Unsigned) and uint_mode == "wrap":
            assert unwrap_uint(value[1]) == fields[key]


_any_chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
awkward = st.text(_any_chars, min_size=1, max_size=8)
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}
_TAG_BAD_BACKSLASH = re.compile(r"\\+(?=[,= \n\r\t\f]|\Z)")
_NAME_BAD_BACKSLASH = re.compile(r"\\+(?=[,= \"\n\r\t\f]|\Z)")


def _as_stored(text: str, bad_backslash: re.Pattern[str] = _TAG_BAD_BACKSLASH) -> str:
    """What InfluxDB stores for a name, tag key or tag value, by the documented rules."""
    text = bad_backslash.sub("", text)
    return "".join(_CONTROL.get(char, char) for char in text)


@settings(max_examples=300, deadline=None)
@given(
    measurement=awkward,
    tags=st.dictionaries(awkward, awkward, max_size=5),
    field_key=awkward,
    value=field_values,
)
def test_awkward_text_never_breaks_the_line(
    measurement: str, tags: dict[str, str], field_key: str, value: FieldValue
) -> None:
    text = serialize(Sample(measurement, tags, {field_key: value}, TS))
    stored_measurement = _as_stored(measurement, _NAME_BAD_BACKSLASH)
    stored_field_key = _as_stored(field_key, _NAME_BAD_BACKSLASH)
    if not stored_measurement or stored_measurement.startswith("#") or not stored_field_key:
        assert text is None
        return
    assert text is not None
    points = LineParser(text).points()
    assert len(points) == 1
    assert points[0].measurement == stored_measurement
    assert points[0].fields == {stored_field_key: _expected_field(value, "wrap")}
    expected: dict[str, str] = {}
    for key in sorted(tags):
        stored_key, stored_value = _as_stored(key), _as_stored(tags[key])
        if stored_key and stored_value and stored_key not in expected:
            expected[stored_key] = stored_value
    assert points[0].tags == expected
