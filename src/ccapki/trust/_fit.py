"""Does a certificate fit a plan identity? Rules for a certificate a CA sent back.

``ccapki import`` refuses a certificate that does not fit the identity it is for (a name
of the plan missing, outside its validity, a CA certificate, no serverAuth) and warns
about one without clientAuth, or with a key, signature or critical extension a CCA 4.x
appliance (Java 6/7) cannot use, or a SHA-1 signature, an RSA key under 2048 bits or an
ECDSA key off P-256/P-384/P-521 (secp256k1...) that agents and browsers refuse; ``ccapki
check-ha`` reads the key-usage rules on each HA peer. Each rule is a frozen object citing
its source, with the :class:`~ccapki.trust.Rule` shape ``evaluate(cert, now) ->
list[Finding]``; a finding's ``severity`` says whether it refuses the import ("error") or
only warns ("warning"). Callers choose by ``code`` and ``severity``, never by the English
of a ``reason``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ed448, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, PublicKeyAlgorithmOID, SignatureAlgorithmOID

from ccapki.pki.certs import (
    covers,
    display_name,
    extension,
    extensions_error,
    is_ca,
    is_self_signed,
    public_key,
)
from ccapki.pki.keys import describe_public_key
from ccapki.trust._model import Code, Finding, Severity
from ccapki.trust._policy import EcdsaCurve, MinRsaKey, NoWeakSignature, Rule

__all__ = [
    "USAGE_RULES",
    "ApplianceAlgorithms",
    "ClientStrength",
    "EkuIncludes",
    "EndEntity",
    "FitPolicy",
    "InValidityPeriod",
    "LeafKeyUsage",
    "NamesCovered",
    "incomplete_chain",
    "usage_findings",
]


def _private_ip(name: str) -> bool:
    """``name`` is an IP address that is not globally routable (RFC 1918, loopback,
    link-local, CGNAT, ULA...): one a public CA never certifies."""
    import ipaddress

    try:
        return not ipaddress.ip_address(name).is_global
    except ValueError:
        return False


@dataclass(frozen=True)
class NamesCovered:
    """The certificate names every DNS name and IP address the plan gives ``identity``
    (for an HA pair: the Service IP, the virtual hostname and both peers).

    Source: RFC 6125 6.4 (a client matches the name it connects to against the
    subjectAltName, wildcards in the left-most label only).
    """

    identity: str
    names: tuple[str, ...]
    code: str = Code.MISSING_SAN
    source: str = "RFC 6125 6.4"
    #: the identity is ``source = "acme"``: the fix is an ACME order, not a CSR
    acme: bool = False
    #: ccapki issues this identity itself (self-signed, perfigo, internal): the fix is
    #: ``ccapki apply``, not a CSR (an appliance's own certificate being adopted)
    issued: bool = False

    def missing(self, cert: x509.Certificate) -> list[str]:
        """The names of the plan that ``cert`` does not cover, in the plan's order."""
        return [n for n in self.names if not covers(cert, n)]

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        missing = self.missing(cert)
        if not missing:
            return []
        if self.acme:
            fix = (
                f"order a certificate naming every DNS name of `ccapki plan` from the ACME CA "
                f"(`ccapki acme order {self.identity}`; DNS-01 cannot prove an IP address: "
                "IPs are left out of ACME orders)"
            )
        elif self.issued:
            fix = (
                f"let ccapki issue {self.identity} a certificate naming every SAN of `ccapki "
                "plan` (`ccapki apply FILE` does, on a new key: install it on the appliance; "
                "one taken with --force is replaced by the next `ccapki apply`)"
            )
        else:
            fix = (
                f"have the CA issue a certificate naming every SAN of `ccapki plan` (send it "
                f"the CSR of `ccapki csr {self.identity}`)"
            )
            if all(_private_ip(n) for n in missing):  # a public CA refuses them
                fix += (
                    "; a public CA leaves private and reserved IP addresses out: san_ips = "
                    f"false for {self.identity} in the deployment file leaves them out of the "
                    f"plan (`ccapki apply FILE`, then a new CSR: `ccapki csr {self.identity}`)"
                )
        return [
            Finding(
                self.code,
                f"names missing from the SANs: {', '.join(missing)}",
                fix,
                display_name(cert),
            )
        ]


