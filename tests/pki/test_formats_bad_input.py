"""A corpus of bad input, built at test time: each error names the file and what it is."""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from ccapki.errors import CcapkiError, FileFormatError, InputError, PasswordError
from ccapki.pki import export
from ccapki.pki.formats import parse_files, parse_material, require_certificates, require_keys
from ccapki.pki.issue import IdentityRequest, build_csr
from kit.certs import NOW, Pki

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
NOENC = serialization.NoEncryption()


def _pem_cut(pki: Pki) -> bytes:
    pem = pki.leaf.public_bytes(PEM)
    return pem[: len(pem) // 2]


def _pem_corrupt_base64(pki: Pki) -> bytes:
    lines = pki.leaf.public_bytes(PEM).split(b"\n")
    lines[3] = lines[3][:10] + b"!!" + lines[3][12:]
    return b"\n".join(lines)


def _pem_bad_payload(pki: Pki) -> bytes:
    # valid base64 of a truncated certificate
    der = pki.leaf.public_bytes(DER)[:200]
    return (
        b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    )


def _cert_in_key_block(pki: Pki) -> bytes:
    body = base64.encodebytes(pki.leaf.public_bytes(DER))
    return b"-----BEGIN PRIVATE KEY-----\n" + body + b"-----END PRIVATE KEY-----\n"


def _x25519_key(pki: Pki) -> bytes:
    key = x25519.X25519PrivateKey.generate()
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NOENC)


def _p12(pki: Pki) -> bytes:
    return export.pkcs12("cas1", pki.leaf, pki.leaf_key, pki.chain, b"right", kdf_rounds=1000)


def _p12_flipped(pki: Pki) -> bytes:
    data = bytearray(_p12(pki))
    data[len(data) // 2] ^= 0x01  # inside the encrypted bags: the MAC no longer verifies
    return bytes(data)


def _crl(pki: Pki) -> bytes:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.inter.subject)
        .last_update(NOW)
        .next_update(NOW + dt.timedelta(days=7))
        .sign(pki.inter_key, hashes.SHA256())
        .public_bytes(PEM)
    )


def _garbage(pki: Pki) -> bytes:
    return b"\x00" + random.Random(1234).randbytes(4000)


def _backup_head() -> bytes:
    from ccapki.backup import MAGIC

    return MAGIC + b"\x00\x01" + bytes(200)


def _png(pki: Pki) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(100)


def _public_key_only(pki: Pki) -> bytes:
    return pki.leaf_key.public_key().public_bytes(
        PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _enc_key(pki: Pki) -> bytes:
    return pki.leaf_key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"right")
    )


Case = tuple[str, Callable[[Pki], bytes], bytes | None, type[CcapkiError], str]

CORPUS: list[Case] = [
    ("empty.pem", lambda p: b"", None, FileFormatError, "is empty (0 bytes)"),
    ("cut.pem", _pem_cut, None, FileFormatError, "truncated PEM: BEGIN CERTIFICATE"),
    (
        "cut-then-more.pem",
        lambda p: _pem_cut(p) + p.root.public_bytes(PEM),
        None,
        FileFormatError,
        "has no END line before BEGIN CERTIFICATE",
    ),
    (
        "end-only.pem",
        lambda p: p.leaf.public_bytes(PEM).split(b"\n", 3)[3],
        None,
        FileFormatError,
        "END CERTIFICATE at line",
    ),
    (
        "mismatch.pem",
        lambda p: p.leaf.public_bytes(PEM).replace(b"END CERTIFICATE", b"END X509 CRL"),
        None,
        FileFormatError,
        "mismatched PEM",
    ),
    ("b64.pem", _pem_corrupt_base64, None, FileFormatError, "is not a valid certificate"),
    ("short.pem", _pem_bad_payload, None, FileFormatError, "is not a valid certificate"),
    (
        "cut.der",
        lambda p: p.leaf.public_bytes(DER)[:-40],
        None,
        FileFormatError,
        "is a truncated DER certificate or key file",
    ),
    (
        "cut.cer",
        lambda p: p.leaf.public_bytes(DER)[:-1],
        None,
        FileFormatError,
        "is a truncated certificate file",
    ),
    ("cut.p12", lambda p: _p12(p)[:-100], b"right", FileFormatError, "truncated PKCS#12/PFX"),
    (
        "cut.p7b",
        lambda p: __import__(
            "cryptography.hazmat.primitives.serialization.pkcs7", fromlist=["x"]
        ).serialize_certificates([p.leaf], DER)[:-30],
        None,
        FileFormatError,
        "truncated PKCS#7",
    ),
    ("flipped.p12", _p12_flipped, b"right", PasswordError, "wrong password (or a damaged file)"),
    (
        "wrong.p12",
        _p12,
        b"wrong",
        PasswordError,
        "wrong password (or a damaged file) for this PKCS#12/PFX",
    ),
    ("nopass.pfx", _p12, None, PasswordError, "and none was given"),
    ("enc.key", _enc_key, None, PasswordError, "encrypted private key and no password"),
    (
        "enc-wrong.key",
        _enc_key,
        b"wrong",
        PasswordError,
        "wrong password (or a damaged file) for the encrypted",
    ),
    ("notakey.key", _cert_in_key_block, None, FileFormatError, "is not a valid private key"),
    ("x25519.key", _x25519_key, None, FileFormatError, "which cannot sign"),
    ("garbage.bin", _garbage, None, FileFormatError, "binary data that is neither PEM nor DER"),
    ("image.crt", _png, None, FileFormatError, "is a PNG image"),
    # a walkthrough ran `ccapki inspect hosp.backup`: "binary data ... (starts with 43 43 41
    # 50 4b 49 42 4b)", which spells CCAPKIBK
    ("hosp.backup", lambda p: _backup_head(), None, FileFormatError, "is a ccapki backup"),
    ("notes.txt", lambda p: b"please find the cert attached\n", None, FileFormatError, "text"),
    ("pub.pem", _public_key_only, None, FileFormatError, "PEM blocks: PUBLIC KEY"),
    # SEQUENCE { INTEGER 5 }: well-formed DER, of no kind ccapki reads
    ("junk.der", lambda p: b"\x30\x03\x02\x01\x05", None, FileFormatError, "not a certificate"),
]


