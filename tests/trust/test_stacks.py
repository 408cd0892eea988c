"""Issue 10, item 2: ``verify_for_stack`` models each stack's documented deviations from
web-PKI, keeps web-PKI's refusals as warnings where a stack accepts, and names the stack."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from ccapki.errors import InputError
from ccapki.trust import STACKS, Stack, verify_for_stack
from kit.certs import rsa_key
from kit.der import resign_sha1

from .conftest import NOW, mint

HOST = "cas1.example.com"


def _verdicts(
    leaf: x509.Certificate, inters: list[x509.Certificate], root: x509.Certificate, **kw: object
) -> dict[Stack, bool]:
    return {
        s: verify_for_stack(s, leaf, inters, [root], at=NOW, **kw).ok  # type: ignore[arg-type]
        for s in Stack
    }


def test_every_stack_is_modelled_and_named() -> None:
    root = mint("Root", ca=True)
    leaf = mint(HOST, issuer=root)
    for s in Stack:
        assert s in STACKS
        v = verify_for_stack(s, leaf.cert, [], [root.cert], peer_name=HOST, at=NOW)
        assert (v.ok, v.stack, v.findings) == (True, s.value, ())
    with pytest.raises(InputError, match="unknown verifying stack"):
        verify_for_stack("schannel", leaf.cert, [], [root.cert])


def test_sha1_leaf_java_strongswan_and_nss_accept_browsers_refuse() -> None:
    root = mint("Root", ca=True, key=rsa_key(2048))
    leaf = resign_sha1(mint(HOST, issuer=root).cert, root.key)
    got = _verdicts(leaf, [], root.cert, peer_name=HOST)
    # NSS's verifier (certutil -V) accepts SHA-1: the ban is browser policy (differential
    # corpus: sha1-leaf, sha1-intermediate, ecdsa-sha1-leaf)
    assert {s for s, ok in got.items() if ok} == {Stack.JAVA_PKIX, Stack.STRONGSWAN, Stack.NSS}
    java = verify_for_stack(Stack.JAVA_PKIX, leaf, [], [root.cert], peer_name=HOST, at=NOW)
    assert [f.code for f in java.warnings] == ["weak-signature"]
    assert "jdk.certpath.disabledAlgorithms" in java.warnings[0].reason


def test_rsa_1024_leaf_refused_only_by_stacks_with_a_2048_floor() -> None:
    root = mint("Root", ca=True)
    leaf = mint(HOST, issuer=root, key=rsa_key(1024))
    got = _verdicts(leaf.cert, [], root.cert, peer_name=HOST)
    # cryptography's web-PKI verifier accepts 1024-bit RSA; OpenSSL at Debian's SECLEVEL 2
    # and macOS (HT210176) refuse it
    refused = {s for s, ok in got.items() if not ok}
    assert refused == {Stack.OPENSSL_STRICT, Stack.OPENSSL_DEFAULT, Stack.MACOS}
    mac = verify_for_stack(Stack.MACOS, leaf.cert, [], [root.cert], peer_name=HOST, at=NOW)
    assert mac.errors[0].code == "weak-key"
    assert "HT210176" in mac.errors[0].reason


def test_cn_only_leaf_names_per_stack() -> None:
    root = mint("Root", ca=True)
    leaf = mint(HOST, issuer=root, san=None)
    named = _verdicts(leaf.cert, [], root.cert, peer_name=HOST)
    # the CN fallback (Java, OpenSSL even with X509_STRICT, GnuTLS, Windows) and no name at
    # all (IKE) pass; browsers (Chromium, NSS), macOS and web-PKI require the SAN
    assert {s for s, ok in named.items() if not ok} == {
        Stack.WEBPKI, Stack.NSS, Stack.CHROMIUM, Stack.MACOS,
    }  # fmt: skip
    # mutual TLS by trust store (the CAM/CAS channel): Java checks no name
    java = verify_for_stack(Stack.JAVA_PKIX, leaf.cert, [], [root.cert], at=NOW)
    assert java.ok
    assert "missing-san" in [f.code for f in java.warnings]
    wrong = verify_for_stack(
        Stack.JAVA_PKIX, leaf.cert, [], [root.cert], peer_name="x.example.com", at=NOW
    )
    assert not wrong.ok
    assert wrong.errors[0].code == "missing-san"


def test_an_ip_peer_name_is_matched_only_against_ip_sans() -> None:
    """Java's HostnameChecker, OpenSSL's X509_check_ip and GnuTLS never match an IP address
    against the CN or a dNSName spelled like it (the differential corpus found ccapki did)."""
    root = mint("Root", ca=True)
    cn_only = mint("10.1.2.3", issuer=root, san=None).cert
    model = mint("cas", issuer=root, san=["cas.example.com"]).cert
    as_dns = (  # the same leaf, but its SAN is a dNSName spelled like the address
        x509.CertificateBuilder(
            model.subject, model.issuer, model.public_key(), model.serial_number,
            model.not_valid_before_utc, model.not_valid_after_utc,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("10.1.2.3")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(root.key, hashes.SHA256())
    )  # fmt: skip
    for leaf in (cn_only, as_dns):
        named = _verdicts(leaf, [], root.cert, peer_name="10.1.2.3")
        # strongSwan checks no host name (IKE identities are the certificate's DN)
        assert {s for s, ok in named.items() if ok} <= {Stack.STRONGSWAN}, named
    good = mint("cas", issuer=root, san=["cas.example.com", "10.1.2.3"])
    named = _verdicts(good.cert, [], root.cert, peer_name="10.1.2.3")
    assert all(named.values()), named


def test_eku_on_the_intermediate_java_ignores_it() -> None:
    root = mint("Root", ca=True)
    inter = mint("Issuing", ca=True, issuer=root, eku=[ExtendedKeyUsageOID.CODE_SIGNING])
    leaf = mint(HOST, issuer=inter)
    got = _verdicts(leaf.cert, [inter.cert], root.cert, peer_name=HOST)
    assert got[Stack.JAVA_PKIX] is True
    assert got[Stack.WEBPKI] is False
    assert got[Stack.CHROMIUM] is False  # Chromium enforces EKU chaining on intermediates


def test_intermediate_without_key_cert_sign_is_refused_by_every_stack_but_strongswan() -> None:
    """strongSwan never reads a CA's keyUsage (shown by charon: the corpus's
    ca-keyusage-without-keycertsign brings the IKE_SA up)."""
    root = mint("Root", ca=True)
    inter = mint("Issuing", ca=True, issuer=root, key_cert_sign=False)
    leaf = mint(HOST, issuer=inter)
    got = _verdicts(leaf.cert, [inter.cert], root.cert, peer_name=HOST)
    assert {s for s, ok in got.items() if ok} == {Stack.STRONGSWAN}, got


def test_strongswan_ignores_the_leaf_eku_others_refuse() -> None:
    """strongSwan authenticates IKE with a codeSigning-only certificate (shown live in
    tests/lab/test_ipsec_heartbeat.py); the TLS stacks refuse it. web-PKI's refusal stays a
    warning on strongSwan's verdict."""
    root = mint("Root", ca=True)
    leaf = mint("peer", issuer=root, eku=[ExtendedKeyUsageOID.CODE_SIGNING])
    swan = verify_for_stack(Stack.STRONGSWAN, leaf.cert, [], [root.cert], at=NOW)
    assert swan.ok
    assert "wrong-eku" in [f.code for f in swan.warnings]
    assert not verify_for_stack(Stack.JAVA_PKIX, leaf.cert, [], [root.cert], at=NOW).ok
