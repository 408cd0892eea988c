"""Inspecting certificates: the facts an admin needs, and who signed it in the FAQ's words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from ccapki.pki.chain import is_ca, is_self_signed, issued_by
from ccapki.pki.keys import describe_public_key, public_key_fingerprint

__all__ = ["CertInfo", "KnownCA", "common_name", "describe", "is_self_signed", "signed_by"]

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}

_SIG_NAMES = {
    getattr(SignatureAlgorithmOID, a).dotted_string: a.lower().replace("_", "-")
    for a in dir(SignatureAlgorithmOID)
    if a.isupper()
}


@dataclass(frozen=True)
class KnownCA:
    """A CA the store knows: ``kind`` is perfigo-root, internal-root or internal-ca."""

    name: str
    kind: str
    certificate: x509.Certificate


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def signed_by(
    cert: x509.Certificate,
    known: Sequence[KnownCA] = (),
    chain: Sequence[x509.Certificate] = (),
) -> tuple[str, str]:
    """Who signed ``cert``: a kind (self-signed, perfigo, internal, third-party, root-ca)
    and the FAQ's sentence."""
    if is_self_signed(cert):
        if is_ca(cert):
            return "root-ca", "self-signed root CA: install it on clients to trust what it signs"
        return (
            "self-signed",
            "true self-signed: the certificate is its own root; install it on clients",
        )
    for ca in known:
        if issued_by(cert, ca.certificate):
            if ca.kind == "perfigo-root":
                return "perfigo", "signed by the Perfigo root"
            return "internal", f"signed by internal CA {ca.name}"
    issuer = common_name(cert.issuer)
    if "perfigo" in issuer.lower():
        return "perfigo", "signed by the Perfigo root"
    for parent in chain:
        if issued_by(cert, parent):
            return "third-party", f"signed by {common_name(parent.subject)} (third-party CA)"
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
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(i) for i in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    try:
        eku_ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        eku = tuple(_EKU_NAMES.get(o, o.dotted_string) for o in eku_ext)
    except x509.ExtensionNotFound:
        eku = ()
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    status = "expired" if now > na else ("not-yet-valid" if now < nb else "valid")
    left = na - now
    days_left = left.days if left.total_seconds() >= 0 else -((-left).days)
    key_name, bits = describe_public_key(cert.public_key())
    kind, sentence = signed_by(cert, known, chain)
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        common_name=common_name(cert.subject),
        san_dns=dns,
        san_ip=ips,
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=nb,
        not_after=na,
        days_left=days_left,
        status=status,
        key=key_name,
        key_bits=bits,
        signature_algorithm=_SIG_NAMES.get(
            cert.signature_algorithm_oid.dotted_string, cert.signature_algorithm_oid.dotted_string
        ),
        sha256=_colon(cert.fingerprint(hashes.SHA256())),
        sha1=_colon(cert.fingerprint(hashes.SHA1())),  # noqa: S303 - a fingerprint, as GUIs show
        spki_sha256=public_key_fingerprint(cert.public_key()),
        is_ca=is_ca(cert),
        eku=eku,
        signed_by_kind=kind,
        signed_by=sentence,
    )
