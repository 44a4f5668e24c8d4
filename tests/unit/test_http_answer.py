"""Reading and judging HTTP answers: raw bytes fed to a stream, as a server would send them."""

import asyncio
from typing import Any

import h11
import pytest

from agent.results import Result
from collectors.http.answer import Answer, ProbeFailure, judge, read_answer
from collectors.http.config import HttpConfig

PAGE = "<html><title>Cổng dịch vụ công</title></html>".encode()


def _read(raw: bytes, method: str = "GET", max_body_bytes: int = 1 << 20) -> tuple[Answer, int]:
    """The answer to a request sent with `method`, and how often the first byte was noted."""

    async def scenario() -> tuple[Answer, int]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        connection = h11.Connection(h11.CLIENT)
        connection.send(h11.Request(method=method, target="/", headers=[("Host", "portal")]))
        connection.send(h11.EndOfMessage())
        first_bytes = []
        answer = await read_answer(
            reader, connection, max_body_bytes, lambda: first_bytes.append(1)
        )
        return answer, len(first_bytes)

    return asyncio.run(scenario())


def _response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_response_with_a_length_is_read_whole() -> None:
    answer, first_bytes = _read(_response(PAGE, "Content-Type: text/html; charset=utf-8"))

    assert (answer.status, answer.reason) == (200, "OK")
    assert answer.body == PAGE
    assert answer.complete
    assert answer.content_length(bodiless=False) == len(PAGE)
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert first_bytes == 1


def test_a_chunked_response_is_reassembled() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nCong \r\n7\r\ndich vu\r\n0\r\n\r\n"
    )

    answer, _ = _read(raw)

    assert answer.body == b"Cong dich vu"
    assert answer.content_length(bodiless=False) == 12


def test_a_body_ending_with_the_connection_is_read_to_the_end() -> None:
    answer, _ = _read(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok, until close")

    assert answer.body == b"ok, until close"
    assert answer.complete


def test_a_large_download_is_cut_short_and_measured_by_its_header() -> None:
    size = 1_000_000
    answer, _ = _read(_response(b"x" * size), max_body_bytes=100)

    assert len(answer.body) == 100
    assert answer.received < size  # reading stopped: the rest was never asked for
    assert not answer.complete
    assert answer.content_length(bodiless=False) == size


def test_a_body_received_whole_but_longer_than_the_limit_is_not_complete() -> None:
    answer, _ = _read(_response(b"x" * 500), max_body_bytes=100)

    assert (len(answer.body), answer.received) == (100, 500)
    assert not answer.complete  # only the first 100 bytes were matched against
    assert answer.content_length(bodiless=False) == 500


def test_head_is_measured_by_its_header() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"

    answer, _ = _read(raw, method="HEAD")

    assert answer.body == b""
    assert answer.complete
    assert answer.content_length(bodiless=True) == 1234


def test_an_interim_answer_is_skipped_and_repeated_headers_joined() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\n" + _response(
        b"", "Cache-Control: no-store", "cache-control: private", status="204 No Content"
    ).replace(b"Content-Length: 0\r\n", b"")

    answer, _ = _read(raw)

    assert answer.status == 204
    assert answer.headers["cache-control"] == "no-store, private"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "closed the connection without answering"),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed answer"),
        (_response(b"x" * 100)[:-50], "malformed answer"),  # cut mid-body
    ],
)
def test_unusable_answers_are_bad_responses(raw: bytes, message: str) -> None:
    with pytest.raises(ProbeFailure, match=message) as failure:
        _read(raw)

    assert failure.value.result is Result.BAD_RESPONSE


def _answer(status: int, body: bytes = PAGE, complete: bool = True, **headers: str) -> Answer:
    return Answer(
        status, "", {k.replace("_", "-"): v for k, v in headers.items()}, body, len(body), complete
    )


def _judge(answer: Answer, **settings: Any) -> tuple[Result, str | None, bool | None]:
    return judge(answer, HttpConfig.model_validate({"url": "http://portal/", **settings}))


@pytest.mark.parametrize(
    ("status", "expect_status", "result"),
    [
        (200, [], Result.SUCCESS),
        (302, [], Result.SUCCESS),  # a redirect not followed is an answer
        (404, [], Result.PROTOCOL_ERROR),
        (503, [], Result.PROTOCOL_ERROR),
        (503, [503], Result.SUCCESS),  # "under maintenance" expected
        (200, [204], Result.PROTOCOL_ERROR),
    ],
)
def test_statuses_are_judged_by_the_expectation(
    status: int, expect_status: list[int], result: Result
) -> None:
    assert _judge(_answer(status), expect_status=expect_status)[0] is result


def test_an_error_status_says_which() -> None:
    answer = Answer(503, "Service Unavailable", {}, b"", 0, True)

    assert _judge(answer) == (Result.PROTOCOL_ERROR, "HTTP 503 Service Unavailable", None)


def test_content_match_and_regex_must_both_hold() -> None:
    answer = _answer(200)

    assert _judge(answer, content_match="dịch vụ công") == (Result.SUCCESS, None, True)
    assert _judge(answer, content_regex=r"<title>Cổng .+</title>") == (Result.SUCCESS, None, True)
    assert _judge(answer, content_match="Cổng", content_regex="Bảo trì")[0] is (
        Result.CONTENT_MISMATCH
    )
    assert _judge(answer, content_match="Bảo trì") == (
        Result.CONTENT_MISMATCH,
        "content not found",
        False,
    )
    assert _judge(answer)[2] is None  # nothing configured: no verdict on content


def test_the_body_is_read_in_its_declared_charset() -> None:
    body = "Société".encode("latin-1")

    latin = _answer(200, body, content_type='text/html; charset="ISO-8859-1"')
    undeclared = _answer(200, body)
    unknown = _answer(200, "Société".encode(), content_type="text/html; charset=x-klingon")

    assert _judge(latin, content_match="Société")[0] is Result.SUCCESS
    assert _judge(undeclared, content_match="Société")[0] is Result.CONTENT_MISMATCH
    assert _judge(unknown, content_match="Société")[0] is Result.SUCCESS  # UTF-8 fallback


def test_a_mismatch_in_a_cut_body_says_so() -> None:
    answer = _answer(200, b"x" * 10, complete=False)

    result, error, _ = _judge(answer, content_match="footer", max_body_bytes=10)

    assert result is Result.CONTENT_MISMATCH
    assert error == "content not found in the first 10 bytes"
