"""Quarantine: the JSON-lines file of refused lines, its bounds, permissions, errors and logs."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.output import quarantine as quarantine_module
from agent.output.quarantine import (
    QUARANTINE_FILE,
    ROTATED_FILE,
    Quarantine,
    QuarantinedLine,
    iter_quarantined,
    main,
    quarantine_files,
    raw_lines,
)

CONFLICT = (
    'field type conflict: input field "v" on measurement "m" is type integer, '
    "already exists as type float"
)
MOMENT = datetime(2024, 5, 1, 7, 30, 0, 123456, tzinfo=UTC)
AWKWARD_LINE = 'interface,department=Sở\\ TT&TT ifAlias="uplink \\"core\\"\nsecond line",v=1i 17'


def fixed_clock() -> datetime:
    return MOMENT


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


def test_records_are_one_json_object_per_line(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path / "q", clock=fixed_clock)
    written = quarantine.add(
        [("m v=1i 1", CONFLICT), (AWKWARD_LINE, "unable to parse: bad timestamp")], status=400
    )
    assert written == 2
    text = quarantine.path.read_text(encoding="utf-8")
    assert text.count("\n") == 2  # the newline inside the string value is escaped
    assert "Sở" in text  # readable as it is, not \\u escapes
    first, second = records(quarantine.path)
    assert list(first) == ["time", "status", "reason", "line"]
    assert first == {
        "time": "2024-05-01T07:30:00.123Z",
        "status": 400,
        "reason": CONFLICT,
        "line": "m v=1i 1",
    }
    assert second["line"] == AWKWARD_LINE
    assert quarantine.stats.lines == 2


def test_time_is_utc_whatever_the_clock_zone(tmp_path: Path) -> None:
    hanoi = MOMENT.astimezone(timezone(timedelta(hours=7)))
    quarantine = Quarantine(tmp_path, clock=lambda: hanoi)
    quarantine.add([("m v=1i 1", "r")])
    assert records(quarantine.path)[0]["time"] == "2024-05-01T07:30:00.123Z"
    assert records(quarantine.path)[0]["status"] is None


def test_a_line_is_kept_as_the_writer_sent_it(tmp_path: Path) -> None:
    # The writer encodes bodies with "replace": a lone surrogate went out as "?".
    line = 'm s="bad \udc80 byte" 1'
    sent = line.encode("utf-8", "replace").decode("utf-8")
    quarantine = Quarantine(tmp_path)
    assert quarantine.add([(line, "r")]) == 1
    assert records(quarantine.path)[0]["line"] == sent == 'm s="bad ? byte" 1'


def test_reasons_are_one_line_and_bounded(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path)
    quarantine.add([("m v=1 1", "first\nFAKE LOG LINE " + "x" * 5000)])
    reason = records(quarantine.path)[0]["reason"]
    assert isinstance(reason, str)
    assert "\n" not in reason
    assert len(reason) == quarantine_module.MAX_REASON_CHARS
    assert reason.endswith("…")


def test_nothing_to_add_touches_nothing(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path / "q")
    assert quarantine.add([]) == 0
    assert not (tmp_path / "q").exists()


def test_permissions(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the modes must not depend on the caller's umask
    try:
        quarantine = Quarantine(tmp_path / "state" / "quarantine")
        quarantine.add([("m v=1 1", "r")])
    finally:
        os.umask(old_umask)
    assert mode_of(quarantine.directory) == 0o700
    assert mode_of(quarantine.path) == 0o600


def test_permissions_of_existing_places_are_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "quarantine"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    (directory / QUARANTINE_FILE).write_text("")
    (directory / QUARANTINE_FILE).chmod(0o644)
    Quarantine(directory).add([("m v=1 1", "r")])
    assert mode_of(directory) == 0o700
    assert mode_of(directory / QUARANTINE_FILE) == 0o600


def record_size(tmp_path: Path) -> int:
    probe = Quarantine(tmp_path / "probe", clock=fixed_clock)
    probe.add([("m v=000i 1", "r")], status=400)
    return probe.path.stat().st_size


def test_rotation_keeps_two_files_and_counts_what_it_deletes(tmp_path: Path) -> None:
    directory = tmp_path / "q"
    quarantine = Quarantine(directory, max_bytes=record_size(tmp_path) * 10, clock=fixed_clock)
    for batch in range(7):
        quarantine.add(
            [(f"m v={i:03d}i 1", "r") for i in range(batch * 5, batch * 5 + 5)], status=400
        )
    assert sorted(p.name for p in directory.iterdir()) == [ROTATED_FILE, QUARANTINE_FILE]
    kept = [r.line for path in quarantine_files(directory) for r in iter_quarantined(path)]
    # 10 records per file: rotations at the 3rd, 5th and 7th batch; two deleted files of 10.
    assert kept == [f"m v={i:03d}i 1" for i in range(20, 35)]
    assert quarantine.stats.lines == 35
    assert quarantine.stats.discarded == 20
    for path in quarantine_files(directory):
        assert path.stat().st_size <= quarantine.max_bytes


def test_one_batch_larger_than_the_file_rotates_in_the_middle(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, max_bytes=400, clock=fixed_clock)
    assert quarantine.add([(f"m v={i}i {i}", "r") for i in range(12)]) == 12
    kept = [r.line for path in quarantine_files(tmp_path) for r in iter_quarantined(path)]
    assert quarantine.stats.lines == 12
    assert len(kept) + quarantine.stats.discarded == 12
    assert kept == [f"m v={i}i {i}" for i in range(12 - len(kept), 12)]


def test_a_record_larger_than_the_bound_is_discarded(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, max_bytes=200)
    assert quarantine.add([('m s="' + "x" * 500 + '" 1', "r"), ("m v=1 1", "r")]) == 1
    assert [r.line for r in iter_quarantined(quarantine.path)] == ["m v=1 1"]
    assert quarantine.stats.discarded == 1
    assert quarantine.stats.lines == 1


def test_an_unwritable_place_counts_lines_as_lost_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "quarantine"
    blocker.write_text("a file where the directory should be")
    quarantine = Quarantine(blocker)
    with caplog.at_level(logging.WARNING, logger="agent.output.quarantine"):
        assert quarantine.add([("m v=1 1", "r1"), ("m v=2 2", "r1")], status=400) == 0
        assert quarantine.add([("m v=3 3", "r2")], status=400) == 0
    assert quarantine.stats.lost == 3
    assert quarantine.stats.lines == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "cannot write the quarantine file" in errors[0].getMessage()

    blocker.unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agent.output.quarantine"):
        assert quarantine.add([("m v=4 4", "r1")], status=400) == 1
    assert any("writable again (3 lines were lost" in r.getMessage() for r in caplog.records)
    assert quarantine.stats.lost == 3


def test_a_full_disk_leaves_no_torn_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    quarantine = Quarantine(tmp_path)
    quarantine.add([("m v=1 1", "r")])
    real_write_all = quarantine_module._write_all

    def half_then_full(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(quarantine_module, "_write_all", half_then_full)
    with caplog.at_level(logging.ERROR, logger="agent.output.quarantine"):
        assert quarantine.add([("m v=2 2", "r"), ("m v=3 3", "r")]) == 0
    assert quarantine.stats.lost == 2
    assert "No space left on device" in caplog.text
    monkeypatch.setattr(quarantine_module, "_write_all", real_write_all)

    quarantine.add([("m v=4 4", "r")])
    assert [r.line for r in iter_quarantined(quarantine.path)] == ["m v=1 1", "m v=4 4"]


def test_each_reason_is_logged_once_with_its_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    quarantine = Quarantine(tmp_path)
    with caplog.at_level(logging.WARNING, logger="agent.output.quarantine"):
        quarantine.add([(f"m v={i}i {i}", CONFLICT) for i in range(1000)], status=400)
        quarantine.add([(f"m v={i}i {i}", CONFLICT) for i in range(1000, 1500)], status=400)
        quarantine.add(
            [("bad", "unable to parse: missing fields"), ("m v=9i 9", CONFLICT)], status=400
        )
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith(f"InfluxDB refused 1000 line(s) (HTTP 400): {CONFLICT}")
    assert str(quarantine.path) in messages[0]
    assert messages[1].startswith("InfluxDB refused 1 line(s) (HTTP 400): unable to parse")
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert quarantine.stats.lines == 1502


def test_remembered_reasons_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(quarantine_module, "MAX_LOGGED_REASONS", 3)
    quarantine = Quarantine(tmp_path)
    with caplog.at_level(logging.WARNING, logger="agent.output.quarantine"):
        for n in range(10):
            quarantine.add([(f"m v={n}i {n}", f"reason {n}")])
    refused_logs = [r for r in caplog.records if r.getMessage().startswith("InfluxDB refused")]
    assert len(refused_logs) == 3
    assert any("further new ones are not logged" in r.getMessage() for r in caplog.records)
    assert quarantine.stats.lines == 10


def test_reading_skips_a_torn_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / QUARANTINE_FILE
    good = {"time": "t", "status": 400, "reason": "r", "line": "m v=1 1"}
    path.write_text(
        json.dumps(good) + "\n" + '{"time": "t", "status": 400, "rea' + "\n" + "[1]\n\n"
        '{"time": "t", "status": true, "reason": "r", "line": "x"}\n' + json.dumps(good) + "\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="agent.output.quarantine"):
        found = list(iter_quarantined(path))
    assert found == [QuarantinedLine("t", 400, "r", "m v=1 1")] * 2
    assert "skipped 3 line(s)" in caplog.text


def test_raw_lines_and_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quarantine = Quarantine(tmp_path, max_bytes=300, clock=fixed_clock)
    quarantine.add([("m v=1i 1", CONFLICT), ("bad", "unable to parse: missing fields")], status=400)
    quarantine.add([(AWKWARD_LINE, CONFLICT)], status=400)
    files = quarantine_files(tmp_path)
    assert list(raw_lines(files)) == ["m v=1i 1", "bad", AWKWARD_LINE]
    assert list(raw_lines(files, reason_contains="type conflict")) == ["m v=1i 1", AWKWARD_LINE]

    assert main([str(tmp_path), "--reason", "unable to parse"]) == 0
    assert capsys.readouterr().out == "bad\n"
    assert main([str(quarantine.path)]) == 0
    assert capsys.readouterr().out.endswith(AWKWARD_LINE + "\n")


def test_validation() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        Quarantine(Path("/nonexistent"), max_bytes=0)
    assert "max_bytes=" in repr(Quarantine(Path("/nonexistent")))
