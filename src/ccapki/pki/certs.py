"""Certificate facts, each computed in exactly one place.

Every package asks this module (pure: cryptography and the standard library only) for the
facts it needs about a parsed certificate, so two parts of ccapki never disagree:

- :func:`fingerprint`: SHA-256 of the DER, lowercase hex (how ccapki names a certificate);
- :func:`display_name` / :func:`name_label`: the subject CN, else the whole DN;
- :func:`extension`: one extension's value, ``None`` when absent *or unreadable*, and
  :func:`extensions_error`: why a certificate's extensions cannot be read (a duplicated
  extension, a malformed value), so a damaged certificate is reported, never a crash;
- :func:`is_ca`, :func:`signed_by`, :func:`issued_by`, :func:`is_self_signed`: links between
  certificates, decided by the signature itself. A SHA-1 signature (which
  ``verify_directly_issued_by`` refuses) is checked with the issuer's key directly: a
  Perfigo-era SHA-1 root *is* self-signed, and *weak* is a separate finding;
- :func:`subject_alt_names`, :func:`name_matches`, :func:`covers`: SAN reading (DNS names
  lowercased, IP addresses) and RFC 6125 matching (a single-label left-most wildcard);
- :func:`days_left`, :func:`renewal_window`: expiry arithmetic shared by inspect, apply and
  trust check.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

__all__ = [
    "IPAddress",
    "SubjectAltNames",
    "aki_key_id",
    "basic_constraints",
    "covers",
    "csr_signature_verifies",
    "days_left",
    "days_since",
    "der_fingerprint",
    "display_name",
    "extension",
    "extension_critical",
    "extensions_error",
    "fingerprint",
    "is_ca",
    "is_self_issued",
    "is_self_signed",
    "issued_by",
    "issuer_display_name",
    "name_label",
    "name_matches",
    "parse_ip",
    "public_key",
    "public_key_error",
    "renewal_window",
    "san_names",
    "signature_algorithms_differ",
    "signed_by",
    "ski_key_id",
    "subject_alt_names",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DAY = dt.timedelta(days=1)

_ExtT = TypeVar("_ExtT", bound=x509.ExtensionType)

#: What reading a certificate's extensions may raise for a damaged certificate: a missing
#: extension, a duplicated one, a value that is not valid DER for its type (ValueError), a
#: value cryptography parses but cannot represent (TypeError, e.g. a bad IP network).
_UNREADABLE = (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError, TypeError)


# ---------------------------------------------------------------------------- names


def der_fingerprint(der: bytes) -> str:
    """SHA-256 of certificate DER bytes, lowercase hex (equals :func:`fingerprint`)."""
    return hashlib.sha256(der).hexdigest()


@functools.lru_cache(maxsize=1 << 15)
def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate DER, lowercase hex: how ccapki names a certificate.

    Cached: a deployment names the same CA certificates once per identity.
    """
    return cert.fingerprint(hashes.SHA256()).hex()


def name_label(name: x509.Name, *, empty: str = "(empty name)") -> str:
    """A short human name for a DN: its (first) CN, else the whole DN, else ``empty``."""
    try:
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        if attrs:
            value = attrs[0].value
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        return name.rfc4514_string() or empty
    except ValueError:  # a DN cryptography cannot render
        return empty


def display_name(cert: x509.Certificate) -> str:
    """A short human name for a certificate: the subject CN, else the whole subject DN."""
    return name_label(cert.subject, empty="(empty subject)")


def issuer_display_name(cert: x509.Certificate) -> str:
    """The issuer's CN, else the whole issuer DN."""
    return name_label(cert.issuer, empty="(empty issuer)")


# ---------------------------------------------------------------------------- extensions


@functools.lru_cache(maxsize=1 << 15)
def extension(cert: x509.Certificate, kind: type[_ExtT]) -> _ExtT | None:
    """The value of extension ``kind``, or ``None`` when it is absent or unreadable.

    Unreadable (duplicated or malformed extensions) is told by :func:`extensions_error`.
    Cached: every client-platform rule and every finding reads the same few extensions.
    """
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except _UNREADABLE:
        return None


