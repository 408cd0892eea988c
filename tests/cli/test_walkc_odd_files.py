"""Walkthrough C (every odd file a real estate has): what each file-reading command said.

- a symbolic link loop was an internal error (exit 70) for `trust add`, `trust check
  --clients`, `plan`, `import`, `check-ha`, `backup restore`, a raw ``OSError`` from the
  Python API, and `inspect` took it for an identity name;
- a certificate with a negative serial number (which OpenSSL reads) was cryptography's
  warning cut off mid-word with "get a fresh copy" as the fix, and as DER or PKCS#7 "malformed
  DER";
- a password-protected PKCS#12 given to `trust add` or `trust check --clients` (which take
  no password) was told to use ``--password``; a key-only file given to `trust check
  --clients` or `check-ha` was told to `ccapki import` it;
- `trust add` of an expired root, or of one with an EdDSA key, said nothing; `plan` of a
  certificate file was a TOML syntax error; a broken symbolic link was "no such file".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

import ccapki
from ccapki.errors import FileFormatError, InputError
from kit.certs import NOW, ec_key, key_pem, mint, pem
from kit.cli import FAQ, Cli, error_with_hint, ok, write
from kit.der import rebuild

READERS = [
    ("inspect", "{f}"),
    ("trust", "add", "cas-clinic", "{f}"),
    ("trust", "check", "--clients", "{f}"),
    ("plan", "{f}"),
    ("import", "{f}"),
    ("check-ha", "cas-dorm", "--primary", "{f}", "--secondary", "{f}"),
    ("backup", "restore", "{f}"),
]


@pytest.fixture
def loop(tmp_path: Path) -> Path:
    """``loop-a`` -> ``loop-b`` -> ``loop-a``."""
    a, b = tmp_path / "loop-a", tmp_path / "loop-b"
    a.symlink_to(b)
    b.symlink_to(a)
    return a


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_a_symlink_loop_is_bad_input_for_every_reader(
    cli: Cli, keyfile_store: Path, loop: Path, args: tuple[str, ...]
) -> None:
    ok(cli("apply", FAQ))
    r = error_with_hint(
        cli(*(a.format(f=loop) for a in args), env={"CCAPKI_BACKUP_PASSPHRASE": "walk-c"})
    )
    first, hint = r.err.splitlines()[:2]
    assert (
        first == f"error: {loop}: is a symbolic link loop (it leads, through links, back to itself)"
    )
    assert hint == f"hint: point the link at the real file (`ls -l {loop}` shows where it leads)"


def test_the_api_says_a_symlink_loop_as_input_error(loop: Path) -> None:
    with pytest.raises(InputError, match="symbolic link loop"):
        ccapki.read_files([loop])
    with pytest.raises(InputError, match="symbolic link loop"):
        ccapki.load_deployment(loop)


def _negative_serial() -> x509.Certificate:
    root = mint("Negative Serial Root", ca=True)
    return rebuild(root.cert, root.key, serial=-12345)


@pytest.mark.parametrize("form", ["pem", "der", "p7b"])
def test_a_negative_serial_is_said_with_the_fix(cli: Cli, tmp_path: Path, form: str) -> None:
    cert = _negative_serial()
    data = {
        "pem": pem(cert),
        "der": cert.public_bytes(serialization.Encoding.DER),
        "p7b": pkcs7.serialize_certificates([cert], serialization.Encoding.DER),
    }[form]
    f = write(tmp_path / f"neg.{form}", data)
    r = error_with_hint(cli("inspect", f))
    first, hint = r.err.splitlines()[:2]
    assert first == (
        f"error: {f}: holds a certificate whose serial number is negative or zero, which "
        "RFC 5280 4.1.2.2 forbids (openssl shows it; ccapki refuses it, as the cryptography "
        "library does)"
    )
    assert hint == "hint: have the CA issue the certificate again with a positive serial number"
    with pytest.raises(FileFormatError, match="negative or zero"):  # and from Python
        ccapki.read_files([f])


def test_a_negative_serial_is_refused_every_time(tmp_path: Path) -> None:
    """The same bytes twice in one process (a parse cache must not let the second pass)."""
    f = write(tmp_path / "neg.pem", pem(_negative_serial()))
    for _ in range(2):
        with pytest.raises(FileFormatError, match="negative or zero"):
            ccapki.read_files([f])


def _locked_p12(tmp_path: Path) -> Path:
    root = mint("P12 Root", ca=True)
    leaf = mint("leaf.example.org", issuer=root)
    data = pkcs12.serialize_key_and_certificates(
        b"leaf",
        leaf.key,
        leaf.cert,
        [root.cert],
        serialization.BestAvailableEncryption(b"walk-c-password"),
    )
    return write(tmp_path / "bundle.p12", data)


def test_trust_add_of_a_locked_pkcs12_names_a_fix_that_exists(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    f = _locked_p12(tmp_path)
    r = error_with_hint(cli("trust", "add", "cas-clinic", f))
    hint = r.err.splitlines()[1]
    assert "--password" not in hint, hint
    assert f"openssl pkcs12 -in {f} -nokeys -cacerts -out ca.pem" in hint, hint
    assert "ccapki trust add cas-clinic ca.pem" in hint, hint


def test_trust_check_clients_of_a_locked_pkcs12_or_a_key(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    f = _locked_p12(tmp_path)
    hint = error_with_hint(cli("trust", "check", "--clients", f)).err.splitlines()[1]
    assert "--password" not in hint, hint
    assert f"openssl pkcs12 -in {f} -nokeys -out clients.pem" in hint, hint
    key = write(tmp_path / "some.key", key_pem(ec_key()))
    hint = error_with_hint(cli("trust", "check", "--clients", key)).err.splitlines()[1]
    assert "ccapki import" not in hint, hint
    assert "never a key" in hint, hint
    assert "export-roots" in hint, hint


def test_check_ha_of_a_key_only_file_asks_for_the_peer_bundle(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    key = write(tmp_path / "peer.key", key_pem(ec_key()))
    r = error_with_hint(cli("check-ha", "cas-dorm", "--primary", key, "--secondary", key))
    hint = r.err.splitlines()[1]
    assert "ccapki import" not in hint, hint
    assert "--for-peer" in hint, hint


def test_trust_add_warns_of_a_root_that_trusts_nothing_as_it_is(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """An expired root, and a root whose key the appliances' Java 6/7 cannot verify with,
    were added without a word."""
    ok(cli("apply", FAQ))
    old = mint("Old Root", ca=True, start=NOW - dt.timedelta(days=800), days=365)
    ed = mint("EdDSA Root", ca=True, key=ed25519.Ed25519PrivateKey.generate())
    fine = mint("Fine Root", ca=True)
    f = write(tmp_path / "roots.pem", pem(old.cert) + pem(ed.cert) + pem(fine.cert))
    r = ok(cli("trust", "add", "cas-clinic", f))
    warned = [line for line in r.err.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 2, r.both
    assert warned[0].startswith("warning: Old Root expired on "), warned
    assert warned[1].startswith("warning: EdDSA Root has an EdDSA key: the appliances' Java 6/7")
    assert "added: Fine Root on cas-clinic" in r.out, r.both


@pytest.mark.parametrize("what", ["certificate", "private key"])
def test_plan_of_a_pem_file_says_it_is_not_a_deployment_file(
    cli: Cli, tmp_path: Path, what: str
) -> None:
    """It was a TOML syntax error ("Expected '=' after a key") at line 1."""
    leaf = mint("leaf.example.org")
    data = key_pem(leaf.key) if what == "private key" else b"Subject: x\n" + pem(leaf.cert)
    f = write(tmp_path / "given.pem", data)
    r = error_with_hint(cli("plan", f))
    first, hint = r.err.splitlines()[:2]
    line = 1 if what == "private key" else 2
    assert first == f"error: {f}:{line}: is a PEM file ({what}), not a deployment file (TOML)"
    assert "ccapki inspect FILE" in hint, hint


def test_a_broken_symlink_is_said_as_such(cli: Cli, tmp_path: Path) -> None:
    """It was "no such file", though `ls` lists it (in a folder given to `import` too)."""
    link = tmp_path / "cert.pem"
    link.symlink_to(tmp_path / "gone.pem")
    for args in (("inspect", link), ("plan", link), ("import", tmp_path)):
        first = error_with_hint(cli(*args)).err.splitlines()[0]
        assert first == (
            f"error: {link}: is a broken symbolic link (to {tmp_path / 'gone.pem'}, which "
            "does not exist)"
        ), first
