"""Client platform policies: what each client does with a CAS/CAM TLS server certificate.

These rules hold even after the issuing root is installed on the client (a user- or
admin-trusted root), which is what the FAQ tells administrators to do for self-signed,
Perfigo and internal-PKI certificates. Each rule cites its source; each platform says
whether breaking a rule is a hard refusal (no click-through) or only a warning, for a
publicly trusted certificate and for a privately trusted one.

Shape (STYLE.md item 4): ``Policy(...).evaluate(cert, now) -> list[Finding]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from ccapki.errors import InputError
from ccapki.pki.certs import (
    display_name,
    extension,
    extensions_error,
    public_key,
    public_key_error,
    san_names,
)
from ccapki.pki.validitycaps import APPLE_825, PUBLIC_398, ValidityCap, longest_request
from ccapki.trust._certs import fmt_date
from ccapki.trust._model import Code, Finding

__all__ = [
    "CHANNEL_PLATFORMS",
    "PLATFORMS",
    "TLS_CURVES",
    "Action",
    "EcdsaCurve",
    "MaxValidity",
    "MinRsaKey",
    "NoWeakSignature",
    "Policy",
    "PolicyRule",
    "Rule",
    "SanRequired",
    "ServerAuthEku",
    "ValidNow",
    "WellFormed",
    "client_findings",
    "client_refusals",
    "validity_refusals",
]

Action = Literal["refuse", "warn", "ignore"]


class Rule(Protocol):
    """One client rule: a stable ``code``, its ``source``, and an evaluation."""

    @property
    def code(self) -> str: ...

    @property
    def source(self) -> str: ...

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]: ...


@dataclass(frozen=True)
class WellFormed:
    """The certificate's extensions must parse (each at most once, each valid DER) and its
    public key must be one the client can use.

    Source: RFC 5280 4.2 ("A certificate MUST NOT include more than one instance of a
    particular extension") and 4.1 (DER); BoringSSL (Chrome), NSS (Firefox), Schannel and
    Apple's Security framework refuse such a certificate before any other check.
    """

    code: str = Code.MALFORMED
    source: str = "RFC 5280 4.1, 4.2"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        name = display_name(cert)
        out: list[Finding] = []
        why = extensions_error(cert)
        if why is not None:
            out.append(
                Finding(
                    self.code,
                    f"{name} is malformed: {why} ({self.source})",
                    f"re-issue {name} (ccapki issues well-formed certificates), or ask its CA "
                    "for a corrected one",
                    name,
                )
            )
        why = public_key_error(cert)
        if why is not None:
            out.append(
                Finding(
                    Code.UNSUPPORTED_ALGORITHM,
                    f"{name}: {why}; the client cannot complete a handshake with it",
                    f"generate an RSA 2048+ or ECDSA P-256 key and re-issue {name}",
                    name,
                )
            )
        return out


@dataclass(frozen=True)
class SanRequired:
    """The server name must be in the subjectAltName; a name only in the CN is ignored.

    Sources: RFC 6125 6.4.4 (CN only as a fallback, deprecated); Chrome 58 removed
    commonName matching (Chrome 58 deprecations, March 2017); Apple HT210176
    "Requirements for trusted certificates in iOS 13 and macOS 10.15": "TLS server
    certificates must present the DNS name of the server in the Subject Alternative
    Name extension of the certificate. DNS names in the CommonName of a certificate
    are no longer trusted."
    """

    code: str = Code.MISSING_SAN
    source: str = "RFC 6125; Chrome 58 CN deprecation; Apple HT210176"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        names = san_names(cert)
        if names:
            return []
        name = display_name(cert)
        return [
            Finding(
                self.code,
                f"{name} has no DNS name or IP address in a subjectAltName; the client ignores "
                f"the CN ({self.source})",
                f"re-issue {name} with every name and IP clients use in the subjectAltName",
                name,
            )
        ]


@dataclass(frozen=True)
class MaxValidity:
    """A TLS server certificate may not be valid longer than ``days``.

    Used twice: 825 days, Apple HT210176 (certificates issued after 2019-07-01, any
    root, user-trusted included); 398 days, CA/B Forum Baseline Requirements 6.3.2
    (ballot SC31) and Apple HT211025 "About upcoming limits on trusted certificates"
    (certificates issued on or after 2020-09-01 from publicly trusted roots only).
    """

    days: int
    issued_from: dt.datetime
    source: str
    public_only: bool = False
    code: str = Code.VALIDITY_TOO_LONG

    @classmethod
    def of(cls, cap: ValidityCap) -> MaxValidity:
        """The rule enforcing ``cap`` (:mod:`ccapki.pki.validitycaps`)."""
        return cls(cap.days, cap.issued_from, cap.source, cap.public_only)

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        start = cert.not_valid_before_utc
        if start < self.issued_from:
            return []
        span = cert.not_valid_after_utc - start
        if span <= dt.timedelta(days=self.days):
            return []
        name = display_name(cert)
        scope = "publicly trusted " if self.public_only else ""
        return [
            Finding(
                self.code,
                f"{name} is valid for {span.days} days ({fmt_date(start)} to "
                f"{fmt_date(cert.not_valid_after_utc)}); {scope}TLS server certificates issued "
                f"after {self.issued_from.date()} may not exceed {self.days} days "
                f"({self.source})",
                f"re-issue {name} valid for at most {self.days - 1} days (a certificate "
                f"ccapki issues: set validity_days = {longest_request(self.days)} or less for "
                "this identity "
                "in the deployment file and run `ccapki apply`; a CA's: ask the CA)",
                name,
            )
        ]


@dataclass(frozen=True)
class ServerAuthEku:
    """The EKU must include serverAuth; with ``required`` the EKU must also be present.

    Sources: RFC 5280 4.2.1.12 (an EKU restricts the key to its purposes; every
    verifier enforces this); Apple HT210176: "TLS server certificates must contain an
    ExtendedKeyUsage (EKU) extension containing the id-kp-serverAuth OID."
    """

    required: bool = False
    code: str = Code.WRONG_EKU
    source: str = "RFC 5280 4.2.1.12"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        eku = extension(cert, x509.ExtendedKeyUsage)
        name = display_name(cert)
        fix = f"re-issue {name} with extendedKeyUsage serverAuth (and clientAuth for CAM/CAS)"
        if eku is None:
            if not self.required:
                return []
            reason = f"{name} has no extendedKeyUsage; serverAuth is required ({self.source})"
            return [Finding(self.code, reason, fix, name)]
        if ExtendedKeyUsageOID.SERVER_AUTH in eku:
            return []
        reason = f"{name}'s extendedKeyUsage lacks serverAuth ({self.source})"
        return [Finding(self.code, reason, fix, name)]


_WEAK = {
    SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID._RSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "SHA-1",
    SignatureAlgorithmOID.RSA_WITH_MD5: "MD5",
}


@dataclass(frozen=True)
class NoWeakSignature:
    """No SHA-1 (or MD5) signature.

    Sources: Chrome 57 stopped trusting SHA-1 certificates (2017; local anchors only
    by enterprise policy until Chrome 65); Mozilla Firefox 52 (2017, publicly trusted
    roots); Microsoft SHA-1 deprecation for TLS in Edge/IE 11 (May 2017, publicly
    trusted roots); Apple HT210176: "TLS server certificates and issuing CAs using
    SHA-1 hash algorithm are not trusted."
    """

    code: str = Code.WEAK_SIGNATURE
    source: str = "SHA-1 deprecation (Chrome 57, Firefox 52, Microsoft 2017, Apple HT210176)"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        weak = _WEAK.get(cert.signature_algorithm_oid)
        if weak is None:
            return []
        name = display_name(cert)
        return [
            Finding(
                self.code,
                f"{name} is signed with {weak} ({self.source})",
                f"re-issue {name} with a SHA-256 signature",
                name,
            )
        ]


@dataclass(frozen=True)
class MinRsaKey:
    """RSA keys must have at least ``bits`` bits.

    Sources: 2048, CA/B Forum BR 6.1.5 and Apple HT210176 ("TLS server certificates
    and issuing CAs using RSA keys must use key sizes greater than or equal to 2048
    bits"); 1024, Microsoft KB2661254 (Windows blocks RSA keys under 1024 bits) and
    Chromium's weak-key check (RSA under 1024 bits refused for every root).
    """

    bits: int
    source: str
    code: str = Code.WEAK_KEY

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        key = public_key(cert)
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size >= self.bits:
            return []
        name = display_name(cert)
        return [
            Finding(
                self.code,
                f"{name} has a {key.key_size}-bit RSA key; at least {self.bits} bits are "
                f"required ({self.source})",
                f"generate a new key (ECDSA P-256 or RSA 2048+) and re-issue {name}",
                name,
            )
        ]


#: The curves an ECDSA key may be on for TLS clients: TLS 1.3 has ECDSA signature schemes
#: on these three only (RFC 8446 4.2.3), the CA/B Forum allows only them (BR 6.1.5), and
#: browsers (BoringSSL, Firefox's mozilla::pkix), Windows SChannel, Apple's Security
#: framework and JDK 16+ (whose SunEC dropped secp256k1 and the other legacy curves)
#: implement no other.
TLS_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def unsupported_curve(cert: x509.Certificate) -> str | None:
    """The curve of ``cert``'s ECDSA key when it is not one of :data:`TLS_CURVES`
    (``secp256k1``, ``brainpoolP256r1``...); ``None`` for any other key."""
    key = public_key(cert)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name in TLS_CURVES:
        return None
    return key.curve.name


def curve_fix(name: str) -> str:
    """The fix of a certificate ``name`` whose ECDSA key is on a curve clients refuse."""
    return (
        f"generate a new key on P-256 or P-384 (or RSA 2048+) and re-issue {name}: for a "
        'certificate ccapki issues, set key = "ecdsa-p256" (or "ecdsa-p384") for this identity '
        "in the deployment file and run `ccapki apply`; for a CA's, send it a new CSR "
        "(`ccapki csr NAME`) and import its answer"
    )


@dataclass(frozen=True)
class EcdsaCurve:
    """An ECDSA key must be on NIST P-256, P-384 or P-521.

    Sources: RFC 8446 4.2.3 (TLS 1.3 signs with ECDSA on secp256r1, secp384r1 and
    secp521r1 only) and CA/B Forum BR 6.1.5; Chromium (BoringSSL) and Firefox
    (mozilla::pkix, SEC_ERROR_UNSUPPORTED_ELLIPTIC_CURVE) know no other curve, nor do
    Windows SChannel and Apple's Security framework: a secp256k1 (or brainpool) server
    certificate fails the handshake, whatever root issued it.
    """

    code: str = Code.UNSUPPORTED_ALGORITHM
    source: str = "RFC 8446 4.2.3; CA/B Forum BR 6.1.5"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        curve = unsupported_curve(cert)
        if curve is None:
            return []
        name = display_name(cert)
        return [
            Finding(
                self.code,
                f"{name} has an ECDSA key on curve {curve}; only P-256, P-384 and P-521 are "
                f"accepted ({self.source})",
                curve_fix(name),
                name,
            )
        ]


@dataclass(frozen=True)
class ValidNow:
    """The certificate must be inside its validity period (every TLS client checks)."""

    code: str = Code.EXPIRED
    source: str = "RFC 5280 4.1.2.5"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        name = display_name(cert)
        if now > cert.not_valid_after_utc:
            return [
                Finding(
                    Code.EXPIRED,
                    f"{name} expired on {fmt_date(cert.not_valid_after_utc)}",
                    f"issue a new certificate for {name} and install it",
                    name,
                )
            ]
        if now < cert.not_valid_before_utc:
            return [
                Finding(
                    Code.NOT_YET_VALID,
                    f"{name} is not valid before {fmt_date(cert.not_valid_before_utc)}",
                    "check the clocks (NTP) on the appliance and the client",
                    name,
                )
            ]
        return []


@dataclass(frozen=True)
class PolicyRule:
    """A rule as one platform applies it: what it does for public and private roots."""

    rule: Rule
    public: Action = "refuse"
    private: Action = "refuse"


@dataclass(frozen=True)
class Policy:
    """A named client platform and its rules.

    ``defers_to``: another platform of the same client (the Clean Access Agent on Windows,
    for the agent on a Mac): judged beside it, a refusal (or warning) both make by the same
    code is said once, as that platform's (:func:`client_findings`)."""

    platform: str
    title: str
    rules: tuple[PolicyRule, ...]
    defers_to: str = ""

    def evaluate(
        self,
        cert: x509.Certificate,
        now: dt.datetime,
        *,
        publicly_trusted: bool = False,
        cache: dict[int, list[Finding]] | None = None,
        refusals_only: bool = False,
    ) -> list[Finding]:
        """Every finding for ``cert``: severity "error" = refused outright, else warning.

        ``cache`` (one dict per certificate and time) shares rule results between the
        platforms that use the same rule object. ``refusals_only`` skips the rules that
        could only warn.
        """
        out: list[Finding] = []
        for entry in self.rules:
            action = entry.public if publicly_trusted else entry.private
            if action == "ignore" or (refusals_only and action != "refuse"):
                continue
            rule = entry.rule
            if isinstance(rule, MaxValidity) and rule.public_only and not publicly_trusted:
                continue
            severity: Literal["error", "warning"] = "error" if action == "refuse" else "warning"
            if cache is None:
                found = rule.evaluate(cert, now)
            else:
                found = cache.get(id(rule))  # type: ignore[assignment]
                if found is None:
                    found = cache[id(rule)] = rule.evaluate(cert, now)
            for finding in found:
                out.append(
                    replace(
                        finding,
                        reason=f"{self.title}: {finding.reason}",
                        severity=severity,
                    )
                )
        return out

    def refusals(
        self,
        cert: x509.Certificate,
        now: dt.datetime,
        *,
        publicly_trusted: bool = False,
        cache: dict[int, list[Finding]] | None = None,
    ) -> list[Finding]:
        return self.evaluate(
            cert, now, publicly_trusted=publicly_trusted, cache=cache, refusals_only=True
        )


_WELL_FORMED = WellFormed()
# Apple HT210176: applies to TLS server certificates issued after July 1, 2019.
_APPLE_825 = MaxValidity.of(APPLE_825)
# CA/B Forum BR 6.3.2 (ballot SC31) and Apple HT211025: issued on or after 2020-09-01.
_PUBLIC_398 = MaxValidity.of(PUBLIC_398)
_RSA_2048 = MinRsaKey(2048, "CA/B Forum BR 6.1.5; Apple HT210176")
_RSA_1024 = MinRsaKey(1024, "Microsoft KB2661254; Chromium weak-key check")
_ECDSA_CURVE = EcdsaCurve()


def _apple(platform: str, title: str, defers_to: str = "") -> Policy:
    # Apple HT210176 applies to every TLS server certificate, user-trusted roots included.
    return Policy(
        platform,
        title,
        (
            PolicyRule(_WELL_FORMED),
            PolicyRule(ValidNow(), "warn", "warn"),
            PolicyRule(SanRequired(source="Apple HT210176")),
            PolicyRule(_APPLE_825),
            PolicyRule(_PUBLIC_398, "refuse", "ignore"),
            PolicyRule(ServerAuthEku(required=True, source="Apple HT210176")),
            PolicyRule(NoWeakSignature(source="Apple HT210176")),
            PolicyRule(_RSA_2048),
            PolicyRule(_ECDSA_CURVE),
        ),
        defers_to,
    )


#: The client platforms ccapki knows, by name.
PLATFORMS: Mapping[str, Policy] = {
    # Windows CryptoAPI/Schannel (IE, the OS, most Windows software): still falls back to
    # the CN when there is no SAN; SHA-1 and RSA < 2048 blocked for public roots only.
    "windows": Policy(
        "windows",
        "Windows (CryptoAPI)",
        (
            PolicyRule(_WELL_FORMED),
            PolicyRule(ValidNow(), "warn", "warn"),
            PolicyRule(SanRequired(source="RFC 6125"), "warn", "warn"),
            PolicyRule(_PUBLIC_398, "warn", "ignore"),
            PolicyRule(ServerAuthEku()),
            PolicyRule(NoWeakSignature(), "refuse", "warn"),
            PolicyRule(_RSA_1024),
            PolicyRule(_RSA_2048, "refuse", "warn"),
            PolicyRule(_ECDSA_CURVE),
        ),
    ),
    "macos": _apple("macos", "macOS 10.15+"),
    "ios": _apple("ios", "iOS 13+"),
    # Chrome and Edge (Chromium): no CN matching since Chrome 58; SHA-1 refused since 57;
    # the 398-day cap enforced for publicly trusted roots.
    "chrome": Policy(
        "chrome",
        "Chrome/Edge",
        (
            PolicyRule(_WELL_FORMED),
            PolicyRule(ValidNow(), "warn", "warn"),
            PolicyRule(SanRequired(source="Chrome 58 removed commonName matching")),
            PolicyRule(_PUBLIC_398, "refuse", "ignore"),
            PolicyRule(ServerAuthEku()),
            PolicyRule(NoWeakSignature(source="Chrome 57 SHA-1 removal")),
            PolicyRule(_RSA_1024),
            PolicyRule(_RSA_2048, "refuse", "warn"),
            PolicyRule(_ECDSA_CURVE),
        ),
    ),
    # Firefox (mozilla::pkix): SHA-1 refused for public roots since Firefox 52; the CN
    # fallback for SAN-less certificates from private roots depends on
    # security.pki.name_matching_mode, so a missing SAN is a warning there.
    "firefox": Policy(
        "firefox",
        "Firefox",
        (
            PolicyRule(_WELL_FORMED),
            PolicyRule(ValidNow(), "warn", "warn"),
            PolicyRule(SanRequired(source="RFC 6125; mozilla::pkix"), "refuse", "warn"),
            PolicyRule(_PUBLIC_398, "warn", "ignore"),
            PolicyRule(ServerAuthEku()),
            PolicyRule(NoWeakSignature(source="Firefox 52 SHA-1 removal"), "refuse", "warn"),
            PolicyRule(_RSA_1024),
            PolicyRule(_RSA_2048, "refuse", "warn"),
            PolicyRule(_ECDSA_CURVE),
        ),
    ),
    # The Clean Access Agent on Windows verifies the CAS through the OS (CryptoAPI) and
    # reports problems as warnings to the user; only an EKU without serverAuth breaks it.
    "agent": Policy(
        "agent",
        "Clean Access Agent",
        (
            PolicyRule(_WELL_FORMED),
            PolicyRule(ValidNow(), "warn", "warn"),
            PolicyRule(SanRequired(source="RFC 6125"), "warn", "warn"),
            PolicyRule(ServerAuthEku()),
            PolicyRule(NoWeakSignature(), "warn", "warn"),
            PolicyRule(_RSA_1024),
            PolicyRule(_RSA_2048, "warn", "warn"),
            PolicyRule(_ECDSA_CURVE),
        ),
    ),
    # The Clean Access Agent on a Mac verifies the CAS through the macOS Security framework
    # (SecTrust, SSL policy): Apple's rules for every TLS server certificate, a user-trusted
    # root's included (Apple HT210176: SAN, serverAuth, RSA 2048+, SHA-2, 825 days), as
    # Safari applies them (the FAQ singles Macs out). What the Windows agent refuses too is
    # said once, as the agent's.
    "agent-macos": _apple("agent-macos", "Clean Access Agent on macOS 10.15+", "agent"),
}


#: The client platforms that verify each client channel (by channel value) in a trust check:
#: the endpoint agent on the agent channel, every browser platform on the web login and the
#: admin GUI (DESIGN.md, "Channels").
_BROWSERS = ("chrome", "firefox", "windows", "macos", "ios")
CHANNEL_PLATFORMS: Mapping[str, tuple[str, ...]] = {
    "agent": ("agent", "agent-macos"),
    "web-login": _BROWSERS,
    "admin-gui": _BROWSERS,
}


def validity_refusals(
    days: int, platforms: Iterable[str] | None, *, publicly_trusted: bool = False
) -> dict[str, MaxValidity]:
    """Per platform (``None``: all) that refuses outright a certificate ccapki issues for
    ``days`` days (issued now, after every cap began), the tightest rule it refuses it by;
    decided with the actions :meth:`Policy.evaluate` takes (none: every platform accepts
    that validity). What ``plan`` says before issuing, as ``trust check`` says it after."""
    out: dict[str, MaxValidity] = {}
    for policy in _policies(platforms):
        for entry in policy.rules:
            rule = entry.rule
            if not isinstance(rule, MaxValidity):
                continue
            action = entry.public if publicly_trusted else entry.private
            if action != "refuse" or (rule.public_only and not publicly_trusted):
                continue
            if days <= longest_request(rule.days):
                continue
            held = out.get(policy.platform)
            if held is None or rule.days < held.days:
                out[policy.platform] = rule
    return out


def _policies(platforms: Iterable[str] | None) -> list[Policy]:
    names = list(PLATFORMS) if platforms is None else list(platforms)
    out = []
    for name in names:
        policy = PLATFORMS.get(name.lower())
        if policy is None:
            raise InputError(
                f"unknown client platform {name!r}",
                f"use one of: {', '.join(PLATFORMS)}",
            )
        out.append(policy)
    return out


def client_findings(
    cert: x509.Certificate,
    platforms: Iterable[str] | None,
    now: dt.datetime,
    *,
    publicly_trusted: bool,
) -> dict[str, list[Finding]]:
    """Every finding (refusals and warnings) per platform (``None``: all platforms).

    A platform that :attr:`~Policy.defers_to` another one judged here leaves out what that
    one says already: a finding of the same code, as severe or more (the Mac agent beside
    the Windows agent names only what the Mac alone refuses or warns of)."""
    cache: dict[int, list[Finding]] = {}
    return _deferred(
        {
            p.platform: p.evaluate(cert, now, publicly_trusted=publicly_trusted, cache=cache)
            for p in _policies(platforms)
        }
    )


def client_refusals(
    cert: x509.Certificate,
    platforms: Iterable[str] | None,
    now: dt.datetime,
    *,
    publicly_trusted: bool,
) -> dict[str, list[Finding]]:
    """Per platform, the rules that make it refuse ``cert`` outright (empty: accepted).

    Example: a CCA 4.8 five-year true self-signed certificate is refused by macOS, iOS
    and the agent on a Mac (825 days, Apple HT210176) even once installed as a trusted
    root, while a 397-day certificate from an internal CA is accepted everywhere. A
    platform that :attr:`~Policy.defers_to` another leaves out what that one refuses too
    (:func:`client_findings`).
    """
    cache: dict[int, list[Finding]] = {}
    return _deferred(
        {
            p.platform: p.refusals(cert, now, publicly_trusted=publicly_trusted, cache=cache)
            for p in _policies(platforms)
        }
    )


def _deferred(found: dict[str, list[Finding]]) -> dict[str, list[Finding]]:
    """``found`` (platform -> findings) without the findings of a platform that defers to
    another platform of ``found`` which has a finding of the same code, as severe or more
    (an error covers a warning, not the reverse): said once, as that platform's."""
    rank = {"warning": 0, "error": 1}
    out = dict(found)
    for platform, findings in found.items():
        policy = PLATFORMS.get(platform)
        said = found.get(policy.defers_to) if policy and policy.defers_to else None
        if not said or not findings:
            continue
        worst: dict[str, int] = {}
        for f in said:
            worst[f.code] = max(worst.get(f.code, -1), rank[f.severity])
        out[platform] = [f for f in findings if worst.get(f.code, -1) < rank[f.severity]]
    return out
