"""net-snmp's command-line tools as the oracle that tests compare the agent's values with.

:func:`bulkwalk` and :func:`get` run ``snmpbulkwalk``/``snmpget`` and return
``{numeric_oid: (type, value)}``, OIDs without a leading dot, in one normalised form:

============================  ===========================================================
type                          value
============================  ===========================================================
``INTEGER``                   decimal, may be negative: ``"-5"``
``OCTET STRING``              the bytes as sent, lowercase hex without separators:
                              ``"4c696e7578"``; empty string ``""``
``OBJECT IDENTIFIER``         dotted decimal: ``"1.3.6.1.4.1.9.1.1208"``
``IpAddress``                 dotted quad: ``"10.0.0.1"``
``Counter32`` ``Gauge32``     decimal
``TimeTicks``                 hundredths of a second, decimal: ``"3491483764"``
``Counter64``                 decimal
``Opaque``                    as net-snmp prints it
``NULL``                      ``""``
``noSuchObject``,             ``""`` (only from :func:`get`; a walk leaves them out)
``noSuchInstance``
============================  ===========================================================

Why these options: ``-On`` numeric OIDs, ``-Ox`` every OCTET STRING in hex (a string is compared
byte for byte, whatever its bytes; plain ``STRING: "..."`` output would hide quotes, escapes and
line breaks), ``-Oe`` numeric enums. MIB loading is switched off (``mibs :``), so no
DISPLAY-HINT reshapes a value: what is printed is what the device sent. TimeTicks are read from
the ``(N)`` of ``Timeticks: (N) d:hh:mm:ss`` rather than with ``-Ot``, which drops the type.

Credentials and defaults go into a private ``snmp.conf`` in a temporary directory named by
``SNMPCONFPATH``, never onto the command line: nothing secret shows in ``ps`` or in an error.
That file also keeps the host's /etc/snmp and ~/.snmp out of the results.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.secret import Secret

Endpoint = tuple[str, int]
Value = tuple[str, str]

INTEGER = "INTEGER"
OCTET_STRING = "OCTET STRING"
OBJECT_IDENTIFIER = "OBJECT IDENTIFIER"
IP_ADDRESS = "IpAddress"
COUNTER32 = "Counter32"
GAUGE32 = "Gauge32"
TIMETICKS = "TimeTicks"
COUNTER64 = "Counter64"
OPAQUE = "Opaque"
NULL = "NULL"
NO_SUCH_OBJECT = "noSuchObject"
NO_SUCH_INSTANCE = "noSuchInstance"
END_OF_MIB_VIEW = "endOfMibView"
EXCEPTIONS = frozenset({NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})

#: net-snmp's printed type label -> our type.
_LABELS = {
    "INTEGER": INTEGER,
    "Hex-STRING": OCTET_STRING,
    "STRING": OCTET_STRING,
    "OID": OBJECT_IDENTIFIER,
    "IpAddress": IP_ADDRESS,
    "Network Address": IP_ADDRESS,
    "Counter32": COUNTER32,
    "Gauge32": GAUGE32,
    "UInteger32": GAUGE32,
    "Timeticks": TIMETICKS,
    "Counter64": COUNTER64,
    "Opaque": OPAQUE,
}
_EXCEPTION_TEXTS = {
    "No Such Object available on this agent at this OID": NO_SUCH_OBJECT,
    "No Such Instance currently exists at this OID": NO_SUCH_INSTANCE,
    "No more variables left in this MIB View (It is past the end of the MIB tree)": (
        END_OF_MIB_VIEW
    ),
}
_VARBIND = re.compile(r"^\.?(?P<oid>\d+(?:\.\d+)*) = (?P<rest>.*)$")
_NUMERIC_OID = re.compile(r"\d+(?:\.\d+)*")
_HEX_BYTES = re.compile(r"^(?:[0-9A-Fa-f]{2}(?: |$))*$")
_TIMETICKS = re.compile(r"^\((?P<ticks>\d+)\)")

#: .snmprec type tags (snmpsim's, the BER tag numbers) -> our type.
SNMPREC_TYPES = {
    "2": INTEGER,
    "4": OCTET_STRING,
    "4x": OCTET_STRING,
    "5": NULL,
    "6": OBJECT_IDENTIFIER,
    "64": IP_ADDRESS,
    "64x": IP_ADDRESS,
    "65": COUNTER32,
    "66": GAUGE32,
    "67": TIMETICKS,
    "68": OPAQUE,
    "70": COUNTER64,
}

NetSnmpAuth = Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
NetSnmpPriv = Literal["DES", "AES", "AES-128", "AES-192", "AES-256"]
SecurityLevel = Literal["noAuthNoPriv", "authNoPriv", "authPriv"]


class OracleError(RuntimeError):
    """A net-snmp tool failed (timeout, authentication failure, ...): its stderr is the message."""


class OracleParseError(ValueError):
    """A line of net-snmp output that this module does not understand."""


@dataclass(frozen=True)
class V3Credentials:
    """An SNMPv3 USM user as a client presents it (protocol names spelled as net-snmp does).

    `context`: the SNMPv3 context name; snmpsim selects its recording by it.
    `security_level`: what the request asks for; lower than authPriv only to test refusals.
    """

    user: str
    auth_password: Secret
    priv_password: Secret
    auth_protocol: NetSnmpAuth = "SHA-256"
    priv_protocol: NetSnmpPriv = "AES"
    context: str = ""
    security_level: SecurityLevel = "authPriv"


def _conf_word(name: str, value: str) -> str:
    # snmp.conf splits on white space and has no quoting we could rely on for every token.
    if not value or any(char.isspace() for char in value):
        raise ValueError(f"{name} must be non-empty without white space for net-snmp's snmp.conf")
    return value


def client_conf(
    persistent_dir: Path, community: str | Secret | None, v3: V3Credentials | None
) -> str:
    """The snmp.conf text for one request: defaults, credentials, no MIBs, no line breaks."""
    lines = ["mibs :", "hexOutputLength 0", f"persistentDir {persistent_dir}"]
    if v3 is not None:
        lines += [
            "defVersion 3",
            f"defSecurityName {_conf_word('user', v3.user)}",
            f"defSecurityLevel {v3.security_level}",
        ]
        if v3.security_level != "noAuthNoPriv":
            lines += [
                f"defAuthType {v3.auth_protocol}",
                f"defAuthPassphrase {_conf_word('password', v3.auth_password.reveal())}",
            ]
        if v3.security_level == "authPriv":
            lines += [
                f"defPrivType {v3.priv_protocol}",
                f"defPrivPassphrase {_conf_word('password', v3.priv_password.reveal())}",
            ]
        if v3.context:
            lines.append(f"defContext {_conf_word('context', v3.context)}")
    elif community is not None:
        plain = community.reveal() if isinstance(community, Secret) else community
        lines += ["defVersion 2c", f"defCommunity {_conf_word('community', plain)}"]
    else:
        raise ValueError("give a community or v3 credentials")
    return "\n".join(lines) + "\n"


def _value(label: str, text: str) -> Value:
    kind = _LABELS.get(label, label)
    if kind == OCTET_STRING:
        if label == "STRING":
            raise OracleParseError(f"quoted string where -Ox should print hex: {text!r}")
        return kind, text.replace(" ", "").lower()
    if kind == OBJECT_IDENTIFIER:
        return kind, text.lstrip(".")
    if kind == TIMETICKS:
        match = _TIMETICKS.match(text)
        return kind, match["ticks"] if match else text
    return kind, text


def parse_varbind(rest: str) -> Value:
    """The (type, value) of what net-snmp prints after ``OID = ``."""
    rest = rest.rstrip()
    if rest in _EXCEPTION_TEXTS:
        return _EXCEPTION_TEXTS[rest], ""
    if rest == '""':  # -Ox prints an empty OCTET STRING as "" with no type label
        return OCTET_STRING, ""
    if rest == "NULL":
        return NULL, ""
    label, sep, text = rest.partition(":")
    if not sep or label not in _LABELS:
        raise OracleParseError(f"no known type label in {rest!r}")
    return _value(label, text.strip())


def parse_output(text: str) -> dict[str, Value]:
    """Parse ``snmpget``/``snmpbulkwalk -On -Ox -Oe`` output into {oid: (type, value)}.

    A hex string broken over several lines (net-snmp's default ``hexOutputLength 16``) is
    joined. Exceptions (noSuchObject, endOfMibView, ...) are kept; :func:`bulkwalk` drops them.
    """
    result: dict[str, Value] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip() or line.strip() == "End of MIB":
            continue
        match = _VARBIND.match(line)
        if match:
            last = match["oid"]
            value = parse_varbind(match["rest"])
            if value[0] == END_OF_MIB_VIEW and last in result:
                continue  # printed against the walk's last OID: it must not hide that value
            result[last] = value
            continue
        if last is None or result[last][0] != OCTET_STRING or not _HEX_BYTES.match(line.strip()):
            raise OracleParseError(f"unexpected line in net-snmp output: {line!r}")
        kind, hex_so_far = result[last]
        result[last] = kind, hex_so_far + line.strip().replace(" ", "").lower()
    return result


def _run(
    tool: str,
    endpoint: Endpoint,
    options: list[str],
    oids: Iterable[str],
    community: str | Secret | None,
    v3: V3Credentials | None,
    timeout: float,
    retries: int,
    deadline: float,
) -> str:
    host, port = endpoint
    with tempfile.TemporaryDirectory(prefix="netmon-oracle-") as scratch:
        conf_dir = Path(scratch)
        conf = conf_dir / "snmp.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as conf_file:
            conf_file.write(client_conf(conf_dir / "persist", community, v3))
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"MIBS", "MIBDIRS", "MIBFILES", "SNMP_PERSISTENT_FILE"}
        }
        # Made here so that the tools do not announce "Created directory" on stderr.
        (conf_dir / "persist" / "cert_indexes").mkdir(parents=True)
        env["SNMPCONFPATH"] = str(conf_dir)
        env["SNMP_PERSISTENT_DIR"] = str(conf_dir / "persist")
        command = [
            tool,
            "-On",
            "-Ox",
            "-Oe",
            "-t",
            f"{timeout:g}",
            "-r",
            str(retries),
            *options,
            f"udp:{host}:{port}",
            *oids,
        ]
        try:
            done = subprocess.run(
                command,
                env=env,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=deadline,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OracleError(f"{tool} {host}:{port} did not finish: {exc}") from None
    if done.returncode != 0:
        raise OracleError(f"{tool} {host}:{port} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def bulkwalk(
    endpoint: Endpoint,
    oid: str,
    *,
    community: str | Secret | None = None,
    v3: V3Credentials | None = None,
    max_repetitions: int = 25,
    timeout: float = 2.0,
    retries: int = 1,
    deadline: float = 300.0,
    tool: str = "snmpbulkwalk",
) -> dict[str, Value]:
    """Every value under `oid` (GETBULK walk); {} if the subtree is empty.

    `timeout` and `retries` are per request; `deadline` bounds the whole walk (seconds).
    """
    options = [f"-Cr{max_repetitions}"]
    output = _run(tool, endpoint, options, [oid], community, v3, timeout, retries, deadline)
    return {
        name: value for name, value in parse_output(output).items() if value[0] not in EXCEPTIONS
    }


def get(
    endpoint: Endpoint,
    oids: Iterable[str],
    *,
    community: str | Secret | None = None,
    v3: V3Credentials | None = None,
    timeout: float = 2.0,
    retries: int = 1,
    deadline: float = 60.0,
    tool: str = "snmpget",
) -> dict[str, Value]:
    """The values of `oids` (one GET); a missing one is (noSuchObject|noSuchInstance, "")."""
    output = _run(tool, endpoint, [], list(oids), community, v3, timeout, retries, deadline)
    return parse_output(output)


def snmprec_value(tag: str, text: str) -> Value | None:
    """A .snmprec record's value in the oracle's form, as snmpsim would send it.

    None for a record whose value a variation module computes (``70:numeric``).
    """
    if ":" in tag:
        return None
    kind = SNMPREC_TYPES.get(tag)
    if kind is None:
        raise OracleParseError(f"unknown .snmprec type tag {tag!r}")
    if tag == "4":
        # snmpsim reads recordings as ISO-8859-1: one character, one byte.
        return kind, text.encode("iso-8859-1").hex()
    if tag in ("4x", "64x"):
        raw = bytes.fromhex(text)
        return kind, (raw.hex() if tag == "4x" else ".".join(str(octet) for octet in raw))
    if kind == NULL:
        return kind, ""
    if kind == OBJECT_IDENTIFIER:
        return kind, text.lstrip(".")
    return kind, text


def read_snmprec(path: Path) -> dict[str, Value]:
    """The values of a .snmprec recording in the oracle's form ({oid: (type, value)}).

    Like snmpsim, each line is stripped before it is split. Variation records are left out, and
    so are records whose OID is not numeric (which the lab does not serve either).
    """
    values: dict[str, Value] = {}
    with path.open("rb") as recording:
        for raw_line in recording:
            line = raw_line.decode("iso-8859-1").strip()
            if not line or line.startswith("#"):
                continue
            oid, tag, text = line.split("|", 2)
            if not _NUMERIC_OID.fullmatch(oid):
                continue
            value = snmprec_value(tag, text)
            if value is not None:
                values[oid] = value
    return values
