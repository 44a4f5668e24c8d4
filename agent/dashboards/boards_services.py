"""The services' dashboards: e-government, videoconference, SLA, and the agents' own health."""

from __future__ import annotations

from agent.dashboards import widgets as w
from agent.dashboards.board import OPERATIONS, SERVICES, Board, BuildContext, new_board
from agent.dashboards.boards_network import counts_by_level
from agent.dashboards.query import scope, target
from agent.dashboards.variables import datasource, site_chain, tag_values

EGOV = "\"check\" = 'http'"
VC = "\"check\" = 'vc'"


def egov_services(ctx: BuildContext) -> Board:
    uid, board = new_board(
        "E-government services",
        "Dịch vụ chính quyền điện tử",
        "availability of the public-service portal, one-stop system, document management, "
        "official e-mail, IOC and the other e-government services: now, over the range, "
        "response times and TLS certificate expiry.",
        ["services", "egov"],
    )
    board.with_variable(datasource())
    board.with_variable(
        tag_values("service", "availability", "service").query(
            'SHOW TAG VALUES FROM "availability" WITH KEY = "service" WHERE "check" = \'http\''
        )
    )
    where = scope("service", extra=[EGOV])
    board.with_panel(
        w.state_grid(
            "Trạng thái dịch vụ hiện tại",
            "Each e-government service's latest verdict: green up, orange degraded (slow, "
            "certificate expiring), red down.",
            [
                target(
                    'SELECT max("state") AS "state" FROM (SELECT last("state") AS "state" '
                    f'FROM "availability" WHERE {where} GROUP BY "service", "target") '
                    'GROUP BY "service"',
                    alias="$tag_service",
                )
            ],
            height=6,
        ).time_from("5m")
    )
    board.with_panel(
        w.bars(
            "Tỉ lệ kiểm tra thành công trong khoảng thời gian",
            "Share of the range's polls that succeeded, per service, in percent. The SLA "
            "dashboard has the contractual figure (calendar, maintenance, upstream).",
            [
                target(
                    f'SELECT 100 * mean("up") FROM "availability" WHERE {where} GROUP BY "service"',
                    alias="$tag_service",
                )
            ],
            thresholds=w.steps("red", (95, "orange"), (99, "green")),
        )
    )
    board.with_panel(
        w.timeline(
            "Lịch sử trạng thái dịch vụ",
            "Each service's verdict over the range.",
            [
                target(
                    f'SELECT max("state") FROM "availability" WHERE {where} '
                    'GROUP BY time($__interval), "service" fill(none)',
                    alias="$tag_service",
                )
            ],
            width=12,
        )
    )
    board.with_panel(
        w.trend(
            "Thời gian phản hồi",
            "Response time of each service's check (the whole HTTPS request), seconds.",
            [
                target(
                    f'SELECT mean("latency_s") FROM "availability" WHERE {where} '
                    'GROUP BY time($__interval), "service"',
                    alias="$tag_service",
                )
            ],
            unit="s",
            thresholds=w.steps("green", (2, "orange"), (5, "red")),
        )
    )
    board.with_panel(
        w.bars(
            "Số ngày còn lại của chứng thư TLS",
            "Days until each server's TLS certificate expires; an alert fires under 14 days.",
            [
                target(
                    'SELECT last("tls_expiry_days") FROM "http_response" WHERE $timeFilter '
                    'GROUP BY "server"',
                    alias="$tag_server",
                )
            ],
            unit="suffix: ngày",
            maximum=365,
            thresholds=w.steps("red", (14, "orange"), (30, "green")),
        )
        .decimals(0)
        .time_from("1h")
    )
    return Board(uid, SERVICES, board)


