"""Walkthrough 15, importing, end to end on a real store:

- a folder's files that hold no certificate or key at all (a README.txt, a JPEG) are skipped
  with one ``warning: skipped FILE: reason`` line each and the rest imported; a damaged
  certificate file (or a file whose name says it is one) still refuses the whole import,
  nothing stored; a stray file named on its own is still an error;
- the private key of a CA certificate (``import stranger.crt --key stranger.key``) is
  refused, nothing stored (it once became an orphan pending key of identity ``-``);
- a CA certificate that is in the chain of nothing in the store says so, and how to have
  appliances trust it, instead of a bare ``kept CA``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import CliRunner, error_with_hint, ok, write

from .conftest import THIRD_PARTY_DEP
from .test_walk1_import_keys import key_pem, snapshot


@pytest.fixture
def applied(deployed: Callable[[str], Path]) -> Path:
    return deployed(THIRD_PARTY_DEP)


def _returned(cli: CliRunner, tmp_path: Path, outside: OutsideCA) -> Path:
    """The folder a CA sends back for cas-tp's CSR: its certificate and the chain."""
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-tp.csr").read_bytes())
    folder = tmp_path / "returned"
    write(folder / "cas-tp.pem", pem(outside.sign_csr(csr)))
    write(folder / "ca-bundle.pem", pem(outside.inter) + pem(outside.root))
    return folder


def test_a_folder_skips_files_with_no_certificate_or_key(
    cli: CliRunner, applied: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    folder = _returned(cli, tmp_path, outside)
    write(folder / "README.txt", "Your certificate from Outside Trust. Thank you!\n")
    write(folder / "logo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    write(folder / "empty.cer", b"")  # nothing to damage, whatever its name says
    r = ok(cli("import", folder))
    assert "imported cas-tp v1" in r.out
    warnings = [x for x in r.err.splitlines() if x.startswith("warning: skipped ")]
    assert warnings == [
        f"warning: skipped {folder / 'README.txt'}: is text with no PEM block "
        "(no -----BEGIN ...----- line)",
        f"warning: skipped {folder / 'empty.cer'}: is empty (0 bytes)",
        f"warning: skipped {folder / 'logo.jpg'}: is a JPEG image, not a certificate, key or "
        "bundle",
    ], r.err
    assert "error:" not in r.err


@pytest.mark.parametrize(
    ("name", "data"),
    [
        # a PEM certificate cut short: looks like a certificate, is damaged
        ("broken.crt", b"-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAK\n-----END CERTIFICATE-----\n"),
        # text, but its name says it is a certificate: never skipped silently
        ("notes.pem", b"paste the certificate here\n"),
    ],
)
def test_a_damaged_certificate_in_a_folder_refuses_the_whole_import(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA, name: str,
    data: bytes,
) -> None:  # fmt: skip
    folder = _returned(cli, tmp_path, outside)
    write(folder / "README.txt", "notes\n")
    write(folder / name, data)
    before = snapshot(cli, home)
    r = error_with_hint(cli("import", folder))
    assert f"{folder / name}:" in r.err.splitlines()[0], r.err
    assert snapshot(cli, home) == before


def test_a_stray_file_named_alone_is_still_an_error(
    cli: CliRunner, applied: Path, tmp_path: Path
) -> None:
    readme = write(tmp_path / "README.txt", "notes\n")
    r = error_with_hint(cli("import", readme))
    assert r.err.startswith(f"error: {readme}: is text with no PEM block"), r.err


def test_the_key_of_a_ca_certificate_is_refused_and_nothing_stored(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path
) -> None:
    stranger = OutsideCA.make("Stranger", intermediate=False)
    crt = write(tmp_path / "stranger.crt", pem(stranger.root))
    key = write(tmp_path / "stranger.key", key_pem(stranger.root_key))
    before = snapshot(cli, home)
    r = error_with_hint(cli("import", crt, "--key", key))
    first, hint = r.err.splitlines()[:2]
    assert first.startswith(f"error: {key}: is the private key of the CA certificate "), first
    assert "nothing was imported" in first
    assert f"ccapki import {crt}" in hint, hint
    assert snapshot(cli, home) == before
    assert all(k["identity"] != "-" for k in ok(cli("keys", "list", "--json")).json())


def test_a_ca_key_given_with_the_identitys_certificate_asks_for_the_identitys_key(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """The CA's answer (leaf, intermediate and root in one file) with the CA's key by
    mistake: the hint asks for the key of the appliance's certificate in that file, not to
    import "the CA certificate alone" (that file, without a key, is the identity's too)."""
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-tp.csr").read_bytes())
    answer = pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root)
    chain = write(tmp_path / "lost-chain.pem", answer)
    key = write(tmp_path / "root.key", key_pem(outside.root_key))
    before = snapshot(cli, home)
    r = error_with_hint(cli("import", chain, "--key", key))
    first, hint = r.err.splitlines()[:2]
    assert first.startswith(f"error: {key}: is the private key of the CA certificate "), first
    assert "cas-tp.example.org" in hint, hint
    assert f"ccapki import {chain} --key KEYFILE" in hint, hint
    assert "import the CA certificate alone" not in hint, hint
    assert snapshot(cli, home) == before


def test_a_ca_in_no_chain_says_so_and_how_to_trust_it(
    cli: CliRunner, applied: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    stranger = OutsideCA.make("Stranger", intermediate=False)
    r = ok(cli("import", write(tmp_path / "stranger.crt", pem(stranger.root))))
    line = next(x for x in r.out.splitlines() if x.startswith("kept CA Stranger Root"))
    assert "in the chain of no certificate of" in line, line
    assert "`ccapki trust add APPLIANCE FILE`" in line, line
    # CAs that do serve an identity (imported after its certificate) name it
    folder = _returned(cli, tmp_path, outside)
    ok(cli("import", folder / "cas-tp.pem", folder / "ca-bundle.pem"))
    r = ok(cli("import", folder / "ca-bundle.pem"))
    assert "kept CA Outside Trust Root (in the chain of cas-tp)" in r.out, r.out
    assert "kept CA Outside Trust Issuing CA (in the chain of cas-tp)" in r.out, r.out
