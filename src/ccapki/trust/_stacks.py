"""Verdicts per verifying stack: what each real TLS/IKE implementation decides.

cryptography's web-PKI verifier (``Stack.WEBPKI``) is the strict baseline every verdict
starts from. A stack is that baseline plus its documented deviations:

- *extension* leniencies (a CA without keyUsage, no SKI/AKI, a non-critical
  basicConstraints, a leaf without SAN, EKU on CAs...) are handed to cryptography as the
  stack's own ``ExtensionPolicy`` pair, so the positive verdict still comes from
  ``cryptography.x509.verification``;
- what cryptography cannot be told (SHA-1 signatures, RSA keys under 2048 bits, an
  expired trust anchor, a negative serial) is a :class:`Leniency`: a web-PKI finding the
  stack accepts, matched by code and by the certificate it is about;
- a stack that reads less of a trust anchor than web-PKI (a version 1 root taken as a CA,
  an anchor's pathLen and nameConstraints unread: :class:`AnchorReading`) is verified
  against the anchor as the stack reads it: the same name and key, re-signed without what
  the stack ignores (an anchor's own signature is never checked);
- what a stack refuses beyond web-PKI (Java's leaf keyUsage, OpenSSL strict's SKI/AKI,
  NSS without Ed25519...) is a :class:`Requirement` checked on the chain that verified;
- names are the stack's: no name at all (mutual TLS by trust store, IKE identities),
  SAN only (browsers), or SAN with the subject CN as a fallback (Java, OpenSSL).

Every web-PKI error a stack accepts stays in its verdict as a warning (``web-PKI
refuses: ...``), so nothing is hidden. Each rule cites the behaviour it models; the
table of stacks and channels is in ``docs/stacks.md``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from ccapki.errors import InputError
from ccapki.pki.certs import (
    basic_constraints,
    display_name,
    extension,
    fingerprint,
    is_self_signed,
    name_label,
    name_matches,
    parse_ip,
    public_key,
    san_names,
    subject_alt_names,
)
from ccapki.trust._certs import serial_of
from ccapki.trust._diagnose import Purpose
from ccapki.trust._model import Code, Finding, Verdict
from ccapki.trust._policy import curve_fix, unsupported_curve
from ccapki.trust._verify import TrustContext

__all__ = [
    "STACKS",
    "AnchorReading",
    "Leniency",
    "NameRule",
    "Place",
    "Requirement",
    "Stack",
    "StackModel",
    "WildcardRule",
    "stack_rules_markdown",
    "verify_for_stack",
]

NameRule = Literal["none", "san", "san-or-cn"]
_Role = Literal["anchor", "ca", "leaf"]


class Stack(StrEnum):
    """The certificate verifiers whose verdicts ccapki models."""

    JAVA_PKIX = "java-pkix"  # JDK PKIX + SunJSSE: CAM <-> CAS control, appliance Tomcat
    OPENSSL_DEFAULT = "openssl-default"  # OpenSSL 3 without X509_STRICT (Debian SECLEVEL 2)
    OPENSSL_STRICT = "openssl-strict"  # OpenSSL 3 with X509_V_FLAG_X509_STRICT
    GNUTLS = "gnutls"  # GnuTLS default verification profile
    NSS = "nss"  # NSS certutil -V / Firefox
    CHROMIUM = "chromium"  # Chromium's own path builder, trust from NSS (Linux)
    STRONGSWAN = "strongswan"  # strongSwan charon (IKEv2 heartbeat)
    WEBPKI = "webpki"  # cryptography's web-PKI verifier (CA/B Forum profile)
    WINDOWS = "windows"  # Windows CryptoAPI (agent; documented policy, cannot run here)
    MACOS = "macos"  # macOS Security framework (agent; documented policy)


@dataclass(frozen=True)
class Leniency:
    """A web-PKI error ``code`` the stack accepts on certificates where ``applies`` holds.

    ``cite`` names the stack behaviour (source code, documentation or a run of the real
    stack) the rule models; it is quoted in the warning that keeps the finding visible.
    """

    code: str
    roles: frozenset[_Role]
    cite: str
    applies: Callable[[x509.Certificate], bool] = lambda _c: True

    def matches(self, finding: Finding, cert: x509.Certificate, role: _Role) -> bool:
        return finding.code == self.code and role in self.roles and self.applies(cert)


@dataclass(frozen=True)
class Place:
    """Where a certificate sits in the chain a stack built: ``index`` 0 is the leaf,
    ``last`` the end of the chain (the trust anchor when it verified)."""

    index: int
    last: bool
    purpose: Purpose
    #: the certificate above this one in the chain (None for the chain's end)
    issuer: x509.Certificate | None = None


@dataclass(frozen=True)
class Requirement:
    """A rule the stack enforces beyond web-PKI: ``refuses(cert, place)`` says why ``cert``
    is refused (``None``: it passes). ``cite`` names the stack's source or run; ``fix`` is
    the repair, with ``{name}`` for the certificate's name."""

    code: str
    cite: str
    fix: str
    refuses: Callable[[x509.Certificate, Place], str | None]


@dataclass(frozen=True)
class WildcardRule:
    """How a stack matches a wildcard in a DNS name, beyond RFC 6125's whole-label ``*``.

    ``partial``: where a ``*`` may sit inside the left-most label (``"none"``: only as the
    whole label; ``"anywhere"``: any number of them; ``"edge"``: one, first or last
    character; ``"start"``: one, first character); ``min_labels``: the fewest labels a
    wildcard name has (``*.test`` has 2); ``idn``: whether a partial wildcard may sit in an
    IDN (``xn--``) label.
    """

    partial: Literal["none", "anywhere", "edge", "start"]
    min_labels: int
    idn: bool
    cite: str


@dataclass(frozen=True)
class AnchorReading:
    """What a stack reads of a trust anchor, where it reads less than web-PKI.

    ``v1_ca``: an X.509 version 1 anchor (no extensions at all) counts as a CA.
    ``constraints``: the anchor's pathLenConstraint and nameConstraints are enforced.
    """

    v1_ca: bool = False
    constraints: bool = True
    cite: str = ""


@dataclass(frozen=True)
class StackModel:
    """How one stack differs from web-PKI.

    ``ca_keyusage``: ``"required"`` (web-PKI), ``"if-present"`` (a CA without keyUsage is
    accepted; with one, keyCertSign must be set), ``"not-on-anchor"`` (as ``if-present``,
    and a trust anchor's keyUsage is not read at all), ``"ignored"`` (a CA's keyUsage is
    never read: basicConstraints CA:TRUE alone makes an issuer). ``lenient_extensions``: SKI/AKI not
    required, basicConstraints need not be critical, AKI content not checked, a leaf
    without SAN accepted (the name rule decides). ``ca_eku``: whether an EKU on a CA must
    allow the purpose; ``leaf_eku``: the same for the leaf. ``names``: how a ``peer_name``
    is matched. ``min_rsa``: a stricter RSA floor than web-PKI's (cryptography accepts
    1024-bit RSA), with its source.
    """

    stack: Stack
    title: str
    ca_keyusage: Literal["required", "if-present", "not-on-anchor", "ignored"] = "required"
    ca_keyusage_cite: str = ""
    lenient_extensions: bool = False
    ca_eku: bool = True
    #: whether the leaf's extendedKeyUsage must allow the purpose
    leaf_eku: bool = True
    leaf_eku_cite: str = ""
    names: NameRule = "san"
    leniencies: tuple[Leniency, ...] = ()
    cite: str = ""
    #: RSA keys below this many bits are refused anywhere in the chain (0: web-PKI's floor)
    min_rsa: int = 0
    min_rsa_cite: str = ""
    #: a leaf without subjectAltName / without authorityKeyIdentifier passes the extension
    #: policy (the name rule and the requirements decide); implied by lenient_extensions
    leaf_san_required: bool = True
    leaf_aki_required: bool = True
    #: a CA:TRUE end-entity certificate is accepted (web-PKI refuses it)
    leaf_ca: bool = False
    leaf_ca_cite: str = ""
    #: every trust-store certificate is an anchor; False: only a self-signed one ends a
    #: path, the others serve as intermediates (OpenSSL without X509_V_FLAG_PARTIAL_CHAIN)
    partial_chain: bool = True
    partial_chain_cite: str = ""
    #: how a wildcard DNS name matches (None: RFC 6125, ``*`` as a whole left-most label)
    wildcards: WildcardRule | None = None
    anchor: AnchorReading = AnchorReading()
    requirements: tuple[Requirement, ...] = ()
    #: non-empty: a leaf found as such in the trust store is accepted with its dates,
    #: usages and extensions unread (names and requirements still apply); the stack's source
    trusted_leaf_cite: str = ""
    #: non-empty: of several presented certificates with the same subject and key (a CA
    #: re-signed), the stack uses the first one sent, never the others; the stack's source
    first_sent_cite: str = ""
    #: non-empty: an EKU on a CA allows both TLS purposes when it has serverAuth or
    #: clientAuth (either makes it a TLS CA); the stack's source
    ca_eku_either_tls_cite: str = ""


