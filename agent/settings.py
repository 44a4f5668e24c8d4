"""Agent settings: a TOML file, then ``NETMON_*`` environment overrides.

Every setting has an environment name derived from its place in the file:
``[influxdb] url`` is ``NETMON_INFLUXDB_URL``; a top-level key such as ``state_dir`` is
``NETMON_STATE_DIR``. ``netmon config show`` prints the resolved settings (secrets masked) and
``netmon config env`` lists every variable name.

Secrets (InfluxDB password or token) come from the environment or from a file
(``password_file``, ``token_file``), never from the TOML itself in production — the TOML may
hold them for the lab only.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.secret import Secret

ENV_PREFIX = "NETMON_"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InfluxSettings(_Strict):
    url: str = "http://127.0.0.1:8086"
    transport: Literal["v1", "v2"] = "v1"
    # v1 transport (InfluxDB 1.x, and the v1 compatibility API of 2.x and 3.x)
    database: str = "netmon"
    retention_policy: str = ""
    username: str = ""
    password: Secret | None = None
    password_file: Path | None = None
    # v2 transport (influxdb-client); a token also works for v1 on 2.x/3.x
    org: str = ""
    bucket: str = ""
    token: Secret | None = None
    token_file: Path | None = None
    verify_tls: bool = True
    ca_file: Path | None = None
    gzip: bool = False  # on loopback gzip costs more CPU than it saves (DESIGN §9)
    batch_size: int = Field(default=5000, ge=1, le=5000)
    flush_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    uint_mode: Literal["wrap", "native"] = "wrap"
    #: Only when [spool] enabled = false: lines kept in memory (lost when the agent stops).
    buffer_max_lines: int = Field(default=500_000, ge=1000)
    #: Lines InfluxDB refuses for good go to <state_dir>/quarantine/, bounded by this.
    quarantine_max_bytes: int = Field(default=64 * 1024**2, ge=64 * 1024)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # Checked here so that no bad URL (or one with a password in it) gets further.
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ValueError("not a valid URL (expected http(s)://HOST:PORT)") from None
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("expected http(s)://HOST:PORT")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "put credentials in username/password(_file) or token(_file), not the URL"
            )
        del port
        return value

    def resolved_password(self) -> Secret | None:
        return self.password or _read_secret_file(self.password_file)

    def resolved_token(self) -> Secret | None:
        return self.token or _read_secret_file(self.token_file)


class _Listener(_Strict):
    """A listening address, HOST:PORT; `lowest_port` 0 lets the system choose (tests)."""

    listen: str
    _lowest_port: ClassVar[int] = 0
    _example: ClassVar[str] = "127.0.0.1:9273"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected HOST:PORT, e.g. {cls._example}")
        if not cls._lowest_port <= int(port) <= 65535:
            raise ValueError(f"expected HOST:PORT, e.g. {cls._example}")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class MetricsSettings(_Listener):
    listen: str = "127.0.0.1:9273"
    enabled: bool = True


class TrapSettings(_Listener):
    """The SNMP trap and inform receiver (collectors.traps): off unless enabled."""

    enabled: bool = False
    #: UDP HOST:PORT. Port 162 needs CAP_NET_BIND_SERVICE (or root); devices may send to a
    #: high port instead.
    listen: str = "127.0.0.1:162"
    # Port 0 would be no address a device can be told to send to.
    _lowest_port: ClassVar[int] = 1
    _example: ClassVar[str] = "0.0.0.0:162"


class SpoolSettings(_Strict):
    """The durable spool between the pipeline and the InfluxDB writer (agent.output.spool)."""

    enabled: bool = True
    #: Default: <state_dir>/spool. One agent per directory (it is locked).
    dir: Path | None = None
    #: Bounds: past either, the oldest data is evicted, counted and logged. At the lab
    #: province's rate (86 samples/s, about 500 bytes each on disk: bench/outage) 4 GiB holds
    #: about a day of an outage.
    max_bytes: int = Field(default=4 * 1024**3, ge=64 * 1024)
    max_age_s: float = Field(default=7 * 86400.0, gt=0)
    segment_bytes: int = Field(default=8 * 1024**2, ge=16 * 1024)
    #: How often written lines are forced to disk: what a power cut can lose (kill -9 of the
    #: agent loses nothing that was spooled).
    fsync_interval_s: float = Field(default=1.0, gt=0, le=1.0)


class SnmpSettings(_Strict):
    receive_buffer_bytes: int = Field(default=4 * 1024 * 1024, ge=65536)


IcmpMode = Literal["auto", "dgram", "raw"]


class ProbeSettings(_Strict):
    """Agent-wide settings of the active probes (ICMP, HTTP, SIP, videoconference)."""

    #: ICMP sockets: "dgram" needs net.ipv4.ping_group_range to include the agent's group;
    #: "raw" needs CAP_NET_RAW; "auto" tries dgram, then raw (docs: README, ICMP set-up).
    icmp_mode: IcmpMode = "auto"
    #: Extra CA certificates (PEM) trusted by the HTTPS probes besides the system's store;
    #: a host's netmon_http_ca_file replaces it for that host.
    ca_file: Path | None = None


class SshSettings(_Strict):
    """The SSH collector and the configuration backup (collectors.ssh, agent.backup)."""

    #: Threads running netmiko (connects and commands); bounds the devices worked on at once.
    workers: int = Field(default=16, ge=1, le=256)
    #: "accept-new": record a device's first host key, refuse a changed one (OpenSSH's
    #: StrictHostKeyChecking=accept-new); "strict": only keys already in known_hosts_file.
    host_keys: Literal["accept-new", "strict"] = "accept-new"
    #: Default: <state_dir>/ssh/known_hosts (OpenSSH format).
    known_hosts_file: Path | None = None
    #: The git repository of configuration backups. Default: <state_dir>/configs.
    backup_dir: Path | None = None
    #: Open sessions kept for reuse between polls, and how long an idle one stays open.
    max_sessions: int = Field(default=256, ge=0, le=10000)
    idle_close_s: float = Field(default=300.0, gt=0)


class InventorySettings(_Strict):
    path: Path = Path("inventory/lab")
    vault_password_file: Path | None = None


class DashboardSettings(_Strict):
    """`netmon dashboards`: where the files go, the map, and the Grafana to push to."""

    output_dir: Path = Path("dashboards")
    #: The InfluxDB datasource's fixed uid in Grafana (alert rules must name one).
    datasource_uid: str = Field(default="netmon-influxdb", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    #: XYZ tile URL ({z}/{x}/{y}) of a basemap served inside the network; "" = OpenStreetMap.
    basemap_url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    basemap_attribution: str = ""
    #: Base URL of the runbooks; each rule links to it with #<rule uid>. "" = no link.
    runbook_url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    grafana_url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    #: File holding the Grafana service-account token (or env NETMON_GRAFANA_TOKEN).
    grafana_token_file: Path | None = None
    grafana_ca_file: Path | None = None


class Settings(_Strict):
    agent_name: str = Field(default_factory=lambda: os.uname().nodename)
    state_dir: Path = Path(".state")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_polls_in_flight: int = Field(default=64, ge=1, le=4096)
    #: Seconds between the agent's reports of its own health to InfluxDB (``netmon_agent``,
    #: ``netmon_checks``: agent.selfreport); 0 writes none (/metrics still serves them).
    self_report_interval_s: float = Field(default=60.0, ge=0)
    inventory: InventorySettings = InventorySettings()
    influxdb: InfluxSettings = InfluxSettings()
    spool: SpoolSettings = SpoolSettings()
    metrics: MetricsSettings = MetricsSettings()
    snmp: SnmpSettings = SnmpSettings()
    probes: ProbeSettings = ProbeSettings()
    traps: TrapSettings = TrapSettings()
    dashboards: DashboardSettings = DashboardSettings()
    ssh: SshSettings = SshSettings()

    @property
    def known_hosts_file(self) -> Path:
        return self.ssh.known_hosts_file or self.state_dir / "ssh" / "known_hosts"

    @property
    def backup_dir(self) -> Path:
        """The git repository of configuration backups (agent.backup)."""
        return self.ssh.backup_dir or self.state_dir / "configs"

    @property
    def spool_dir(self) -> Path:
        return self.spool.dir or self.state_dir / "spool"

    @property
    def quarantine_dir(self) -> Path:
        """Where lines InfluxDB refused for good are kept (agent.output.quarantine)."""
        return self.state_dir / "quarantine"


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the file or variable and the field."""