@dataclass(frozen=True)
class InValidityPeriod:
    """The certificate is valid now: not expired, not valid only from a future date.

    Source: RFC 5280 4.1.2.5 (every TLS client and the CCA HA heartbeat check it).
    """

    code: str = Code.EXPIRED
    source: str = "RFC 5280 4.1.2.5"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        name = display_name(cert)
        out: list[Finding] = []
        if now > cert.not_valid_after_utc:
            out.append(
                Finding(
                    Code.EXPIRED,
                    f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                    "have the CA renew the certificate",
                    name,
                )
            )
        if now < cert.not_valid_before_utc:
            out.append(
                Finding(
                    Code.NOT_YET_VALID,
                    f"not valid until {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC "
                    "(check the clock of this machine and of the CA)",
                    "set the clocks right, or import it once it is valid",
                    name,
                )
            )
        return out


_USAGE_FIX = "have the CA issue a TLS server certificate (digitalSignature, not a CA)"


@dataclass(frozen=True)
class EndEntity:
    """The certificate is an end-entity one: basicConstraints, when present, says CA:FALSE.

    Source: RFC 5280 4.2.1.9 (CA:TRUE makes the key a certificate issuer); CA/Browser Forum
    BR 7.1.2.7.8 (a subscriber certificate is not a CA); browsers and Java's PKIX refuse a
    CA certificate as a TLS server's.
    """

    identity: str
    code: str = Code.CA_AS_LEAF
    source: str = "RFC 5280 4.2.1.9; CA/B Forum BR 7.1.2.7.8"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        if not is_ca(cert) or is_self_signed(cert):
            return []  # a true self-signed identity may be its own root
        return [
            Finding(
                self.code,
                "a CA certificate (basicConstraints CA:TRUE), not a TLS server certificate",
                f"have the CA issue {self.identity} an end-entity TLS server certificate "
                "(basicConstraints CA:FALSE) on the same key",
                display_name(cert),
            )
        ]


@dataclass(frozen=True)
class LeafKeyUsage:
    """A keyUsage, when present, asserts digitalSignature and not keyCertSign.

    Source: RFC 5280 4.2.1.3 (keyCertSign is for CAs); RFC 8446 4.4.3 and RFC 5246 7.4.8
    (the TLS server signs the handshake: digitalSignature).
    """

    code: str = Code.WRONG_KEY_USAGE
    source: str = "RFC 5280 4.2.1.3; RFC 8446 4.4.3"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        ku = extension(cert, x509.KeyUsage)
        if ku is None:
            return []
        name = display_name(cert)
        out: list[Finding] = []
        if not ku.digital_signature:
            out.append(
                Finding(
                    self.code, "keyUsage lacks digitalSignature (TLS needs it)", _USAGE_FIX, name
                )
            )
        if ku.key_cert_sign:
            out.append(
                Finding(
                    self.code,
                    "keyUsage asserts keyCertSign: a CA certificate, not a leaf",
                    _USAGE_FIX,
                    name,
                )
            )
        return out


@dataclass(frozen=True)
class EkuIncludes:
    """An extendedKeyUsage, when present, includes ``oid``.

    Source: RFC 5280 4.2.1.12 (an EKU restricts the key to its purposes); CAM and CAS
    authenticate each other both ways, so each needs serverAuth and clientAuth.
    """

    oid: x509.ObjectIdentifier
    reason: str
    fix: str
    severity: Severity = "error"
    code: str = Code.WRONG_EKU
    source: str = "RFC 5280 4.2.1.12"

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        eku = extension(cert, x509.ExtendedKeyUsage)
        if eku is None or self.oid in eku:
            return []
        return [Finding(self.code, self.reason, self.fix, display_name(cert), self.severity)]


_EKU_FIX = "have the CA issue it with serverAuth and clientAuth in its extended key usage"

