"""SLA report renderers: the figures of a hand-built report, read back from every format.

The report (tests.sla_render_checks.sample_report) has a service at exactly 99.52 % with an
incident that began before the period, a commune site whose outage is charged upstream, and a
site with no data at all. What the PDF says is read with poppler in
tests/integration/test_sla_render_peers.py.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from agent.sla.model import DailyTally, Report, Tally
from agent.sla.render import FORMATS, RenderError, charts, pdf, render
from agent.sla.render.i18n import Words
from agent.sla.timeline import Segment, SlaState
from tests.sla_render_checks import PERIOD_END, PERIOD_START, sample_report

VI = Words("vi", "Asia/Ho_Chi_Minh")
EN = Words("en", "Asia/Ho_Chi_Minh")
WEEKEND_DAYS = 9  # Saturdays and Sundays of October 2026


@pytest.fixture(scope="module")
def report() -> Report:
    return sample_report("vi")


@pytest.fixture(scope="module")
def html_vi(report: Report) -> str:
    return render(report, "html").decode("utf-8")


@pytest.fixture(scope="module")
def html_en() -> str:
    return render(sample_report("en"), "html").decode("utf-8")


def _text(html: str) -> str:
    """The page's text, tags dropped (a host name sits in its own span)."""
    return re.sub(r"<[^>]+>", "", html)


def test_the_sample_has_the_figures_the_tests_expect(report: Report) -> None:
    portal, commune, silent = report.subjects
    assert portal.availability_pct == 99.52
    assert portal.tally.down_s == 12_000
    assert commune.tally.upstream_s == 5_400
    assert silent.availability_pct is None


# --- i18n ---------------------------------------------------------------------------------------


def test_percentages_are_cut_never_rounded_up_to_a_target() -> None:
    assert VI.pct(99.52) == "99,52%"
    assert VI.pct(99.8996) == "99,89%"  # rounding would show 99,90 % against a missed 99,9 %
    assert VI.pct(100 * 2488 / 2500) == "99,52%"  # a float a hair under 99.52 is not cut to .51
    assert EN.pct(99.52) == "99.52%"
    assert VI.pct(None) == "Không có dữ liệu"
    assert EN.pct(None) == "No data"


def test_numbers_durations_and_times_per_language() -> None:
    assert VI.number(1234567) == "1.234.567"
    assert EN.number(1234567) == "1,234,567"
    assert VI.clock(2 * 3600 + 5 * 60 + 30) == "02:05:30"
    assert VI.clock(744 * 3600) == "744:00:00"  # a month of hours, not days
    assert VI.words(7530) == "2 giờ 05 phút 30 giây"
    assert EN.words(7530) == "2 h 05 min 30 s"
    assert (
        VI.time_text(PERIOD_START) == "01/10/2026 00:00:00"
    )  # local, not UTC (17:00 the day before)


def test_place_and_date_follow_decree_30() -> None:
    feb_5 = int(datetime(2027, 2, 5, 10, tzinfo=VI.zone).timestamp())
    mar_15 = int(datetime(2027, 3, 15, 10, tzinfo=VI.zone).timestamp())
    assert VI.dated_at("Bình Dương", feb_5) == "Bình Dương, ngày 05 tháng 02 năm 2027"
    assert VI.dated_at("Bình Dương", mar_15) == "Bình Dương, ngày 15 tháng 3 năm 2027"
    assert EN.dated_at("Bình Dương", mar_15) == "Bình Dương, 15 March 2027"


def test_periods_in_words() -> None:
    assert VI.period("2026-10", PERIOD_START, PERIOD_END) == "tháng 10 năm 2026"
    assert VI.period("2026-Q4", PERIOD_START, PERIOD_END) == "quý IV năm 2026"
    assert EN.period("2026-Q4", PERIOD_START, PERIOD_END) == "Q4 2026"
    assert (
        VI.period("2026-10-01..2026-10-15", PERIOD_START, PERIOD_END)
        == "từ ngày 01/10/2026 đến ngày 15/10/2026"
    )
    assert VI.period("custom", PERIOD_START, PERIOD_END) == "từ ngày 01/10/2026 đến ngày 31/10/2026"


