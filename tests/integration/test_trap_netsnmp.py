"""The trap receiver against net-snmp's own senders: ``snmptrap`` and ``snmpinform``.

Senders are placed on 127.9.4.x with ``--clientaddr`` so that each is a different inventory
host; the receiver listens on 127.9.4.1. Waits are bounded, never measured.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.lab.process import free_udp_port
from agent.samples import Sample
from collectors.snmp.config import CommunityCredential, UsmCredential
from collectors.traps import Refusal, TrapListenError, TrapReceiver, TrapStats
from tests.peers import require_binary

pytestmark = pytest.mark.snmpd

RECEIVER = "127.9.4.1"
SENDERS = {"127.9.4.11": "cpe-11", "127.9.4.12": "cpe-12", "127.9.4.13": "dc-fw"}
COMMUNITY = "tr4p-2c-Community"
V1_COMMUNITY = "tr4p-v1-Community"
ALICE = ("alice", "SHA-256", "alice-auth-Pass", "AES", "alice-priv-Pass")
BOB = ("bob", "SHA-512", "bob-auth-Pass1", "AES256C", "bob-priv-Pass1")
SECRETS = (COMMUNITY, V1_COMMUNITY, ALICE[2], ALICE[4], BOB[2], BOB[4])
ENGINE_1, ENGINE_2 = "0x80001f8880aa0000000000000b", "0x80001f8880bb0000000000000c"
LINK_DOWN, LINK_UP, COLD_START = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.6.3.1.1.5.1"
IF = "1.3.6.1.2.1.2.2.1"
BOUND_S = 15.0

CREDENTIALS: list[CommunityCredential | UsmCredential] = [
    CommunityCredential(name="lab_v2c", version="2c", community=COMMUNITY),
    CommunityCredential(name="old_v1", version="1", community=V1_COMMUNITY),
    UsmCredential(
        name="core_v3",
        version="3",
        user="alice",
        auth_protocol="sha256",
        auth_password=ALICE[2],
        priv_protocol="aes128",
        priv_password=ALICE[4],
    ),
    UsmCredential(
        name="dc_v3",
        version="3",
        user="bob",
        auth_protocol="sha512",
        auth_password=BOB[2],
        priv_protocol="aes256",  # net-snmp's AES256C (the Reeder key extension)
        priv_password=BOB[4],
    ),
]
LABELS = {("cpe-12", "7"): {"sysName": "cpe12", "ifName": "ether7", "ifDescr": "ether7 port"}}


def counted(stats: TrapStats) -> int:
    return stats.received + stats.malformed + stats.refused_total + stats.discovery


@dataclass
class Harness:
    receiver: TrapReceiver
    samples: list[Sample] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return "{}:{}".format(*self.receiver.address)

    def rows(self, measurement: str = "snmp_trap") -> list[Sample]:
        return [s for s in self.samples if s.measurement == measurement]

    async def until(self, ready: Callable[[], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BOUND_S
        while not ready():
            if loop.time() > deadline:
                pytest.fail(f"not within {BOUND_S} s: {what}; stats {self.receiver.stats}")
            await asyncio.sleep(0.01)

    async def run(self, *argv: str) -> int:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        await asyncio.wait_for(process.communicate(), BOUND_S)
        assert process.returncode is not None
        return process.returncode

    async def trap(self, sender: str, *args: str, tool: str = "snmptrap") -> int:
        return await self.run(require_binary(tool), f"--clientaddr={sender}", *args)

    async def v2c(self, sender: str, trap_oid: str, *var_binds: str, inform: bool = False) -> int:
        tool = "snmpinform" if inform else "snmptrap"
        return await self.trap(
            sender, "-v2c", "-c", COMMUNITY, *self._timeouts(inform), self.target, "",
            trap_oid, *var_binds, tool=tool,
        )  # fmt: skip

    async def v3(
        self,
        sender: str,
        user: tuple[str, str, str, str, str],
        trap_oid: str,
        *var_binds: str,
        engine: str | None = None,
        level: str = "authPriv",
    ) -> int:
        name, auth, auth_key, priv, priv_key = user
        security = ["-u", name, "-l", level]
        if level != "noAuthNoPriv":
            security += ["-a", auth, "-A", auth_key]
        if level == "authPriv":
            security += ["-x", priv, "-X", priv_key]
        inform = engine is None
        where = [] if engine is None else ["-e", engine]
        return await self.trap(
            sender, "-v3", *where, *security, *self._timeouts(inform), self.target, "",
            trap_oid, *var_binds, tool="snmpinform" if inform else "snmptrap",
        )  # fmt: skip

    @staticmethod
    def _timeouts(inform: bool) -> list[str]:
        return ["-t", "3", "-r", "1"] if inform else []


def with_receiver(
    scenario: Callable[[Harness], Awaitable[None]],
    *,
    interface_tags: Callable[[str, str], Mapping[str, str]] | None = None,
) -> Harness:
    require_binary("snmptrap")
    require_binary("snmpinform")

    async def main() -> Harness:
        harness: Harness
        receiver = TrapReceiver(
            (RECEIVER, free_udp_port(RECEIVER)),
            CREDENTIALS,
            SENDERS,
            interface_tags=interface_tags or (lambda host, index: LABELS.get((host, index), {})),
            on_restart=lambda host: harness.restarts.append(host),
        )
        harness = Harness(receiver)
        await receiver.start(harness.samples.extend)
        try:
            await scenario(harness)
        finally:
            await receiver.stop()
        return harness

    harness = asyncio.run(main())
    assert counted(harness.receiver.stats) == harness.receiver.stats.datagrams
    return harness


def test_a_v1_trap_is_named_by_its_agent_address_and_sets_the_interface_down() -> None:
    async def scenario(h: Harness) -> None:
        # Sent from an address no host has, on behalf of cpe-11 (agent-addr): a v1 proxy.
        rc = await h.trap(
            "127.9.4.99", "-v1", "-c", V1_COMMUNITY, h.target, "1.3.6.1.4.1.14988",
            "127.9.4.11", "2", "0", "", f"{IF}.1.3", "i", "3",
        )  # fmt: skip
        assert rc == 0
        await h.until(lambda: len(h.samples) == 2, "the v1 linkDown and its interface row")

    h = with_receiver(scenario)
    trap, link = h.rows()[0], h.rows("interface")[0]
    assert trap.tags == {"source": "cpe-11", "trap": "linkDown", "version": "1"}
    assert trap.fields["trap_oid"] == LINK_DOWN
    assert trap.fields["ifIndex"] == 3
    assert trap.fields["received"] == 1
    assert isinstance(trap.fields["sysUpTime"], int)
    assert '"1.3.6.1.6.3.18.1.3.0":"127.9.4.11"' in str(trap.fields["varbinds"])
    assert link.tags == {"source": "cpe-11", "ifIndex": "3"}
    assert link.fields == {"ifOperStatus": 2}  # linkDown without ifOperStatus: down
    assert h.receiver.stats.unknown_senders == 0


def test_v2c_trap_and_inform_arrive_and_the_inform_is_acknowledged() -> None:
    async def scenario(h: Harness) -> None:
        rc = await h.v2c(
            "127.9.4.12", LINK_DOWN, f"{IF}.1.7", "i", "7", f"{IF}.7.7", "i", "1",
            f"{IF}.8.7", "i", "2",
        )  # fmt: skip
        assert rc == 0
        await h.until(lambda: len(h.rows()) == 1, "the v2c linkDown")
        assert await h.v2c("127.9.4.13", COLD_START, inform=True) == 0  # acknowledged
        await h.until(lambda: len(h.rows()) == 2, "the v2c inform")

    h = with_receiver(scenario)
    down, cold = h.rows()
    assert down.tags == {"source": "cpe-12", "trap": "linkDown", "version": "2c"}
    assert {k: down.fields[k] for k in ("ifIndex", "ifAdminStatus", "ifOperStatus")} == {
        "ifIndex": 7,
        "ifAdminStatus": 1,
        "ifOperStatus": 2,
    }
    (link,) = h.rows("interface")
    assert link.tags == {
        "source": "cpe-12",
        "ifIndex": "7",
        "sysName": "cpe12",
        "ifName": "ether7",
        "ifDescr": "ether7 port",
    }
    assert link.fields == {"ifOperStatus": 2, "ifAdminStatus": 1}
    assert cold.tags == {"source": "dc-fw", "trap": "coldStart", "version": "2c"}
    assert h.restarts == ["dc-fw"]  # the counter guard hears of the restart


def test_v3_traps_and_informs_from_two_engines_and_two_users() -> None:
    async def scenario(h: Harness) -> None:
        assert await h.v3("127.9.4.11", ALICE, LINK_UP, f"{IF}.1.2", "i", "2", engine=ENGINE_1) == 0
        await h.until(lambda: len(h.rows()) == 1, "alice's trap from engine 1")
        assert await h.v3("127.9.4.12", BOB, LINK_DOWN, f"{IF}.1.7", "i", "7", engine=ENGINE_2) == 0
        await h.until(lambda: len(h.rows()) == 2, "bob's trap from engine 2")
        assert await h.v3("127.9.4.11", ALICE, COLD_START, engine=ENGINE_1) == 0  # known now
        await h.until(lambda: len(h.rows()) == 3, "alice's second trap")
        assert await h.v3("127.9.4.11", ALICE, "1.3.6.1.6.3.1.1.5.2") == 0  # informs
        assert await h.v3("127.9.4.12", BOB, "1.3.6.1.4.1.99999.0.1") == 0
        await h.until(lambda: len(h.rows()) == 5, "both informs")

    h = with_receiver(scenario)
    tags = [(s.tags["source"], s.tags["trap"], s.tags["version"]) for s in h.rows()]
    assert tags == [
        ("cpe-11", "linkUp", "3"),
        ("cpe-12", "linkDown", "3"),
        ("cpe-11", "coldStart", "3"),
        ("cpe-11", "warmStart", "3"),
        ("cpe-12", "1.3.6.1.4.1.99999.0.1", "3"),
    ]
    assert [s.fields["ifOperStatus"] for s in h.rows("interface")] == [1, 2]
    assert h.restarts == ["cpe-11", "cpe-11"]
    stats = h.receiver.stats
    assert stats.engines_learned == 2  # each engine once, from its first authenticated trap
    assert stats.discovery == 2  # each inform began with an engine-ID discovery probe
    assert stats.refused_total == stats.malformed == 0


def test_refused_traps_are_counted_by_kind_and_the_next_good_one_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong_auth = (BOB[0], BOB[1], "not-bobs-Pass", BOB[3], BOB[4])
    carol = ("carol", "SHA", "carol-auth-Pass", "AES", "carol-priv-Pass")

    async def scenario(h: Harness) -> None:
        sender = "127.9.4.13"
        await h.trap(sender, "-v2c", "-c", "public", h.target, "", LINK_UP)
        await h.v3(sender, wrong_auth, LINK_UP, engine=ENGINE_2)
        await h.v3(sender, carol, LINK_UP, engine=ENGINE_2)
        await h.v3(sender, ALICE, LINK_UP, engine=ENGINE_1, level="noAuthNoPriv")
        await h.v3(sender, ALICE, LINK_UP, engine=ENGINE_1, level="authNoPriv")
        await h.until(lambda: h.receiver.stats.refused_total == 5, "five refusals")
        assert await h.v2c(sender, LINK_UP) == 0
        await h.until(lambda: len(h.rows()) == 1, "the good trap after the refused ones")

    with caplog.at_level(logging.DEBUG):
        h = with_receiver(scenario)
    assert h.receiver.stats.refused == {
        Refusal.UNKNOWN_COMMUNITY: 1,
        Refusal.AUTH_FAILURE: 1,
        Refusal.UNKNOWN_USER: 1,
        Refusal.SECURITY_LEVEL: 2,
    }
    assert h.receiver.stats.engines_learned == 0  # no forged engine ID is kept
    assert h.rows()[0].tags["source"] == "dc-fw"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("127.9.4.13: trap refused: security level" in w for w in warnings) == 1  # once


def real_trap_bytes(*argv: str) -> bytes:
    """The datagram net-snmp sends for `argv`, caught on a plain socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as catcher:
        catcher.bind(("127.9.4.2", 0))
        catcher.settimeout(BOUND_S)
        host, port = catcher.getsockname()
        args = [require_binary("snmptrap"), *argv[:-2], f"{host}:{port}", *argv[-2:]]
        subprocess.run(args, check=True, capture_output=True, timeout=BOUND_S)
        return catcher.recv(65536)


