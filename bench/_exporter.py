"""Debian's ``prometheus-snmp-exporter`` (0.21) as a poller: one scrape of ``if_mib`` per device.

Our own instance, a child process on 127.0.0.1 and a free port, never the system service.

Configuration format of 0.21 (checked with ``--dry-run``): the file is a map of module name to
module, and each module carries its own ``auth`` — there is no top-level ``auths:`` and no
``&auth=`` URL parameter (both came with 0.23). So each credential set gets its own copy of
``if_mib`` (``if_mib_<set>``) with ``version`` and ``auth``; v3 takes ``username``,
``security_level``, ``password``, ``auth_protocol`` (MD5 SHA SHA224 SHA256 SHA384 SHA512),
``priv_protocol`` (DES AES AES192 AES256), ``priv_password``, ``context_name``. The file holds
the lab's secrets: it is written 0600 and removed when the exporter stops.

Debian ships no usable snmp.yml: its /etc/prometheus/snmp.yml is a comment ("Due to licensing
reasons, it is not possible to ship a ready-to-use snmp.yml"), and the generator needs IETF MIBs
that only the non-free snmp-mibs-downloader fetches. If that file does hold an ``if_mib`` module
it is used; otherwise :func:`builtin_if_mib` writes out, numerically, what the generator makes
of the ``if_mib`` entry of Debian's example generator.yml (walk sysUpTime, interfaces,
ifXTable; ifAlias/ifDescr/ifName as lookup labels, not metrics; ifType EnumAsInfo).
"""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import yaml
from _common import Device, PassFigures, total_cpu_seconds

from agent.lab.process import free_tcp_port, log_tail, open_private, stop_process
from agent.lab.procfs import cpu_seconds, peak_rss_mib
from collectors.snmp.config import UsmCredential

EXPORTER = "prometheus-snmp-exporter"
DEBIAN_CONFIG = Path("/etc/prometheus/snmp.yml")
START_TIMEOUT_S = 15.0
#: One scrape (a whole device) must end by then; the exporter's own SNMP timeouts come first.
SCRAPE_DEADLINE_S = 300.0
#: Sample lines about the exporter itself, not values polled from a device.
OWN_METRICS = (b"snmp_scrape_", b"go_", b"process_")

_AUTH = {"md5": "MD5", "sha": "SHA", "sha224": "SHA224", "sha256": "SHA256",
         "sha384": "SHA384", "sha512": "SHA512"}  # fmt: skip
_PRIV = {"des": "DES", "aes128": "AES", "aes192": "AES192", "aes256": "AES256"}

_IF_ENTRY = "1.3.6.1.2.1.2.2.1"
_IF_X_ENTRY = "1.3.6.1.2.1.31.1.1.1"
_UP_DOWN = {1: "up", 2: "down", 3: "testing"}
_OPER = {**_UP_DOWN, 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}
_TRUTH = {1: "true", 2: "false"}
#: IANAifType names the recordings use; an unnamed type is shown by number (one sample still).
_IF_TYPES = {1: "other", 6: "ethernetCsmacd", 22: "propPointToPointSerial", 23: "ppp",
             24: "softwareLoopback", 53: "propVirtual", 131: "tunnel", 135: "l2vlan",
             136: "l3ipvlan", 150: "mplsTunnel", 161: "ieee8023adLag", 166: "mpls"}  # fmt: skip
