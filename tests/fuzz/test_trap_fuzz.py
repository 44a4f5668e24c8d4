"""Fuzzing the trap receiver's datagram path with hypothesis.

Random bytes, and real traps and informs of every version (as net-snmp's snmptrap and
snmpinform send them) with bytes flipped, inserted, deleted, duplicated or cut, up to a few
KiB, fed to `TrapReceiver.datagram_received` of a started receiver:

- no exception escapes, neither from the call nor into the event loop (pysnmp sends its
  answers from there);
- every datagram is counted exactly once, as received, malformed, refused or discovery;
- every sample made conforms to the schema (a forged trap cannot create a field of the
  wrong type);
- memory stays bounded: a peak bound per datagram over the run, and no growth from one batch
  of the same datagrams to the next;
- no example is slow (hypothesis deadline) and the number of examples is fixed.

Reproducible: ``derandomize=True``, no example database.
"""

from __future__ import annotations

import asyncio
import gc
import random
import socket
import subprocess
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.lab.process import free_udp_port
from agent.samples import Sample
from agent.schema import SchemaRegistry
from collectors.snmp.config import CommunityCredential, UsmCredential
from collectors.traps import TRAP_MEASUREMENTS, TrapReceiver, TrapStats
from tests.peers import require_binary

pytestmark = pytest.mark.snmpd  # the seeds are net-snmp's own datagrams

RECEIVER = "127.9.4.1"
SENDER = ("127.9.4.13", 40162)  # answers (Reports, inform acknowledgements) go nowhere
COMMUNITY = "fuzz-Community"
USER = ("fuzzer", "SHA-256", "fuzz-auth-Pass", "AES", "fuzz-priv-Pass")
ENGINE = "0x80001f8880cc0000000000000d"
CREDENTIALS: list[CommunityCredential | UsmCredential] = [
    CommunityCredential(name="fuzz_v2c", version="2c", community=COMMUNITY),
    UsmCredential(
        name="fuzz_v3",
        version="3",
        user=USER[0],
        auth_protocol="sha256",
        auth_password=USER[2],
        priv_protocol="aes128",
        priv_password=USER[4],
    ),
]
MAX_DATAGRAM = 4096
EXAMPLES = 600
#: A datagram is at most a few KiB here; decoded into pyasn1 objects it costs far less than
#: this. Honouring a forged 4 GiB BER length would blow through it.
PEAK_BYTES = 16 * 2**20
#: A second batch of the same datagrams may leave a little behind (interned objects, free
#: lists) but nothing per datagram: 300 datagrams leaking even 1 KiB each would show.
GROWTH_BYTES = 256 * 2**10

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF = "1.3.6.1.2.1.2.2.1"


