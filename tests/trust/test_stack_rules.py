"""Issue 10: the per-stack rules the differential corpus proved against the real stacks.

Each chain here is one a real stack judged in ``tools/differential.py`` (JSSE handshakes,
``openssl verify`` with and without ``-x509_strict``, ``certtool --verify``, ``certutil -V``;
the corpus case is named in each test): ccapki's model of each stack must give the same
verdict, and keep web-PKI's refusal as a warning where the stack accepts.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

from ccapki.trust import Code, Stack, Verdict, verify_for_stack
from kit.certs import Minted, rsa_key
from kit.der import rebuild

from .conftest import NOW, mint

HOST = "cas1.example.com"
TLS = (Stack.JAVA_PKIX, Stack.OPENSSL_DEFAULT, Stack.OPENSSL_STRICT, Stack.GNUTLS, Stack.NSS)


def _passing(
    leaf: x509.Certificate,
    inters: list[x509.Certificate],
    roots: list[x509.Certificate],
    *,
    stacks: Iterable[Stack] = TLS,
    **kw: object,
) -> set[Stack]:
    return {
        s
        for s in stacks
        if verify_for_stack(s, leaf, inters, roots, at=NOW, **kw).ok  # type: ignore[arg-type]
    }


def _copy(
    cert: x509.Certificate,
    signer: Minted,
    *,
    drop: tuple[type[x509.ExtensionType], ...] = (),
    add: tuple[x509.ExtensionType, ...] = (),
) -> x509.Certificate:
    """``cert`` without the extensions of types ``drop``, plus ``add`` (critical), signed
    again by ``signer``."""
    b = x509.CertificateBuilder(
        cert.issuer, cert.subject, cert.public_key(), cert.serial_number,
        cert.not_valid_before_utc, cert.not_valid_after_utc,
    )  # fmt: skip
    for e in cert.extensions:
        if not isinstance(e.value, drop):
            b = b.add_extension(e.value, e.critical)
    for value in add:
        b = b.add_extension(value, critical=True)
    return b.sign(signer.key, hashes.SHA256())  # type: ignore[arg-type]


def _key_usage(**on: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
        ),
        False,
    )  # fmt: skip
    return x509.KeyUsage(**(flags | on))


def test_java_refuses_a_leaf_keyusage_without_digital_signature() -> None:
    """Corpus: leaf-keyusage-without-digitalsignature, rsa-leaf-keyusage-keyencipherment-only,
    client-keyusage-without-digitalsignature. SunJSSE's EndEntityChecker refuses the peer;
    NSS refuses it as a client only; OpenSSL and GnuTLS do not read the leaf's keyUsage."""
    root = mint("Root", ca=True)
    ec_leaf = _copy(
        mint(HOST, issuer=root).cert,
        root,
        drop=(x509.KeyUsage,),
        add=(_key_usage(key_encipherment=True, key_agreement=True),),
    )
    rsa_leaf = _copy(
        mint(HOST, issuer=root, key=rsa_key(2048)).cert,
        root,
        drop=(x509.KeyUsage,),
        add=(_key_usage(key_encipherment=True),),
    )
    for leaf in (ec_leaf, rsa_leaf):
        assert _passing(leaf, [], [root.cert], peer_name=HOST) == set(TLS) - {Stack.JAVA_PKIX}
    java = verify_for_stack(Stack.JAVA_PKIX, ec_leaf, [], [root.cert], at=NOW)
    assert [f.code for f in java.errors] == [Code.WRONG_KEY_USAGE]
    assert "KeyUsage does not allow digital signatures" in java.errors[0].reason
    client = _passing(ec_leaf, [], [root.cert], purpose="client")
    assert client == {Stack.OPENSSL_DEFAULT, Stack.OPENSSL_STRICT, Stack.GNUTLS}


