"""Grafana-managed alert rules, as a file-provisioning document (``apiVersion: 1``, ``groups``).

Every rule is one InfluxQL query (refId ``A``) on the fixed-uid datasource — alert rules cannot
use dashboard variables — reduced per series (``B``) and compared (``C``). The query's GROUP BY
tags become the alert's labels (``site``, ``service``, ``district`` ...), which the
notification policies route and mute on (agent.dashboards.contacts / mute); each rule adds
``team`` and ``severity``.

The availability ``state`` the rules read is already debounced by the agent (down only after
the service's number of consecutive failures, agent.availability), so the rules wait one more
evaluation at most (``for``), not several minutes.

Grafana alerting has no inhibition: when a district router fails, every commune behind it fires
"site down" too. The policies group notifications by ``alertname`` and ``district``, so the
people on duty get one message per district, not one per commune.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.dashboards.board import ALERTS

#: Grafana's uid for server-side expressions (reduce, threshold, math).
EXPRESSIONS_UID = "__expr__"
GROUP_INTERVAL = "1m"


@dataclass(frozen=True)
class Condition:
    """``C``: a threshold on the reduced value (``gt``/``lt`` and one number)."""

    op: str
    value: float

    def holds(self, value: float) -> bool:
        return value > self.value if self.op == "gt" else value < self.value


@dataclass(frozen=True)
class AlertRule:
    uid: str
    title: str  # Vietnamese, what the people on duty read
    summary: str  # Vietnamese, with label templates
    description: str  # English: what the rule measures and why
    runbook: str  # Vietnamese: what to do, step by step
    query: str  # InfluxQL with $timeFilter / $__interval only
    range_s: int  # how far back the query reads
    reducer: str  # last | mean | max | min
    condition: Condition
    team: str
    severity: str
    pending: str = "1m"
    no_data: str = "OK"  # what an empty answer means (Grafana's noDataState)
    labels: dict[str, str] = field(default_factory=dict)


def rules() -> list[AlertRule]:
    """The rules, in the order Grafana lists them."""
    return [
        AlertRule(
            uid="tslcd-site-down",
            title="Điểm kết nối mất kết nối",
            summary="Điểm {{ $labels.site }} ({{ $labels.level }}) mất kết nối",
            description=(
                "A connection point is down: the worst latest verdict of its checks "
                "(availability.state) is 2 for the last minute."
            ),
            runbook=(
                "1. Mở dashboard 'Chi tiết điểm kết nối' cho điểm này; xem kiểm tra nào lỗi. "
                "2. Nếu nhiều điểm cùng huyện cùng mất: kiểm tra router huyện và đường truyền "
                "lên tỉnh trước (lỗi phía trên). 3. Gọi đầu mối kỹ thuật của đơn vị và nhà "
                "cung cấp đường truyền; ghi nhận thời điểm bắt đầu. 4. Nếu trong khung bảo "
                "trì đã thông báo: không cần xử lý."
            ),
            query=(
                'SELECT max("state") AS "state" FROM (SELECT last("state") AS "state" '
                'FROM "availability" WHERE $timeFilter AND "level" != \'dc\' '
                'GROUP BY "site", "level", "district", "department", "target", "check") '
                'GROUP BY "site", "level", "district", "department"'
            ),
            range_s=300,
            reducer="last",
            condition=Condition("gt", 1.5),
            team="network",
            severity="critical",
        ),
        AlertRule(
            uid="tslcd-service-down",
            title="Dịch vụ CQĐT ngừng hoạt động",
            summary="Dịch vụ {{ $labels.service }} ({{ $labels.target }}) không truy cập được",
            description=(
                "An e-government service's HTTPS check is down (availability.state = 2): "
                "no answer, an error status, or a failed content check."
            ),
            runbook=(
                "1. Mở dashboard 'Dịch vụ chính quyền điện tử'; xem lý do (mã HTTP, quá thời "
                "gian). 2. Kiểm tra máy chủ ứng dụng, cân bằng tải và cơ sở dữ liệu tại trung "
                "tâm dữ liệu. 3. Báo đơn vị vận hành ứng dụng; cập nhật trạng thái lên cổng "
                "thông tin nếu quá 15 phút."
            ),
            query=(
                'SELECT last("state") AS "state" FROM "availability" WHERE $timeFilter '
                'AND "check" = \'http\' GROUP BY "service", "target", "site", '
                '"department"'
            ),
            range_s=300,
            reducer="last",
            condition=Condition("gt", 1.5),
            team="services",
            severity="critical",
        ),
        AlertRule(
            uid="tslcd-vc-point-degraded",
            title="Điểm cầu truyền hình không sẵn sàng",
            summary="Điểm cầu {{ $labels.target }} ({{ $labels.site }}) không sẵn sàng",
            description=(
                "A videoconference bridge point is degraded (path worse than its round-trip, "
                "jitter or loss threshold) or not ready (unreachable, signalling down): "
                "availability.state >= 1 for the vc check."
            ),
            runbook=(
                "1. Mở dashboard 'Hệ thống hội nghị truyền hình'; xem độ trễ, jitter, mất "
                "gói. 2. Nếu sắp có phiên họp: báo điểm cầu dự phòng và kỹ thuật viên tại "
                "chỗ. 3. Kiểm tra codec (nguồn, camera, micro) và đăng ký SIP/H.323 với MCU."
            ),
            query=(
                'SELECT last("state") AS "state" FROM "availability" WHERE $timeFilter '
                'AND "check" = \'vc\' GROUP BY "target", "site", "level", "district"'
            ),
            range_s=300,
            reducer="last",
            condition=Condition("gt", 0.5),
            team="videoconference",
            severity="warning",
        ),
        AlertRule(
            uid="tslcd-certificate-expiring",
            title="Chứng thư TLS sắp hết hạn",
            summary="Chứng thư của {{ $labels.server }} hết hạn sau dưới 14 ngày",
            description="A server's TLS certificate expires in under 14 days (tls_expiry_days).",
            runbook=(
                "1. Xác định chứng thư (máy chủ, tên miền) và đơn vị cấp. 2. Gia hạn, cài lên "
                "máy chủ/cân bằng tải, kiểm tra chuỗi chứng thư. 3. Xác nhận trên dashboard "
                "số ngày còn lại đã tăng."
            ),
            query=(
                'SELECT last("tls_expiry_days") AS "days" FROM "http_response" WHERE '
                '$timeFilter GROUP BY "server", "site"'
            ),
            range_s=3600,
            reducer="last",
            condition=Condition("lt", 14),
            team="services",
            severity="warning",
            pending="0s",
        ),
        AlertRule(
            uid="tslcd-interface-errors",
            title="Lỗi trên giao diện mạng",
            summary="{{ $labels.source }} {{ $labels.ifName }}: lỗi giao diện tăng",
            description=(
                "An interface counts more than 10 input plus output errors per minute on "
                "average over 15 minutes (ifInErrors, ifOutErrors)."
            ),
            runbook=(
                "1. Xem dashboard 'Chi tiết điểm kết nối', bảng lỗi giao diện. 2. Kiểm tra cáp, "
                "module quang, duplex/tốc độ hai đầu. 3. Báo nhà cung cấp đường truyền nếu là "
                "cổng WAN."
            ),
            query=(
                'SELECT non_negative_derivative(max("ifInErrors"), 1m) + '
                'non_negative_derivative(max("ifOutErrors"), 1m) AS "errors" '
                'FROM "interface" WHERE $timeFilter GROUP BY time(1m), "source", "ifName", '
                '"site"'
            ),
            range_s=900,
            reducer="mean",
            condition=Condition("gt", 10),
            team="network",
            severity="warning",
            pending="5m",
        ),
        AlertRule(
            uid="tslcd-agent-silent",
            title="Agent giám sát không gửi dữ liệu",
            summary="Agent {{ $labels.agent }} không gửi dữ liệu trong 5 phút",
            description=(
                "An agent wrote no health sample (netmon_agent) in the last five minutes: it "
                "stopped, or cannot reach InfluxDB. The 5-minute moving average of reports "
                "per minute, with empty minutes counted as 0, falls under 0.1. When no agent "
                "reports at all the query is empty, and no data counts as firing."
            ),
            runbook=(
                "1. Trên máy chạy agent: systemctl status netmon-agent; journalctl -u "
                "netmon-agent. 2. Kiểm tra kết nối tới InfluxDB (netmon status). 3. Dữ liệu "
                "vẫn nằm trong spool và sẽ được gửi khi kết nối trở lại; không xóa spool. "
                "4. Khi agent im lặng, các cảnh báo 'mất kết nối' của nó tự hết: đó là chưa "
                "biết, không phải đã khôi phục."
            ),
            query=(
                'SELECT moving_average(count("polls"), 5) AS "reports" FROM "netmon_agent" '
                'WHERE $timeFilter GROUP BY time(1m), "agent" fill(0)'
            ),
            # A week back: an agent's series stays in the answer (zeros) for a week after it
            # fell silent, so the alert keeps firing instead of resolving as a missing series.
            range_s=7 * 86400,
            reducer="last",
            condition=Condition("lt", 0.1),
            team="platform",
            severity="critical",
            no_data="Alerting",
        ),
        AlertRule(
            uid="tslcd-spool-growing",
            title="Hàng đợi agent tăng liên tục",
            summary="Spool của agent {{ $labels.agent }} tăng",
            description=(
                "An agent's spool (samples not yet accepted by InfluxDB) grew by more than "
                "100 samples per minute on average over 15 minutes: writes fail or are too "
                "slow. The samples are kept; they are delivered when writes succeed again."
            ),
            runbook=(
                "1. Xem dashboard 'Sức khỏe agent giám sát': ghi lại, cách ly, spool. 2. Kiểm "
                "tra InfluxDB (dung lượng đĩa, tải, xác thực). 3. Theo dõi spool giảm dần sau "
                "khi khắc phục."
            ),
            query=(
                'SELECT derivative(last("spool_samples"), 1m) AS "growth" FROM '
                '"netmon_agent" WHERE $timeFilter GROUP BY time(1m), "agent" fill(none)'
            ),
            range_s=900,
            reducer="mean",
            condition=Condition("gt", 100),
            team="platform",
            severity="warning",
            pending="5m",
        ),
    ]


def _rule_document(rule: AlertRule, datasource_uid: str, runbook_base: str) -> dict[str, Any]:
    annotations = {
        "summary": rule.summary,
        "description": rule.description,
        "runbook": rule.runbook,
    }
    if runbook_base:
        annotations["runbook_url"] = f"{runbook_base.rstrip('/')}#{rule.uid}"
    return {
        "uid": rule.uid,
        "title": rule.title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": rule.range_s, "to": 0},
                "datasourceUid": datasource_uid,
                "model": {
                    "refId": "A",
                    "query": rule.query,
                    "rawQuery": True,
                    "resultFormat": "time_series",
                    "intervalMs": 60000,
                    "maxDataPoints": 43200,
                },
            },
            {
                "refId": "B",
                "datasourceUid": EXPRESSIONS_UID,
                "model": {
                    "refId": "B",
                    "type": "reduce",
                    "expression": "A",
                    "reducer": rule.reducer,
                    "settings": {"mode": "dropNN"},
                },
            },
            {
                "refId": "C",
                "datasourceUid": EXPRESSIONS_UID,
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [
                        {"evaluator": {"type": rule.condition.op, "params": [rule.condition.value]}}
                    ],
                },
            },
        ],
        "noDataState": "Alerting" if rule.no_data == "Alerting" else "OK",
        "execErrState": "Error",
        "for": rule.pending,
        "annotations": annotations,
        "labels": {"team": rule.team, "severity": rule.severity, **rule.labels},
        "isPaused": False,
    }


def alert_rules(datasource_uid: str, *, runbook_base: str = "") -> dict[str, Any]:
    """The rules as Grafana's alerting file-provisioning document."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "tslcd",
                "folder": ALERTS.title,
                "interval": GROUP_INTERVAL,
                "rules": [_rule_document(r, datasource_uid, runbook_base) for r in rules()],
            }
        ],
    }
