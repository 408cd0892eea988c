"""Issue 8, item 6: one fact, one function (``ccapki.pki.certs``), and every package agrees.

Each test checks one certificate fact on certificates minted here and then asks the packages
that used to compute it themselves (pki.chain, pki.export, pki.inspect, trust, topology.plan,
lifecycle.certfiles) the same question. A Perfigo-era SHA-1 self-signed root is the case
where two of them used to disagree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID, NameOID

from ccapki.lifecycle.certfiles import check_fit
from ccapki.pki import certs
from ccapki.pki.chain import group_chains, sort_chain
from ccapki.pki.export import chain_pem, fullchain_pem
from ccapki.pki.inspect import describe
from ccapki.topology.loader import load_deployment
from ccapki.topology.model import Source
from ccapki.topology.plan import ActionKind, CurrentIdentity, make_plan, pending_actions
from ccapki.trust import CaseKind, cert_fingerprint, classify_link, verify_chain
from kit.certs import Minted, rsa_key
from kit.der import raw_extension, rebuild, resign_sha1

from .conftest import NOW, mint


@pytest.fixture(scope="module")
def perfigo() -> tuple[Minted, Minted]:
    """A Perfigo-era chain: an RSA root re-signed with SHA-1, and an identity it signed."""
    key = rsa_key(2048)
    root = mint("Perfigo Root", ca=True, key=key, days=7300)
    sha1_root = Minted(resign_sha1(root.cert, key), key)
    leaf = mint("cas.example.edu", issuer=sha1_root)
    return sha1_root, leaf


# ---------------------------------------------------------------------------- fingerprint


def test_fingerprint_is_sha256_of_the_der_everywhere(perfigo: tuple[Minted, Minted]) -> None:
    root, _ = perfigo
    der = root.cert.public_bytes(serialization.Encoding.DER)
    want = hashlib.sha256(der).hexdigest()
    assert certs.fingerprint(root.cert) == want
    assert certs.der_fingerprint(der) == want
    assert cert_fingerprint(root.cert) == want
    colon = describe(root.cert, now=NOW).sha256
    assert colon.replace(":", "").lower() == want


# ---------------------------------------------------------------------------- display name


def test_display_name_is_the_cn_else_the_whole_dn() -> None:
    with_cn = mint("cas1.example.com").cert
    assert certs.display_name(with_cn) == "cas1.example.com"
    key = rsa_key(2048)
    org_only = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example U")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example U")]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    assert certs.display_name(org_only) == "O=Example U"
    assert certs.issuer_display_name(org_only) == "O=Example U"
    # inspect and the trust engine's findings name it the same way
    assert describe(org_only, now=NOW).common_name == "O=Example U"
    verdict = verify_chain(org_only, [], [with_cn], at=NOW)
    assert not verdict.ok
    assert {f.subject for f in verdict.findings} == {"O=Example U"}


# ---------------------------------------------------------------------------- is_ca


def test_is_ca_reads_basic_constraints_and_never_raises() -> None:
    ca = mint("Campus Root CA", ca=True).cert
    leaf = mint("cas1.example.com").cert
    no_bc = mint("old-v1-style", bc=False).cert
    key = rsa_key(2048)
    twice = rebuild(
        mint("twice", key=key, ca=True).cert,
        key,
        extensions=[
            raw_extension(
                ExtensionOID.BASIC_CONSTRAINTS.dotted_string, bytes.fromhex("30030101ff")
            ),
            raw_extension(
                ExtensionOID.BASIC_CONSTRAINTS.dotted_string, bytes.fromhex("30030101ff")
            ),
        ],
    )
    assert [certs.is_ca(c) for c in (ca, leaf, no_bc, twice)] == [True, False, False, False]
    assert describe(ca, now=NOW).is_ca
    assert not describe(twice, now=NOW).is_ca
    assert certs.extensions_error(twice) is not None
    assert "appears more than once" in (certs.extensions_error(twice) or "")
    assert certs.extensions_error(ca) is None


# ---------------------------------------------------------------------------- self-signed


def test_sha1_self_signed_root_is_self_signed_for_every_package(
    perfigo: tuple[Minted, Minted],
) -> None:
    root, leaf = perfigo
    assert root.cert.signature_hash_algorithm is not None
    assert root.cert.signature_hash_algorithm.name == "sha1"
    assert certs.is_self_signed(root.cert)
    assert not certs.is_self_signed(leaf.cert)
    # a look-alike: self-issued (same subject and issuer) but signed by another key
    impostor = rebuild(root.cert, rsa_key(3072), sha1=True)
    assert certs.is_self_issued(impostor)
    assert not certs.is_self_signed(impostor)
    # pki.chain, pki.export and the trust engine agree
    assert sort_chain([leaf.cert, root.cert]).root == root.cert
    assert x509.load_pem_x509_certificates(fullchain_pem(leaf.cert, [root.cert])) == [leaf.cert]
    assert chain_pem([root.cert]) == b""
    case = classify_link([leaf.cert, root.cert], [root.cert])
    assert case.anchor == root.cert
    assert case.kind is CaseKind.THIRD_PARTY


def test_group_chains_sha1_root_alone_is_complete(perfigo: tuple[Minted, Minted]) -> None:
    root, leaf = perfigo
    [alone] = group_chains([root.cert])
    assert alone.missing_issuer is None
    assert alone.complete
    [chain] = group_chains([leaf.cert, root.cert])
    assert chain.root == root.cert
    assert chain.missing_issuer is None


# ---------------------------------------------------------------------------- issued_by


def test_issued_by_checks_names_key_ids_and_the_signature(
    perfigo: tuple[Minted, Minted],
) -> None:
    root, leaf = perfigo
    assert certs.issued_by(leaf.cert, root.cert)
    assert certs.signed_by(leaf.cert, root.cert)
    # the SHA-1 root signs an intermediate with SHA-1: still a link (weak is a finding)
    inter = mint("Perfigo Issuing", issuer=root, ca=True)
    sha1_inter = resign_sha1(inter.cert, root.key)  # type: ignore[arg-type]
    assert certs.issued_by(sha1_inter, root.cert)
    assert sort_chain([sha1_inter, root.cert]).root == root.cert
    # same name, another key: not issued by it
    other = mint("Perfigo Root", ca=True)
    assert not certs.issued_by(leaf.cert, other.cert)
    assert not certs.issued_by(root.cert, leaf.cert)


# ---------------------------------------------------------------------------- SANs


def test_san_reading_lowercases_dns_and_keeps_ips() -> None:
    cert = mint("CAS1", san=["CAS1.Example.COM", "*.Dorm.Example.com", "10.0.0.11", "::1"]).cert
    sans = certs.subject_alt_names(cert)
    assert sans is not None
    assert sans.dns == ("cas1.example.com", "*.dorm.example.com")
    assert sans.ips == (ipaddress.ip_address("10.0.0.11"), ipaddress.ip_address("::1"))
    assert certs.san_names(cert) == ("cas1.example.com", "*.dorm.example.com", "10.0.0.11", "::1")
    assert certs.subject_alt_names(mint("no-san", san=None).cert) is None
    info = describe(cert, now=NOW)
    assert info.san_dns == sans.dns
    assert info.san_ip == ("10.0.0.11", "::1")


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("cas1.example.com", True),
        ("CAS1.EXAMPLE.COM.", True),
        ("a.dorm.example.com", True),  # one label for the wildcard
        ("a.b.dorm.example.com", False),  # never two
        ("dorm.example.com", False),  # never none
        ("10.0.0.11", True),
        ("10.0.0.12", False),
        ("cas2.example.com", False),
    ],
)
def test_name_matching(name: str, want: bool) -> None:
    cert = mint("cas1", san=["cas1.example.com", "*.dorm.example.com", "10.0.0.11"]).cert
    assert certs.covers(cert, name) is want
    assert certs.name_matches(name, certs.san_names(cert) or ()) is want


def test_plan_and_import_agree_on_a_wildcard_and_mixed_case_san(tmp_path: Path) -> None:
    """check_fit (import) and pending_actions (apply) read SANs with the same function: a
    third-party certificate naming the CAS by a wildcard and in capitals fits, and the plan
    does not ask for a new CSR because of it."""
    (tmp_path / "d.toml").write_text(
        "[deployment]\nname = 'w'\nrelease = '4.8.0'\nsource = 'third-party'\n"
        "key = 'ecdsa-p256'\n[cam]\nname = 'cam'\nhostname = 'cam.example.org'\n"
        "ip = '10.0.0.1'\n"
    )
    dep = load_deployment(tmp_path / "d.toml")
    spec = dep.cam
    cert = mint("CAM", san=["*.EXAMPLE.org", "10.0.0.1"], days=365).cert
    assert [p.reason for p in check_fit(cert, spec, NOW) if "SAN" in p.reason] == []
    [action] = pending_actions(
        make_plan(dep), {spec.name: CurrentIdentity(cert, Source.THIRD_PARTY)}, NOW
    )
    assert action.kind is ActionKind.NOTHING, action.reason


# ---------------------------------------------------------------------------- validity


def test_days_left_and_the_renewal_window() -> None:
    cert = mint("cas1.example.com", start=NOW - dt.timedelta(days=359), days=365).cert
    assert certs.days_left(cert, NOW) == 6  # expires NOW + 6 days
    assert certs.days_left(cert, NOW + dt.timedelta(days=7)) == -1
    assert certs.renewal_window(cert) == dt.timedelta(days=30)
    short = mint("temp", days=9).cert
    assert certs.renewal_window(short) == dt.timedelta(days=3)
    assert describe(cert, now=NOW).days_left == 6


# ---------------------------------------------------------------------------- one place


#: How each fact used to be computed inline; only ccapki/pki/certs.py may do it now.
_INLINE_FACTS = {
    "fingerprint": re.compile(r"\.fingerprint\(\s*hashes\.SHA256\(\)\s*\)"),
    "display name": re.compile(r"get_attributes_for_oid\(\s*NameOID\.COMMON_NAME\s*\)"),
    "SAN reading": re.compile(r"get_extension_for_class\(\s*x509\.SubjectAlternativeName"),
    "is_ca": re.compile(r"get_extension_for_class\(\s*x509\.BasicConstraints"),
    "issued_by / self-signed": re.compile(r"verify_directly_issued_by\("),
    "SAN matching": re.compile(r"def _(covers|sans|names|dns_match|is_ip_in)\("),
}


def test_every_package_asks_pki_certs() -> None:
    src = Path(certs.__file__).resolve().parents[1]
    offenders = [
        f"{path.relative_to(src)}:{n}: {fact}"
        for path in sorted(src.rglob("*.py"))
        if path != Path(certs.__file__).resolve()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for fact, pattern in _INLINE_FACTS.items()
        if pattern.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []
