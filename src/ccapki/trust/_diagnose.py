"""Our own analysis of a chain: why ``cryptography.x509.verification`` refused it.

The verifier's error strings are unstructured (a missing intermediate and an untrusted
root read the same: "candidates exhausted"), so this module rebuilds the candidate chain
itself (issuer name + AKI/SKI + ``verify_directly_issued_by``) and checks each
certificate against the rules the verifier applies (CA/B Forum profile as implemented
by pyca/cryptography's ``cryptography-x509-verification`` crate):

- every certificate (trust anchors too): X.509 v3, a serial number not negative, valid
  at the validation time;
- end-entity: AKI present, SAN present (critical only when the subject is empty),
  no CA:TRUE, no keyCertSign, EKU (when present) holds the purpose's EKU (anyEKU is
  not enough), no nameConstraints;
- CA: critical basicConstraints CA:TRUE with a pathLen not exceeded, keyUsage with
  keyCertSign, EKU (when present) holds the purpose's EKU or anyEKU, AKI (when present)
  holds a keyIdentifier only;
- issuers' keys: RSA >= 2048 bits or ECDSA P-256/384/521; signatures of every
  non-anchor certificate: RSA PKCS#1 v1.5 / PSS or ECDSA with SHA-256/384/512;
- at most ``max_depth`` (default 8) certificates between the leaf and the anchor.

Only called when a verdict fails (or when a lint is asked for), so it may be slow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from ccapki.pki.certs import (
    aki_key_id,
    basic_constraints,
    days_left,
    display_name,
    extension,
    extension_critical,
    extensions_error,
    fingerprint,
    is_ca,
    is_self_signed,
    issuer_display_name,
    name_matches,
    public_key,
    public_key_error,
    renewal_window,
    san_names,
)
from ccapki.pki.keys import describe_public_key
from ccapki.pki.validitycaps import APPLE_825, PUBLIC_398
from ccapki.trust._certs import dedupe, find_issuers, fmt_date, serial_of
from ccapki.trust._model import Code, Finding, Severity
from ccapki.trust._policy import TLS_CURVES

__all__ = [
    "CandidateChain",
    "Purpose",
    "analyze",
    "build_candidate_chain",
    "expiry_warnings",
    "lint",
]

Purpose = Literal["server", "client"]
Source = Literal["leaf", "sent", "trust-store", "candidate"]

#: cryptography's default maximum number of intermediates (DEFAULT_MAX_CHAIN_DEPTH).
DEFAULT_MAX_DEPTH = 8

#: Apple HT210176 (iOS 13 / macOS 10.15): TLS server certificates valid at most 825 days;
#: the cap the Apple client policies enforce (:data:`ccapki.pki.validitycaps.APPLE_825`).
APPLE_MAX_DAYS = APPLE_825.days

_PERMITTED_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA256,
        SignatureAlgorithmOID.RSA_WITH_SHA384,
        SignatureAlgorithmOID.RSA_WITH_SHA512,
        SignatureAlgorithmOID.RSASSA_PSS,
        SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    }
)
_WEAK_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
        SignatureAlgorithmOID.DSA_WITH_SHA1,
        SignatureAlgorithmOID.RSA_WITH_MD5,
        SignatureAlgorithmOID._RSA_WITH_SHA1,
    }
)
_PERMITTED_CURVES = TLS_CURVES
_EKU_FOR: dict[str, x509.ObjectIdentifier] = {
    "server": ExtendedKeyUsageOID.SERVER_AUTH,
    "client": ExtendedKeyUsageOID.CLIENT_AUTH,
}
_EKU_NAME: dict[str, str] = {"server": "serverAuth", "client": "clientAuth"}


@dataclass(frozen=True)
class CandidateChain:
    """The chain our own analysis could build, leaf first, and how it ends."""

    certs: tuple[x509.Certificate, ...]
    sources: tuple[Source, ...]
    #: "anchored": the last certificate is in the trust store; "self-signed": the last
    #: certificate is self-signed and not in the trust store; "no-issuer": nobody known
    #: signed the last certificate.
    end: Literal["anchored", "self-signed", "no-issuer"]
    #: certificates with the right issuer name that did not sign the last certificate
    impostors: tuple[x509.Certificate, ...] = ()


def build_candidate_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    candidates: Sequence[x509.Certificate] = (),
    *,
    root_fingerprints: frozenset[str] | None = None,
) -> CandidateChain:
    """Walk from ``leaf`` up: trust store first, then what was sent, then other known CAs.

    Returns the :class:`CandidateChain` (leaf first) and how it ends; raises nothing.
    ``root_fingerprints`` spares recomputing the fingerprints of ``roots``.
    """
    root_fps = root_fingerprints
    if root_fps is None:
        root_fps = frozenset(fingerprint(r) for r in roots)
    certs = [leaf]
    sources: list[Source] = ["leaf"]
    used = {fingerprint(leaf)}
    current = leaf
    impostors: list[x509.Certificate] = []
    while len(certs) < 32:
        if fingerprint(current) in root_fps:
            return CandidateChain(tuple(certs), tuple(sources), "anchored")
        if is_self_signed(current):
            return CandidateChain(tuple(certs), tuple(sources), "self-signed")
        found: x509.Certificate | None = None
        source: Source = "trust-store"
        impostors = []
        pools: tuple[tuple[Source, Sequence[x509.Certificate]], ...] = (
            ("trust-store", roots),
            ("sent", intermediates),
            ("candidate", candidates),
        )
        for src, pool in pools:
            fresh = [c for c in pool if fingerprint(c) not in used]
            good, name_only = find_issuers(current, fresh)
            impostors += name_only
            if good:
                found, source = good[0], src
                break
        if found is None:
            break
        certs.append(found)
        sources.append(source)
        used.add(fingerprint(found))
        current = found
    return CandidateChain(tuple(certs), tuple(sources), "no-issuer", tuple(dedupe(impostors)))


def _ca_renewal_fix(cert: x509.Certificate, name: str, holders: str) -> str:
    """The fix of a CA certificate of a chain that expired or is about to: renewed where
    ccapki holds the CA; an outside CA's intermediate is the CA's to replace, and the
    certificates it signed are reissued under the new one."""
    fix = (
        f"renew CA {name} (same key, new validity) and put the new certificate in {holders} "
        "the old one"
    )
    if is_self_signed(cert):
        return fix
    return (
        f"{fix}; a third-party CA's intermediate is the CA's to replace: have it sign new "
        "certificates under its current intermediate (`ccapki csr NAME`, then `ccapki import` "
        "the answer with its chain)"
    )


def _days(delta: dt.timedelta) -> str:
    days = abs(delta.days)
    return "1 day" if days == 1 else f"{days} days"


def _validity(cert: x509.Certificate, at: dt.datetime, role: str) -> list[Finding]:
    name = display_name(cert)
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    if at > na:
        if role == "leaf":
            fix = (
                f"issue a new identity certificate for {name} and install it on every appliance "
                "that presents it; until then every TLS connection that checks it fails"
            )
        else:
            fix = _ca_renewal_fix(cert, name, "the trust stores and chains that hold")
        return [
            Finding(
                Code.EXPIRED,
                f"{role} certificate {name} expired on {fmt_date(na)} "
                f"({_days(at - na)} before {fmt_date(at)})",
                fix,
                name,
            )
        ]
    if at < nb:
        return [
            Finding(
                Code.NOT_YET_VALID,
                f"{role} certificate {name} is not valid until {fmt_date(nb)} "
                f"({_days(nb - at)} after {fmt_date(at)}): a clock is wrong",
                "check the clock on the appliance and on the verifying side (clock skew is the "
                "first cause: point the CAM and every CAS at the same NTP server); if the clocks "
                f"are right, {name} was issued with a future start date: re-issue it",
                name,
            )
        ]
    return []


def _malformed(cert: x509.Certificate, role: str) -> list[Finding]:
    """A certificate whose extensions or key cannot be read: verifiers refuse it outright."""
    name = display_name(cert)
    out: list[Finding] = []
    why = extensions_error(cert)
    if why is not None:
        out.append(
            Finding(
                Code.MALFORMED,
                f"{role} certificate {name} is malformed: {why}; RFC 5280 verifiers (Java, "
                "OpenSSL, browsers) refuse it, and ccapki reads it as if those extensions were "
                "absent",
                f"re-issue {name} (ccapki issues well-formed certificates); if a CA issued it, "
                "ask the CA for a corrected certificate",
                name,
            )
        )
    why = public_key_error(cert)
    if why is not None:
        out.append(
            Finding(
                Code.UNSUPPORTED_ALGORITHM,
                f"{role} certificate {name}: {why}; no verifier can check what it signs or "
                "what it presents",
                f"generate an RSA 2048+ or ECDSA P-256 key and re-issue {name}",
                name,
            )
        )
    return out


def _serial(cert: x509.Certificate, role: str) -> list[Finding]:
    """A negative serial number: cryptography's verifier refuses it (RFC 5280 4.1.2.2)."""
    if serial_of(cert) >= 0:
        return []
    name = display_name(cert)
    return [
        Finding(
            Code.NEGATIVE_SERIAL,
            f"{role} certificate {name} has a negative serial number; RFC 5280 4.1.2.2 "
            "requires a positive one and the web-PKI verifier refuses it",
            f"re-issue {name} with a positive serial number (ccapki always uses one)",
            name,
        )
    ]