def videoconference(ctx: BuildContext) -> Board:
    uid, board = new_board(
        "Videoconference",
        "Hệ thống hội nghị truyền hình",
        "readiness of every bridge point by level (reachable, signalling answers, path good "
        "enough for video), with round trip, jitter and loss.",
        ["services", "videoconference"],
    )
    board.with_variable(datasource())
    for variable in site_chain():
        board.with_variable(variable)
    where = scope("level", "district", "site", extra=[VC])
    bridge_points = (
        f'SELECT last("state") AS "state" FROM "availability" WHERE {where} '
        'GROUP BY "target", "level"'
    )
    per_level = counts_by_level(bridge_points, ("Sẵn sàng", "Suy giảm", "Không sẵn sàng"))
    board.with_panel(
        w.colour_by_state_name(
            w.bars(
                "Điểm cầu theo cấp",
                "Bridge points ready, degraded and not ready now, per level.",
                [target(per_level, alias="$tag_level $col")],
                unit="none",
                maximum=80,
                width=24,
                height=6,
            )
        ).time_from("5m")
    )
    board.with_panel(
        w.state_grid(
            "Trạng thái sẵn sàng các điểm cầu",
            "Every bridge point's readiness now: green ready, orange path degraded, red not "
            "ready (unreachable or signalling down).",
            [
                target(
                    f'SELECT last("state") AS "state" FROM "availability" WHERE {where} '
                    'GROUP BY "target"',
                    alias="$tag_target",
                )
            ],
            height=12,
        ).time_from("5m")
    )
    path = scope("level", "district", "site")
    for title, field, unit, description in (
        ("Độ trễ khứ hồi", "average_response_ms", "ms", "ICMP round trip, milliseconds"),
        ("Jitter", "jitter_ms", "ms", "Jitter of the ICMP round trips, milliseconds"),
        ("Mất gói", "percent_packet_loss", "percent", "Packet loss, percent"),
    ):
        board.with_panel(
            w.trend(
                title,
                f"{description}, per bridge point site.",
                [
                    target(
                        f'SELECT mean("{field}") FROM "ping" WHERE {path} '
                        'GROUP BY time($__interval), "site", "url"',
                        alias="$tag_site $tag_url",
                    )
                ],
                unit=unit,
                width=8,
            )
        )
    board.with_panel(
        w.trend(
            "Báo hiệu SIP",
            "SIP OPTIONS response time of the MCUs and bridge points, seconds.",
            [
                target(
                    'SELECT mean("response_time") FROM "sip" WHERE $timeFilter '
                    'GROUP BY time($__interval), "server"',
                    alias="$tag_server",
                )
            ],
            unit="s",
        )
    )
    return Board(uid, SERVICES, board)


def sla(ctx: BuildContext) -> Board:
    uid, board = new_board(
        "SLA",
        "Cam kết chất lượng dịch vụ (SLA)",
        "availability against the target per department and service, and the error budget "
        "left, from the figures `netmon sla report --write-back` stores (measurement sla).",
        ["sla"],
        refresh="1h",
        time_from="now-90d",
    )
    board.with_variable(datasource())
    board.with_variable(tag_values("department", "sla", "department"))
    board.with_variable(tag_values("service", "sla", "service", ("department",)))
    where = scope("department", "service")
    board.with_panel(
        w.listing(
            "Tỉ lệ sẵn sàng so với cam kết",
            "Per period, department and service: availability, the SLO target, whether it "
            "was met (1) or not (0), downtime and incidents.",
            [
                target(
                    'SELECT last("availability_pct") AS "availability_pct", '
                    'last("slo_target") AS "slo_target", last("met") AS "met", '
                    'last("downtime_s") AS "downtime_s", last("incidents") AS "incidents" '
                    f'FROM "sla" WHERE {where} GROUP BY "period", "kind", "department", '
                    '"service"',
                    table=True,
                )
            ],
            columns=[
                w.Column(
                    "^availability_pct$",
                    thresholds=w.steps("red", (99, "green")),
                    unit="percent",
                ),
                w.Column("^slo_target$", unit="percent"),
                w.Column(
                    "^met$",
                    mappings=w.enum_mappings({0: "Không đạt", 1: "Đạt"}, {0: "red", 1: "green"}),
                ),
                w.Column("^downtime_s$", unit="s"),
            ],
            order=[
                "period",
                "kind",
                "department",
                "service",
                "availability_pct",
                "slo_target",
                "met",
                "downtime_s",
                "incidents",
            ],
            headers={
                "period": "Kỳ",
                "kind": "Loại",
                "department": "Đơn vị",
                "service": "Dịch vụ",
                "availability_pct": "Tỉ lệ sẵn sàng",
                "slo_target": "Cam kết",
                "met": "Kết quả",
                "downtime_s": "Thời gian gián đoạn",
                "incidents": "Số sự cố",
            },
            height=12,
        )
    )
    budget = (
        'SELECT 100 * (1 - last("downtime_s") / (last("measured_s") * '
        '(100 - last("slo_target")) / 100)) AS "ngân sách lỗi còn lại" '
        f'FROM "sla" WHERE {where} GROUP BY "department", "service"'
    )
    board.with_panel(
        w.bars(
            "Ngân sách lỗi còn lại",
            "Error budget left in the latest period, percent: 100 = no downtime, 0 = all "
            "the downtime the target allows is spent, below 0 = target missed.",
            [target(budget, alias="$tag_department $tag_service")],
            minimum=-100,
            thresholds=w.steps("red", (0, "orange"), (50, "green")),
            width=24,
        )
    )
    board.with_panel(
        w.trend(
            "Tỉ lệ sẵn sàng theo kỳ",
            "Availability per period, percent.",
            [
                target(
                    f'SELECT last("availability_pct") FROM "sla" WHERE {where} '
                    'GROUP BY time(1d), "department", "service" fill(none)',
                    alias="$tag_department $tag_service",
                )
            ],
            unit="percent",
            width=24,
        )
    )
    return Board(uid, SERVICES, board)


