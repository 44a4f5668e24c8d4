"""Videoconference readiness against real listeners on loopback: the check and the table."""

from __future__ import annotations

import asyncio
import socket

from agent.availability import State
from agent.collector import CollectorContext, Target
from agent.inventory.model import Host, HostSettings
from agent.readiness import EXIT_DOWN, check_all, exit_code, render_table
from agent.schema import base_schema
from collectors.icmp.engine import IcmpUnavailableError, open_icmp_socket
from collectors.vc.collector import VideoconferenceCollector
from collectors.vc.config import VcConfig
from tests.peers import missing_peer

READY, SILENT = "127.79.0.1", "127.79.0.2"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((READY, 0))
        return int(sock.getsockname()[1])


def _point(name: str, address: str, config: VcConfig) -> tuple[Host, Target]:
    settings = HostSettings.model_validate(
        {"netmon_site": name.upper(), "netmon_level": "commune", "netmon_checks": ["vc"]}
    )
    host = Host(name, address, ("vc_endpoints",), settings, {"vc": config})
    return host, host.targets()[0]


def _require_icmp() -> None:
    try:
        open_icmp_socket("auto")[0].close()
    except IcmpUnavailableError as exc:
        missing_peer(f"an ICMP socket: {exc.strerror}")


def test_readiness_finds_the_point_whose_signalling_port_is_closed() -> None:
    _require_icmp()
    port = _free_port()
    config = VcConfig(signalling="h323", port=port, signalling_timeout_s=2.0)
    points = [_point("vc-ready", READY, config), _point("vc-silent", SILENT, config)]

    async def run() -> list:  # type: ignore[type-arg]
        server = await asyncio.start_server(lambda r, w: w.close(), READY, port)
        try:
            context = CollectorContext(schema=base_schema())
            return await check_all(points, context, count=5, spacing_s=0.02, concurrency=4)
        finally:
            server.close()

    rows = {row.host.name: row for row in asyncio.run(run())}
    assert rows["vc-ready"].state is State.OK
    assert rows["vc-ready"].path.received == 5
    silent = rows["vc-silent"]
    assert silent.state is State.DOWN and silent.path.received == 5  # reachable, but no port
    assert [p.lower() for p in silent.assessment.problems] == ["h.323 port: connection refused"]
    table = render_table(list(rows.values()))
    assert "== commune: 1 of 2 ready ==" in table
    assert "h.323 port: connection refused" in table.lower()
    assert exit_code(list(rows.values())) == EXIT_DOWN


def test_a_poll_writes_path_and_signalling_and_is_judged() -> None:
    _require_icmp()
    port = _free_port()
    config = VcConfig(signalling="h323", port=port, count=10, max_rtt_ms=150.0)
    _host, target = _point("vc-ready", READY, config)

    async def run() -> list:  # type: ignore[type-arg]
        server = await asyncio.start_server(lambda r, w: w.close(), READY, port)
        collector = VideoconferenceCollector(CollectorContext(schema=base_schema()))
        try:
            return await collector.collect(target)
        finally:
            await collector.close()
            server.close()

    samples = asyncio.run(run())
    assert [s.measurement for s in samples] == ["ping", "net_response"]
    assert all(base_schema().problems(s) == [] for s in samples)
    assert samples[1].tags["result"] == "success" and samples[1].tags["port"] == str(port)
    collector = VideoconferenceCollector(CollectorContext(schema=base_schema()))
    assessment = collector.assess(target, samples)
    assert assessment.up and assessment.problems == ()
    # The same evidence judged against a stricter path threshold is degraded, not down.
    strict = Target(
        target.host, target.address, "vc", config.model_copy(update={"max_rtt_ms": 1e-6})
    )
    judged = collector.assess(strict, samples)
    assert judged.up and judged.problems[0].startswith("RTT")
