"""rejected_lines: which lines of a batch an InfluxDB answer names as refused.

The 1.x answers below were captured from Debian's influxd 1.6.7 (tests/integration/
test_rejects_influxdb.py checks them live); they pass through `server_message`, as the writer
sees them. 2.x and 3.x shapes come from their sources and documentation.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.output.lineprotocol import serialize
from agent.output.rejects import (
    fields_of,
    measurement_of,
    rejected_lines,
    server_blocks,
)
from agent.output.transports import MAX_MESSAGE_CHARS, server_message
from agent.samples import Sample


def v1_answer(error: str) -> str:
    """What the writer sees of a 1.x answer: the transport's cleaned message."""
    return server_message(json.dumps({"error": error}))


CONFLICT_V_INT_FLOAT = (
    'partial write: field type conflict: input field "v" on measurement "m" is type integer, '
    "already exists as type float dropped={n}"
)


# --- 1.x: field type conflicts ------------------------------------------------------------


def test_type_conflict_names_every_line_of_the_field_with_another_type() -> None:
    lines = ["m v=2i 2", "m,t=a v=3i 3", "m v=4.5 4", "m w=5i 5", "other v=1i 6"]
    rejection = rejected_lines(lines, v1_answer(CONFLICT_V_INT_FLOAT.format(n=2)))
    assert rejection.indices == (0, 1)
    assert rejection.complete is True
    assert rejection.reported == 2
    assert rejection.refused[0].reason == (
        'field type conflict: input field "v" on measurement "m" is type integer, '
        "already exists as type float"
    )


def test_other_input_types_of_the_same_field_are_named_with_their_own_type() -> None:
    # influxd 1.6.7: stored string; int, bool and float lines all dropped, the first described.
    lines = ["m s=1i 2", "m s=true 3", "m s=1.5 4", 'm s="ok" 5']
    message = v1_answer(
        'partial write: field type conflict: input field "s" on measurement "m" is type '
        "integer, already exists as type string dropped=3"
    )
    rejection = rejected_lines(lines, message)
    assert rejection.indices == (0, 1, 2)
    assert rejection.complete is True
    assert "is type boolean, already exists as type string" in rejection.refused[1].reason
    assert "is type float, already exists as type string" in rejection.refused[2].reason


def test_a_second_conflict_left_undescribed_makes_it_incomplete() -> None:
    # 1.6.7 dropped 4 (m.v int and bool, n.x float and string) but described only m.v.
    lines = ["m v=2i 2", "n x=2.5 3", 'n x="s" 4', "m v=true 5", "m v=3.5 6"]
    rejection = rejected_lines(lines, v1_answer(CONFLICT_V_INT_FLOAT.format(n=4)))
    assert rejection.indices == (0, 3)
    assert rejection.complete is False
    assert rejection.reported == 4


def test_more_matching_lines_than_dropped_names_none() -> None:
    # Field types are per shard: 1.6.7 stored "m v=3i" in a later shard and dropped=1.
    lines = ["m v=2i 2", "m v=3i 1000000000000000000"]
    rejection = rejected_lines(lines, v1_answer(CONFLICT_V_INT_FLOAT.format(n=1)))
    assert rejection.indices == ()
    assert rejection.complete is False


def test_escaped_names_are_compared_unescaped() -> None:
    lines = [
        "my\\ m\\,x,t\\ k=a\\ b v\\ w\\=z\\,q=2i 2",
        "my\\ m\\,x v\\ w\\=z\\,q=2.5 3",
        "my\\ m\\,x v=2i 4",  # another field of the same measurement
    ]
    message = v1_answer(
        'partial write: field type conflict: input field "v w=z,q" on measurement "my m,x" '
        "is type integer, already exists as type float dropped=1"
    )
    rejection = rejected_lines(lines, message)
    assert rejection.indices == (0,)
    assert rejection.complete is True


def test_a_quote_in_a_measurement_name() -> None:
    lines = ['m"x v=1i 2', "m v=1i 3", 'm"x w=1i 4']
    message = v1_answer(
        'partial write: field type conflict: input field "v" on measurement "m"x" is type '
        "integer, already exists as type float dropped=1"
    )
    assert rejected_lines(lines, message).indices == (0,)


