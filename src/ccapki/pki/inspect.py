"""Inspecting certificates: the facts an admin needs, and who signed it in the FAQ's words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import (
    ExtendedKeyUsageOID,
    NameOID,
    PublicKeyAlgorithmOID,
    SignatureAlgorithmOID,
)

from ccapki.pki.certs import (
    csr_signature_verifies,
    days_left,
    display_name,
    extension,
    extensions_error,
    fingerprint,
    is_ca,
    is_self_issued,
    is_self_signed,
    issued_by,
    issuer_display_name,
    name_label,
    public_key,
    public_key_error,
    subject_alt_names,
)
from ccapki.pki.keys import describe_public_key, key_type_name, public_key_fingerprint

__all__ = [
    "CertInfo",
    "CsrInfo",
    "KeyInfo",
    "KeyMatch",
    "KnownCA",
    "describe",
    "describe_csr",
    "describe_key",
    "signed_by",
]

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}

_SIG_NAMES = {
    # cryptography names the alternate SHA-1 with RSA OID 1.3.14.3.2.29 _RSA_WITH_SHA1
    getattr(SignatureAlgorithmOID, a).dotted_string: a.lower().strip("_").replace("_", "-")
    for a in dir(SignatureAlgorithmOID)
    if a.isupper()
}


@dataclass(frozen=True)
class KnownCA:
    """A CA the store knows: ``kind`` is perfigo-root, internal-root, internal-ca or external
    (an outside CA's certificate kept from an import: its certificates are third-party)."""

    name: str
    kind: str
    certificate: x509.Certificate


def signed_by(
    cert: x509.Certificate,
    known: Sequence[KnownCA] = (),
    chain: Sequence[x509.Certificate] = (),
) -> tuple[str, str]:
    """Who signed ``cert``: a kind (self-signed, perfigo, internal, third-party, root-ca,
    bad-signature) and the FAQ's sentence. ``bad-signature``: it names itself as its
    issuer, but neither its own key nor a CA of ``known`` or ``chain`` signed it (a damaged
    or forged certificate; it was said to be a third party's)."""
    if is_self_signed(cert):
        if is_ca(cert):
            return "root-ca", "self-signed root CA: install it on clients to trust what it signs"
        return (
            "self-signed",
            "true self-signed: the certificate is its own root; install it on clients",
        )
    for ca in known:
        if ca.kind == "external":  # an outside CA the store keeps: third-party, below
            continue
        if issued_by(cert, ca.certificate):
            if ca.kind == "perfigo-root":
                return "perfigo", "signed by the Perfigo root"
            return "internal", f"signed by internal CA {ca.name}"
    if is_self_issued(cert) and not any(issued_by(cert, parent) for parent in chain):
        return (
            "bad-signature",
            "names itself as its issuer, but its signature does not verify with its own key "
            "(nor with a CA given or kept): damaged or forged; do not install it or trust it",
        )
    issuer = issuer_display_name(cert)
    if "perfigo" in issuer.lower():
        return "perfigo", "signed by the Perfigo root"
    for parent in chain:
        if issued_by(cert, parent):
            return "third-party", f"signed by {display_name(parent)} (third-party CA)"
    return "third-party", f"signed by {issuer} (third-party CA)"


@dataclass(frozen=True)
class CertInfo:
    subject: str
    common_name: str
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    days_left: int
    status: str  # valid | expired | not-yet-valid
    key: str
    key_bits: int
    signature_algorithm: str
    sha256: str
    sha1: str
    spki_sha256: str
    is_ca: bool
    eku: tuple[str, ...]
    signed_by_kind: str
    signed_by: str
    malformed: str | None = None  # why the extensions cannot be read (they show as absent)

    def to_json(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["not_before"] = self.not_before.isoformat()
        d["not_after"] = self.not_after.isoformat()
        d["san_dns"] = list(self.san_dns)
        d["san_ip"] = list(self.san_ip)
        d["eku"] = list(self.eku)
        return d


def _colon(b: bytes) -> str:
    return ":".join(f"{x:02X}" for x in b)


def describe(
    cert: x509.Certificate,
    *,
    now: dt.datetime,
    known: Sequence[KnownCA] = (),
    chain: Sequence[x509.Certificate] = (),
) -> CertInfo:
    """Everything ``ccapki inspect`` shows about one certificate."""
    sans = subject_alt_names(cert)
    dns = sans.dns if sans else ()
    ips = tuple(str(i) for i in sans.ips) if sans else ()
    eku_ext = extension(cert, x509.ExtendedKeyUsage)
    eku = tuple(_EKU_NAMES.get(o, o.dotted_string) for o in eku_ext or ())
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    status = "expired" if now > na else ("not-yet-valid" if now < nb else "valid")
    key = public_key(cert)
    if key is None:
        key_name, bits = f"unreadable ({cert.public_key_algorithm_oid.dotted_string})", 0
    else:
        key_name, bits = describe_public_key(key)
        if cert.public_key_algorithm_oid == PublicKeyAlgorithmOID.RSASSA_PSS:
            key_name = "RSA-PSS"  # an RSA key restricted to PSS signatures (id-RSASSA-PSS)
    kind, sentence = signed_by(cert, known, chain)
    return CertInfo(
        subject=cert.subject.rfc4514_string(_NAME_KEYS),
        common_name=display_name(cert),
        san_dns=dns,
        san_ip=ips,
        issuer=cert.issuer.rfc4514_string(_NAME_KEYS),  # named as the subject is
        serial=format(cert.serial_number, "x"),
        not_before=nb,
        not_after=na,
        days_left=days_left(cert, now),
        status=status,
        key=key_name,
        key_bits=bits,
        signature_algorithm=_SIG_NAMES.get(
            cert.signature_algorithm_oid.dotted_string, cert.signature_algorithm_oid.dotted_string
        ),
        sha256=_colon(bytes.fromhex(fingerprint(cert))),
        sha1=_colon(cert.fingerprint(hashes.SHA1())),  # noqa: S303 - a fingerprint, as GUIs show
        spki_sha256=public_key_fingerprint(key) if key is not None else "",
        is_ca=is_ca(cert),
        eku=eku,
        signed_by_kind=kind,
        signed_by=sentence,
        malformed="; ".join(filter(None, (extensions_error(cert), public_key_error(cert)))) or None,
    )


@dataclass(frozen=True)
class CsrInfo:
    """What ``ccapki inspect`` shows of a certificate signing request (CSR), to check it
    before it is sent to a CA."""

    subject: str
    common_name: str
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    key: str
    key_bits: int
    signature_algorithm: str
    signature_valid: bool  # the CSR's self-signature verifies with the key it carries
    spki_sha256: str
    requests_ca: bool  # a basicConstraints CA:TRUE extension is requested
    eku: tuple[str, ...]
    sha256: str  # of the CSR's DER

    def to_json(self) -> dict[str, object]:
        """The fields as JSON values (lists for tuples), with ``"kind": "csr"``."""
        d: dict[str, object] = {"kind": "csr", **self.__dict__}
        for k in ("san_dns", "san_ip", "eku"):
            d[k] = list(getattr(self, k))
        return d


#: name attributes shown by name where RFC 4514 has none (OpenSSL's and CAs' word for it),
#: in subjects and issuers alike
_NAME_KEYS = {
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "title",
    NameOID.INITIALS: "initials",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.X500_UNIQUE_IDENTIFIER: "x500UniqueIdentifier",
}


def describe_csr(csr: x509.CertificateSigningRequest) -> CsrInfo:
    """Everything ``ccapki inspect`` shows about one CSR. Raises :class:`ValueError` when
    its extensions cannot be read (:func:`ccapki.pki.formats.parse_material` refuses such a
    file before)."""
    from cryptography.hazmat.primitives import serialization

    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    requests_ca = False
    for ext in csr.extensions:
        value = ext.value
        if isinstance(value, x509.SubjectAlternativeName):
            dns = tuple(dict.fromkeys(n.lower() for n in value.get_values_for_type(x509.DNSName)))
            ips = tuple(str(i) for i in value.get_values_for_type(x509.IPAddress))
        elif isinstance(value, x509.ExtendedKeyUsage):
            eku = tuple(_EKU_NAMES.get(o, o.dotted_string) for o in value)
        elif isinstance(value, x509.BasicConstraints):
            requests_ca = value.ca
    key = csr.public_key()
    key_name, bits = describe_public_key(key)
    # (read by name: cryptography has it, its type stubs do not)
    if getattr(csr, "public_key_algorithm_oid", None) == PublicKeyAlgorithmOID.RSASSA_PSS:
        key_name = "RSA-PSS"  # as a certificate's (the appliances' Java 6/7 cannot use it)
    oid = csr.signature_algorithm_oid.dotted_string
    der = csr.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return CsrInfo(
        subject=csr.subject.rfc4514_string(_NAME_KEYS),
        common_name=name_label(csr.subject, empty="(empty subject)"),
        san_dns=dns,
        san_ip=ips,
        key=key_name,
        key_bits=bits,
        signature_algorithm=_SIG_NAMES.get(oid, oid),
        signature_valid=csr_signature_verifies(csr),  # a SHA-1 CSR's too (weak, not corrupt)
        spki_sha256=public_key_fingerprint(key),
        requests_ca=requests_ca,
        eku=eku,
        sha256=_colon(digest.finalize()),
    )


@dataclass(frozen=True)
class KeyMatch:
    """Something the store holds on the same public key as an inspected private key.

    ``kind`` is ``certificate`` (a version of an identity's certificate), ``ca`` (a CA's
    certificate) or ``pending-csr`` (a CSR made and not yet answered by a certificate).
    """

    kind: str
    deployment: str | None
    name: str  # the identity's or the CA's name
    detail: str  # "v2 (current)", "internal-root", "made 2026-05-01 12:00 UTC"

    def to_json(self) -> dict[str, object]:
        """The fields as a JSON object."""
        return dict(self.__dict__)

    def text(self) -> str:
        """One line saying what matched, e.g. ``certificate of cas-dorm v2 (current)``."""
        where = f" (deployment {self.deployment})" if self.deployment else ""
        if self.kind == "certificate":
            return f"certificate of {self.name} {self.detail}{where}"
        if self.kind == "ca":
            return f"CA {self.name} ({self.detail}){where}"
        return f"pending CSR of {self.name}, {self.detail}{where}"


@dataclass(frozen=True)
class KeyInfo:
    """What ``ccapki inspect`` shows of a private key: its public facts only (never the
    key). ``matches`` is ``None`` when there is no store to look in, else what the store
    holds on the same public key (empty: nothing); ``held`` is the state of the store's
    sealed copy of the key (``active``, ``pending``, ``ca``...), ``None`` when it holds
    none."""

    key: str  # "ECDSA P-256", "RSA"
    key_bits: int
    key_type: str  # ccapki's spelling: ecdsa-p256, rsa-2048
    format: str  # how the file holds it: "PKCS#8 private key", ...
    encrypted: bool  # the file protects it by a password
    spki_sha256: str  # SHA-256 of the public key (SPKI), as ccapki shows it everywhere
    matches: tuple[KeyMatch, ...] | None = None
    held: str | None = None

    def to_json(self) -> dict[str, object]:
        """The fields as JSON values, with ``"kind": "private-key"``; ``matches`` is
        ``null`` when no store was looked in."""
        d: dict[str, object] = {"kind": "private-key", **self.__dict__}
        d["matches"] = None if self.matches is None else [m.to_json() for m in self.matches]
        return d


#: how a file held a key (formats.Kind values) that says it was password-protected
_ENCRYPTED_FORMATS = frozenset(
    {"encrypted PKCS#8 private key", "encrypted traditional OpenSSL private key"}
)


def describe_key(
    key: PrivateKeyTypes,
    *,
    format: str,
    encrypted: bool = False,
    matches: Sequence[KeyMatch] | None = None,
    held: str | None = None,
) -> KeyInfo:
    """The public facts of private key ``key`` (type, size, SPKI SHA-256): a
    :class:`KeyInfo` that holds nothing secret. ``format`` is how the file held it (a
    :class:`ccapki.pki.formats.Kind` value); an encrypted format counts as ``encrypted``.
    Raises nothing for the key types :func:`ccapki.pki.formats.parse_material` returns."""
    pub = key.public_key()
    # parse_material returns signing keys only (RSA, EC, EdDSA, DSA): certificate keys
    name, bits = describe_public_key(cast("CertificatePublicKeyTypes", pub))
    return KeyInfo(
        key=name,
        key_bits=bits,
        key_type=key_type_name(pub),
        format=format,
        encrypted=encrypted or format in _ENCRYPTED_FORMATS,
        spki_sha256=public_key_fingerprint(pub),
        matches=None if matches is None else tuple(matches),
        held=held,
    )
