"""Trust engine (pure): chain verdicts, their explanation, client policies, FAQ cases.

Public API (imported lazily: ``import ccapki.trust`` loads nothing until a name is used)::

    verify_chain(leaf, intermediates, roots, *, purpose="server"|"client", peer_name=None,
                 at=None, max_depth=None, candidates=(), lint_ok=False) -> Verdict
    TrustContext(roots, *, candidates=()).verify(leaf, intermediates, *, purpose=...,
                 peer_name=..., at=..., max_depth=..., candidates=..., lint_ok=...) -> Verdict
    Verdict(ok, chain, findings, raw_error, checked_name); Finding(code, reason, fix,
                 subject, severity); Code (the stable finding codes)

    Policy(platform, title, rules).evaluate(cert, now, *, publicly_trusted=False)
    PLATFORMS ("windows", "macos", "ios", "chrome", "firefox", "agent")
    client_refusals(cert, platforms, now, *, publicly_trusted) -> {platform: [Finding]}
    client_findings(...) -> the same with warnings
    expiry_warnings(chain, at, *, window=renewal_window) -> [Finding] (renew soon)

    classify_link(identity_chain, trust_store, *, perfigo_fingerprints=...,
                  internal_fingerprints=..., candidates=()) -> Case
    required_anchor(chain, candidates=()) -> Certificate
    trust_store_changes(current, required, *, cams=(), prune=False, ...) -> [Change]
    rotation_plan(identity, old_chain, new_chain, current, *, verifiers, installed_on,
                  cams=(), still_needed=None, ...) -> RotationPlan (breaks, ordered steps)

Verdicts come from ``cryptography.x509.verification``; findings from our own analysis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from ccapki.trust._model import Code, Finding, Verdict
    from ccapki.trust._policy import (
        PLATFORMS,
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
    from ccapki.trust._verify import TrustContext, verify_chain

__all__ = [
    "CAM_TRUST_PATH",
    "CAS_TRUST_PATH",
    "PLATFORMS",
    "Case",
    "CaseKind",
    "Change",
    "Code",
    "Finding",
    "MaxValidity",
    "MinRsaKey",
    "NoWeakSignature",
    "Policy",
    "PolicyRule",
    "RotationPlan",
    "RotationStep",
    "Rule",
    "SanRequired",
    "ServerAuthEku",
    "TrustContext",
    "ValidNow",
    "Verdict",
    "WellFormed",
    "build_candidate_chain",
    "cert_fingerprint",
    "classify_link",
    "client_findings",
    "client_refusals",
    "complete_chain",
    "describe_certificate",
    "expiry_warnings",
    "required_anchor",
    "rotation_plan",
    "trust_store_changes",
    "verify_chain",
]

_WHERE = {
    "_cases": (
        "CAM_TRUST_PATH",
        "CAS_TRUST_PATH",
        "Case",
        "CaseKind",
        "Change",
        "RotationPlan",
        "RotationStep",
        "classify_link",
        "complete_chain",
        "describe_certificate",
        "required_anchor",
        "rotation_plan",
        "trust_store_changes",
    ),
    "_certs": ("cert_fingerprint",),
    "_diagnose": ("build_candidate_chain", "expiry_warnings"),
    "_model": ("Code", "Finding", "Verdict"),
    "_policy": (
        "PLATFORMS",
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
    ),
    "_verify": ("TrustContext", "verify_chain"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
