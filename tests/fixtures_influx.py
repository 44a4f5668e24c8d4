"""pytest fixtures for a real InfluxDB 1.x (Debian's influxd) started by the tests themselves.

Import them into a test module (``from tests.fixtures_influx import influx_server, influx_db``);
a missing influxd skips those tests locally and fails them under CI=true (tests.peers).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from agent.lab.influxdb import InfluxServer
from agent.lab.process import free_tcp_port
from agent.secret import Secret
from tests.peers import require_binary

#: The admin password of `influx_auth_server`: random per run, so a leak test cannot pass by
#: luck of a fixed string that nothing would print anyway.
ADMIN_USER = "netmon_admin"


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One influxd for the whole session, authentication off, on a free loopback port."""
    influxd = require_binary("influxd")
    state_dir = tmp_path_factory.mktemp("influxd")
    with InfluxServer(state_dir, free_tcp_port(), influxd=influxd) as server:
        yield server


@pytest.fixture
def influx_db(influx_server: InfluxServer) -> Iterator[str]:
    """A fresh, empty database on `influx_server`, dropped afterwards."""
    name = f"test_{secrets.token_hex(6)}"
    influx_server.create_database(name)
    yield name
    influx_server.drop_database(name)


@pytest.fixture(scope="session")
def influx_auth_password() -> Secret:
    return Secret("Pw-" + secrets.token_urlsafe(18))


@pytest.fixture(scope="session")
def influx_auth_server(
    tmp_path_factory: pytest.TempPathFactory, influx_auth_password: Secret
) -> Iterator[InfluxServer]:
    """A second influxd with authentication on and an admin user `ADMIN_USER`."""
    influxd = require_binary("influxd")
    state_dir = tmp_path_factory.mktemp("influxd-auth")
    with InfluxServer(
        state_dir,
        free_tcp_port(),
        influxd=influxd,
        admin_user=ADMIN_USER,
        admin_password=influx_auth_password,
    ) as server:
        yield server
