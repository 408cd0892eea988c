"""Walkthrough C: certificates a CCA 4.x appliance (Java 6/7 SunJSSE) cannot use.

`ccapki import` took a certificate signed with Ed25519, Ed448, RSASSA-PSS or DSA, or with a
critical extension nobody knows, without a word; now it warns, saying why (the fit rule
:class:`ccapki.trust._fit.ApplianceAlgorithms`). `inspect` showed a DSA or Ed448 certificate's key
as ``DSAPublicKey (0 bits)`` / ``Ed448PublicKey (0 bits)``, an RSA-PSS-only key as "RSA" and
an empty subject as nothing at all; trust findings said "a Ed25519PublicKey key".
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ed448, ed25519, padding
from cryptography.x509.oid import NameOID, ObjectIdentifier

from ccapki.pki.inspect import describe
from ccapki.trust import FitPolicy
from ccapki.trust._diagnose import lint
from kit.certs import NOW, OutsideCA, ec_key, mint, pem, rsa_key
from kit.cli import Cli, deployment, ok, standalone, write
from kit.der import algorithm_id, rebuild

NAMES = ("cas.example.org", "10.0.0.2")


def _leaf(
    signer: object,
    *,
    sign_kw: dict[str, object],
    critical_unknown: bool = False,
    key: object = None,
) -> x509.Certificate:
    pub = (key or ec_key()).public_key()  # type: ignore[attr-defined]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAMES[0])])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Odd CA")]))
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=300))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(NAMES[0]),
                    x509.IPAddress(ipaddress.ip_address(NAMES[1])),
                ]
            ),
            critical=False,
        )
    )
    if critical_unknown:
        b = b.add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.7"), b"\x0c\x02hi"),
            critical=True,
        )
    return b.sign(signer, **sign_kw)  # type: ignore[arg-type]


def _warnings(cert: x509.Certificate) -> list[str]:
    found = FitPolicy("cas", NAMES).evaluate(cert, NOW)
    assert all(f.severity == "warning" for f in found), found
    return [f.reason for f in found if f.code == "unsupported-algorithm"]


@pytest.mark.parametrize(
    ("signer", "kw", "said"),
    [
        (ed25519.Ed25519PrivateKey.generate, {"algorithm": None}, "Ed25519 signature"),
        (ed448.Ed448PrivateKey.generate, {"algorithm": None}, "Ed448 signature"),
        (
            lambda: rsa_key(2048),
            {
                "algorithm": hashes.SHA256(),
                "rsa_padding": padding.PSS(padding.MGF1(hashes.SHA256()), 32),
            },
            "RSASSA-PSS signature",
        ),
        (
            lambda: dsa.generate_private_key(2048),
            {"algorithm": hashes.SHA256()},
            "DSA signature",
        ),
    ],
    ids=["ed25519", "ed448", "rsassa-pss", "dsa"],
)
def test_a_signature_the_appliances_cannot_verify_is_a_warning(
    signer: object, kw: dict[str, object], said: str
) -> None:
    cert = _leaf(signer(), sign_kw=kw)  # type: ignore[operator]
    (reason,) = _warnings(cert)
    assert reason.startswith("CCA 4.x appliances or their clients cannot use it as it is: ")
    assert said in reason, reason


def test_an_eddsa_key_and_an_unknown_critical_extension_are_warnings() -> None:
    cert = _leaf(
        ec_key(),
        sign_kw={"algorithm": hashes.SHA256()},
        key=ed25519.Ed25519PrivateKey.generate(),
        critical_unknown=True,
    )
    (reason,) = _warnings(cert)
    assert "its Ed25519 key" in reason, reason
    assert "critical extension 1.3.6.1.4.1.99999.7" in reason, reason


@pytest.mark.parametrize("signer", [ec_key, lambda: rsa_key(2048)], ids=["ecdsa", "rsa"])
def test_rsa_and_ecdsa_fit_without_a_word(signer: object) -> None:
    assert _warnings(_leaf(signer(), sign_kw={"algorithm": hashes.SHA256()})) == []  # type: ignore[operator]


def test_inspect_names_a_dsa_and_an_ed448_key_with_their_size() -> None:
    d = mint("dsa.example.org", key=dsa.generate_private_key(2048), hash_alg=hashes.SHA256())
    e = mint("ed448.example.org", key=ed448.Ed448PrivateKey.generate())
    assert (describe(d.cert, now=NOW).key, describe(d.cert, now=NOW).key_bits) == ("DSA", 2048)
    assert (describe(e.cert, now=NOW).key, describe(e.cert, now=NOW).key_bits) == ("Ed448", 456)


def test_a_finding_names_an_eddsa_key_in_words() -> None:
    leaf = mint("ed.example.org", key=ed25519.Ed25519PrivateKey.generate())
    reasons = [f.reason for f in lint([leaf.cert], purpose="server", at=NOW)]
    assert any("has an Ed25519 key;" in r for r in reasons), reasons
    assert not any("PublicKey" in r for r in reasons), reasons


def test_import_says_so_for_an_ed25519_signed_certificate(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    dep = write(
        tmp_path / "d.toml",
        deployment(cas=[standalone("cas-odd", "10.0.0.2", source="third-party")]),
    )
    ok(cli("apply", dep))
    ok(cli("csr", "cas-odd", "--out", tmp_path))
    csr = x509.load_pem_x509_csr((tmp_path / "cas-odd.csr").read_bytes())
    ca = OutsideCA.make()
    ed_key = ed25519.Ed25519PrivateKey.generate()
    root = mint("Ed25519 Root", key=ed_key, ca=True)
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(root.cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca.now - dt.timedelta(hours=1))
        .not_valid_after(ca.now + dt.timedelta(days=300))
        .add_extension(san, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ed_key.public_key()),
            critical=False,
        )
        .sign(ed_key, None)
    )
    r = ok(cli("import", write(tmp_path / "odd.pem", pem(cert) + pem(root.cert))))
    assert "imported cas-odd" in r.out, r.both
    warned = [line for line in r.out.splitlines() if line.startswith("  warning: ")]
    assert any("Ed25519 signature" in w and "Java 6/7" in w for w in warned), r.both


def test_inspect_names_an_rsa_pss_only_key_and_an_import_warns_of_it() -> None:
    """An id-RSASSA-PSS subject key (as `openssl genpkey -algorithm RSA-PSS` makes) showed as
    plain "RSA", though Java 6/7 cannot load it."""
    root = mint("PSS Root", ca=True)
    plain = mint(NAMES[0], issuer=root, key=rsa_key(2048), san=list(NAMES))
    pss = rebuild(plain.cert, root.key, key_algorithm=algorithm_id("1.2.840.113549.1.1.10"))
    info = describe(pss, now=NOW)
    assert (info.key, info.key_bits) == ("RSA-PSS", 2048)
    assert describe(plain.cert, now=NOW).key == "RSA"
    (reason,) = _warnings(pss)
    assert "RSA-PSS-only key (id-RSASSA-PSS)" in reason, reason


def test_inspect_says_an_empty_subject_is_empty(cli: Cli, tmp_path: Path) -> None:
    key = ec_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=300))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAMES[0])]), critical=True)
        .sign(key, hashes.SHA256())
    )
    r = ok(cli("inspect", write(tmp_path / "san-only.pem", pem(cert))))
    assert "(empty: the SANs name it)" in r.out, r.out
