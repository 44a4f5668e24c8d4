"""A private InfluxDB 1.x server for the lab and the tests (Debian's ``influxd``, 1.6.7 here).

`InfluxServer` owns a state directory: ``influxdb.conf`` (generated), ``meta/``, ``data/``,
``wal/`` and ``influxd.log``. It binds HTTP to a loopback address and port of the caller's
choosing and its RPC service (backup/restore, which 1.x always opens, on 8088 unless told
otherwise) to another free loopback port, so several servers and a system influxd never
collide. Usage reporting, the ``_internal`` monitor database, HTTP access logs and query logs
are off: the lab must not phone home, and a test's log should show only what went wrong.

With `admin_user`/`admin_password`, authentication is on and the admin user is created at the
first start (influxd 1.x lets an unauthenticated client create the first admin user and nothing
else); this server's own `query` then authenticates as that user.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from agent.lab.process import (
    LabPeer,
    LabProcessError,
    ensure_free,
    free_tcp_port,
    log_tail,
)
from agent.secret import Secret

#: How long influxd may take to answer /ping after its start.
START_TIMEOUT_S = 30.0


class InfluxServerError(LabProcessError):
    """influxd did not start, died, or refused a query; start-up errors carry its log's tail."""


def find_influxd() -> str | None:
    """Path of the ``influxd`` executable (PATH, then Debian's place), or None."""
    found = shutil.which("influxd")
    if found is None and Path("/usr/bin/influxd").is_file():
        found = "/usr/bin/influxd"
    return found


def _toml_string(text: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes), whatever the path holds.
    return json.dumps(text)


def _influxql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    """An InfluxQL identifier, double-quoted and escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class InfluxServer(LabPeer):
    """One influxd 1.x process with its data under `state_dir`, HTTP on `bind`:`port`."""

    stop_grace_s = 10.0  # influxd flushes its WAL on SIGTERM

    def __init__(
        self,
        state_dir: Path,
        port: int,
        bind: str = "127.0.0.1",
        *,
        rpc_port: int | None = None,
        admin_user: str | None = None,
        admin_password: Secret | None = None,
        influxd: str | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        if (admin_user is None) != (admin_password is None):
            raise ValueError("admin_user and admin_password go together")
        self.state_dir = state_dir
        self.port = port
        self.bind = bind
        self.rpc_port = rpc_port
        self.admin_user = admin_user
        self._admin_password = admin_password
        self._influxd = influxd
        self.start_timeout_s = start_timeout_s
        self.config_path = state_dir / "influxdb.conf"
        self.log_path = state_dir / "influxd.log"
        self._http = httpx.Client(
            base_url=self.url,
            timeout=30.0,
            auth=(
                httpx.BasicAuth(admin_user, admin_password.reveal())
                if admin_user is not None and admin_password is not None
                else None
            ),
        )

    def __repr__(self) -> str:
        return f"InfluxServer(url={self.url!r}, state_dir={str(self.state_dir)!r})"

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    @property
    def auth_enabled(self) -> bool:
        return self.admin_user is not None

    def config_text(self, rpc_port: int) -> str:
        """The influxd.conf this server runs with."""
        state = self.state_dir
        return f"""\
# Written by agent.lab.influxdb; regenerated at every start.
# Upstream spells the switch one way, Debian's build the other; each ignores the other key.
reporting-disabled = true
reporting-enabled = false
bind-address = {_toml_string(f"{self.bind}:{rpc_port}")}

[meta]
  dir = {_toml_string(str(state / "meta"))}
  logging-enabled = false

[data]
  dir = {_toml_string(str(state / "data"))}
  wal-dir = {_toml_string(str(state / "wal"))}
  query-log-enabled = false
  trace-logging-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  log-enabled = false