def agent_health(ctx: BuildContext) -> Board:
    uid, board = new_board(
        "Agent health",
        "Sức khỏe agent giám sát",
        "the monitoring agents themselves: polls, errors, spool and delivery to InfluxDB "
        "(measurements netmon_agent and netmon_checks, written by every agent), SSH polls "
        "and configuration backups by result.",
        ["operations", "agent"],
        time_from="now-3h",
    )
    board.with_variable(datasource())
    board.with_variable(tag_values("agent", "netmon_agent", "agent"))
    where = scope("agent")

    def rate(field: str, alias: str) -> str:
        return f'non_negative_derivative(max("{field}"), 1m) AS "{alias}"'

    board.with_panel(
        w.trend(
            "Lượt thăm dò và lỗi mỗi phút",
            "Polls, failed polls and timeouts per minute, per agent.",
            [
                target(
                    f"SELECT {rate('polls', 'thăm dò')}, {rate('poll_errors', 'lỗi')}, "
                    f'{rate("poll_timeouts", "quá thời gian")} FROM "netmon_agent" '
                    f'WHERE {where} GROUP BY time($__interval), "agent"',
                    alias="$tag_agent $col",
                )
            ],
            unit="cpm",
        )
    )
    board.with_panel(
        w.trend(
            "Lỗi theo loại kiểm tra",
            "Failed polls per minute by check (snmp, ping, http, tcp, sip, vc).",
            [
                target(
                    f'SELECT {rate("poll_errors", "lỗi")} FROM "netmon_checks" WHERE {where} '
                    'GROUP BY time($__interval), "agent", "check"',
                    alias="$tag_agent $tag_check",
                )
            ],
            unit="cpm",
        )
    )
    spool = w.trend(
        "Hàng đợi (spool) chưa gửi",
        "Samples waiting in the agent's spool for InfluxDB; it grows while the database "
        "is unreachable and drains afterwards.",
        [
            target(
                'SELECT last("spool_samples") AS "mẫu", last("spool_bytes") AS "byte" '
                f'FROM "netmon_agent" WHERE {where} GROUP BY time($__interval), "agent"',
                alias="$tag_agent $col",
            )
        ],
        unit="short",
    )
    w.second_axis(spool, ".*byte$", "bytes", min=0)
    board.with_panel(spool)
    board.with_panel(
        w.trend(
            "Gửi dữ liệu về InfluxDB",
            "Samples written, spooled, dropped (undeclared) and quarantined (refused by "
            "InfluxDB), and write retries, per minute.",
            [
                target(
                    f"SELECT {rate('samples_written', 'đã ghi')}, "
                    f"{rate('samples_spooled', 'vào spool')}, "
                    f"{rate('samples_dropped', 'bị loại')}, "
                    f"{rate('samples_quarantined', 'cách ly')}, "
                    f'{rate("write_retries", "ghi lại")} FROM "netmon_agent" WHERE {where} '
                    'GROUP BY time($__interval), "agent"',
                    alias="$tag_agent $col",
                )
            ],
            unit="cpm",
        )
    )
    board.with_panel(
        w.trend(
            "Thời gian thăm dò trung bình",
            "Mean poll duration per check, seconds.",
            [
                target(
                    'SELECT non_negative_derivative(max("poll_duration_s_sum"), 1m) / '
                    'non_negative_derivative(max("poll_duration_count"), 1m) AS "giây" '
                    f'FROM "netmon_checks" WHERE {where} '
                    'GROUP BY time($__interval), "agent", "check"',
                    alias="$tag_agent $tag_check",
                )
            ],
            unit="s",
            width=24,
        )
    )
    board.with_panel(
        w.trend(
            "Thăm dò SSH theo kết quả",
            "SSH polls of the devices' CLI per interval, by result (success, timeout, "
            "auth_error, host_key_error ...; measurement ssh).",
            [
                target(
                    'SELECT count("result_code") AS "lượt" FROM "ssh" '
                    f'WHERE {where} GROUP BY time($__interval), "result"',
                    alias="$tag_result",
                )
            ],
            unit="short",
        )
    )
    board.with_panel(
        w.trend(
            "Sao lưu cấu hình theo kết quả",
            "Configuration backups per interval, by result: anything but success is a backup "
            "that failed (measurement config_backup).",
            [
                target(
                    'SELECT count("result_code") AS "lượt" FROM "config_backup" '
                    f'WHERE {where} GROUP BY time($__interval), "result"',
                    alias="$tag_result",
                )
            ],
            unit="short",
        )
    )
    return Board(uid, OPERATIONS, board)
