"""The lab's own certificate authority: server certificates for the simulated HTTPS services.

A client that trusts ``ca.pem`` (``ssl.create_default_context(cafile=...)``) verifies every
certificate the CA issues, and nothing else does: the lab never needs a system trust store
changed, and an agent that forgets to load the lab CA fails the way it would against a real
private CA. Keys are ECDSA P-256 (fast to make at every lab start) and are written 0600.

Layout of the CA's directory::

    ca.pem            the CA certificate (0644: clients read it)
    ca-key.pem        its private key (0600)
    <name>.pem        a server certificate issued by :meth:`LabCA.issue`
    <name>-key.pem    its private key (0600)
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.lab.process import open_private

CA_COMMON_NAME = "TSLCD netmon lab CA"
CA_VALID_DAYS = 3650
#: Server certificates: what public CAs may issue at most, so nothing trips over the length.
SERVER_VALID_DAYS = 397
#: Certificates start this long before "now", so a clock a little behind still accepts them.
CLOCK_SKEW = timedelta(hours=1)

_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # the lab's servers start unattended
    )
    with open_private(path) as out:
        out.write(pem)


def _write_certificate(path: Path, certificate: x509.Certificate) -> None:
    # Through a temporary name: a reader never sees half a certificate.
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    partial.chmod(0o644)
    os.replace(partial, path)


@dataclass(frozen=True)
class LabCA:
    """A CA certificate and key in `directory`; make one with :meth:`create`."""

    directory: Path
    certificate: x509.Certificate
    _key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    @property
    def cert_path(self) -> Path:
        """``ca.pem``: what a client passes as its trusted CA file."""
        return self.directory / "ca.pem"

    @property
    def key_path(self) -> Path:
        return self.directory / "ca-key.pem"

    @classmethod
    def create(cls, directory: Path) -> LabCA:
        """The CA in `directory`: the existing one if it is whole and valid, else a new one.

        Reusing it keeps a ``ca.pem`` that clients (a browser, the agent's settings) already
        trust valid across lab restarts.
        """
        directory.mkdir(parents=True, exist_ok=True)
        existing = cls._load(directory)
        if existing is not None:
            return existing
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
        not_before = datetime.now(UTC) - CLOCK_SKEW
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(days=CA_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        ca = cls(directory, certificate, key)
        # Key first: a CA certificate on disk without its key would be reused by nobody.
        _write_private_key(ca.key_path, key)
        _write_certificate(ca.cert_path, certificate)
        return ca

    @classmethod
    def _load(cls, directory: Path) -> LabCA | None:
        try:
            certificate = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
            key = serialization.load_pem_private_key(
                (directory / "ca-key.pem").read_bytes(), password=None
            )
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
            return None  # missing, damaged or passphrase-protected: make a new CA
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != (
            certificate.public_key()
        ):
            return None
        if certificate.not_valid_after_utc < datetime.now(UTC) + timedelta(days=SERVER_VALID_DAYS):
            return None  # it would expire before the certificates it is about to issue
        return cls(directory, certificate, key)

    def issue(
        self,
        name: str,
        ip_addresses: Sequence[str],
        dns_names: Sequence[str] = (),
        *,
        valid_days: float = SERVER_VALID_DAYS,
        not_before: datetime | None = None,
    ) -> tuple[Path, Path]:
        """Issue a TLS server certificate for `ip_addresses` and `dns_names`; (cert, key) paths.

        The certificate is valid from `not_before` (default: an hour ago) for `valid_days`
        days. A certificate close to expiry, as a monitoring check should notice, is one with
        an old `not_before`: ``not_before=now - timedelta(days=355), valid_days=365`` has ten
        days left. `name` (lower-case letters, digits, '.' and '-') names the files and the
        subject's common name; an earlier certificate of that name is replaced.
        """
        if not _NAME.fullmatch(name) or name == "ca" or name.endswith("-key"):
            raise ValueError(
                f"certificate name {name!r} must be 1-63 lower-case letters, digits, '.' or '-', "
                "neither 'ca' nor ending in '-key' (the CA's and the keys' files)"
            )
        if not ip_addresses and not dns_names:
            raise ValueError("a server certificate needs at least one IP address or DNS name")
        if not valid_days > 0:
            raise ValueError(f"valid_days must be > 0, not {valid_days}")
        start = not_before if not_before is not None else datetime.now(UTC) - CLOCK_SKEW
        alt_names: list[x509.GeneralName] = [
            x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses
        ]
        alt_names += [x509.DNSName(dns_name) for dns_name in dns_names]
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
            .sign(self._key, hashes.SHA256())
        )
        cert_path = self.directory / f"{name}.pem"
        key_path = self.directory / f"{name}-key.pem"
        _write_private_key(key_path, key)
        _write_certificate(cert_path, certificate)
        return cert_path, key_path