_ALL_CAS: frozenset[_Role] = frozenset({"anchor", "ca"})
_ANCHOR: frozenset[_Role] = frozenset({"anchor"})
_ANY: frozenset[_Role] = frozenset({"anchor", "ca", "leaf"})

_SHA1 = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
        SignatureAlgorithmOID.DSA_WITH_SHA1,
    }
)


def _sha1(cert: x509.Certificate) -> bool:
    return cert.signature_algorithm_oid in _SHA1


def _sha1_or_md5(cert: x509.Certificate) -> bool:
    return _sha1(cert) or cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_MD5


def _rsa_at_least(bits: int) -> Callable[[x509.Certificate], bool]:
    def check(cert: x509.Certificate) -> bool:
        key = public_key(cert)
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= bits

    return check


def _no_basic_constraints(cert: x509.Certificate) -> bool:
    return basic_constraints(cert) is None


def _negative_serial(cert: x509.Certificate) -> bool:
    return serial_of(cert) < 0


def _leaf_ku_without_digsig(cert: x509.Certificate, place: Place) -> str | None:
    ku = extension(cert, x509.KeyUsage)
    if place.index != 0 or ku is None or ku.digital_signature:
        return None
    return "its keyUsage lacks digitalSignature, so its key may not sign the TLS handshake"


def _java_leaf_ku(cert: x509.Certificate, place: Place) -> str | None:
    """:func:`_leaf_ku_without_digsig`, except for a leaf that is its own trust anchor (the
    chain ends at it): JSSE's Validator.validate omits the EndEntityChecker then."""
    if place.index == 0 and place.last:
        return None
    return _leaf_ku_without_digsig(cert, place)


def _client_ku_without_digsig(cert: x509.Certificate, place: Place) -> str | None:
    return _leaf_ku_without_digsig(cert, place) if place.purpose == "client" else None


def _ca_without_ski(cert: x509.Certificate, place: Place) -> str | None:
    bc = basic_constraints(cert)
    if bc is None or not bc.ca or extension(cert, x509.SubjectKeyIdentifier) is not None:
        return None
    return "it is a CA without a subjectKeyIdentifier"


def _aki_below_anchor(cert: x509.Certificate, place: Place) -> str | None:
    if place.last or cert.version is not x509.Version.v3:
        return None
    if extension(cert, x509.AuthorityKeyIdentifier) is not None:
        return None
    return "it has no authorityKeyIdentifier (only the trust anchor may omit it)"


def _aki_not_issuer_ski(cert: x509.Certificate, place: Place) -> str | None:
    if place.issuer is None or place.issuer is cert:
        return None
    aki = extension(cert, x509.AuthorityKeyIdentifier)
    ski = extension(place.issuer, x509.SubjectKeyIdentifier)
    if aki is None or aki.key_identifier is None or ski is None:
        return None
    if aki.key_identifier == ski.digest:
        return None
    return (
        f"its authorityKeyIdentifier ({aki.key_identifier.hex()}) is not the "
        f"subjectKeyIdentifier of {display_name(place.issuer)} ({ski.digest.hex()}), so the "
        "stack does not take that CA as its issuer"
    )


def _trusted_leaf_not_ca(cert: x509.Certificate, place: Place) -> str | None:
    bc = basic_constraints(cert)
    if place.index != 0 or not place.last or cert.version is not x509.Version.v3:
        return None
    if bc is not None and bc.ca:
        return None
    return (
        "it is trusted directly but is not a CA (basicConstraints CA:TRUE), and the stack "
        "checks a directly trusted certificate as the issuer of itself"
    )


def _ike_leaf_ku(cert: x509.Certificate, place: Place) -> str | None:
    ku = extension(cert, x509.KeyUsage)
    if place.index != 0 or ku is None or ku.digital_signature or ku.content_commitment:
        return None
    return (
        "its keyUsage has neither digitalSignature nor nonRepudiation, so its key may not "
        "sign the IKE_AUTH exchange (RFC 4945 5.1.3.2)"
    )


def _eddsa(cert: x509.Certificate, place: Place) -> str | None:
    key = public_key(cert)
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "it has an Ed25519/Ed448 key"
    if not place.last and cert.signature_algorithm_oid in _EDDSA_SIGNATURES:
        return "it is signed with Ed25519/Ed448"
    return None


_EDDSA_SIGNATURES = frozenset({SignatureAlgorithmOID.ED25519, SignatureAlgorithmOID.ED448})


def _off_tls_curve(cert: x509.Certificate, place: Place) -> str | None:
    """An ECDSA key (the leaf's, a CA's or the trust anchor's) on a curve other than P-256,
    P-384 and P-521 (:data:`ccapki.trust._policy.TLS_CURVES`): secp256k1, brainpool..."""
    curve = unsupported_curve(cert)
    if curve is None:
        return None
    return f"it has an ECDSA key on curve {curve} (only P-256, P-384 and P-521 are supported)"