#: What makes a certificate usable by an appliance for TLS both ways (HA heartbeat included).
USAGE_RULES: tuple[Rule, ...] = (
    LeafKeyUsage(),
    EkuIncludes(
        ExtendedKeyUsageOID.SERVER_AUTH,
        "EKU lacks serverAuth: agents and browsers will refuse it",
        _EKU_FIX,
    ),
    EkuIncludes(
        ExtendedKeyUsageOID.CLIENT_AUTH,
        "EKU lacks clientAuth: CAM/CAS mutual TLS needs it when the appliance connects "
        "as a client (`ccapki trust check` shows the links it breaks)",
        _EKU_FIX,
        severity="warning",
    ),
)


_ALGORITHM_FIX = (
    "have the CA issue it with an RSA (2048+) or ECDSA P-256/P-384 key, signed with RSA "
    "(PKCS#1 v1.5) or ECDSA and SHA-256 (send it the CSR of `ccapki csr {identity}`)"
)
_EDDSA_SIGNATURES = {
    SignatureAlgorithmOID.ED25519: "Ed25519",
    SignatureAlgorithmOID.ED448: "Ed448",
}
_DSA_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.DSA_WITH_SHA1,
        SignatureAlgorithmOID.DSA_WITH_SHA224,
        SignatureAlgorithmOID.DSA_WITH_SHA256,
        SignatureAlgorithmOID.DSA_WITH_SHA384,
        SignatureAlgorithmOID.DSA_WITH_SHA512,
    }
)


@dataclass(frozen=True)
class ApplianceAlgorithms:
    """The certificate's key and signature are ones the appliances and their clients can
    use: not EdDSA, not DSA, not RSASSA-PSS; no critical extension unknown to ccapki.

    Source: CCA 4.x serves and checks TLS with Java 6/7 (SunJSSE): EdDSA arrived in Java 15
    (JEP 339), RSASSA-PSS in certificates in Java 11 (JDK-8146293); TLS 1.3 (RFC 8446 4.2.3)
    has no DSA and browsers dropped DSS; RFC 5280 4.2: a verifier refuses a certificate with
    a critical extension it does not know. A warning: the import goes ahead, the identity
    just cannot be used as it is on a CCA 4.x appliance.
    """

    identity: str
    code: str = Code.UNSUPPORTED_ALGORITHM
    source: str = "CCA 4.x Java 6/7 SunJSSE; RFC 8446 4.2.3; RFC 5280 4.2"

    def problems(self, cert: x509.Certificate) -> list[str]:
        """What in ``cert`` a CCA 4.x appliance or its clients cannot use, in words: its
        key (:meth:`key_problem`), its signature, a critical extension unknown to ccapki."""
        key_problem = self.key_problem(cert)
        out = [key_problem] if key_problem else []
        sig = cert.signature_algorithm_oid
        by = "its own" if is_self_signed(cert) else "by its CA"
        if sig in _EDDSA_SIGNATURES:
            out.append(
                f"its {_EDDSA_SIGNATURES[sig]} signature ({by}): the appliances' Java 6/7 "
                "(CCA 4.x) cannot verify it (Java 15+), so CAM/CAS mutual TLS refuses it, "
                "and so do agents and browsers"
            )
        elif sig == SignatureAlgorithmOID.RSASSA_PSS:
            out.append(
                f"its RSASSA-PSS signature ({by}): the appliances' Java 6/7 (CCA 4.x) "
                "cannot verify RSASSA-PSS certificate signatures (Java 11+), so CAM/CAS "
                "mutual TLS refuses it"
            )
        elif sig in _DSA_SIGNATURES:
            out.append(f"its DSA signature ({by}): agents and browsers do not verify it")
        readable = extensions_error(cert) is None  # else told as malformed elsewhere
        unknown = [
            e.oid.dotted_string
            for e in (cert.extensions if readable else ())
            if e.critical and isinstance(e.value, x509.UnrecognizedExtension)
        ]
        if unknown:
            out.append(
                f"its critical extension {', '.join(unknown)}, unknown to ccapki: a client "
                "that does not know it must refuse the certificate (RFC 5280 4.2)"
            )
        return out

    @staticmethod
    def key_problem(cert: x509.Certificate) -> str | None:
        """Why the appliances or their clients cannot use ``cert``'s key (EdDSA, DSA, an
        RSA-PSS-only key), in words; ``None`` for an RSA or ECDSA key."""
        key = public_key(cert)
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            return (
                f"its {describe_public_key(key)[0]} key: the appliances' Java 6/7 (CCA 4.x) "
                "cannot load or use it (Java 15+), and agents and browsers refuse EdDSA "
                "server certificates"
            )
        if isinstance(key, dsa.DSAPublicKey):
            return (
                "its DSA key: TLS 1.3 has no DSA, and agents and browsers dropped the DSS "
                "cipher suites a DSA server certificate needs"
            )
        if cert.public_key_algorithm_oid == PublicKeyAlgorithmOID.RSASSA_PSS:
            return (
                "its RSA-PSS-only key (id-RSASSA-PSS): the appliances' Java 6/7 (CCA 4.x) "
                "cannot load it (Java 11+)"
            )
        return None

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        problems = self.problems(cert)
        if not problems:
            return []
        return [
            Finding(
                self.code,
                "CCA 4.x appliances or their clients cannot use it as it is: "
                + "; ".join(problems),
                _ALGORITHM_FIX.format(identity=self.identity),
                display_name(cert),
                "warning",
            )
        ]