#: (column, name, type, enum values) of ifTable and ifXTable, as the generator emits them.
_COLUMNS: tuple[tuple[str, str, str, dict[int, str] | None], ...] = (
    (f"{_IF_ENTRY}.1", "ifIndex", "gauge", None),
    (f"{_IF_ENTRY}.3", "ifType", "EnumAsInfo", _IF_TYPES),
    (f"{_IF_ENTRY}.4", "ifMtu", "gauge", None),
    (f"{_IF_ENTRY}.5", "ifSpeed", "gauge", None),
    (f"{_IF_ENTRY}.6", "ifPhysAddress", "PhysAddress48", None),
    (f"{_IF_ENTRY}.7", "ifAdminStatus", "gauge", _UP_DOWN),
    (f"{_IF_ENTRY}.8", "ifOperStatus", "gauge", _OPER),
    (f"{_IF_ENTRY}.9", "ifLastChange", "gauge", None),
    (f"{_IF_ENTRY}.10", "ifInOctets", "counter", None),
    (f"{_IF_ENTRY}.11", "ifInUcastPkts", "counter", None),
    (f"{_IF_ENTRY}.12", "ifInNUcastPkts", "counter", None),
    (f"{_IF_ENTRY}.13", "ifInDiscards", "counter", None),
    (f"{_IF_ENTRY}.14", "ifInErrors", "counter", None),
    (f"{_IF_ENTRY}.15", "ifInUnknownProtos", "counter", None),
    (f"{_IF_ENTRY}.16", "ifOutOctets", "counter", None),
    (f"{_IF_ENTRY}.17", "ifOutUcastPkts", "counter", None),
    (f"{_IF_ENTRY}.18", "ifOutNUcastPkts", "counter", None),
    (f"{_IF_ENTRY}.19", "ifOutDiscards", "counter", None),
    (f"{_IF_ENTRY}.20", "ifOutErrors", "counter", None),
    (f"{_IF_ENTRY}.21", "ifOutQLen", "gauge", None),
    (f"{_IF_X_ENTRY}.2", "ifInMulticastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.3", "ifInBroadcastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.4", "ifOutMulticastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.5", "ifOutBroadcastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.6", "ifHCInOctets", "counter", None),
    (f"{_IF_X_ENTRY}.7", "ifHCInUcastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.8", "ifHCInMulticastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.9", "ifHCInBroadcastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.10", "ifHCOutOctets", "counter", None),
    (f"{_IF_X_ENTRY}.11", "ifHCOutUcastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.12", "ifHCOutMulticastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.13", "ifHCOutBroadcastPkts", "counter", None),
    (f"{_IF_X_ENTRY}.14", "ifLinkUpDownTrapEnable", "gauge", {1: "enabled", 2: "disabled"}),
    (f"{_IF_X_ENTRY}.15", "ifHighSpeed", "gauge", None),
    (f"{_IF_X_ENTRY}.16", "ifPromiscuousMode", "gauge", _TRUTH),
    (f"{_IF_X_ENTRY}.17", "ifConnectorPresent", "gauge", _TRUTH),
    (f"{_IF_X_ENTRY}.19", "ifCounterDiscontinuityTime", "gauge", None),
)
_LOOKUPS = [
    {"labels": ["ifIndex"], "labelname": name, "oid": oid, "type": "DisplayString"}
    for name, oid in (
        ("ifAlias", f"{_IF_X_ENTRY}.18"),
        ("ifDescr", f"{_IF_ENTRY}.2"),
        ("ifName", f"{_IF_X_ENTRY}.1"),
    )
]


def builtin_if_mib() -> dict[str, Any]:
    """The generated ``if_mib`` module (walk, get, metrics) of snmp_exporter 0.21.

    Help texts are shortened to "name - OID": the generator copies them from the MIBs.
    """
    metrics: list[dict[str, Any]] = [
        {"name": "sysUpTime", "oid": "1.3.6.1.2.1.1.3", "type": "gauge"},
        {"name": "ifNumber", "oid": "1.3.6.1.2.1.2.1", "type": "gauge"},
    ]
    for oid, name, kind, enum_values in _COLUMNS:
        metric: dict[str, Any] = {
            "name": name,
            "oid": oid,
            "type": kind,
            "indexes": [{"labelname": "ifIndex", "type": "gauge"}],
            "lookups": _LOOKUPS,
        }
        if enum_values:
            metric["enum_values"] = enum_values
        metrics.append(metric)
    for metric in metrics:
        metric["help"] = f"{metric['name']} - {metric['oid']}"
    return {
        "walk": ["1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1"],
        "get": ["1.3.6.1.2.1.1.3.0"],
        "metrics": metrics,
    }


def if_mib_module() -> tuple[dict[str, Any], str]:
    """The ``if_mib`` module to run and where it came from."""
    try:
        shipped = yaml.safe_load(DEBIAN_CONFIG.read_text())
    except (OSError, yaml.YAMLError):
        shipped = None
    if isinstance(shipped, dict):
        # 0.21 keeps modules at the top level; 0.23+ under `modules:`.
        module = shipped.get("if_mib") or (shipped.get("modules") or {}).get("if_mib")
        if isinstance(module, dict) and module.get("metrics"):
            # Its own auth and SNMP settings are replaced by the lab's (exporter_config).
            wanted = ("walk", "get", "metrics")
            return {k: module[k] for k in wanted if k in module}, str(DEBIAN_CONFIG)
    return builtin_if_mib(), f"built into bench/_exporter.py ({DEBIAN_CONFIG} has none)"


