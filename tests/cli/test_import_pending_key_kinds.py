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


def test_a_cas_own_private_key_is_refused_not_kept_pending(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """A walkthrough imported an outside CA's intermediate key (tpca/int.key) by mistake:
    it was sealed in the store as a pending key no CSR or identity names, without a word.
    A key whose public key is a CA certificate's (the store's CAs, a stored chain's, or
    one in the batch) is refused, naming the CA and the file, and nothing is written."""
    from kit.certs import OutsideCA, key_pem, pem

    ok(cli("apply", FAQ))
    outside = OutsideCA.make("Walk Outside")
    before = ok(cli("keys", "list")).out
    # with its certificate in the same batch
    ca_file = write(tmp_path / "int.pem", pem(outside.inter))
    key_file = write(tmp_path / "int.key", key_pem(outside.inter_key))
    r = cli("import", str(ca_file), str(key_file))
    assert r.code == 2, r.both
    error, hint = r.err.splitlines()[:2]
    assert error == (
        f"error: {key_file}: is the private key of the CA certificate Walk Outside Issuing "
        "CA, not of an appliance's identity: ccapki keeps no outside CA's key (nothing was "
        "imported)"
    )
    assert hint.startswith("hint: leave the key out and import the CA certificate alone")
    assert "Traceback" not in r.err
    assert ok(cli("keys", "list")).out == before
    # the CA's certificate already in the store (imported alone), the key alone after it
    ok(cli("import", str(write(tmp_path / "root.pem", pem(outside.root)))))
    r = cli("import", str(write(tmp_path / "root.key", key_pem(outside.root_key))))
    assert r.code == 2, r.both
    assert "is the private key of the CA certificate Walk Outside Root," in r.err
    assert "the store holds Walk Outside Root's certificate already: nothing to import" in r.err
    assert ok(cli("keys", "list")).out == before