def test_java_reads_a_trust_anchors_keyusage_nss_does_not() -> None:
    """Corpus: root-keyusage-without-keycertsign (JSSE's PKIXValidator: 'TrustAnchor ... does
    not have keyCertSign bit set'; NSS lets the trust flags decide)."""
    root = mint("Root", ca=True, key_cert_sign=False)
    leaf = mint(HOST, issuer=root)
    assert _passing(leaf.cert, [], [root.cert], peer_name=HOST) == {Stack.NSS}
    nss = verify_for_stack(Stack.NSS, leaf.cert, [], [root.cert], at=NOW)
    assert Code.WRONG_KEY_USAGE in [f.code for f in nss.warnings]


def test_a_refusal_kept_as_a_warning_says_its_fix_is_optional() -> None:
    """A stack that accepts what web-PKI refuses: the warning's fix is not an order to
    re-issue (impossible for a third party's root), it is optional, for web-PKI clients."""
    root = mint("Root", ca=True, key_cert_sign=False)
    leaf = mint(HOST, issuer=root)
    nss = verify_for_stack(Stack.NSS, leaf.cert, [], [root.cert], at=NOW)
    assert nss.ok
    (warning,) = [f for f in nss.warnings if f.code is Code.WRONG_KEY_USAGE]
    assert warning.fix.startswith("none needed for this channel; only for clients that apply")
    assert "re-issue CA Root" in warning.fix


def test_java_ignores_a_trust_anchors_path_length_and_name_constraints() -> None:
    """Corpus: pathlen-exceeded, name-constraints-violated (TrustAnchor(cert, null))."""
    root = mint("Root", ca=True, path_length=0)
    inter = mint("Issuing", issuer=root, ca=True)
    leaf = mint(HOST, issuer=inter)
    assert _passing(leaf.cert, [inter.cert], [root.cert], peer_name=HOST) == {Stack.JAVA_PKIX}
    java = verify_for_stack(Stack.JAVA_PKIX, leaf.cert, [inter.cert], [root.cert], at=NOW)
    assert [f.code for f in java.warnings] == [Code.PATH_LENGTH]
    assert "TrustAnchor(cert, null)" in java.warnings[0].reason
    assert java.chain[-1] == root.cert  # the anchor as given, not the stand-in verified
    only = x509.NameConstraints([x509.DNSName("other.test")], None)
    nc_root = mint("Constrained Root", ca=True, name_constraints=only)
    nc_leaf = mint(HOST, issuer=nc_root)
    assert _passing(nc_leaf.cert, [], [nc_root.cert], peer_name=HOST) == {Stack.JAVA_PKIX}


def test_a_version_1_root_is_an_anchor_for_every_stack_but_strict_x509() -> None:
    """Corpus: v1-root (OpenSSL X509_check_ca: v1 + self-signed is a CA; GnuTLS allows v1
    trusted CAs; Java and NSS take the trust store's word). cryptography refuses it."""
    made = mint("Old Root", ca=True)
    root = rebuild(made.cert, made.key, v1=True)
    assert root.version is x509.Version.v1
    leaf = mint(HOST, issuer=Minted(root, made.key))
    assert _passing(leaf.cert, [], [root]) == set(TLS) - {Stack.OPENSSL_STRICT}
    assert not verify_for_stack(Stack.WEBPKI, leaf.cert, [], [root], at=NOW).ok
    java = verify_for_stack(Stack.JAVA_PKIX, leaf.cert, [], [root], at=NOW)
    assert java.chain == (leaf.cert, root)


def test_a_negative_serial_is_named_and_accepted_by_the_real_stacks() -> None:
    """Corpus: serial-negative. Only cryptography refuses it (RFC 5280 4.1.2.2)."""
    root = mint("Root", ca=True)
    leaf = rebuild(mint(HOST, issuer=root).cert, root.key, serial=-5)
    web = verify_for_stack(Stack.WEBPKI, leaf, [], [root.cert], peer_name=HOST, at=NOW)
    assert [f.code for f in web.errors] == [Code.NEGATIVE_SERIAL]
    assert _passing(leaf, [], [root.cert], peer_name=HOST) == set(TLS)
    gnutls = verify_for_stack(Stack.GNUTLS, leaf, [], [root.cert], at=NOW)
    assert [f.code for f in gnutls.warnings] == [Code.NEGATIVE_SERIAL]


def test_a_ca_true_leaf_passes_java_openssl_and_gnutls_not_nss() -> None:
    """Corpus: leaf-is-ca, self-signed-ca-identity-trusted."""
    root = mint("Root", ca=True)
    leaf = mint(HOST, issuer=root, ca=True, san=[HOST])
    want = {Stack.JAVA_PKIX, Stack.OPENSSL_DEFAULT, Stack.OPENSSL_STRICT, Stack.GNUTLS}
    assert _passing(leaf.cert, [], [root.cert], peer_name=HOST) == want
    java = verify_for_stack(Stack.JAVA_PKIX, leaf.cert, [], [root.cert], at=NOW)
    assert [f.code for f in java.warnings] == [Code.CA_AS_LEAF]
    identity = mint(HOST, ca=True, san=[HOST], aki=False)
    assert _passing(identity.cert, [], [identity.cert], peer_name=HOST) == want


def test_openssl_strict_wants_ski_on_cas_and_aki_below_the_anchor() -> None:
    """Corpus: ca-without-ski, intermediate-without-aki (refused with X509_STRICT only),
    self-signed-leaf-trusted (no AKI on the last certificate of the chain: accepted)."""
    root = mint("Root", ca=True)
    inter = mint("Issuing", issuer=root, ca=True)
    no_ski = _copy(inter.cert, root, drop=(x509.SubjectKeyIdentifier,))
    leaf = mint(HOST, issuer=Minted(no_ski, inter.key))
    assert _passing(leaf.cert, [no_ski], [root.cert]) == set(TLS) - {Stack.OPENSSL_STRICT}
    strict = verify_for_stack(Stack.OPENSSL_STRICT, leaf.cert, [no_ski], [root.cert], at=NOW)
    assert [f.code for f in strict.errors] == [Code.NOT_RFC5280]
    assert "MISSING_SUBJECT_KEY_IDENTIFIER" in strict.errors[0].reason
    no_aki = mint("Issuing", issuer=root, ca=True, aki=False)
    leaf = mint(HOST, issuer=no_aki)
    assert _passing(leaf.cert, [no_aki.cert], [root.cert]) == set(TLS) - {Stack.OPENSSL_STRICT}
    strict = verify_for_stack(Stack.OPENSSL_STRICT, leaf.cert, [no_aki.cert], [root.cert], at=NOW)
    assert [f.code for f in strict.errors] == [Code.MISSING_AKI]
    alone = mint(HOST, aki=False)
    assert verify_for_stack(
        Stack.OPENSSL_STRICT, alone.cert, [], [alone.cert], peer_name=HOST, at=NOW
    ).ok


def test_openssl_ends_a_path_only_at_a_self_signed_trusted_root() -> None:
    """Corpus: intermediate-as-anchor, intermediate-and-root-as-anchors (no
    X509_V_FLAG_PARTIAL_CHAIN in openssl verify; Java, GnuTLS and NSS take any anchor)."""
    root = mint("Root", ca=True)
    inter = mint("Issuing", issuer=root, ca=True)
    leaf = mint(HOST, issuer=inter)
    got = _passing(leaf.cert, [], [inter.cert], peer_name=HOST)
    assert got == {Stack.JAVA_PKIX, Stack.GNUTLS, Stack.NSS}
    v = verify_for_stack(Stack.OPENSSL_DEFAULT, leaf.cert, [], [inter.cert], at=NOW)
    assert "PARTIAL_CHAIN" in " ".join(f.reason for f in v.warnings)
    assert _passing(leaf.cert, [], [inter.cert, root.cert], peer_name=HOST) == set(TLS)