def _auth(device: Device) -> dict[str, Any]:
    credential = device.credential
    if not isinstance(credential, UsmCredential):
        return {"version": 1 if credential.version == "1" else 2,
                "auth": {"community": credential.community.reveal()}}  # fmt: skip
    auth: dict[str, Any] = {
        "username": credential.user,
        "security_level": credential.security_level,
    }
    if credential.auth_protocol and credential.auth_password:
        auth["auth_protocol"] = _AUTH[credential.auth_protocol]
        auth["password"] = credential.auth_password.reveal()
    if credential.priv_protocol and credential.priv_password:
        auth["priv_protocol"] = _PRIV[credential.priv_protocol]
        auth["priv_password"] = credential.priv_password.reveal()
    if credential.context:
        auth["context_name"] = credential.context
    return {"version": 3, "auth": auth}


def exporter_config(
    devices: Sequence[Device], module: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The exporter's config (one module per credential set and SNMP settings), and
    {host: module name}. Timeout, retries and max-repetitions are the inventory's, as for the
    agent and snmpbulkwalk."""
    config: dict[str, Any] = {}
    names: dict[tuple[str, float, int, int], str] = {}
    by_host: dict[str, str] = {}
    for device in devices:
        key = (device.credential.name, device.timeout_s, device.retries, device.max_repetitions)
        if key not in names:
            stem = re.sub(r"[^A-Za-z0-9_]", "_", device.credential.name)
            names[key] = f"if_mib_{stem}_{len(names) + 1}"
            config[names[key]] = {
                **module,
                **_auth(device),
                "timeout": f"{device.timeout_s:g}s",
                "retries": device.retries,
                "max_repetitions": device.max_repetitions,
            }
        by_host[device.host] = names[key]
    return config, by_host


def version() -> str:
    done = subprocess.run(
        [EXPORTER, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    # "snmp_exporter, version 0.21.0 (branch: debian/sid, revision: 0.21.0-1+b5)"
    found = re.search(r"version (\S+).*revision: ([^)]+)\)", done.stdout + done.stderr)
    return f"{found[1]} (package {found[2]})" if found else "unknown"


def available() -> bool:
    return shutil.which(EXPORTER) is not None


def count_values(body: bytes) -> int:
    """Sample lines of a /snmp answer, less the exporter's own (snmp_scrape_*, go_*, ...)."""
    count = 0
    for line in body.splitlines():
        if not line or line.startswith(b"#"):
            continue
        name = line.split(b"{", 1)[0].split(b" ", 1)[0]
        if not name.startswith(OWN_METRICS):
            count += 1
    return count


class _PlainDumper(yaml.SafeDumper):
    """No YAML anchors for the lookups and metrics that modules share: one module, one text."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class SnmpExporter:
    """Our own prometheus-snmp-exporter on 127.0.0.1, as a context manager."""

    def __init__(self, state_dir: Path, config: dict[str, Any]) -> None:
        self.state_dir = state_dir
        self.config = config
        self.config_path = state_dir / "snmp.yml"
        self.log_path = state_dir / "exporter.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open_private(self.config_path) as config_file:  # it holds the lab's secrets
            config_file.write(yaml.dump(self.config, Dumper=_PlainDumper, sort_keys=False).encode())
        self.port = free_tcp_port()
        try:
            with open_private(self.log_path) as log:
                self._process = subprocess.Popen(
                    [
                        EXPORTER,
                        f"--config.file={self.config_path}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--log.level=warn",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)
        self.config_path.unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                if self._get("/", timeout=1.0)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{EXPORTER} did not start; log:\n{log_tail(self.log_path)}")

    def _get(self, path: str, timeout: float) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def scrape(self, device: Device, module: str) -> int:
        """Values scraped from `device`; 0 if the exporter could not poll it."""
        query = urlencode({"target": device.endpoint, "module": module})
        try:
            status, body = self._get(f"/snmp?{query}", timeout=SCRAPE_DEADLINE_S)
        except OSError:
            return 0
        return count_values(body) if status == 200 else 0


def one_pass(
    exporter: SnmpExporter,
    devices: Sequence[Device],
    modules: dict[str, str],
    limit: int,
    responders: Sequence[int],
) -> PassFigures:
    responders_before = total_cpu_seconds(responders)
    cpu_before = cpu_seconds(exporter.pid)
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="scrape")
    try:
        values = list(pool.map(lambda d: exporter.scrape(d, modules[d.host]), devices))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # running scrapes end by their deadline
    wall = time.perf_counter() - started
    return PassFigures(
        devices_answered=sum(1 for v in values if v),
        values=sum(values),
        wall_s=wall,
        cpu_s=cpu_seconds(exporter.pid) - cpu_before,
        responders_cpu_s=total_cpu_seconds(responders) - responders_before,
        peak_rss_mib=peak_rss_mib(exporter.pid),
        unanswered=tuple(d.host for d, v in zip(devices, values, strict=True) if not v),
    )
