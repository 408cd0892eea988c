"""export and roots writers: every output parses back to the same objects."""

from __future__ import annotations

import plistlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from ccapki.errors import InputError
from ccapki.pki import export, roots
from ccapki.pki.formats import Kind, parse_material
from ccapki.pki.keys import public_key_fingerprint
from kit.certs import Pki, make_pki


def labels(pem: bytes) -> list[str]:
    return [
        line.removeprefix(b"-----BEGIN ").removesuffix(b"-----").decode()
        for line in pem.splitlines()
        if line.startswith(b"-----BEGIN ")
    ]


@pytest.mark.parametrize("include_root", [True, False])
def test_pem_bundle_order_and_root(pki: Pki, include_root: bool) -> None:
    data = export.pem_bundle(pki.leaf, pki.chain, pki.leaf_key, include_root=include_root)
    expected = ["CERTIFICATE", "CERTIFICATE", "PRIVATE KEY"]
    if include_root:
        expected.insert(2, "CERTIFICATE")
    assert labels(data) == expected
    m = parse_material(data, source="bundle.pem")
    assert m.certificates[0] == pki.leaf
    assert m.certificates[1] == pki.inter
    assert (pki.root in m.certificates) is include_root
    assert public_key_fingerprint(m.keys[0]) == public_key_fingerprint(pki.leaf_key)


@pytest.mark.parametrize(
    ("fmt", "password", "label", "kind"),
    [
        ("pkcs8", None, "PRIVATE KEY", Kind.PKCS8),
        ("pkcs8", b"pw", "ENCRYPTED PRIVATE KEY", Kind.PKCS8_ENCRYPTED),
        ("pkcs1", None, "RSA PRIVATE KEY", Kind.PKCS1),
        ("pkcs1", b"pw", "RSA PRIVATE KEY", Kind.TRADITIONAL_ENCRYPTED),
    ],
)
def test_pem_bundle_rsa_key_forms(
    rsa_pki: Pki, fmt: export.KeyFormat, password: bytes | None, label: str, kind: Kind
) -> None:
    data = export.pem_bundle(
        rsa_pki.leaf,
        rsa_pki.chain,
        rsa_pki.leaf_key,
        include_root=False,
        key_format=fmt,
        key_password=password,
    )
    assert labels(data)[-1] == label
    if password and fmt == "pkcs1":
        assert b"DEK-Info: AES-256-CBC" in data
    m = parse_material(data, source="b.pem", password=password)
    assert m.key_kinds == (kind,)
    assert public_key_fingerprint(m.keys[0]) == public_key_fingerprint(rsa_pki.leaf_key)


def test_pkcs1_for_ec_is_sec1(pki: Pki) -> None:
    data = export.key_pem(pki.leaf_key, key_format="pkcs1")
    assert labels(data) == ["EC PRIVATE KEY"]


def test_mismatched_key_refused(pki: Pki, rsa_pki: Pki) -> None:
    with pytest.raises(InputError, match="does not match the certificate"):
        export.pem_bundle(pki.leaf, pki.chain, rsa_pki.leaf_key, include_root=True)
    with pytest.raises(InputError, match="does not match the certificate"):
        export.pkcs12("x", pki.leaf, pki.inter_key, (), b"pw")


def test_empty_passwords_refused(pki: Pki) -> None:
    with pytest.raises(InputError, match="empty key password"):
        export.key_pem(pki.leaf_key, password=b"")
    with pytest.raises(InputError, match="needs a password"):
        export.pkcs12("x", pki.leaf, pki.leaf_key, (), b"")


def test_separate_files(pki: Pki) -> None:
    assert parse_material(export.cert_pem(pki.leaf), source="c").certificates == (pki.leaf,)
    assert parse_material(export.cert_der(pki.leaf), source="c").certificates == (pki.leaf,)
    chain = parse_material(export.chain_pem(pki.chain), source="c").certificates
    assert chain == (pki.inter,)
    with_root = parse_material(export.chain_pem(pki.chain, include_root=True), source="c")
    assert with_root.certificates == (pki.inter, pki.root)
    full = parse_material(export.fullchain_pem(pki.leaf, pki.chain), source="c").certificates
    assert full == (pki.leaf, pki.inter)


