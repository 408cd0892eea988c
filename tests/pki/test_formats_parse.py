"""parse_material / parse_files: every accepted format round-trips to the same objects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from ccapki.errors import FileFormatError
from ccapki.pki import export
from ccapki.pki.formats import Kind, Material, parse_files, parse_material
from ccapki.pki.issue import IdentityRequest, build_csr
from ccapki.pki.keys import public_key_fingerprint
from kit.certs import NOW, Pki

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
PKCS8 = serialization.PrivateFormat.PKCS8
TRAD = serialization.PrivateFormat.TraditionalOpenSSL
NOENC = serialization.NoEncryption()


def fps(material: Material) -> list[str]:
    return [c.fingerprint(hashes.SHA256()).hex() for c in material.certificates]


def fp(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def make_crl(pki: Pki) -> x509.CertificateRevocationList:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.inter.subject)
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=7))
        .sign(pki.inter_key, hashes.SHA256())
    )


def test_pem_many_blocks_any_order_with_text_around(pki: Pki) -> None:
    key = pki.leaf_key.private_bytes(PEM, PKCS8, NOENC)
    data = (
        b"Bag Attributes\n    friendlyName: cas1\n"
        + pki.root.public_bytes(PEM)
        + key
        + b"subject=CN = whatever\n"
        + pki.leaf.public_bytes(PEM)
        + b"\n\n"
        + pki.inter.public_bytes(PEM)
    )
    m = parse_material(data, source="bundle.pem")
    assert fps(m) == [fp(pki.root), fp(pki.leaf), fp(pki.inter)]
    assert m.certificate_kinds == (Kind.PEM_CERTIFICATE,) * 3
    assert [public_key_fingerprint(k) for k in m.keys] == [public_key_fingerprint(pki.leaf_key)]
    assert m.key_kinds == (Kind.PKCS8,)
    assert m.source == "bundle.pem"
    assert "3 certificates" in m.describe()
    assert "1 private key" in m.describe()


def test_pem_with_crlf_and_bom(pki: Pki) -> None:
    data = b"\xef\xbb\xbf" + pki.leaf.public_bytes(PEM).replace(b"\n", b"\r\n")
    assert fps(parse_material(data, source="win.crt")) == [fp(pki.leaf)]


def test_trusted_certificate_block(pki: Pki) -> None:
    # OpenSSL's TRUSTED CERTIFICATE is the certificate DER followed by trust settings;
    # an empty trailing SEQUENCE stands in for them here (the openssl-made one is in the
    # interop tests).
    import base64

    body = base64.encodebytes(pki.root.public_bytes(DER) + b"\x30\x00")
    data = b"-----BEGIN TRUSTED CERTIFICATE-----\n" + body + b"-----END TRUSTED CERTIFICATE-----\n"
    m = parse_material(data, source="root.trusted.pem")
    assert fps(m) == [fp(pki.root)]
    assert m.certificate_kinds == (Kind.TRUSTED_CERTIFICATE,)


def test_der_certificate(pki: Pki) -> None:
    m = parse_material(pki.leaf.public_bytes(DER), source="cas1.cer")
    assert fps(m) == [fp(pki.leaf)]
    assert m.certificate_kinds == (Kind.DER_CERTIFICATE,)


@pytest.mark.parametrize("encoding", [PEM, DER])
def test_pkcs7_bundle(pki: Pki, encoding: serialization.Encoding) -> None:
    data = pkcs7.serialize_certificates([pki.leaf, pki.inter, pki.root], encoding)
    m = parse_material(data, source="chain.p7b")
    assert sorted(fps(m)) == sorted([fp(pki.leaf), fp(pki.inter), fp(pki.root)])
    assert set(m.certificate_kinds) == {Kind.PKCS7}


@pytest.mark.parametrize("legacy", [False, True])
def test_pkcs12_round_trip(pki: Pki, legacy: bool) -> None:
    data = export.pkcs12(
        "cas1",
        pki.leaf,
        pki.leaf_key,
        pki.chain,
        b"s3cret",
        legacy=legacy,
        kdf_rounds=1000,
        include_root=True,
    )
    m = parse_material(data, source="cas1.p12", password=b"s3cret")
    assert fps(m)[0] == fp(pki.leaf)
    assert sorted(fps(m)[1:]) == sorted([fp(pki.inter), fp(pki.root)])
    assert public_key_fingerprint(m.keys[0]) == public_key_fingerprint(pki.leaf_key)
    assert m.key_kinds == (Kind.PKCS12,)


def test_pkcs12_unencrypted_and_without_suffix(pki: Pki) -> None:
    key = pki.leaf_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    data = pkcs12.serialize_key_and_certificates(b"x", key, pki.leaf, None, NOENC)
    m = parse_material(data, source="noext")
    assert fps(m) == [fp(pki.leaf)]
    assert len(m.keys) == 1


def test_pkcs12_rsa(rsa_pki: Pki) -> None:
    data = export.pkcs12("cam", rsa_pki.leaf, rsa_pki.leaf_key, (), b"pw", kdf_rounds=1000)
    m = parse_material(data, source="cam.pfx", password=b"pw")
    assert isinstance(m.keys[0], rsa.RSAPrivateKey)


@pytest.mark.parametrize(
    ("fmt", "password", "label", "kind"),
    [
        (PKCS8, None, b"PRIVATE KEY", Kind.PKCS8),
        (PKCS8, b"pw", b"ENCRYPTED PRIVATE KEY", Kind.PKCS8_ENCRYPTED),
        (TRAD, None, b"EC PRIVATE KEY", Kind.SEC1),
        (TRAD, b"pw", b"EC PRIVATE KEY", Kind.TRADITIONAL_ENCRYPTED),
    ],
)
def test_ec_key_pem_forms(
    pki: Pki,
    fmt: serialization.PrivateFormat,
    password: bytes | None,
    label: bytes,
    kind: Kind,
) -> None:
    enc = serialization.BestAvailableEncryption(password) if password else NOENC
    data = pki.leaf_key.private_bytes(PEM, fmt, enc)
    assert b"BEGIN " + label in data
    m = parse_material(data, source="k.pem", password=password)
    assert m.key_kinds == (kind,)
    assert public_key_fingerprint(m.keys[0]) == public_key_fingerprint(pki.leaf_key)


def test_pkcs1_rsa_key(rsa_pki: Pki) -> None:
    data = rsa_pki.leaf_key.private_bytes(PEM, TRAD, NOENC)
    assert data.startswith(b"-----BEGIN RSA PRIVATE KEY")
    m = parse_material(data, source="cam.key")
    assert m.key_kinds == (Kind.PKCS1,)


@pytest.mark.parametrize("password", [None, b"pw"])
def test_der_keys(pki: Pki, rsa_pki: Pki, password: bytes | None) -> None:
    enc = serialization.BestAvailableEncryption(password) if password else NOENC
    for key in (pki.leaf_key, rsa_pki.leaf_key):
        data = key.private_bytes(DER, PKCS8, enc)
        m = parse_material(data, source="k.der", password=password)
        assert public_key_fingerprint(m.keys[0]) == public_key_fingerprint(key)
        assert m.key_kinds == (Kind.DER_KEY,)
    for key in (pki.leaf_key, rsa_pki.leaf_key):
        data = key.private_bytes(DER, TRAD, NOENC)
        m = parse_material(data, source="k.der", password=password)
        assert public_key_fingerprint(m.keys[0]) == public_key_fingerprint(key)


def test_password_for_plain_key_is_ignored(pki: Pki) -> None:
    data = pki.leaf_key.private_bytes(PEM, PKCS8, NOENC) + pki.leaf.public_bytes(PEM)
    m = parse_material(data, source="both.pem", password=b"batch-password")
    assert len(m.keys) == 1
    assert len(m.certificates) == 1


@pytest.mark.parametrize("encoding", [PEM, DER])
def test_csr_and_crl(pki: Pki, encoding: serialization.Encoding) -> None:
    csr = build_csr(IdentityRequest("cas1.example.org"), pki.leaf_key)
    m = parse_material(csr.public_bytes(encoding), source="cas1.csr")
    assert m.csrs == (csr,)
    assert m.certificates == ()
    crl = make_crl(pki)
    m = parse_material(crl.public_bytes(encoding), source="ca.crl")
    assert len(m.crls) == 1
    assert m.crls[0].issuer == pki.inter.subject
    assert m.kinds == (Kind.CRL,)


def test_unknown_blocks_are_skipped_next_to_real_ones(pki: Pki) -> None:
    pub = pki.leaf_key.public_key().public_bytes(
        PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    m = parse_material(pub + pki.leaf.public_bytes(PEM), source="mixed.pem")
    assert m.skipped == ("PUBLIC KEY",)
    assert len(m.certificates) == 1


def test_expect_certificate_accepts_certificates(pki: Pki) -> None:
    m = parse_material(pki.leaf.public_bytes(PEM), source="c.pem", expect="certificate")
    assert len(m.certificates) == 1
    m = parse_material(pki.leaf_key.private_bytes(PEM, PKCS8, NOENC), source="k.pem", expect="key")
    assert len(m.keys) == 1


def test_parse_files_expands_folders_sorted_and_skips_hidden(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2-inter.pem").write_bytes(pki.inter.public_bytes(PEM))
    (tmp_path / "a-root.cer").write_bytes(pki.root.public_bytes(DER))
    (tmp_path / "c.key").write_bytes(pki.leaf_key.private_bytes(PEM, PKCS8, NOENC))
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01garbage")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x").write_bytes(b"garbage")
    leaf = tmp_path.parent / f"{tmp_path.name}-leaf.pem"
    leaf.write_bytes(pki.leaf.public_bytes(PEM))
    out = parse_files([tmp_path, leaf])
    assert [Path(m.source).name for m in out] == ["a-root.cer", "2-inter.pem", "c.key", leaf.name]
    assert fps(out[0]) == [fp(pki.root)]
    assert len(out[2].keys) == 1


def test_parse_files_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="folder holds no files"):
        parse_files([tmp_path])


def test_material_kinds_must_match() -> None:
    with pytest.raises(ValueError, match="one kind per certificate"):
        Material(source="x", certificate_kinds=(Kind.PKCS7,))
