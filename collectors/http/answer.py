"""Reading and judging an HTTP answer: parsed by h11, body cut at the probe's limit."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

import h11

from agent.results import Result
from collectors.http.config import HttpConfig

_READ_SIZE = 65536


class ProbeFailure(Exception):
    """The check failed for a reason the probe itself established (not an OS error)."""

    def __init__(self, result: Result, message: str) -> None:
        super().__init__(message)
        self.result = result
        self.message = message


@dataclass
class Answer:
    """A response as read: the body is cut at the probe's max_body_bytes."""

    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    received: int  # body bytes received (beyond the cut too)
    complete: bool  # `body` is the whole body (content matching saw all of it)

    def content_length(self, bodiless: bool) -> int:
        # A HEAD answer or a body left unread is measured by its header, when it has one.
        declared = self.headers.get("content-length", "")
        if (bodiless or not self.complete) and declared.isdigit():
            return int(declared)
        return self.received


async def read_answer(
    reader: asyncio.StreamReader,
    connection: h11.Connection,
    max_body_bytes: int,
    on_first_byte: Callable[[], None],
) -> Answer:
    """Read one response from `reader` (after the request went out on `connection`)."""
    response: h11.Response | None = None
    body = bytearray()
    received = 0
    answered = False
    finished = False
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            if not answered:
                raise ProbeFailure(
                    Result.BAD_RESPONSE, "the server closed the connection without answering"
                ) from None
            raise ProbeFailure(Result.BAD_RESPONSE, f"malformed answer: {exc}") from None
        if event is h11.NEED_DATA:
            if response is not None and received >= max_body_bytes:
                break  # enough to judge: the rest of a large download is not the check's
            data = await reader.read(_READ_SIZE)
            if data and not answered:
                answered = True
                on_first_byte()
            connection.receive_data(data)
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            received += len(event.data)
            body += event.data[: max(0, max_body_bytes - len(body))]
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed) or event is h11.PAUSED:
            finished = True
            break
        # InformationalResponse (100 Continue, 103 Early Hints): the real answer follows.
    if response is None:
        raise ProbeFailure(Result.BAD_RESPONSE, "the server closed the connection mid-answer")
    headers: dict[str, str] = {}
    for name, value in response.headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Answer(
        response.status_code,
        response.reason.decode("latin-1"),
        headers,
        bytes(body),
        received,
        complete=finished and received <= max_body_bytes,
    )


def status_accepted(status: int, expect_status: list[int]) -> bool:
    return status in expect_status if expect_status else 200 <= status < 400


def body_text(body: bytes, content_type: str) -> str:
    found = re.search(r"charset=\"?([A-Za-z0-9._:-]+)", content_type, re.IGNORECASE)
    try:
        return body.decode(found.group(1) if found else "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def content_matches(answer: Answer, content_match: str | None, content_regex: str | None) -> bool:
    text = body_text(answer.body, answer.headers.get("content-type", ""))
    if content_match is not None and content_match not in text:
        return False
    return content_regex is None or re.search(content_regex, text) is not None


def judge(answer: Answer, config: HttpConfig) -> tuple[Result, str | None, bool | None]:
    """(result, error, content matched or None when no content match is configured)."""
    if not status_accepted(answer.status, config.expect_status):
        return Result.PROTOCOL_ERROR, f"HTTP {answer.status} {answer.reason}".strip(), None
    if config.content_match is None and config.content_regex is None:
        return Result.SUCCESS, None, None
    if content_matches(answer, config.content_match, config.content_regex):
        return Result.SUCCESS, None, True
    where = "" if answer.complete else f" in the first {config.max_body_bytes} bytes"
    return Result.CONTENT_MISMATCH, f"content not found{where}", False