def test_quoted_strings_do_not_hide_or_fake_fields() -> None:
    lines = [
        'm note="v=1i, w=2i here",v=1i 1',
        'm note="a \\"quoted\\" v=3i, and a\nnewline" 2',  # v only inside the string
        "m v=1.5 3",
    ]
    rejection = rejected_lines(lines, v1_answer(CONFLICT_V_INT_FLOAT.format(n=1)))
    assert rejection.indices == (0,)


def test_parse_errors_are_not_counted_against_dropped() -> None:
    # A message with both kinds (2.x-like): dropped counts only the storage refusals.
    lines = ["m v=1i 1", "m v= 2", "m v=1.5 3"]
    message = v1_answer(
        "partial write: unable to parse 'm v= 2': missing field value\n"
        + CONFLICT_V_INT_FLOAT.format(n=1).removeprefix("partial write: ")
    )
    rejection = rejected_lines(lines, message)
    assert rejection.indices == (0, 1)
    assert rejection.refused[1].reason == "unable to parse: missing field value"


def test_a_2x_message_with_a_prefix_reads_the_same() -> None:
    body = json.dumps(
        {
            "code": "invalid",
            "message": "failure writing points to database: " + CONFLICT_V_INT_FLOAT.format(n=1),
        }
    )
    lines = ["m v=2i 2", "m v=2.5 3"]
    assert rejected_lines(lines, server_message(body)).indices == (0,)
    assert rejected_lines(lines, body).indices == (0,)


@pytest.mark.parametrize(
    "error",
    [
        "field type conflict",  # 1.6.7: a new field given two types in one batch
        "partial write: points beyond retention policy dropped=2",
        'partial write: max-values-per-tag limit exceeded (100000/100000): measurement="m" '
        'tag="t" value="x" dropped=1',
        CONFLICT_V_INT_FLOAT.format(n=2).removesuffix(" dropped=2"),  # no count: no check
    ],
)
def test_answers_that_name_no_line(error: str) -> None:
    lines = ["m v=2i 2", "m v=3i 3"]
    rejection = rejected_lines(lines, v1_answer(error))
    assert rejection.indices == ()
    assert rejection.complete is False


# --- 1.x: unparseable lines ----------------------------------------------------------------


def test_unparseable_lines_in_a_partial_write() -> None:
    lines = ["m v=2.5 2", "m v= 3", "bad", "m v=4.5 4"]
    message = v1_answer(
        "partial write: unable to parse 'm v= 3': missing field value\n"
        "unable to parse 'bad': missing fields dropped=0"
    )
    rejection = rejected_lines(lines, message)
    assert rejection.indices == (1, 2)
    assert [line.reason for line in rejection.refused] == [
        "unable to parse: missing field value",
        "unable to parse: missing fields",
    ]
    assert rejection.complete is True
    assert rejection.reported == 2


def test_unparseable_lines_when_none_was_good() -> None:
    lines = ["m v= 3", "bad line here"]
    message = v1_answer(
        "unable to parse 'm v= 3': missing field value\n"
        "unable to parse 'bad line here': invalid field format"
    )
    rejection = rejected_lines(lines, message)
    assert rejection.indices == (0, 1)
    assert rejection.complete is True


def test_whitespace_collapsed_by_the_transport_still_matches() -> None:
    lines = ['m s="a    b" x 1', "m v=1.5 2"]
    message = v1_answer(
        "partial write: unable to parse 'm s=\"a    b\" x 1': bad timestamp dropped=0"
    )
    assert message.count("  ") == 0
    assert rejected_lines(lines, message).indices == (0,)


def test_leading_blanks_and_carriage_returns_as_the_server_quotes_them() -> None:
    lines = ["   m v= 1", "m v= 2\r", "m v=1.5 3"]
    message = v1_answer(
        "partial write: unable to parse 'm v= 1': missing field value\n"
        "unable to parse 'm v= 2\r': missing field value dropped=0"
    )
    assert rejected_lines(lines, message).indices == (0, 1)


