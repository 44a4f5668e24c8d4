"""The network's dashboards: province overview, site detail, data centres."""

from __future__ import annotations

from collections.abc import Mapping

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models import dashboard as dm

from agent.dashboards import boards_ssh
from agent.dashboards import widgets as w
from agent.dashboards.annotations import config_changes
from agent.dashboards.board import NETWORK, Board, BuildContext, new_board
from agent.dashboards.query import scope, target
from agent.dashboards.variables import datasource, site_chain, tag_values

#: Connection points are the sites of every level but the data centres'.
POINTS = "\"level\" != 'dc'"
#: The latest verdict of every check of every target, per site (one level of nesting).
_LAST = (
    'SELECT last("state") AS "state" FROM "availability" WHERE {where} '
    'GROUP BY "site", "level", "target", "check"'
)


def site_state(where: str) -> str:
    """Each site's state now: the worst latest verdict of its checks (agent.sla: worst first)."""
    return 'SELECT max("state") AS "state" FROM (' + _LAST.format(where=where) + ') GROUP BY "site"'


def counts_by_level(
    subjects: str, names: tuple[str, str, str] = ("Hoạt động", "Suy giảm", "Mất kết nối")
) -> str:
    """How many `subjects` (a query giving each one's "state" and "level") are up, degraded
    and down, per level, under `names`. Arithmetic on the state (0 ok, 1 degraded, 2 down)
    gives three 0/1 columns, so a count is 0, never missing, when nothing is down."""
    flags = (
        'SELECT 1 - floor(("state" + 1) / 2) AS "up", '
        'floor(("state" + 1) / 2) - floor("state" / 2) AS "degraded", '
        'floor("state" / 2) AS "down" FROM (' + subjects + ")"
    )
    up, degraded, down = names
    return (
        f'SELECT sum("up") AS "{up}", sum("degraded") AS "{degraded}", '
        f'sum("down") AS "{down}" FROM (' + flags + ') GROUP BY "level"'
    )


def sites_by_level(where: str) -> str:
    """Each site's state (its worst check) with its level, for `counts_by_level`."""
    return (
        'SELECT max("state") AS "state" FROM (' + _LAST.format(where=where) + ") "
        'GROUP BY "site", "level"'
    )


def active_incidents(where: str) -> str:
    """Every check whose latest verdict is not ok, with the reason the agent gave."""
    return (
        'SELECT "state", "reason", "consecutive_failures" FROM ('
        'SELECT last("state") AS "state", last("reason") AS "reason", '
        'last("consecutive_failures") AS "consecutive_failures" FROM "availability" '
        f'WHERE {where} GROUP BY "site", "check", "target") '
        'WHERE "state" > 0 GROUP BY "site", "check", "target"'
    )


def points_down_over_time(where: str) -> str:
    return (
        'SELECT sum("down") AS "Điểm mất kết nối" FROM ('
        'SELECT floor(max("state") / 2) AS "down" FROM "availability" '
        f'WHERE {where} GROUP BY time($__interval), "site") GROUP BY time($__interval)'
    )


def province_overview(ctx: BuildContext) -> Board:
    uid, board = new_board(
        "Province overview",
        "Tổng quan mạng truyền số liệu chuyên dùng tỉnh",
        "state of the 184 connection points now, counts by level, map and active incidents.",
        ["network", "overview"],
    )
    board.with_variable(datasource())
    for variable in site_chain():
        board.with_variable(variable)
    # Off until switched on: every device's backups in the province would crowd the trend.
    board.annotation(config_changes("level", "district", "site", enabled=False))
    where = scope("level", "district", "site", extra=[POINTS])
    board.with_panel(
        w.colour_by_state_name(
            w.bars(
                "Số điểm kết nối theo cấp và trạng thái",
                "Connection points up, degraded and down now, per level (province, district, "
                "commune). A point's state is the worst latest verdict of its checks.",
                [target(counts_by_level(sites_by_level(where)), alias="$tag_level $col")],
                unit="none",
                maximum=120,
                width=24,
                height=6,
            )
        ).time_from("5m")
    )
    board.with_panel(
        w.state_grid(
            "Trạng thái các điểm kết nối",
            "Every connection point, coloured by its state now: green up, orange degraded, "
            "red down.",
            [target(site_state(where), alias="$tag_site")],
            height=14,
        ).time_from("5m")
    )
    board.with_panel(
        w.site_map(
            "Bản đồ các điểm kết nối",
            "The connection points on the province's map, coloured by state. Sites are placed "
            "by their code from the inventory's netmon_location (the gazetteer file).",
            [target(site_state(where), table=True)],
            gazetteer=ctx.gazetteer,
            basemap_url=ctx.basemap_url,
            basemap_attribution=ctx.basemap_attribution,
            width=12,
        ).time_from("5m")
    )
    board.with_panel(
        w.listing(
            "Sự cố đang diễn ra",
            "Checks whose latest verdict is degraded or down, with the agent's reason.",
            [target(active_incidents(scope("level", "district", "site")), table=True)],
            columns=[w.Column("^state$", mappings=w.state_mappings())],
            order=["site", "check", "target", "state", "reason", "consecutive_failures"],
            headers={
                "site": "Điểm",
                "check": "Kiểm tra",
                "target": "Đối tượng",
                "state": "Trạng thái",
                "reason": "Lý do",
                "consecutive_failures": "Số lần lỗi liên tiếp",
            },
            width=12,
            height=14,
        ).time_from("5m")
    )
    board.with_panel(
        w.trend(
            "Số điểm mất kết nối theo thời gian",
            "How many sites were down in each interval over the chosen range.",
            [target(points_down_over_time(where))],
            width=24,
        )
    )
    return Board(uid, NETWORK, board)