@dataclass(frozen=True)
class ClientStrength:
    """The CA's signature is not SHA-1 or MD5, an RSA key has at least 2048 bits and an
    ECDSA key is on P-256, P-384 or P-521: what agents, browsers and Apple platforms require
    of a TLS server certificate (a warning: the import goes ahead, and `ccapki trust check`
    names the clients and stacks that refuse it).

    Source: those of :class:`~ccapki.trust._policy.NoWeakSignature`,
    :class:`~ccapki.trust._policy.MinRsaKey` (CA/B Forum BR 6.1.5; Apple HT210176) and
    :class:`~ccapki.trust._policy.EcdsaCurve` (RFC 8446 4.2.3; CA/B Forum BR 6.1.5).
    """

    code: str = Code.WEAK_SIGNATURE
    source: str = (
        "SHA-1 deprecation (Chrome 57, Apple HT210176); CA/B Forum BR 6.1.5; RFC 8446 4.2.3"
    )

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        found = MinRsaKey(2048, "CA/B Forum BR 6.1.5; Apple HT210176").evaluate(cert, now)
        found += EcdsaCurve().evaluate(cert, now)
        if not is_self_signed(cert):  # a trust anchor's own signature is never checked
            found = [*NoWeakSignature().evaluate(cert, now), *found]
        return [
            replace(
                f,
                reason=f"agents and browsers will refuse it: {f.reason}",
                severity="warning",
            )
            for f in found
        ]


@dataclass(frozen=True)
class FitPolicy:
    """The rules a certificate for plan identity ``identity`` (naming ``names``) must meet."""

    identity: str
    names: tuple[str, ...]
    #: ``source = "acme"``: fixes name the ACME order, not a CSR
    acme: bool = False
    #: ccapki issues the identity itself (not third-party): fixes name ``ccapki apply``
    issued: bool = False

    @property
    def rules(self) -> tuple[Rule, ...]:
        return (
            NamesCovered(self.identity, self.names, acme=self.acme, issued=self.issued),
            InValidityPeriod(),
            EndEntity(self.identity),
            *USAGE_RULES,
            ApplianceAlgorithms(self.identity),
            ClientStrength(),
        )

    def evaluate(self, cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
        """Every finding, in rule order: "error" refuses the import, "warning" only warns."""
        return [f for rule in self.rules for f in rule.evaluate(cert, now)]


def incomplete_chain(leaf: x509.Certificate, missing_issuer: x509.Name) -> Finding:
    """The finding for a chain that stops below its root: nobody known issued the top."""
    return Finding(
        Code.MISSING_ISSUER,
        f"the chain is incomplete: no certificate of issuer {missing_issuer.rfc4514_string()} "
        "(the missing intermediate or root)",
        "import the CA's intermediate and root files together with the certificate",
        display_name(leaf),
    )


def usage_findings(cert: x509.Certificate, now: dt.datetime) -> list[Finding]:
    """The key-usage and EKU findings of :data:`USAGE_RULES` (warnings included)."""
    return [f for rule in USAGE_RULES for f in rule.evaluate(cert, now)]
