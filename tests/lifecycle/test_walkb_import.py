"""Walkthrough B, importing:

- a new administrator imports the CSR ccapki wrote (or a folder of nothing but CSRs)
  instead of the CA's answer. It said only "nothing to import" / "name certificate or key
  files"; now it names the file and what it is (a CSR), and the fix. Nothing is stored.
- ``import CERT --identity OTHER --force`` put one identity's certificate, on its key, into
  another identity too: two appliances (not an HA pair) on one key, which no check flagged.
  A key is never two identities': refused, even with --force, nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import CliRunner, error_with_hint, ok, write

from .conftest import THIRD_PARTY_DEP
from .test_walk1_import_keys import snapshot


@pytest.fixture
def applied(deployed: Callable[[str], Path]) -> Path:
    return deployed(THIRD_PARTY_DEP)


@pytest.mark.parametrize("as_folder", [False, True])
def test_importing_the_csr_itself_says_it_is_a_csr_and_stores_nothing(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, as_folder: bool
) -> None:
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    csr = tmp_path / "csr" / "cas-tp.csr"
    before = snapshot(cli, home)
    r = error_with_hint(cli("import", csr.parent if as_folder else csr))
    first, hint = r.err.splitlines()[:2]
    assert first == f"error: {csr}: is a certificate signing request (CSR), not a certificate"
    assert hint == "hint: send the CSR to your CA and import the certificate it returns"
    assert snapshot(cli, home) == before


def test_a_certificate_on_another_identitys_key_is_refused_even_forced(
    cli: CliRunner, applied: Path, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-tp.csr").read_bytes())
    answer = write(
        tmp_path / "answer.pem", pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root)
    )
    before = snapshot(cli, home)
    r = error_with_hint(cli("import", answer, "--identity", "cas-ha", "--force"))
    first, hint = r.err.splitlines()[:2]
    assert first == (
        f"error: {answer}: cas-tp.example.org is on the key of cas-tp (its CSR or certificate), "
        "not of cas-ha: one key is never two identities' (nothing was imported)"
    )
    assert "`ccapki csr cas-ha`" in hint
    assert snapshot(cli, home) == before
    # for its own identity it imports as ever
    assert "imported cas-tp v1" in ok(cli("import", answer)).out