def _rate(field: str, alias: str, per: str = "1s", scale: str = "") -> str:
    return f'non_negative_derivative(max("{field}"), {per}){scale} AS "{alias}"'


def site_detail(ctx: BuildContext) -> Board:
    uid, board = new_board(
        "Site detail",
        "Chi tiết điểm kết nối",
        "one site's checks, interfaces (traffic, errors, discards), path quality, device "
        "health (CPU, memory, environment, UPS) and, over SSH, optics, BGP, OSPF, error "
        "counters and configuration backups; configuration changes as annotations.",
        ["network", "site"],
    )
    board.with_variable(datasource())
    level, district, site_variable = site_chain()
    if ctx.default_site:
        site_variable.current(
            dm.VariableOption(selected=True, text=ctx.default_site, value=[ctx.default_site])
        )
    for variable in (level, district, site_variable):
        board.with_variable(variable)
    board.with_variable(tag_values("device", "snmp", "source", ("level", "district", "site")))
    site = scope("level", "district", "site")
    device = scope("level", "district", "site", "source")
    board.annotation(config_changes("level", "district", "site", "source"))
    schema = ctx.schema
    board.with_panel(
        w.timeline(
            "Trạng thái các kiểm tra",
            "The verdict of every check of the site's targets over time.",
            [
                target(
                    f'SELECT last("state") FROM "availability" WHERE {site} '
                    'GROUP BY time($__interval), "target", "check" fill(none)',
                    alias="$tag_target ($tag_check)",
                )
            ],
            height=8,
        )
    )
    traffic = (
        f"SELECT {_rate('ifHCInOctets', 'vào', scale=' * 8')}, "
        f'{_rate("ifHCOutOctets", "ra", scale=" * 8")} FROM "interface" WHERE {device} '
        'GROUP BY time($__interval), "source", "ifName"'
    )
    board.with_panel(
        w.trend(
            "Lưu lượng giao diện",
            "Interface traffic in and out, bits per second, from the 64-bit octet counters "
            "(continuous across wraps and restarts, see agent.schema).",
            [target(traffic, alias="$tag_source $tag_ifName $col")],
            unit="bps",
        )
    )
    errors = (
        f"SELECT {_rate('ifInErrors', 'lỗi vào', '1m')}, {_rate('ifOutErrors', 'lỗi ra', '1m')}, "
        f"{_rate('ifInDiscards', 'hủy vào', '1m')}, {_rate('ifOutDiscards', 'hủy ra', '1m')} "
        f'FROM "interface" WHERE {device} GROUP BY time($__interval), "source", "ifName"'
    )
    board.with_panel(
        w.trend(
            "Lỗi và gói bị hủy trên giao diện",
            "Interface errors and discards per minute, in and out.",
            [target(errors, alias="$tag_source $tag_ifName $col")],
            unit="cpm",
        )
    )
    interface = schema.get("interface")
    board.with_panel(
        w.listing(
            "Trạng thái giao diện",
            "Each interface's operational and administrative status (IF-MIB names), speed "
            "and description (ifAlias) now.",
            [
                target(
                    'SELECT last("ifOperStatus") AS "ifOperStatus", '
                    'last("ifAdminStatus") AS "ifAdminStatus", '
                    'last("ifHighSpeed") AS "ifHighSpeed", last("ifAlias") AS "ifAlias" '
                    f'FROM "interface" WHERE {device} GROUP BY "source", "ifName"',
                    table=True,
                )
            ],
            columns=_interface_columns(interface.enums if interface else {}),
            order=["source", "ifName", "ifOperStatus", "ifAdminStatus", "ifHighSpeed", "ifAlias"],
            headers={
                "source": "Thiết bị",
                "ifName": "Giao diện",
                "ifOperStatus": "Trạng thái",
                "ifAdminStatus": "Quản trị",
                "ifHighSpeed": "Tốc độ",
                "ifAlias": "Mô tả",
            },
            height=8,
        ).time_from("10m")
    )
    path = (
        'SELECT mean("average_response_ms") AS "trễ (ms)", '
        'mean("jitter_ms") AS "jitter (ms)", mean("percent_packet_loss") AS "mất gói (%)" '
        f'FROM "ping" WHERE {site} GROUP BY time($__interval), "url"'
    )
    quality = w.trend(
        "Độ trễ, jitter và mất gói",
        "ICMP round trip (average) and jitter in milliseconds, packet loss in percent on the "
        "right-hand axis, to the site's addresses.",
        [target(path, alias="$tag_url $col")],
        unit="ms",
    )
    w.second_axis(quality, r".*mất gói \(%\)$", "percent", min=0, max=100)
    board.with_panel(quality)
    board.with_panel(_cpu(device)).with_panel(_memory(device))
    board.with_panel(_environment(device)).with_panel(_ups(device))
    board.with_row(db.Row(boards_ssh.ROW_TITLE))
    board.with_panel(boards_ssh.optical_power(device))
    board.with_panel(boards_ssh.interface_errors(device))
    board.with_panel(boards_ssh.bgp_peers(device)).with_panel(boards_ssh.ospf_neighbours(device))
    board.with_panel(boards_ssh.config_backups(device))
    return Board(uid, NETWORK, board)


