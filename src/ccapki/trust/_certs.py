"""Small pure helpers over parsed certificates: names, SANs, fingerprints, issuer links."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "aki_key_id",
    "basic_constraints",
    "cert_fingerprint",
    "ext",
    "fmt_date",
    "is_ca",
    "is_self_issued",
    "is_self_signed",
    "label",
    "name_matches",
    "san_names",
    "signed_by",
    "ski_key_id",
]

_ExtT = TypeVar("_ExtT", bound=x509.ExtensionType)


@functools.lru_cache(maxsize=1 << 14)
def cert_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate DER, lowercase hex: how ccapki names a certificate.

    Cached: the same CA certificates are named once per identity of a deployment.
    """
    return cert.fingerprint(hashes.SHA256()).hex()


def label(cert: x509.Certificate) -> str:
    """A short human name: the subject CN, else the whole subject DN."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if attrs:
        return str(attrs[0].value)
    text = cert.subject.rfc4514_string()
    return text or "(empty subject)"


def issuer_label(cert: x509.Certificate) -> str:
    attrs = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    if attrs:
        return str(attrs[0].value)
    return cert.issuer.rfc4514_string() or "(empty issuer)"


def fmt_date(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@functools.lru_cache(maxsize=1 << 15)
def ext(cert: x509.Certificate, kind: type[_ExtT]) -> _ExtT | None:
    """The value of extension ``kind`` or ``None`` (also ``None`` if it cannot be parsed).

    Cached: every client-platform rule and every finding reads the same few extensions.
    """
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    return ext(cert, x509.BasicConstraints)


def is_ca(cert: x509.Certificate) -> bool:
    bc = basic_constraints(cert)
    return bool(bc and bc.ca)


def ski_key_id(cert: x509.Certificate) -> bytes | None:
    ski = ext(cert, x509.SubjectKeyIdentifier)
    return ski.digest if ski else None


def aki_key_id(cert: x509.Certificate) -> bytes | None:
    aki = ext(cert, x509.AuthorityKeyIdentifier)
    return aki.key_identifier if aki else None


@functools.lru_cache(maxsize=1 << 14)
def signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer`` names and signs ``child`` (any algorithm cryptography can check).

    Cached: a deployment checks the same root against itself once per identity.
    """
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except ValueError:
        # cryptography refuses legacy algorithms here (SHA-1): check the signature
        # with the issuer's key directly, so a SHA-1 chain is diagnosed as "weak", not
        # as "not signed by its issuer"
        return _legacy_signed_by(child, issuer)
    except (InvalidSignature, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _legacy_signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        algorithm = child.signature_hash_algorithm
        key = issuer.public_key()
        if algorithm is None:
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def is_self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


@functools.lru_cache(maxsize=1 << 14)
def is_self_signed(cert: x509.Certificate) -> bool:
    """Self-issued and signed by its own key (a root, or a *true self-signed* identity)."""
    return is_self_issued(cert) and signed_by(cert, cert)


@functools.lru_cache(maxsize=1 << 14)
def san_names(cert: x509.Certificate) -> tuple[str, ...] | None:
    """DNS names and IP addresses of the SAN as strings; ``None`` when there is no SAN."""
    san = ext(cert, x509.SubjectAlternativeName)
    if san is None:
        return None
    out: list[str] = list(san.get_values_for_type(x509.DNSName))
    out += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(out)


def _dns_match(pattern: str, name: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    name = name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def name_matches(name: str, sans: Iterable[str]) -> bool:
    """RFC 6125 style: an IP matches an equal IP SAN; a DNS name a SAN (leftmost ``*`` ok)."""
    ip = parse_ip(name)
    for san in sans:
        san_ip = parse_ip(san)
        if ip is not None:
            if san_ip == ip:
                return True
        elif san_ip is None and _dns_match(san, name):
            return True
    return False


def dedupe(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """Certificates in order, each once (by DER)."""
    seen: set[bytes] = set()
    out: list[x509.Certificate] = []
    for cert in certs:
        key = cert.fingerprint(hashes.SHA256())
        if key not in seen:
            seen.add(key)
            out.append(cert)
    return out


def find_issuers(
    cert: x509.Certificate, pool: Sequence[x509.Certificate]
) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """Issuers of ``cert`` in ``pool``: (name + key id match and signature ok, name-only matches).

    The second list holds certificates with the right subject name that did *not*
    sign ``cert`` (a regenerated CA, a different Perfigo root...), for diagnosis.
    """
    aki = aki_key_id(cert)
    good: list[x509.Certificate] = []
    name_only: list[x509.Certificate] = []
    for cand in pool:
        if cand.subject != cert.issuer:
            continue
        ski = ski_key_id(cand)
        if aki is not None and ski is not None and aki != ski:
            name_only.append(cand)
            continue
        if signed_by(cert, cand):
            good.append(cand)
        else:
            name_only.append(cand)
    return good, name_only
