"""rejected_lines against the real answers of Debian's influxd 1.6.7.

Each test sends a batch through V1Transport, takes the WriteError's message (what the writer
sees), and checks that rejected_lines names exactly the refused lines, and that the other lines
are in InfluxDB (read back with InfluxQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from agent.lab.influxdb import InfluxServer
from agent.output.lineprotocol import serialize
from agent.output.quarantine import Quarantine, iter_quarantined, raw_lines
from agent.output.rejects import rejected_lines
from agent.output.transports import V1Transport, WriteError
from agent.samples import Sample, Unsigned

pytestmark = pytest.mark.influxdb

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
DAY_NS = 24 * 3600 * 10**9
AWKWARD_TEXT = 'to "core", a=b C:\\dir\\\nsecond line'
DEPARTMENT = "Sở Thông tin và Truyền thông"


def line(sample: Sample) -> str:
    text = serialize(sample)
    assert text is not None
    return text


def write(server: InfluxServer, db: str, lines: Sequence[str]) -> WriteError | None:
    """Send `lines` as one request; the WriteError, or None when all were stored."""

    async def attempt() -> WriteError | None:
        transport = V1Transport(server.url, db)
        try:
            await transport.write(("\n".join(lines) + "\n").encode(), gzipped=False)
        except WriteError as error:
            return error
        finally:
            await transport.close()
        return None

    return asyncio.run(attempt())


def refused(server: InfluxServer, db: str, lines: Sequence[str]) -> WriteError:
    error = write(server, db, lines)
    assert error is not None, "influxd accepted a batch it should have refused"
    assert error.status == 400
    assert error.retryable is False
    return error


def times(server: InfluxServer, db: str, measurement: str) -> list[int]:
    rows = server.rows(f'SELECT * FROM "{measurement}" ORDER BY time', db)
    return [row["time"] for row in rows]


def test_type_conflict(influx_server: InfluxServer, influx_db: str) -> None:
    assert write(influx_server, influx_db, [line(Sample("m", {}, {"v": 1.5}, T0))]) is None
    tags = {"department": DEPARTMENT, "site": "Thủ Dầu Một"}
    batch = [
        line(Sample("m", tags, {"v": 2.5, "note": AWKWARD_TEXT}, T0 + 1)),  # good
        line(Sample("m", tags, {"v": 3, "note": AWKWARD_TEXT}, T0 + 2)),  # integer: refused
        line(Sample("m", {}, {"w": 7}, T0 + 3)),  # another field: good
        line(Sample("other", {}, {"v": 1}, T0 + 4)),  # another measurement: good
        line(Sample("m", {}, {"v": True}, T0 + 5)),  # boolean: refused
        line(Sample("m", {}, {"v": 'say "v=1i", then'}, T0 + 6)),  # string: refused
        line(Sample("m", {}, {"v": 4.5}, T0 + 7)),  # good
    ]
    error = refused(influx_server, influx_db, batch)
    assert error.message == (
        'partial write: field type conflict: input field "v" on measurement "m" is type '
        "integer, already exists as type float dropped=3"
    )

    rejection = rejected_lines(batch, error.message)
    assert rejection.indices == (1, 4, 5)
    assert rejection.complete is True
    assert rejection.reported == 3
    assert times(influx_server, influx_db, "m") == [T0, T0 + 1, T0 + 3, T0 + 7]
    assert times(influx_server, influx_db, "other") == [T0 + 4]


def test_type_conflict_with_escaped_names(influx_server: InfluxServer, influx_db: str) -> None:
    first = Sample("if stats,x", {"a b": "c,d"}, {"v w=z": 1.5}, T0)
    assert write(influx_server, influx_db, [line(first)]) is None
    batch = [
        line(Sample("if stats,x", {"a b": "c,d"}, {"v w=z": 2}, T0 + 1)),
        line(Sample("if stats,x", {"a b": "c,d"}, {"v w=z": 2.5}, T0 + 2)),
        line(Sample("if stats", {}, {"v w=z": 2}, T0 + 3)),  # another measurement, new there
    ]
    error = refused(influx_server, influx_db, batch)
    assert 'input field "v w=z" on measurement "if stats,x"' in error.message
    assert rejected_lines(batch, error.message).indices == (0,)
    assert times(influx_server, influx_db, "if stats,x") == [T0, T0 + 2]
    assert times(influx_server, influx_db, "if stats") == [T0 + 3]


def test_unparseable_lines(influx_server: InfluxServer, influx_db: str) -> None:
    native_uint = serialize(Sample("m", {}, {"c": Unsigned(5)}, T0 + 3), uint_mode="native")
    assert native_uint is not None
    batch = [
        line(Sample("m", {"site": "a b"}, {"v": 1.5, "note": AWKWARD_TEXT}, T0)),
        "m v= 1",
        line(Sample("m", {}, {"v": 2.5}, T0 + 1)),
        "bad line here",
        native_uint,  # 1.6.7 cannot parse the u suffix
        'm note="unclosed, v=3 4',  # the quote runs to the end of the body
    ]
    error = refused(influx_server, influx_db, batch)
    assert error.message.startswith("partial write: unable to parse 'm v= 1': missing field value")
    assert error.message.endswith("dropped=0")

    rejection = rejected_lines(batch, error.message)
    assert rejection.indices == (1, 3, 4, 5)
    assert [r.reason for r in rejection.refused][:3] == [
        "unable to parse: missing field value",
        "unable to parse: invalid field format",
        "unable to parse: invalid number",
    ]
    assert rejection.complete is True
    assert times(influx_server, influx_db, "m") == [T0, T0 + 1]


def test_nothing_parses(influx_server: InfluxServer, influx_db: str) -> None:
    batch = ["m v= 1", "bad"]
    error = refused(influx_server, influx_db, batch)
    assert not error.message.startswith("partial write")
    rejection = rejected_lines(batch, error.message)
    assert rejection.indices == (0, 1)
    assert rejection.complete is True


def test_a_message_cut_by_the_transport(influx_server: InfluxServer, influx_db: str) -> None:
    long_text = "x" * 300
    batch = [
        line(Sample("m", {}, {"v": 1.0}, T0)),
        *(f'm,n={n} note="{long_text}" bad' for n in (1, 2, 3)),
        line(Sample("m", {}, {"v": 2.0}, T0 + 1)),
    ]
    error = refused(influx_server, influx_db, batch)
    assert error.message.endswith("…")  # influxd named all three; the transport kept 500 chars
    rejection = rejected_lines(batch, error.message)
    # The second quote is cut, but after the text that tells it apart; the third is not shown.
    assert rejection.indices == (1, 2)
    assert rejection.refused[0].reason == "unable to parse: bad timestamp"
    assert rejection.complete is False
    assert times(influx_server, influx_db, "m") == [T0, T0 + 1]


def test_a_cut_quote_shared_by_several_lines_names_none(
    influx_server: InfluxServer, influx_db: str
) -> None:
    long_text = "x" * 300
    batch = [f'm note="{long_text}" bad{n}' for n in (1, 2)]
    error = refused(influx_server, influx_db, batch)
    assert error.message.endswith("…")
    # The first quote is whole; the second is cut inside the text both lines share.
    assert rejected_lines(batch, error.message).indices == (0,)


def test_a_conflict_hides_parse_errors_until_the_rest_is_resent(
    influx_server: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    # What the writer does: quarantine what is named, resend the rest, until all is stored.
    assert write(influx_server, influx_db, [line(Sample("m", {}, {"v": 1.5}, T0))]) is None
    good = [line(Sample("m", {"i": str(i)}, {"v": i + 0.5}, T0 + 1 + i)) for i in range(5)]
    conflicting = [line(Sample("m", {"i": "c"}, {"v": 9}, T0 + 10))]
    unparseable = ["m v= 2"]
    pending = [good[0], conflicting[0], good[1], unparseable[0], *good[2:]]
    quarantine = Quarantine(tmp_path / "quarantine")
    answers = []
    for _ in range(4):
        error = write(influx_server, influx_db, pending)
        if error is None:
            break
        answers.append(error.message)
        rejection = rejected_lines(pending, error.message)
        assert rejection.indices, f"nothing named in {error.message!r}"
        named = set(rejection.indices)
        assert {pending[i] for i in named} <= {*conflicting, *unparseable}
        quarantine.add([(pending[r.index], r.reason) for r in rejection.refused], status=400)
        pending = [text for i, text in enumerate(pending) if i not in named]
    else:
        pytest.fail(f"still refused after 4 rounds: {answers}")

    assert len(answers) == 2
    assert "field type conflict" in answers[0]  # 1.6.7 said nothing of the unparseable line
    assert "unable to parse 'm v= 2'" in answers[1]
    assert sorted(raw_lines([quarantine.path])) == sorted([*conflicting, *unparseable])
    reasons = [record.reason for record in iter_quarantined(quarantine.path)]
    assert reasons[0].startswith('field type conflict: input field "v" on measurement "m"')
    assert reasons[1] == "unable to parse: missing field value"
    assert times(influx_server, influx_db, "m") == [T0, *range(T0 + 1, T0 + 6)]


def test_lines_in_another_shard_are_not_named(influx_server: InfluxServer, influx_db: str) -> None:
    assert write(influx_server, influx_db, [line(Sample("m", {}, {"v": 1.5}, T0))]) is None
    later = T0 + 30 * DAY_NS  # another shard group, where v does not exist yet
    batch = [line(Sample("m", {}, {"v": 2}, T0 + 1)), line(Sample("m", {}, {"v": 3}, later))]
    error = refused(influx_server, influx_db, batch)
    assert error.message.endswith("dropped=1")
    rejection = rejected_lines(batch, error.message)
    assert rejection.indices == ()  # naming both would quarantine a stored line
    assert times(influx_server, influx_db, "m") == [T0, later]

    # Bisecting gives a batch the answer can be read for.
    half = batch[:1]
    assert rejected_lines(half, refused(influx_server, influx_db, half).message).indices == (0,)


def test_a_new_field_with_two_types_in_one_batch(
    influx_server: InfluxServer, influx_db: str
) -> None:
    batch = [line(Sample("q", {}, {"v": 1.5}, T0)), line(Sample("q", {}, {"v": 2}, T0 + 1))]
    error = refused(influx_server, influx_db, batch)
    assert error.message == "field type conflict"
    assert rejected_lines(batch, error.message).indices == ()
    assert times(influx_server, influx_db, "q") == []  # influxd stored neither
