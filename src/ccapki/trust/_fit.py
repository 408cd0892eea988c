"""Does a certificate fit a plan identity? Rules for a certificate a CA sent back.

``ccapki import`` refuses a certificate that does not fit the identity it is for (a name
of the plan missing, outside its validity, a CA certificate, no serverAuth) and warns
about one without clientAuth; ``ccapki check-ha`` reads the key-usage rules on each HA
peer. Each rule is a frozen object citing its source, with the :class:`~ccapki.trust.Rule`
shape ``evaluate(cert, now) -> list[Finding]``; a finding's ``severity`` says whether it
refuses the import ("error") or only warns ("warning"). Callers choose by ``code`` and
``severity``, never by the English of a ``reason``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.pki.certs import covers, display_name, extension
from ccapki.trust._model import Code, Finding, Severity
from ccapki.trust._policy import Rule

__all__ = [
    "USAGE_RULES",
    "EkuIncludes",
    "FitPolicy",
    "InValidityPeriod",
    "LeafKeyUsage",
    "NamesCovered",
    "incomplete_chain",
    "usage_findings",
]


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
        else:
            fix = (
                f"have the CA issue a certificate naming every SAN of `ccapki plan` (send it "
                f"the CSR of `ccapki csr {self.identity}`)"
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


@dataclass(frozen=True)
class FitPolicy:
    """The rules a certificate for plan identity ``identity`` (naming ``names``) must meet."""

    identity: str
    names: tuple[str, ...]
    #: ``source = "acme"``: fixes name the ACME order, not a CSR
    acme: bool = False

    @property
    def rules(self) -> tuple[Rule, ...]:
        return (
            NamesCovered(self.identity, self.names, acme=self.acme),
            InValidityPeriod(),
            *USAGE_RULES,
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
