"""Trust engine (pure): chain verdicts, their explanation, client policies, FAQ cases.

Public API::

    verify_chain(leaf, intermediates, roots, *, purpose="server"|"client", peer_name=None,
                 at=None, max_depth=None, candidates=(), lint_ok=False) -> Verdict
    TrustContext(roots, *, candidates=()).verify(leaf, intermediates, *, purpose=...,
                 peer_name=..., at=..., max_depth=..., candidates=..., lint_ok=...) -> Verdict
    Verdict(ok, chain, findings, raw_error, checked_name); Finding(code, reason, fix,
                 subject, severity); Code (the stable finding codes)

    Policy(platform, title, rules).evaluate(cert, now, *, publicly_trusted=False)
    PLATFORMS ("windows", "macos", "ios", "chrome", "firefox", "agent", "agent-macos")
    client_refusals(cert, platforms, now, *, publicly_trusted) -> {platform: [Finding]}
    client_findings(...) -> the same with warnings
    expiry_warnings(chain, at, *, window=renewal_window) -> [Finding] (renew soon)

    FitPolicy(identity, names).evaluate(cert, now) -> [Finding] (does it fit the plan?)
    check_ha(HaPair(identity, names, primary, secondary), now) -> [HaCheck] (HA_RULES)
    check_ha(pair, now, profile=release_profile) -> rows worded for its heartbeat (ha_rules)
    heartbeat_blockers(checks, primary_chain, secondary_chain, primary_trust,
                       secondary_trust, now) -> why the IPsec heartbeat stays down (strongSwan)

    classify_link(identity_chain, trust_store, *, perfigo_fingerprints=...,
                  internal_fingerprints=..., candidates=()) -> Case
    required_anchor(chain, candidates=()) -> Certificate
    trust_store_changes(current, required, *, cams=(), prune=False, ...) -> [Change]
    rotation_plan(identity, old_chain, new_chain, current, *, verifiers, installed_on,
                  cams=(), still_needed=None, ...) -> RotationPlan (breaks, ordered steps)

    verify_for_stack(Stack.JAVA_PKIX, leaf, intermediates, roots, *, purpose=..., peer_name=...,
                     at=...) -> Verdict (the verdict of one real verifier; see docs/stacks.md)

Verdicts come from ``cryptography.x509.verification``; findings from our own analysis.
Rules are frozen objects citing their source; callers choose findings by ``code`` and
``severity``, never by the words of a ``reason``.
"""

from __future__ import annotations

from ccapki.trust._cases import (
    CAM_TRUST_PATH,
    CAS_TRUST_PATH,
    Case,
    CaseKind,
    Change,
    RotationPlan,
    RotationStep,
    classify_link,
    complete_chain,
    describe_certificate,
    required_anchor,
    rotation_plan,
    trust_store_changes,
)
from ccapki.trust._certs import cert_fingerprint
from ccapki.trust._diagnose import build_candidate_chain, expiry_warnings
from ccapki.trust._fit import (
    USAGE_RULES,
    EkuIncludes,
    FitPolicy,
    InValidityPeriod,
    LeafKeyUsage,
    NamesCovered,
    incomplete_chain,
    usage_findings,
)
from ccapki.trust._ha import (
    HA_RULES,
    HA_RULES_NO_HEARTBEAT,
    HaCheck,
    HaPair,
    HaPeer,
    HaRule,
    KeyMatches,
    NamesOnBothPeers,
    SameCertificate,
    SameKey,
    UsageOnBothPeers,
    ValidOnBothPeers,
    check_ha,
    ha_rules,
    heartbeat_blockers,
)
from ccapki.trust._model import Code, Finding, Verdict
from ccapki.trust._policy import (
    PLATFORMS,
    TLS_CURVES,
    EcdsaCurve,
    MaxValidity,
    MinRsaKey,
    NoWeakSignature,
    Policy,
    PolicyRule,
    Rule,
    SanRequired,
    ServerAuthEku,
    ValidNow,
    WellFormed,
    client_findings,
    client_refusals,
)
from ccapki.trust._stacks import STACKS, Leniency, Stack, StackModel, verify_for_stack
from ccapki.trust._verify import TrustContext, verify_chain

__all__ = [
    "CAM_TRUST_PATH",
    "CAS_TRUST_PATH",
    "HA_RULES",
    "HA_RULES_NO_HEARTBEAT",
    "PLATFORMS",
    "STACKS",
    "TLS_CURVES",
    "USAGE_RULES",
    "Case",
    "CaseKind",
    "Change",
    "Code",
    "EcdsaCurve",
    "EkuIncludes",
    "Finding",
    "FitPolicy",
    "HaCheck",
    "HaPair",
    "HaPeer",
    "HaRule",
    "InValidityPeriod",
    "KeyMatches",
    "LeafKeyUsage",
    "Leniency",
    "MaxValidity",
    "MinRsaKey",
    "NamesCovered",
    "NamesOnBothPeers",
    "NoWeakSignature",
    "Policy",
    "PolicyRule",
    "RotationPlan",
    "RotationStep",
    "Rule",
    "SameCertificate",
    "SameKey",
    "SanRequired",
    "ServerAuthEku",
    "Stack",
    "StackModel",
    "TrustContext",
    "UsageOnBothPeers",
    "ValidNow",
    "ValidOnBothPeers",
    "Verdict",
    "WellFormed",
    "build_candidate_chain",
    "cert_fingerprint",
    "check_ha",
    "classify_link",
    "client_findings",
    "client_refusals",
    "complete_chain",
    "describe_certificate",
    "expiry_warnings",
    "ha_rules",
    "heartbeat_blockers",
    "incomplete_chain",
    "required_anchor",
    "rotation_plan",
    "trust_store_changes",
    "usage_findings",
    "verify_chain",
    "verify_for_stack",
]
