"""Issue 8, points 3 and 4: files other tools read are read (with a note), and a wrong password
is reported as one whatever the decryption produced.

- ``openssl crl2pkcs7 -nocrl -certfile a -certfile b`` writes the certificates in the order
  given, which is not DER's sorted SET OF order half the time: cryptography reads it as BER and
  warns. So does a PKCS#12 file in BER (indefinite lengths), which OpenSSL reads.
- A wrong password for an encrypted key decrypts, about once in 256 tries, to bytes whose
  padding looks right: the key then fails to parse, and that is still a wrong password.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ccapki.errors import PasswordError
from ccapki.fsutil import atomic_write
from ccapki.pki import export
from ccapki.pki.formats import Kind, parse_files, parse_material
from ccapki.pki.keys import public_key_fingerprint
from kit.certs import Pki
from kit.tools import require_tool

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def openssl(*args: str) -> str:
    exe = require_tool("openssl")
    proc = subprocess.run([exe, *args], capture_output=True, timeout=20, check=False)
    text = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 0, text
    return text


def indefinite(der: bytes) -> bytes:
    """The same structure with its outer SEQUENCE in BER's indefinite-length form."""
    assert der[0] == 0x30
    assert der[1] & 0x80
    count = der[1] & 0x7F
    body = der[2 + count :]
    assert len(body) == int.from_bytes(der[2 : 2 + count], "big")
    return b"\x30\x80" + body + b"\x00\x00"


# ---------------------------------------------------------------------------- PKCS#7


@pytest.mark.integration
@pytest.mark.parametrize("outform", ["PEM", "DER"])
def test_openssl_crl2pkcs7_in_either_order_is_read(pki: Pki, tmp_path: Path, outform: str) -> None:
    inter = atomic_write(tmp_path / "int.crt", pki.inter.public_bytes(PEM))
    root = atomic_write(tmp_path / "root.crt", pki.root.public_bytes(PEM))
    notes: list[str] = []
    for name, first, second in (("a.p7b", inter, root), ("b.p7b", root, inter)):
        out = tmp_path / name
        openssl(
            "crl2pkcs7", "-nocrl", "-certfile", str(first), "-certfile", str(second),
            "-outform", outform, "-out", str(out),
        )  # fmt: skip
        (material,) = parse_files([out])
        assert set(material.certificates) == {pki.inter, pki.root}
        assert material.certificate_kinds == (Kind.PKCS7, Kind.PKCS7)
        notes += material.notes
    # one of the two orders is not DER's sorted order: read, and said so in a note
    assert len(notes) == 1, notes
    assert notes[0].startswith(f"{tmp_path}/"), notes
    assert "not strict DER" in notes[0]
    assert "\n" not in notes[0]


# ---------------------------------------------------------------------------- PKCS#12


@pytest.mark.integration
def test_ber_pkcs12_without_password_is_read_with_a_note(pki: Pki, tmp_path: Path) -> None:
    bundle = atomic_write(
        tmp_path / "bundle.pem",
        export.pem_bundle(pki.leaf, pki.chain, pki.leaf_key, include_root=True),
        private=True,
    )
    der_p12 = tmp_path / "der.p12"
    openssl(
        "pkcs12", "-export", "-in", str(bundle), "-passout", "pass:", "-out", str(der_p12)
    )  # fmt: skip
    ber_p12 = atomic_write(tmp_path / "ber.p12", indefinite(der_p12.read_bytes()))
    # OpenSSL reads the BER file, with no password: so must ccapki
    assert "subject=" in openssl("pkcs12", "-in", str(ber_p12), "-passin", "pass:", "-nokeys")
    for password in (None, b"a batch password the file does not need"):
        (material,) = parse_files([ber_p12], password=password)
        assert material.certificates[0] == pki.leaf
        assert set(material.certificates[1:]) == {pki.inter, pki.root}
        assert [public_key_fingerprint(k) for k in material.keys] == [
            public_key_fingerprint(pki.leaf_key)
        ]
        assert len(material.notes) == 1, material.notes
        assert "PKCS#12" in material.notes[0]
        assert "not strict DER" in material.notes[0]
    # the strict DER file carries no note
    (strict,) = parse_files([der_p12])
    assert strict.notes == ()


def test_ber_pkcs7_in_memory(pki: Pki) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs7

    der = pkcs7.serialize_certificates([pki.inter, pki.root], DER)
    material = parse_material(indefinite(der), source="chain.p7b")
    assert set(material.certificates) == {pki.inter, pki.root}
    assert len(material.notes) == 1
    assert material.notes[0].startswith("chain.p7b: ")


# ---------------------------------------------------------------------------- passwords


def _garbage_password(data: bytes, pem: bool) -> bytes:
    """A wrong password whose decryption passes the padding check (garbage comes out)."""
    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    for i in range(6000):
        password = f"wrong-{i}".encode()
        try:
            loader(data, password)
        except ValueError as exc:
            if "incorrect password" not in str(exc).lower():
                return password  # decrypted, then failed to parse
    raise AssertionError("no wrong password decrypted to garbage in 6000 tries")


_ENCRYPTED = {
    "pkcs8-pem": (serialization.PrivateFormat.PKCS8, PEM, Kind.PKCS8_ENCRYPTED),
    "traditional-pem": (serialization.PrivateFormat.TraditionalOpenSSL, PEM, None),
    "pkcs8-der": (serialization.PrivateFormat.PKCS8, DER, None),
}


@pytest.mark.parametrize("form", list(_ENCRYPTED))
def test_wrong_password_that_decrypts_to_garbage_is_a_wrong_password(
    pki: Pki, rsa_pki: Pki, form: str
) -> None:
    private_format, encoding, _ = _ENCRYPTED[form]
    for key in (pki.leaf_key, rsa_pki.leaf_key):
        data = key.private_bytes(
            encoding, private_format, serialization.BestAvailableEncryption(b"right")
        )
        wrong = _garbage_password(data, encoding is PEM)
        with pytest.raises(PasswordError) as info:
            parse_material(data, source="saved.key", password=wrong)
        message = str(info.value)
        assert message.startswith("saved.key: wrong password (or a damaged file)"), message
        assert "\n" not in message
        assert "password" in info.value.hint
        # the right password still reads it
        (got,) = parse_material(data, source="saved.key", password=b"right").keys
        assert public_key_fingerprint(got) == public_key_fingerprint(key)


def test_damaged_plain_key_with_a_batch_password_is_not_a_password_problem(pki: Pki) -> None:
    """A password given for the batch says nothing about a key that is not encrypted."""
    from ccapki.errors import FileFormatError

    der = pki.leaf_key.private_bytes(
        DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    import base64

    cut = der[:-20]
    data = (
        b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(cut) + b"-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(FileFormatError, match="is not a valid private key"):
        parse_material(data, source="plain.key", password=b"pw")