def _read_secret_file(path: Path | None) -> Secret | None:
    if path is None:
        return None
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not value:
        # An empty file would silently mean "no credentials" and every write would be refused.
        raise SettingsError(f"secret file {path} is empty")
    return Secret(value)


def env_names(
    model: type[BaseModel] = Settings, prefix: str = ENV_PREFIX
) -> dict[str, tuple[str, ...]]:
    """Every NETMON_* variable and the settings path it overrides."""
    names: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for env, path in env_names(annotation, f"{prefix}{name.upper()}_").items():
                names[env] = (name, *path)
        else:
            names[f"{prefix}{name.upper()}"] = (name,)
    return names


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    applied = []
    for env, path in env_names().items():
        if env in environ:
            node = data
            for key in path[:-1]:
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    raise SettingsError(f"{env}: [{key}] must be a table in the settings file")
            node[path[-1]] = environ[env]
            applied.append(env)
    return applied


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `path` (optional) and the environment; raise SettingsError."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read settings: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: invalid TOML: {exc}") from None
    applied = _apply_env(data, environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            env = ENV_PREFIX + "_".join(str(part).upper() for part in error["loc"])
            where = f"{env} (environment)" if env in applied else f"{source}: {field}"
            # error["input"] may hold a secret: never echo it back.
            problems.append(f"{where}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