def _signature_findings(cert: x509.Certificate, *, anchor: bool, role: str) -> list[Finding]:
    oid = cert.signature_algorithm_oid
    if oid in _PERMITTED_SIGNATURES:
        return []
    name = display_name(cert)
    alg = getattr(oid, "_name", None) or oid.dotted_string
    severity: Severity = "warning" if anchor else "error"
    why = (
        " (the trust store vouches for this anchor, so its own signature is not checked)"
        if anchor
        else ""
    )
    if oid in _WEAK_SIGNATURES:
        return [
            Finding(
                Code.WEAK_SIGNATURE,
                f"{role} certificate {name} is signed with {alg}; SHA-1 and MD5 signatures are "
                f"refused by browsers, Apple platforms and the CA/B Forum profile{why}",
                f"re-issue {name} with a SHA-256 (or stronger) signature",
                name,
                severity,
            )
        ]
    return [
        Finding(
            Code.UNSUPPORTED_ALGORITHM,
            f"{role} certificate {name} is signed with {alg}, which the Web PKI profile does not "
            f"permit (RSA or ECDSA with SHA-256/384/512 only){why}",
            f"re-issue {name} with an RSA (2048+) or ECDSA P-256/P-384 key and SHA-256",
            name,
            severity,
        )
    ]


