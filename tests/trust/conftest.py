"""Fixtures for the trust engine tests: a fixed clock and a certificate mint.

Every certificate is minted at test time from the fixed clock ``NOW``; defective ones
(expired, no SAN, wrong EKU, SHA-1, ...) are minted with the knob that breaks them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certcraft import resign_sha1 as resign_sha1  # re-exported for the trust tests

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
_KEEP: Any = object()  # "use the default" marker for mint() knobs


def ec_key() -> CertificateIssuerPrivateKeyTypes:
    return ec.generate_private_key(ec.SECP256R1())


_RSA_CACHE: dict[int, rsa.RSAPrivateKey] = {}


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    """RSA keys are slow to make: one per size for the whole session."""
    if bits not in _RSA_CACHE:
        _RSA_CACHE[bits] = rsa.generate_private_key(65537, bits)
    return _RSA_CACHE[bits]


@dataclass
class Minted:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes = field(repr=False)

    @property
    def name(self) -> str:
        return str(self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def mint(
    cn: str,
    *,
    issuer: Minted | None = None,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    ca: bool = False,
    path_length: int | None = None,
    start: dt.datetime | None = None,
    days: int = 397,
    san: Sequence[str] | None = _KEEP,
    eku: Sequence[x509.ObjectIdentifier] | None = _KEEP,
    key_cert_sign: bool | None = None,
    aki: bool = True,
    bc: bool = True,
    bc_critical: bool = True,
    san_critical: bool = False,
    name_constraints: x509.NameConstraints | None = None,
    hash_alg: Any = _KEEP,
) -> Minted:
    """One certificate; ``issuer=None`` makes it self-signed. Knobs break one rule each."""
    key = key or ec_key()
    pub = key.public_key()
    signer = issuer.key if issuer else key
    issuer_name = issuer.cert.subject if issuer else x509.Name([])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    if issuer is None:
        issuer_name = subject
    begin = start if start is not None else NOW - dt.timedelta(minutes=5)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(begin + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )
    if aki:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    if bc:
        b = b.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
            critical=bc_critical,
        )
    kcs = ca if key_cert_sign is None else key_cert_sign
    b = b.add_extension(
        x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=isinstance(pub, rsa.RSAPublicKey) and not ca,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=kcs,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    names = (None if ca else [cn]) if san is _KEEP else None if san is None else list(san)
    if names is not None:
        general: list[x509.GeneralName] = []
        for n in names:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                general.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(general), critical=san_critical)
    if eku is _KEEP:
        eku = None if ca else (SERVER_AUTH, CLIENT_AUTH)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if name_constraints is not None:
        b = b.add_extension(name_constraints, critical=True)
    if hash_alg is _KEEP:
        if isinstance(signer, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            hash_alg = hashes.SHA256()
        else:
            hash_alg = None
    return Minted(b.sign(signer, hash_alg), key)


@dataclass
class Pki:
    root: Minted
    inter: Minted
    leaf: Minted


@pytest.fixture
def pki() -> Pki:
    """An internal PKI: root -> intermediate -> identity for cas1.example.com."""
    root = mint("Campus Root CA", ca=True, path_length=1, days=3650)
    inter = mint("Campus Issuing CA", issuer=root, ca=True, path_length=0, days=1825)
    leaf = mint("cas1.example.com", issuer=inter, san=["cas1.example.com", "10.0.0.11"])
    return Pki(root, inter, leaf)
