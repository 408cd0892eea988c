"""An ECDSA key on secp256k1 was flagged nowhere, while RSA-1024, Ed25519 and Ed448 were.

The web-PKI analysis (``_PERMITTED_CURVES`` in ``_diagnose``) checks the curves of the CA
keys of a chain that failed to verify, and the leaf's only in the lint of a chain that
verified, as a warning, which ``trust check`` does not ask for. cryptography's verifier takes
a secp256k1 leaf, so a secp256k1 identity passed every stack and client policy: no stack
requirement and no client platform rule read the curve, and ``import`` (ClientStrength) did
not either. Browsers (BoringSSL, mozilla::pkix), Windows SChannel, Apple's Security
framework, JDK 17's SunEC and GnuTLS take ECDSA on P-256, P-384 and P-521 only: the stacks
and platforms modelling them refuse another curve, on the leaf or on a CA of its chain, with
a fix naming a supported curve. Every certificate here is minted at test time.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ccapki.trust import (
    PLATFORMS,
    Code,
    Finding,
    FitPolicy,
    Stack,
    Verdict,
    client_findings,
    client_refusals,
    verify_for_stack,
)
from kit.certs import Minted

from .conftest import NOW, mint

HOST = "cas1.example.com"

#: the stacks that refuse a secp256k1 key: Java (JDK 17), Chromium and GnuTLS (shown by the
#: real stacks: a handshake, a page load, certtool --verify), Windows and macOS (documented).
#: OpenSSL, strongSwan and NSS's certutil -V take a secp256k1 leaf (shown the same way);
#: Firefox refuses it, as its client platform policy says.
REFUSING = {Stack.JAVA_PKIX, Stack.CHROMIUM, Stack.GNUTLS, Stack.WINDOWS, Stack.MACOS}


def _k1() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256K1())


def _chain(leaf_key: ec.EllipticCurvePrivateKey | None = None) -> tuple[Minted, Minted, Minted]:
    root = mint("Campus Root CA", ca=True, path_length=1, days=3650)
    inter = mint("Campus Issuing CA", issuer=root, ca=True, path_length=0, days=1825)
    leaf = mint(HOST, issuer=inter, key=leaf_key, san=[HOST, "10.0.0.11"])
    return root, inter, leaf


def _curve_errors(verdict: Verdict, subject: str) -> list[Finding]:
    """The verdict's refusals of ``subject``'s key (unsupported-algorithm)."""
    return [
        f for f in verdict.errors if f.code == Code.UNSUPPORTED_ALGORITHM and f.subject == subject
    ]


@pytest.mark.parametrize("stack", sorted(REFUSING))
def test_a_secp256k1_leaf_under_a_p256_chain_is_refused_by_browsers_windows_java_gnutls(
    stack: Stack,
) -> None:
    root, inter, leaf = _chain(_k1())
    v = verify_for_stack(
        stack, leaf.cert, [inter.cert], [root.cert], peer_name=HOST, at=NOW, lint=False
    )
    assert not v.ok, v.findings
    (f,) = _curve_errors(v, HOST)
    assert "secp256k1" in f.reason
    assert "P-256" in f.reason
    assert 'key = "ecdsa-p256"' in f.fix
    # the verdict is a refusal of the key, nothing else
    assert [e.code for e in v.errors] == [Code.UNSUPPORTED_ALGORITHM]


def test_the_stacks_not_known_to_refuse_secp256k1_keep_their_verdict() -> None:
    root, inter, leaf = _chain(_k1())
    accepted = {
        s
        for s in Stack
        if verify_for_stack(s, leaf.cert, [inter.cert], [root.cert], peer_name=HOST, at=NOW).ok
    }
    assert accepted == set(Stack) - REFUSING


@pytest.mark.parametrize(
    "curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()], ids=lambda c: c.name
)
def test_a_nist_curve_leaf_passes_every_stack(curve: ec.EllipticCurve) -> None:
    root, inter, leaf = _chain(ec.generate_private_key(curve))
    for s in Stack:
        v = verify_for_stack(s, leaf.cert, [inter.cert], [root.cert], peer_name=HOST, at=NOW)
        assert (s, v.ok, v.findings) == (s, True, ())


def _self_signed(key: ec.EllipticCurvePrivateKey) -> Minted:
    """What ``openssl req -x509`` makes: self-signed, CA:TRUE, no EKU (its keyUsage
    without keyCertSign, as openssl's has none)."""
    return mint(HOST, key=key, ca=True, key_cert_sign=False, san=[HOST, "10.0.0.11"], eku=None)


@pytest.mark.parametrize("stack", [Stack.JAVA_PKIX, Stack.WINDOWS, Stack.CHROMIUM])
def test_a_self_signed_secp256k1_identity_trusted_directly_is_refused(stack: Stack) -> None:
    """The reported case: ``openssl req -x509 -newkey ec ... secp256k1`` (CA:TRUE, no EKU),
    imported and put in the trust stores. Java returns the trusted leaf as it is, Windows and
    Chromium accept a CA:TRUE leaf: the curve was never read."""
    own = _self_signed(_k1())
    v = verify_for_stack(stack, own.cert, [], [own.cert], peer_name=HOST, at=NOW, lint=False)
    assert not v.ok, v.findings
    (f,) = _curve_errors(v, HOST)
    assert "secp256k1" in f.reason
    assert 'key = "ecdsa-p256"' in f.fix
    # with a P-256 key the same certificate is accepted by these stacks (warnings only)
    p256 = _self_signed(ec.generate_private_key(ec.SECP256R1()))
    assert verify_for_stack(stack, p256.cert, [], [p256.cert], peer_name=HOST, at=NOW).ok


@pytest.mark.parametrize("stack", sorted(REFUSING))
def test_an_issuing_ca_on_secp256k1_is_refused(stack: Stack) -> None:
    """A chain certificate, not only the leaf: a P-256 leaf whose issuing CA is on
    secp256k1 is refused, the finding naming the CA."""
    root = mint("Campus Root CA", ca=True, path_length=1, days=3650)
    inter = mint("K1 Issuing CA", issuer=root, key=_k1(), ca=True, path_length=0, days=1825)
    leaf = mint(HOST, issuer=inter, san=[HOST])
    v = verify_for_stack(
        stack, leaf.cert, [inter.cert], [root.cert], peer_name=HOST, at=NOW, lint=False
    )
    assert not v.ok
    (f,) = _curve_errors(v, "K1 Issuing CA")
    assert "secp256k1" in f.reason
    assert "P-256" in f.fix
    assert not _curve_errors(v, HOST)


@pytest.mark.parametrize("stack", sorted(REFUSING))
def test_a_root_on_secp256k1_is_refused(stack: Stack) -> None:
    root = mint("K1 Root CA", key=_k1(), ca=True, path_length=1, days=3650)
    inter = mint("Campus Issuing CA", issuer=root, ca=True, path_length=0, days=1825)
    leaf = mint(HOST, issuer=inter, san=[HOST])
    v = verify_for_stack(
        stack, leaf.cert, [inter.cert], [root.cert], peer_name=HOST, at=NOW, lint=False
    )
    assert not v.ok
    (f,) = _curve_errors(v, "K1 Root CA")
    assert "secp256k1" in f.reason


def test_every_client_platform_refuses_a_secp256k1_leaf_said_once_for_the_agent() -> None:
    _root, _inter, leaf = _chain(_k1())
    found = client_refusals(leaf.cert, None, NOW, publicly_trusted=False)
    assert set(found) == set(PLATFORMS)
    for platform, refusals in found.items():
        codes = [f.code for f in refusals]
        if platform == "agent-macos":  # the Windows agent says it (defers_to)
            assert codes == [], refusals
            continue
        assert codes == [Code.UNSUPPORTED_ALGORITHM], (platform, refusals)
        (f,) = refusals
        assert f.severity == "error"
        assert f.reason.startswith(f"{PLATFORMS[platform].title}: {HOST} has an ECDSA key")
        assert "secp256k1" in f.reason
        assert 'key = "ecdsa-p256"' in f.fix
    # a publicly trusted one too
    public = client_refusals(leaf.cert, ["chrome"], NOW, publicly_trusted=True)
    assert [f.code for f in public["chrome"]] == [Code.UNSUPPORTED_ALGORITHM]


@pytest.mark.parametrize(
    "curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()], ids=lambda c: c.name
)
def test_no_client_platform_refuses_a_nist_curve(curve: ec.EllipticCurve) -> None:
    _root, _inter, leaf = _chain(ec.generate_private_key(curve))
    found = client_findings(leaf.cert, None, NOW, publicly_trusted=False)
    assert {p: fs for p, fs in found.items() if fs} == {}


def test_import_warns_of_a_secp256k1_key_as_of_rsa_1024() -> None:
    _root, _inter, leaf = _chain(_k1())
    found = FitPolicy("cas1", (HOST, "10.0.0.11")).evaluate(leaf.cert, NOW)
    (warning,) = [f for f in found if f.code == Code.UNSUPPORTED_ALGORITHM]
    assert warning.severity == "warning"  # the import goes ahead
    assert warning.reason == (
        f"agents and browsers will refuse it: {HOST} has an ECDSA key on curve secp256k1; "
        "only P-256, P-384 and P-521 are accepted (RFC 8446 4.2.3; CA/B Forum BR 6.1.5)"
    )
    assert 'key = "ecdsa-p256"' in warning.fix
    assert not [f for f in found if f.severity == "error"], found


def test_import_says_nothing_of_a_p384_key() -> None:
    _root, _inter, leaf = _chain(ec.generate_private_key(ec.SECP384R1()))
    assert FitPolicy("cas1", (HOST, "10.0.0.11")).evaluate(leaf.cert, NOW) == []
