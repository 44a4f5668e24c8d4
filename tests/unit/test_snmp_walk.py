"""Walk and GET logic against a narrow fake of the one I/O seam (`SnmpSession._send`).

The fake answers like an agent over a sorted MIB: GET, GETNEXT, GETBULK (truncated to a
message budget like snmpsim and Cisco IOS do, or refused with tooBig), SNMPv1 noSuchName, and
timeouts on demand. Real agents are the peers of the golden and integration tests.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from typing import Any

import pytest
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.proto import rfc1902, rfc1905

from agent.collector import CollectorContext, Target
from agent.results import Result
from agent.schema import base_schema
from collectors.snmp.collector import SnmpCollector
from collectors.snmp.config import SnmpConfig
from collectors.snmp.profiles import Oid, parse_oid
from collectors.snmp.session import Endpoint, Pacing, SnmpRequestError, SnmpSession, Tally

IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"


def _mib(interfaces: int, sys_object_id: str = "1.3.6.1.4.1.8072.3.2.10") -> dict[Oid, Any]:
    mib: dict[Oid, Any] = {
        parse_oid("1.3.6.1.2.1.1.2.0"): rfc1902.ObjectIdentifier(sys_object_id),
        parse_oid("1.3.6.1.2.1.1.3.0"): rfc1902.TimeTicks(1000),
        parse_oid("1.3.6.1.2.1.1.5.0"): rfc1902.OctetString(b"fake"),
    }
    for index in range(1, interfaces + 1):
        mib[parse_oid(f"{IF_DESCR}.{index}")] = rfc1902.OctetString(f"port{index}".encode())
        mib[parse_oid(f"{IF_OPER}.{index}")] = rfc1902.Integer32(1)
        mib[parse_oid(f"{IF_HC_IN}.{index}")] = rfc1902.Counter64(index * 1000)
    return mib


def _no_such_name(position: int) -> SnmpRequestError:
    return SnmpRequestError(Result.PROTOCOL_ERROR, "noSuchName", no_such_name=position)


class FakeAgent(SnmpSession):
    def __init__(self, mib: dict[Oid, Any], *, budget: int = 10_000, too_big_over: int = 0):
        super().__init__(65536)
        self.mib = mib
        self.order = sorted(mib)
        self.budget = budget  # varbinds per answer: more are cut off (RFC 3416 §4.2.3)
        self.too_big_over = too_big_over  # answer tooBig when more are asked (0: never)
        self.timeouts = 0  # the next N requests time out
        self.sent: list[tuple[str, int, int | None]] = []  # (kind, OIDs, max-repetitions)

    async def endpoint(self, *_: Any) -> Endpoint:
        return ENDPOINT_V2

    def _next(self, oid: Oid) -> tuple[Oid, Any]:
        position = bisect.bisect_right(self.order, oid)
        if position == len(self.order):
            return oid, rfc1905.endOfMibView
        return self.order[position], self.mib[self.order[position]]

    async def _send(
        self,
        endpoint: Endpoint,
        generator: Any,
        oids: Sequence[Oid],
        max_repetitions: int | None = None,
        tally: Tally | None = None,
    ) -> Sequence[tuple[Any, Any]]:
        kind = type(generator).__name__
        self.sent.append((kind, len(oids), max_repetitions))
        if tally is not None:
            tally.requests += 1
        await asyncio.sleep(0)
        if self.timeouts:
            self.timeouts -= 1
            raise SnmpRequestError(Result.TIMEOUT, "no response before timeout")
        v1 = endpoint.version == "1"
        if isinstance(generator, cmdgen.GetCommandGenerator):
            for position, oid in enumerate(oids, start=1):
                if v1 and oid not in self.mib:
                    raise SnmpRequestError(
                        Result.PROTOCOL_ERROR, "noSuchName", no_such_name=position
                    )
            return [(rfc1902.ObjectName(o), self.mib.get(o, rfc1905.noSuchObject)) for o in oids]
        rows = 1 if isinstance(generator, cmdgen.NextCommandGenerator) else max_repetitions or 1
        if self.too_big_over and len(oids) * rows > self.too_big_over:
            raise SnmpRequestError(Result.PROTOCOL_ERROR, "tooBig", too_big=True)
        answer = []
        cursors = list(oids)
        for _ in range(rows):
            for position, oid in enumerate(cursors):
                following, value = self._next(oid)
                if v1 and value is rfc1905.endOfMibView:
                    raise _no_such_name(position + 1)
                answer.append((rfc1902.ObjectName(following), value))
                cursors[position] = following
        return answer[: self.budget]


ENDPOINT_V2 = Endpoint(None, None, "2c", None)
ENDPOINT_V1 = Endpoint(None, None, "1", None)
COLUMNS = [parse_oid(IF_DESCR), parse_oid(IF_OPER), parse_oid(IF_HC_IN)]


def _walk(agent: FakeAgent, endpoint: Endpoint, pacing: Pacing) -> dict[Oid, dict[Oid, Any]]:
    walked, bad = asyncio.run(agent.walk(endpoint, COLUMNS, pacing))
    assert bad == 0
    return walked


def test_a_truncated_getbulk_answer_still_walks_every_row() -> None:
    agent = FakeAgent(_mib(40), budget=7)  # 2⅓ rows of three columns per answer
    pacing = Pacing(25)
    walked = _walk(agent, ENDPOINT_V2, pacing)
    assert [len(walked[c]) for c in COLUMNS] == [40, 40, 40]
    assert walked[COLUMNS[2]][(40,)] == 40_000
    # Learnt: the device fills 7 values per answer, so later requests ask for 3 rows, not 25
    # (an agent computes the rows it then cuts off).
    assert pacing.answer_size == 7 and pacing.max_repetitions == 25
    assert [reps for _, _, reps in agent.sent][:3] == [25, 3, 3]


def test_too_big_halves_the_rows_per_request_and_the_device_keeps_it() -> None:
    agent = FakeAgent(_mib(30), too_big_over=30)  # at most 10 rows of three columns
    pacing = Pacing(25)
    walked = _walk(agent, ENDPOINT_V2, pacing)
    assert len(walked[COLUMNS[0]]) == 30
    assert pacing.max_repetitions == 6 and pacing.reductions == 2  # 25 → 12 → 6
    asked = [reps for kind, _, reps in agent.sent]
    assert asked[:3] == [25, 12, 6]
    agent.sent.clear()
    _walk(agent, ENDPOINT_V2, pacing)
    assert {reps for _, _, reps in agent.sent} == {6}  # remembered: no tooBig this time


def test_a_timeout_mid_walk_halves_once_then_gives_up() -> None:
    agent = FakeAgent(_mib(5))
    agent.timeouts = 1
    pacing = Pacing(20)
    walked = _walk(agent, ENDPOINT_V2, pacing)
    assert len(walked[COLUMNS[1]]) == 5 and pacing.max_repetitions == 10
    agent.timeouts = 2
    with pytest.raises(SnmpRequestError) as caught:
        _walk(agent, ENDPOINT_V2, pacing)
    assert caught.value.result is Result.TIMEOUT
    assert pacing.max_repetitions == 5  # one halving per walk, not a slide to 1 on a dead device


def test_snmpv1_walks_with_getnext_and_survives_the_end_of_the_mib() -> None:
    # ifHCInOctets is last in this MIB: GETNEXT past it is noSuchName for the whole request.
    agent = FakeAgent(_mib(3))
    walked = _walk(agent, ENDPOINT_V1, Pacing(25))
    assert [len(walked[c]) for c in COLUMNS] == [3, 3, 3]
    assert {kind for kind, _, _ in agent.sent} == {"NextCommandGenerator"}


def test_snmpv1_get_drops_the_object_the_agent_lacks_and_keeps_the_rest() -> None:
    agent = FakeAgent(_mib(1))
    tally = Tally()
    missing = parse_oid("1.3.6.1.2.1.25.1.1.0")
    wanted = [parse_oid("1.3.6.1.2.1.1.3.0"), missing, parse_oid("1.3.6.1.2.1.1.5.0")]
    answer = asyncio.run(agent.get(ENDPOINT_V1, wanted, tally))
    assert set(answer) == {wanted[0], wanted[2]}
    assert tally.requests == 2 and tally.values == 2


def _target(version: str = "2c", **extra: Any) -> Target:
    config = SnmpConfig.model_validate(
        {"credential": {"name": "t", "version": version, "community": "c"}, **extra}
    )
    return Target("r1", "127.0.0.1", "snmp", config, {}, 60.0, 30.0, 0.0)


def _collector(agent: FakeAgent) -> SnmpCollector:
    collector = SnmpCollector(CollectorContext(base_schema()))
    collector.session = agent
    return collector


def test_label_columns_are_walked_again_only_when_due_or_for_a_new_row() -> None:
    agent = FakeAgent(_mib(4))
    collector = _collector(agent)
    target = _target(label_refresh_s=3600)
    first = asyncio.run(collector.collect(target))
    second = asyncio.run(collector.collect(target))
    interfaces = [s for s in second if s.measurement == "interface"]
    assert [s.tags["ifDescr"] for s in interfaces] == ["port1", "port2", "port3", "port4"]
    assert int(second[0].fields["values_polled"]) < int(first[0].fields["values_polled"])
    # A new interface appears: its labels are walked in the same poll.
    agent.mib.update(_mib(5))
    agent.order = sorted(agent.mib)
    third = asyncio.run(collector.collect(target))
    assert [s.tags.get("ifDescr") for s in third if s.measurement == "interface"][-1] == "port5"
    assert collector.stats.label_walks == 1  # the new row did not force a whole label walk


def test_a_changed_sys_object_id_chooses_the_profile_again() -> None:
    agent = FakeAgent(_mib(2))
    collector = _collector(agent)
    target = _target()
    asyncio.run(collector.collect(target))
    device = collector.device("r1")
    assert device is not None and device.profile is not None
    assert device.profile.name != "generic" or device.sys_object_id is not None
    agent.mib[parse_oid("1.3.6.1.2.1.1.2.0")] = rfc1902.ObjectIdentifier("1.3.6.1.4.1.424242")
    asyncio.run(collector.collect(target))
    assert device.profile is None  # forgotten: the next poll identifies the device again
    asyncio.run(collector.collect(target))
    assert device.profile is not None and device.profile.name == "generic"
    assert device.sys_object_id == parse_oid("1.3.6.1.4.1.424242")


def test_a_needed_32_bit_fallback_is_remembered_and_walked_with_the_rest() -> None:
    mib = {oid: value for oid, value in _mib(3).items() if oid[:-1] != parse_oid(IF_HC_IN)}
    for index in (1, 2, 3):
        mib[parse_oid(f"1.3.6.1.2.1.2.2.1.10.{index}")] = rfc1902.Counter32(index)
    agent = FakeAgent(mib)
    collector = _collector(agent)
    target = _target(label_refresh_s=3600)
    first = asyncio.run(collector.collect(target))
    device = collector.device("r1")
    assert device is not None and parse_oid("1.3.6.1.2.1.2.2.1.10") in device.fallbacks
    remembered = asyncio.run(collector.collect(target))
    device.fallbacks.clear()  # as if not known: the fallback needs a walk of its own again
    rediscovered = asyncio.run(collector.collect(target))
    for samples in (first, remembered, rediscovered):
        rows = [s for s in samples if s.measurement == "interface"]
        assert [s.fields["ifInOctets"] for s in rows] == [1, 2, 3]
    assert int(remembered[0].fields["requests"]) < int(rediscovered[0].fields["requests"])