def _key_findings(cert: x509.Certificate, *, role: str, severity: Severity) -> list[Finding]:
    name = display_name(cert)
    key = public_key(cert)
    if key is None:  # reported by _malformed
        return []
    sev = severity
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            return [
                Finding(
                    Code.WEAK_KEY,
                    f"{role} certificate {name} has a {key.key_size}-bit RSA key; 2048 bits is "
                    "the minimum (CA/B Forum BR 6.1.5, Apple HT210176)",
                    f"generate a new key (RSA 2048+ or ECDSA P-256) and re-issue {name}",
                    name,
                    sev,
                )
            ]
        return []
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name in _PERMITTED_CURVES:
            return []
        what = f"an ECDSA {key.curve.name} key"
    else:
        kind = describe_public_key(key)[0]
        what = f"{'an' if kind[:1] in 'AEIOU' else 'a'} {kind} key"
    return [
        Finding(
            Code.UNSUPPORTED_ALGORITHM,
            f"{role} certificate {name} has {what}; the Web PKI profile allows RSA and ECDSA "
            "P-256/P-384/P-521 only",
            f"generate an RSA 2048+ or ECDSA P-256 key and re-issue {name}",
            name,
            sev,
        )
    ]


@dataclass(frozen=True)
class _Leaf:
    """What the end-entity rules read besides the certificate."""

    purpose: Purpose
    peer_name: str | None


