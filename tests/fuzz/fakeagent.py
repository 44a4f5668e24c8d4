"""A fake SNMP agent on loopback UDP that answers each request as a test plan says.

For every request datagram it decodes just enough (version, community, request-id, PDU
type, OIDs, max-repetitions), builds a valid answer with pysnmp's message API, and then
sends what the current :class:`Reply` asks for: the valid answer, a mutated copy, random
bytes, several datagrams, or nothing. Only SNMPv1 and v2c are spoken.

A plan is a tuple of replies used in turn, one per request (a walk makes several requests),
so a walk can meet garbage at any step. Mutations work on a small BER tree of the valid
answer, so a tampered length or a deep nesting lies exactly where it is meant to while the
rest of the message stays well formed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api, rfc1905
from pysnmp.proto.api import v1, v2c

Oid = tuple[int, ...]

# --- what a valid answer carries -----------------------------------------------------------

ValueKind = Literal[
    "integer",
    "counter32",
    "gauge32",
    "timeticks",
    "counter64",
    "octets",
    "oid",
    "ip",
    "opaque",
    "null",
    "end_of_mib",
    "no_such_object",
    "no_such_instance",
]
WalkMode = Literal["table", "echo", "rewind", "foreign", "short", "long"]
EndStyle = Literal["end_of_mib", "next_column", "no_such_name"]


@dataclass(frozen=True)
class Value:
    """One SMI value of an answer; `number` or `octets` or `oid` is used by `kind`."""

    kind: ValueKind
    number: int = 0
    octets: bytes = b""
    oid: Oid = (1, 3, 6, 1)


@dataclass(frozen=True)
class Answer:
    """What the valid answer says, including hostile but well-formed choices.

    walk: ``table`` answers the true next instance of a `rows`-row table under each
    requested column; ``echo`` answers the requested OID itself (never increasing);
    ``rewind`` always answers a column's first row; ``foreign`` answers OIDs of another
    subtree; ``short``/``long`` drop or add var-binds. `end` says how the table's end is
    shown: endOfMibView (v2c), the next column's OID, or noSuchName (the SNMPv1 way).
    """

    values: tuple[Value, ...] = (Value("integer", 1),)
    walk: WalkMode = "table"
    rows: int = 2
    end: EndStyle = "end_of_mib"
    error_status: int = 0
    error_index: int = 0
    request_id_delta: int = 0
    community: bytes | None = None  # None: echo the request's community


# --- mutations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Flip:
    position: int
    bit: int


@dataclass(frozen=True)
class Insert:
    position: int
    data: bytes


@dataclass(frozen=True)
class Delete:
    position: int
    count: int


@dataclass(frozen=True)
class Truncate:
    keep: int


@dataclass(frozen=True)
class Lie:
    """Declare `length` (raw length octets) for the node-th TLV, pre-order."""

    node: int
    length: bytes


@dataclass(frozen=True)
class Nest:
    """Wrap the node-th TLV in `depth` constructed TLVs with identifier `ident`."""

    node: int
    depth: int
    ident: int
    indefinite: bool = False


@dataclass(frozen=True)
class Swap:
    """Replace the node-th TLV with `data`."""

    node: int
    data: bytes


@dataclass(frozen=True)
class Retag:
    """Give the node-th TLV the identifier octet `ident` (a request PDU, Counter64 in v1)."""

    node: int
    ident: int


TreeOp = Lie | Nest | Swap | Retag
ByteOp = Flip | Insert | Delete | Truncate
Mutation = TreeOp | ByteOp


@dataclass(frozen=True)
class Reply:
    """What to send for one request.

    kind ``valid`` sends the answer; ``mutated`` applies `mutations` in order; ``noise``
    sends `noise`; ``silent`` sends nothing. `then_clean` appends the answer without its
    error status, wrong request-id or community (garbage must not poison the engine for the
    good datagram behind it); `copies` repeats the lot.
    """

    answer: Answer = field(default_factory=Answer)
    kind: Literal["valid", "mutated", "noise", "silent"] = "valid"
    mutations: tuple[Mutation, ...] = ()
    noise: bytes = b""
    then_clean: bool = False
    copies: int = 1


Plan = tuple[Reply, ...]


# --- a small BER tree ----------------------------------------------------------------------


@dataclass
class Tlv:
    ident: bytes
    content: bytes | list[Tlv]
    declared: bytes | None = None  # length octets to send instead of the true ones
    raw: bytes | None = None  # send these bytes instead of the whole TLV


def encode_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _parse_one(data: bytes, position: int) -> tuple[Tlv, int]:
    start = position
    first = data[position]
    position += 1
    if first & 0x1F == 0x1F:
        while data[position] & 0x80:
            position += 1
        position += 1
    ident = data[start:position]
    size = data[position]
    position += 1
    if size & 0x80:
        count = size & 0x7F
        size = int.from_bytes(data[position : position + count], "big")
        position += count
    body = data[position : position + size]
    end = position + size
    if not first & 0x20:
        return Tlv(ident, body), end
    children = []
    inner = 0
    while inner < len(body):
        child, inner = _parse_one(body, inner)
        children.append(child)
    return Tlv(ident, children), end


def parse_ber(data: bytes) -> Tlv:
    """The TLV tree of `data` (definite lengths only: our own encoder's output)."""
    return _parse_one(data, 0)[0]


def serialize(node: Tlv) -> bytes:
    if node.raw is not None:
        return node.raw
    if isinstance(node.content, bytes):
        body = node.content
    else:
        body = b"".join(serialize(child) for child in node.content)
    length = node.declared if node.declared is not None else encode_length(len(body))
    return node.ident + length + body


def preorder(node: Tlv) -> Iterator[Tlv]:
    yield node
    if isinstance(node.content, list):
        for child in node.content:
            yield from preorder(child)


def nest(data: bytes, depth: int, ident: int, indefinite: bool) -> bytes:
    # Iterative: thousands of levels must not hit Python's recursion limit here.
    if indefinite:
        opening = bytes([ident, 0x80])
        return opening * depth + data + b"\x00\x00" * depth
    for _ in range(depth):
        data = bytes([ident]) + encode_length(len(data)) + data
    return data


def mutate(valid: bytes, mutations: Sequence[Mutation]) -> bytes:
    """`valid` with its tree edits applied, then its byte edits, each kind in order.

    Byte positions wrap around the current size, node numbers around the node count.
    """
    tree = parse_ber(valid)
    nodes = list(preorder(tree))
    for mutation in mutations:
        if isinstance(mutation, Lie):
            nodes[mutation.node % len(nodes)].declared = mutation.length
        elif isinstance(mutation, Nest):
            target = nodes[mutation.node % len(nodes)]
            target.raw = nest(
                serialize(target), mutation.depth, mutation.ident, mutation.indefinite
            )
        elif isinstance(mutation, Swap):
            nodes[mutation.node % len(nodes)].raw = mutation.data
        elif isinstance(mutation, Retag):
            nodes[mutation.node % len(nodes)].ident = bytes([mutation.ident])
    data = serialize(tree)
    for mutation in mutations:
        if not data or isinstance(mutation, Lie | Nest | Swap | Retag):
            continue
        if isinstance(mutation, Flip):
            position = mutation.position % len(data)
            flipped = data[position] ^ (1 << (mutation.bit % 8))
            data = data[:position] + bytes([flipped]) + data[position + 1 :]
        elif isinstance(mutation, Insert):
            position = mutation.position % (len(data) + 1)
            data = data[:position] + mutation.data + data[position:]
        elif isinstance(mutation, Delete):
            position = mutation.position % len(data)
            data = data[:position] + data[position + mutation.count :]
        else:
            data = data[: mutation.keep % len(data)]
    return data


#: PDU tags of requests (Get, GetNext, Set, GetBulk, Inform): pysnmp keeps state for each
#: such datagram it receives and never frees it (test_request_pdus_leave_nothing_behind).
REQUEST_PDU_TAGS = frozenset((0xA0, 0xA1, 0xA3, 0xA5, 0xA6))


def pdu_tag(datagram: bytes) -> int | None:
    """The PDU's tag octet of an SNMPv1/v2c message (after version and community), if any."""
    position = 0
    try:
        for skip in (False, True, True):
            position += 1  # the tag: single-octet in SNMP messages
            size = datagram[position]
            position += 1
            if size & 0x80:
                count = size & 0x7F
                size = int.from_bytes(datagram[position : position + count], "big")
                position += count
            if skip:
                position += size
        return datagram[position]
    except IndexError:
        return None


# --- requests and answers ------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    version: int  # 0 SNMPv1, 1 SNMPv2c
    message: Any  # the decoded pysnmp message, for building the answer
    request_id: int
    kind: Literal["get", "next", "bulk", "other"]
    oids: tuple[Oid, ...]
    max_repetitions: int


def decode_request(datagram: bytes) -> Request:
    version = int(api.decodeMessageVersion(datagram))
    module = api.PROTOCOL_MODULES[version]
    message, _ = decoder.decode(datagram, asn1Spec=module.Message())
    pdu = module.apiMessage.get_pdu(message)
    kind: Literal["get", "next", "bulk", "other"] = "other"
    repetitions = 1
    if pdu.isSameTypeWith(module.GetRequestPDU()):
        kind = "get"
    elif pdu.isSameTypeWith(module.GetNextRequestPDU()):
        kind = "next"
    elif version == 1 and pdu.isSameTypeWith(v2c.GetBulkRequestPDU()):
        kind = "bulk"
        repetitions = int(v2c.apiBulkPDU.get_max_repetitions(pdu))
    oids = tuple(tuple(oid) for oid, _ in module.apiPDU.get_varbinds(pdu))
    request_id = int(module.apiPDU.get_request_id(pdu))
    return Request(version, message, request_id, kind, oids, repetitions)


_SMI = {
    # kind: (SNMPv1 type, SNMPv2c type)
    "integer": (v1.Integer, v2c.Integer32),
    "counter32": (v1.Counter, v2c.Counter32),
    "gauge32": (v1.Gauge, v2c.Gauge32),
    "timeticks": (v1.TimeTicks, v2c.TimeTicks),
    "octets": (v1.OctetString, v2c.OctetString),
    "oid": (v1.ObjectIdentifier, v2c.ObjectIdentifier),
    "ip": (v1.IpAddress, v2c.IpAddress),
    "opaque": (v1.Opaque, v2c.Opaque),
}
_EXCEPTIONS = {
    "end_of_mib": rfc1905.endOfMibView,
    "no_such_object": rfc1905.noSuchObject,
    "no_such_instance": rfc1905.noSuchInstance,
}


def smi_value(value: Value, version: int) -> Any:
    """`value` as a pysnmp object of the SMI `version` speaks (v1 lacks some types)."""
    kind = value.kind
    if kind in _EXCEPTIONS:
        return _EXCEPTIONS[kind] if version == 1 else v1.Null("")
    if kind == "counter64":
        return v2c.Counter64(value.number) if version == 1 else v1.Counter(value.number % 2**32)
    if kind == "null":
        return v2c.Null("")
    payload: object = value.number
    if kind == "oid":
        payload = value.oid
    elif kind == "ip":
        payload = value.octets[:4].ljust(4, b"\0")
    elif kind in ("octets", "opaque"):
        payload = value.octets
    return _SMI[kind][version](payload)


@dataclass
class TableState:
    """Which instance OIDs this fake handed out, so "next" knows where a walk stands."""

    rows: dict[Oid, tuple[Oid, int]] = field(default_factory=dict)

    def next_of(self, requested: Oid, answer: Answer) -> Oid | None:
        """The next instance after `requested` in a table of `answer.rows` rows, or None."""
        column, row = self.rows.get(requested, (requested, 0))
        if answer.walk == "rewind":
            row = 0
        if row >= answer.rows:
            return None
        instance = (*column, row + 1)
        self.rows[instance] = (column, row + 1)
        return instance


def _next_varbinds(
    request: Request, answer: Answer, state: TableState
) -> tuple[list[tuple[Oid, Any]], int]:
    """Var-binds of a GETNEXT/GETBULK answer, and the 1-based position of the first requested
    OID whose column hit the table's end (0: none did)."""
    cursors = list(request.oids)
    rounds = request.max_repetitions if request.kind == "bulk" else 1
    var_binds: list[tuple[Oid, Any]] = []
    ended = 0
    position = 0
    for _ in range(max(rounds, 1)):
        for slot, cursor in enumerate(cursors):
            value = answer.values[position % len(answer.values)]
            position += 1
            if answer.walk == "echo":
                var_binds.append((cursor, value))
                continue
            if answer.walk == "foreign":
                var_binds.append(((1, 3, 6, 1, 4, 1, 99999, *cursor[-2:]), value))
                continue
            following = state.next_of(cursor, answer)
            if following is None:
                ended = ended or slot + 1
                if answer.end == "next_column":
                    outside = (*cursor[:-2], cursor[-2] + 1, 1) if len(cursor) > 2 else cursor
                    var_binds.append((outside, value))
                else:
                    var_binds.append((cursor, Value("end_of_mib")))
                continue
            cursors[slot] = following
            var_binds.append((following, value))
    return var_binds, ended


class FakeAgent(asyncio.DatagramProtocol):
    """The fake agent; set `plan` before each example (a fresh TableState comes with it)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.plan: Plan = (Reply(),)
        self.requests = 0
        self.table = TableState()
        self.errors: list[BaseException] = []  # the fake's own failures: a test bug
        self.versions: Counter[int] = Counter()  # requests seen per SNMP version (0: v1)
        self.spare_request_pdus = False  # True: never send a datagram with a request PDU

    @classmethod
    async def start(cls, address: str) -> tuple[FakeAgent, int]:
        loop = asyncio.get_running_loop()
        transport, agent = await loop.create_datagram_endpoint(cls, local_addr=(address, 0))
        return agent, transport.get_extra_info("sockname")[1]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def use(self, plan: Plan) -> None:
        self.plan = plan or (Reply(),)
        self.requests = 0
        self.table = TableState()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self.plan[self.requests % len(self.plan)]
        self.requests += 1
        try:
            request = decode_request(data)
            self.versions[request.version] += 1
            datagrams = self.datagrams(request, reply)
        except Exception as exc:  # asyncio would swallow it: keep it for the test to see
            self.errors.append(exc)
            return
        assert self.transport is not None
        for datagram in datagrams:
            self.transport.sendto(datagram, addr)

    def datagrams(self, request: Request, reply: Reply) -> list[bytes]:
        if reply.kind == "silent":
            return []
        valid = self.valid_answer(request, reply.answer)
        if reply.kind == "valid":
            sent = [valid]
        elif reply.kind == "noise":
            sent = [reply.noise]
        else:
            sent = [mutate(valid, reply.mutations)]
        if reply.then_clean:
            honest = replace(reply.answer, error_status=0, request_id_delta=0, community=None)
            sent.append(self.valid_answer(request, honest))
        if self.spare_request_pdus:
            sent = [datagram for datagram in sent if pdu_tag(datagram) not in REQUEST_PDU_TAGS]
        return sent * reply.copies

    def valid_answer(self, request: Request, answer: Answer) -> bytes:
        module = api.PROTOCOL_MODULES[request.version]
        if request.kind in ("next", "bulk"):
            oids_values, ended = _next_varbinds(request, answer, self.table)
        else:
            oids_values = [
                (oid, answer.values[n % len(answer.values)]) for n, oid in enumerate(request.oids)
            ]
            ended = 0
        if answer.walk == "short":
            oids_values = oids_values[: max(len(oids_values) - 1, 0)]
        elif answer.walk == "long":
            oids_values = oids_values + oids_values[:2]
        status, index = answer.error_status, answer.error_index
        if ended and answer.end == "no_such_name" and not status:
            status, index = 2, ended  # SNMPv1's end of the MIB (v2c agents must not, some do)
        if request.version == 0:
            status = min(status, 5)
        var_binds = [(oid, smi_value(value, request.version)) for oid, value in oids_values]
        message = module.apiMessage.get_response(request.message)
        if answer.community is not None:
            module.apiMessage.set_community(message, answer.community)
        pdu = module.apiMessage.get_pdu(message)
        request_id = (request.request_id + answer.request_id_delta + 2**31) % 2**32 - 2**31
        module.apiPDU.set_request_id(pdu, request_id)
        module.apiPDU.set_error_status(pdu, status)
        module.apiPDU.set_error_index(pdu, index)
        module.apiPDU.set_varbinds(pdu, var_binds)
        return bytes(encoder.encode(message))
