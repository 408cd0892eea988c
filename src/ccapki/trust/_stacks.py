"""Verdicts per verifying stack: what each real TLS/IKE implementation decides.

cryptography's web-PKI verifier (``Stack.WEBPKI``) is the strict baseline every verdict
starts from. A stack is that baseline plus its documented deviations:

- *extension* leniencies (a CA without keyUsage, no SKI/AKI, a non-critical
  basicConstraints, a leaf without SAN, EKU on CAs...) are handed to cryptography as the
  stack's own ``ExtensionPolicy`` pair, so the positive verdict still comes from
  ``cryptography.x509.verification``;
- what cryptography cannot be told (SHA-1 signatures, RSA keys under 2048 bits, an
  expired or extension-less trust anchor) is a :class:`Leniency`: a web-PKI finding the
  stack accepts, matched by code and by the certificate it is about;
- names are the stack's: no name at all (mutual TLS by trust store, IKE identities),
  SAN only (browsers), or SAN with the subject CN as a fallback (Java, OpenSSL).

Every web-PKI error a stack accepts stays in its verdict as a warning (``web-PKI
refuses: ...``), so nothing is hidden. Each rule cites the behaviour it models; the
table of stacks and channels is in ``docs/stacks.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
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
    fingerprint,
    is_self_signed,
    name_label,
    name_matches,
    parse_ip,
    public_key,
    san_names,
    subject_alt_names,
)
from ccapki.trust._diagnose import Purpose
from ccapki.trust._model import Code, Finding, Verdict
from ccapki.trust._verify import TrustContext

__all__ = [
    "STACKS",
    "Leniency",
    "NameRule",
    "Stack",
    "StackModel",
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
class StackModel:
    """How one stack differs from web-PKI.

    ``ca_keyusage``: ``"required"`` (web-PKI), ``"if-present"`` (a CA without keyUsage is
    accepted; with one, keyCertSign must be set), ``"not-on-anchor"`` (as ``if-present``,
    and a trust anchor's keyUsage is not read at all). ``lenient_extensions``: SKI/AKI not
    required, basicConstraints need not be critical, AKI content not checked, a leaf
    without SAN accepted (the name rule decides). ``ca_eku``: whether an EKU on a CA must
    allow the purpose; ``leaf_eku``: the same for the leaf. ``names``: how a ``peer_name``
    is matched. ``min_rsa``: a stricter RSA floor than web-PKI's (cryptography accepts
    1024-bit RSA), with its source.
    """

    stack: Stack
    title: str
    ca_keyusage: Literal["required", "if-present", "not-on-anchor"] = "required"
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


def _rsa_at_least(bits: int) -> Callable[[x509.Certificate], bool]:
    def check(cert: x509.Certificate) -> bool:
        key = public_key(cert)
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= bits

    return check


def _no_basic_constraints(cert: x509.Certificate) -> bool:
    return basic_constraints(cert) is None


_JAVA_CITE = (
    "OpenJDK 17 sun.security.provider.certpath (PKIXCertPathValidator, KeyChecker, "
    "BasicChecker) and java.security jdk.certpath.disabledAlgorithms"
)

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
        cite="OpenSSL 3 crypto/x509/v3_purp.c + x509_vfy.c check_extensions (X509_STRICT)",
        min_rsa=2048,
        min_rsa_cite=_SECLEVEL2,
    ),
    Stack.JAVA_PKIX: StackModel(
        Stack.JAVA_PKIX,
        "Java PKIX (SunJSSE X509TrustManager, JDK 17)",
        ca_keyusage="not-on-anchor",
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
        ),
        cite=_JAVA_CITE,
    ),
    Stack.OPENSSL_DEFAULT: StackModel(
        Stack.OPENSSL_DEFAULT,
        "OpenSSL 3 default verification (Debian SECLEVEL=2)",
        ca_keyusage="if-present",
        lenient_extensions=True,
        ca_eku=True,
        names="san-or-cn",
        cite="OpenSSL 3 x509_vfy.c without X509_V_FLAG_X509_STRICT; X509_check_host falls back "
        "to the CN when the SAN has no DNS name",
        min_rsa=2048,
        min_rsa_cite=_SECLEVEL2,
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
        ),
        cite="GnuTLS lib/x509/verify.c (keyUsage checked only when present)",
    ),
    Stack.NSS: StackModel(
        Stack.NSS,
        "NSS (certutil -V, Firefox)",
        ca_keyusage="if-present",
        lenient_extensions=True,
        ca_eku=True,
        names="san",
        leniencies=(
            Leniency(
                Code.WEAK_KEY,
                _ANY,
                "NSS's default policy refuses RSA < 1024 only (NSS_RSA_MIN_KEY_SIZE)",
                _rsa_at_least(1024),
            ),
        ),
        cite="NSS lib/certhigh/certvfy.c (keyUsage checked only when present)",
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
        ),
        cite="Chromium net/cert/pki/verify_certificate_chain.cc: keyUsage checked only when "
        "present (RFC 5280 6.1.4 (n)), no CN fallback since Chrome 58 "
        "(ERR_CERT_COMMON_NAME_INVALID), SHA-1 refused since Chrome 57",
    ),
    Stack.STRONGSWAN: StackModel(
        Stack.STRONGSWAN,
        "strongSwan charon IKEv2 (x509 plugin, constraints plugin)",
        ca_keyusage="if-present",
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
                "strongSwan verifies SHA-1 certificate signatures (no hash floor by default)",
                _sha1,
            ),
            Leniency(
                Code.WEAK_KEY,
                _ANY,
                "strongSwan sets no RSA size floor for certificate keys by default",
                _rsa_at_least(512),
            ),
        ),
        cite="strongSwan src/libstrongswan/credentials/credential_manager.c (CA flag from "
        "basicConstraints; keyUsage not required); the IKE identity is the subject DN",
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
        if ku is None:
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


def _no_check(_policy: Policy, _cert: x509.Certificate, _ext: object) -> None:
    return None


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
        ee = (
            ee.may_be_present(x509.AuthorityKeyIdentifier, agnostic, _no_check)
            .may_be_present(x509.SubjectAlternativeName, agnostic, _no_check)
            .may_be_present(x509.BasicConstraints, agnostic, _no_check)
        )
    if not model.ca_eku:
        ca = ca.may_be_present(x509.ExtendedKeyUsage, agnostic, _no_check)
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


def _name_finding(model: StackModel, leaf: x509.Certificate, peer: str) -> Finding | None:
    """None when ``leaf`` names ``peer`` the way ``model``'s stack matches names."""
    sans = san_names(leaf)
    parsed = subject_alt_names(leaf)
    # an IP is matched only against iPAddress SANs, a DNS name only against dNSName SANs
    # (Java HostnameChecker, OpenSSL X509_check_ip/X509_check_host, GnuTLS, browsers)
    if parsed is not None and parsed.covers(peer):
        return None
    dns_in_san = parsed is not None and bool(parsed.dns)
    if (
        model.names == "san-or-cn"
        and not dns_in_san
        and parse_ip(peer) is None  # the CN fallback is for host names only
        and name_matches(peer, _common_names(leaf))
    ):
        return None
    name = display_name(leaf)
    if sans is None:
        how = "it has no subjectAltName" + (
            " and its CN does not match either"
            if model.names == "san-or-cn"
            else f" ({model.title} ignores the CN)"
        )
        code = Code.MISSING_SAN
    else:
        how = f"its subjectAltName names {', '.join(sans)}"
        code = Code.NAME_MISMATCH
    return Finding(
        code,
        f"{name} does not name {peer}: {how}",
        f"re-issue {name} with {peer} in its subjectAltName",
        name,
    )


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
    return Finding(
        f.code,
        f"web-PKI refuses: {f.reason}; {model.title} accepts it ({why})",
        f.fix,
        f.subject,
        "warning",
    )


