"""Walkthrough items 14 and 15: what ``inspect`` says when there is nothing to show, and
how it words validity and unreadable files.

- No store: the name cannot be looked up, and the error says so (with the fix).
- A planned identity with no certificate yet: "planned but not issued", with the next step
  for its source (apply; csr + import for a third-party one).
- Validity reads "expired 2d ago", "valid, 300d left", never "expired, expired 2d ago left".
- A damaged file is described in plain words, never with the library's internals.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ccapki.store import Store
from kit.cli import CliRunner, deployment, standalone, write

DEP = deployment(
    cas=[
        standalone("cas-int", "10.1.0.1"),
        standalone("cas-tp", "10.2.0.1", source="third-party"),
    ]
)

#: what the cryptography library puts in its error strings (never shown to the user)
_INTERNALS = ("cryptography.io", "https://", "InvalidData", "ParseError", "asn1", "See ")


@pytest.fixture
def applied(cli: CliRunner, keyfile_store: Path, tmp_path: Path) -> Path:
    r = cli("apply", str(write(tmp_path / "d.toml", DEP)))
    assert r.code == 0, r.both
    return keyfile_store


def _refused(err: str, code: int) -> tuple[str, str]:
    assert code == 2, err
    lines = err.splitlines()
    assert lines[0].startswith("error: "), err
    assert lines[1].startswith("hint: "), err
    return lines[0], lines[1]


# ---------------------------------------------------------------------------- item 14


def test_no_store_says_there_is_no_store(cli: CliRunner, home: Path) -> None:
    assert not home.exists()
    r = cli("inspect", "cas-west")
    first, hint = _refused(r.err, r.code)
    assert "neither a file nor an identity in the store" not in first, first
    assert "no ccapki store" in first, first
    from kit.pgmode import BACKEND

    named = "" if BACKEND == "postgresql" else f"--home {home} "  # a URL names its own
    assert f"`ccapki {named}init`" in hint, hint
    assert "certificate file" in hint, hint


def test_a_planned_third_party_identity_is_planned_not_unknown(
    cli: CliRunner, applied: Path
) -> None:
    r = cli("inspect", "cas-tp")
    first, hint = _refused(r.err, r.code)
    assert "neither a file nor an identity" not in first, first
    assert "cas-tp is planned but has no certificate yet" in first, first
    assert "ccapki csr cas-tp" in hint, hint
    assert "ccapki import" in hint, hint


def test_a_third_party_identity_with_its_csr_made_waits_for_the_import(
    cli: CliRunner, applied: Path, tmp_path: Path
) -> None:
    """Second walkthrough: with the CSR made, inspect still said "make its CSR"."""
    assert cli("csr", "cas-tp", "--out", tmp_path).code == 0
    r = cli("inspect", "cas-tp")
    first, hint = _refused(r.err, r.code)
    assert "cas-tp is planned but has no certificate yet: its CSR is pending since" in first
    assert "ccapki import" in hint, hint
    assert "ccapki csr" not in hint, hint


def test_a_planned_internal_identity_says_run_apply(
    cli: CliRunner, applied: Path, tmp_path: Path
) -> None:
    more = DEP + "[[cas]]\n" + standalone("cas-new", "10.3.0.1")
    with Store.open(applied) as store:  # the deployment the store holds, one CAS added
        store.deployments.record("test", more, str(tmp_path / "d.toml"))
    r = cli("inspect", "cas-new")
    first, hint = _refused(r.err, r.code)
    assert "cas-new is planned but has no certificate yet" in first, first
    assert "ccapki apply" in hint, hint


def test_an_unknown_name_in_a_store_without_a_deployment(
    cli: CliRunner, keyfile_store: Path
) -> None:
    r = cli("inspect", "cas-nowhere")
    first, _ = _refused(r.err, r.code)
    assert "cas-nowhere" in first
    assert "no deployment file given" not in first, first


def test_validity_wording(cli: CliRunner, applied: Path) -> None:
    now = cli("inspect", "cas-int").out
    assert "(valid, " in now, now
    assert "d left)" in now, now
    with Store.open(applied) as store:
        ident = store.identities.get("cas-int")
    assert ident is not None
    after = ident.not_after + dt.timedelta(days=2, hours=1)
    out = cli("inspect", "cas-int", now=after).out
    assert "expired 2d ago)" in out, out
    assert "expired, expired" not in out, out
    assert "ago left" not in out, out
    before = cli(
        "inspect", "cas-int", now=ident.certificate.not_valid_before_utc - dt.timedelta(days=3)
    ).out
    assert "not yet valid" in before, before
    assert "starts in 3d" in before, before


# ---------------------------------------------------------------------------- item 15


def _cert_pem(applied: Path) -> bytes:
    with Store.open(applied) as store:
        ident = store.identities.get("cas-int")
    assert ident is not None
    return ident.certificate.public_bytes(serialization.Encoding.PEM)


def test_bad_base64_is_described_in_plain_words(
    cli: CliRunner, applied: Path, tmp_path: Path
) -> None:
    lines = _cert_pem(applied).split(b"\n")
    lines[3] = lines[3][:9] + b"!" + lines[3][10:]
    path = tmp_path / "garbage.pem"
    path.write_bytes(b"\n".join(lines))
    r = cli("inspect", str(path))
    first, _ = _refused(r.err, r.code)
    for word in _INTERNALS:
        assert word not in r.err, r.err
    assert "base64" in first, first
    assert "'!'" in first, first


def test_a_cut_certificate_is_described_in_plain_words(
    cli: CliRunner, applied: Path, tmp_path: Path
) -> None:
    der = base64.b64decode(b"".join(_cert_pem(applied).split(b"\n")[1:-2]))
    body = base64.encodebytes(der[:200])
    path = tmp_path / "short.pem"
    path.write_bytes(b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n")
    r = cli("inspect", str(path))
    first, _ = _refused(r.err, r.code)
    for word in _INTERNALS:
        assert word not in r.err, r.err
    assert "truncated" in first or "ends early" in first, first
