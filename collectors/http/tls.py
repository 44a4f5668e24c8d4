"""TLS for the HTTP probe: trust, and how long the server's certificates have left.

Two client contexts per trust store: the *verifying* one (the system's CAs plus the extra CA
file) decides ``tls_verified``; the *inspecting* one verifies nothing and is only used, after
a verification failure, to read the certificates the server presents, so that an expired
certificate is still reported with its (negative) days left.
"""

from __future__ import annotations

import _ssl
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class TlsPolicy:
    """How one probe does TLS. `verifying` is None when verification is turned off."""

    verifying: ssl.SSLContext | None
    inspecting: ssl.SSLContext


def verifying_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's trust store plus `ca_file`; raises OSError or ssl.SSLError if unreadable."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def inspecting_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _chain_der(ssl_object: ssl.SSLObject, verified: bool) -> list[bytes]:
    # Python 3.13 makes these public; 3.10-3.12 have them on the private _sslobj only. The
    # verified chain is the path OpenSSL actually trusted (with its root): a server may also
    # present a stale cross-signed intermediate that verification never used, and reporting
    # that one's expiry would be a false alarm. Unverified, the chain as the server sent it.
    inner = getattr(ssl_object, "_sslobj", None)
    getter = getattr(inner, "get_verified_chain" if verified else "get_unverified_chain", None)
    if getter is not None:
        try:
            chain = getter()
        except (ssl.SSLError, ValueError):
            chain = None
        if chain:
            return [certificate.public_bytes(_ssl.ENCODING_DER) for certificate in chain]
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def earliest_expiry(chain_der: Sequence[bytes]) -> float | None:
    """The earliest notAfter of the chain, as a Unix time; None when none can be read."""
    times = []
    for der in chain_der:
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            continue  # one unreadable certificate does not hide the others' expiry
        times.append(certificate.not_valid_after_utc.timestamp())
    return min(times, default=None)


def expiry_days(ssl_object: ssl.SSLObject | None, verified: bool, now: float) -> float | None:
    """Days from `now` (Unix time) to the chain's earliest expiry; negative once expired."""
    if ssl_object is None:
        return None
    expires = earliest_expiry(_chain_der(ssl_object, verified))
    return None if expires is None else (expires - now) / SECONDS_PER_DAY


def verification_message(exc: ssl.SSLCertVerificationError) -> str:
    """OpenSSL's words: "certificate has expired", "self-signed certificate", ..."""
    message = getattr(exc, "verify_message", None)
    return str(message) if message else "certificate verification failed"


def handshake_message(exc: ssl.SSLError) -> str:
    """A short reason for a failed handshake, e.g. "wrong version number"."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return verification_message(exc)
    if isinstance(exc, ssl.SSLEOFError):
        return "the server closed the connection during the TLS handshake"
    # OpenSSL's reason code (WRONG_VERSION_NUMBER, TLSV1_ALERT_PROTOCOL_VERSION), in words;
    # only errors raised by the ssl module itself carry one.
    reason = getattr(exc, "reason", None)
    if reason:
        return str(reason).lower().replace("_", " ")
    return str(exc.strerror or type(exc).__name__)
