"""The output side against a real influxd 1.x: Writer + V1Transport write, InfluxQL reads back.

Retry statuses and the v2 API cannot be had from Debian's influxd 1.6.7 (it never answers 503
or 429 on purpose, and /api/v2/write came with 1.8), so those tests use `FakeInflux`, a narrow
fake of the HTTP seam: an http.server on 127.0.0.1 answering from a script.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import gzip
import json
import logging
import random
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.lab.influxdb import InfluxServer
from agent.lab.process import free_tcp_port
from agent.output.buffer import MemoryBuffer
from agent.output.lineprotocol import UintMode, serialize_many, unwrap_uint
from agent.output.quarantine import Quarantine, iter_quarantined
from agent.output.transport_v2 import V2Transport
from agent.output.transports import Transport, V1Transport, WriteError, parse_retry_after
from agent.output.writer import Writer, WriterStats
from agent.samples import Sample, Unsigned
from agent.secret import Secret
from tests.fixtures_influx import ADMIN_USER
from tests.peers import require_binary

influxdb = pytest.mark.influxdb

T0 = 1_700_000_000_000_000_000
DEPARTMENT = "Sở Thông tin và Truyền thông"


class NoSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def write_samples(
    transport: Transport,
    samples: Sequence[Sample],
    *,
    gzip_bodies: bool = False,
    uint_mode: UintMode = "wrap",
    batch_size: int = 5000,
    sleep: NoSleep | None = None,
    stop_timeout_s: float = 60,
    undelivered: int = 0,
) -> WriterStats:
    """Serialise `samples`, push them through a Writer and stop it (which drains and closes).

    `undelivered`: how many lines must still be buffered after the stop (retried until the
    time-out, never dropped).
    """
    lines, skipped = serialize_many(samples, uint_mode=uint_mode)
    assert skipped == 0
    return write_lines(
        transport,
        lines,
        gzip_bodies=gzip_bodies,
        batch_size=batch_size,
        sleep=sleep,
        stop_timeout_s=stop_timeout_s,
        undelivered=undelivered,
    )


def write_lines(
    transport: Transport,
    lines: Sequence[str],
    *,
    gzip_bodies: bool = False,
    batch_size: int = 5000,
    sleep: NoSleep | None = None,
    stop_timeout_s: float = 60,
    undelivered: int = 0,
    quarantine: Quarantine | None = None,
) -> WriterStats:
    """Push ready lines through a Writer (see `write_samples`) and stop it."""

    async def scenario() -> WriterStats:
        buffer = MemoryBuffer(100_000)
        writer = Writer(
            transport,
            buffer,
            batch_size=batch_size,
            gzip=gzip_bodies,
            rng=random.Random(1),
            sleep=sleep or NoSleep(),
            max_backoff_s=0.5,
            quarantine=quarantine,
        )
        task = asyncio.create_task(writer.run())
        buffer.put(lines)
        await writer.stop(stop_timeout_s)
        assert task.done()
        assert buffer.lines_buffered == undelivered
        return writer.stats

    return asyncio.run(scenario())


def v1(server: InfluxServer, db: str, **options: Any) -> V1Transport:
    return V1Transport(server.url, db, **options)


# --- values, escaping and types, read back exactly --------------------------------------------

AWKWARD_TAGS = {
    "source": "10.1.2.3",
    "sysName": "sw core,01",
    "ifDescr": "Gi 1/0/1 = uplink",
    "department": DEPARTMENT,
    "site": 'quote"d C:\\dir\\sub',
    "key with space,comma=eq": "v",
}
AWKWARD_STRING = 'to "core" C:\\dir\\ tab\there\nsecond line, a=b'


def awkward_samples() -> list[Sample]:
    counters = [0, 2**63 - 1, 2**63, 2**64 - 1]
    samples = [
        Sample(
            "interface",
            {**AWKWARD_TAGS, "ifIndex": str(index)},
            {
                "ifHCInOctets": Unsigned(value),
                "ifAlias": AWKWARD_STRING,
                "utilisation": 0.1,
                "huge": 1e100,
                "tiny": 5e-324,
                "up": index % 2 == 0,
                "ifInErrors": -5 + index,
            },
            T0 + index,
        )
        for index, value in enumerate(counters)
    ]
    samples.append(Sample("if stats,x", {"a b": "c,d"}, {"v=1": 1}, T0))
    return samples


@influxdb
@pytest.mark.parametrize("gzip_bodies", [False, True], ids=["plain", "gzip"])
def test_samples_read_back_exactly(
    influx_server: InfluxServer, influx_db: str, gzip_bodies: bool
) -> None:
    samples = awkward_samples()
    stats = write_samples(v1(influx_server, influx_db), samples, gzip_bodies=gzip_bodies)
    assert stats.lines_written == len(samples)
    assert stats.lines_quarantined == 0
    assert stats.last_error == ""

    rows = influx_server.rows('SELECT * FROM "interface" ORDER BY time', influx_db)
    assert [row["time"] for row in rows] == [T0, T0 + 1, T0 + 2, T0 + 3]
    counters = [0, 2**63 - 1, 2**63, 2**64 - 1]
    for index, row in enumerate(rows):
        for key, value in AWKWARD_TAGS.items():
            assert row[key] == value, key
        assert row["ifIndex"] == str(index)
        assert unwrap_uint(row["ifHCInOctets"]) == counters[index]
        assert row["ifAlias"] == AWKWARD_STRING
        assert row["utilisation"] == 0.1
        assert row["huge"] == 1e100
        assert row["tiny"] == 5e-324
        assert row["up"] is (index % 2 == 0)
        assert row["ifInErrors"] == -5 + index
    assert rows[3]["ifHCInOctets"] == -1  # the wrapped form is what InfluxDB holds

    tag_values = influx_server.rows(
        'SHOW TAG VALUES FROM "interface" WITH KEY = "department"', influx_db
    )
    assert [row["value"] for row in tag_values] == [DEPARTMENT]

    escaped = influx_server.rows('SELECT * FROM "if stats,x"', influx_db)
    assert escaped == [{"time": T0, "a b": "c,d", "v=1": 1}]


@influxdb
def test_tag_text_line_protocol_cannot_carry(influx_server: InfluxServer, influx_db: str) -> None:
    # A newline is stored as the two characters backslash-n (as Telegraf does); a backslash
    # before an escaped character or at the end is dropped (InfluxDB would misparse it).
    tags = {"note": "line1\nline2", "gap": "a \\ b", "end": "x\\"}
    stats = write_samples(v1(influx_server, influx_db), [Sample("m", tags, {"v": 1}, T0)])
    assert stats.lines_written == 1
    rows = influx_server.rows('SELECT * FROM "m"', influx_db)
    assert rows == [{"time": T0, "note": "line1\\nline2", "gap": "a  b", "end": "x", "v": 1}]


@influxdb
def test_native_uint_is_refused_by_influxdb_1x(influx_server: InfluxServer, influx_db: str) -> None:
    # Why "wrap" is the default: 1.x answers 400 to the `u` suffix and the data is lost.
    sample = Sample("m", {}, {"c": Unsigned(5)}, T0)
    stats = write_samples(v1(influx_server, influx_db), [sample], uint_mode="native")
    assert stats.lines_quarantined == 1
    assert stats.lines_written == 0
    assert "invalid number" in stats.last_error


@influxdb
def test_field_type_conflict_is_not_retried_but_set_aside_and_counted(
    influx_server: InfluxServer, influx_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = write_samples(v1(influx_server, influx_db), [Sample("m", {}, {"v": 1}, T0)])
    assert first.lines_written == 1

    sleep = NoSleep()
    with caplog.at_level(logging.ERROR, logger="agent.output.writer"):
        stats = write_samples(
            v1(influx_server, influx_db),
            [Sample("m", {}, {"v": 1.5}, T0 + 1), Sample("m", {"ok": "1"}, {"w": 2}, T0 + 2)],
            sleep=sleep,
        )
    assert stats.lines_quarantined == 1  # the conflicting line; influxd stored the other one
    assert stats.lines_written == 1
    assert stats.batches_written == 1
    assert stats.retries == 0
    assert sleep.delays == []
    assert "field type conflict" in stats.last_error
    assert "field type conflict" in caplog.text
    rows = influx_server.rows('SELECT * FROM "m" ORDER BY time', influx_db)
    assert [(row["time"], row["v"], row["w"]) for row in rows] == [(T0, 1, None), (T0 + 2, None, 2)]


@influxdb
def test_refused_lines_are_quarantined_with_the_reason_and_the_rest_delivered(
    influx_server: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    """The acceptance case: a field type conflict (and an unparseable line) in a batch."""
    first = write_samples(v1(influx_server, influx_db), [Sample("m", {}, {"v": 0.5}, T0)])
    assert first.lines_written == 1
    good = [f'm,host=h{i} v={i}.5,s="ok {i}" {T0 + 1 + i}' for i in range(96)]
    conflicting = [f"m,host=bad{i} v={i}i {T0 + 1000 + i}" for i in range(3)]  # v is a float
    unparseable = "m,host=broken v= 1"
    batch = [*good[:40], conflicting[0], *good[40:70], unparseable, *conflicting[1:], *good[70:]]
    quarantine = Quarantine(tmp_path / "quarantine")
    stats = write_lines(v1(influx_server, influx_db), batch, quarantine=quarantine)
    kept = list(iter_quarantined(quarantine.path))
    assert sorted(entry.line for entry in kept) == sorted([*conflicting, unparseable])
    reasons = {entry.line: entry.reason for entry in kept}
    assert all("field type conflict" in reasons[line] for line in conflicting)
    assert "unable to parse" in reasons[unparseable]
    assert {entry.status for entry in kept} == {400}
    assert stats.lines_quarantined == 4
    assert stats.lines_written == len(good)
    assert stats.retries == 0
    stored = influx_server.rows(f'SELECT "v", "host" FROM "m" WHERE time > {T0}', influx_db)
    assert sorted(row["host"] for row in stored) == sorted(f"h{i}" for i in range(96))


@influxdb
def test_write_error_of_a_type_conflict(influx_server: InfluxServer, influx_db: str) -> None:
    async def scenario() -> WriteError:
        transport = v1(influx_server, influx_db)
        try:
            await transport.write(b"m v=1i 1\n", gzipped=False)
            with pytest.raises(WriteError) as caught:
                await transport.write(b"m v=2.5 2\nm v=3i 3\n", gzipped=False)
            return caught.value
        finally:
            await transport.close()

    error = asyncio.run(scenario())
    assert error.status == 400
    assert error.retryable is False
    assert error.rejected_lines == 1
    assert error.retry_after_s is None


@influxdb
def test_missing_database_is_retried_so_nothing_is_dropped(influx_server: InfluxServer) -> None:
    async def scenario() -> WriteError:
        transport = v1(influx_server, "no_such_db")
        try:
            with pytest.raises(WriteError) as caught:
                await transport.write(b"m v=1i 1\n", gzipped=False)
            return caught.value
        finally:
            await transport.close()

    error = asyncio.run(scenario())
    assert error.status == 404
    assert error.retryable is True
    assert "database not found" in error.message


# --- secrets ----------------------------------------------------------------------------------


def fragments(secret: str, size: int = 6) -> list[str]:
    """Every `size`-character piece of `secret`: none may show anywhere."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def assert_no_fragment(text: str, secret: str) -> None:
    leaked = [piece for piece in fragments(secret) if piece in text]
    assert leaked == [], "part of a secret leaked"