def test_a_quote_in_the_line_text_does_not_confuse_the_parts() -> None:
    lines = ["m s=\"it's': odd\" x", "m v=1.5 2", 'm s="it\'s" x']
    message = v1_answer(
        "partial write: unable to parse 'm s=\"it's': odd\" x': bad timestamp dropped=0"
    )
    rejection = rejected_lines(lines, message)
    assert rejection.indices == (0,)
    assert rejection.refused[0].reason == "unable to parse: bad timestamp"


def test_identical_lines_share_their_fate() -> None:
    lines = ["bad", "m v=1.5 1", "bad"]
    message = v1_answer(
        "partial write: unable to parse 'bad': missing fields\n"
        "unable to parse 'bad': missing fields dropped=0"
    )
    rejection = rejected_lines(lines, message)
    assert rejection.indices == (0, 2)
    assert rejection.complete is True


def test_lines_alike_only_after_collapsing_are_not_guessed() -> None:
    # The answer names one of them; which one cannot be told.
    lines = ['m s="a  b" x', 'm s="a b" x', "m v=1.5 3"]
    message = v1_answer("partial write: unable to parse 'm s=\"a b\" x': bad timestamp dropped=0")
    rejection = rejected_lines(lines, message)
    assert rejection.indices == ()
    assert rejection.complete is False


def test_an_unbalanced_quote_swallows_the_following_lines() -> None:
    # influxd reads on to the next double quote: one server line made of three of ours.
    lines = ['m s="abc 1', "m v=2.5 2", 'm v=3.5" 3 junk', "m v=4.5 4"]
    blocks = server_blocks(lines)
    assert [block.indices for block in blocks] == [(0, 1, 2), (3,)]
    message = v1_answer(
        "partial write: unable to parse 'm s=\"abc 1\nm v=2.5 2\nm v=3.5\" 3 junk': "
        "invalid field format dropped=0"
    )
    rejection = rejected_lines(lines, message)
    assert rejection.indices == (0, 1, 2)
    assert rejection.complete is False  # three lines for one reported


def test_a_newline_inside_a_string_keeps_one_line() -> None:
    lines = ['m s="two\nlines" bad', "m v=1 1"]
    assert [block.indices for block in server_blocks(lines)] == [(0,), (1,)]
    message = v1_answer("partial write: unable to parse 'm s=\"two\nlines\" bad': bad timestamp")
    assert rejected_lines(lines, message).indices == (0,)


def test_a_message_cut_by_the_transport_matches_a_unique_prefix() -> None:
    long_bad = 'm s="' + "x" * 600 + '" 1 2'
    lines = [long_bad, "m v=1.5 3"]
    message = v1_answer(f"partial write: unable to parse '{long_bad}': point is invalid dropped=0")
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.endswith("…")
    rejection = rejected_lines(lines, message)
    assert rejection.indices == (0,)
    assert rejection.refused[0].reason == "unable to parse (the reason was cut off the message)"
    assert rejection.complete is False


def test_a_cut_prefix_shared_by_several_lines_names_none_of_them() -> None:
    bad = ['m s="' + "x" * 600 + f'" {n} junk' for n in range(3)]
    lines = [*bad, "m v=1.5 3"]
    error = "partial write: " + "\n".join(f"unable to parse '{b}': bad timestamp" for b in bad)
    rejection = rejected_lines(lines, v1_answer(error + " dropped=0"))
    assert rejection.indices == ()


def test_several_parts_where_the_last_one_is_cut() -> None:
    first, second = "m v= 1", 'm s="' + "y" * 600 + '" z'
    lines = [first, "m v=1.5 2", second]
    error = (
        f"partial write: unable to parse '{first}': missing field value\n"
        f"unable to parse '{second}': bad timestamp dropped=0"
    )
    rejection = rejected_lines(lines, v1_answer(error))
    assert rejection.indices == (0, 2)
    assert rejection.complete is False


def test_a_line_holding_the_marker_text_stops_guessing_after_an_unknown_part() -> None:
    sneaky = "m s=\"unable to parse 'm v=1.5 2': x\" 5"
    lines = [sneaky, "m v=1.5 2"]
    # The server quotes a line not in this batch (or one we cannot match), then more text.
    message = v1_answer(
        "partial write: unable to parse 'other " + sneaky + "': bad timestamp dropped=0"
    )
    assert rejected_lines(lines, message).indices == ()