[http]
  enabled = true
  bind-address = {_toml_string(f"{self.bind}:{self.port}")}
  auth-enabled = {"true" if self.auth_enabled else "false"}
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""

    def start(self) -> None:
        """Start influxd and return once it answers /ping; InfluxServerError otherwise."""
        if self.running:
            return
        influxd = self._influxd or find_influxd()
        if influxd is None:
            raise InfluxServerError("influxd not found (Debian package 'influxdb')")
        try:
            ensure_free((self.bind, self.port), socket.SOCK_STREAM)
        except LabProcessError as exc:
            # Another influxd here would answer /ping in this one's place.
            raise InfluxServerError(str(exc)) from None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        rpc_port = self.rpc_port or free_tcp_port(self.bind)
        self.config_path.write_text(self.config_text(rpc_port))
        # Appended: the log of earlier starts on the same data tells what happened to it.
        self._spawn(
            [influxd, "-config", str(self.config_path)], self.log_path, self.state_dir, append=True
        )
        try:
            self._wait_for_ping()
            if self.auth_enabled:
                self._ensure_admin()
        except BaseException:
            self.stop()
            raise

    def _wait_for_ping(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self._process.poll() is not None:
                raise InfluxServerError(
                    f"influxd exited with status {self._process.returncode} before answering "
                    f"on {self.url}; log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                if self._http.get("/ping", timeout=1.0).status_code == 204:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise InfluxServerError(
                    f"influxd did not answer /ping on {self.url} within "
                    f"{self.start_timeout_s:g} s; log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def _ensure_admin(self) -> None:
        assert self.admin_user is not None
        assert self._admin_password is not None
        try:
            self.query("SHOW USERS")
            return  # created at an earlier start of the same state dir
        except InfluxServerError:
            pass
        statement = (
            f"CREATE USER {quote_identifier(self.admin_user)} WITH PASSWORD "
            f"{_influxql_string(self._admin_password.reveal())} WITH ALL PRIVILEGES"
        )
        # The first admin must be created without credentials: none exist yet.
        created = httpx.post(f"{self.url}/query", data={"q": statement}, timeout=30.0)
        if created.status_code != 200 or "error" in created.json().get("results", [{}])[0]:
            raise InfluxServerError(f"could not create the admin user (HTTP {created.status_code})")

    def close(self) -> None:
        self.stop()
        self._http.close()

    def query(self, influxql: str, db: str | None = None, *, epoch: str = "ns") -> dict[str, Any]:
        """Run InfluxQL over HTTP (POST, so that statements that change things are allowed).

        Returns InfluxDB's JSON answer; raises InfluxServerError when the request or any
        statement failed. Times come as integers in `epoch` units (nanoseconds by default).
        """
        form = {"q": influxql, "epoch": epoch}
        if db is not None:
            form["db"] = db
        response = self._http.post("/query", data=form)
        try:
            answer: dict[str, Any] = response.json()
        except ValueError:
            answer = {"error": response.text[:300]}
        errors = [answer["error"]] if "error" in answer else []
        errors += [r["error"] for r in answer.get("results", []) if "error" in r]
        if response.status_code != 200 or errors:
            raise InfluxServerError(
                f"query failed (HTTP {response.status_code}): {'; '.join(map(str, errors))}"
            )
        return answer

    def rows(self, influxql: str, db: str | None = None) -> list[dict[str, Any]]:
        """The result of one statement as rows: column → value, plus the series' tags."""
        rows: list[dict[str, Any]] = []
        for result in self.query(influxql, db)["results"]:
            for series in result.get("series", []):
                tags = series.get("tags", {})
                rows.extend(
                    {**tags, **dict(zip(series["columns"], values, strict=True))}
                    for values in series.get("values", [])
                )
        return rows

    def point_counts(self, db: str) -> dict[str, int]:
        """Points stored per measurement: the rows of SELECT * (one per series and time).

        Exact, for the durability checks ("every point the agent produced is stored, once");
        an answer InfluxDB truncated raises rather than undercounting.
        """
        counts: dict[str, int] = {}
        for row in self.rows("SHOW MEASUREMENTS", db):
            name = row["name"]
            # The name is quoted as an identifier: nothing in it can become InfluxQL.
            statement = "SELECT * FROM " + quote_identifier(name)  # noqa: S608
            result = self.query(statement, db)["results"][0]
            if result.get("partial"):
                raise InfluxServerError(f"InfluxDB truncated {statement!r}: no exact count")
            counts[name] = sum(len(series["values"]) for series in result.get("series", []))
        return counts

    def create_database(self, name: str) -> None:
        self.query(f"CREATE DATABASE {quote_identifier(name)}")

    def drop_database(self, name: str) -> None:
        self.query(f"DROP DATABASE {quote_identifier(name)}")
