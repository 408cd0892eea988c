"""Audit B: ``ccapki serve --tls-cert C --tls-key K`` with a pair the server cannot load
(a key of another certificate, a CSR given as the certificate, a DER file, an encrypted
key) started the service and stopped it with an internal error (exit 70) from deep in the
TLS set-up; an encrypted key also had OpenSSL ask "Enter PEM pass phrase:" on the
terminal. The pair is now loaded as the server loads it before anything starts: one
``error:`` line naming the option, a ``hint:``, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kit.certs import OutsideCA, pem
from kit.cli import Cli, error_with_hint, write

_NO_CLOCK: dict[str, str | None] = {"CCAPKI_NOW": None, "CCAPKI_NOW_ALLOW_WRITES": None}


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    enc = s.BestAvailableEncryption(password) if password else s.NoEncryption()
    return key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, enc)


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("other-key", "error: --tls-key {key} is not the private key of --tls-cert {cert}"),
        ("csr", "error: --tls-cert {cert} and --tls-key {key}: not a PEM certificate"),
        ("der", "error: --tls-cert {cert} and --tls-key {key}: not a PEM certificate"),
        ("encrypted", "error: --tls-key {key}: is an encrypted private key"),
    ],
    ids=["other-key", "csr", "der", "encrypted"],
)
def test_a_tls_pair_the_server_cannot_load_is_refused_up_front(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA, case: str, words: str
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pki.example.edu")])
    leaf = outside.sign(name, key.public_key(), dns=["pki.example.edu"])
    cert_bytes = pem(leaf)
    key_bytes = _key_pem(key)
    if case == "other-key":
        key_bytes = _key_pem(ec.generate_private_key(ec.SECP256R1()))
    elif case == "csr":
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        cert_bytes = csr.public_bytes(s.Encoding.PEM)
    elif case == "der":
        cert_bytes = leaf.public_bytes(s.Encoding.DER)
    elif case == "encrypted":
        key_bytes = _key_pem(key, b"a key password")
    cert = write(tmp_path / "tls.crt", cert_bytes)
    keyf = write(tmp_path / "tls.key", key_bytes)
    r = error_with_hint(
        cli(
            "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", keyf, env=_NO_CLOCK
        )
    )
    assert words.format(cert=cert, key=keyf) in r.err, r.err
    assert "PEM pass phrase" not in r.both
