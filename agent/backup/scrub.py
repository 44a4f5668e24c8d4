"""Strip secrets and volatile lines from a device's configuration before it is stored.

Rules are data: per platform, a tuple of :class:`Rule` (a compiled regex and its replacement)
applied line by line, and a tuple of patterns for volatile lines (timestamps, byte counts) that
are dropped so an unchanged device never makes a commit. The rule sets paraphrase what
Oxidized's models (ios.rb, vrp.rb, junos.rb, routeros.rb) and intentionet's netconan hide.

Every secret becomes the constant :data:`PLACEHOLDER` after its keyword, e.g.
``enable secret 9 <removed>``. Because the placeholder is constant, **a changed secret does not
show as a change** in the stored history (the line is identical before and after); only the
appearance or removal of a secret-bearing line does. This is what Oxidized does, and it keeps
password hashes (which are salted and can be cracked offline) out of the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Type-only: collectors.ssh imports agent.backup at package import, a real import would be
    # circular when agent.backup is imported first.
    from collectors.ssh.platforms import Platform

PLACEHOLDER = "<removed>"

#: Shortest known secret that :func:`leaked` looks for; shorter strings match by accident.
MIN_SECRET_LENGTH = 4


@dataclass(frozen=True, slots=True)
class Rule:
    """One substitution applied to every line (``re.sub``) of one platform's configuration.

    section: only lines under a RouterOS section header matching this pattern (a line starting
        with ``/``), for settings whose meaning depends on the section, such as a community's
        ``name=`` under ``/snmp community``. ``None`` means every line.
    """

    pattern: re.Pattern[str]
    replacement: str
    section: re.Pattern[str] | None = None


_KEEP_PREFIX = r"\g<1>" + PLACEHOLDER
_JUNOS_KEEP_PREFIX = r'\g<1>"' + PLACEHOLDER + '"'
# An IOS/FRR type digit before the secret: 0 plain, 5/8/9 hash, 6 AES, 7 Vigenère.
_TYPE = r"(?:\d+ )?"


def _rule(pattern: str, replacement: str = _KEEP_PREFIX) -> Rule:
    return Rule(re.compile(pattern), replacement)


_IOS_RULES: tuple[Rule, ...] = (
    _rule(rf"^(\s*enable (?:secret|password) (?:level \d+ )?{_TYPE})\S+"),
    _rule(rf"^(\s*username \S+ .*?\b(?:password|secret) {_TYPE})\S+"),
    # line con/vty and similar blocks: " password 7 0822455D0A16"
    _rule(rf"^(\s+(?:password|secret) {_TYPE})\S+"),
    _rule(r"^(\s*snmp-server community )\S+"),
    _rule(
        r"^(\s*snmp-server host \S+ (?:vrf \S+ )?(?:informs |traps )?"
        r"(?:version (?:1|2c|3(?: auth| noauth| priv)?) )?)\S+"
    ),
    _rule(r"^(\s*snmp-server user .*?\bauth (?:md5|sha\S*) )\S+"),
    _rule(r"^(\s*snmp-server user .*?\bpriv (?:des|3des|aes(?: \d+)?) )\S+"),
    _rule(rf"^(\s*(?:tacacs|radius)-server key {_TYPE})\S+"),
    _rule(rf"^(\s*(?:tacacs|radius)-server host .*?\bkey {_TYPE})\S+"),
    _rule(rf"^(\s*server-private \S+ .*?\bkey {_TYPE})\S+"),
    # "tacacs server X" / "radius server X" blocks; a bare number is a key-chain entry id.
    _rule(r"^(\s+key (?:[067] )?)(?!\d+$)\S+"),
    _rule(rf"^(\s*crypto isakmp key {_TYPE})\S+"),
    _rule(
        r"\b(pre-shared-key (?:(?:address|hostname) \S+(?: \S+)? key |local |remote )?"
        r"(?:[067] )?)\S+"
    ),
    _rule(rf"^(\s*neighbor \S+ password {_TYPE})\S+"),
    _rule(rf"^(\s*ip ospf message-digest-key \d+ md5 {_TYPE})\S+"),
    _rule(rf"^(\s*ip ospf authentication-key {_TYPE})\S+"),
    # A key-string runs to the end of the line and may contain spaces.
    _rule(rf"^(\s*key-string {_TYPE})\S.*"),
    _rule(rf"^(\s*standby (?:\d+ )?authentication (?:md5 key-string {_TYPE}|text )?)(?!md5\b)\S+"),
    _rule(rf"^(\s*vrrp \d+ authentication (?:text |md5 key-string {_TYPE}))\S+"),
    _rule(rf"^(\s*ppp (?:chap|pap) (?:sent-username \S+ )?password {_TYPE})\S+"),
    _rule(rf"\b(wpa-psk (?:ascii|hex) {_TYPE})\S+"),
    _rule(r"^(\s*ntp authentication-key \d+ md5 )\S+"),
    _rule(r"^(\s*(?:area|domain)-password (?:md5 |clear |text )?)\S+"),
)

_VRP_RULES: tuple[Rule, ...] = (
    # VRP wraps reversible ciphertext in marker pairs; hide the whole token first so the
    # keyword rules below see "<removed>" and leave it alone (idempotence).
    # No backreferences in any rule: they are also OR-ed into one prefilter (see _prefilter).
    _rule(r"%\^%#.*?%\^%#|%@%@.*?%@%@|%\$%\$.*?%\$%\$|%#%#.*?%#%#|@%@%.*?@%@%", PLACEHOLDER),
    _rule(r"\b(password (?:simple|cipher|irreversible-cipher) )\S+"),
    # "ssh server cipher aes256_ctr ..." lists algorithms, not a secret.
    _rule(r"(?<![\w-])(?<!server )(?<!client )((?:irreversible-)?cipher )\S+"),
    _rule(r"^(\s*snmp-agent community (?:read|write) (?:cipher )?)\S+"),
    _rule(r"\b((?:authentication|privacy)-password (?:cipher |simple )?)\S+"),
    _rule(
        r"\b((?:area-|domain-)?authentication-mode (?:md5|hmac-sha256|hmac-md5|simple)"
        r"(?: \d+)?(?: cipher| plain)? )\S+"
    ),
    _rule(r"\b((?:pre-shared-key|shared-key) (?:cipher |simple )?)\S+"),
    _rule(r"^(\s*local-user \S+ password (?:cipher |irreversible-cipher |simple )?)\S+"),
)

_JUNOS_VALUE = r'(?:"(?:[^"\\]|\\.)*"|[^\s;{]+)'
_JUNOS_RULES: tuple[Rule, ...] = (
    # Junos marks its own secrets in hierarchical output; trust that first.
    _rule(r'(\s)(?:"(?:[^"\\]|\\.)*"|[^\s;"]+)(;\s*## SECRET-DATA)', r'\1"' + PLACEHOLDER + r'"\2'),
    # A net for set-format output and any statement printed without the marker.
    _rule(
        r"\b((?:encrypted-password|authentication-key(?! \d+ type )|secret|simple-password"
        r"|authentication-password|privacy-password|privacy-key"
        r"|pre-shared-key (?:ascii-text|hexadecimal)|md5 \d+ key) )" + _JUNOS_VALUE,
        _JUNOS_KEEP_PREFIX,
    ),
    _rule(r"\b(authentication-key \d+ type \S+ value )" + _JUNOS_VALUE, _JUNOS_KEEP_PREFIX),
    # An SNMP community's name is its secret. Policy-options communities are one-line
    # "community NAME members ...;" statements and do not match.
    _rule(r"^(\s*community )" + _JUNOS_VALUE + r"(?=(?: \{|;)$)", _JUNOS_KEEP_PREFIX),
    _rule(r"^(\s*set snmp community )" + _JUNOS_VALUE, _JUNOS_KEEP_PREFIX),
)

_ROS_VALUE = r'(?:"(?:[^"\\]|\\.)*"|\S+)'
_ROS_RULES: tuple[Rule, ...] = (
    _rule(
        r"(?<![\w-])((?:password|secrets?|authentication-key|auth-key|wpa-pre-shared-key"
        r"|wpa2-pre-shared-key|passphrase|private-key|preshared-key|ipsec-secret"
        r"|authentication-password|encryption-password|tcp-md5-key|trap-community)=)" + _ROS_VALUE
    ),
    # One-line form "/snmp community add name=X" (terse export, or pasted scripts).
    _rule(r"^(/snmp community (?:add|set) .*?(?<![\w-])name=)" + _ROS_VALUE),
    Rule(
        re.compile(r"^((?:add|set) .*?(?<![\w-])name=)" + _ROS_VALUE),
        _KEEP_PREFIX,
        section=re.compile(r"^/snmp community$"),
    ),
)

_LINUX_RULES: tuple[Rule, ...] = (
    *_IOS_RULES,
    # FRR/Quagga/zebra top-level "password zebra" (IOS wants it indented under a line block).
    _rule(rf"^((?:password|secret) {_TYPE})\S+"),
    # Generic net for sshd/keepalived/snmpd/wpa_supplicant style "key value" or "key=value".
    # A bare number after "key" is a key-chain entry id, and "key chain NAME" names a chain.
    _rule(
        # "set community 65050:100" in a route-map is a BGP community, not a secret.
        r"(?i:(?<![\w-])(?<!set )(?<!match )"
        r"((?:password|passwd|secret|psk|(?:ro|rw)?community|auth_pass|key)"
        r"(?:[ \t]*[=:][ \t]*|[ \t]+)(?:\d+[ \t]+)?)(?!chain\b)(?!\d+$)(?:\"[^\"]*\"|\S+))",
    ),
)

RULES: Mapping[Platform, tuple[Rule, ...]] = MappingProxyType(
    {
        "cisco_ios": _IOS_RULES,
        "huawei_vrp": _VRP_RULES,
        "juniper_junos": _JUNOS_RULES,
        "mikrotik_routeros": _ROS_RULES,
        "linux": _LINUX_RULES,
    }
)


def _volatile(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


#: Lines that change without a configuration change; dropped wherever they appear.
VOLATILE: Mapping[Platform, tuple[re.Pattern[str], ...]] = MappingProxyType(
    {
        "cisco_ios": _volatile(
            r"^! Last configuration change at ",
            r"^! NVRAM config last updated at ",
            r"^! No configuration change since last restart",
            r"^ntp clock-period ",
        ),
        # "!Software Version V200R..." is kept: a version change is worth seeing.
        "huawei_vrp": _volatile(r"^\s*!Last configuration was (?:updated|saved) at "),
        "juniper_junos": _volatile(
            r"^## Last (?:commit|changed): ",
            # The CLI prompt banner of a multi-RE chassis.
            r"^\{(?:master|backup|primary|linecard)(?::\d+)?\}$",
        ),
        # "# software id = ...", "# model = ..." and "# serial number = ..." are kept.
        "mikrotik_routeros": _volatile(r"^# \S+ \d\d:\d\d:\d\d by RouterOS \S+"),
        "linux": (),
    }
)

#: IOS prints these before the configuration proper; they and anything before them (the
#: echoed command, the byte count) are dropped.
_IOS_HEADER = re.compile(r"^(?:Building configuration\.\.\.|Current configuration : \d+ bytes)")
_IOS_HEADER_SEARCH_LINES = 20

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


def _normalise_lines(text: str) -> list[str]:
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return [line.rstrip() for line in text.split("\n")]


def _join_continuations(lines: list[str]) -> list[str]:
    """RouterOS wraps long export lines with a trailing backslash; unwrap so rules see the
    whole statement and a different wrap width never shows as a change."""
    joined: list[str] = []
    pending = ""
    for line in lines:
        piece = line.lstrip() if pending else line
        if piece.endswith("\\"):
            pending += piece[:-1]
            continue
        joined.append(pending + piece)
        pending = ""
    if pending:
        joined.append(pending)
    return joined


def _drop_ios_header(lines: list[str]) -> list[str]:
    last = -1
    for index, line in enumerate(lines[:_IOS_HEADER_SEARCH_LINES]):
        if _IOS_HEADER.match(line):
            last = index
    return lines[last + 1 :]


def _prefilter(rules: tuple[Rule, ...]) -> re.Pattern[str]:
    """One pattern matching wherever any rule could: most lines carry no secret, and one
    search is several times cheaper than every rule's ``sub``."""
    return re.compile("|".join(f"(?:{rule.pattern.pattern})" for rule in rules))


