"""`describe_key`: the public facts of a private key (what `ccapki inspect KEYFILE` shows),
for every key type a file may hold, and nothing secret in them."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ccapki.pki.inspect import KeyMatch, describe_key
from ccapki.pki.keys import public_key_fingerprint


@pytest.mark.parametrize(
    ("make", "name", "bits", "key_type"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ECDSA P-256", 256, "ecdsa-p256"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "ECDSA P-521", 521, "ecdsa-p521"),
        (lambda: rsa.generate_private_key(65537, 2048), "RSA", 2048, "rsa-2048"),
        (ed25519.Ed25519PrivateKey.generate, "Ed25519", 256, "ed25519"),
        (ed448.Ed448PrivateKey.generate, "Ed448", 456, "ed448"),
        (lambda: dsa.generate_private_key(2048), "DSA", 2048, "dsa-2048"),
    ],
)
def test_every_key_type(make: object, name: str, bits: int, key_type: str) -> None:
    assert callable(make)
    key: PrivateKeyTypes = make()
    info = describe_key(key, format="PKCS#8 private key")
    assert (info.key, info.key_bits, info.key_type) == (name, bits, key_type)
    assert info.spki_sha256 == public_key_fingerprint(key)
    assert info.matches is None
    assert info.held is None
    assert not info.encrypted
    js = info.to_json()
    assert js["kind"] == "private-key"
    assert js["matches"] is None
    assert all(isinstance(v, str | int | bool | type(None)) for v in js.values())


def test_an_encrypted_format_and_matches() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    match = KeyMatch("certificate", None, "cas1", "v2 (current)")
    info = describe_key(key, format="encrypted PKCS#8 private key", matches=[match], held="active")
    assert info.encrypted
    assert info.to_json()["matches"] == [
        {"kind": "certificate", "deployment": None, "name": "cas1", "detail": "v2 (current)"}
    ]
    assert match.text() == "certificate of cas1 v2 (current)"