_JAVA_LEAF_KU = Requirement(
    Code.WRONG_KEY_USAGE,
    "SunJSSE sun.security.validator.EndEntityChecker (checkTLSServer / checkTLSClient): "
    "'KeyUsage does not allow digital signatures'; TLS 1.3 signs the handshake with the "
    "leaf's key (shown by JSSE for an ECDSA and an RSA leaf, server and client); not "
    "checked on a leaf trusted directly, its own trust anchor (Validator.validate omits the "
    "EndEntityChecker: shown by JSSE for an ECDSA and an RSA leaf, server and client)",
    "re-issue {name} with keyUsage digitalSignature (plus keyEncipherment for RSA)",
    _java_leaf_ku,
)
_IKE_LEAF_KU = Requirement(
    Code.WRONG_KEY_USAGE,
    "strongSwan 5.9 src/libstrongswan/plugins/x509/x509_cert.c parse_keyUsage sets "
    "X509_IKE_COMPLIANT only for digitalSignature or nonRepudiation (no keyUsage: compliant), "
    "and src/libcharon/sa/ikev2/authenticators/pubkey_authenticator.c is_compliant_cert "
    "refuses the peer: 'rejecting certificate without digitalSignature or nonRepudiation "
    "keyUsage flags' (AUTHENTICATION_FAILED, shown by charon for an ECDSA and an RSA leaf; "
    "a leaf trusted directly too, CA:FALSE or CA:TRUE, while nonRepudiation alone passes: "
    "tests/trust/test_stack_strongswan_trusted_leaf_key_usage.py)",
    "re-issue {name} with keyUsage digitalSignature",
    _ike_leaf_ku,
)
_NSS_CLIENT_KU = Requirement(
    Code.WRONG_KEY_USAGE,
    "NSS lib/certdb/certdb.c CERT_KeyUsageAndTypeForCertUsage: certUsageSSLClient requires "
    "KU_DIGITAL_SIGNATURE ('Certificate key usage inadequate for attempted operation')",
    "re-issue {name} with keyUsage digitalSignature",
    _client_ku_without_digsig,
)
_STRICT_SKI = Requirement(
    Code.NOT_RFC5280,
    "OpenSSL 3 x509_vfy.c check_extensions with X509_V_FLAG_X509_STRICT: "
    "X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER on every CA (RFC 5280 4.2.1.2)",
    "re-issue CA {name} with a subjectKeyIdentifier",
    _ca_without_ski,
)
_STRICT_AKI = Requirement(
    Code.MISSING_AKI,
    "OpenSSL 3 x509_vfy.c check_extensions with X509_V_FLAG_X509_STRICT: "
    "X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER on every v3 certificate but the last of "
    "the chain (RFC 5280 4.2.1.1)",
    "re-issue {name} with an authorityKeyIdentifier (ccapki issues them)",
    _aki_below_anchor,
)
_AKI_MATCH = Requirement(
    Code.MISSING_ISSUER,
    "an authorityKeyIdentifier keyIdentifier must equal the issuer's subjectKeyIdentifier "
    "(RFC 5280 4.2.1.1): OpenSSL x509_vfy.c X509_check_akid (X509_V_ERR_AKID_SKID_MISMATCH: "
    "'unable to get local issuer certificate'), Java PKIXCertPathValidator's anchor "
    "selector (AdaptableX509CertSelector: 'Path does not chain with any of the trust "
    "anchors') and its keystore chain assembly, NSS, GnuTLS and strongSwan ('peer not "
    "authenticated by CA') refuse the issuer; Chromium's path builder only ranks it lower "
    "(shown by the walkthrough H runs, tests/trust/test_stack_walkthrough_h.py)",
    "re-issue {name} from its CA so that its authorityKeyIdentifier names the CA's key "
    "(ccapki issues them so)",
    _aki_not_issuer_ski,
)
_GNUTLS_TRUSTED_LEAF = Requirement(
    Code.NOT_A_CA,
    "GnuTLS lib/x509/verify.c verifies a certificate found in the trust list as its own "
    "issuer: without CA:TRUE it is 'The certificate issuer is not a CA' (certtool --verify)",
    "trust {name} through the CA that issued it, or re-issue it as a CA:TRUE self-signed "
    "certificate",
    _trusted_leaf_not_ca,
)
_NSS_EDDSA = Requirement(
    Code.UNSUPPORTED_ALGORITHM,
    "NSS 3.87 (Debian 12) has no Ed25519/Ed448 certificate support: certutil -A refuses the "
    "certificate (SEC_ERROR_ADDING_CERT)",
    "generate an ECDSA P-256 (or RSA 2048+) key and re-issue {name}",
    _eddsa,
)
#: An ECDSA key on a curve other than P-256/P-384/P-521, anywhere in the chain; each stack
#: that refuses it cites its own source (``replace(_TLS_CURVE, cite=...)``).
_TLS_CURVE = Requirement(
    Code.UNSUPPORTED_ALGORITHM,
    "RFC 8446 4.2.3: TLS 1.3 has ECDSA signature schemes on secp256r1, secp384r1 and "
    "secp521r1 only; CA/B Forum BR 6.1.5",
    curve_fix("{name}"),
    _off_tls_curve,
)
_JAVA_CURVE = replace(
    _TLS_CURVE,
    cite="JDK 14 deprecated the SunEC legacy curves, secp256k1 among them (JDK-8235184), and "
    "JDK 16 removed them: JDK 17's SunEC has ECDSA on secp256r1, secp384r1 and secp521r1 only "
    "(shown by JSSE, JDK 17: a secp256k1 leaf, trusted directly or not, fails the handshake "
    "with internal_error; a secp256k1 CA or root fails PKIX path validation, 'Curve not "
    "supported: secp256k1')",
)
_GNUTLS_CURVE = replace(
    _TLS_CURVE,
    cite="GnuTLS has no secp256k1: certtool --verify says 'The certificate chain uses insecure "
    "algorithm' for a secp256k1 leaf, CA or root (shown by certtool 3.7.9)",
)
_NEGATIVE_SERIAL_CITE = (
    "{stack} reads a negative serial number as a plain integer (shown by the differential "
    "corpus); only cryptography's verifier refuses it (RFC 5280 4.1.2.2)"
)


def _negative_serials(stack: str) -> Leniency:
    return Leniency(
        Code.NEGATIVE_SERIAL, _ANY, _NEGATIVE_SERIAL_CITE.format(stack=stack), _negative_serial
    )


_V1_ANCHOR = (
    "a version 1 self-signed trust anchor counts as a CA (OpenSSL X509_check_ca: "
    "EXFLAG_V1 + self-signed; GnuTLS takes a v1 certificate of its trust list as a CA unless "
    "GNUTLS_VERIFY_DO_NOT_ALLOW_X509_V1_CA_CRT; NSS and Java take CA trust from the trust "
    "store; shown by the differential corpus, v1-root)"
)


_JAVA_CITE = (
    "OpenJDK 17 sun.security.provider.certpath (PKIXCertPathValidator, KeyChecker, "
    "BasicChecker) and java.security jdk.certpath.disabledAlgorithms"
)

_LEAF_CA = (
    "a CA:TRUE end-entity certificate is accepted for TLS (no CA/B Forum rule; shown by the "
    "differential corpus for JSSE, openssl verify and certtool)"
)

#: What both OpenSSL models share: OpenSSL's own verifier, not the lab's Python ssl (which
#: sets X509_V_FLAG_PARTIAL_CHAIN).
_OPENSSL_COMMON: dict[str, Any] = {
    "leaf_ca": True,
    "leaf_ca_cite": _LEAF_CA,
    "partial_chain": False,
    "partial_chain_cite": "OpenSSL x509_vfy.c check_trust without X509_V_FLAG_PARTIAL_CHAIN: "
    "a path ends only at a self-signed trusted certificate ('unable to get issuer "
    "certificate'); Python's ssl and curl set the flag, openssl verify / s_client do not",
    "wildcards": WildcardRule(
        "edge",
        3,
        idn=False,
        cite="OpenSSL crypto/x509/v3_utl.c valid_star / wildcard_match: one '*', first or last "
        "in the left-most label (ca*.example.com, *s.example.com; never c*s), at least two "
        "labels after it, none in an xn-- label; partial labels unless "
        "X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS",
    ),
}

_SECLEVEL2 = (
    "OpenSSL SECLEVEL 2, Debian's default: RSA under 2048 bits is refused (EE/CA key too small)"
)

