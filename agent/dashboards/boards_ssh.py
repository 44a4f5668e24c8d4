"""Panels of the SSH collector's data (collectors.ssh.schema): optics, BGP, OSPF, interface
error counters and configuration backups, for one site's devices.

Each function takes the WHERE clause body (agent.dashboards.query.scope) its dashboard narrows
by, and returns a panel in the style of widgets: Vietnamese title, English description.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import dashboard as dm

from agent.dashboards import widgets as w
from agent.dashboards.query import target

ROW_TITLE = "Thiết bị qua SSH: quang, định tuyến, lỗi giao diện, sao lưu cấu hình"

#: Receive/transmit power bands, dBm, for the 1G/10G SFP/SFP+ optics (SR, LR) of the network.
#: Below -20 dBm is past the low-power alarm of common LR optics and the link is failing or
#: down; -20 to -14 is the warning band (10GBASE-LR receiver sensitivity is -14.4 dBm, SR's
#: -11.1); above +0.5 dBm overloads SR and LR receivers (their maximum input, and the usual
#: high alarm). Transmit power of these optics (-8 to -1 dBm) sits in the green band.
OPTICAL_STEPS = ((-20.0, "orange"), (-14.0, "green"), (0.5, "red"))

#: The SSH tables look back further than one poll: SSH polls are minutes apart.
SSH_TABLE_RANGE = "30m"
#: A day of backups: the default interval is an hour, and a failing device keeps its last row.
BACKUP_RANGE = "24h"


def _flag(yes: str, no: str) -> list[dm.ValueMapping]:
    """A 0/1 field as words: 1 green, 0 red."""
    return [
        dm.ValueMap(
            options={
                "0": dm.ValueMappingResult(text=no, color="red", index=0),
                "1": dm.ValueMappingResult(text=yes, color="green", index=1),
            }
        )
    ]


def optical_power(where: str) -> timeseries.Panel:
    query = (
        'SELECT mean("rx_power_dbm") AS "thu (Rx)", mean("tx_power_dbm") AS "phát (Tx)" '
        f'FROM "optics" WHERE {where} GROUP BY time($__interval), "source", "interface"'
    )
    return w.trend(
        "Công suất quang thu/phát",
        "Optical receive and transmit power per interface, dBm, from the transceivers' "
        "digital diagnostics (lane 1). Dashed lines: below -20 dBm the low-power alarm of "
        "common LR optics, -20 to -14 dBm warning (near the receiver's sensitivity), above "
        "+0.5 dBm receiver overload.",
        [target(query, alias="$tag_source $tag_interface $col")],
        unit="dBm",
        thresholds=w.steps("red", *OPTICAL_STEPS),
    )


def interface_errors(where: str) -> timeseries.Panel:
    def rate(field: str, alias: str) -> str:
        return f'non_negative_derivative(max("{field}"), 1m) AS "{alias}"'

    query = (
        f"SELECT {rate('input_errors', 'lỗi vào')}, {rate('crc_errors', 'CRC')}, "
        f"{rate('output_errors', 'lỗi ra')}, {rate('input_drops', 'hủy vào')}, "
        f'{rate("output_drops", "hủy ra")} FROM "interface_errors" WHERE {where} '
        'GROUP BY time($__interval), "source", "interface"'
    )
    return w.trend(
        "Lỗi giao diện theo CLI",
        "Interface input, CRC and output errors and drops per minute, from the counters the "
        "CLI shows (show interfaces). A counter cleared on the device gives no negative rate.",
        [target(query, alias="$tag_source $tag_interface $col")],
        unit="cpm",
    )


def bgp_peers(where: str) -> table.Panel:
    query = (
        'SELECT last("established") AS "established", last("state") AS "state", '
        'last("remote_as") AS "remote_as", last("prefixes_received") AS "prefixes_received", '
        'last("up_down") AS "up_down" '
        f'FROM "bgp_peer" WHERE {where} GROUP BY "source", "peer"'
    )
    return w.listing(
        "Phiên BGP",
        "Each BGP neighbour of the site's devices now: red when the session is not "
        "established, with the device's own state word, remote AS, prefixes received and "
        "how long the state has lasted.",
        [target(query, table=True)],
        columns=[w.Column("^established$", mappings=_flag("Đã thiết lập", "Chưa thiết lập"))],
        order=[
            "source",
            "peer",
            "established",
            "state",
            "remote_as",
            "prefixes_received",
            "up_down",
        ],
        headers={
            "source": "Thiết bị",
            "peer": "Láng giềng",
            "established": "Phiên",
            "state": "Trạng thái",
            "remote_as": "AS",
            "prefixes_received": "Số prefix nhận",
            "up_down": "Thời gian",
        },
        width=12,
        height=8,
    ).time_from(SSH_TABLE_RANGE)


def ospf_neighbours(where: str) -> table.Panel:
    query = (
        'SELECT last("full") AS "full", last("state") AS "state", last("address") AS "address" '
        f'FROM "ospf_neighbor" WHERE {where} GROUP BY "source", "neighbor_id", "interface"'
    )
    return w.listing(
        "Láng giềng OSPF",
        "Each OSPF adjacency of the site's devices now: red when it is not Full, with the "
        "device's own state word and the neighbour's address.",
        [target(query, table=True)],
        columns=[w.Column("^full$", mappings=_flag("Full", "Chưa Full"))],
        order=["source", "neighbor_id", "interface", "full", "state", "address"],
        headers={
            "source": "Thiết bị",
            "neighbor_id": "Router ID láng giềng",
            "interface": "Giao diện",
            "full": "Kề cận",
            "state": "Trạng thái",
            "address": "Địa chỉ",
        },
        width=12,
        height=8,
    ).time_from(SSH_TABLE_RANGE)


def config_backups(where: str) -> table.Panel:
    # One raw row per device, its latest: a selector per column would answer the range's start
    # as the time, and grouping by the result tag would keep an old failure beside a success.
    query = (
        'SELECT "result", "changed", "lines", "response_time", "error" FROM "config_backup" '
        f'WHERE {where} GROUP BY "source" ORDER BY time DESC LIMIT 1'
    )
    return w.listing(
        "Sao lưu cấu hình gần nhất",
        "Each device's latest configuration backup: its result, whether it made a commit "
        "(the configuration changed), the stored configuration's lines, and when.",
        [target(query, table=True)],
        columns=[
            w.Column("^result$", mappings=_result_mappings()),
            w.Column("^changed$", mappings=_changed_mappings(), coloured=False),
            w.Column("^response_time$", unit="s"),
        ],
        order=["source", "Time", "result", "changed", "lines", "response_time", "error"],
        headers={
            "source": "Thiết bị",
            "Time": "Thời điểm",
            "result": "Kết quả",
            "changed": "Thay đổi",
            "lines": "Số dòng",
            "response_time": "Thời gian lấy",
            "error": "Lỗi",
        },
        show_time=True,
        height=8,
    ).time_from(BACKUP_RANGE)


def _result_mappings() -> list[dm.ValueMapping]:
    """agent.results.Result tags: success green, any other red."""
    return [
        dm.ValueMap(
            options={"success": dm.ValueMappingResult(text="Thành công", color="green", index=0)}
        ),
        dm.RegexMap(
            options=dm.DashboardRegexMapOptions(
                pattern="^(?!success$).+", result=dm.ValueMappingResult(color="red", index=1)
            )
        ),
    ]


def _changed_mappings() -> list[dm.ValueMapping]:
    return [
        dm.ValueMap(
            options={
                "0": dm.ValueMappingResult(text="Không", index=0),
                "1": dm.ValueMappingResult(text="Có (commit mới)", color="blue", index=1),
            }
        )
    ]
