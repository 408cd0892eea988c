"""A key imported alone (kept pending for a certificate to come) of a kind no appliance
certificate should be on (RSA under 2048 bits, DSA, EdDSA, ECDSA P-521) was kept with
exit 0 and no word (found by a bad-input audit): it is still kept (ccapki never loses a
key) and a warning says why a certificate on it would be refused; a usable key gets
none."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from kit.cli import FAQ, Cli, ok, write


def _pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: rsa.generate_private_key(65537, 1024), "rsa-1024"),
        (lambda: dsa.generate_private_key(1024), "dsa-1024"),
        (ed25519.Ed25519PrivateKey.generate, "ed25519"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "ecdsa-p521"),
    ],
)
def test_a_pending_key_no_certificate_should_be_on_is_kept_with_a_warning(
    cli: Cli, keyfile_store: Path, tmp_path: Path, make: object, kind: str
) -> None:
    ok(cli("apply", FAQ))
    key = make()  # type: ignore[operator]
    r = ok(cli("import", write(tmp_path / "k.pem", _pem(key))))
    assert "kept 1 key with no certificate yet (pending)" in r.out
    (warning,) = [line for line in r.err.splitlines() if line.startswith("warning:")]
    assert f"is {kind}: a certificate on it would be refused" in warning, r.err
    assert "ccapki keys retire" in warning
    assert "pending" in ok(cli("keys", "list")).out


def test_a_usable_pending_key_gets_no_warning(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    for key in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())):
        r = ok(cli("import", write(tmp_path / "k.pem", _pem(key))))
        assert "warning" not in r.err, r.err
