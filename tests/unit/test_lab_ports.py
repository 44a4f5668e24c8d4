"""A lab peer must refuse a port another process holds, rather than let that process answer."""

import socket

import pytest

from agent.lab.influxdb import InfluxServer, InfluxServerError
from agent.lab.process import LabProcessError, ensure_free
from tests.peers import require_binary


def test_a_taken_udp_port_is_refused_with_a_clear_message() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        endpoint = holder.getsockname()
        with pytest.raises(
            LabProcessError, match=rf"UDP 127\.0\.0\.1:{endpoint[1]} is already in use"
        ):
            ensure_free(endpoint)
    ensure_free(endpoint)  # free again once released


def test_influxd_does_not_start_behind_another_server(tmp_path: object) -> None:
    require_binary("influxd")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = InfluxServer(tmp_path, port)  # type: ignore[arg-type]
        with pytest.raises(InfluxServerError, match="already in use"):
            server.start()
        assert not server.running
