"""`netmon sla report|status` as an operator runs them: a small inventory, a real InfluxDB
holding a day of verdicts, every format written, and wrong input refused clearly."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx
import openpyxl
import pytest
import yaml

from agent.lab.influxdb import InfluxServer
from agent.lab.process import free_tcp_port
from agent.output.lineprotocol import serialize
from agent.samples import Sample
from tests.peers import require_binary
from tests.sla_world import DOWN, OK, Polls

pytestmark = [pytest.mark.influxdb, pytest.mark.ansible]

HOSTS = {
    "all": {
        "children": {
            "connection_points": {
                "hosts": {
                    "p-core": {"netmon_level": "province", "netmon_site": "P-CORE",
                               "netmon_department": "Văn phòng UBND tỉnh"},
                    "d-rt": {"netmon_level": "district", "netmon_site": "D-RT",
                             "netmon_uplink": "p-core", "netmon_district": "DT",
                             "netmon_department": "UBND huyện Dầu Tiếng"},
                    "c-cpe": {"netmon_level": "commune", "netmon_site": "C-CPE",
                              "netmon_uplink": "d-rt", "netmon_district": "DT",
                              "netmon_department": "UBND xã Định Thành"},
                },
            },
            "dc": {
                "hosts": {
                    "svc-portal": {"netmon_level": "dc", "netmon_site": "DC1",
                                   "netmon_department": "Văn phòng UBND tỉnh"},
                },
            },
        },
    },
}  # fmt: skip

ALL = {
    "netmon_checks": ["ping"],
    "netmon_services": {
        "portal": {
            "name": "Cổng dịch vụ công",
            "department": "Văn phòng UBND tỉnh",
            "kind": "egov",
            "slo_target": 99.5,
            "hosts": ["svc-portal"],
        }
    },
    "netmon_sla": {"report": {"issuer": "Sở Thông tin và Truyền thông", "place": "Bình Dương"}},
}


@pytest.fixture
def setup(tmp_path: Path, influx_server: InfluxServer, influx_db: str) -> Path:
    require_binary("ansible-inventory")
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump(HOSTS, allow_unicode=True))
    (inventory / "group_vars" / "all" / "netmon.yml").write_text(
        yaml.safe_dump(ALL, allow_unicode=True)
    )
    settings = tmp_path / "netmon.toml"
    settings.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[inventory]\npath = "{inventory}"\n'
        f'[influxdb]\nurl = "{influx_server.url}"\ndatabase = "{influx_db}"\n'
    )
    polls = Polls()
    for host in ("p-core", "d-rt", "c-cpe"):
        polls.every(host, "2026-10-05 00:00", "2026-10-05 14:00", OK)
        polls.every(host, "2026-10-05 14:30", "2026-10-06 00:00", OK)
    polls.every("p-core", "2026-10-05 14:00", "2026-10-05 14:30", OK)
    polls.every("d-rt", "2026-10-05 14:00", "2026-10-05 14:30", DOWN)
    polls.every("c-cpe", "2026-10-05 14:00", "2026-10-05 14:30", DOWN)
    polls.every("svc-portal", "2026-10-05 00:00", "2026-10-06 00:00", OK, service="portal")
    lines = []
    for obs in polls.history.observations:
        tags = {"check": obs.check, "target": obs.target, "agent": obs.agent}
        if obs.service:
            tags["service"] = obs.service
        fields: dict[str, bool | int | float | str] = {"state": obs.state, "reason": obs.reason}
        lines.append(serialize(Sample("availability", tags, fields, obs.time * 10**9)) or "")
    reply = httpx.post(f"{influx_server.url}/write", params={"db": influx_db},
                       content="\n".join(lines))  # fmt: skip
    assert reply.status_code == 204
    return settings


def netmon(settings: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "-c", str(settings), "sla", *args],
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_reports_in_every_format_hold_the_same_figures(setup: Path, tmp_path: Path) -> None:
    out = netmon(setup, "report", "--period", "2026-10-05..2026-10-05", "--format", "csv",
                 "--language", "en")  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()
    rows = {r["Id"]: r for r in csv.DictReader(io.StringIO(out.stdout.decode("utf-8-sig")))}
    assert set(rows) == {"p-core", "d-rt", "c-cpe", "portal"}
    assert rows["d-rt"]["Downtime (s)"] == "1800"
    assert (rows["c-cpe"]["Downtime (s)"], rows["c-cpe"]["Upstream (s)"]) == ("0", "1800")
    assert rows["portal"]["Availability (%)"] == "100.0"

    xlsx = tmp_path / "october.xlsx"
    out = netmon(setup, "report", "--period", "2026-10-05..2026-10-05", "-o", str(xlsx))
    assert out.returncode == 0, out.stderr.decode()
    sheet = openpyxl.load_workbook(xlsx).worksheets[0]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert any("d-rt" in row and 1800 in row for row in values), values

    folder = tmp_path / "reports"
    out = netmon(setup, "report", "--period", "2026-10", "--all-departments", "--format",
                 "html", "-o", str(folder))  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "sla-2026-10-ubnd-huyen-dau-tieng.html",
        "sla-2026-10-ubnd-xa-dinh-thanh.html",
        "sla-2026-10-van-phong-ubnd-tinh.html",
    ]
    office = (folder / "sla-2026-10-van-phong-ubnd-tinh.html").read_text()
    assert "Cổng dịch vụ công" in office and "UBND xã Định Thành" not in office


def test_write_back_stores_sla_samples(
    setup: Path, influx_server: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    out = netmon(setup, "report", "--period", "2026-10", "--format", "csv", "-o",
                 str(tmp_path / "x.csv"), "--write-back")  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()
    rows = influx_server.rows(
        'SELECT "downtime_s", "upstream_s" FROM "sla" WHERE "period" = \'2026-10\' '
        'GROUP BY "site", "service", "kind"',
        influx_db,
    )
    by = {(r.get("site") or r.get("service")): r for r in rows}
    assert by["D-RT"]["downtime_s"] == 1800
    assert by["C-CPE"]["upstream_s"] == 1800
    assert by["portal"]["kind"] == "service"


def test_status_lists_who_is_below_target(setup: Path) -> None:
    out = netmon(setup, "status", "--format", "json", "--all")
    assert out.returncode == 0, out.stderr.decode()
    body = json.loads(out.stdout)
    assert {s["id"] for s in body["subjects"]} == {"p-core", "d-rt", "c-cpe", "portal"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-13"], "no month 13"),
        (["--period", "October"], "give YYYY-MM"),
        (["--period", "2026-10", "--department", "Sở Không Có"], "no department 'Sở Không Có'"),
        (["--period", "2026-10", "--service", "nope"], "no service 'nope' (known: portal)"),
        (["--period", "2026-10", "--all-departments"], "give -o DIRECTORY"),
        (["--period", "2026-10", "-o", "report.docx"], "give --format"),
    ],
)
def test_wrong_input_is_refused_with_exit_2(setup: Path, args: list[str], message: str) -> None:
    out = netmon(setup, "report", *args)
    assert out.returncode == 2, out.stderr.decode()
    assert message in out.stderr.decode()


def test_an_unreachable_database_exits_1_and_says_so(setup: Path, tmp_path: Path) -> None:
    text = setup.read_text()
    port = free_tcp_port()
    dead = tmp_path / "dead.toml"
    dead.write_text(
        text.replace(text.split('url = "')[1].split('"')[0], f"http://127.0.0.1:{port}")
    )
    out = netmon(dead, "report", "--period", "2026-10", "--format", "csv")
    assert out.returncode == 1
    assert "InfluxDB query failed: ConnectError" in out.stderr.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "9999-12"], "between 1970 and 9998"),
        (["--period", "2026-10", "--district", "Dau Tieng"], "no district 'Dau Tieng' (known: DT)"),
        (["--period", "2026-10", "--level", "province", "--service", "portal"], "keeps no subject"),
        (
            ["--period", "2026-10", "--department", "UBND huyen Dau Tieng Xa"],
            "did you mean: UBND huyện Dầu Tiếng",
        ),
        (
            ["--period", "2026-10", "--all-departments", "--department", "X", "-o", "d"],
            "drop the filters",
        ),
        (["--period", "2026-10", "-o", "a/b/c.csv"], "no directory a/b"),
        (["--period", "2026-10", "--format", "csv", "-o", "x.pdf"], "which one?"),
    ],
)
def test_a_selection_that_keeps_nothing_is_refused(
    setup: Path, args: list[str], message: str
) -> None:
    out = netmon(setup, "report", "--format", "csv", *args)
    assert out.returncode == 2, out.stderr.decode()
    assert message in out.stderr.decode()


def test_a_missing_token_file_is_a_settings_error(setup: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(setup.read_text() + f'token_file = "{tmp_path / "no-such-token"}"\n')
    out = netmon(broken, "report", "--period", "2026-10", "--format", "csv")
    assert out.returncode == 3, out.stderr.decode()
    assert "no-such-token" in out.stderr.decode()
    assert "Traceback" not in out.stderr.decode()


def test_a_department_typed_without_accents_is_found(setup: Path, tmp_path: Path) -> None:
    out = netmon(setup, "report", "--period", "2026-10", "--department", "ubnd huyen dau tieng",
                 "--format", "csv", "--language", "en")  # fmt: skip
    assert out.returncode == 0, out.stderr.decode()
    rows = list(csv.DictReader(io.StringIO(out.stdout.decode("utf-8-sig"))))
    assert [row["Id"] for row in rows] == ["d-rt"]


def test_status_as_text_names_every_subject_with_all(setup: Path) -> None:
    out = netmon(setup, "status", "--all")
    assert out.returncode == 0, out.stderr.decode()
    text = out.stdout.decode()
    assert "to date: 4 subjects" in text
    for subject in ("p-core", "d-rt", "c-cpe", "portal"):
        assert f"  {subject} " in text