def _lenient_verify(
    model: StackModel,
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    purpose: Purpose,
    at: dt.datetime,
    anchors: frozenset[str],
) -> list[x509.Certificate] | None:
    """The chain cryptography builds under ``model``'s extension policies (no name
    checked: the client verifier, with the purpose's EKU checked by the leaf policy)."""
    if not roots:
        return None
    ca, ee = _policies(model, purpose, anchors)
    builder = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(at)
        .extension_policies(ca_policy=ca, ee_policy=ee)
    )
    try:
        return builder.build_client_verifier().verify(leaf, list(intermediates)).chain
    except VerificationError:
        return None


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
    anchors = frozenset(fingerprint(r) for r in roots)
    name_error = None
    if peer_name is not None and model.names != "none":
        name_error = _name_finding(model, leaf, peer_name)
    naming = (Code.MISSING_SAN, Code.NAME_MISMATCH)
    kept: list[Finding] = []
    errors: list[Finding] = []
    chain: Sequence[x509.Certificate] | None = web.chain
    if not web.ok:
        chain = _lenient_verify(model, leaf, intermediates, roots, purpose, when, anchors)
    if web.ok:
        pass
    elif chain is not None:  # cryptography accepts under the stack's extension policies
        kept = [
            _as_warning(model, f, model.cite)
            for f in web.errors
            if name_error is None or f.code not in naming
        ]
    else:
        roles = _roles(web.chain or (leaf,), anchors)
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
    warnings = [*kept, *web.warnings]
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
    modelled stack's deviations from web-PKI with the behaviour each rule cites."""
    lines = [
        "## Channels and the stack that verifies each",
        "",
        "| channel | stack | modelled as |",
        "|---|---|---|",
    ]
    for channel, name in channel_stacks.items():
        lines.append(f"| {channel} | `{name}` | {STACKS[Stack(name)].title} |")
    lines += [
        "",
        "## How each stack differs from web-PKI",
        "",
        "Every verdict starts from cryptography's web-PKI verifier. Where a stack accepts "
        "what web-PKI refuses, the web-PKI finding stays in the verdict as a warning "
        "(`web-PKI refuses: ...`).",
        "",
        "| stack | CA keyUsage | SKI/AKI, critical BC, SAN | EKU on CAs | names | also accepts |",
        "|---|---|---|---|---|---|",
    ]
    for model in STACKS.values():
        ku = {
            "required": "required, with keyCertSign",
            "if-present": "checked only when present",
            "not-on-anchor": "checked only when present; never on a trust anchor",
        }[model.ca_keyusage]
        ext = "not required" if model.lenient_extensions else "required (RFC 5280 / CA/B)"
        eku = "must allow the purpose" if model.ca_eku else "ignored"
        names = {"none": "none checked", "san": "SAN only", "san-or-cn": "SAN, else CN"}[
            model.names
        ]
        also = "; ".join(f"`{r.code}` on {'/'.join(sorted(r.roles))}" for r in model.leniencies)
        lines.append(f"| `{model.stack}` | {ku} | {ext} | {eku} | {names} | {also or '-'} |")
    lines += ["", "Sources:", ""]
    for model in STACKS.values():
        cites = [model.cite, *(f"`{r.code}`: {r.cite}" for r in model.leniencies)]
        lines.append(f"- `{model.stack}` ({model.title}): " + "; ".join(c for c in cites if c))
    return lines