#: The table of modelled stacks (see docs/stacks.md for the sources of each rule).
STACKS: dict[Stack, StackModel] = {
    Stack.WEBPKI: StackModel(
        Stack.WEBPKI,
        "cryptography web-PKI (CA/B Forum profile, RFC 5280)",
        cite="cryptography.x509.verification.PolicyBuilder defaults",
    ),
    Stack.OPENSSL_STRICT: StackModel(
        Stack.OPENSSL_STRICT,
        "OpenSSL 3 with X509_V_FLAG_X509_STRICT",
        names="san-or-cn",
        leniencies=(_negative_serials("OpenSSL"),),
        cite="OpenSSL 3 crypto/x509/v3_purp.c + x509_vfy.c check_extensions (X509_STRICT); "
        "X509_check_host falls back to the CN when the SAN has no DNS name, even in strict "
        "mode, and X509_STRICT does not require a SAN",
        min_rsa=2048,
        min_rsa_cite=_SECLEVEL2,
        leaf_san_required=False,
        leaf_aki_required=False,
        **_OPENSSL_COMMON,
        requirements=(_STRICT_SKI, _STRICT_AKI, _AKI_MATCH),
    ),
    Stack.JAVA_PKIX: StackModel(
        Stack.JAVA_PKIX,
        "Java PKIX (SunJSSE X509TrustManager, JDK 17)",
        ca_keyusage="if-present",
        lenient_extensions=True,
        ca_eku=False,
        names="san-or-cn",
        leniencies=(
            Leniency(
                Code.WEAK_SIGNATURE,
                _ANY,
                "jdk.certpath.disabledAlgorithms refuses SHA-1 only in chains to a JDK "
                "cacerts root (SHA1 jdkCA & usage TLSServer); a private CA's SHA-1 passes",
                _sha1,
            ),
            Leniency(
                Code.WEAK_KEY,
                _ANY,
                "jdk.certpath.disabledAlgorithms refuses RSA keySize < 1024 only",
                _rsa_at_least(1024),
            ),
            Leniency(
                Code.EXPIRED,
                _ANCHOR,
                "PKIX trust anchors are not validated: a TrustAnchor's dates are not read",
            ),
            Leniency(
                Code.NOT_YET_VALID,
                _ANCHOR,
                "PKIX trust anchors are not validated: a TrustAnchor's dates are not read",
            ),
            Leniency(
                Code.NOT_A_CA,
                _ANCHOR,
                "a trust anchor needs no basicConstraints (PKIX reads only its name and key)",
                _no_basic_constraints,
            ),
            _negative_serials("Java"),
        ),
        cite=_JAVA_CITE + "; sun.security.validator.PKIXValidator checks a trust anchor's "
        "keyUsage (keyCertSign) when present",
        leaf_ca=True,
        leaf_ca_cite=_LEAF_CA,
        wildcards=WildcardRule(
            "anywhere",
            2,
            idn=True,
            cite="sun.security.util.HostnameChecker.matchLeftmostWildcard / matchWildCards: "
            "any '*' in the left-most label (c*s.example.com), *.tld only refused for chains to "
            "a public CA (shown by JSSE handshakes: *.test, c*a*s, xn--*)",
        ),
        anchor=AnchorReading(
            v1_ca=True,
            constraints=False,
            cite="PKIXCertPathValidator takes the anchor as a TrustAnchor(cert, null): its "
            "pathLenConstraint and nameConstraints are not enforced (RFC 5280 6.1.1 leaves "
            "anchor constraints optional); " + _V1_ANCHOR,
        ),
        requirements=(_JAVA_LEAF_KU, _AKI_MATCH, _JAVA_CURVE),
        first_sent_cite="sun.security.validator.PKIXValidator.engineValidate validates the chain "
        "in the order sent once its last certificate's issuer is trusted (no other path is "
        "tried), and the keystore a JSSE server loads assembles its chain from the first "
        "issuer found (shown by JSSE: an expired copy of the issuing CA sent before the "
        "valid re-signed one fails the handshake)",
        trusted_leaf_cite="sun.security.validator.PKIXValidator.engineValidate returns a "
        "presented certificate found in the trust store as it is, and Validator.validate "
        "omits the EndEntityChecker when the end entity is the trust anchor: its dates and "
        "EKU are not read (shown by JSSE: a trusted self-signed identity expired, not yet "
        "valid, or serverAuth-only as a client, still completes the handshake)",
    ),
    Stack.OPENSSL_DEFAULT: StackModel(
        Stack.OPENSSL_DEFAULT,
        "OpenSSL 3 default verification (Debian SECLEVEL=2)",
        ca_keyusage="if-present",
        lenient_extensions=True,
        ca_eku=True,
        names="san-or-cn",
        leniencies=(_negative_serials("OpenSSL"),),
        cite="OpenSSL 3 x509_vfy.c without X509_V_FLAG_X509_STRICT; X509_check_host falls back "
        "to the CN when the SAN has no DNS name",
        min_rsa=2048,
        min_rsa_cite=_SECLEVEL2,
        anchor=AnchorReading(v1_ca=True, cite=_V1_ANCHOR),
        **_OPENSSL_COMMON,
        requirements=(_AKI_MATCH,),
    ),
    Stack.GNUTLS: StackModel(
        Stack.GNUTLS,
        "GnuTLS default verification profile",
        ca_keyusage="if-present",
        lenient_extensions=True,
        ca_eku=True,
        names="san-or-cn",
        leniencies=(
            Leniency(
                Code.WEAK_KEY,
                _ANY,
                "GnuTLS's default profile (GNUTLS_PROFILE_LOW... MEDIUM) accepts RSA >= 1024",
                _rsa_at_least(1024),
            ),
            _negative_serials("GnuTLS"),
        ),
        cite="GnuTLS lib/x509/verify.c (keyUsage checked only when present)",
        wildcards=WildcardRule(
            "start",
            3,
            idn=False,
            cite="GnuTLS lib/str.c _gnutls_hostname_compare: a '*' only as the first character "
            "of the left-most label (*s.example.com, never ca*.example.com), at least two "
            "labels after it (shown by certtool --verify-hostname)",
        ),
        leaf_ca=True,
        leaf_ca_cite=_LEAF_CA,
        anchor=AnchorReading(v1_ca=True, cite=_V1_ANCHOR),
        requirements=(_GNUTLS_TRUSTED_LEAF, _AKI_MATCH, _GNUTLS_CURVE),
        first_sent_cite="GnuTLS lib/x509/verify.c verifies the chain as sent (after sorting "
        "it by issuer, the first match kept; shown by certtool --verify: an expired copy of "
        "the issuing CA sent before the valid re-signed one: 'uses expired certificate')",
    ),
    Stack.NSS: StackModel(
        Stack.NSS,
        "NSS (certutil -V)",
        ca_keyusage="not-on-anchor",
        lenient_extensions=True,
        ca_eku=True,
        ca_eku_either_tls_cite="NSS lib/certdb/certdb.c cert_ComputeCertType: a CA whose EKU "
        "has serverAuth or clientAuth is an SSL CA for both uses (shown by certutil -V: a "
        "clientAuth-only CA under a server leaf, a serverAuth-only CA or root under a client "
        "leaf pass; an emailProtection-only CA fails)",
        names="san",
        leniencies=(
            Leniency(
                Code.WEAK_KEY,
                _ANY,
                "NSS's default policy refuses RSA < 1024 only (NSS_RSA_MIN_KEY_SIZE)",
                _rsa_at_least(1024),
            ),
            Leniency(
                Code.WEAK_SIGNATURE,
                _ANY,
                "NSS's verifier (CERT_VerifyCertificate, certutil -V) accepts SHA-1 "
                "signatures: the SHA-1 refusal is browser policy (Firefox, Chromium), not NSS's",
                _sha1,
            ),
            _negative_serials("NSS"),
        ),
        cite="NSS lib/certhigh/certvfy.c (keyUsage checked only when present; a trust anchor's "
        "keyUsage is not read: its trust flags decide)",
        anchor=AnchorReading(v1_ca=True, cite=_V1_ANCHOR),
        requirements=(_NSS_CLIENT_KU, _NSS_EDDSA, _AKI_MATCH),
    ),
    Stack.CHROMIUM: StackModel(
        Stack.CHROMIUM,
        "Chromium (net/cert/pki path builder, roots from the NSS database)",
        ca_keyusage="if-present",
        lenient_extensions=True,
        ca_eku=True,
        names="san",
        leniencies=(
            Leniency(
                Code.WEAK_KEY,
                _ANY,
                "Chromium refuses RSA < 1024 (ERR_CERT_WEAK_KEY); 1024-2047 from a locally "
                "installed root passes",
                _rsa_at_least(1024),
            ),
            Leniency(
                Code.NEGATIVE_SERIAL,
                _ANY,
                "Chromium's certificate parser (net/cert/pki/parse_certificate.cc) tolerates a "
                "negative serial (shown by headless Chromium, corpus serial-negative)",
                _negative_serial,
            ),
        ),
        cite="Chromium net/cert/pki/verify_certificate_chain.cc: keyUsage checked only when "
        "present (RFC 5280 6.1.4 (n)), no CN fallback since Chrome 58 "
        "(ERR_CERT_COMMON_NAME_INVALID), SHA-1 refused since Chrome 57",
        wildcards=WildcardRule(
            "none",
            3,
            idn=False,
            cite="Chromium net/cert/x509_certificate.cc VerifyHostname: a whole-label '*' only, "
            "never directly under a top-level domain (*.test: ERR_CERT_COMMON_NAME_INVALID)",
        ),
        leaf_ca=True,
        leaf_ca_cite="Chromium's path builder accepts a CA:TRUE server certificate (shown by "
        "headless Chromium, corpus leaf-is-ca, self-signed-ca-identity-trusted)",
        anchor=AnchorReading(
            v1_ca=True,
            cite="Chromium (TrustStoreNSS) takes a root trusted in the NSS database as an "
            "anchor whatever its version (shown by headless Chromium, corpus v1-root)",
        ),
        requirements=(
            replace(
                _JAVA_LEAF_KU,
                cite="BoringSSL ssl_cert_check_key_usage: the server's keyUsage must allow "
                "digitalSignature for a signed handshake (ERR_SSL_KEY_USAGE_INCOMPATIBLE, "
                "also under a locally trusted root: shown by headless Chromium)",
                refuses=_leaf_ku_without_digsig,
            ),
            replace(
                _NSS_EDDSA,
                cite="Chromium offers no Ed25519/Ed448 TLS signature algorithm and its "
                "verifier has none (ERR_SSL_VERSION_OR_CIPHER_MISMATCH)",
            ),
            replace(
                _TLS_CURVE,
                cite="BoringSSL has no secp256k1 (ECDSA on P-256, P-384, P-521 only): shown by "
                "headless Chromium, a secp256k1 leaf fails with "
                "ERR_SSL_VERSION_OR_CIPHER_MISMATCH, a secp256k1 CA or root with "
                "ERR_CERT_INVALID",
            ),
        ),
    ),
    Stack.STRONGSWAN: StackModel(
        Stack.STRONGSWAN,
        "strongSwan charon IKEv2 (x509 plugin, constraints plugin)",
        ca_keyusage="ignored",
        ca_keyusage_cite="strongSwan 5.9 src/libstrongswan/plugins/x509/x509_cert.c "
        "parse_keyUsage skips keyCertSign ('we use the caBasicConstraint, MUST be set'): a "
        "CA or trust anchor whose keyUsage lacks keyCertSign still issues (shown by charon, "
        "corpus ca- and root-keyusage-without-keycertsign)",
        lenient_extensions=True,
        ca_eku=False,
        leaf_eku=False,
        leaf_eku_cite="strongSwan's IKEv2 authentication does not read extendedKeyUsage "
        "(only its OCSP and IKE-intermediate options do); proven live in "
        "tests/lab/test_ipsec_heartbeat.py",
        names="none",
        leniencies=(
            Leniency(
                Code.WEAK_SIGNATURE,
                _ANY,
                "strongSwan verifies SHA-1 and MD5 certificate signatures: no hash floor by "
                "default (shown by charon, corpus sha1-leaf, md5-leaf)",
                _sha1_or_md5,
            ),
            Leniency(
                Code.WEAK_KEY,
                _ANY,
                "strongSwan sets no RSA size floor for certificate keys by default",
                _rsa_at_least(512),
            ),
            _negative_serials("strongSwan"),
        ),
        cite="strongSwan src/libstrongswan/credentials/credential_manager.c (CA flag from "
        "basicConstraints; keyUsage not required); the IKE identity is the subject DN",
        leaf_ca=True,
        leaf_ca_cite="strongSwan checks the CA flag of the issuers only, not of the "
        "certificate that authenticates the IKE peer: a CA:TRUE identity authenticates "
        "(shown by charon, corpus leaf-is-ca, self-signed-ca-identity-trusted)",
        requirements=(_IKE_LEAF_KU, _AKI_MATCH),
        first_sent_cite="charon caches the certificates the peer sends and builds the trust "
        "chain from the first one found for the issuer (shown by charon: an expired copy of "
        "the issuing CA sent before the valid re-signed one: 'certificate invalid')",
        trusted_leaf_cite="strongSwan's credential manager takes a peer certificate found "
        "among its trusted certificates as trusted without checking its lifetime (shown by "
        "charon: a trusted self-signed identity expired, not yet valid, or X.509 v1 still "
        "brings the IKE_SA up)",
    ),
    Stack.WINDOWS: StackModel(
        Stack.WINDOWS,
        "Windows CryptoAPI (CertGetCertificateChain + SSL policy)",
        ca_keyusage="if-present",
        lenient_extensions=True,
        ca_eku=True,
        names="san-or-cn",
        cite="Microsoft CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL): the SAN when "
        "present, else the subject CN; keyUsage on a CA only when present",
        requirements=(
            replace(
                _TLS_CURVE,
                cite="Windows SChannel accepts ECDSA server certificates on the NIST curves "
                "P-256, P-384 and P-521 only; secp256k1 is none of its TLS curves, so the "
                "handshake fails",
            ),
        ),
    ),
    Stack.MACOS: StackModel(
        Stack.MACOS,
        "macOS Security framework (SecTrust, SSL policy)",
        ca_keyusage="if-present",
        lenient_extensions=True,
        ca_eku=True,
        names="san",
        cite="Apple HT210176 (SAN and serverAuth EKU required, RSA 2048+, SHA-2)",
        min_rsa=2048,
        min_rsa_cite="Apple HT210176: TLS certificates with RSA keys under 2048 bits fail",
        requirements=(
            replace(
                _TLS_CURVE,
                cite="Apple's Security framework (SecKey, SecTrust) has ECDSA keys on P-256, "
                "P-384 and P-521 only: a secp256k1 key cannot be read",
            ),
        ),
    ),
}