#: An end-entity rule: one finding, or ``None`` when the rule holds.
_LeafRule = Callable[[x509.Certificate, _Leaf], Finding | None]


def _leaf_v3(leaf: x509.Certificate, ctx: _Leaf) -> Finding | None:
    if leaf.version == x509.Version.v3:
        return None
    name = display_name(leaf)
    return Finding(
        Code.NOT_RFC5280,
        f"{name} is an X.509 {leaf.version.name} certificate; v3 is required",
        f"re-issue {name} as an X.509 v3 certificate (ccapki always does)",
        name,
    )


def _leaf_not_ca(leaf: x509.Certificate, ctx: _Leaf) -> Finding | None:
    if not is_ca(leaf):
        return None
    name = display_name(leaf)
    return Finding(
        Code.CA_AS_LEAF,
        f"{name} is a CA certificate (basicConstraints CA:TRUE) presented as the "
        "appliance identity; a TLS peer must present an end-entity certificate",
        f"issue an identity certificate (CA:FALSE) for the appliance from {name} and "
        f"install that; keep {name} in the trust stores only",
        name,
    )


def _leaf_no_key_cert_sign(leaf: x509.Certificate, ctx: _Leaf) -> Finding | None:
    ku = extension(leaf, x509.KeyUsage)
    if ku is None or not ku.key_cert_sign or is_ca(leaf):
        return None
    name = display_name(leaf)
    return Finding(
        Code.WRONG_KEY_USAGE,
        f"{name} is an end-entity certificate whose keyUsage asserts keyCertSign "
        "(RFC 5280 4.2.1.3 reserves it for CAs)",
        f"re-issue {name} with keyUsage digitalSignature (plus keyEncipherment for RSA) "
        "and without keyCertSign",
        name,
    )


def _leaf_aki(leaf: x509.Certificate, ctx: _Leaf) -> Finding | None:
    if aki_key_id(leaf) is not None:
        return None
    name = display_name(leaf)
    return Finding(
        Code.MISSING_AKI,
        f"{name} has no authorityKeyIdentifier with a key identifier, so it is not RFC "
        "5280 conformant (4.2.1.1) and RFC 5280 verifiers refuse it",
        f"re-issue {name} with an authorityKeyIdentifier (ccapki issues them); for a "
        "true self-signed CCA temporary certificate, replace it with one from ccapki",
        name,
    )


def _leaf_san(leaf: x509.Certificate, ctx: _Leaf) -> Finding | None:
    """A subjectAltName is present, critical exactly when the subject is empty."""
    name = display_name(leaf)
    if san_names(leaf) is None:
        asked = f" ({ctx.peer_name} was asked)" if ctx.peer_name else ""
        return Finding(
            Code.MISSING_SAN,
            f"{name} has no subjectAltName{asked}; names only in the CN are ignored by "
            "RFC 6125 verifiers, Chrome 58+ and Apple platforms",
            f"re-issue {name} with every DNS name and IP address the peers use in the "
            "subjectAltName (for an HA pair: the Service IP/virtual name and both peers)",
            name,
        )
    critical = extension_critical(leaf, x509.SubjectAlternativeName)
    empty = len(leaf.subject) == 0
    if critical is None or critical == empty:
        return None
    return Finding(
        Code.NOT_RFC5280,
        f"{name}'s subjectAltName is {'critical' if critical else 'not critical'} while its "
        f"subject is {'empty' if empty else 'not empty'} (RFC 5280 4.2.1.6)",
        f"re-issue {name} with a non-critical subjectAltName and a non-empty subject",
        name,
    )


