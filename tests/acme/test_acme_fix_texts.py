"""Walkthrough: the fixes ccapki gives for an identity whose source is "acme" told the
administrator to make a CSR and import what a third-party CA returns (`ccapki csr NAME`).
An ACME identity is fixed by an ACME order: `ccapki acme order NAME` (or `ccapki renew NAME
--commit`), in `trust check`, `renew`'s hints, `doctor` and the import fit check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from acme_servers import Pebble, campus_file

from ccapki.trust import FitPolicy
from kit.cli import Cli, ok, write

pytestmark = pytest.mark.integration


def _no_csr_path(text: str) -> None:
    assert "ccapki csr cam" not in text, text
    assert "make a CSR" not in text, text


def test_acme_identity_fixes_name_the_acme_order(
    cli: Cli, keyfile_store: Path, tmp_path: Path, pebble: Pebble, hook: Path
) -> None:
    f = campus_file(tmp_path, pebble.directory, pebble.bundle, hook)
    ok(cli("apply", f, "--no-acme"))
    # no certificate yet: renew names the order, not a CSR
    r = ok(cli("renew", "cam"))
    assert "`ccapki acme order cam`" in r.both, r.both
    _no_csr_path(r.both)

    ok(cli("acme", "order"))
    ok(cli("import", write(tmp_path / "pebble-root.pem", pebble.root_pem())))
    # pebble's certificates last 5 years: too long for Apple clients, an ACME CA's setting
    r = cli("trust", "check")
    assert "acme order cam" in r.both, r.both
    _no_csr_path(r.both)

    from ccapki.store.session import Store

    with Store.open(keyfile_store) as store:
        cert = store.identities.current()["cam"].certificate
    # inside its renewal window, then expired: the order renews it
    soon = cert.not_valid_after_utc - dt.timedelta(days=5)
    r = cli("trust", "check", now=soon)
    assert "`ccapki acme order cam` orders it from the ACME CA" in r.both, r.both
    _no_csr_path(r.both)
    late = cert.not_valid_after_utc + dt.timedelta(days=1)
    r = cli("trust", "check", now=late)
    assert "issue a new identity certificate for cam (`ccapki acme order cam`" in r.both, r.both
    _no_csr_path(r.both)
    r = cli("doctor", "--json", now=late)
    (expired,) = [p for p in r.json()["problems"] if p["code"] == "expired"]
    assert "acme order cam" in expired["fix"], expired
    _no_csr_path(expired["fix"])


def test_fit_of_an_acme_identity_names_the_order() -> None:
    from kit.certs import NOW, mint

    cert = mint("other.example.org", san=["other.example.org"]).cert
    (third,) = FitPolicy("cam", ("cam.example.org",)).rules[0].evaluate(cert, NOW)
    assert "ccapki csr cam" in third.fix
    (acme,) = FitPolicy("cam", ("cam.example.org",), acme=True).rules[0].evaluate(cert, NOW)
    assert "`ccapki acme order cam`" in acme.fix, acme.fix
    assert "csr" not in acme.fix
