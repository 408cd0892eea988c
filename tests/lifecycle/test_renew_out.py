"""Issue 12 walkthrough: ``renew --commit --out`` for a third-party identity's CSR. A file
where the folder should be is refused with a hint that fits renew, and ``--out -`` (which
that hint, like ``ccapki csr``'s, offers) prints the CSR on standard output (never makes a
folder named ``-``); the report then goes to standard error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from ccapki.pki.keys import public_key_fingerprint
from kit.certs import NOW
from kit.cli import CliRunner, error_with_hint, ok, write

from .conftest import THIRD_PARTY_DEP
from .test_renew import pending, third_party

__all__ = ["third_party"]  # the fixture, used by name

LATER = NOW + dt.timedelta(days=350)  # cas-tp inside its renewal window


def test_renew_out_a_file_is_refused_and_out_dash_prints_the_csr(
    cli: CliRunner,
    third_party: Callable[[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    third_party(THIRD_PARTY_DEP)
    afile = write(tmp_path / "afile", "not a folder\n")
    r = error_with_hint(cli("renew", "cas-tp", "--commit", "--out", afile, now=LATER))
    assert "not a folder" in r.err
    assert pending(cli, "cas-tp") == []  # nothing renewed
    assert "--out -" in r.err.split("\nhint: ", 1)[1]  # offered: following it must work
    monkeypatch.chdir(tmp_path)
    r = ok(cli("renew", "cas-tp", "--commit", "--out", "-", now=LATER))
    assert not (tmp_path / "-").exists()
    csr = x509.load_pem_x509_csr(r.out.encode())
    assert pending(cli, "cas-tp") == [public_key_fingerprint(csr.public_key())]
    assert "wrote <stdout> for cas-tp" in r.err
    assert "renewing" in r.err
    r = error_with_hint(cli("renew", "cas-tp", "--commit", "--out", "-", "--json", now=LATER))
    assert "standard output" in r.err