def test_the_cloud_schema_answer_reads_as_a_parse_error() -> None:
    line = 'air_sensor,service=S1,sensor=L1 temperature="90.5",humidity=70.0 1632850122'
    body = json.dumps(
        {
            "code": "invalid",
            "message": "partial write error (2 written): unable to parse '"
            + line
            + '\': schema: field type for field "temperature" not permitted by schema; '
            "got String but expected Float",
        }
    )
    lines = ["air_sensor,service=S1,sensor=L1 temperature=90.5 1632850121", line]
    rejection = rejected_lines(lines, server_message(body))
    assert rejection.indices == (1,)
    assert rejection.refused[0].reason.startswith("unable to parse: schema: field type")


# --- 3.x -----------------------------------------------------------------------------------


def v3_body(*entries: dict[str, object]) -> str:
    return json.dumps({"error": "partial write of line protocol occurred", "data": list(entries)})


CONFLICT_3X = (
    "invalid column type for column 'temp', expected iox::column_type::field::float, "
    "got iox::column_type::field::string"
)


def test_v3_entries_by_line_number_and_original_line() -> None:
    lines = ["home temp=21.5 1", 'home temp="hi" 2', "home temp=22.0 3", "cpu,host=a val= 4"]
    body = v3_body(
        {"original_line": 'home temp="hi" 2', "line_number": 2, "error_message": CONFLICT_3X},
        {"original_line": "cpu,host=a val= 4", "line_number": 4, "error_message": "No fields"},
    )
    rejection = rejected_lines(lines, body)
    assert rejection.indices == (1, 3)
    assert rejection.refused[0].reason == CONFLICT_3X
    assert rejection.complete is True
    assert rejection.reported == 2


def test_v3_line_numbers_skip_blank_lines() -> None:
    lines = ["", "a v=1 1", "b v= 2"]
    body = v3_body({"original_line": "b v= 2", "line_number": 2, "error_message": "No fields"})
    assert rejected_lines(lines, body).indices == (2,)


def test_v3_a_number_off_by_one_falls_back_to_the_unique_text() -> None:
    lines = ["a v=1 1", "b v= 2", "c v=3 3"]
    body = v3_body({"original_line": "b v= 2", "line_number": 1, "error_message": "x"})
    assert rejected_lines(lines, body).indices == (1,)


def test_v3_a_cut_original_line_is_a_prefix() -> None:
    lines = ['a s="' + "x" * 200 + '" 1', "b v=2 2"]
    body = v3_body({"original_line": 'a s="xxxxxxxx...', "line_number": 1, "error_message": "x"})
    assert rejected_lines(lines, body).indices == (0,)


@pytest.mark.parametrize(
    "entry",
    [
        {"line_number": 2, "error_message": "no original line"},
        {"original_line": "z v=9 9", "line_number": 2, "error_message": "not in the batch"},
        {"original_line": "b v=2", "line_number": 9, "error_message": "prefix of two"},
        {"original_line": "b v=2 2", "line_number": True, "error_message": "a bool"},
        "not an object",
    ],
)
def test_v3_entries_that_name_nothing(entry: object) -> None:
    lines = ["a v=1 1", "b v=2 2", "b v=2 22"]
    body = json.dumps({"error": "partial write of line protocol occurred", "data": [entry]})
    rejection = rejected_lines(lines, body)
    assert rejection.indices == ()
    assert rejection.complete is False


def test_v3_without_accept_partial_names_the_first_bad_line_only() -> None:
    lines = ["a v=1 1", "b v= 2", "c v= 3"]
    body = json.dumps(
        {
            "error": "parsing failed for write_lp endpoint",
            "data": {"original_line": "b v= 2", "line_number": 2, "error_message": "No fields"},
        }
    )
    rejection = rejected_lines(lines, body)
    assert rejection.indices == (1,)
    assert rejection.complete is False  # the other bad lines were not examined