def test_garbage_and_truncated_traps_are_counted_and_the_receiver_goes_on() -> None:
    v2c_trap = real_trap_bytes("-v2c", "-c", COMMUNITY, "", LINK_DOWN)
    v3_trap = real_trap_bytes(
        "-v3", "-e", ENGINE_1, "-u", "alice", "-l", "authPriv", "-a", ALICE[1], "-A", ALICE[2],
        "-x", ALICE[3], "-X", ALICE[4], "", LINK_DOWN,
    )  # fmt: skip
    broken = [
        b"",
        b"\x00garbage that is no BER at all",
        b"\x30\x84\xff\xff\xff\xff\x02\x01\x01",  # a 4 GiB SEQUENCE length
        v2c_trap[: len(v2c_trap) // 2],
        v2c_trap[:-1],
        v3_trap[: len(v3_trap) - 7],
        v3_trap[:40],
    ]

    async def scenario(h: Harness) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.bind(("127.9.4.13", 0))
            for datagram in broken:
                sender.sendto(datagram, h.receiver.address)
                await asyncio.sleep(0)
            await h.until(
                lambda: h.receiver.stats.datagrams == len(broken), "every broken datagram"
            )
            sender.sendto(v2c_trap, h.receiver.address)  # the real one, whole
            await h.until(lambda: len(h.rows()) == 1, "the good trap after the garbage")

    h = with_receiver(scenario)
    stats = h.receiver.stats
    assert (stats.malformed, stats.refused_total) == (len(broken), 0)
    assert h.rows()[0].tags == {"source": "dc-fw", "trap": "linkDown", "version": "2c"}


def test_a_trap_from_an_unknown_address_is_tagged_with_the_address() -> None:
    async def scenario(h: Harness) -> None:
        assert await h.v2c("127.9.4.77", COLD_START) == 0
        await h.until(lambda: len(h.rows()) == 1, "the trap of the unknown sender")

    h = with_receiver(scenario)
    assert h.rows()[0].tags["source"] == "127.9.4.77"
    assert h.receiver.stats.unknown_senders == 1
    assert h.restarts == []  # only inventory hosts have counters to guard


def test_no_community_or_key_appears_in_samples_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(h: Harness) -> None:
        await h.trap(
            "127.9.4.11", "-v1", "-c", V1_COMMUNITY, h.target, "1.3.6.1.4.1.14988", "127.9.4.11",
            "3", "0", "",
        )  # fmt: skip
        await h.v2c("127.9.4.12", LINK_DOWN, "1.3.6.1.4.1.99.1", "s", "hello")
        await h.trap("127.9.4.12", "-v2c", "-c", COMMUNITY + "x", h.target, "", LINK_UP)
        await h.v3("127.9.4.13", BOB, LINK_UP, engine=ENGINE_2)
        await h.v3("127.9.4.13", ALICE, COLD_START)
        await h.until(lambda: len(h.rows()) == 4, "four traps")

    with caplog.at_level(logging.DEBUG):
        h = with_receiver(scenario)
    text = "\n".join([repr(h.samples), caplog.text, repr(h.receiver.stats)])
    for secret in SECRETS:
        assert secret not in text


def test_a_taken_address_is_a_clear_error_naming_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((RECEIVER, 0))
        port = holder.getsockname()[1]
        receiver = TrapReceiver((RECEIVER, port), CREDENTIALS, SENDERS)

        async def start() -> Any:
            await receiver.start(lambda samples: None)

        with pytest.raises(TrapListenError, match=rf"UDP {RECEIVER}:{port}: .*in use"):
            asyncio.run(start())
