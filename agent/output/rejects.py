"""Which lines of a batch InfluxDB refused, read from its answer, and why.

`rejected_lines(lines, message)` takes the lines of one request, in the order they were sent
(the body was ``"\\n".join(lines) + "\\n"``), and the server's explanation of its HTTP 400:
`agent.output.transports.WriteError.message` (whitespace collapsed, cut at 500 characters with
"…") or the raw response body. It returns a `Rejection`: the indices of `lines` the answer
names as refused, each with the part of the answer about it, and whether those are all the
lines the answer reports as refused.

Precision comes before recall: a line is named only when the answer cannot mean another line
of the batch. The writer quarantines the named lines, resends the rest (InfluxDB overwrites
identical points, so resending accepted lines is harmless) and bisects when nothing is named.

The answers understood, as InfluxDB writes them:

- 1.x (Debian's 1.6.7, observed) and 2.x, unparseable lines: one ``unable to parse '<line>':
  <reason>`` per line, joined by newlines, prefixed ``partial write: `` and suffixed
  `` dropped=0`` when other lines were stored. The quoted text is the server's own line: the
  body is cut at newlines outside double-quoted strings, leading blanks removed. 2.x refuses the
  whole batch on any unparseable line, and InfluxDB Cloud's schema check answers ``partial write
  error (N written): unable to parse '<line>': schema: ...``; both read the same way.
- 1.x and 2.x, field type conflicts: ``partial write: field type conflict: input field "<f>" on
  measurement "<m>" is type <input>, already exists as type <stored> dropped=N``. Only the FIRST
  conflict is described; N counts every point the storage refused (all conflicts, all fields).
  The stored type is what refuses a point, so every line of measurement m whose field f has
  another type is named, but only when they all fall in one UTC hour: field types are per
  shard (a time range; 1.6.7 stored such a line a month later, in another shard, while
  refusing its twin), and shard groups are whole hours aligned on UTC hours with every
  InfluxDB default (1 h, 1 d, 7 d). More such lines than N also names none. 1.x does not report
  unparseable lines in the same answer as a storage refusal: they show up when the rest is
  resent.
- 3.x: ``{"error": "partial write of line protocol occurred", "data": [{"original_line": ...,
  "line_number": K, "error_message": ...}, ...]}``, K counting from 1 over non-blank lines. An
  entry is named only when its original_line agrees with line K (or, failing that, with exactly
  one line of the batch: some 3.x versions count from 0 for some errors). This detail exists
  only in the raw body; `WriteError.message` keeps just the first error_message.

Anything else (``points beyond retention policy``, ``max-values-per-tag limit exceeded``,
``field type conflict`` alone, which 1.x answers when one batch gives a new field two types and
then stores nothing) names no line.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: How long a reason taken from a 3.x entry may be (the transports keep 500 for a whole message).
MAX_REASON_CHARS = 300

_HOUR_NS = 3600 * 10**9  # timestamps are written with precision=ns
_PARSE_MARK = "unable to parse '"
_PARSE_SEPARATOR = "': "
_CONFLICT_MARK = 'input field "'
_ELLIPSIS = "…"

_DROPPED_AT_END = re.compile(r"\s*\bdropped=(\d+)\s*$")
_CONFLICT_TAIL = re.compile(
    r'" is type (float|integer|unsigned|string|boolean), '
    r"already exists as type (float|integer|unsigned|string|boolean)"
)
# InfluxDB 1.x un-escapes these four in a measurement and a field key (pkg/escape).
_UNESCAPE = re.compile(r'\\([,"= ])')
# A measurement runs to the first comma or space that no backslash escapes.
_MEASUREMENT = re.compile(r"(?:\\.|[^\\, ])*", re.DOTALL)
# What moves the state of InfluxDB's line splitter (models.scanLine); other characters do not.
_SCAN_SPECIAL = re.compile(r'[\\ =,"\n]')
_INTEGER = re.compile(r"-?[0-9]+i")
_UNSIGNED = re.compile(r"[0-9]+u")
_FLOAT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# After the fields: an optional integer timestamp, nothing else.
_TIMESTAMP = re.compile(r" *(-?[0-9]+)? *")
_BOOLEANS = frozenset({"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"})


@dataclass(frozen=True)
class RefusedLine:
    """One line the server refused: its index in the batch and the server's reason for it.

    The reason never repeats the line (the quarantine keeps the line beside it), so reasons stay
    few and can be logged once each: ``unable to parse: missing fields``, ``field type conflict:
    input field "v" on measurement "m" is type integer, already exists as type float``.
    """

    index: int
    reason: str


@dataclass(frozen=True)
class Rejection:
    """What an InfluxDB answer says about the lines of one batch.

    refused: the lines named as refused, by index, ascending, each once.
    complete: True when `refused` accounts for every line the answer reports as refused (the
      answer was not cut, every part of it was attributed, and 1.x's dropped=N matches). Even
      then 1.x may have refused unparseable lines it did not mention (see the module text).
    reported: how many lines the answer says were refused (dropped=N plus one per "unable to
      parse" part, or the 3.x entries), None when it does not say.
    """

    refused: tuple[RefusedLine, ...]
    complete: bool
    reported: int | None

    @property
    def indices(self) -> tuple[int, ...]:
        return tuple(line.index for line in self.refused)


NOTHING = Rejection((), complete=False, reported=None)


def normalise(text: str) -> str:
    """Whitespace collapsed as `transports.server_message` does, so both sides compare."""
    return " ".join(text.split())


# --- the server's view of a body ------------------------------------------------------------


@dataclass(frozen=True)
class ServerLine:
    """One line as InfluxDB split the body: its text and the batch lines it covers."""

    raw: str
    text: str  # normalised
    indices: tuple[int, ...]


def _scan_line(body: str, start: int) -> int:
    """Where the line starting at `start` ends: InfluxDB's models.scanLine, special chars only."""
    quoted = fields = False
    equals = commas = 0
    end = len(body)
    i = start
    while True:
        found = _SCAN_SPECIAL.search(body, i)
        if found is None:
            return end
        i = found.start()
        char = body[i]
        if char == "\\":
            i += 2 if i + 2 < end else 1
            continue
        if char == " ":
            fields = True
        elif fields and not quoted and char == "=":
            equals += 1
        elif fields and not quoted and char == ",":
            commas += 1
        elif fields and char == '"' and equals > commas:
            quoted = not quoted
        elif char == "\n" and not quoted:
            return i
        i += 1


def server_blocks(lines: Sequence[str]) -> list[ServerLine]:
    """The lines InfluxDB sees in ``"\\n".join(lines) + "\\n"``, blanks and comments skipped.

    A line of ours is one server line unless it has an unbalanced quote (the server then reads
    on into the next lines) or a newline outside quotes (the server splits it).
    """
    body = "\n".join(lines) + "\n"
    starts: list[int] = []
    offset = 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    blocks: list[ServerLine] = []
    position = 0
    while position < len(body):
        end = _scan_line(body, position)
        raw = body[position:end].lstrip(" \t\0")
        if raw.strip() and not raw.startswith("#"):
            first = bisect.bisect_right(starts, position) - 1
            last = bisect.bisect_right(starts, max(position, end - 1)) - 1
            blocks.append(ServerLine(raw, normalise(raw), tuple(range(first, last + 1))))
        position = end + 1
    return blocks


# --- parsing a line, enough to know its measurement and field types -------------------------


def _unescape(name: str) -> str:
    return _UNESCAPE.sub(r"\1", name)


def measurement_of(line: str) -> str | None:
    """The measurement of a line, un-escaped as InfluxDB stores it; None if there is none."""
    text = line.lstrip(" \t")
    found = _MEASUREMENT.match(text)
    name = found.group(0) if found else ""
    return _unescape(name) if name else None


def field_type(value: str) -> str | None:
    """The InfluxDB type of one field value as written in line protocol; None if invalid."""
    if value.startswith('"'):
        return "string"
    if value in _BOOLEANS:
        return "boolean"
    if _INTEGER.fullmatch(value):
        return "integer"
    if _UNSIGNED.fullmatch(value):
        return "unsigned"
    if _FLOAT.fullmatch(value):
        return "float"
    return None


def _skip_unquoted(text: str, i: int, stops: str) -> int:
    """Index of the first character of `stops` at or after `i` that no backslash escapes."""
    while i < len(text) and text[i] not in stops:
        i += 2 if text[i] == "\\" else 1
    return min(i, len(text))


def _skip_string(text: str, i: int) -> int | None:
    """Index just past the closing quote of the string value opening at `i`; None if open."""
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        else:
            i += 1
    return None


def fields_of(line: str) -> list[tuple[str, str]] | None:
    """The (un-escaped key, type) of each field of a line, in order; None if it does not parse.

    Follows InfluxDB 1.x: measurement and tags end at the first unescaped space, fields are
    ``key=value`` separated by unescaped commas, string values are double-quoted with ``\\"`` and
    ``\\\\`` escaped inside (and may hold spaces, commas, equals signs and newlines).
    """
    parsed = _parse_line(line)
    return parsed[0] if parsed is not None else None


def _parse_line(line: str) -> tuple[list[tuple[str, str]], int | None] | None:
    """The fields of a line (see `fields_of`) and its timestamp, if it has one."""
    text = line.lstrip(" \t")
    i = _skip_unquoted(text, 0, " ")
    while i < len(text) and text[i] == " ":
        i += 1
    fields: list[tuple[str, str]] = []
    while True:
        key_end = _skip_unquoted(text, i, "= ")
        if key_end >= len(text) or text[key_end] != "=" or key_end == i:
            return None
        start = key_end + 1
        if text.startswith('"', start):
            end = _skip_string(text, start)
            if end is None:
                return None
        else:
            end = _skip_unquoted(text, start, ", ")
        kind = field_type(text[start:end])
        if kind is None:
            return None
        fields.append((_unescape(text[i:key_end]), kind))
        if end < len(text) and text[end] == ",":
            i = end + 1
            continue
        timestamp = _TIMESTAMP.fullmatch(text, end)
        if timestamp is None:
            return None
        return fields, int(timestamp.group(1)) if timestamp.group(1) else None


# --- "unable to parse '<line>': <reason>" ---------------------------------------------------


@dataclass
class _Findings:
    refused: dict[int, str]
    complete: bool = True
    reported: int = 0


def _candidates(rest: str, texts: dict[str, list[ServerLine]], cut: bool) -> dict[str, int]:
    """The block texts the quote at the start of `rest` can be, each with where its quote ends.

    Compared after whitespace collapsing, which also absorbs the blank a cut or a trailing
    space leaves just inside the quote.
    """
    found: dict[str, int] = {}
    separator = rest.find(_PARSE_SEPARATOR)
    while separator != -1:
        quoted = normalise(rest[:separator])
        if quoted in texts:
            found.setdefault(quoted, separator)
        separator = rest.find(_PARSE_SEPARATOR, separator + 1)
    if cut and rest.endswith(_ELLIPSIS):
        # The transport cut the message inside this part: the quoted text may be cut too.
        shown = normalise(rest[: -len(_ELLIPSIS)])
        for text in texts:
            if (text + _PARSE_SEPARATOR).startswith(shown):
                found.setdefault(text, len(rest))
    return found


def _reason_after(rest: str, separator: int) -> str:
    if separator >= len(rest):
        return "unable to parse (the reason was cut off the message)"
    reason = rest[separator + len(_PARSE_SEPARATOR) :]
    # The reason runs to the next part the server joined on (another line, a storage refusal).
    for following in (" " + _PARSE_MARK, " field type conflict: " + _CONFLICT_MARK):
        end = reason.find(following)
        if end != -1:
            reason = reason[:end]
    reason = _DROPPED_AT_END.sub("", reason).strip()
    return f"unable to parse: {reason}" if reason else "unable to parse"


def _match_parse_errors(message: str, blocks: list[ServerLine], cut: bool) -> _Findings:
    """Name the lines of the "unable to parse" parts of `message`.

    Each part quotes one server line, which is some block of this batch: so when exactly one
    block text fits the quote (followed by "': "), that is the line. A part that fits none or
    several is skipped; then the next mark is trusted as the next part only if no line of the
    batch holds the mark itself (else the skipped quote might have contained it).
    """
    texts: dict[str, list[ServerLine]] = defaultdict(list)
    for block in blocks:
        texts[block.text].append(block)
    mark_inside_lines = any(_PARSE_MARK in block.text for block in blocks)
    named: Counter[str] = Counter()
    reasons: dict[str, str] = {}
    findings = _Findings({})
    position = message.find(_PARSE_MARK)
    while position != -1:
        findings.reported += 1
        rest = message[position + len(_PARSE_MARK) :]
        fitting = _candidates(rest, texts, cut)
        if len(fitting) == 1:
            text, separator = fitting.popitem()
            named[text] += 1
            reasons.setdefault(text, _reason_after(rest, separator))
            search_from = position + len(_PARSE_MARK) + separator
        else:
            findings.complete = False
            if mark_inside_lines:
                break
            search_from = position + 1
        position = message.find(_PARSE_MARK, search_from)
    for text, count in named.items():
        group = texts[text]
        # Identical lines share their fate; different lines that read alike after whitespace
        # collapsing are named only when the answer names each of them.
        if count == len(group) or len({block.raw for block in group}) == 1:
            for block in group:
                for index in block.indices:
                    findings.refused.setdefault(index, reasons[text])
            if count < len(group) or any(len(block.indices) > 1 for block in group):
                findings.complete = False
        else:
            findings.complete = False
    return findings


# --- field type conflicts ------------------------------------------------------------------


@dataclass(frozen=True)
class _Conflict:
    field: str  # normalised, as in the message
    measurement: str  # normalised
    input_type: str
    stored_type: str


def _conflicts_in(message: str) -> list[list[_Conflict]]:
    """Every reading of each conflict description in `message` (names may hold quotes)."""
    readings: list[list[_Conflict]] = []
    position = message.find(_CONFLICT_MARK)
    while position != -1:
        rest = message[position + len(_CONFLICT_MARK) :]
        options: list[_Conflict] = []
        for middle in re.finditer(re.escape('" on measurement "'), rest):
            after = rest[middle.end() :]
            for tail in _CONFLICT_TAIL.finditer(after):
                options.append(
                    _Conflict(
                        rest[: middle.start()], after[: tail.start()], tail.group(1), tail.group(2)
                    )
                )
        readings.append(options)
        position = message.find(_CONFLICT_MARK, position + 1)
    return readings


def _match_conflicts(
    lines: Sequence[str], message: str, dropped: int | None, exclude: dict[int, str]
) -> _Findings:
    """Name the lines refused by the field type conflicts `message` describes.

    A description names one (measurement, field) of the batch; when exactly one pair of the
    batch fits it, every line of that measurement whose field has another type than the stored
    one was refused, in the shard the answer speaks of. Types are per shard, and the described
    line is in that shard: so the lines are named only when they all fall in the same UTC hour
    (a shard group spans whole hours, aligned on UTC hours, with every InfluxDB default: 1 h,
    1 d, 7 d). More such lines than dropped=N also names none.
    """
    readings = _conflicts_in(message)
    if not readings or dropped is None:
        # Without conflicts nothing is attributed here, unless the storage dropped points for
        # another reason (retention policy, series or tag-value limits), which names no line.
        # Without dropped=N (a cut message) the count check is impossible: name none.
        return _Findings({}, complete=not readings and not dropped, reported=dropped or 0)
    findings = _Findings({}, complete=True, reported=dropped)
    wanted = {option.measurement for options in readings for option in options}
    parsed: dict[int, tuple[str, list[tuple[str, str]], int | None]] = {}
    for index, line in enumerate(lines):
        measurement = measurement_of(line)
        if index not in exclude and measurement is not None and normalise(measurement) in wanted:
            fields_and_time = _parse_line(line)
            if fields_and_time is not None:
                parsed[index] = (measurement, *fields_and_time)
    named: dict[int, str] = {}
    for options in readings:
        chosen = _conflict_lines(options, parsed)
        if chosen is None:
            findings.complete = False
            continue
        for index, reason in chosen.items():
            named.setdefault(index, reason)
    if len(named) > dropped:
        return _Findings({}, complete=False, reported=dropped)
    findings.refused = named
    findings.complete = findings.complete and dropped == len(named)
    return findings


def _conflict_lines(
    options: list[_Conflict], parsed: dict[int, tuple[str, list[tuple[str, str]], int | None]]
) -> dict[int, str] | None:
    """The lines one conflict description refuses, with their reasons; None if unsure."""
    fits = {
        (measurement, key, option.stored_type)
        for option in options
        for measurement, fields, _ in parsed.values()
        if normalise(measurement) == option.measurement
        for key, kind in fields
        if normalise(key) == option.field and kind == option.input_type
    }
    if len(fits) != 1:
        return None
    measurement, key, stored = fits.pop()
    chosen: dict[int, str] = {}
    hours: set[int | None] = set()
    for index, (line_measurement, fields, timestamp) in parsed.items():
        if line_measurement != measurement:
            continue
        other = next((kind for name, kind in fields if name == key and kind != stored), None)
        if other is not None:
            chosen[index] = (
                f'field type conflict: input field "{key}" on measurement "{measurement}" '
                f"is type {other}, already exists as type {stored}"
            )
            hours.add(None if timestamp is None else timestamp // _HOUR_NS)
    if len(hours) != 1 or None in hours:
        return None
    return chosen


# --- InfluxDB 3.x entries ------------------------------------------------------------------


def _entry_line(entry: dict[str, Any], blocks: list[ServerLine]) -> ServerLine | None:
    number = entry.get("line_number")
    original = entry.get("original_line")
    if not isinstance(original, str):
        return None
    shown = normalise(original)
    if shown.endswith(_ELLIPSIS):
        shown = shown[: -len(_ELLIPSIS)].rstrip()
    elif shown.endswith("..."):
        shown = shown[:-3].rstrip()
    if not shown:
        return None
    if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= len(blocks):
        block = blocks[number - 1]
        if block.text.startswith(shown):
            return block
    fitting = [block for block in blocks if block.text.startswith(shown)]
    return fitting[0] if len(fitting) == 1 else None


def _match_v3(data: object, blocks: list[ServerLine]) -> _Findings:
    # accept_partial=false answers one object: the first bad line; nothing else was written.
    entries = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
    findings = _Findings({}, complete=isinstance(data, list), reported=len(entries))
    for entry in entries:
        block = _entry_line(entry, blocks) if isinstance(entry, dict) else None
        if block is None:
            findings.complete = False
            continue
        error = entry.get("error_message")
        reason = normalise(error) if isinstance(error, str) and error.strip() else "refused"
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 1] + _ELLIPSIS
        for index in block.indices:
            findings.refused.setdefault(index, reason)
    return findings


# --- the entry point -----------------------------------------------------------------------


def _decoded(message: str) -> tuple[str, object]:
    """The explanation text of a message or raw body, and 3.x's per-line data if present."""
    try:
        decoded = json.loads(message)
    except ValueError:
        return message, None
    if not isinstance(decoded, dict):
        return message, None
    text = next((decoded[k] for k in ("error", "message") if isinstance(decoded.get(k), str)), "")
    data = decoded.get("data")
    return text, data if isinstance(data, list | dict) else None


def rejected_lines(lines: Sequence[str], message: str) -> Rejection:
    """Which of `lines` the InfluxDB answer `message` names as refused, and why.

    `lines`: the batch as sent, in order. `message`: `WriteError.message` or the raw body of the
    HTTP 400. Never raises on any message; one that names nothing gives `NOTHING`-like output.
    """
    text, data = _decoded(message)
    blocks = server_blocks(lines)
    if data is not None:
        v3 = _match_v3(data, blocks)
        return _rejection(v3.refused, v3.complete, v3.reported)
    text = normalise(text)
    cut = text.endswith(_ELLIPSIS)
    dropped_match = None if cut else _DROPPED_AT_END.search(text)
    dropped = int(dropped_match.group(1)) if dropped_match else None
    parse_errors = _match_parse_errors(text, blocks, cut)
    conflicts = _match_conflicts(lines, text, dropped, parse_errors.refused)
    refused = {**conflicts.refused, **parse_errors.refused}
    any_report = parse_errors.reported > 0 or dropped is not None
    reported = parse_errors.reported + (dropped or 0) if any_report else None
    complete = any_report and not cut and parse_errors.complete and conflicts.complete
    return _rejection(refused, complete, reported)


def _rejection(refused: dict[int, str], complete: bool, reported: int | None) -> Rejection:
    ordered = tuple(RefusedLine(index, refused[index]) for index in sorted(refused))
    return Rejection(ordered, complete=complete and bool(ordered), reported=reported)
