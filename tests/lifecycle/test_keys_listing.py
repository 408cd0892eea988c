"""Walkthrough item 21: ``keys list`` shows what each key is, CA keys included, and
``keys retire`` says whose key it retired in words (never "(-)")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from ccapki.pki.keys import KeyType, generate_key, key_type_name, public_key_fingerprint
from kit.cli import CliRunner, ok, write
from kit.pgmode import store_sql

from .conftest import THIRD_PARTY_DEP, deployment, open_store


def _rows(cli: CliRunner) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(cli("keys", "list", "--json")).json()
    return rows


def _ca_types(home: Path) -> dict[str, str]:
    """The public-key fingerprint of every CA the store holds -> its key's algorithm."""
    with open_store(home) as store:
        return {c.spki: key_type_name(c.certificate.public_key()) for c in store.cas.list()}


@pytest.mark.parametrize("key", ["ecdsa-p256", "rsa-2048"])
def test_ca_keys_are_listed_by_algorithm(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path, key: str
) -> None:
    deployed(deployment(key=key))
    cas = _ca_types(home)
    ca_rows = [r for r in _rows(cli) if r["state"] == "ca"]
    assert len(ca_rows) >= 2  # the internal root and its issuing CA
    for r in ca_rows:
        assert r["key_type"] == cas[r["fingerprint"]], r
        assert r["key_type"] != "ca"
    text = ok(cli("keys", "list")).out.splitlines()
    for line in text[1:]:
        assert line.split()[1:3] != ["ca", "ca"], line


def test_a_store_that_recorded_ca_as_the_type_still_lists_the_algorithm(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    """Stores made before the fix hold key_type "ca" for CA keys."""
    deployed(deployment())
    with store_sql(home) as db:
        db.execute(text("UPDATE keys SET key_type = 'ca' WHERE state = 'ca'"))
    cas = _ca_types(home)
    for r in _rows(cli):
        if r["state"] == "ca":
            assert r["key_type"] == cas[r["fingerprint"]], r


def test_retiring_a_key_says_whose_it_was(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    deployed(THIRD_PARTY_DEP)
    # a key imported on its own (no certificate yet): pending, tied to no identity
    lone = generate_key(KeyType.ECDSA_P256)
    key_file = write(
        tmp_path / "lone.key",
        lone.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    ok(cli("import", key_file))
    fp = public_key_fingerprint(lone)
    r = ok(cli("keys", "retire", fp[:16]))
    assert "(-)" not in r.out, r.out
    assert f"retired key {fp[:16]}" in r.out
    assert "no identity" in r.out, r.out
    again = ok(cli("keys", "retire", fp[:16]))
    assert "(-)" not in again.out, again.out
    assert "already retired" in again.out
    # a CSR's pending key names its identity
    ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
    pending = [k for k in _rows(cli) if k["state"] == "pending" and k["identity"] == "cas-tp"]
    r = ok(cli("keys", "retire", pending[0]["fingerprint"][:16]))
    assert "pending key of cas-tp" in r.out, r.out