_PREFILTERS: Mapping[Platform, re.Pattern[str]] = MappingProxyType(
    {platform: _prefilter(rules) for platform, rules in RULES.items()}
)


def _apply_rules(platform: Platform, lines: list[str]) -> list[str]:
    rules = RULES[platform]
    candidate = _PREFILTERS[platform]
    section = ""
    out: list[str] = []
    for line in lines:
        if platform == "mikrotik_routeros" and line.startswith("/"):
            section = line
        if not candidate.search(line):
            out.append(line)
            continue
        for rule in rules:
            if rule.section is not None and not rule.section.match(section):
                continue
            line = rule.pattern.sub(rule.replacement, line)
        out.append(line)
    return out


def scrub(platform: Platform, text: str) -> str:
    """Return ``text`` normalised, without volatile lines, with every known secret replaced.

    Normalising: ANSI escapes removed, ``\\r\\n`` to ``\\n``, trailing whitespace removed per
    line, leading and trailing blank lines dropped, exactly one final newline (an empty
    configuration gives ``""``). ``scrub(p, scrub(p, x)) == scrub(p, x)``.

    A secret keeps its keyword and type prefix and loses its value: ``password 7 <removed>``.
    The placeholder is constant, so a changed secret does not show as a change.
    """
    lines = _normalise_lines(text)
    if platform == "mikrotik_routeros":
        lines = _join_continuations(lines)
    if platform == "cisco_ios":
        lines = _drop_ios_header(lines)
    volatile = VOLATILE[platform]
    lines = [line for line in lines if not any(p.match(line) for p in volatile)]
    lines = _apply_rules(platform, lines)
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def leaked(text: str, secrets: Iterable[str]) -> list[int]:
    """The 1-based numbers of the lines of ``text`` (scrubbed output) that still contain one of
    ``secrets``; secrets shorter than :data:`MIN_SECRET_LENGTH` are ignored.

    A safety net: the caller refuses to commit when this is not empty, and reports only the
    line numbers, never the secret.
    """
    wanted = [s.strip() for s in secrets]
    wanted = [s for s in wanted if len(s) >= MIN_SECRET_LENGTH]
    if not wanted:
        return []
    return [
        number
        for number, line in enumerate(text.split("\n"), start=1)
        if any(secret in line for secret in wanted)
    ]