@pytest.mark.parametrize(
    ("name", "make", "password", "error", "says"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_bad_input_corpus(
    pki: Pki,
    tmp_path: Path,
    name: str,
    make: Callable[[Pki], bytes],
    password: bytes | None,
    error: type[CcapkiError],
    says: str,
) -> None:
    path = tmp_path / name
    path.write_bytes(make(pki))
    with pytest.raises(error) as info:
        parse_files([path], password=password)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert says in message, message
    assert "\n" not in message
    assert info.value.hint
    assert info.value.__cause__ is None or isinstance(info.value.__cause__, CcapkiError)


def test_csr_where_certificate_expected(pki: Pki) -> None:
    csr = build_csr(IdentityRequest("cas1.example.org"), pki.leaf_key).public_bytes(PEM)
    with pytest.raises(FileFormatError) as info:
        parse_material(csr, source="cas1.csr", expect="certificate")
    assert str(info.value) == "cas1.csr: is a certificate signing request (CSR), not a certificate"
    assert info.value.hint == "send the CSR to your CA and import the certificate it returns"


def test_crl_where_certificate_expected(pki: Pki) -> None:
    material = parse_material(_crl(pki), source="ca.crl")
    with pytest.raises(FileFormatError, match=r"^ca\.crl: is a certificate revocation list"):
        require_certificates(material)


def test_key_only_where_certificate_expected(pki: Pki) -> None:
    data = pki.leaf_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NOENC)
    with pytest.raises(FileFormatError, match=r"^k\.pem: holds only a private key \(PKCS#8"):
        parse_material(data, source="k.pem", expect="certificate")


def test_certificate_where_key_expected(pki: Pki) -> None:
    material = parse_material(pki.leaf.public_bytes(PEM), source="c.pem")
    with pytest.raises(FileFormatError, match=r"^c\.pem: holds 1 certificate but no private key"):
        require_keys(material)


def test_huge_bytes_refused_by_parser() -> None:
    data = b"-----BEGIN CERTIFICATE-----\n" + b"A" * (50 * 1024 * 1024)
    with pytest.raises(FileFormatError, match=r"^big\.pem: 50\.0 MB is far too large"):
        parse_material(data, source="big.pem")


def test_huge_sparse_file_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.p12"
    with path.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: 50 MB long, nothing written
    with pytest.raises(InputError) as info:
        parse_files([path])
    assert str(info.value).startswith(f"{path}: 50.0 MB is far too large")


def test_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        parse_files([tmp_path / "nope.pem"])


def test_first_bad_file_stops_the_batch(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(pki.leaf.public_bytes(PEM))
    (tmp_path / "b.pem").write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"b\.pem: is empty"):
        parse_files([tmp_path])


def test_short_dek_info_iv_is_refused_without_a_panic(capfd: pytest.CaptureFixture[str]) -> None:
    # cryptography 50 panics (a Rust assertion on stderr) on this header; found by fuzzing.
    data = (
        b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        b"DEK-Info: AES-256-CBC,00112233445566778899aabbccddee\n\nMIIBAAAA\n"
        b"-----END RSA PRIVATE KEY-----\n"
    )
    with pytest.raises(FileFormatError, match=r"^old\.key: .*DEK-Info IV is 15 bytes, not 16"):
        parse_material(data, source="old.key", password=b"pw")
    assert "panicked" not in capfd.readouterr().err


def test_negative_serial_is_refused(pki: Pki) -> None:
    cert = (
        x509.CertificateBuilder()
        .subject_name(pki.leaf.subject)
        .issuer_name(pki.leaf.subject)
        .public_key(pki.leaf_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(pki.leaf_key, hashes.SHA256())
    )
    der = cert.public_bytes(DER)
    assert der.count(b"\x02\x01\x01") == 1
    bad = der.replace(b"\x02\x01\x01", b"\x02\x01\xff")  # serial -1
    body = base64.encodebytes(bad)
    data = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
    with pytest.raises(FileFormatError, match=r"^neg\.pem: .*serial number is negative or zero"):
        parse_material(data, source="neg.pem")
