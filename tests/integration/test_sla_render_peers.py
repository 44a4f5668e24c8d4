"""SLA reports read by real tools: poppler reads the PDF back, headless Chromium draws the HTML.

The PDF must follow Decree 30/2020/NĐ-CP (national title and motto, "BÁO CÁO", A4, page
numbers from page 2, the left margin of 30 mm) and embed Liberation Serif, every face of it.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from agent.sla.render import render
from tests.peers import require_binary
from tests.sla_render_checks import (
    chromium_render,
    pdf_fonts,
    pdf_page_png,
    pdf_text,
    png_is_not_blank,
    png_pixels,
    sample_report,
)

pytestmark = pytest.mark.render

A4_AT_100_DPI = (827, 1170)  # 210 × 297 mm, pdftoppm rounds up
PX_PER_MM = 100 / 25.4


@pytest.fixture(scope="module")
def pdf_vi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sla-pdf") / "report-vi.pdf"
    path.write_bytes(render(sample_report("vi"), "pdf"))
    return path


@pytest.fixture(scope="module")
def page_1(pdf_vi: Path) -> Path:
    require_binary("pdftoppm")
    return pdf_page_png(pdf_vi, 1)


def _words(text: str) -> str:
    return " ".join(text.split())


def test_pdf_text_has_the_decree_30_header(pdf_vi: Path) -> None:
    require_binary("pdftotext")
    text = pdf_text(pdf_vi)
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Độc lập - Tự do - Hạnh phúc" in text
    assert "BÁO CÁO" in text
    assert "SỞ KHOA HỌC VÀ CÔNG NGHỆ" in text
    assert "Số: ……/BC-" in text
    assert "Bình Dương, ngày 02 tháng 11 năm 2026" in text
    for heading in ("I. TỔNG HỢP", "II. CHI TIẾT THEO CẤP", "III. SỰ CỐ", "IV. GHI CHÚ"):
        assert heading in text
    assert "Nơi nhận:" in text
    assert "GIÁM ĐỐC" in text
    assert "Nguyễn Văn An" in text


def test_pdf_text_has_the_names_and_figures(pdf_vi: Path) -> None:
    require_binary("pdftotext")
    text = pdf_text(pdf_vi)
    for figure in ("99,52%", "99,50%", "99,85%", "03:20:00", "744:00:00", "30/09/2026"):
        assert figure in text
    # Names wrap inside table cells: read in content order, where a cell stays together.
    flowing = _words(pdf_text(pdf_vi, layout=False))
    for name in (
        "Cổng dịch vụ công tỉnh",
        "UBND xã An Điền, thị xã Bến Cát",
        "Điểm kết nối xã Tân Thành",
        "tuyến trên: bc-bencat-core",  # a host name is never cut at its hyphens
        "bắt đầu trước kỳ báo cáo",
    ):
        assert name in flowing
    assert "Khả dụng chỉ tính trên thời gian đo được" in flowing


def test_pdf_numbers_pages_from_the_second(pdf_vi: Path) -> None:
    require_binary("pdftotext")
    first = pdf_text(pdf_vi, page=1).split()
    second = pdf_text(pdf_vi, page=2).split()
    assert first[0] != "1"
    assert second[0] == "2"


def test_pdf_embeds_liberation_serif_only(pdf_vi: Path) -> None:
    require_binary("pdffonts")
    fonts = pdf_fonts(pdf_vi)
    assert fonts
    assert all(embedded for _, embedded in fonts), fonts
    families = {name.split("+")[-1].replace("-", "") for name, _ in fonts}
    assert families == {
        "LiberationSerif",
        "LiberationSerifBold",
        "LiberationSerifItalic",
        "LiberationSerifBoldItalic",
    }


def test_pdf_page_1_is_a4_and_drawn_inside_the_decree_margins(page_1: Path) -> None:
    width, height, pixels = png_pixels(page_1)
    assert (width, height) == A4_AT_100_DPI
    assert png_is_not_blank(page_1)
    white = pixels[0]
    ink = [i for i, pixel in enumerate(pixels) if pixel != white]
    columns = [i % width for i in ink]
    rows = [i // width for i in ink]
    # The tables' borders run exactly along the margins: 30 mm left, 15 mm right, 20 mm top.
    assert abs(min(columns) - 30 * PX_PER_MM) <= 3
    assert abs(width - 1 - max(columns) - 15 * PX_PER_MM) <= 3
    assert min(rows) >= 20 * PX_PER_MM - 2


def _png(width: int, height: int, rgb: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_blank_png_is_blank(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    blank.write_bytes(_png(40, 30, b"\xff\xff\xff"))
    assert not png_is_not_blank(blank)


@pytest.fixture(scope="module")
def chromium_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    require_binary("chromium")
    out = tmp_path_factory.mktemp("sla-html")
    html = out / "report-vi.html"
    html.write_bytes(render(sample_report("vi"), "html"))
    return chromium_render(html, out)


def test_chromium_builds_the_page_with_the_figures(chromium_page: tuple[str, Path]) -> None:
    dom, _ = chromium_page
    assert "99,52%" in dom
    assert "Cổng dịch vụ công tỉnh" in dom
    assert 'tuyến trên: <span class="host">bc-bencat-core</span>' in dom
    assert dom.count('<g class="day">') == 4 * 31


def test_chromium_draws_the_page(chromium_page: tuple[str, Path]) -> None:
    _, shot = chromium_page
    width, height, _ = png_pixels(shot)
    assert (width, height) == (1280, 2000)
    assert png_is_not_blank(shot)


def test_a_long_year_lists_the_heaviest_incidents_on_paper(tmp_path: Path) -> None:
    import dataclasses

    from agent.sla.render.pdf import PDF_INCIDENTS
    from tests.sla_render_checks import sample_report

    report = sample_report("en")
    portal = report.subjects[0]
    [incident] = portal.incidents[:1]
    many = tuple(
        dataclasses.replace(incident, start=incident.start + 3600 * i,
                            end=incident.start + 3600 * i + 60 + i, charged_s=60 + i)
        for i in range(PDF_INCIDENTS + 20)
    )  # fmt: skip
    subject = dataclasses.replace(portal, incidents=many)
    path = tmp_path / "long.pdf"
    path.write_bytes(render(dataclasses.replace(report, subjects=(subject,)), "pdf"))
    text = pdf_text(path)
    assert f"The {PDF_INCIDENTS} incidents with the most downtime charged, of 60" in text
    # The heaviest (charged 60 + 59 s = 00:01:59) is listed; the lightest (00:01:00) is not.
    assert "00:01:59" in text
    assert "00:01:00" not in text