def _leaf_name(leaf: x509.Certificate, ctx: _Leaf) -> Finding | None:
    """The name asked for is in the subjectAltName."""
    sans = san_names(leaf)
    peer_name = ctx.peer_name
    if sans is None or peer_name is None or name_matches(peer_name, sans):
        return None
    name = display_name(leaf)
    present = ", ".join(sans) or "none"
    fix = f"re-issue {name} with {peer_name} in the subjectAltName, or connect to one of: {present}"
    if name_matches(peer_name, [name]):  # "X was asked but X names only" hid where it is
        return Finding(
            Code.NAME_MISMATCH,
            f"the certificate names {peer_name} only in its CN; clients check the "
            f"subjectAltName (the CN is ignored once there is one), which lists {present}",
            fix,
            name,
        )
    return Finding(
        Code.NAME_MISMATCH, f"{peer_name} was asked but {name} names only: {present}", fix, name
    )


def _eku_names(eku: x509.ExtendedKeyUsage) -> str:
    return ", ".join(getattr(o, "_name", o.dotted_string) for o in eku) or "none"


def _leaf_eku(leaf: x509.Certificate, ctx: _Leaf) -> Finding | None:
    eku = extension(leaf, x509.ExtendedKeyUsage)
    if eku is None or _EKU_FOR[ctx.purpose] in eku:
        return None
    name = display_name(leaf)
    return Finding(
        Code.WRONG_EKU,
        f"{name} is used as a TLS {ctx.purpose} but its extendedKeyUsage ({_eku_names(eku)}) "
        f"lacks {_EKU_NAME[ctx.purpose]}",
        f"re-issue {name} with extendedKeyUsage serverAuth and clientAuth (CAM and CAS "
        "authenticate each other both ways)",
        name,
    )


def _leaf_no_name_constraints(leaf: x509.Certificate, ctx: _Leaf) -> Finding | None:
    if extension(leaf, x509.NameConstraints) is None:
        return None
    name = display_name(leaf)
    return Finding(
        Code.NOT_RFC5280,
        f"{name} is an end-entity certificate carrying nameConstraints (CA-only)",
        f"re-issue {name} without nameConstraints",
        name,
    )


#: The end-entity rules, in the order their findings are reported.
_LEAF_RULES: tuple[_LeafRule, ...] = (
    _leaf_v3,
    _leaf_not_ca,
    _leaf_no_key_cert_sign,
    _leaf_aki,
    _leaf_san,
    _leaf_name,
    _leaf_eku,
    _leaf_no_name_constraints,
)


def _leaf_findings(
    leaf: x509.Certificate,
    purpose: Purpose,
    peer_name: str | None,
    *,
    anchor: bool,
) -> list[Finding]:
    ctx = _Leaf(purpose, peer_name)
    out = [f for rule in _LEAF_RULES if (f := rule(leaf, ctx)) is not None]
    return out + _signature_findings(leaf, anchor=anchor, role="leaf")


#: A CA rule: the certificate, how many CAs sit between it and the leaf, the purpose.
_CaRule = Callable[[x509.Certificate, int, Purpose], Finding | None]


def _ca_is_ca(cert: x509.Certificate, depth: int, purpose: Purpose) -> Finding | None:
    bc = basic_constraints(cert)
    if bc is not None and bc.ca:
        return None
    name = display_name(cert)
    return Finding(
        Code.NOT_A_CA,
        f"{name} signs another certificate but is not a CA "
        f"({'no basicConstraints' if bc is None else 'basicConstraints CA:FALSE'})",
        f"sign identities with a real CA (CA:TRUE, keyCertSign); if {name} is a true "
        "self-signed identity, trust it directly and do not use it to sign others",
        name,
    )


def _ca_bc_critical(cert: x509.Certificate, depth: int, purpose: Purpose) -> Finding | None:
    if not is_ca(cert) or extension_critical(cert, x509.BasicConstraints) is not False:
        return None
    name = display_name(cert)
    return Finding(
        Code.NOT_RFC5280,
        f"CA {name}'s basicConstraints is not marked critical (RFC 5280 4.2.1.9)",
        f"re-issue CA {name} with a critical basicConstraints extension",
        name,
    )


