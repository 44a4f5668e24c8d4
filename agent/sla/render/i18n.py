"""Every word and number an SLA report shows, in Vietnamese and English.

Vietnamese follows the administrative usage of Decree 30/2020/NĐ-CP: decimal comma, "." as the
thousands separator, dates as dd/mm/yyyy. Percentages are cut (never rounded up) to two
decimals, so a figure shown never looks as if it met a target it missed (99,8996 % against
99,9 % shows as 99,89 %, not 99,90 %).

Durations have two forms: ``clock`` ("745:05:30", hours may pass 24) in every table, the same
as the spreadsheet's [h]:mm:ss cells; ``words`` ("2 giờ 05 phút 30 giây") in running text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from agent.sla.model import Language
from agent.sla.timeline import SlaState

LABELS: dict[Language, dict[str, str]] = {
    "vi": {
        "report": "Báo cáo khả dụng",
        "sheet_summary": "Tổng hợp",
        "sheet_daily": "Theo ngày",
        "sheet_incidents": "Sự cố",
        "sheet_levels": "Theo cấp",
        "began_before": "Bắt đầu trước kỳ",
        "still_open": "Chưa kết thúc",
        "report_type": "BÁO CÁO",
        "period": "Kỳ báo cáo",
        "department": "Đơn vị",
        "all_departments": "Toàn tỉnh",
        "generated": "Ngày lập",
        "timezone": "Múi giờ",
        "summary": "Tổng hợp",
        "subject_line": "Tình hình tính khả dụng của điểm kết nối và hệ thống thông tin",
        "scope": "Đơn vị: {department}. Kỳ báo cáo: {period_words}, từ {start} đến {end} ({zone}).",
        "intro": "Kết quả theo dõi khả dụng trong kỳ báo cáo như sau:",
        "levels": "Chi tiết theo cấp",
        "incidents": "Sự cố",
        "notes": "Ghi chú và đánh giá",
        "details": "Chi tiết từng đối tượng",
        "subject": "Đối tượng",
        "seq": "TT",
        "subject_id": "Mã",
        "name": "Tên",
        "kind": "Loại",
        "level": "Cấp",
        "district": "Huyện/thị/thành phố",
        "calendar": "Lịch phục vụ",
        "slo_target": "Mục tiêu SLO",
        "availability": "Khả dụng",
        "result": "Kết quả",
        "downtime": "Thời gian gián đoạn",
        "unknown": "Không có dữ liệu",
        "maintenance": "Bảo trì",
        "upstream": "Do tuyến trên",
        "excluded": "Ngoài lịch phục vụ",
        "measured": "Thời gian đo được",
        "incident_count": "Số sự cố",
        "coverage": "Độ phủ dữ liệu",
        "sites": "Số điểm",
        "sites_met": "Số điểm đạt",
        "sites_missed": "Số điểm không đạt",
        "met": "Đạt",
        "missed": "Không đạt",
        "no_data": "Không có dữ liệu",
        "not_enough_data": "Không đủ dữ liệu",
        "start": "Bắt đầu",
        "end": "Kết thúc",
        "duration": "Thời lượng",
        "component": "Thành phần",
        "cause": "Nguyên nhân",
        "charged": "Tính vào SLO",
        "flags": "Ghi chú",
        "upstream_host": "tuyến trên: {host}",
        "open_start": "bắt đầu trước kỳ báo cáo",
        "open_end": "chưa kết thúc",
        "no_incidents": "Không có sự cố trong kỳ.",
        "incidents_cut": (
            "Trình bày {shown} sự cố có thời gian gián đoạn tính vào SLO lớn nhất trong tổng số "
            "{total} sự cố; danh sách đầy đủ xem báo cáo định dạng XLSX hoặc HTML."
        ),
        "daily_chart": "Khả dụng theo ngày",
        "timeline_chart": "Diễn biến trạng thái",
        "pooled_chart": "Khả dụng chung theo ngày của các đối tượng",
        "calendar_notes": "Ngày nghỉ lễ và ngày làm bù trong kỳ",
        "no_calendar_notes": "Không có ngày nghỉ lễ hay ngày làm bù trong kỳ.",
        "day": "Ngày",
        "seconds_suffix": "(giây)",
        "recipients": "Nơi nhận",
        "recipient_above": "- Như trên;",
        "recipient_archive": "- Lưu: VT.",
        "nation": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "motto": "Độc lập - Tự do - Hạnh phúc",
        "number": "Số: ……/BC-……",
        "page": "Trang",
        "assessment": (
            "Trong kỳ có {met} đối tượng đạt mục tiêu SLO, {missed} đối tượng không đạt, "
            "{no_data} đối tượng không có dữ liệu đo."
        ),
        "total_downtime": (
            "Tổng thời gian gián đoạn tính vào SLO: {downtime}; thời gian do tuyến trên: "
            "{upstream}; thời gian bảo trì: {maintenance}; thời gian không có dữ liệu: {unknown}."
        ),
        "missed_list": "Các đối tượng không đạt mục tiêu",
        "no_data_list": "Các đối tượng không có dữ liệu đo",
        "method": (
            "Khả dụng chỉ tính trên thời gian đo được trong lịch phục vụ: thời gian không có "
            "dữ liệu, bảo trì và gián đoạn do tuyến trên được nêu riêng, không tính là gián đoạn."
        ),
        "pooled_note": "Biểu đồ cộng dồn số giây của mọi đối tượng, không lấy trung bình tỷ lệ.",
    },
    "en": {
        "report": "Availability report",
        "sheet_summary": "Summary",
        "sheet_daily": "Daily",
        "sheet_incidents": "Incidents",
        "sheet_levels": "Levels",
        "began_before": "Began before the period",
        "still_open": "Still open",
        "report_type": "AVAILABILITY REPORT",
        "period": "Period",
        "department": "Department",
        "all_departments": "The whole province",
        "generated": "Generated",
        "timezone": "Time zone",
        "summary": "Summary",
        "subject_line": "Availability of connection points and information systems",
        "scope": (
            "Department: {department}. Period: {period_words}, from {start} to {end} ({zone})."
        ),
        "intro": "The availability monitored in the period was as follows:",
        "levels": "By level",
        "incidents": "Incidents",
        "notes": "Notes and assessment",
        "details": "Details per subject",
        "subject": "Subject",
        "seq": "No.",
        "subject_id": "Id",
        "name": "Name",
        "kind": "Kind",
        "level": "Level",
        "district": "District",
        "calendar": "Service calendar",
        "slo_target": "SLO target",
        "availability": "Availability",
        "result": "Result",
        "downtime": "Downtime",
        "unknown": "No data",
        "maintenance": "Maintenance",
        "upstream": "Upstream",
        "excluded": "Outside calendar",
        "measured": "Measured time",
        "incident_count": "Incidents",
        "coverage": "Data coverage",
        "sites": "Sites",
        "sites_met": "Sites met",
        "sites_missed": "Sites missed",
        "met": "Met",
        "missed": "Not met",
        "no_data": "No data",
        "not_enough_data": "Not enough data",
        "start": "Start",
        "end": "End",
        "duration": "Duration",
        "component": "Component",
        "cause": "Cause",
        "charged": "Charged",
        "flags": "Notes",
        "upstream_host": "upstream: {host}",
        "open_start": "began before the period",
        "open_end": "still open",
        "no_incidents": "No incidents in the period.",
        "incidents_cut": (
            "The {shown} incidents with the most downtime charged, of {total}; the XLSX and "
            "HTML reports list every one."
        ),
        "daily_chart": "Daily availability",
        "timeline_chart": "State timeline",
        "pooled_chart": "Pooled daily availability of all subjects",
        "calendar_notes": "Public holidays and make-up working days in the period",
        "no_calendar_notes": "No public holidays or make-up working days in the period.",
        "day": "Day",
        "seconds_suffix": "(s)",
        "recipients": "Distribution",
        "recipient_above": "- As above;",
        "recipient_archive": "- Archive.",
        "nation": "",
        "motto": "",
        "number": "No. ……",
        "page": "Page",
        "assessment": (
            "In the period {met} subjects met their SLO target, {missed} did not, and {no_data} "
            "had no measurement."
        ),
        "total_downtime": (
            "Total downtime charged to the SLO: {downtime}; upstream-attributed: {upstream}; "
            "maintenance: {maintenance}; no data: {unknown}."
        ),
        "missed_list": "Subjects below target",
        "no_data_list": "Subjects with no measurement",
        "method": (
            "Availability counts only measured time inside the service calendar: time with no "
            "data, in maintenance or down because of an upstream link is shown apart, never "
            "counted as down."
        ),
        "pooled_note": "The chart pools the seconds of every subject; it never averages ratios.",
    },
}

STATES: dict[Language, dict[SlaState, str]] = {
    "vi": {
        SlaState.UP: "Hoạt động",
        SlaState.DEGRADED: "Suy giảm",
        SlaState.DOWN: "Gián đoạn",
        SlaState.UNKNOWN: "Không có dữ liệu",
        SlaState.MAINTENANCE: "Bảo trì",
        SlaState.UPSTREAM: "Do tuyến trên",
        SlaState.EXCLUDED: "Ngoài lịch phục vụ",
    },
    "en": {
        SlaState.UP: "Up",
        SlaState.DEGRADED: "Degraded",
        SlaState.DOWN: "Down",
        SlaState.UNKNOWN: "No data",
        SlaState.MAINTENANCE: "Maintenance",
        SlaState.UPSTREAM: "Upstream",
        SlaState.EXCLUDED: "Outside calendar",
    },
}

#: The model's vocabularies (levels, kinds, calendars); an unknown word is shown as it is.
TERMS: dict[Language, dict[str, str]] = {
    "vi": {
        "province": "Cấp tỉnh",
        "district": "Cấp huyện",
        "commune": "Cấp xã",
        "dc": "Trung tâm dữ liệu",
        "service": "Dịch vụ",
        "site": "Điểm kết nối",
        "24x7": "24/7",
        "business_hours": "Giờ hành chính",
    },
    "en": {
        "province": "Province",
        "district": "District",
        "commune": "Commune",
        "dc": "Data centre",
        "service": "Service",
        "site": "Connection point",
        "24x7": "24/7",
        "business_hours": "Business hours",
    },
}

_ROMAN = ("I", "II", "III", "IV")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def cut(value: float, places: int = 2) -> Decimal:
    """`value` cut (not rounded) to `places` decimals. Rounded to 9 places first, so a float
    just under a decimal (99.51999999999 for 99.52) is not cut a whole step down."""
    exact = Decimal(value).quantize(Decimal("1e-9"), rounding=ROUND_HALF_EVEN)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


@dataclass(frozen=True)
class Words:
    """The labels and formats of one report: its language and its time zone."""

    language: Language
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def __call__(self, key: str, **values: str) -> str:
        text = LABELS[self.language][key]
        return text.format(**values) if values else text

    def state(self, state: SlaState) -> str:
        return STATES[self.language][state]

    def term(self, word: str) -> str:
        return TERMS[self.language].get(word, word)

    def met(self, met: bool | None) -> str:
        if met is None:
            return self("not_enough_data")  # nothing measured, or too little to judge
        return self("met") if met else self("missed")

    def number(self, value: int) -> str:
        text = f"{value:,}"
        return text.replace(",", ".") if self.language == "vi" else text

    def decimal(self, value: float, places: int = 2) -> str:
        text = f"{cut(value, places):,}"
        if self.language == "vi":
            return text.replace(",", " ").replace(".", ",").replace(" ", ".")
        return text

    def pct(self, value: float | None) -> str:
        return self("no_data") if value is None else f"{self.decimal(value)}%"

    def local(self, timestamp: int) -> datetime:
        return datetime.fromtimestamp(timestamp, self.zone)

    def time_text(self, timestamp: int) -> str:
        return self.local(timestamp).strftime("%d/%m/%Y %H:%M:%S")

    def date_text(self, day: date) -> str:
        return day.strftime("%d/%m/%Y")

    def roman(self, index: int) -> str:
        return _ROMAN[index]

    def clock(self, seconds: float) -> str:
        whole = int(seconds)
        return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"

    def words(self, seconds: float) -> str:
        whole = int(seconds)
        hours, minutes, secs = whole // 3600, whole % 3600 // 60, whole % 60
        if self.language == "vi":
            return f"{hours} giờ {minutes:02d} phút {secs:02d} giây"
        return f"{hours} h {minutes:02d} min {secs:02d} s"

    def dated_at(self, place: str, timestamp: int) -> str:
        """The place-and-date line. Decree 30 writes a day below 10 and the months 1 and 2
        with a leading zero ("ngày 05 tháng 02", but "tháng 3"), so no figure can be added."""
        day = self.local(timestamp).date()
        if self.language == "vi":
            month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
            text = f"ngày {day.day:02d} tháng {month} năm {day.year}"
            return f"{place}, {text}" if place else text.capitalize()
        text = f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
        return f"{place}, {text}" if place else text

    def period(self, period: str, start: int, end: int) -> str:
        """The period in words: "tháng 10 năm 2026", "quý IV năm 2026", or a date range."""
        vi = self.language == "vi"
        if match := _MONTH.match(period):
            year, month = int(match[1]), int(match[2])
            return f"tháng {month} năm {year}" if vi else f"{_MONTHS_EN[month - 1]} {year}"
        if match := _QUARTER.match(period):
            quarter = _ROMAN[int(match[2]) - 1]
            return f"quý {quarter} năm {match[1]}" if vi else f"Q{match[2]} {match[1]}"
        if match := _RANGE.match(period):
            first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
        else:
            # The range is [start, end): its last day is the one holding the last second.
            first, last = self.local(start).date(), self.local(end - 1).date()
        if vi:
            return f"từ ngày {self.date_text(first)} đến ngày {self.date_text(last)}"
        return f"{self.date_text(first)} to {self.date_text(last)}"