# ---------------------------------------------------------------------------- policies

_EKU_FOR: dict[str, x509.ObjectIdentifier] = {
    "server": ExtendedKeyUsageOID.SERVER_AUTH,
    "client": ExtendedKeyUsageOID.CLIENT_AUTH,
}


def _ku_validator(
    model: StackModel, anchors: frozenset[str]
) -> Callable[[Policy, x509.Certificate, x509.KeyUsage | None], None]:
    def check(_policy: Policy, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
        if ku is None or model.ca_keyusage == "ignored":
            return  # RFC 5280 4.2.1.3: no keyUsage, no restriction (the stack's reading)
        if model.ca_keyusage == "not-on-anchor" and fingerprint(cert) in anchors:
            return
        if not ku.key_cert_sign:
            raise ValueError("the CA's keyUsage lacks keyCertSign")

    return check


def _bc_validator(
    _policy: Policy, _cert: x509.Certificate, bc: x509.BasicConstraints | None
) -> None:
    if bc is None or not bc.ca:
        raise ValueError("basicConstraints CA:TRUE is required on a CA")


def _eku_validator(
    purpose: Purpose,
) -> Callable[[Policy, x509.Certificate, x509.ExtendedKeyUsage | None], None]:
    want = _EKU_FOR[purpose]

    def check(_policy: Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is None or want in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
            return
        raise ValueError(f"the extendedKeyUsage does not allow {purpose} authentication")

    return check


def _tls_ca_eku(
    _policy: Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    if eku is None or any(
        u in eku
        for u in (
            ExtendedKeyUsageOID.SERVER_AUTH,
            ExtendedKeyUsageOID.CLIENT_AUTH,
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        )
    ):
        return
    raise ValueError("the CA's extendedKeyUsage allows neither serverAuth nor clientAuth")


def _no_check(_policy: Policy, _cert: x509.Certificate, _ext: object) -> None:
    return None


def _ee_ku_validator(_policy: Policy, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    """web-PKI's end-entity keyUsage rule (no keyCertSign), except on a CA:TRUE leaf."""
    bc = basic_constraints(cert)
    if ku is not None and ku.key_cert_sign and not (bc is not None and bc.ca):
        raise ValueError("an end-entity keyUsage asserts keyCertSign")


def _policies(
    model: StackModel, purpose: Purpose, anchors: frozenset[str]
) -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """The (CA, leaf) extension policies of ``model`` for ``purpose``."""
    agnostic = Criticality.AGNOSTIC
    ca = ExtensionPolicy.webpki_defaults_ca()
    ee = ExtensionPolicy.webpki_defaults_ee()
    if model.ca_keyusage != "required":
        ca = ca.may_be_present(x509.KeyUsage, agnostic, _ku_validator(model, anchors))
    if model.lenient_extensions:
        ca = (
            ca.require_present(x509.BasicConstraints, agnostic, _bc_validator)
            .may_be_present(x509.SubjectKeyIdentifier, agnostic, _no_check)
            .may_be_present(x509.AuthorityKeyIdentifier, agnostic, _no_check)
        )
        ee = ee.may_be_present(x509.BasicConstraints, agnostic, _no_check)
    if model.lenient_extensions or not model.leaf_aki_required:
        ee = ee.may_be_present(x509.AuthorityKeyIdentifier, agnostic, _no_check)
    if model.lenient_extensions or not model.leaf_san_required:
        ee = ee.may_be_present(x509.SubjectAlternativeName, agnostic, _no_check)
    if model.leaf_ca:
        if not model.lenient_extensions:  # (lenient: already any basicConstraints)
            ee = ee.may_be_present(x509.BasicConstraints, agnostic, _no_check)
        ee = ee.may_be_present(x509.KeyUsage, agnostic, _ee_ku_validator)
    if not model.ca_eku:
        ca = ca.may_be_present(x509.ExtendedKeyUsage, agnostic, _no_check)
    elif model.ca_eku_either_tls_cite:
        ca = ca.may_be_present(x509.ExtendedKeyUsage, agnostic, _tls_ca_eku)
    else:  # the name-free path below uses the client verifier: the purpose's EKU, not its own
        ca = ca.may_be_present(x509.ExtendedKeyUsage, agnostic, _eku_validator(purpose))
    # the leaf's EKU: checked here for both purposes, since the name-free path below uses
    # cryptography's client verifier whatever the purpose
    eku_check = _eku_validator(purpose) if model.leaf_eku else _no_check
    ee = ee.may_be_present(x509.ExtendedKeyUsage, agnostic, eku_check)
    return ca, ee


# ---------------------------------------------------------------------------- names


def _common_names(cert: x509.Certificate) -> list[str]:
    """The subject CN (the name stacks with a CN fallback match), if the subject has one."""
    label = name_label(cert.subject, empty="")
    return [label] if label and "=" not in label else []


def _wildcard_match(rule: WildcardRule, pattern: str, host: str) -> bool:
    """``pattern`` (a DNS name from the certificate) names ``host`` under ``rule``: equal
    (case-insensitive), or a wildcard in the left-most label standing for part or all of the
    host's left-most label (never a dot), the other labels equal."""
    want = pattern.lower().rstrip(".").split(".")
    got = host.lower().rstrip(".").split(".")
    if want == got:
        return True
    first, label = want[0], got[0]
    stars = first.count("*")
    if not stars or len(want) != len(got) or len(want) < rule.min_labels:
        return False
    if want[1:] != got[1:] or "*" in "".join(want[1:]) or not label:
        return False
    if first != "*":  # a partial-label wildcard
        edge = first.startswith("*") or first.endswith("*")
        allowed = {
            "none": False,
            "anywhere": True,
            "edge": stars == 1 and edge,
            "start": stars == 1 and first.startswith("*"),
        }[rule.partial]
        if not allowed or (first.startswith("xn--") and not rule.idn):
            return False
    return re.fullmatch("[^.]*".join(map(re.escape, first.split("*"))), label) is not None


def _names_host(model: StackModel, patterns: Sequence[str], peer: str) -> bool:
    """``peer`` (a DNS name) is named by one of ``patterns`` the way the stack matches."""
    if model.wildcards is None:
        return name_matches(peer, patterns)
    return any(_wildcard_match(model.wildcards, p, peer) for p in patterns)


def _name_finding(model: StackModel, leaf: x509.Certificate, peer: str) -> Finding | None:
    """None when ``leaf`` names ``peer`` the way ``model``'s stack matches names."""
    sans = san_names(leaf)
    parsed = subject_alt_names(leaf)
    # an IP is matched only against iPAddress SANs, a DNS name only against dNSName SANs
    # (Java HostnameChecker, OpenSSL X509_check_ip/X509_check_host, GnuTLS, browsers)
    is_ip = parse_ip(peer) is not None
    if parsed is not None and (
        parsed.covers(peer) if is_ip else _names_host(model, parsed.dns, peer)
    ):
        return None
    dns_in_san = parsed is not None and bool(parsed.dns)
    if (
        model.names == "san-or-cn"
        and not dns_in_san
        and not is_ip  # the CN fallback is for host names only
        and _names_host(model, _common_names(leaf), peer)
    ):
        return None
    name = display_name(leaf)
    code = Code.MISSING_SAN if sans is None else Code.NAME_MISMATCH
    fix = f"re-issue {name} with {peer} in its subjectAltName"
    cns = _common_names(leaf)
    in_cn = peer in cns if is_ip else _names_host(model, cns, peer)
    if in_cn:  # "X does not name X" would hide where the name is, and where it is missing
        where = "its CN" if cns == [peer] else f"its CN ({', '.join(cns)})"
        if sans is None:
            checked = f"{model.title} checks only the subjectAltName, which it does not have"
        elif is_ip:
            checked = (
                f"{model.title} matches an IP address only against the subjectAltName's, "
                f"which lists {', '.join(sans) or 'nothing'}"
            )
        else:
            when = " (the CN only when it has no DNS names)" if model.names == "san-or-cn" else ""
            checked = (
                f"{model.title} checks the subjectAltName{when}, which lists "
                f"{', '.join(sans) or 'nothing'}"
            )
        return Finding(
            code,
            f"the certificate names {peer} only in {where}; {checked}",
            f"{fix} (the CN alone is not enough)",
            name,
        )
    if sans is None:
        how = "it has no subjectAltName" + (
            " and its CN does not match either"
            if model.names == "san-or-cn"
            else f" ({model.title} ignores the CN)"
        )
    else:
        how = f"its subjectAltName names {', '.join(sans)}"
    return Finding(code, f"{name} does not name {peer}: {how}", fix, name)


# ---------------------------------------------------------------------------- verdict


def _roles(
    chain: Sequence[x509.Certificate], anchors: frozenset[str]
) -> dict[str, tuple[x509.Certificate, _Role]]:
    out: dict[str, tuple[x509.Certificate, _Role]] = {}
    for i, cert in enumerate(chain):
        role: _Role = "leaf" if i == 0 else "ca"
        if fingerprint(cert) in anchors or (i > 0 and is_self_signed(cert)):
            role = "anchor"
        out.setdefault(display_name(cert), (cert, role))
    return out


def _rsa_floor(
    model: StackModel, chain: Sequence[x509.Certificate], errors: Sequence[Finding]
) -> list[Finding]:
    """Refusals of RSA keys below ``model.min_rsa`` (stricter than web-PKI)."""
    out: list[Finding] = []
    seen = {f.subject for f in errors if f.code == Code.WEAK_KEY}
    for cert in chain:
        key = public_key(cert)
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size >= model.min_rsa:
            continue
        name = display_name(cert)
        if name in seen:
            continue
        out.append(
            Finding(
                Code.WEAK_KEY,
                f"{name} has a {key.key_size}-bit RSA key; {model.title} refuses RSA under "
                f"{model.min_rsa} bits ({model.min_rsa_cite})",
                f"generate a new key (RSA 2048+ or ECDSA P-256) and re-issue {name}",
                name,
            )
        )
    return out


def _as_warning(model: StackModel, f: Finding, why: str) -> Finding:
    """``f`` kept as a warning: the channel's stack accepts what web-PKI refuses, so its fix
    is optional (a third party's CA cannot be re-issued by the administrator anyway)."""
    return Finding(
        f.code,
        f"web-PKI refuses: {f.reason}; {model.title} accepts it ({why})",
        f"none needed for this channel; only for clients that apply web-PKI rules: {f.fix}",
        f.subject,
        "warning",
    )


@functools.cache
def _stand_in_key() -> ec.EllipticCurvePrivateKey:
    """Signs the stand-ins of trust anchors (an anchor's own signature is never checked)."""
    return ec.generate_private_key(ec.SECP256R1())


def _anchor_as_read(reading: AnchorReading, root: x509.Certificate) -> x509.Certificate | None:
    """``root`` as a stack with ``reading`` sees it: the same subject, key, dates and
    extensions, without what the stack does not read of an anchor (a v1 root becomes a
    CA, pathLen and nameConstraints go); ``None`` when the stack reads all of it."""
    v1 = root.version is x509.Version.v1 and reading.v1_ca
    try:
        exts = [] if root.version is x509.Version.v1 else list(root.extensions)
    except ValueError:  # duplicate or unreadable extensions: no stand-in
        return None
    bc = basic_constraints(root)
    constrained = (bc is not None and bc.path_length is not None) or any(
        isinstance(e.value, x509.NameConstraints) for e in exts
    )
    if not v1 and (reading.constraints or not constrained):
        return None
    builder = (
        x509.CertificateBuilder()
        .subject_name(root.subject)
        .issuer_name(root.subject)
        .public_key(root.public_key())
        .serial_number(max(serial_of(root), 1))
        .not_valid_before(root.not_valid_before_utc)
        .not_valid_after(root.not_valid_after_utc)
    )
    if v1:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    for e in exts:
        value: x509.ExtensionType = e.value
        if not reading.constraints and isinstance(value, x509.NameConstraints):
            continue
        if not reading.constraints and isinstance(value, x509.BasicConstraints):
            value = x509.BasicConstraints(ca=value.ca, path_length=None)
        builder = builder.add_extension(value, e.critical)
    return builder.sign(_stand_in_key(), hashes.SHA256())


def _lenient_verify(
    model: StackModel,
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    purpose: Purpose,
    at: dt.datetime,
) -> tuple[list[x509.Certificate] | None, bool]:
    """The chain cryptography builds under ``model``'s extension policies (no name
    checked: the client verifier, with the purpose's EKU checked by the leaf policy),
    against the anchors as the stack reads them; and whether a stand-in anchor was used."""
    if not roots:
        return None, False
    originals: dict[str, x509.Certificate] = {}
    store: list[x509.Certificate] = []
    for root in roots:
        seen = _anchor_as_read(model.anchor, root) or root
        originals[fingerprint(seen)] = root
        store.append(seen)
    ca, ee = _policies(model, purpose, frozenset(originals))
    builder = (
        PolicyBuilder().store(Store(store)).time(at).extension_policies(ca_policy=ca, ee_policy=ee)
    )
    try:
        chain = builder.build_client_verifier().verify(leaf, list(intermediates)).chain
    except VerificationError:
        return None, False
    stood_in = any(originals.get(fingerprint(c), c) is not c for c in chain)
    return [originals.get(fingerprint(c), c) for c in chain], stood_in


#: What trusting the chain's own root repairs (missing-issuer: a root found among the
#: candidates, not sent).
_UNANCHORED = frozenset({Code.UNTRUSTED_ROOT, Code.UNTRUSTED_SELF_SIGNED, Code.MISSING_ISSUER})
#: Web-PKI profile refusals a stack's extension policies may accept (see _lenient_verify);
#: never dates, signatures or keys.
_PROFILE = frozenset(
    {
        Code.WRONG_KEY_USAGE,
        Code.MISSING_AKI,
        Code.NOT_RFC5280,
        Code.CA_AS_LEAF,
        Code.NOT_A_CA,
        Code.WRONG_EKU,
    }
)


def _once_trusted(
    model: StackModel,
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    chain: Sequence[x509.Certificate],
    errors: list[Finding],
    purpose: Purpose,
    at: dt.datetime,
    root_fps: frozenset[str],
) -> tuple[list[Finding], list[Finding]]:
    """``(errors, kept)``: when the chain's root is missing from the trust store and the
    stack accepts the rest of the chain once that root is trusted, only the missing root
    fails the channel (its fix: trust the root); the web-PKI profile refusals the stack
    would then accept are kept as warnings, as they are after the root is added. Otherwise
    ``errors`` unchanged and no warning."""
    codes = {f.code for f in errors}
    if not codes & _UNANCHORED or not codes - _UNANCHORED or codes - _UNANCHORED - _PROFILE:
        return errors, []
    missing = [c for c in chain if is_self_signed(c) and fingerprint(c) not in root_fps]
    if not missing:
        return errors, []
    sent = [*intermediates, *(c for c in chain[1:] if not is_self_signed(c))]
    trusted, stood_in = _lenient_verify(model, leaf, sent, [*roots, *missing], purpose, at)
    if trusted is None or fingerprint(trusted[0]) != fingerprint(leaf):
        return errors, []
    if len(trusted) == 1:  # the leaf itself as its anchor: the stack's dates are not ours
        return errors, []
    kept = [
        _as_warning(model, f, _accepted_because(model, f, stood_in))
        for f in errors
        if f.code not in _UNANCHORED
    ]
    return [f for f in errors if f.code in _UNANCHORED], kept


def _requirements(
    model: StackModel,
    chain: Sequence[x509.Certificate],
    purpose: Purpose,
    errors: Sequence[Finding],
) -> list[Finding]:
    """Refusals of ``model``'s requirements (stricter than web-PKI) on ``chain``."""
    out: list[Finding] = []
    seen = {(f.code, f.subject) for f in errors}
    for i, cert in enumerate(chain):
        place = Place(i, i == len(chain) - 1, purpose, chain[i + 1] if i + 1 < len(chain) else None)
        for rule in model.requirements:
            why = rule.refuses(cert, place)
            name = display_name(cert)
            if why is None or (rule.code, name) in seen:
                continue
            seen.add((rule.code, name))
            out.append(
                Finding(
                    rule.code,
                    f"{model.title} refuses {name}: {why} ({rule.cite})",
                    rule.fix.format(name=name),
                    name,
                )
            )
    return out


def _without_partial_chain(
    model: StackModel,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
) -> tuple[list[x509.Certificate], list[x509.Certificate], list[Finding]]:
    """(anchors, intermediates, notes) for a stack that ends a path only at a self-signed
    trusted certificate: the other trust-store certificates serve as intermediates."""
    loose = [r for r in roots if not is_self_signed(r)]
    if not loose:
        return list(roots), list(intermediates), []
    names = ", ".join(display_name(r) for r in loose)
    note = Finding(
        Code.MISSING_ISSUER,
        f"{names} in the trust store {'is' if len(loose) == 1 else 'are'} not self-signed: "
        f"{model.title} ends a chain only at a self-signed trusted root and uses "
        f"{'it' if len(loose) == 1 else 'them'} as intermediates ({model.partial_chain_cite})",
        "add the root that issued them to the trust store",
        display_name(loose[0]),
        "warning",
    )
    anchors = [r for r in roots if is_self_signed(r)]
    return anchors, [*intermediates, *loose], [note]


def _spki(cert: x509.Certificate) -> bytes:
    key = public_key(cert)
    if key is None:  # a key cryptography cannot load: the certificate stands for itself
        return cert.tbs_certificate_bytes
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _first_sent(
    model: StackModel, intermediates: Sequence[x509.Certificate]
) -> tuple[list[x509.Certificate], list[Finding]]:
    """(intermediates, notes) for a stack that takes the first certificate sent for an
    issuer: later certificates with the same subject and key as an earlier one are dropped."""
    seen: set[tuple[bytes, bytes]] = set()
    kept: list[x509.Certificate] = []
    notes: list[Finding] = []
    for cert in intermediates:
        key = (cert.subject.public_bytes(), _spki(cert))
        if any(c is cert or c == cert for c in kept):  # the same certificate sent twice
            continue
        if key in seen:
            name = display_name(cert)
            notes.append(
                Finding(
                    Code.VERIFICATION_FAILED,
                    f"two certificates of CA {name} are sent; {model.title} uses the first "
                    f"one sent and never the other ({model.first_sent_cite})",
                    f"send only the certificate of {name} that chains to the trusted root "
                    "(remove the older one from the uploaded chain)",
                    name,
                    "warning",
                )
            )
            continue
        seen.add(key)
        kept.append(cert)
    return kept, notes


def _accepted_because(model: StackModel, finding: Finding, stood_in: bool) -> str:
    """The citation a web-PKI refusal the stack accepts is kept with."""
    if finding.code == Code.CA_AS_LEAF and model.leaf_ca:
        return model.leaf_ca_cite
    if finding.code == Code.WRONG_KEY_USAGE and model.ca_keyusage_cite:
        return model.ca_keyusage_cite
    return f"{model.cite}; {model.anchor.cite}" if stood_in else model.cite


def verify_for_stack(
    stack: Stack | str,
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    purpose: Purpose = "server",
    peer_name: str | None = None,
    at: dt.datetime | None = None,
    candidates: Sequence[x509.Certificate] = (),
    context: TrustContext | None = None,
    lint: bool = True,
) -> Verdict:
    """The verdict ``stack`` gives ``leaf`` (+ the ``intermediates`` sent) against ``roots``.

    ``purpose``: ``"server"`` or ``"client"`` (the leaf's EKU must allow it).
    ``peer_name``: the name the stack checks (None: no name check, as in mutual TLS by
    trust store or an IKE peer identified by its DN). ``at``: the verification time
    (default: now). ``context``: a :class:`TrustContext` over the same ``roots`` to reuse
    (its web-PKI verifiers are cached). ``lint``: a passing verdict also carries web-PKI's
    warnings (weak key, long validity, expiring soon). Returns a :class:`Verdict` whose
    ``stack`` is the stack's value; web-PKI errors the stack accepts are kept as warnings.
    Raises :class:`~ccapki.errors.InputError` for an unknown stack.
    """
    try:
        which = Stack(stack)
    except ValueError:
        raise InputError(
            f"unknown verifying stack {stack!r}",
            f"use one of: {', '.join(s.value for s in Stack)}",
        ) from None
    model = STACKS[which]
    when = at if at is not None else dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    notes: list[Finding] = []
    if model.first_sent_cite:
        intermediates, notes = _first_sent(model, intermediates)
    if not model.partial_chain:
        roots, intermediates, loose = _without_partial_chain(model, roots, intermediates)
        notes += loose
        if loose:
            context = None
    ctx = context if context is not None else TrustContext(roots)
    if which is Stack.WEBPKI:
        web = ctx.verify(
            leaf, intermediates, purpose=purpose, peer_name=peer_name, at=when,
            candidates=candidates, lint_ok=lint,
        )  # fmt: skip
        return replace(web, stack=which.value)
    # web-PKI's verdict without a name: names are the stack's own business (below)
    web = ctx.verify(
        leaf, intermediates, purpose=purpose, at=when, candidates=candidates, lint_ok=lint
    )
    name_error = None
    if peer_name is not None and model.names != "none":
        name_error = _name_finding(model, leaf, peer_name)
    naming = (Code.MISSING_SAN, Code.NAME_MISMATCH)
    kept: list[Finding] = []
    errors: list[Finding] = []
    chain: Sequence[x509.Certificate] | None = web.chain
    stood_in = False
    trusted_leaf = (
        bool(model.trusted_leaf_cite) and not web.ok and fingerprint(leaf) in ctx.root_fingerprints
    )
    if not web.ok and not trusted_leaf:
        chain, stood_in = _lenient_verify(model, leaf, intermediates, roots, purpose, when)
    if web.ok:
        pass
    elif trusted_leaf:  # the stack stops at the trusted leaf: nothing else of it is read
        chain = (leaf,)
        kept = [
            _as_warning(model, f, model.trusted_leaf_cite)
            for f in web.errors
            if name_error is None or f.code not in naming
        ]
    elif chain is not None:  # cryptography accepts under the stack's extension policies
        kept = [
            _as_warning(model, f, _accepted_because(model, f, stood_in))
            for f in web.errors
            if name_error is None or f.code not in naming
        ]
    else:
        # the store's fingerprints, cached on the context (built over these very roots)
        roles = _roles(web.chain or (leaf,), ctx.root_fingerprints)
        web_errors = [f for f in web.errors if f.code not in naming]
        for f in web_errors:
            got = roles.get(f.subject)
            rule = None
            if got is not None:
                rule = next((r for r in model.leniencies if r.matches(f, *got)), None)
            if rule is None:
                errors.append(f)
            else:
                kept.append(_as_warning(model, f, rule.cite))
        errors, once = _once_trusted(
            model, leaf, intermediates, roots, web.chain, errors, purpose, when,
            ctx.root_fingerprints,
        )  # fmt: skip
        kept += once
        if not web_errors:  # refused for a reason our analysis does not name
            errors.append(
                Finding(
                    Code.VERIFICATION_FAILED,
                    f"{model.title} refuses {display_name(leaf)}: "
                    f"{web.raw_error or 'no reason given'}",
                    "inspect the chain with `ccapki inspect` and compare it with the trust store",
                    display_name(leaf),
                )
            )
        chain = web.chain
    if name_error is not None:
        errors.append(name_error)
    errors += _rsa_floor(model, chain or (leaf,), errors)
    errors += _requirements(model, chain or (leaf,), purpose, errors)
    warnings = [*kept, *web.warnings, *notes]
    ok = not errors
    return Verdict(
        ok,
        tuple(chain or ()),
        tuple(errors + warnings),
        None if ok else web.raw_error,
        peer_name if model.names != "none" else None,
        which.value,
    )


# ---------------------------------------------------------------------------- docs


def stack_rules_markdown(channel_stacks: Mapping[str, str]) -> list[str]:
    """Markdown lines for ``docs/stacks.md``: which stack verifies each channel
    (``channel_stacks``: :data:`ccapki.topology.releases.CHANNEL_STACKS`), then each
    modelled stack's deviations from web-PKI with the behaviour each rule cites. A client
    channel also lists the client platforms whose policies judge it beside the stack
    (:data:`ccapki.trust._policy.CHANNEL_PLATFORMS`: the agent on Windows and on a Mac)."""
    from ccapki.trust._policy import CHANNEL_PLATFORMS, PLATFORMS

    lines = [
        "## Channels and the stack that verifies each",
        "",
        "| channel | stack | modelled as | client policies |",
        "|---|---|---|---|",
    ]
    for channel, name in channel_stacks.items():
        policies = ", ".join(
            f"`{p}` ({PLATFORMS[p].title})" for p in CHANNEL_PLATFORMS.get(channel, ())
        )
        lines.append(f"| {channel} | `{name}` | {STACKS[Stack(name)].title} | {policies or '-'} |")
    lines += [
        "",
        "## How each stack differs from web-PKI",
        "",
        "Every verdict starts from cryptography's web-PKI verifier. Where a stack accepts "
        "what web-PKI refuses, the web-PKI finding stays in the verdict as a warning "
        "(`web-PKI refuses: ...`).",
        "",
        "| stack | CA keyUsage | SKI/AKI, critical BC, SAN | EKU on CAs | names | trust anchors "
        "| also accepts | also refuses |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in STACKS.values():
        ku = {
            "required": "required, with keyCertSign",
            "if-present": "checked only when present",
            "not-on-anchor": "checked only when present; never on a trust anchor",
            "ignored": "not read (basicConstraints CA:TRUE decides)",
        }[model.ca_keyusage]
        eku = "must allow the purpose" if model.ca_eku else "ignored"
        if model.ca_eku and model.ca_eku_either_tls_cite:
            eku = "serverAuth or clientAuth allows both TLS purposes"
        names = {"none": "none checked", "san": "SAN only", "san-or-cn": "SAN, else CN"}[
            model.names
        ]
        if model.wildcards is not None:
            names += f"; wildcards: {_WILDCARD_WORDS[model.wildcards.partial]}"
            names += f", {model.wildcards.min_labels}+ labels"
        also = [f"`{r.code}` on {'/'.join(sorted(r.roles))}" for r in model.leniencies]
        if model.leaf_ca:
            also.insert(0, "a CA:TRUE leaf")
        if model.trusted_leaf_cite:
            if any(r.refuses is _ike_leaf_ku for r in model.requirements):
                also.append("a directly trusted leaf, whatever its dates or EKU")
            else:
                also.append("a directly trusted leaf, whatever its dates, EKU or extensions")
        refuses = [_rule_summary(r) for r in model.requirements]
        if model.min_rsa:
            refuses.append(f"RSA under {model.min_rsa} bits")
        if model.first_sent_cite:
            refuses.append("a path through a CA's second copy (the first one sent is used)")
        lines.append(
            f"| `{model.stack}` | {ku} | {_extensions_column(model)} | {eku} | {names} "
            f"| {_anchors_column(model)} | {'; '.join(also) or '-'} | {'; '.join(refuses) or '-'} |"
        )
    lines += ["", "Sources:", ""]
    for model in STACKS.values():
        cites = [
            model.cite,
            model.anchor.cite and f"trust anchors: {model.anchor.cite}",
            model.partial_chain_cite and f"path ends: {model.partial_chain_cite}",
            model.wildcards and f"wildcards: {model.wildcards.cite}",
            model.leaf_ca_cite and f"CA:TRUE leaf: {model.leaf_ca_cite}",
            model.ca_keyusage_cite and f"CA keyUsage: {model.ca_keyusage_cite}",
            model.leaf_eku_cite and f"leaf EKU: {model.leaf_eku_cite}",
            model.ca_eku_either_tls_cite and f"CA EKU: {model.ca_eku_either_tls_cite}",
            model.trusted_leaf_cite and f"directly trusted leaf: {model.trusted_leaf_cite}",
            model.first_sent_cite and f"two copies of a CA sent: {model.first_sent_cite}",
            *(f"`{r.code}`: {r.cite}" for r in model.leniencies),
            *(f"refuses ({_rule_summary(r)}): {r.cite}" for r in model.requirements),
            model.min_rsa_cite and f"RSA floor: {model.min_rsa_cite}",
        ]
        lines.append(f"- `{model.stack}` ({model.title}): " + "; ".join(c for c in cites if c))
    return lines


#: What each requirement refuses, in a few words (docs/stacks.md).
_RULE_SUMMARY: dict[Callable[[x509.Certificate, Place], str | None], str] = {
    _leaf_ku_without_digsig: "a leaf keyUsage without digitalSignature",
    _java_leaf_ku: "a leaf keyUsage without digitalSignature, unless trusted directly",
    _client_ku_without_digsig: "a client keyUsage without digitalSignature",
    _ca_without_ski: "a CA without SKI",
    _aki_below_anchor: "no AKI below the anchor",
    _trusted_leaf_not_ca: "a directly trusted leaf that is not CA:TRUE",
    _eddsa: "Ed25519/Ed448",
    _off_tls_curve: "ECDSA off P-256/P-384/P-521 (secp256k1...)",
    _ike_leaf_ku: "a leaf keyUsage without digitalSignature or nonRepudiation, even "
    "trusted directly",
    _aki_not_issuer_ski: "an AKI that is not its issuer's SKI",
}


_WILDCARD_WORDS = {
    "none": "a whole first label only",
    "anywhere": "any `*` in the first label",
    "edge": "one `*` first or last in the first label",
    "start": "one `*` first in the first label",
}


def _rule_summary(rule: Requirement) -> str:
    return _RULE_SUMMARY.get(rule.refuses, rule.code)


def _extensions_column(model: StackModel) -> str:
    if model.lenient_extensions:
        return "not required"
    if model.leaf_san_required and model.leaf_aki_required:
        return "required (RFC 5280 / CA/B)"
    return "critical BC on CAs; SKI on CAs, AKI below the anchor; SAN not required"


def _anchors_column(model: StackModel) -> str:
    parts = ["any trusted certificate" if model.partial_chain else "self-signed only"]
    if model.anchor.v1_ca:
        parts.append("a v1 root is a CA")
    if not model.anchor.constraints:
        parts.append("pathLen and nameConstraints unread")
    return "; ".join(parts)
