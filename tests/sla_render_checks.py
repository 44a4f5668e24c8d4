"""Reading rendered SLA reports back with real tools, and a hand-built report to render.

The readers run poppler-utils (pdftotext, pdffonts, pdftoppm) and headless Chromium; each
call has a timeout, so a hung tool fails the test instead of stalling the run. Callers check
the tools exist first with ``tests.peers.require_binary``.

``sample_report`` is a month (October 2026, Asia/Ho_Chi_Minh) of three subjects whose tallies
and daily figures are derived from their timelines, so every figure is consistent:

- a service at exactly 99.52 % against 99.5 %, with an incident that began before the period,
  a day with no data, maintenance and a degraded hour;
- a commune site on business hours whose only long outage is charged to its upstream link,
  and whose own short outage is still open at the end;
- a commune site with no data at all (its availability is None: "no data", never 0).
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.sla.model import DailyTally, Incident, Language, LevelRow, Report, Subject, Tally
from agent.sla.timeline import Segment, SlaState, Span, Timeline, clip, coalesce

TOOL_TIMEOUT_S = 120
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DAYS = 31


# --- the tools --------------------------------------------------------------------------------


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=True)
    return done.stdout


def pdf_text(path: Path, page: int | None = None, layout: bool = True) -> str:
    """The PDF's text (of one page, or all): by default as pdftotext lays it out (-layout: a
    table row on one line); with layout=False in drawing order (-raw: the lines of a wrapped
    table cell stay together, so a name split over them can be found)."""
    argv = ["pdftotext", "-enc", "UTF-8", "-layout" if layout else "-raw"]
    if page is not None:
        argv += ["-f", str(page), "-l", str(page)]
    return _run([*argv, str(path), "-"])


def pdf_fonts(path: Path) -> list[tuple[str, bool]]:
    """(name, embedded) of every font pdffonts lists, columns cut where its dashes are."""
    lines = _run(["pdffonts", str(path)]).splitlines()
    if len(lines) < 2:
        return []
    spans, column_start = [], 0
    for part in lines[1].split(" "):
        spans.append((column_start, column_start + len(part)))
        column_start += len(part) + 1
    fonts = []
    for line in lines[2:]:
        name = line[spans[0][0] : spans[0][1]].strip()
        emb = line[spans[3][0] : spans[3][1]].strip()
        fonts.append((name, emb == "yes"))
    return fonts


def pdf_page_png(path: Path, page: int = 1) -> Path:
    """Page `page` of the PDF as a PNG at 100 dpi, written beside the PDF."""
    prefix = path.with_name(f"{path.stem}-page{page}")
    argv = ["pdftoppm", "-png", "-r", "100", "-f", str(page), "-l", str(page), "-singlefile"]
    _run([*argv, str(path), str(prefix)])
    return prefix.with_suffix(".png")


def chromium_render(html_path: Path, out_dir: Path) -> tuple[str, Path]:
    """The DOM Chromium builds from the page (as text) and a 1280×2000 screenshot of it."""
    url = html_path.resolve().as_uri()
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu"]
    profile = f"--user-data-dir={out_dir / 'chromium-profile'}"
    dom = _run([*common, profile, "--dump-dom", url])
    shot = out_dir / f"{html_path.stem}.png"
    _run([*common, profile, f"--screenshot={shot}", "--window-size=1280,2000", url])
    return dom, shot


# --- PNG, read with the standard library only ---------------------------------------------------

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _unfilter(raw: bytes, width: int, height: int, bpp: int, row_bytes: int) -> list[bytes]:
    rows: list[bytes] = []
    previous = bytearray(row_bytes)
    at = 0
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1 : at + 1 + row_bytes])
        at += 1 + row_bytes
        for i in range(row_bytes):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + guess) & 0xFF
        rows.append(bytes(line))
        previous = line
    return rows


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, pixels) of a non-interlaced PNG; a pixel is its raw bytes (for bit
    depths under 8, one byte of packed pixels: enough to tell a blank image)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    at, idat, header = 8, bytearray(), b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if interlace:
        raise ValueError(f"{path}: interlaced PNGs are not read here")
    bits = _CHANNELS[colour] * depth
    bpp, row_bytes = max(bits // 8, 1), (width * bits + 7) // 8
    rows = _unfilter(zlib.decompress(bytes(idat)), width, height, bpp, row_bytes)
    pixels = [row[i : i + bpp] for row in rows for i in range(0, row_bytes, bpp)]
    return width, height, pixels


def png_is_not_blank(path: Path, min_share: float = 0.002) -> bool:
    """True when at least `min_share` of the pixels differ from the commonest one (the
    background): a page with a few lines of text passes, an empty or single-colour one fails."""
    _, _, pixels = png_pixels(path)
    if not pixels:
        return False
    (_, background_count), *_ = Counter(pixels).most_common(1)
    return (len(pixels) - background_count) / len(pixels) >= min_share


# --- a report to render -------------------------------------------------------------------------

PERIOD_START = int(datetime(2026, 10, 1, tzinfo=ZONE).timestamp())
PERIOD_END = int(datetime(2026, 11, 1, tzinfo=ZONE).timestamp())
HOUR = 3600


def _at(day: int, hour: float) -> int:
    """Unix seconds of `hour` o'clock local time on 2026-10-`day`."""
    return PERIOD_START + (day - 1) * 86400 + int(hour * HOUR)