def _caught(tool: str, options: list[str], trap: list[str]) -> bytes:
    """The first datagram `tool` sends (an inform is not answered: the first is enough)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as catcher:
        catcher.bind(("127.9.4.2", 0))
        catcher.settimeout(10)
        target = "{}:{}".format(*catcher.getsockname())
        command = [require_binary(tool), *options, target, *trap]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return catcher.recv(65536)
        finally:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    v2c = ["-v2c", "-c", COMMUNITY]
    v3 = ["-v3", "-u", USER[0], "-l", "authPriv", "-a", USER[1], "-A", USER[2], "-x", USER[3]]
    v3 += ["-X", USER[4]]
    link = ["", LINK_DOWN, f"{IF}.1.2", "i", "2", f"{IF}.7.2", "i", "1", f"{IF}.8.2", "i", "2"]
    v1 = ["1.3.6.1.4.1.8072", "127.9.4.13", "2", "0", "", f"{IF}.1.2", "i", "2"]
    return [
        _caught("snmptrap", ["-v1", "-c", COMMUNITY], v1),
        _caught("snmptrap", v2c, link),
        _caught("snmpinform", v2c, ["", "1.3.6.1.6.3.1.1.5.1"]),
        _caught("snmptrap", [*v3, "-e", ENGINE], link),
        _caught("snmpinform", v3, ["", "1.3.6.1.6.3.1.1.5.2"]),  # its discovery probe
    ]


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    receiver: TrapReceiver
    schema: SchemaRegistry
    samples: list[Sample] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)

    def feed(self, datagram: bytes) -> None:
        before = self.receiver.stats.datagrams
        self.receiver.datagram_received(datagram, SENDER)
        self.loop.run_until_complete(asyncio.sleep(0))  # pysnmp's sends and timers run
        stats = self.receiver.stats
        assert stats.datagrams == before + 1
        assert counted(stats) == stats.datagrams, stats
        for sample in self.samples:
            assert self.schema.problems(sample) == [], sample
        self.samples.clear()


def counted(stats: TrapStats) -> int:
    return stats.received + stats.malformed + stats.refused_total + stats.discovery


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    schema = SchemaRegistry()
    for measurement in TRAP_MEASUREMENTS:
        schema.declare(measurement)
    receiver = TrapReceiver(
        (RECEIVER, free_udp_port(RECEIVER)), CREDENTIALS, {SENDER[0]: "fuzzed-host"}
    )
    state = Harness(loop, receiver, schema)

    def escaped(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        state.escaped.append(str(context.get("exception") or context.get("message")))

    loop.set_exception_handler(escaped)
    loop.run_until_complete(receiver.start(state.samples.extend))
    yield state
    loop.run_until_complete(receiver.stop())
    loop.close()
    assert state.escaped == []


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        if kind == "flip" and position < len(data):
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[position:]
        elif kind == "duplicate":
            size = draw(st.integers(1, 512))
            data[position:position] = data[position : position + size] * draw(st.integers(1, 8))
    return bytes(data[:MAX_DATAGRAM])


def datagrams(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=MAX_DATAGRAM),
        mutated(seeds),
        st.sampled_from(seeds),  # the honest ones too: the path must still work
    )


def test_the_honest_seeds_are_taken(harness: Harness, seeds: list[bytes]) -> None:
    before = harness.receiver.stats
    received, discovery = before.received, before.discovery
    for datagram in seeds:
        harness.feed(datagram)
    assert harness.receiver.stats.received == received + 4  # v1, v2c, inform, v3 trap
    assert harness.receiver.stats.discovery == discovery + 1  # the v3 inform's first step


def test_no_datagram_escapes_uncounted_or_unbounded(harness: Harness, seeds: list[bytes]) -> None:
    peaks: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=timedelta(seconds=2),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def feed_one(data: st.DataObject) -> None:
        datagram = data.draw(datagrams(seeds))
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        harness.feed(datagram)
        peaks.append(tracemalloc.get_traced_memory()[1] - current)

    tracemalloc.start()
    try:
        feed_one()
    finally:
        tracemalloc.stop()
    stats = harness.receiver.stats
    assert max(peaks) < PEAK_BYTES, max(peaks)
    assert counted(stats) == stats.datagrams
    assert stats.malformed > 0 and stats.received > 0  # the fuzzing reached both ends
    assert harness.escaped == []


def test_memory_does_not_grow_from_batch_to_batch(harness: Harness, seeds: list[bytes]) -> None:
    rng = random.Random(162)
    batch = [rng.randbytes(rng.randrange(MAX_DATAGRAM)) for _ in range(100)]
    for _ in range(200):  # seeds with a few bytes flipped, most of them short of the end
        flipped = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            flipped[rng.randrange(len(flipped))] ^= rng.randrange(1, 256)
        batch.append(bytes(flipped[: rng.randrange(len(flipped) + 1)]))
    for datagram in batch:  # warm-up: caches, interned names, log-once keys
        harness.feed(datagram)
    gc.collect()
    tracemalloc.start()
    try:
        for datagram in batch:
            harness.feed(datagram)
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        for datagram in batch:
            harness.feed(datagram)
        gc.collect()
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert second - first < GROWTH_BYTES, second - first
