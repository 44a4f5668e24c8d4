"""ICMP echo against the kernel's own replies on loopback: both socket kinds, streams, polls."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

from agent.collector import CollectorContext, Target
from agent.schema import base_schema
from collectors.icmp import PingCollector
from collectors.icmp.collector import PingConfig
from collectors.icmp.engine import EchoEngine, IcmpUnavailableError, open_icmp_socket
from collectors.icmp.stats import summarize
from collectors.icmp.stream import EchoStream, burst
from tests.peers import missing_peer


def _raw_engine() -> EchoEngine:
    try:
        open_icmp_socket("raw")[0].close()
    except IcmpUnavailableError as exc:
        missing_peer(f"a raw ICMP socket (CAP_NET_RAW): {exc.strerror}")
    return EchoEngine("raw")


def test_loopback_answers_every_request() -> None:
    async def run() -> None:
        engine = _raw_engine()
        try:
            stats = summarize(await burst(engine, "127.9.0.1", 20, 0.01, 1.0))
        finally:
            engine.close()
        assert (stats.transmitted, stats.received, stats.loss_pct) == (20, 20, 0.0)
        assert stats.min_ms is not None and stats.max_ms is not None
        assert 0.0 < stats.min_ms <= stats.max_ms
        assert engine.stats.strays == 0  # our own requests, seen by the raw socket, are no replies

    asyncio.run(run())


def test_two_engines_never_take_each_others_replies() -> None:
    # Raw sockets see every reply on the host: identifier and cookie keep them apart.
    async def run() -> None:
        first, second = _raw_engine(), _raw_engine()
        try:
            a, b = await asyncio.gather(
                burst(first, "127.9.0.2", 30, 0.005, 1.0),
                burst(second, "127.9.0.2", 30, 0.005, 1.0),
            )
        finally:
            first.close()
            second.close()
        assert summarize(a).received == 30 and summarize(b).received == 30
        assert first.stats.replies == 30 and second.stats.replies == 30
        # The kernel filter keeps each engine's replies to itself (identifiers differ).
        assert first.filtered and second.filtered
        assert first.stats.strays == 0 and second.stats.strays == 0

    asyncio.run(run())


def test_a_stream_counts_each_request_once_across_polls() -> None:
    async def run() -> None:
        engine = _raw_engine()
        stream = EchoStream(engine, "127.9.0.3", 0.05, 1.0, idle_limit_s=10.0)
        stream.start()
        taken = []
        try:
            for _ in range(4):
                await asyncio.sleep(0.23)
                taken.extend(stream.take())
        finally:
            stream.stop()
        await asyncio.sleep(0.2)  # the last request's reply
        taken.extend(stream.take())
        engine.close()
        assert len(taken) == engine.stats.sent  # none lost, none twice at a poll boundary
        assert len({o.sent_ns for o in taken}) == len(taken)
        assert all(o.rtt_s is not None for o in taken)

    asyncio.run(run())


def test_the_ping_check_reports_and_judges_a_poll() -> None:
    async def run() -> None:
        _raw_engine().close()
        collector = PingCollector(CollectorContext(schema=base_schema(), icmp_mode="raw"))
        target = Target("x-test", "127.9.0.4", "ping", PingConfig(count=10), interval_s=1.0)
        try:
            first = await collector.collect(target)
            await asyncio.sleep(1.05)
            second = await collector.collect(target)
        finally:
            await collector.close()
        for samples in (first, second):
            (sample,) = samples
            assert sample.measurement == "ping" and sample.tags["result"] == "success"
            assert base_schema().problems(sample) == []
        assert int(first[0].fields["packets_transmitted"]) >= 1
        # The second poll holds the requests of one interval (10 per second), give or take
        # the one in flight at each boundary.
        assert 8 <= int(second[0].fields["packets_transmitted"]) <= 12
        assessment = collector.assess(target, second)
        assert assessment.up and assessment.problems == ()

    asyncio.run(run())


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _in_namespace(ping_group_range: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python `code` in a network namespace of our own with its own ping_group_range
    (the sysctl is per network namespace: the host's setting is not touched)."""
    if os.geteuid() != 0:
        missing_peer("root, to make a network namespace")
    name = f"nmt-icmp-{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        return subprocess.run(
            [
                "ip", "netns", "exec", name, "sh", "-c",
                "ip link set lo up && "
                f'sysctl -q -w net.ipv4.ping_group_range="{ping_group_range}" '
                f'&& exec "{sys.executable}" -c "$0"',
                textwrap.dedent(code),
            ],
            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        )  # fmt: skip
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_no_icmp_permission_is_a_clear_error() -> None:
    # A child without CAP_NET_RAW, in a namespace whose ping_group_range admits no group:
    # the error says how to fix it.
    done = _in_namespace(
        "1 0",
        """
        import os, sys
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        from collectors.icmp.engine import open_icmp_socket, IcmpUnavailableError
        try:
            open_icmp_socket("auto")
        except IcmpUnavailableError as exc:
            print(exc.strerror)
            sys.exit(0)
        sys.exit(1)
        """,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ping_group_range" in done.stdout and "CAP_NET_RAW" in done.stdout


def test_a_dgram_socket_where_ping_group_range_allows_it() -> None:
    done = _in_namespace(
        "0 2147483647",
        """
        import asyncio
        from collectors.icmp.engine import EchoEngine
        from collectors.icmp.stream import burst
        from collectors.icmp.stats import summarize
        async def main():
            engine = EchoEngine("dgram")
            stats = summarize(await burst(engine, "127.0.0.1", 10, 0.01, 1.0))
            print(engine.kind, stats.transmitted, stats.received)
            engine.close()
        asyncio.run(main())
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["dgram", "10", "10"]