def _timeline(events: list[Segment], base: SlaState = SlaState.UP) -> Timeline:
    """`events` (sorted, disjoint) laid over a period that is `base` elsewhere."""
    out, cursor = [], PERIOD_START
    for event in events:
        out += [Segment(cursor, event.start, base), event]
        cursor = event.end
    out.append(Segment(cursor, PERIOD_END, base))
    return coalesce(out)


def _daily(timeline: Timeline) -> tuple[DailyTally, ...]:
    start = date(2026, 10, 1)
    return tuple(
        DailyTally(day, Tally.of(clip(timeline, Span(_at(i + 1, 0), _at(i + 2, 0)))))
        for i, day in enumerate(start + timedelta(days=n) for n in range(DAYS))
    )


def _subject(timeline: Timeline, incidents: tuple[Incident, ...], **fields: object) -> Subject:
    return Subject(
        tally=Tally.of(timeline),
        daily=_daily(timeline),
        incidents=incidents,
        timeline=timeline,
        **fields,  # type: ignore[arg-type]
    )


def portal_service() -> Subject:
    timeline = _timeline(
        [
            Segment(_at(1, 0), _at(1, 0) + 12_000, SlaState.DOWN, "http 503"),
            Segment(_at(5, 0), _at(7, 0) - 1_600, SlaState.UNKNOWN),
            Segment(_at(10, 1), _at(10, 3), SlaState.MAINTENANCE, "nâng cấp"),
            Segment(_at(11, 9), _at(11, 10), SlaState.DEGRADED, "slow"),
        ]
    )
    incident = Incident(
        start=_at(1, 0) - 1_800,
        end=_at(1, 0) + 12_000,
        component="portal-web-01",
        cause="http 503",
        charged_s=12_000,
        open_start=True,
    )
    return _subject(
        timeline,
        (incident,),
        kind="service",
        id="cong-dvc",
        name="Cổng dịch vụ công tỉnh",
        name_en="Provincial public service portal",
        department="Văn phòng Ủy ban nhân dân tỉnh",
        level="province",
        district="",
        slo_target=99.5,
        calendar="24x7",
    )


def _business_hours(events: list[Segment]) -> Timeline:
    """Weekdays 08:00–16:00 up (or `events`), everything else outside the calendar."""
    segments: list[Segment] = []
    for day in range(1, DAYS + 1):
        if date(2026, 10, day).weekday() < 5:
            segments.append(Segment(_at(day, 8), _at(day, 16), SlaState.UP))
    inside = _timeline(segments, SlaState.EXCLUDED)
    out: Timeline = []
    for seg in inside:
        cuts = [e for e in events if seg.start <= e.start and e.end <= seg.end]
        if seg.state is SlaState.UP and cuts:
            cursor = seg.start
            for event in cuts:
                out += [Segment(cursor, event.start, SlaState.UP), event]
                cursor = event.end
            out.append(Segment(cursor, seg.end, SlaState.UP))
        else:
            out.append(seg)
    return coalesce(out)


def commune_site() -> Subject:
    upstream = Segment(_at(14, 9), _at(14, 10.5), SlaState.UPSTREAM, "bc-bencat-core")
    own = Segment(_at(30, 16) - 900, _at(30, 16), SlaState.DOWN, "timeout")
    incidents = (
        Incident(
            start=upstream.start,
            end=upstream.end,
            component="xa-andien-gw",
            cause="bc-bencat-core",
            upstream="bc-bencat-core",
            charged_s=0,
        ),
        Incident(
            start=own.start,
            end=PERIOD_END,
            component="xa-andien-gw",
            cause="timeout",
            charged_s=900,
            open_end=True,
        ),
    )
    return _subject(
        _business_hours([upstream, own]),
        incidents,
        kind="site",
        id="xa-andien-gw",
        name="UBND xã An Điền, thị xã Bến Cát",
        name_en="An Dien commune, Ben Cat town",
        department="Văn phòng Ủy ban nhân dân tỉnh",
        level="commune",
        district="Bến Cát",
        slo_target=99.0,
        calendar="business_hours",
    )


def silent_site() -> Subject:
    return _subject(
        _timeline([], SlaState.UNKNOWN),
        (),
        kind="site",
        id="xa-tanthanh-gw",
        name="Điểm kết nối xã Tân Thành",
        name_en="Tan Thanh commune connection point",
        department="Văn phòng Ủy ban nhân dân tỉnh",
        level="commune",
        district="Bắc Tân Uyên",
        slo_target=99.0,
        calendar="24x7",
    )


def sample_report(language: Language = "vi") -> Report:
    portal, commune, silent = portal_service(), commune_site(), silent_site()
    return Report(
        start=PERIOD_START,
        end=PERIOD_END,
        timezone="Asia/Ho_Chi_Minh",
        period="2026-10",
        department="Văn phòng Ủy ban nhân dân tỉnh",
        language=language,
        generated_at=int(datetime(2026, 11, 2, 9, 30, tzinfo=ZONE).timestamp()),
        subjects=(portal, commune, silent),
        levels=(
            LevelRow("commune", "Bến Cát", 1, commune.tally, 1, 0),
            LevelRow("commune", "Bắc Tân Uyên", 1, silent.tally, 0, 0),
        ),
        calendar_notes=((date(2026, 10, 10), "Ngày làm bù (thứ Bảy)"),),
        issuer="Sở Khoa học và Công nghệ",
        issuer_parent="Ủy ban nhân dân tỉnh Bình Dương",
        place="Bình Dương",
        signer_title="Giám đốc",
        signer_name="Nguyễn Văn An",
    )