def extension_critical(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> bool | None:
    """Whether extension ``kind`` is marked critical; ``None`` when absent or unreadable."""
    try:
        return cert.extensions.get_extension_for_class(kind).critical
    except _UNREADABLE:
        return None


@functools.lru_cache(maxsize=1 << 14)
def extensions_error(cert: x509.Certificate) -> str | None:
    """Why the certificate's extensions cannot be read, in plain words; ``None`` if they can.

    cryptography loads such a certificate but raises on the first look at an extension;
    ccapki reads them through :func:`extension` (absent) and reports this reason instead.
    """
    try:
        for ext in cert.extensions:
            _ = ext.value
    except x509.DuplicateExtension as exc:
        oid = exc.oid
        what = getattr(oid, "_name", None) or oid.dotted_string
        return f"the {what} extension ({oid.dotted_string}) appears more than once"
    except (ValueError, TypeError) as exc:
        return f"an extension is malformed ({exc})"
    return None


def public_key(cert: x509.Certificate) -> CertificatePublicKeyTypes | None:
    """The subject public key, or ``None`` when cryptography cannot read it (an unknown
    algorithm, key bits that do not fit the algorithm): see :func:`public_key_error`."""
    try:
        return cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def public_key_error(cert: x509.Certificate) -> str | None:
    """Why the subject public key cannot be read, in plain words; ``None`` if it can."""
    try:
        cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        oid = cert.public_key_algorithm_oid
        what = getattr(oid, "_name", None) or oid.dotted_string
        detail = str(exc).split(". ")[0]
        return f"its public key ({what}) cannot be read ({detail})"
    return None


def basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    return extension(cert, x509.BasicConstraints)


def is_ca(cert: x509.Certificate) -> bool:
    """True when basicConstraints says CA:TRUE (False when absent or unreadable)."""
    bc = basic_constraints(cert)
    return bool(bc and bc.ca)


def ski_key_id(cert: x509.Certificate) -> bytes | None:
    ski = extension(cert, x509.SubjectKeyIdentifier)
    return ski.digest if ski else None


def aki_key_id(cert: x509.Certificate) -> bytes | None:
    aki = extension(cert, x509.AuthorityKeyIdentifier)
    return aki.key_identifier if aki else None


# ---------------------------------------------------------------------------- links


@functools.lru_cache(maxsize=1 << 15)
def signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s subject is ``child``'s issuer and its key signed ``child``.

    Any algorithm cryptography can check, SHA-1 included (weakness is diagnosed elsewhere).
    Cached: a deployment checks the same root against itself once per identity.
    """
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except ValueError:
        # cryptography refuses legacy algorithms here (SHA-1): check the signature with the
        # issuer's key directly, so a SHA-1 chain is "weak", not "not signed by its issuer"
        return _legacy_signed_by(child, issuer)
    except (InvalidSignature, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _legacy_signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        return _signature_verifies(
            issuer.public_key(),
            child.signature,
            child.tbs_certificate_bytes,
            child.signature_hash_algorithm,
            child.signature_algorithm_parameters,
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _signature_verifies(
    key: object, signature: bytes, data: bytes, algorithm: object, params: object
) -> bool:
    """True when ``signature`` over ``data`` verifies with ``key`` (RSA with the PKCS#1
    v1.5 or PSS padding ``params`` names, PKCS#1 v1.5 otherwise; ECDSA; DSA) and hash
    ``algorithm`` (None: False). Raises nothing."""
    if not isinstance(algorithm, hashes.HashAlgorithm):
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = params if isinstance(params, padding.PKCS1v15 | padding.PSS) else None
            key.verify(signature, data, pad or padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, data, algorithm)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def csr_signature_verifies(csr: x509.CertificateSigningRequest) -> bool:
    """True when ``csr``'s self-signature verifies with the key it carries.

    cryptography's ``is_signature_valid`` says False for a SHA-1 signature however sound
    (as ``verify_directly_issued_by`` refuses SHA-1 chains, above): such a CSR, which
    ``openssl req -verify`` accepts, is checked with its key directly, so a SHA-1 CSR is
    *weak* (its signature algorithm says so), not *corrupt*. Raises nothing.
    """
    try:
        if csr.is_signature_valid:
            return True
        return _signature_verifies(
            csr.public_key(),
            csr.signature,
            csr.tbs_certrequest_bytes,
            csr.signature_hash_algorithm,
            csr.signature_algorithm_parameters,
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """True when ``parent`` issued ``child``: names match, key identifiers agree (when both
    are present) and ``parent``'s key signed ``child``."""
    if child.issuer != parent.subject:
        return False
    aki, ski = aki_key_id(child), ski_key_id(parent)
    if aki is not None and ski is not None and aki != ski:
        return False
    return signed_by(child, parent)


def is_self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


@functools.lru_cache(maxsize=1 << 15)
def is_self_signed(cert: x509.Certificate) -> bool:
    """Self-issued and signed by its own key: a root, or a *true self-signed* identity.

    A SHA-1 self-signed root (the Perfigo root) counts: only the signature decides.
    """
    return is_self_issued(cert) and signed_by(cert, cert)


def signature_algorithms_differ(cert: x509.Certificate) -> bool:
    """Whether the signature algorithm inside ``cert``'s signed part (TBSCertificate
    ``signature``) differs from the one outside it, which RFC 5280 4.1.1.2 forbids.

    cryptography reads only the outer one, and compares the two first thing in
    ``verify_directly_issued_by`` (a ValueError saying so, before it looks at the issuer):
    asked of the certificate itself, that costs nothing next to loading an ASN.1 library
    (~40 ms of ``inspect FILE``). Raises nothing but a signal."""
    try:
        cert.verify_directly_issued_by(cert)
    except ValueError as exc:
        return "signature algorithms do not match" in str(exc)
    except Exception:  # another issuer, a key it cannot verify with: the two agree
        return False
    except BaseException as exc:  # pyo3's PanicException on a malformed certificate
        if type(exc).__name__ != "PanicException":
            raise
        return False
    return False


# ---------------------------------------------------------------------------- names in SANs


@dataclass(frozen=True)
class SubjectAltNames:
    """The DNS names (lowercased) and IP addresses of a certificate's subjectAltName."""

    dns: tuple[str, ...] = ()
    ips: tuple[IPAddress, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """DNS names then IP addresses, as strings."""
        return (*self.dns, *(str(ip) for ip in self.ips))

    def covers(self, name: str) -> bool:
        """True when ``name`` (DNS name or IP address) is named here; see :func:`name_matches`."""
        ip = parse_ip(name)
        if ip is not None:
            return ip in self.ips
        return self.covers_dns(name)

    def covers_dns(self, name: str) -> bool:
        """True when the DNS name ``name`` is named here (exactly or by a wildcard)."""
        return any(_dns_match(pattern, name) for pattern in self.dns)


@functools.lru_cache(maxsize=1 << 15)
def subject_alt_names(cert: x509.Certificate) -> SubjectAltNames | None:
    """The SAN's DNS names and IP addresses; ``None`` when there is no (readable) SAN."""
    san = extension(cert, x509.SubjectAlternativeName)
    if san is None:
        return None
    dns = tuple(dict.fromkeys(n.lower() for n in san.get_values_for_type(x509.DNSName)))
    ips = tuple(
        dict.fromkeys(
            ip
            for ip in san.get_values_for_type(x509.IPAddress)
            if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
        )
    )
    return SubjectAltNames(dns, ips)


def san_names(cert: x509.Certificate) -> tuple[str, ...] | None:
    """DNS names and IP addresses of the SAN as strings; ``None`` when there is no SAN."""
    sans = subject_alt_names(cert)
    return None if sans is None else sans.names


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _dns_match(pattern: str, name: str) -> bool:
    """RFC 6125 6.4.3: exact (case-insensitive), or ``*.`` standing for one left-most label."""
    pattern = pattern.lower().rstrip(".")
    name = name.lower().rstrip(".")
    if pattern.startswith("*."):
        if name == pattern:
            return True
        head, _, rest = name.partition(".")
        return bool(head) and "*" not in head and rest == pattern[2:]
    return pattern == name


def name_matches(name: str, sans: Iterable[str]) -> bool:
    """True when ``name`` matches one of ``sans`` (strings): an IP an equal IP SAN, a DNS
    name an equal DNS SAN or a wildcard standing for its single left-most label."""
    ip = parse_ip(name)
    for san in sans:
        san_ip = parse_ip(san)
        if ip is not None:
            if san_ip == ip:
                return True
        elif san_ip is None and _dns_match(san, name):
            return True
    return False


def covers(cert: x509.Certificate, name: str) -> bool:
    """True when ``cert``'s SAN names ``name`` (a DNS name or an IP address)."""
    sans = subject_alt_names(cert)
    return sans is not None and sans.covers(name)


# ---------------------------------------------------------------------------- validity


def days_left(cert: x509.Certificate, now: dt.datetime) -> int:
    """Whole days until the certificate expires, rounded down: 0 in its last day, negative
    once it has expired (-1 in the first day after). The one rule of every command
    (``status`` counts the same: :func:`ccapki.lifecycle.status.days_left`)."""
    return (cert.not_valid_after_utc - now) // _DAY


def days_since(when: dt.datetime, now: dt.datetime) -> int:
    """Whole days from ``when`` to ``now``, rounded down: how long ago a certificate
    expired, in words ("expired 2 days ago" two days and five hours after)."""
    return (now - when) // _DAY


def renewal_window(cert: x509.Certificate) -> dt.timedelta:
    """How long before expiry a certificate is due for renewal: a third of its lifetime,
    at most 30 days (so a 90-day temporary certificate is renewed 30 days ahead, a 3-day
    test certificate one day ahead)."""
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    return min(dt.timedelta(days=30), life / 3)