@pytest.mark.parametrize("legacy", [False, True])
def test_pkcs12_algorithms(pki: Pki, legacy: bool) -> None:
    data = export.pkcs12(
        "cas1", pki.leaf, pki.leaf_key, pki.chain, b"pw", legacy=legacy, include_root=True
    )
    from cryptography.hazmat.primitives.serialization import pkcs12

    p12 = pkcs12.load_pkcs12(data, b"pw")
    assert p12.cert is not None
    assert p12.cert.friendly_name == b"cas1"
    assert [c.certificate for c in p12.additional_certs] == list(pki.chain)
    # the root only on request, as for every other format
    bare = export.pkcs12("cas1", pki.leaf, pki.leaf_key, pki.chain, b"pw", legacy=legacy)
    assert [c.certificate for c in pkcs12.load_pkcs12(bare, b"pw").additional_certs] == [pki.inter]
    # OIDs in the DER: PBES2 + AES-256-CBC + HMAC-SHA256, or PBES1 SHA1-3DES.
    pbes2 = bytes.fromhex("2a864886f70d01050d")
    aes256 = bytes.fromhex("60864801650304012a")
    sha256 = bytes.fromhex("608648016503040201")  # the MAC digest
    sha1 = bytes.fromhex("2b0e03021a")
    tdes = bytes.fromhex("2a864886f70d010c0103")
    assert (pbes2 in data) is not legacy
    assert (aes256 in data) is not legacy
    assert (tdes in data) is legacy
    assert (sha256 in data) is not legacy
    assert (sha1 in data) is legacy


def test_roots_files(pki: Pki) -> None:
    other = make_pki(root_name="Second Root")
    certs = [pki.root, other.root]
    assert parse_material(roots.roots_pem(certs), source="r").certificates == tuple(certs)
    assert x509.load_der_x509_certificate(roots.roots_der_cer(pki.root)) == pki.root
    assert set(pkcs7.load_der_pkcs7_certificates(roots.roots_p7b(certs))) == set(certs)  # a SET OF
    pem_p7 = roots.roots_p7b(certs, serialization.Encoding.PEM)
    assert set(parse_material(pem_p7, source="r.p7b").certificates) == set(certs)
    with pytest.raises(InputError, match="no root certificates"):
        roots.roots_pem([])


def test_mobileconfig_is_deterministic_and_complete(pki: Pki) -> None:
    other = make_pki(root_name="Second Root")
    args = {"identifier": "org.example.ccapki", "organization": "Example", "display_name": "CCA"}
    data = roots.mobileconfig([pki.root, other.root], **args)
    assert data == roots.mobileconfig([pki.root, other.root], **args)
    profile = plistlib.loads(data)
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadIdentifier"] == "org.example.ccapki"
    payloads = profile["PayloadContent"]
    assert [p["PayloadType"] for p in payloads] == ["com.apple.security.root"] * 2
    assert [x509.load_der_x509_certificate(p["PayloadContent"]) for p in payloads] == [
        pki.root,
        other.root,
    ]
    uuids = {p["PayloadUUID"] for p in payloads} | {profile["PayloadUUID"]}
    assert len(uuids) == 3
    fp = pki.root.fingerprint(hashes.SHA256()).hex()
    assert payloads[0]["PayloadIdentifier"] == f"org.example.ccapki.root.{fp[:16]}"
    assert roots.mobileconfig([pki.root], **args) != data


@pytest.mark.parametrize(
    ("platform", "needle"),
    [
        ("windows", "certutil -addstore -f Root cca-roots.cer"),
        ("windows", "Public Key Policies > Trusted Root Certification Authorities"),
        ("macos", "security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System"),
        ("macos", "cca-roots.mobileconfig"),
        ("linux", "/usr/local/share/ca-certificates/cca-roots.crt"),
        ("linux", "update-ca-certificates"),
        ("linux", "/etc/pki/ca-trust/source/anchors"),
        ("linux", "certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n cca-roots -i cca-roots.pem"),
    ],
)
def test_install_instructions(platform: str, needle: str) -> None:
    assert needle in roots.install_instructions(platform, name="cca-roots")


def test_install_instructions_unknown_platform() -> None:
    with pytest.raises(InputError, match="unknown platform"):
        roots.install_instructions("beos")


def test_install_instructions_with_explicit_file_names() -> None:
    text = roots.install_instructions(
        "windows", name="cca", cer="cca-root-1.cer", p7b="all-roots.p7b"
    )
    assert "certutil -addstore -f Root cca-root-1.cer" in text
    assert "all-roots.p7b" in text
    linux = roots.install_instructions("linux", name="cca", pem="bundle.pem")
    assert "sudo cp bundle.pem /usr/local/share/ca-certificates/cca.crt" in linux