#: IF-MIB states worth a colour; the others (testing, unknown, dormant ...) stay plain.
_IF_COLOURS = {1: "green", 2: "red", 7: "red"}


def _interface_columns(enums: Mapping[str, Mapping[int, str]]) -> list[w.Column]:
    columns = [
        w.Column(f"^{name}$", mappings=w.enum_mappings(enums[name], _IF_COLOURS))
        for name in ("ifOperStatus", "ifAdminStatus")
        if name in enums
    ]
    return [*columns, w.Column("^ifHighSpeed$", unit="Mbits")]


def _cpu(where: str) -> timeseries.Panel:
    query = (
        'SELECT mean("hrProcessorLoad") AS "hrProcessorLoad", '
        'mean("cpmCPUTotal5minRev") AS "cpmCPUTotal5minRev", '
        'mean("fgSysCpuUsage") AS "fgSysCpuUsage" '
        f'FROM "cpu" WHERE {where} GROUP BY time($__interval), "source"'
    )
    return w.trend(
        "CPU thiết bị",
        "Device CPU load in percent, whichever MIB the device answers (HOST-RESOURCES, "
        "CISCO-PROCESS, FORTINET).",
        [target(query, alias="$tag_source $col")],
        unit="percent",
        minimum=0,
        maximum=100,
        thresholds=w.steps("green", (80, "orange"), (95, "red")),
    )


def _memory(where: str) -> timeseries.Panel:
    net_snmp = (
        'SELECT 100 * (1 - last("memAvailReal") / last("memTotalReal")) AS "UCD memory", '
        'last("fgSysMemUsage") AS "fgSysMemUsage" '
        f'FROM "memory" WHERE {where} GROUP BY time($__interval), "source"'
    )
    cisco = (
        'SELECT 100 * last("ciscoMemoryPoolUsed") / (last("ciscoMemoryPoolUsed") + '
        'last("ciscoMemoryPoolFree")) AS "Cisco pool" FROM "memory" '
        f'WHERE {where} GROUP BY time($__interval), "source", "ciscoMemoryPoolName"'
    )
    return w.trend(
        "Bộ nhớ thiết bị",
        "Memory in use, percent: UCD-SNMP real memory, FortiGate, Cisco memory pools.",
        [
            target(net_snmp, alias="$tag_source $col"),
            target(cisco, "B", alias="$tag_source $tag_ciscoMemoryPoolName"),
        ],
        unit="percent",
        minimum=0,
        maximum=100,
        thresholds=w.steps("green", (85, "orange"), (95, "red")),
    )


def _environment(where: str) -> timeseries.Panel:
    query = (
        'SELECT mean("ciscoEnvMonTemperatureStatusValue") AS "Cisco", '
        'mean("jnxOperatingTemp") AS "Juniper", mean("hwEntityTemperature") AS "Huawei" '
        f'FROM "environment" WHERE {where} GROUP BY time($__interval), "source"'
    )
    sensors = (
        'SELECT mean("uioSensorStatusTemperatureDegC") AS "phòng máy" FROM "sensor" '
        f'WHERE {where} GROUP BY time($__interval), "source", "uioSensorStatusSensorName"'
    )
    return w.trend(
        "Nhiệt độ",
        "Device and room temperatures, degrees Celsius: the devices' environment MIBs and "
        "room sensors.",
        [
            target(query, alias="$tag_source $col"),
            target(sensors, "B", alias="$tag_source $tag_uioSensorStatusSensorName"),
        ],
        unit="celsius",
        thresholds=w.steps("green", (40, "orange"), (55, "red")),
    )


def _ups(where: str) -> timeseries.Panel:
    query = (
        'SELECT last("upsHighPrecBatteryCapacity") / 10 AS "pin (%)", '
        'last("upsHighPrecOutputLoad") / 10 AS "tải (%)" '
        f'FROM "ups" WHERE {where} GROUP BY time($__interval), "source"'
    )
    return w.trend(
        "UPS: dung lượng pin và tải",
        "UPS battery capacity and output load, percent (APC PowerNet high-precision values).",
        [target(query, alias="$tag_source $col")],
        unit="percent",
        minimum=0,
        maximum=100,
    )


def data_centres(ctx: BuildContext) -> Board:
    uid, board = new_board(
        "Data centres",
        "Trung tâm dữ liệu",
        "servers, storage, virtual machines, UPS and core network of the two data centres.",
        ["datacentre"],
    )
    board.with_variable(datasource())
    board.with_variable(
        tag_values("site", "snmp", "site", ()).query(
            'SHOW TAG VALUES FROM "snmp" WITH KEY = "site" WHERE "level" = \'dc\''
        )
    )
    board.with_variable(tag_values("device", "snmp", "source", ("site",)))
    dc = scope("site", "source", extra=["\"level\" = 'dc'"])
    board.annotation(config_changes("site", "source", extra=("\"level\" = 'dc'",)))
    board.with_panel(
        w.state_grid(
            "Thiết bị trung tâm dữ liệu",
            "Every polled device and service of the data centres, coloured by its state now.",
            [
                target(
                    'SELECT max("state") AS "state" FROM (SELECT last("state") AS "state" '
                    'FROM "availability" WHERE '
                    + scope("site", extra=["\"level\" = 'dc'"])
                    + ' GROUP BY "target", "check") GROUP BY "target"',
                    alias="$tag_target",
                )
            ],
            height=8,
        ).time_from("5m")
    )
    board.with_panel(_cpu(dc)).with_panel(_memory(dc))
    storage = (
        'SELECT 100 * last("hrStorageUsed") / last("hrStorageSize") AS "used" FROM "storage" '
        f"WHERE {dc} AND \"hrStorageType\" = 'hrStorageFixedDisk' "
        'GROUP BY "source", "hrStorageDescr"'
    )
    board.with_panel(
        w.bars(
            "Dung lượng lưu trữ đã dùng",
            "Fixed disks in use, percent of their size (HOST-RESOURCES hrStorageTable).",
            [target(storage, alias="$tag_source $tag_hrStorageDescr")],
            thresholds=w.steps("green", (80, "orange"), (90, "red")),
        ).time_from("15m")
    )
    vms = (
        'SELECT last("vmwVmState") AS "state", last("vmwVmCpus") AS "vCPU", '
        'last("vmwVmMemSize") AS "RAM (MiB)" FROM "vm" '
        f'WHERE {dc} GROUP BY "source", "vmwVmDisplayName"'
    )
    board.with_panel(
        w.listing(
            "Máy ảo",
            "Virtual machines of the ESXi hosts: power state, vCPUs and memory.",
            [target(vms, table=True)],
            order=["source", "vmwVmDisplayName", "state", "vCPU", "RAM (MiB)"],
            headers={"source": "Máy chủ ESXi", "vmwVmDisplayName": "Máy ảo", "state": "Trạng thái"},
            width=12,
        ).time_from("15m")
    )
    board.with_panel(_ups(dc))
    core = (
        f"SELECT {_rate('ifHCInOctets', 'vào', scale=' * 8')}, "
        f'{_rate("ifHCOutOctets", "ra", scale=" * 8")} FROM "interface" WHERE {dc} '
        'GROUP BY time($__interval), "source", "ifName"'
    )
    board.with_panel(
        w.trend(
            "Lưu lượng mạng lõi",
            "Traffic of the data centres' core network interfaces, bits per second.",
            [target(core, alias="$tag_source $tag_ifName $col")],
            unit="bps",
        )
    )
    sessions = (
        'SELECT last("fgSysSesCount") AS "phiên" FROM "firewall" '
        f'WHERE {dc} GROUP BY time($__interval), "source"'
    )
    board.with_panel(
        w.trend(
            "Phiên tường lửa",
            "Firewall sessions (FortiGate fgSysSesCount).",
            [target(sessions, alias="$tag_source")],
            unit="short",
        )
    )
    return Board(uid, NETWORK, board)