def _ca_path_length(cert: x509.Certificate, depth: int, purpose: Purpose) -> Finding | None:
    bc = basic_constraints(cert)
    if bc is None or not bc.ca or bc.path_length is None or depth <= bc.path_length:
        return None
    name = display_name(cert)
    return Finding(
        Code.PATH_LENGTH,
        f"CA {name} allows {bc.path_length} CA(s) below it (pathLen "
        f"{bc.path_length}) but {depth} sit between it and the leaf",
        f"re-issue CA {name} with pathLen >= {depth} (or none), or issue the "
        f"identity from a CA fewer levels down",
        name,
    )


def _ca_key_cert_sign(cert: x509.Certificate, depth: int, purpose: Purpose) -> Finding | None:
    ku = extension(cert, x509.KeyUsage)
    if ku is not None and ku.key_cert_sign:
        return None
    name = display_name(cert)
    return Finding(
        Code.WRONG_KEY_USAGE,
        f"CA {name} "
        + ("has no keyUsage" if ku is None else "has a keyUsage without keyCertSign")
        + "; a CA must assert keyCertSign",
        f"re-issue CA {name} with keyUsage keyCertSign and cRLSign",
        name,
    )


def _ca_eku(cert: x509.Certificate, depth: int, purpose: Purpose) -> Finding | None:
    eku = extension(cert, x509.ExtendedKeyUsage)
    if eku is None or _EKU_FOR[purpose] in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return None
    name = display_name(cert)
    return Finding(
        Code.WRONG_EKU,
        f"CA {name} restricts its extendedKeyUsage to {_eku_names(eku)}, which excludes "
        f"{_EKU_NAME[purpose]}",
        f"re-issue CA {name} without an extendedKeyUsage or with serverAuth and clientAuth",
        name,
    )


def _ca_aki(cert: x509.Certificate, depth: int, purpose: Purpose) -> Finding | None:
    aki = extension(cert, x509.AuthorityKeyIdentifier)
    if aki is None or (
        aki.key_identifier is not None
        and aki.authority_cert_issuer is None
        and aki.authority_cert_serial_number is None
    ):
        return None
    name = display_name(cert)
    return Finding(
        Code.NOT_RFC5280,
        f"CA {name}'s authorityKeyIdentifier must hold only a keyIdentifier "
        "(CA/B Forum BR 7.1.2.11.1)",
        f"re-issue CA {name} with an authorityKeyIdentifier holding only the keyIdentifier",
        name,
    )


#: The rules for a certificate that signs another one, in the order they are reported.
_CA_RULES: tuple[_CaRule, ...] = (
    _ca_is_ca,
    _ca_bc_critical,
    _ca_path_length,
    _ca_key_cert_sign,
    _ca_eku,
    _ca_aki,
)


def _ca_findings(cert: x509.Certificate, depth: int, purpose: Purpose) -> list[Finding]:
    """Rules for a certificate that signs another one, ``depth`` CAs above the leaf."""
    out = [f for rule in _CA_RULES if (f := rule(cert, depth, purpose)) is not None]
    return out + _key_findings(cert, role="CA", severity="error")


def _candidate_hint(cert: x509.Certificate) -> str:
    return f"{display_name(cert)} (found in the store)"


def _candidate_link(child: x509.Certificate, cert: x509.Certificate) -> Finding:
    """``cert`` (found among the candidates, neither sent nor trusted) issued ``child``."""
    child_name, cert_name = display_name(child), display_name(cert)
    if is_self_signed(cert):
        return Finding(
            Code.MISSING_ISSUER,
            f"{child_name} was issued by {cert_name}, which is not in the trust store",
            f"add {_candidate_hint(cert)} to the trust store",
            child_name,
        )
    return Finding(
        Code.MISSING_INTERMEDIATE,
        f"{child_name} was issued by intermediate CA {cert_name}, which the "
        "peer did not send and the trust store does not hold",
        f"the appliance did not send intermediate {_candidate_hint(cert)}: include "
        "it in the chain (upload it with the identity certificate)",
        child_name,
    )