@influxdb
def test_correct_password_writes(
    influx_auth_server: InfluxServer, influx_auth_password: Secret
) -> None:
    influx_auth_server.create_database("secured")
    transport = V1Transport(
        influx_auth_server.url, "secured", username=ADMIN_USER, password=influx_auth_password
    )
    stats = write_samples(transport, [Sample("m", {}, {"v": 7}, T0)])
    assert stats.lines_written == 1
    assert influx_auth_server.rows('SELECT "v" FROM "m"', "secured") == [{"time": T0, "v": 7}]


@influxdb
def test_wrong_password_is_refused_and_never_shown(
    influx_auth_server: InfluxServer,
    influx_auth_password: Secret,
    caplog: pytest.LogCaptureFixture,
) -> None:
    influx_auth_server.create_database("secured2")
    wrong = "WrongPw-" + secrets.token_urlsafe(18)
    basic = base64.b64encode(f"{ADMIN_USER}:{wrong}".encode()).decode()
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and the writer at their most talkative

    async def direct() -> WriteError:
        transport = V1Transport(
            influx_auth_server.url, "secured2", username=ADMIN_USER, password=Secret(wrong)
        )
        try:
            with pytest.raises(WriteError) as caught:
                await transport.write(b"m v=1i 1\n", gzipped=False)
            return caught.value
        finally:
            await transport.close()

    error = asyncio.run(direct())
    assert error.status == 401
    assert error.retryable is True  # the operator fixes the password; the lines wait

    transport = V1Transport(
        influx_auth_server.url, "secured2", username=ADMIN_USER, password=Secret(wrong)
    )
    shown = repr(transport) + str(transport)
    stats = write_samples(
        transport,
        [Sample("m", {}, {"v": 1}, T0)],
        sleep=asyncio.sleep,
        stop_timeout_s=1.0,
        undelivered=1,
    )
    assert stats.lines_quarantined == 0
    assert stats.retries >= 1
    assert "HTTP 401" in stats.last_error

    everything = "\n".join(
        [str(error), repr(error), error.message, shown, stats.last_error, caplog.text]
    )
    assert caplog.records, "the test must have captured the writer's and httpx's logs"
    assert_no_fragment(everything, wrong)
    assert_no_fragment(everything, influx_auth_password.reveal())
    assert basic not in everything