def test_v3_as_the_transport_reports_it_names_nothing() -> None:
    # WriteError.message keeps only the first error_message: no line number is left.
    lines = ["home temp=21.5 1", 'home temp="hi" 2']
    body = v3_body(
        {"original_line": 'home temp="hi" 2', "line_number": 2, "error_message": CONFLICT_3X}
    )
    assert rejected_lines(lines, server_message(body)).indices == ()


# --- messages that say nothing usable ------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "",
        "(empty response body)",
        "<html><body>502 Bad Gateway</body></html>",
        "unable to parse",
        "unable to parse '",
        "partial write:",
        'input field "v" on measurement "m" is type',
        "null",
        "[1, 2]",
        '{"data": 5}',
        "dropped=3",
    ],
)
def test_unusable_messages_name_nothing(message: str) -> None:
    rejection = rejected_lines(["m v=1i 1", "bad"], message)
    assert rejection.indices == ()
    assert rejection.complete is False


def test_an_empty_batch() -> None:
    assert rejected_lines([], v1_answer(CONFLICT_V_INT_FLOAT.format(n=1))).indices == ()


# --- the line parser -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "measurement", "fields"),
    [
        ("m v=1i 1", "m", [("v", "integer")]),
        ("m,a=b v=1u,w=-1.5e3 1", "m", [("v", "unsigned"), ("w", "float")]),
        ("m v=t,w=FALSE,x=True 1", "m", [("v", "boolean"), ("w", "boolean"), ("x", "boolean")]),
        ('m s="a, b=c \\"d\\" \\\\",v=.5', "m", [("s", "string"), ("v", "float")]),
        ("my\\ m\\,x,t\\ k=a\\ b v\\ w\\=z\\,q=2i", "my m,x", [("v w=z,q", "integer")]),
        ('m k\\"q=1', "m", [('k"q', "float")]),
        ("m k\\\\q=1", "m", [("k\\\\q", "float")]),
        ("  m v=1 -5", "m", [("v", "float")]),
    ],
)
def test_fields_of(line: str, measurement: str, fields: list[tuple[str, str]]) -> None:
    assert measurement_of(line) == measurement
    assert fields_of(line) == fields


@pytest.mark.parametrize(
    "line",
    ["m", "m v=", "m v=+2 1", "m v=1.5i", "m v=tRue", "m v=nan", 'm s="open', "m =1", "m v=1 x"],
)
def test_fields_of_refuses_what_influxdb_refuses(line: str) -> None:
    assert fields_of(line) is None


# --- never a false positive: a simulated InfluxDB 1.x ---------------------------------------

MEASUREMENTS = ["m", "my m,x", 'q"m']
FIELD_KEYS = ["v", "w z", "a=b", 'k"q']
TYPES = ["integer", "float", "boolean", "string"]
BAD_LINES = {
    "m v= 3": "missing field value",
    "bad": "missing fields",
    "bad line here": "invalid field format",
    "m v=+2 1": "invalid boolean",
    "m v=1e 1": "invalid float",
}
SHARD_NS = 7 * 24 * 3600 * 10**9
# Text pieces that could fool a careless reader of the answers: quotes, separators, markers.
TRICKY_TEXT = st.lists(
    st.sampled_from(
        [*"ab ,=\"'\\\n\t:xé", "unable to parse '", "': ", 'input field "', " dropped=1"]
    ),
    max_size=6,
).map("".join)


def value_of(kind: str, text: str) -> object:
    return {"integer": 7, "float": 1.5, "boolean": True, "string": text}[kind]


@dataclass(frozen=True)
class Point:
    measurement: str
    fields: tuple[tuple[str, str], ...]  # (key, type), in line order
    shard: int


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[str], list[Point | None]]:
    lines: list[str] = []
    points: list[Point | None] = []
    for _ in range(draw(st.integers(1, 25))):
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(sorted(BAD_LINES))))
            points.append(None)
            continue
        measurement = draw(st.sampled_from(MEASUREMENTS))
        keys = draw(st.lists(st.sampled_from(FIELD_KEYS), min_size=1, max_size=3, unique=True))
        kinds = [draw(st.sampled_from(TYPES)) for _ in keys]
        text = draw(TRICKY_TEXT)
        shard = draw(st.integers(0, 1))
        tags = {"site": draw(TRICKY_TEXT), "note": draw(TRICKY_TEXT)}
        sample = Sample(
            measurement,
            tags,
            {key: value_of(kind, text) for key, kind in zip(keys, kinds, strict=True)},
            shard * SHARD_NS + draw(st.integers(0, 9)),
        )
        line = serialize(sample)
        assert line is not None
        lines.append(line)
        points.append(Point(measurement, tuple(zip(keys, kinds, strict=True)), shard))
    return lines, points