def _untrusted_top(chain: CandidateChain, candidate_fps: frozenset[str]) -> Finding:
    """The chain ends at a self-signed certificate the trust store does not hold."""
    top = chain.certs[-1]
    name = display_name(top)
    known = " (found in the store)" if fingerprint(top) in candidate_fps else ""
    if len(chain.certs) == 1:
        return Finding(
            Code.UNTRUSTED_SELF_SIGNED,
            f"{name} is a true self-signed certificate (its own root) and is not in the "
            "trust store",
            f"true self-signed: add this certificate itself ({name}{known}) to the trust store",
            name,
        )
    return Finding(
        Code.UNTRUSTED_ROOT,
        f"the chain ends at root {name}, which is not in the trust store (sending "
        "a root does not make it trusted)",
        f"add root {name}{known} to the trust store",
        name,
    )


def _no_issuer(chain: CandidateChain) -> Finding:
    """Nobody known signed the top of the chain (an impostor may carry the issuer's name)."""
    top = chain.certs[-1]
    name = display_name(top)
    issuer = issuer_display_name(top)
    aki = aki_key_id(top)
    keyid = f" (key id {aki.hex(':')})" if aki else ""
    if chain.impostors:
        return Finding(
            Code.SIGNATURE_MISMATCH,
            f"{name} names issuer {issuer}{keyid}, and {len(chain.impostors)} known "
            f"certificate(s) carry that name, but none of them signed {name} (the CA "
            "was regenerated, or it is another CA with the same name)",
            f"find the {issuer} certificate that really issued {name}{keyid} and add "
            f"it to the trust store, or re-issue {name} from the current {issuer}",
            name,
        )
    return Finding(
        Code.MISSING_ISSUER,
        f"nobody known issued {name}: its issuer {issuer}{keyid} was not sent, is "
        "not in the trust store and is not a CA ccapki knows",
        f"get the certificate of {issuer} from the CA that issued {name}: add its "
        "root to the trust store, and have the appliance send any intermediate "
        "with its identity",
        name,
    )


def _anchor_findings(
    chain: CandidateChain,
    candidate_fps: frozenset[str],
) -> list[Finding]:
    """Why the chain is not anchored: candidate CAs it needed, and how it ends."""
    certs, sources = chain.certs, chain.sources
    out = [
        _candidate_link(child, cert)
        for cert, src, child in zip(certs[1:], sources[1:], certs, strict=False)
        if src == "candidate"
    ]
    if chain.end == "self-signed" and sources[-1] != "candidate":
        out.append(_untrusted_top(chain, candidate_fps))
    elif chain.end == "no-issuer":
        out.append(_no_issuer(chain))
    return out