@influxdb
def test_missing_credentials_are_refused_and_the_lines_kept(
    influx_auth_server: InfluxServer,
) -> None:
    influx_auth_server.create_database("secured3")
    stats = write_samples(
        V1Transport(influx_auth_server.url, "secured3"),
        [Sample("m", {}, {"v": 1}, T0)],
        sleep=asyncio.sleep,
        stop_timeout_s=1.0,
        undelivered=1,
    )
    assert stats.lines_quarantined == 0
    assert "HTTP 401" in stats.last_error


# --- a narrow fake of the HTTP seam -----------------------------------------------------------


@dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def lines(self) -> list[str]:
        gzipped = self.headers.get("content-encoding") == "gzip"
        raw = gzip.decompress(self.body) if gzipped else self.body
        return raw.decode().split("\n")[:-1]


Reply = tuple[int, dict[str, str], bytes]


class FakeInflux:
    """http.server on 127.0.0.1 answering POSTs from `replies` (then 204), recording each."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[Recorded] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = urlsplit(self.path)
                fake.requests.append(
                    Recorded(
                        parts.path,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                status, headers, reply = fake.replies.pop(0) if fake.replies else (204, {}, b"")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for the serving loop's next poll.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeInflux:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def json_error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def attempt(transport: Transport, body: bytes = b"m v=1i 1\n", gzipped: bool = False) -> WriteError:
    async def scenario() -> WriteError:
        try:
            with pytest.raises(WriteError) as caught:
                await transport.write(body, gzipped=gzipped)
            return caught.value
        finally:
            await transport.close()

    return asyncio.run(scenario())


def test_v1_503_with_retry_after_seconds() -> None:
    with FakeInflux((503, {"Retry-After": "7"}, json_error("engine overloaded"))) as fake:
        error = attempt(V1Transport(fake.url, "db"))
    assert error.status == 503
    assert error.retryable is True
    assert error.retry_after_s == 7.0
    assert error.message == "engine overloaded"


def test_v1_429_with_retry_after_date() -> None:
    when = email.utils.formatdate(4_000_000_000, usegmt=True)
    with FakeInflux((429, {"Retry-After": when}, b"slow down")) as fake:
        error = attempt(V1Transport(fake.url, "db"))
    assert error.status == 429
    assert error.retryable is True
    assert error.retry_after_s is not None
    assert error.retry_after_s > 0
    assert error.message == "slow down"


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    in_two_minutes = email.utils.formatdate(now + 120, usegmt=True)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(in_two_minutes, now=now) == 120.0
    assert parse_retry_after(email.utils.formatdate(now - 5, usegmt=True), now=now) == 0.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None


def test_v1_400_is_not_retryable() -> None:
    with FakeInflux((400, {}, json_error("unable to parse 'x': missing fields"))) as fake:
        error = attempt(V1Transport(fake.url, "db"))
    assert error.status == 400
    assert error.retryable is False
    assert error.rejected_lines is None


def test_v1_connection_refused_is_retryable() -> None:
    error = attempt(V1Transport(f"http://127.0.0.1:{free_tcp_port()}", "db", timeout_s=5))
    assert error.status is None
    assert error.retryable is True
    assert "no response" in str(error)


@pytest.mark.parametrize("gzip_bodies", [False, True], ids=["plain", "gzip"])
def test_v1_request_shape_and_gzip_header(gzip_bodies: bool) -> None:
    samples = [Sample("m", {"site": DEPARTMENT}, {"v": i}, T0 + i) for i in range(3)]
    with FakeInflux() as fake:
        transport = V1Transport(
            fake.url, "netmon", retention_policy="one_year", token=Secret("tok-123456789")
        )
        stats = write_samples(transport, samples, gzip_bodies=gzip_bodies)
    assert stats.lines_written == 3
    [request] = fake.requests
    assert request.path == "/write"
    assert request.query == {"db": ["netmon"], "rp": ["one_year"], "precision": ["ns"]}
    assert request.headers["authorization"] == "Token tok-123456789"
    assert request.headers["content-type"] == "text/plain; charset=utf-8"
    assert request.headers.get("content-encoding") == ("gzip" if gzip_bodies else None)
    assert request.lines == serialize_many(samples)[0]


def test_writer_retries_503_then_delivers() -> None:
    samples = [Sample("m", {}, {"v": i}, T0 + i) for i in range(5)]
    sleep = NoSleep()
    with FakeInflux((503, {"Retry-After": "3"}, json_error("timeout")), (204, {}, b"")) as fake:
        stats = write_samples(V1Transport(fake.url, "db"), samples, sleep=sleep)
    assert stats.retries == 1
    assert stats.lines_written == 5
    assert stats.lines_quarantined == 0
    assert sleep.delays[0] >= 3.0
    assert [r.lines for r in fake.requests] == [serialize_many(samples)[0]] * 2


def test_v1_partial_write_counts() -> None:
    message = (
        "partial write: unable to parse 'bad 1': invalid field format\n"
        "unable to parse 'worse 2': invalid field format dropped=3"
    )
    with FakeInflux((400, {}, json_error(message))) as fake:
        error = attempt(V1Transport(fake.url, "db"))
    assert error.rejected_lines == 5
    assert "\n" not in error.message


def test_v1_refuses_credentials_in_the_url_without_quoting_them() -> None:
    with pytest.raises(ValueError, match="credentials") as caught:
        V1Transport("http://admin:Sup3rS3cretPw@127.0.0.1:8086", "db")
    assert "Sup3rS3cretPw" not in str(caught.value)


def test_v1_refuses_both_password_and_token() -> None:
    with pytest.raises(ValueError, match="either"):
        V1Transport(
            "http://127.0.0.1:8086", "db", username="u", password=Secret("p"), token=Secret("t")
        )


def test_server_echoing_a_secret_is_masked() -> None:
    token = "tok-" + secrets.token_hex(12)
    with FakeInflux((401, {}, json_error(f"bad token {token}"))) as fake:
        error = attempt(V1Transport(fake.url, "db", token=Secret(token)))
    assert token not in str(error)
    assert "<secret>" in error.message


def test_v2_request_shape_gzip_and_errors() -> None:
    token = "v2tok-" + secrets.token_hex(8)
    with FakeInflux(
        (503, {"Retry-After": "5"}, b'{"code":"unavailable","message":"try later"}'),
        (401, {}, b'{"code":"unauthorized","message":"unauthorized access"}'),
    ) as fake:
        transport = V2Transport(fake.url, "province", "netmon", Secret(token))
        shown = repr(transport)

        async def scenario() -> tuple[WriteError, WriteError]:
            body = gzip.compress(b"m v=1i 1\n")
            try:
                with pytest.raises(WriteError) as unavailable:
                    await transport.write(body, gzipped=True)
                with pytest.raises(WriteError) as refused:
                    await transport.write(b"m v=1i 1\n", gzipped=False)
                await transport.write(b"m v=2i 2\n", gzipped=False)
                return unavailable.value, refused.value
            finally:
                await transport.close()

        unavailable, refused = asyncio.run(scenario())
    assert (unavailable.status, unavailable.retryable, unavailable.retry_after_s) == (
        503,
        True,
        5.0,
    )
    assert unavailable.message == "try later"
    assert (refused.status, refused.retryable) == (401, True)
    assert refused.message == "unauthorized access"
    first, _, last = fake.requests
    assert first.path == "/api/v2/write"
    assert first.query == {"org": ["province"], "bucket": ["netmon"], "precision": ["ns"]}
    assert first.headers["authorization"] == f"Token {token}"
    assert first.headers["content-encoding"] == "gzip"
    assert first.lines == ["m v=1i 1"]
    assert last.lines == ["m v=2i 2"]
    assert "content-encoding" not in last.headers
    assert token not in shown + str(unavailable) + str(refused)


def test_v2_connection_refused_is_retryable() -> None:
    error = attempt(V2Transport(f"http://127.0.0.1:{free_tcp_port()}", "o", "b", Secret("t")))
    assert error.status is None
    assert error.retryable is True


@influxdb
def test_lab_server_restarts_on_its_state(tmp_path: Path) -> None:
    influxd = require_binary("influxd")
    password = Secret(secrets.token_urlsafe(12))
    options: dict[str, Any] = {"influxd": influxd, "admin_user": "a", "admin_password": password}
    with InfluxServer(tmp_path, free_tcp_port(), **options) as server:
        server.create_database("kept")
        stats = write_samples(
            V1Transport(server.url, "kept", username="a", password=password),
            [Sample("m", {}, {"v": 3}, T0)],
        )
        assert stats.lines_written == 1
    assert not (tmp_path / "influxdb.conf").read_text().count(password.reveal())
    with InfluxServer(tmp_path, free_tcp_port(), **options) as again:
        assert again.rows('SELECT "v" FROM "m"', "kept") == [{"time": T0, "v": 3}]