def test_wildcards_are_matched_the_way_each_stack_matches_them() -> None:
    """Corpus: wildcard-partial-label, wildcard-partial-label-suffix, wildcard-inside-label,
    wildcard-under-a-tld (Java's HostnameChecker: any '*' in the first label; OpenSSL's
    wildcard_match: one, first or last, 3+ labels; GnuTLS: one, first, 3+ labels). certutil
    checks no names, so NSS is not judged here."""
    root = mint("Root", ca=True)
    named = (Stack.JAVA_PKIX, Stack.OPENSSL_DEFAULT, Stack.OPENSSL_STRICT, Stack.GNUTLS)
    openssl = {Stack.OPENSSL_DEFAULT, Stack.OPENSSL_STRICT}
    cases = {
        ("cas*.example.com", HOST): {Stack.JAVA_PKIX, *openssl},
        ("*1.example.com", HOST): set(named),
        ("c*s1.example.com", HOST): {Stack.JAVA_PKIX},
        ("*.test", "cas.test"): {Stack.JAVA_PKIX},
        ("cas*.example.com", "x.cas1.example.com"): set(),
    }
    for (pattern, host), want in cases.items():
        leaf = mint(pattern, issuer=root, san=[pattern])
        got = _passing(leaf.cert, [], [root.cert], stacks=named, peer_name=host)
        assert got == want, (pattern, host)
    # web-PKI and the browsers: a whole-label '*' only
    leaf = mint("wild", issuer=root, san=["cas*.example.com"])
    browsers = (Stack.WEBPKI, Stack.CHROMIUM)
    assert _passing(leaf.cert, [], [root.cert], stacks=browsers, peer_name=HOST) == set()


def test_a_directly_trusted_self_signed_leaf_per_stack() -> None:
    """Corpus: self-signed-leaf-trusted, self-signed-leaf-without-basicconstraints-trusted.
    certtool checks a certificate of its trust list as the issuer of itself ('The
    certificate issuer is not a CA'); NSS and Chromium accept it trusted as a peer (P)."""
    for alone in (mint(HOST, aki=False), mint(HOST, aki=False, bc=False)):
        got = _passing(alone.cert, [], [alone.cert], peer_name=HOST)
        assert got == set(TLS) - {Stack.GNUTLS}
        gnutls = verify_for_stack(Stack.GNUTLS, alone.cert, [], [alone.cert], at=NOW)
        assert [f.code for f in gnutls.errors] == [Code.NOT_A_CA]
        assert "issuer is not a CA" in gnutls.errors[0].reason


def test_nss_refuses_ed25519_certificates() -> None:
    """Corpus: ed25519-leaf (NSS 3.87's certutil cannot even import one)."""
    root = mint("Root", ca=True)
    leaf = mint(HOST, issuer=root, key=ed25519.Ed25519PrivateKey.generate())
    assert _passing(leaf.cert, [], [root.cert], peer_name=HOST) == set(TLS) - {Stack.NSS}
    nss = verify_for_stack(Stack.NSS, leaf.cert, [], [root.cert], at=NOW)
    assert [f.code for f in nss.errors] == [Code.UNSUPPORTED_ALGORITHM]


def test_chromium_as_headless_chromium_judged_the_corpus() -> None:
    """Corpus, chromium column (a real page load from a server presenting the chain):
    leaf-keyusage-without-digitalsignature (ERR_SSL_KEY_USAGE_INCOMPATIBLE), leaf-is-ca
    (loads), serial-negative and v1-root (load), ed25519-leaf
    (ERR_SSL_VERSION_OR_CIPHER_MISMATCH), wildcard-under-a-tld (ERR_CERT_COMMON_NAME_INVALID)."""
    root = mint("Root", ca=True)

    def chromium(leaf: x509.Certificate, roots: list[x509.Certificate], name: str) -> bool:
        return verify_for_stack(Stack.CHROMIUM, leaf, [], roots, peer_name=name, at=NOW).ok

    no_digsig = _copy(
        mint(HOST, issuer=root).cert,
        root,
        drop=(x509.KeyUsage,),
        add=(_key_usage(key_encipherment=True, key_agreement=True),),
    )
    assert not chromium(no_digsig, [root.cert], HOST)
    assert chromium(mint(HOST, issuer=root, ca=True, san=[HOST]).cert, [root.cert], HOST)
    negative = rebuild(mint(HOST, issuer=root).cert, root.key, serial=-5)
    assert chromium(negative, [root.cert], HOST)
    v1 = rebuild(root.cert, root.key, v1=True)
    assert chromium(mint(HOST, issuer=Minted(v1, root.key)).cert, [v1], HOST)
    eddsa = mint(HOST, issuer=root, key=ed25519.Ed25519PrivateKey.generate())
    v = verify_for_stack(Stack.CHROMIUM, eddsa.cert, [], [root.cert], peer_name=HOST, at=NOW)
    assert [f.code for f in v.errors] == [Code.UNSUPPORTED_ALGORITHM]
    assert not chromium(mint("w", issuer=root, san=["*.test"]).cert, [root.cert], "cas.test")
    assert chromium(mint("w", issuer=root, san=["*.example.com"]).cert, [root.cert], HOST)