def analyze(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    purpose: Purpose,
    peer_name: str | None,
    at: dt.datetime,
    max_depth: int | None,
    candidates: Sequence[x509.Certificate] = (),
    root_fingerprints: frozenset[str] | None = None,
) -> tuple[CandidateChain, list[Finding]]:
    """Every rule the verifier applies, checked on our own candidate chain.

    Returns the candidate chain and its findings (leaf rules, then each CA's, then why the
    chain is not anchored); raises nothing.
    """
    chain = build_candidate_chain(
        leaf, intermediates, roots, candidates, root_fingerprints=root_fingerprints
    )
    certs = chain.certs
    anchored_at = len(certs) - 1 if chain.end == "anchored" else None
    findings: list[Finding] = []
    findings += _malformed(leaf, "leaf")
    findings += _serial(leaf, "leaf")
    findings += _validity(leaf, at, "leaf")
    findings += _leaf_findings(leaf, purpose, peer_name, anchor=anchored_at == 0)
    for depth, cert in enumerate(certs[1:]):
        role = "root" if is_self_signed(cert) else "intermediate"
        findings += _malformed(cert, role)
        findings += _serial(cert, role)
        findings += _validity(cert, at, role)
        findings += _ca_findings(cert, depth, purpose)
        if anchored_at != depth + 1:
            findings += _signature_findings(cert, anchor=False, role=role)
    limit = DEFAULT_MAX_DEPTH if max_depth is None else max_depth
    non_anchor = anchored_at if anchored_at is not None else len(certs)
    if non_anchor - 1 > limit:
        findings.append(
            Finding(
                Code.CHAIN_TOO_DEEP,
                f"{non_anchor - 1} intermediate CA(s) sit between {display_name(leaf)} and its "
                f"anchor; the limit is {limit}",
                "issue the identity from a CA closer to the root, or trust that intermediate "
                "directly",
                display_name(leaf),
            )
        )
    candidate_fps = frozenset(fingerprint(c) for c in candidates)
    findings += _anchor_findings(chain, candidate_fps)
    return chain, findings


def lint(chain: Sequence[x509.Certificate], *, purpose: Purpose, at: dt.datetime) -> list[Finding]:
    """Warnings for a chain that verified: risks the verifier does not enforce.

    Returns warnings only (weak leaf key or anchor signature, over 825 days, expiring
    within 30 days); raises nothing.
    """
    if not chain:
        return []
    leaf = chain[0]
    name = display_name(leaf)
    out: list[Finding] = []
    out += _key_findings(leaf, role="leaf", severity="warning")
    if len(chain) == 1:
        out += _signature_findings(leaf, anchor=True, role="leaf")
    days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    if purpose == "server" and days > APPLE_MAX_DAYS:
        out.append(
            Finding(
                Code.VALIDITY_TOO_LONG,
                f"{name} is valid for {days} days; macOS and iOS refuse TLS server certificates "
                f"valid longer than {APPLE_MAX_DAYS} days (Apple HT210176)",
                f"re-issue {name} valid for at most {APPLE_MAX_DAYS} days "
                f"({PUBLIC_398.longest_request} if it is publicly trusted)",
                name,
                "warning",
            )
        )
    out += expiry_warnings(chain[:1], at, window=lambda _: _LINT_WINDOW)
    return out


_LINT_WINDOW = dt.timedelta(days=30)


def expiry_warnings(
    chain: Sequence[x509.Certificate],
    at: dt.datetime,
    *,
    window: Callable[[x509.Certificate], dt.timedelta] = renewal_window,
) -> list[Finding]:
    """A warning for each certificate of ``chain`` (leaf first) that is still valid at ``at``
    but inside its renewal window: by default :func:`ccapki.pki.certs.renewal_window`, the
    window ``ccapki apply`` renews in (a third of the lifetime, at most 30 days)."""
    out: list[Finding] = []
    for depth, cert in enumerate(dedupe(chain)):
        left = cert.not_valid_after_utc - at
        if cert.not_valid_before_utc > at or left < dt.timedelta(0) or left > window(cert):
            continue
        name = display_name(cert)
        days = days_left(cert, at)
        when = "less than a day" if days == 0 else _days(left)
        span = window(cert)
        if depth == 0:
            what = f"identity certificate {name}"
            fix = (
                f"renew {name} now (`ccapki apply` renews what ccapki issues; for a third-party "
                f"certificate run `ccapki csr` and import what the CA returns) and install it on "
                "every appliance that presents it"
            )
        else:
            what = f"{'root' if is_self_signed(cert) else 'intermediate'} CA {name}"
            fix = _ca_renewal_fix(cert, name, "every trust store and chain that holds")
        out.append(
            Finding(
                Code.EXPIRING_SOON,
                f"{what} expires on {fmt_date(cert.not_valid_after_utc)}: {when} left (inside "
                f"its {_days(span)} renewal window)",
                fix,
                name,
                "warning",
            )
        )
    return out
