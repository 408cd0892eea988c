"""verify_chain / TrustContext: the verdict comes from cryptography, findings explain it.

Every finding code has a test here that mints the defective chain from the fixed
clock and asserts the code and its fix.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.errors import InputError
from ccapki.trust import Code, Finding, TrustContext, Verdict, verify_chain
from kit.certs import CLIENT_AUTH, SERVER_AUTH, MintedChain, rsa_key
from kit.der import resign_sha1

from .conftest import NOW, mint


def only(verdict: Verdict, code: str, *, also: tuple[str, ...] = ()) -> Finding:
    """The one finding with ``code``: the verdict failed on it and on nothing else."""
    assert not verdict.ok
    assert verdict.findings, "a failed verdict carries findings"
    hits = [f for f in verdict.findings if f.code == code]
    assert len(hits) == 1, f"expected one {code}, got {verdict.codes}"
    assert set(verdict.codes) == {code, *also}, verdict.codes
    return hits[0]


# -- the good paths ------------------------------------------------------------------------


def test_internal_chain_verifies_and_returns_chain(pki: MintedChain) -> None:
    v = verify_chain(pki.leaf.cert, [pki.inter.cert], [pki.root.cert], at=NOW)
    assert v.ok
    assert v.chain == (pki.leaf.cert, pki.inter.cert, pki.root.cert)
    assert v.findings == ()
    assert v.raw_error is None
    assert v.checked_name == "cas1.example.com"  # the leaf's first SAN


def test_server_name_and_ip_checked(pki: MintedChain) -> None:
    ctx = TrustContext([pki.root.cert])
    for name in ("cas1.example.com", "10.0.0.11", "CAS1.example.com"):
        v = ctx.verify(pki.leaf.cert, [pki.inter.cert], peer_name=name, at=NOW)
        assert v.ok, name
        assert v.checked_name == name


def test_client_purpose_returns_chain(pki: MintedChain) -> None:
    v = verify_chain(
        pki.leaf.cert,
        [pki.inter.cert],
        [pki.root.cert],
        purpose="client",
        peer_name="10.0.0.11",
        at=NOW,
    )
    assert v.ok
    assert len(v.chain) == 3


def test_true_self_signed_leaf_in_store_is_trusted() -> None:
    cam = mint("cam.example.com", days=1825)
    v = verify_chain(cam.cert, [], [cam.cert], at=NOW, purpose="client")
    assert v.ok
    assert v.chain == (cam.cert,)


def test_default_time_is_now(pki: MintedChain) -> None:
    # the certificates start 5 minutes before NOW (2026-11-27); today they may not be
    # valid yet or any more: either way a verdict comes back, never an exception
    v = verify_chain(pki.leaf.cert, [pki.inter.cert], [pki.root.cert])
    assert isinstance(v.ok, bool)
    assert v.ok or v.findings


# -- validity -----------------------------------------------------------------------------


def test_expired_leaf(pki: MintedChain) -> None:
    at = NOW + dt.timedelta(days=400)
    v = verify_chain(pki.leaf.cert, [pki.inter.cert], [pki.root.cert], at=at)
    f = only(v, Code.EXPIRED)
    assert f.subject == "cas1.example.com"
    assert "expired on 2027-12-29" in f.reason
    assert "issue a new identity certificate for cas1.example.com" in f.fix
    assert "cert is not valid at validation time" in (v.raw_error or "")


def test_expired_root() -> None:
    root = mint("Old Root", ca=True, days=30, start=NOW - dt.timedelta(days=40))
    leaf = mint("cas1.example.com", issuer=root, start=NOW - dt.timedelta(days=1), days=30)
    v = verify_chain(leaf.cert, [], [root.cert], at=NOW)
    f = only(v, Code.EXPIRED)
    assert f.subject == "Old Root"
    assert "root certificate Old Root expired" in f.reason
    assert "renew CA Old Root" in f.fix


def test_not_yet_valid_names_clock_skew() -> None:
    root = mint("Campus Root CA", ca=True, days=3650, start=NOW - dt.timedelta(days=1))
    leaf = mint("cas1.example.com", issuer=root, start=NOW + dt.timedelta(hours=3))
    v = verify_chain(leaf.cert, [], [root.cert], at=NOW)
    f = only(v, Code.NOT_YET_VALID)
    assert "not valid until" in f.reason
    assert "clock" in f.fix
    assert "NTP" in f.fix


# -- who issued it ------------------------------------------------------------------------


def test_missing_intermediate_found_in_store(pki: MintedChain) -> None:
    v = verify_chain(
        pki.leaf.cert, [], [pki.root.cert], at=NOW, candidates=[pki.inter.cert, pki.root.cert]
    )
    f = only(v, Code.MISSING_INTERMEDIATE)
    assert f.fix == (
        "the appliance did not send intermediate Campus Issuing CA (found in the store): "
        "include it in the chain (upload it with the identity certificate)"
    )
    # the analysis still found the whole chain
    assert v.chain == (pki.leaf.cert, pki.inter.cert, pki.root.cert)
    assert "candidates exhausted" in (v.raw_error or "")


def test_missing_root_found_in_store(pki: MintedChain) -> None:
    other = mint("Some Other Root", ca=True, days=3650)
    v = verify_chain(
        pki.leaf.cert, [pki.inter.cert], [other.cert], at=NOW, candidates=[pki.root.cert]
    )
    f = only(v, Code.MISSING_ISSUER)
    assert f.fix == "add Campus Root CA (found in the store) to the trust store"


def test_missing_issuer_unknown_anywhere(pki: MintedChain) -> None:
    other = mint("Some Other Root", ca=True, days=3650)
    v = verify_chain(pki.leaf.cert, [], [other.cert], at=NOW)
    f = only(v, Code.MISSING_ISSUER)
    assert "Campus Issuing CA" in f.reason
    assert f.fix.startswith("get the certificate of Campus Issuing CA")
    assert v.chain == (pki.leaf.cert,)


def test_untrusted_root_sent_by_peer(pki: MintedChain) -> None:
    other = mint("Some Other Root", ca=True, days=3650)
    v = verify_chain(pki.leaf.cert, [pki.inter.cert, pki.root.cert], [other.cert], at=NOW)
    f = only(v, Code.UNTRUSTED_ROOT)
    assert f.fix == "add root Campus Root CA to the trust store"
    assert "sending a root does not make it trusted" in f.reason


def test_untrusted_self_signed_leaf() -> None:
    cas = mint("cas-dorm.example.edu", days=1825)
    other = mint("Campus Root CA", ca=True, days=3650)
    v = verify_chain(cas.cert, [], [other.cert], at=NOW)
    f = only(v, Code.UNTRUSTED_SELF_SIGNED)
    assert f.fix.startswith("true self-signed: add this certificate itself")
    assert "cas-dorm.example.edu" in f.fix


def test_untrusted_self_signed_with_empty_trust_store() -> None:
    cas = mint("cas-dorm.example.edu", days=1825)
    v = verify_chain(cas.cert, [], [], at=NOW, candidates=[cas.cert])
    f = only(v, Code.UNTRUSTED_SELF_SIGNED)
    assert "(found in the store)" in f.fix
    assert v.raw_error == "the trust store is empty"


def test_signature_mismatch_regenerated_ca(pki: MintedChain) -> None:
    # same name, new key: the old identity no longer chains to it
    regenerated = mint("Campus Root CA", ca=True, days=3650)
    v = verify_chain(pki.leaf.cert, [pki.inter.cert], [regenerated.cert], at=NOW)
    f = only(v, Code.SIGNATURE_MISMATCH)
    assert "none of them signed Campus Issuing CA" in f.reason
    assert "re-issue Campus Issuing CA from the current Campus Root CA" in f.fix


# -- names --------------------------------------------------------------------------------


def test_name_mismatch_server(pki: MintedChain) -> None:
    v = verify_chain(
        pki.leaf.cert, [pki.inter.cert], [pki.root.cert], peer_name="cas2.example.com", at=NOW
    )
    f = only(v, Code.NAME_MISMATCH)
    assert f.reason.startswith("cas2.example.com was asked")
    assert "cas1.example.com, 10.0.0.11" in f.reason
    assert "re-issue cas1.example.com with cas2.example.com in the subjectAltName" in f.fix


def test_name_mismatch_client_checked_by_us(pki: MintedChain) -> None:
    v = verify_chain(
        pki.leaf.cert,
        [pki.inter.cert],
        [pki.root.cert],
        purpose="client",
        peer_name="10.0.0.99",
        at=NOW,
    )
    only(v, Code.NAME_MISMATCH)
    assert v.raw_error is None  # cryptography accepted it; the name check is ours
    assert v.checked_name == "10.0.0.99"


def test_wildcard_san(pki: MintedChain) -> None:
    leaf = mint("*.example.com", issuer=pki.inter, san=["*.example.com"])
    ctx = TrustContext([pki.root.cert])
    assert ctx.verify(leaf.cert, [pki.inter.cert], peer_name="cas9.example.com", at=NOW).ok
    assert ctx.verify(leaf.cert, [pki.inter.cert], at=NOW).ok  # default name: a stand-in
    v = ctx.verify(leaf.cert, [pki.inter.cert], peer_name="a.b.example.com", at=NOW)
    only(v, Code.NAME_MISMATCH)


def test_missing_san_cn_only(pki: MintedChain) -> None:
    leaf = mint("cas1.example.com", issuer=pki.inter, san=None)
    v = verify_chain(
        leaf.cert, [pki.inter.cert], [pki.root.cert], peer_name="cas1.example.com", at=NOW
    )
    f = only(v, Code.MISSING_SAN)
    assert "names only in the CN are ignored" in f.reason
    assert "subjectAltName" in f.fix
    assert v.checked_name == "cas1.example.com"


def test_missing_san_no_name_asked(pki: MintedChain) -> None:
    leaf = mint("cas1.example.com", issuer=pki.inter, san=None)
    v = verify_chain(leaf.cert, [pki.inter.cert], [pki.root.cert], at=NOW)
    only(v, Code.MISSING_SAN)
    assert v.checked_name is None  # no name could be checked


def test_bad_peer_name_is_input_error(pki: MintedChain) -> None:
    with pytest.raises(InputError) as err:
        verify_chain(pki.leaf.cert, [pki.inter.cert], [pki.root.cert], peer_name="bad name!")
    assert err.value.hint


def test_bad_purpose_is_input_error(pki: MintedChain) -> None:
    with pytest.raises(InputError):
        verify_chain(pki.leaf.cert, [], [pki.root.cert], purpose="mail")  # type: ignore[arg-type]


# -- usages -------------------------------------------------------------------------------


def test_wrong_eku_client_only_cert_as_server(pki: MintedChain) -> None:
    leaf = mint("cas1.example.com", issuer=pki.inter, eku=[CLIENT_AUTH])
    v = verify_chain(leaf.cert, [pki.inter.cert], [pki.root.cert], at=NOW)
    f = only(v, Code.WRONG_EKU)
    assert "lacks serverAuth" in f.reason
    assert "serverAuth and clientAuth" in f.fix


def test_wrong_eku_server_only_cert_as_client(pki: MintedChain) -> None:
    # CAM and CAS authenticate each other: a serverAuth-only identity fails as a client
    leaf = mint("cas1.example.com", issuer=pki.inter, eku=[SERVER_AUTH])
    assert verify_chain(leaf.cert, [pki.inter.cert], [pki.root.cert], at=NOW).ok
    v = verify_chain(leaf.cert, [pki.inter.cert], [pki.root.cert], purpose="client", at=NOW)
    f = only(v, Code.WRONG_EKU)
    assert "lacks clientAuth" in f.reason


def test_wrong_eku_on_intermediate(pki: MintedChain) -> None:
    inter = mint(
        "Mail CA",
        issuer=pki.root,
        ca=True,
        path_length=0,
        eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION],
    )
    leaf = mint("cas1.example.com", issuer=inter)
    v = verify_chain(leaf.cert, [inter.cert], [pki.root.cert], at=NOW)
    f = only(v, Code.WRONG_EKU)
    assert f.subject == "Mail CA"
    assert "re-issue CA Mail CA" in f.fix


def test_wrong_key_usage_leaf_with_key_cert_sign(pki: MintedChain) -> None:
    leaf = mint("cas1.example.com", issuer=pki.inter, key_cert_sign=True)
    v = verify_chain(leaf.cert, [pki.inter.cert], [pki.root.cert], at=NOW)
    f = only(v, Code.WRONG_KEY_USAGE)
    assert "keyCertSign" in f.reason
    assert "without keyCertSign" in f.fix


def test_wrong_key_usage_ca_without_key_cert_sign(pki: MintedChain) -> None:
    inter = mint("Campus Issuing CA", issuer=pki.root, ca=True, path_length=0, key_cert_sign=False)
    leaf = mint("cas1.example.com", issuer=inter)
    v = verify_chain(leaf.cert, [inter.cert], [pki.root.cert], at=NOW)
    f = only(v, Code.WRONG_KEY_USAGE)
    assert f.subject == "Campus Issuing CA"
    assert "keyCertSign" in f.fix


# -- algorithms ---------------------------------------------------------------------------


def test_weak_signature_sha1() -> None:
    root = mint("RSA Root", key=rsa_key(2048), ca=True, days=3650)
    leaf = mint("cas1.example.com", issuer=root)
    sha1_leaf = resign_sha1(leaf.cert, rsa_key(2048))
    assert sha1_leaf.signature_hash_algorithm is not None
    assert sha1_leaf.signature_hash_algorithm.name == "sha1"
    assert verify_chain(leaf.cert, [], [root.cert], at=NOW).ok  # the SHA-256 twin is fine
    v = verify_chain(sha1_leaf, [], [root.cert], at=NOW)
    f = only(v, Code.WEAK_SIGNATURE)
    assert "sha1WithRSAEncryption" in f.reason
    assert f.fix == "re-issue cas1.example.com with a SHA-256 (or stronger) signature"


def test_weak_key_rsa_1024_intermediate(pki: MintedChain) -> None:
    inter = mint("Weak Issuing CA", key=rsa_key(1024), issuer=pki.root, ca=True, path_length=0)
    leaf = mint("cas1.example.com", issuer=inter)
    v = verify_chain(leaf.cert, [inter.cert], [pki.root.cert], at=NOW)
    f = only(v, Code.WEAK_KEY)
    assert "1024-bit RSA key" in f.reason
    assert "re-issue Weak Issuing CA" in f.fix


def test_weak_leaf_key_is_only_a_lint_warning(pki: MintedChain) -> None:
    # cryptography checks issuers' keys, not the leaf's: the verdict passes, the lint warns
    leaf = mint("cas1.example.com", key=rsa_key(1024), issuer=pki.inter)
    v = verify_chain(leaf.cert, [pki.inter.cert], [pki.root.cert], at=NOW, lint_ok=True)
    assert v.ok
    (f,) = [f for f in v.findings if f.code == Code.WEAK_KEY]
    assert f.severity == "warning"


def test_unsupported_algorithm_ed25519_root() -> None:
    root = mint("Ed Root", key=ed25519.Ed25519PrivateKey.generate(), ca=True, days=3650)
    leaf = mint("cas1.example.com", issuer=root)
    v = verify_chain(leaf.cert, [], [root.cert], at=NOW)
    assert not v.ok
    hits = [f for f in v.findings if f.code == Code.UNSUPPORTED_ALGORITHM]
    assert hits
    assert all("ECDSA P-256" in f.fix for f in hits)


# -- structure ----------------------------------------------------------------------------


def test_path_length_exceeded(pki: MintedChain) -> None:
    root = mint("Strict Root", ca=True, path_length=0, days=3650)
    inter = mint("Issuing CA", issuer=root, ca=True, path_length=0)
    leaf = mint("cas1.example.com", issuer=inter)
    v = verify_chain(leaf.cert, [inter.cert], [root.cert], at=NOW)
    f = only(v, Code.PATH_LENGTH)
    assert f.subject == "Strict Root"
    assert "pathLen >= 1" in f.fix


def test_chain_too_deep(pki: MintedChain) -> None:
    root = mint("Deep Root", ca=True, days=3650)
    i1 = mint("Level 1 CA", issuer=root, ca=True)
    i2 = mint("Level 2 CA", issuer=i1, ca=True)
    leaf = mint("cas1.example.com", issuer=i2)
    assert verify_chain(leaf.cert, [i1.cert, i2.cert], [root.cert], at=NOW).ok
    v = verify_chain(leaf.cert, [i1.cert, i2.cert], [root.cert], at=NOW, max_depth=1)
    f = only(v, Code.CHAIN_TOO_DEEP)
    assert "2 intermediate CA(s)" in f.reason
    assert "limit is 1" in f.reason


def test_ca_as_leaf(pki: MintedChain) -> None:
    v = verify_chain(pki.inter.cert, [], [pki.root.cert], at=NOW)
    f = only(v, Code.CA_AS_LEAF, also=(Code.MISSING_SAN,))  # a CA names no host
    assert "issue an identity certificate (CA:FALSE)" in f.fix


def test_not_a_ca_identity_used_as_issuer() -> None:
    cam = mint("cam.example.com", days=1825)  # a true self-signed identity, CA:FALSE
    cas = mint("cas1.example.com", issuer=cam)
    v = verify_chain(cas.cert, [], [cam.cert], at=NOW)
    f = only(v, Code.NOT_A_CA, also=(Code.WRONG_KEY_USAGE,))  # no keyCertSign either
    assert "is not a CA" in f.reason
    assert "trust it directly" in f.fix


def test_missing_aki_even_when_trusted_directly() -> None:
    # a temporary certificate made by an older tool without AKI: cryptography refuses it
    # even when the certificate itself is in the trust store
    cam = mint("cam.example.com", days=1825, aki=False)
    v = verify_chain(cam.cert, [], [cam.cert], at=NOW)
    f = only(v, Code.MISSING_AKI)
    assert "not RFC 5280 conformant" in f.reason
    assert "authorityKeyIdentifier" in f.fix


def test_not_rfc5280_critical_san(pki: MintedChain) -> None:
    leaf = mint("cas1.example.com", issuer=pki.inter, san_critical=True)
    v = verify_chain(leaf.cert, [pki.inter.cert], [pki.root.cert], at=NOW)
    f = only(v, Code.NOT_RFC5280)
    assert "RFC 5280 4.2.1.6" in f.reason


def test_not_rfc5280_noncritical_basic_constraints(pki: MintedChain) -> None:
    inter = mint("Lax CA", issuer=pki.root, ca=True, path_length=0, bc_critical=False)
    leaf = mint("cas1.example.com", issuer=inter)
    v = verify_chain(leaf.cert, [inter.cert], [pki.root.cert], at=NOW)
    f = only(v, Code.NOT_RFC5280)
    assert "critical basicConstraints" in f.fix


def test_generic_finding_when_analysis_finds_nothing(pki: MintedChain) -> None:
    # name constraints are enforced by the verifier but not diagnosed by us: the verdict
    # still fails with a finding carrying the verifier's own words
    constrained = mint(
        "Constrained CA",
        issuer=pki.root,
        ca=True,
        path_length=0,
        name_constraints=x509.NameConstraints(
            permitted_subtrees=[x509.DNSName("allowed.example")], excluded_subtrees=None
        ),
    )
    leaf = mint("cas1.example.com", issuer=constrained)
    v = verify_chain(leaf.cert, [constrained.cert], [pki.root.cert], at=NOW)
    f = only(v, Code.VERIFICATION_FAILED)
    assert v.raw_error
    assert v.raw_error in f.reason


def test_several_problems_all_reported(pki: MintedChain) -> None:
    leaf = mint("cas1.example.com", issuer=pki.inter, eku=[CLIENT_AUTH], san=None)
    v = verify_chain(leaf.cert, [], [pki.root.cert], at=NOW + dt.timedelta(days=500))
    assert {Code.EXPIRED, Code.MISSING_SAN, Code.WRONG_EKU, Code.MISSING_ISSUER} <= set(v.codes)
    assert all(f.severity == "error" for f in v.errors)


# -- lint on success ------------------------------------------------------------------------


def test_lint_validity_too_long_and_expiring_soon(pki: MintedChain) -> None:
    five_years = mint("cam.example.com", days=1825)
    v = verify_chain(five_years.cert, [], [five_years.cert], at=NOW, lint_ok=True)
    assert v.ok
    (f,) = v.warnings
    assert f.code == Code.VALIDITY_TOO_LONG
    assert "825" in f.reason
    soon = mint("cas1.example.com", issuer=pki.inter, days=20)
    v = verify_chain(soon.cert, [pki.inter.cert], [pki.root.cert], at=NOW, lint_ok=True)
    assert v.ok
    assert v.codes == (Code.EXPIRING_SOON,)
    assert verify_chain(soon.cert, [pki.inter.cert], [pki.root.cert], at=NOW).findings == ()


def test_lint_validity_cap_comes_from_the_client_policies() -> None:
    # One source of truth: the lint's Apple cap (and the public cap in its hint) are the
    # caps the client policies enforce (ccapki.pki.validitycaps), not literals of its own.
    import ast

    from ccapki.pki.validitycaps import APPLE_825, PUBLIC_398
    from ccapki.trust import _diagnose

    tree = ast.parse(Path(_diagnose.__file__).read_text(encoding="utf-8"))
    caps = {APPLE_825.days, PUBLIC_398.days, PUBLIC_398.longest_request}
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert not caps & literals
    long = mint("cam.example.com", days=APPLE_825.days + 1)
    v = verify_chain(long.cert, [], [long.cert], at=NOW, lint_ok=True)
    (f,) = v.warnings
    assert f.reason.endswith(f"valid longer than {APPLE_825.days} days (Apple HT210176)")
    assert f.fix == (
        f"re-issue cam.example.com valid for at most {APPLE_825.days} days "
        f"({PUBLIC_398.longest_request} if it is publicly trusted)"
    )
    at_cap = mint("cam.example.com", days=APPLE_825.days)
    assert verify_chain(at_cap.cert, [], [at_cap.cert], at=NOW, lint_ok=True).warnings == ()


# -- the value objects ----------------------------------------------------------------------


def test_failed_verdict_needs_findings() -> None:
    with pytest.raises(ValueError, match="at least one finding"):
        Verdict(False, ())


def test_finding_validates_severity() -> None:
    with pytest.raises(ValueError, match="severity"):
        Finding("x", "reason", "fix", "s", "fatal")  # type: ignore[arg-type]
    f = Finding("x", "reason", "fix", "s")
    assert f.as_dict()["severity"] == "error"


def test_every_finding_code_has_a_test() -> None:
    """Each code in ``Code`` is asserted by name somewhere in these tests."""
    here = Path(__file__).parent
    text = "".join(p.read_text() for p in here.glob("test_*.py"))
    codes = [name for name in vars(Code) if name.isupper()]
    missing = [name for name in codes if f"Code.{name}" not in text]
    assert codes
    assert missing == []