def test_strongswan_as_charon_judged_the_corpus() -> None:
    """Corpus, strongswan column (two charon daemons negotiating IKEv2 with the case's
    chain as the HA pair's certificate): ca- and root-keyusage-without-keycertsign (the
    IKE_SA comes up: x509_cert.c parse_keyUsage skips keyCertSign, 'we use the
    caBasicConstraint'), leaf-keyusage-without-digitalsignature and
    rsa-leaf-keyusage-keyencipherment-only (AUTHENTICATION_FAILED: 'rejecting certificate
    without digitalSignature or nonRepudiation keyUsage flags'), leaf-is-ca and
    self-signed-ca-identity-trusted, serial-negative, md5-leaf (all come up)."""
    import datetime as dt

    from ccapki.lab.corpus import build_corpus

    def swan(
        leaf: x509.Certificate, inters: list[x509.Certificate], roots: list[x509.Certificate]
    ) -> Verdict:
        return verify_for_stack(Stack.STRONGSWAN, leaf, inters, roots, at=NOW)

    root = mint("Root", ca=True)
    nocs_inter = mint("Issuing", issuer=root, ca=True, key_cert_sign=False)
    assert swan(mint(HOST, issuer=nocs_inter).cert, [nocs_inter.cert], [root.cert]).ok
    nocs_root = mint("Root without keyCertSign", ca=True, key_cert_sign=False)
    v = swan(mint(HOST, issuer=nocs_root).cert, [], [nocs_root.cert])
    assert v.ok
    assert Code.WRONG_KEY_USAGE in [f.code for f in v.warnings]  # web-PKI's, kept
    for key, usage in ((None, {"key_agreement": True}), (rsa_key(2048), {})):
        leaf = _copy(
            mint(HOST, issuer=root, **({"key": key} if key else {})).cert,  # type: ignore[arg-type]
            root,
            drop=(x509.KeyUsage,),
            add=(_key_usage(key_encipherment=True, **usage),),
        )
        v = swan(leaf, [], [root.cert])
        assert [f.code for f in v.errors] == [Code.WRONG_KEY_USAGE]
        assert "nonRepudiation" in v.errors[0].reason
    non_repudiation = _copy(
        mint(HOST, issuer=root).cert,
        root,
        drop=(x509.KeyUsage,),
        add=(_key_usage(content_commitment=True),),
    )
    assert swan(non_repudiation, [], [root.cert]).ok  # RFC 4945 5.1.3.2: either bit
    assert swan(mint(HOST, issuer=root, ca=True, san=[HOST]).cert, [], [root.cert]).ok
    identity = mint(HOST, ca=True, san=[HOST], aki=False)
    assert swan(identity.cert, [], [identity.cert]).ok
    negative = rebuild(mint(HOST, issuer=root).cert, root.key, serial=-5)
    assert swan(negative, [], [root.cert]).ok
    # the corpus's MD5-signed leaf (cryptography cannot sign one: the corpus rebuilds it)
    now = dt.datetime.now(dt.UTC)
    (md5,) = [c for c in build_corpus(now) if c.name == "md5-leaf"]
    v = verify_for_stack(Stack.STRONGSWAN, md5.leaf, list(md5.presented), list(md5.roots), at=now)
    assert v.ok
    assert [f.code for f in v.warnings] == [Code.WEAK_SIGNATURE]