def simulate_v1(
    lines: list[str], points: list[Point | None], schema: dict[tuple[int, str, str], str], pick: int
) -> tuple[str | None, set[int], bool]:
    """What influxd 1.x answers: (message or None if all stored, refused indices, hidden).

    `hidden`: lines were refused that the answer does not mention (1.x reports a storage
    refusal alone, and only the shard it heard from first).
    """
    parse_parts = [
        f"unable to parse '{lines[i]}': {BAD_LINES[lines[i]]}"
        for i, p in enumerate(points)
        if p is None
    ]
    refused = {i for i, p in enumerate(points) if p is None}
    per_shard: dict[int, list[tuple[int, str]]] = {}
    for index, point in enumerate(points):
        if point is None:
            continue
        for key, kind in point.fields:
            stored = schema[(point.shard, point.measurement, key)]
            if kind != stored:
                refused.add(index)
                per_shard.setdefault(point.shard, []).append(
                    (
                        index,
                        f'field type conflict: input field "{key}" on measurement '
                        f'"{point.measurement}" is type {kind}, already exists as type {stored}',
                    )
                )
                break
    if per_shard:
        shard = sorted(per_shard)[pick % len(per_shard)]
        drops = per_shard[shard]
        message = f"partial write: {drops[0][1]} dropped={len(drops)}"
        hidden = bool(parse_parts) or len(per_shard) > 1
        return message, refused, hidden
    if parse_parts:
        good = len(points) - len(parse_parts)
        joined = "\n".join(parse_parts)
        return (f"partial write: {joined} dropped=0" if good else joined), refused, False
    return None, refused, False


@given(
    batch=batches(),
    stored=st.lists(st.sampled_from(TYPES), min_size=24, max_size=24),
    pick=st.integers(0, 1),
)
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_never_names_a_line_that_was_stored(
    batch: tuple[list[str], list[Point | None]], stored: list[str], pick: int
) -> None:
    lines, points = batch
    keys = [(s, m, k) for s in (0, 1) for m in MEASUREMENTS for k in FIELD_KEYS]
    schema = dict(zip(keys, stored, strict=True))
    message, refused, hidden = simulate_v1(lines, points, schema, pick)
    if message is None:
        return
    seen = v1_answer(message)
    rejection = rejected_lines(lines, seen)
    assert set(rejection.indices) <= refused
    if rejection.complete and not hidden:
        assert set(rejection.indices) == refused
    if "field type conflict" not in message and not seen.endswith("…"):
        # Every unparseable line is quoted whole: each must be found.
        assert set(rejection.indices) == refused
        assert rejection.complete


def test_the_simulation_produces_what_influxd_produced() -> None:
    # Anchor the simulator to a real 1.6.7 answer (test_type_conflict_... above).
    lines = ["m v=2i 2", "m v=4.5 4"]
    points: list[Point | None] = [
        Point("m", (("v", "integer"),), 0),
        Point("m", (("v", "float"),), 0),
    ]
    schema = {(0, "m", "v"): "float"}
    message, refused, hidden = simulate_v1(lines, points, schema, 0)
    assert message == CONFLICT_V_INT_FLOAT.format(n=1)
    assert refused == {0}
    assert hidden is False


def test_shuffled_batches_keep_precision() -> None:
    # The same refused lines, anywhere in a larger batch of good ones.
    rng = random.Random(5)
    good = [f"m,i={i} v={i}.5 {i}" for i in range(200)]
    bad = ["m v=1i 1", "m v=true 2"]
    lines = good + bad
    rng.shuffle(lines)
    rejection = rejected_lines(lines, v1_answer(CONFLICT_V_INT_FLOAT.format(n=2)))
    assert sorted(lines[i] for i in rejection.indices) == sorted(bad)
    assert rejection.complete is True