def test_every_label_exists_in_both_languages() -> None:
    from agent.sla.render.i18n import LABELS, STATES, TERMS

    assert LABELS["vi"].keys() == LABELS["en"].keys()
    assert STATES["vi"].keys() == STATES["en"].keys() == set(SlaState)
    assert TERMS["vi"].keys() == TERMS["en"].keys()
    assert VI.state(SlaState.UPSTREAM) == "Do tuyến trên"
    assert VI.state(SlaState.MAINTENANCE) == "Bảo trì"


# --- CSV ----------------------------------------------------------------------------------------


def _csv_rows(report: Report) -> list[dict[str, str]]:
    data = render(report, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_reads_back_with_the_exact_figures(report: Report) -> None:
    portal, commune, silent = _csv_rows(report)
    assert float(portal["Khả dụng (%)"]) == 99.52
    assert portal["Thời gian gián đoạn (giây)"] == "12000"
    assert portal["Không có dữ liệu (giây)"] == "171200"
    assert portal["Bảo trì (giây)"] == "7200"
    assert portal["Thời gian đo được (giây)"] == "2500000"
    assert portal["Kết quả"] == "Đạt"
    assert commune["Đối tượng"] == "UBND xã An Điền, thị xã Bến Cát"  # quoted: it has commas
    assert commune["Do tuyến trên (giây)"] == "5400"
    assert commune["Số sự cố"] == "2"
    assert float(commune["Khả dụng (%)"]) == commune_availability(report)
    assert silent["Khả dụng (%)"] == ""  # nothing measured: empty, never 0
    assert silent["Kết quả"] == "Không đủ dữ liệu"  # no verdict without data
    assert float(silent["Độ phủ dữ liệu (%)"]) == 0.0


def commune_availability(report: Report) -> float:
    pct = report.subjects[1].availability_pct
    assert pct is not None
    return pct


def test_csv_numbers_are_machine_readable_in_vietnamese_too(report: Report) -> None:
    text = render(report, "csv").decode("utf-8-sig")
    assert "99.52" in text
    assert "99,52" not in text


def test_csv_header_is_in_the_report_language() -> None:
    (row, *_) = _csv_rows(sample_report("en"))
    assert float(row["Availability (%)"]) == 99.52
    assert row["Result"] == "Met"
    assert row["Subject"] == "Provincial public service portal"


# --- XLSX ---------------------------------------------------------------------------------------


def _book(report: Report) -> Any:
    return openpyxl.load_workbook(io.BytesIO(render(report, "xlsx")))


def _records(sheet: Any) -> list[dict[str, Any]]:
    """The sheet's rows as {header: cell}."""
    rows = list(sheet.iter_rows())
    names = [cell.value for cell in rows[0]]
    return [{name: cell for name, cell in zip(names, row, strict=True)} for row in rows[1:]]


def test_xlsx_sheets_headers_and_frozen_bold_header(report: Report) -> None:
    book = _book(report)
    assert book.sheetnames == ["Tổng hợp", "Theo ngày", "Sự cố", "Theo cấp"]
    assert _book(sample_report("en")).sheetnames == ["Summary", "Daily", "Incidents", "Levels"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.bold for cell in sheet[1])
        assert not any(cell.font.bold for cell in sheet[2])


def test_xlsx_summary_numbers_are_numbers(report: Report) -> None:
    portal, commune, silent = _records(_book(report)["Tổng hợp"])
    availability = portal["Khả dụng"]
    assert availability.value == 99.52 / 100
    assert availability.number_format == "0.00%"
    assert portal["Thời gian gián đoạn (giây)"].value == 12_000
    downtime = portal["Thời gian gián đoạn"]
    assert downtime.value == timedelta(seconds=12_000)  # openpyxl reads [h]:mm:ss as timedelta
    assert downtime.number_format == "[h]:mm:ss"
    assert commune["Do tuyến trên (giây)"].value == 5_400
    assert commune["Số sự cố"].value == 2
    assert silent["Khả dụng"].value is None
    assert silent["Kết quả"].value == "Không đủ dữ liệu"


def test_xlsx_incidents_have_local_naive_datetimes(report: Report) -> None:
    began_before, upstream, still_open = _records(_book(report)["Sự cố"])
    assert began_before["Bắt đầu"].value == datetime(2026, 9, 30, 23, 30)
    assert began_before["Kết thúc"].value == datetime(2026, 10, 1, 3, 20)
    assert began_before["Bắt đầu trước kỳ"].value is True
    assert began_before["Tính vào SLO (giây)"].value == 12_000
    assert upstream["Do tuyến trên"].value == "bc-bencat-core"
    assert upstream["Tính vào SLO (giây)"].value == 0
    assert still_open["Chưa kết thúc"].value is True
    assert still_open["Bắt đầu trước kỳ"].value is False


def test_xlsx_daily_and_levels(report: Report) -> None:
    book = _book(report)
    daily = _records(book["Theo ngày"])
    assert len(daily) == sum(len(s.daily) for s in report.subjects)
    first = daily[0]
    assert first["Ngày"].value == datetime(2026, 10, 1)
    assert first["Thời gian gián đoạn (giây)"].value == 12_000
    assert daily[4]["Khả dụng"].value is None  # 5 Oct: no data
    levels = _records(book["Theo cấp"])
    assert [row["Cấp"].value for row in levels] == ["Cấp xã", "Cấp xã"]
    assert levels[0]["Số điểm đạt"].value == 1


# --- HTML ---------------------------------------------------------------------------------------


def test_html_shows_the_figures_formatted(html_vi: str) -> None:
    for text in ("99,52%", "99,50%", "03:20:00", "47:33:20", "744:00:00", "93,59%"):
        assert text in html_vi
    silent_row = re.search(r"Điểm kết nối xã Tân Thành</a></td>(.*?)</tr>", html_vi, re.S)
    assert silent_row is not None
    assert '<td class="num availability">Không có dữ liệu</td>' in silent_row[1]


def test_html_shows_incidents_with_their_flags(html_vi: str) -> None:
    assert "http 503" in html_vi
    assert "tuyến trên: bc-bencat-core" in _text(html_vi)
    assert '<span class="host">bc-bencat-core</span>' in html_vi
    assert "bắt đầu trước kỳ báo cáo" in html_vi
    assert "chưa kết thúc" in html_vi
    assert "30/09/2026 23:30:00" in html_vi  # local time of an incident before the period


def test_html_has_vietnamese_headings_and_notes(html_vi: str) -> None:
    for heading in ("I. Tổng hợp", "II. Chi tiết theo cấp", "IV. Ghi chú và đánh giá"):
        assert heading in html_vi
    for label in ("Mục tiêu SLO", "Thời gian gián đoạn", "Do tuyến trên", "Độ phủ dữ liệu"):
        assert label in html_vi
    assert "10/10/2026: Ngày làm bù (thứ Bảy)" in html_vi


def test_html_has_one_day_mark_per_day_and_no_data_days_are_not_bars(
    report: Report, html_vi: str
) -> None:
    days = sum(len(s.daily) for s in report.subjects) + len(report.subjects[0].daily)  # + pooled
    assert html_vi.count('<g class="day">') == days
    unmeasured = 1 + WEEKEND_DAYS + 31  # the portal's 5 Oct, the site's weekends, the silent site
    assert html_vi.count('class="nodata"') == unmeasured
    assert html_vi.count('class="bar"') == days - unmeasured
    assert html_vi.count("<svg") == 2 * len(report.subjects) + 1


def test_html_is_standalone(html_vi: str) -> None:
    assert "<script" not in html_vi
    assert re.findall(r'(?:src|href)="(?!#)', html_vi) == []
    assert "<link" not in html_vi
    assert 'href="#subject-3"' in html_vi
    assert 'id="subject-3"' in html_vi


def test_html_escapes_names(report: Report) -> None:
    evil = dataclasses.replace(report.subjects[0], name="Cổng <b>x</b> & y")
    page = render(dataclasses.replace(report, subjects=(evil,)), "html").decode()
    assert "Cổng &lt;b&gt;x&lt;/b&gt; &amp; y" in page
    assert "<b>x</b>" not in page


def test_english_and_vietnamese_labels_differ(html_vi: str, html_en: str) -> None:
    assert "Availability" in html_en
    assert "Downtime" in html_en
    assert "upstream: bc-bencat-core" in _text(html_en)
    assert "began before the period" in html_en
    assert "99.52%" in html_en
    assert "Provincial public service portal" in html_en
    assert "Khả dụng" not in html_en
    assert "Downtime" not in html_vi
    assert "99.52%" not in html_vi


# --- charts -------------------------------------------------------------------------------------


def test_daily_bars_count_days_and_draw_the_target(report: Report) -> None:
    portal = report.subjects[0]
    svg = charts.daily_bars(portal.daily, portal.slo_target, VI, charts.ChartStyle())
    assert svg.count('<g class="day">') == 31
    assert svg.count('class="nodata"') == 1
    assert svg.count('class="target"') == 1
    assert "SLO 99,50%" in svg
    assert "05/10/2026: Không có dữ liệu" in svg


def test_a_measured_zero_is_a_bar_not_no_data() -> None:
    day = DailyTally(datetime(2026, 10, 1).date(), Tally(down_s=3600))
    svg = charts.daily_bars((day,), 99.0, VI, charts.ChartStyle())
    assert svg.count('class="bar"') == 1
    assert 'class="nodata"' not in svg
    assert "0,00%" in svg


def test_axis_starts_below_the_lowest_bar_and_the_target() -> None:
    assert charts.axis_floor([99.95, 100.0], 99.5) == 99.0
    assert charts.axis_floor([99.95], 99.99) == 99.9
    assert charts.axis_floor([12.0], 99.0) == 0.0


def test_a_short_outage_still_shows_on_a_month_strip() -> None:
    start, end = PERIOD_START, PERIOD_END
    middle = start + (end - start) // 2
    timeline = [
        Segment(start, middle, SlaState.UP),
        Segment(middle, middle + 30, SlaState.DOWN, "timeout"),
        Segment(middle + 30, end, SlaState.UP),
    ]
    svg = charts.timeline_strip(timeline, start, end, VI, charts.ChartStyle())
    assert svg.count('class="state-down"') == 1
    assert svg.count('class="state-up"') == 2
    empty = charts.timeline_strip([], start, end, VI, charts.ChartStyle())
    assert "Không có dữ liệu" in empty
    assert "state-" not in empty


def test_a_strip_tooltip_gives_the_real_times_not_the_columns() -> None:
    start, end = PERIOD_START, PERIOD_END
    window = (
        start + 4 * 86_400 + 3_600
    )  # 05/10/2026 01:00 local (the period starts at local midnight)
    timeline = [
        Segment(start, window, SlaState.UP),
        Segment(window, window + 3_600, SlaState.MAINTENANCE, "patching"),
        Segment(window + 3_600, end, SlaState.UP),
    ]
    svg = charts.timeline_strip(timeline, start, end, VI, charts.ChartStyle())
    # A month in 600 columns is 74 min a column: the window sits inside one or two of them,
    # and its tooltip still says 01:00:00 – 02:00:00.
    assert "05/10/2026 01:00:00 – 05/10/2026 02:00:00: Bảo trì" in svg


# --- PDF and the API ----------------------------------------------------------------------------


def test_pdf_is_a_pdf(report: Report) -> None:
    assert render(report, "pdf").startswith(b"%PDF-")


def test_a_missing_font_file_names_the_debian_package(
    report: Report, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pdf, "FONT_DIR", tmp_path)
    with pytest.raises(RenderError, match="fonts-liberation2") as caught:
        render(report, "pdf")
    assert str(tmp_path / "LiberationSerif-Regular.ttf") in str(caught.value)


def test_a_pdf_without_weasyprint_says_what_to_install(
    report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as on a bare machine
    with pytest.raises(RenderError, match=re.escape("libpango-1.0-0")):
        render(report, "pdf")
    assert render(report, "csv").startswith(b"\xef\xbb\xbf")  # the other formats still work


def test_the_formats_and_an_unknown_one_refused(report: Report) -> None:
    assert FORMATS == ("html", "pdf", "xlsx", "csv")
    with pytest.raises(ValueError, match="unknown report format 'docx'"):
        render(report, "docx")  # type: ignore[arg-type]
