"""Value objects of the trust engine: findings and verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography import x509

__all__ = ["Code", "Finding", "Severity", "Verdict"]

Severity = Literal["error", "warning"]


class Code:
    """The stable machine codes a :class:`Finding` carries (strings, so JSON stays plain)."""

    EXPIRED = "expired"
    EXPIRING_SOON = "expiring-soon"
    NOT_YET_VALID = "not-yet-valid"
    MISSING_ISSUER = "missing-issuer"
    MISSING_INTERMEDIATE = "missing-intermediate"
    UNTRUSTED_ROOT = "untrusted-root"
    UNTRUSTED_SELF_SIGNED = "untrusted-self-signed"
    SIGNATURE_MISMATCH = "signature-mismatch"
    NAME_MISMATCH = "name-mismatch"
    MISSING_SAN = "missing-san"
    WRONG_EKU = "wrong-eku"
    WRONG_KEY_USAGE = "wrong-key-usage"
    WEAK_SIGNATURE = "weak-signature"
    WEAK_KEY = "weak-key"
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    PATH_LENGTH = "path-length"
    CHAIN_TOO_DEEP = "chain-too-deep"
    CA_AS_LEAF = "ca-as-leaf"
    NOT_A_CA = "not-a-ca"
    MISSING_AKI = "missing-aki"
    NOT_RFC5280 = "not-rfc5280"
    NEGATIVE_SERIAL = "negative-serial"
    VALIDITY_TOO_LONG = "validity-too-long"
    VERIFICATION_FAILED = "verification-failed"
    MALFORMED = "malformed-certificate"
    KEY_MISMATCH = "key-mismatch"
    MISSING_KEY = "missing-key"
    HA_CERTIFICATE_DIFFERS = "ha-certificate-differs"
    HA_KEY_DIFFERS = "ha-key-differs"


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or risky) with a certificate, why, and the exact fix.

    ``code`` is a stable machine code (see :class:`Code`); ``reason`` is plain English
    naming the certificate and the dates or names involved; ``fix`` is the action that
    repairs it; ``subject`` names the certificate it is about; ``severity`` is
    ``"error"`` (the handshake or the client refuses) or ``"warning"``.
    """

    code: str
    reason: str
    fix: str
    subject: str
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if self.severity not in ("error", "warning"):
            raise ValueError(f"severity must be 'error' or 'warning', not {self.severity!r}")
        if not self.code or not self.reason or not self.fix:
            raise ValueError("a finding needs a code, a reason and a fix")

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "reason": self.reason,
            "fix": self.fix,
            "subject": self.subject,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class Verdict:
    """The result of one chain verification.

    ``ok`` comes from ``cryptography.x509.verification`` (plus, for client
    certificates with a ``peer_name``, our own SAN check, since cryptography's
    client verifier returns the names rather than checking them). ``chain`` is the
    built chain, leaf first, when ``ok``; otherwise the best chain our own analysis
    could build. ``findings`` explain a failure (never empty when ``ok`` is false).
    ``raw_error`` is the verifier's own message. ``checked_name`` is the name the
    leaf was checked against (``None``: no name was checked). ``stack``: the verifier
    modelled (see :func:`ccapki.trust.verify_for_stack`).
    """

    ok: bool
    chain: tuple[x509.Certificate, ...]
    findings: tuple[Finding, ...] = ()
    raw_error: str | None = None
    checked_name: str | None = None
    #: the verifying stack this verdict models (``ccapki.trust.Stack`` value); None: web-PKI
    stack: str | None = None

    def __post_init__(self) -> None:
        if not self.ok and not self.findings:
            raise ValueError("a failed verdict must carry at least one finding")

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)
