"""Walkthrough B: ``export`` options the format does not use were ignored without a word.
Worst, ``export cas --format key --password SECRET`` (``--help``: "Password for PKCS#12 or
an encrypted key") wrote the private key UNENCRYPTED; ``--legacy`` with ``--format cert``,
``--encrypt-key`` with ``--format der`` did nothing either. Each is now refused, exit 2,
nothing written, nothing in the audit log; the working combinations still work."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ccapki.store import Store
from kit.cli import FAQ, Cli, error_with_hint, ok


def _key_exports(home: Path) -> int:
    with Store.open(home) as store:  # a key-file store: no passphrase
        return len([e for e in store.audit.log() if e.action == "key-export"])


@pytest.mark.parametrize(
    ("args", "first"),
    [
        (
            ("--format", "key", "--password", "pw-12345678"),
            "--password was given, but --format key writes the key unencrypted without "
            "--encrypt-key; nothing was written",
        ),
        (
            ("--format", "pem-bundle", "--password", "pw-12345678"),
            "--password was given, but --format pem-bundle writes the key unencrypted without "
            "--encrypt-key; nothing was written",
        ),
        (
            ("--format", "cert", "--legacy"),
            "--legacy has no effect on --format cert (it is for a PKCS#12 file "
            "(--format pkcs12, or --for-peer)); nothing was written",
        ),
        (
            ("--format", "der", "--encrypt-key"),
            "--encrypt-key has no effect on --format der (it is for a PEM key "
            "(--format pem-bundle or key)); nothing was written",
        ),
        (
            ("--format", "chain", "--password", "pw-12345678"),
            "--password has no effect on --format chain (it is for a PKCS#12 file or an "
            "encrypted PEM key); nothing was written",
        ),
    ],
)
def test_an_option_the_format_does_not_use_is_refused_and_nothing_written(
    cli: Cli, keyfile_store: Path, tmp_path: Path, args: tuple[str, ...], first: str
) -> None:
    ok(cli("apply", FAQ))
    out = tmp_path / "x.out"
    r = error_with_hint(cli("export", "cas-dorm", *args, "--out", out))
    assert r.err.splitlines()[0] == f"error: {first}"
    assert not out.exists()
    assert _key_exports(keyfile_store) == 0


def test_password_with_encrypt_key_encrypts_the_key(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", FAQ))
    out = tmp_path / "k.pem"
    ok(cli("export", "cas-dorm", "--format", "key", "--encrypt-key", "--password", "pw-12345678",
           "--out", out))  # fmt: skip
    data = out.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in data
    serialization.load_pem_private_key(data, b"pw-12345678")
    p12 = tmp_path / "k.p12"
    ok(cli("export", "cas-dorm", "--format", "pkcs12", "--legacy", "--password", "pw-12345678",
           "--out", p12))  # fmt: skip
    assert _key_exports(keyfile_store) == 2
