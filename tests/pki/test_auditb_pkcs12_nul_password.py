"""Audit B: a password holding a NUL character (typed at the prompt as Ctrl-@, or sent to
the service) made the cryptography library panic inside its PKCS#12 reader: a Rust
backtrace on standard error, then "is malformed: ... called `Result::unwrap()` on an `Err`
value: NulError" blaming a sound file. No PKCS#12 password holds a NUL (it ends one), so
such a password is now a wrong one: the usual wrong-password error, nothing on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import NameOID

from ccapki import api
from ccapki.errors import PasswordError
from kit.certs import OutsideCA


def test_a_nul_in_the_password_is_a_wrong_password_not_a_panic(
    tmp_path: Path, outside: OutsideCA, capfd: pytest.CaptureFixture[str]
) -> None:
    from cryptography import x509

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cas.example.edu")])
    cert = outside.sign(name, key.public_key(), dns=["cas.example.edu"])
    p12 = tmp_path / "cas.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"cas", key, cert, None, BestAvailableEncryption(b"the password")
        )
    )
    with pytest.raises(PasswordError, match="wrong password"):
        api.read_files([p12], "the\0password")
    assert "panicked" not in capfd.readouterr().err
    (material,) = api.read_files([p12], "the password")
    assert material.keys
    assert material.certificates
